//! What the Lambda functions share (feature `serverless`): turning API Gateway events into
//! requests and errors into JSON answers, webhook signature checks, secrets, the job queue,
//! and the backends configured from the function's environment.
//!
//! The functions themselves (`functions/<name>/`) are thin: `main.rs` builds clients once per
//! cold start with [`Deps::from_env`] and hands them to a handler that takes the backend
//! traits (`ObjectStore`, `Catalog`, [`TrackerFactory`], [`JobQueue`]), so tests call the same
//! handler in-process with in-memory twins or real backends.
//!
//! # Layout
//! - [`api`]: [`ApiRequest`](api::ApiRequest), [`ApiResponse`](api::ApiResponse),
//!   [`ApiError`](api::ApiError) (JSON error bodies, status codes, retryability, structured
//!   logging), route matching.
//! - [`webhook`]: `X-Hub-Signature-256` verification and which GitHub events take a snapshot.
//! - [`secrets`]: values given inline or as Secrets Manager ARNs; redacted in `Debug`.
//! - [`queue`]: the restore job's continuation messages (SQS, or memory in tests).
//! - [`env`]: backends, trackers and limits from the environment.
//! - [`events`]: which trigger an incoming payload is (API Gateway, EventBridge, SQS).

pub mod api;
pub mod env;
pub mod events;
pub mod queue;
pub mod secrets;
#[cfg(feature = "testkit")]
#[doc(hidden)]
pub mod testkit;
pub mod webhook;

pub use api::{ApiError, ApiRequest, ApiResponse};
pub use env::{Deps, GitHubTrackers, Limits, TrackerFactory};
pub use queue::{JobMessage, JobQueue, MemoryQueue, SqsQueue};
pub use secrets::Secret;

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

impl From<crate::Error> for FunctionError {
    fn from(e: crate::Error) -> Self {
        FunctionError {
            retryable: e.is_retryable(),
            message: e.to_string(),
        }
    }
}

impl From<events::EventError> for FunctionError {
    fn from(e: events::EventError) -> Self {
        FunctionError::permanent(e.to_string())
    }
}

/// Answers an HTTP event: parses it, runs `route`, and turns the outcome (an answer or an
/// [`ApiError`], logged) into API Gateway's response shape.
pub async fn serve_http<F, Fut>(
    event: &aws_lambda_events::apigw::ApiGatewayV2httpRequest,
    route: F,
) -> serde_json::Value
where
    F: FnOnce(ApiRequest) -> Fut,
    Fut: std::future::Future<Output = Result<ApiResponse, ApiError>>,
{
    let response: ApiResponse = match ApiRequest::from_apigw(event) {
        Ok(request) => route(request).await.into(),
        Err(e) => e.log_and_respond(),
    };
    serde_json::to_value(response.into_apigw()).unwrap_or_else(|e| {
        serde_json::json!({"statusCode": 500, "body": format!("cannot encode the answer: {e}")})
    })
}

/// A required snapshot id from a path segment: 400 naming `field` when malformed.
pub fn parse_snapshot_id(field: &str, text: &str) -> Result<crate::SnapshotId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_request(field, format!("{text:?} is not a snapshot id")))
}

/// The completed-or-not snapshot with `id`, or 404.
pub async fn snapshot_or_404(
    archive: &crate::snapshot::Archive,
    id: &crate::SnapshotId,
) -> Result<crate::SnapshotEntry, ApiError> {
    archive
        .catalog
        .get(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("snapshot {id} not found")))
}

/// The fallback route: 404 naming what was asked.
pub fn no_route(request: &ApiRequest) -> ApiError {
    ApiError::NotFound(format!("no route for {} {}", request.method, request.path))
}
