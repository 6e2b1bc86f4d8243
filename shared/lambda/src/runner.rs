//! The one runner every function's `main` is: JSON logs, the function built once per cold
//! start from its environment, then each invocation's typed event handed to it, and a failure
//! turned into a `Diagnostic` whose type says whether retrying the same event may help.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::FutureExt as _;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::env::{ConfigError, Env};
use crate::FunctionError;

/// One Lambda function: what it is built from, what it takes, what it answers.
pub trait Function: Sized + Send + Sync {
    /// The payload the function is subscribed to (see [`crate::events`]).
    type Event: DeserializeOwned + Send;
    /// What it answers (API Gateway's response shape for HTTP).
    type Output: Serialize;

    /// Builds the function from its environment, once per cold start.
    fn from_env(env: &Env) -> impl Future<Output = Result<Self, ConfigError>> + Send;

    /// Handles one invocation.
    fn handle(
        &self,
        event: Self::Event,
        invocation: Invocation,
    ) -> impl Future<Output = Result<Self::Output, FunctionError>> + Send;
}

/// What the runtime says about one invocation.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// When the runtime stops the invocation; `None` when unknown (tests).
    pub deadline: Option<Instant>,
    pub request_id: String,
}

impl Invocation {
    /// `fallback`: how long the invocation lasts when the context's deadline is unusable
    /// (an emulator may send one that has passed already).
    fn of(context: &lambda_runtime::Context, fallback: Option<Duration>) -> Self {
        // The context's deadline is wall-clock epoch milliseconds; work is budgeted by Instant.
        let left = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|now| Duration::from_millis(context.deadline).checked_sub(now))
            .or(fallback);
        Invocation {
            deadline: left.map(|left| Instant::now() + left),
            request_id: context.request_id.clone(),
        }
    }
}

/// Runs function `F` until the runtime stops it. A configuration error ends the cold start
/// (Lambda reports it as an init error); a failed invocation (a panic included) is logged
/// exactly once, here, and reported with its retryability. The runtime's own copy of the
/// failure is filtered out (see [`crate::log_allowed`]).
pub async fn run<F: Function>() -> Result<(), lambda_runtime::Error> {
    crate::init_logging();
    let fallback = crate::env::fallback_timeout()?;
    let function = F::from_env(&Env::load().await).await?;
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<F::Event>| async move {
        let invocation = Invocation::of(&event.context, fallback);
        invoke(function, event.payload, invocation)
            .await
            .map_err(|e| Diagnostic {
                error_type: e.error_type().into(),
                error_message: e.message,
            })
    }))
    .await
}

/// One invocation: the handler's answer, or its failure (a panic becomes a permanent one),
/// logged once.
pub async fn invoke<F: Function>(
    function: &F,
    event: F::Event,
    invocation: Invocation,
) -> Result<F::Output, FunctionError> {
    let outcome = std::panic::AssertUnwindSafe(function.handle(event, invocation))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Err(FunctionError::permanent(format!(
                "the handler panicked: {what}"
            )))
        });
    if let Err(e) = &outcome {
        e.log();
    }
    outcome
}
