//! The `catalog` Lambda: builds clients once per cold start and hands every HTTP API event to
//! [`handler::handle`] (`GET /snapshots`, `GET /snapshots/{id}`, `DELETE /snapshots/{id}`).

mod handler;

use backtrack::serverless::{self, Deps, FunctionError};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serverless::init_logging();
    let deps = Deps::from_env().await?;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler::handle(deps, event.payload)
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
