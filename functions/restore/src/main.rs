//! The `restore` Lambda (`POST /snapshots/{id}/restore`, `GET /jobs/{id}`, and the job
//! queue's slices): the shared runner over [`handler::Restore`].

mod handler;

#[tokio::main]
async fn main() -> Result<(), backtrack_lambda::RuntimeError> {
    backtrack_lambda::run::<handler::Restore>().await
}
