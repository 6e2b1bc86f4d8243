//! STUB
#[derive(Debug)]
pub struct GitHubConfig;
#[derive(Debug)]
pub struct GitHubTracker;
