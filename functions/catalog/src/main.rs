//! The `catalog` Lambda (`GET /snapshots`, `GET /snapshots/{id}`, `DELETE /snapshots/{id}`):
//! the shared runner over [`handler::Catalog`].

mod handler;

#[tokio::main]
async fn main() -> Result<(), backtrack_lambda::RuntimeError> {
    backtrack_lambda::run::<handler::Catalog>().await
}
