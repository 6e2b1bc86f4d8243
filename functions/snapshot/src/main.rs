//! The `snapshot` Lambda (scheduled snapshots, `POST /snapshots`, `POST /webhooks/github`):
//! the shared runner over [`handler::Snapshot`].

mod handler;

#[tokio::main]
async fn main() -> Result<(), backtrack_lambda::RuntimeError> {
    backtrack_lambda::run::<handler::Snapshot>().await
}
