//! The `restore` Lambda: builds clients once per cold start and hands every event to
//! [`handler::handle`] (`POST /snapshots/{id}/restore`, `GET /jobs/{id}`, and the job queue),
//! with the invocation's deadline so a restore slice stops in time.

mod handler;

use backtrack::serverless::{self, Deps, FunctionError};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serverless::init_logging();
    let deps = Deps::from_env().await?;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // The context's deadline is wall-clock epoch milliseconds; slices budget by Instant.
        let left = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|now| Duration::from_millis(event.context.deadline).checked_sub(now));
        // An absurd deadline (the runtime's header is input too) means none, not a panic.
        let deadline = left.and_then(|left| Instant::now().checked_add(left));
        handler::handle(deps, event.payload, deadline)
            .await
            .map_err(|e: FunctionError| {
                e.log();
                Diagnostic {
                    error_type: e.error_type().into(),
                    error_message: e.message,
                }
            })
    }))
    .await
}
