//! STUB: replaced by the sandbox work (same public API).
#![allow(missing_docs, clippy::all, dead_code, unused)]
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct WriteLimit {
    pub max_writes: u32,
    pub per: Duration,
    pub retry_after_secs: u64,
}
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub addr: SocketAddr,
    pub owner: String,
    pub repo: String,
    pub issues: u64,
    pub comments: u64,
    pub seed: u64,
    pub latency_ms: u64,
    pub fault_rate: f64,
    pub public_url: Option<String>,
    pub write_limit: Option<WriteLimit>,
}
impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            addr: ([127, 0, 0, 1], 0).into(),
            owner: "acme".into(),
            repo: "widgets".into(),
            issues: 120,
            comments: 600,
            seed: 42,
            latency_ms: 0,
            fault_rate: 0.0,
            public_url: None,
            write_limit: None,
        }
    }
}
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct SandboxError;
#[derive(Debug)]
pub struct Sandbox;
impl Sandbox {
    pub async fn start(_o: SandboxOptions) -> Result<Sandbox, SandboxError> {
        Err(SandboxError)
    }
    pub fn base_url(&self) -> String {
        String::new()
    }
    pub fn token(&self) -> &str {
        ""
    }
    pub async fn shutdown(self) {}
    pub async fn serve_until_ctrl_c(self) {}
}
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct SandboxStats {
    pub total: u64,
    pub writes: u64,
    pub not_modified: u64,
}
impl Sandbox {
    pub fn stats(&self) -> SandboxStats {
        SandboxStats::default()
    }
}
