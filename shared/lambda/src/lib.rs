//! What backtrack's Lambda functions share, and only they: the runner that every function's
//! `main` is, typed events, API Gateway requests and JSON errors, webhook signature checks,
//! secrets, the job queue, and the clients built from the function's environment. The core
//! library (`backtrack`) carries none of this (no Lambda runtime, no SQS or Secrets Manager).
//!
//! A function is a type implementing [`Function`]: built once per cold start from [`Env`]
//! with exactly the clients it needs (the backend traits `ObjectStore` and `Catalog` through
//! `Archive`, [`TrackerFactory`], [`JobQueue`]), and a handler that takes the function's typed
//! event. `main` is one line, `backtrack_lambda::run::<handler::Catalog>()`, and tests build
//! the same type from in-memory twins and call its handler in-process.
//!
//! # Layout
//! - [`run`], [`Function`], [`Invocation`]: the runner (logging, cold start, errors as
//!   `Diagnostic`s that say whether a retry may help).
//! - [`events`]: the typed events ([`events::Http`], [`events::Scheduled`],
//!   [`events::HttpOr`]).
//! - [`api`]: [`ApiRequest`](api::ApiRequest), [`ApiResponse`](api::ApiResponse),
//!   [`ApiError`](api::ApiError) (JSON error bodies, status codes, retryability, structured
//!   logging), route matching.
//! - [`webhook`]: `X-Hub-Signature-256` verification and which GitHub events take a snapshot.
//! - [`secrets`]: values given inline or as Secrets Manager ARNs; redacted in `Debug`.
//! - [`queue`]: the restore job's continuation messages (SQS, or memory in tests).
//! - [`env`]: the clients, trackers and limits a function takes from its environment.

pub mod api;
pub mod env;
pub mod events;
pub mod queue;
mod runner;
pub mod secrets;
pub mod webhook;

pub use api::{ApiError, ApiRequest, ApiResponse};
pub use env::{ConfigError, Env, GitHubTrackers, Limits, TrackerFactory};
pub use lambda_runtime::Error as RuntimeError;
pub use queue::{JobMessage, JobQueue, MemoryQueue, SqsQueue};
pub use runner::{run, Function, Invocation};
pub use secrets::Secret;

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;

/// Installs the JSON log subscriber the functions use (one JSON object per line, which
/// CloudWatch Logs Insights parses), filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .try_init();
}

/// A failed invocation, for the Lambda runtime: its `error_type` says whether retrying the
/// same event may help (`Retryable`) or not (`NonRetryable`), so alarms and the queue's
/// redrive policy can tell them apart.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct FunctionError {
    pub message: String,
    pub retryable: bool,
}

impl FunctionError {
    pub fn permanent(message: impl Into<String>) -> Self {
        FunctionError {
            message: message.into(),
            retryable: false,
        }
    }

    pub fn error_type(&self) -> &'static str {
        if self.retryable {
            "Retryable"
        } else {
            "NonRetryable"
        }
    }

    /// Logs the failure as one structured line (once, where the invocation ends).
    pub fn log(&self) {
        tracing::error!(retryable = self.retryable, error = %self.message, "invocation failed");
    }
}

impl From<backtrack::Error> for FunctionError {
    fn from(e: backtrack::Error) -> Self {
        FunctionError {
            retryable: e.is_retryable(),
            message: e.to_string(),
        }
    }
}

/// Answers an HTTP event: parses it, runs `route`, and turns the outcome (an answer or an
/// [`ApiError`], logged) into API Gateway's response shape.
pub async fn serve_http<F, Fut>(event: &events::Http, route: F) -> ApiGatewayV2httpResponse
where
    F: FnOnce(ApiRequest) -> Fut,
    Fut: std::future::Future<Output = Result<ApiResponse, ApiError>>,
{
    let response: ApiResponse = match ApiRequest::from_apigw(&event.0) {
        Ok(request) => route(request).await.into(),
        Err(e) => e.log_and_respond(),
    };
    response.into_apigw()
}

/// A required snapshot id from a path segment: 400 naming `field` when malformed.
pub fn parse_snapshot_id(field: &str, text: &str) -> Result<backtrack::SnapshotId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_request(field, format!("{text:?} is not a snapshot id")))
}

/// The completed-or-not snapshot with `id` (its status as it stands), or 404.
pub async fn snapshot_or_404(
    archive: &backtrack::snapshot::Archive,
    id: &backtrack::SnapshotId,
) -> Result<backtrack::SnapshotEntry, ApiError> {
    // As it stands: an abandoned capture is reported failed, as `snapshot list` does.
    archive
        .entry(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("snapshot {id} not found")))
}

/// The fallback route: 404 naming what was asked.
pub fn no_route(request: &ApiRequest) -> ApiError {
    ApiError::NotFound(format!("no route for {} {}", request.method, request.path))
}
