//! Trackers: where records come from (capture) and where rollback writes go.
//!
//! A tracker streams records into a channel rather than returning them, so a capture of a
//! large repository holds one page at a time, not the whole repository, in memory.

pub mod github;

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::manifest::Cursor;
use crate::record::{Record, RecordKind};
use crate::scope::Scope;

pub use github::{GitHubConfig, GitHubTracker};

/// Receives progress while a capture runs (the CLI draws a bar from it).
pub trait Progress: Send + Sync + Debug {
    /// `fetched` records of `kind` so far; `total` when the tracker knows it.
    fn update(&self, kind: RecordKind, fetched: u64, total: Option<u64>);
}

/// Progress that goes nowhere.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _: RecordKind, _: u64, _: Option<u64>) {}
}

/// What to capture.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Only records updated at or after this cursor (incremental capture); `None` for all.
    pub since: Option<Cursor>,
    pub progress: Arc<dyn Progress>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            since: None,
            progress: Arc::new(NoProgress),
        }
    }
}

/// What a capture saw, besides the records themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// HTTP requests made (including retries and 304s).
    pub requests: u64,
    /// Requests answered `304 Not Modified`.
    pub not_modified: u64,
    /// Where to resume next time.
    pub cursor: Cursor,
}

/// Tracker failures. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    #[error("{service} rejected the credentials (HTTP 401); set a valid token in {env} and retry")]
    Unauthorized { service: String, env: &'static str },
    #[error("{service} refused access to {what} (HTTP 403: {message}); the token needs {needs}")]
    Forbidden {
        service: String,
        what: String,
        message: String,
        needs: &'static str,
    },
    #[error(
        "{what} not found on {service} (HTTP 404); check the scope, and that the token can see it"
    )]
    NotFound { service: String, what: String },
    #[error("cannot reach {service} at {url} ({detail}); check the URL ({env}) and your network")]
    Unreachable {
        service: String,
        url: String,
        env: &'static str,
        detail: String,
    },
    #[error("{service} rate limit exhausted until {reset}; retry after that")]
    RateLimited { service: String, reset: String },
    #[error("{service} answered HTTP {status} for {method} {path}: {message}")]
    Http {
        service: String,
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("{service} sent a response backtrack cannot read for {path}: {detail}")]
    Decode {
        service: String,
        path: String,
        detail: String,
    },
    #[error("invalid tracker configuration: {0}")]
    Config(String),
    /// The consumer of the record stream went away (its own error is the one to report).
    #[error("capture aborted by its consumer")]
    Aborted,
}

impl TrackerError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TrackerError::Unreachable { .. } | TrackerError::RateLimited { .. }
        ) || matches!(self, TrackerError::Http { status, .. } if *status >= 500)
    }
}

/// A tracker holding one scope's records.
#[async_trait]
pub trait Tracker: Send + Sync + Debug {
    fn scope(&self) -> &Scope;

    /// Streams every record (or, with `since`, every record updated since) into `out`.
    /// Labels and milestones come first so consumers can resolve references.
    async fn fetch(
        &self,
        opts: &FetchOptions,
        out: mpsc::Sender<Record>,
    ) -> Result<FetchReport, TrackerError>;

    /// Requests made by this tracker so far (captures, writes, retries).
    fn requests(&self) -> u64;
}
