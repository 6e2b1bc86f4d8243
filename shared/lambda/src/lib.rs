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
//!   [`events::HttpOr`], [`events::Triggered`]).
//! - [`api`]: [`ApiRequest`](api::ApiRequest), [`ApiResponse`](api::ApiResponse),
//!   [`ApiError`](api::ApiError) (JSON error bodies, status codes, retryability, structured
//!   logging), the API's one route table (404, 405 with `Allow`), strict bodies and queries.
//! - [`webhook`]: GitHub's `X-Hub-Signature-256` and Jira's `X-Hub-Signature` verification
//!   (what a verified delivery asks for, and the allow-list, are the core's rules:
//!   `backtrack::events`).
//! - [`secrets`]: values given inline or as Secrets Manager ARNs; redacted in `Debug`.
//! - [`queue`]: job messages, restore slices and snapshot attempts, optionally delayed (SQS,
//!   or memory in tests).
//! - [`env`]: the clients, trackers and limits a function takes from its environment.

pub mod api;
pub mod env;
pub mod events;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod queue;
mod runner;
pub mod secrets;
pub mod webhook;

pub use api::{ApiError, ApiRequest, ApiResponse};
pub use env::{ConfigError, Env, GitHubTrackers, Limits, TrackerFactory, Trackers};
pub use lambda_runtime::Error as RuntimeError;
pub use queue::{JobMessage, JobQueue, MemoryQueue, SqsQueue};
pub use runner::{invoke, run, Function, Invocation};
pub use secrets::Secret;

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;

/// Crates whose TRACE events carry raw wire data: the Lambda runtime logs every event it
/// receives, webhook signatures and request bodies included ("raw JSON event received from
/// Lambda"), and the HTTP clients log requests and responses, credentials' headers and
/// secrets' values included. They stay at DEBUG at most, whatever `RUST_LOG` says.
const NEVER_TRACED: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_sigv4",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "octocrab",
    "rustls",
];

/// Never logged: the runtime's panic layer logs every failed invocation again (the runner
/// logs it once, panics included, see [`run`]).
const NEVER_LOGGED: &[&str] = &["lambda_runtime::layers::panic"];

fn under(target: &str, module: &str) -> bool {
    target
        .strip_prefix(module)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// Whether an event of `target` at `level` may be logged at all (before `RUST_LOG` decides).
pub fn log_allowed(target: &str, level: &tracing::Level) -> bool {
    if NEVER_LOGGED.iter().any(|m| under(target, m)) {
        return false;
    }
    !(*level == tracing::Level::TRACE && NEVER_TRACED.iter().any(|m| under(target, m)))
}

/// Installs the JSON log subscriber the functions use (one JSON object per line on stdout,
/// which CloudWatch Logs Insights parses), filtered by `RUST_LOG` (default `info`) within
/// what [`log_allowed`] allows.
pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let guard =
        tracing_subscriber::filter::filter_fn(|meta| log_allowed(meta.target(), meta.level()));
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_filter(guard)
        .with_filter(filter);
    let _ = tracing_subscriber::registry().with(layer).try_init();
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
    pub fn retryable(message: impl Into<String>) -> Self {
        FunctionError {
            message: message.into(),
            retryable: true,
        }
    }

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
    text.parse().map_err(|_| {
        ApiError::bad_request(
            field,
            format!("{} is not a snapshot id", backtrack::sanitize::quote(text)),
        )
    })
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

pub use api::no_route;

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    /// Issue 22 item 7: at `RUST_LOG=trace` the runtime logged every raw event (signature
    /// and body included) and its panic layer logged each failed invocation a second time.
    #[test]
    fn raw_events_and_duplicate_failures_are_never_logged() {
        let raw_event = "lambda_runtime::layers::api_response";
        assert!(!log_allowed(raw_event, &Level::TRACE));
        assert!(log_allowed(raw_event, &Level::ERROR), "its errors stay");
        assert!(!log_allowed("lambda_runtime::layers::panic", &Level::ERROR));
        assert!(!log_allowed(
            "aws_smithy_runtime::client::orchestrator",
            &Level::TRACE
        ));
        assert!(!log_allowed("hyper", &Level::TRACE));
        assert!(log_allowed("hyper", &Level::DEBUG));
        assert!(log_allowed("backtrack::snapshot", &Level::TRACE));
        // A crate whose name merely starts like a filtered one is not filtered.
        assert!(log_allowed("hyperloop", &Level::TRACE));
    }
}
