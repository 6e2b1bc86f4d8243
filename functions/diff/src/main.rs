//! The `diff` Lambda (`GET /snapshots/{id}/diff/{other|live}`): the shared runner over
//! [`handler::Diff`].

mod handler;

#[tokio::main]
async fn main() -> Result<(), backtrack_lambda::RuntimeError> {
    backtrack_lambda::run::<handler::Diff>().await
}
