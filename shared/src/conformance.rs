//! The backend contract as executable checks: every [`ObjectStore`] and [`Catalog`]
//! implementation runs the same suite, so the in-memory twins, the embedded backends and the
//! AWS backends (against a local stand-in) are held to one definition of correct.
//!
//! Each suite panics with a message naming the broken rule. They use fresh, unique keys, ids
//! and scopes on every run and never assume an empty backend, so they can run against a shared
//! bucket or table, repeatedly and in parallel. Compiled for this crate's tests and, for other
//! crates' tests, with the `conformance` feature.
//!
//! [`ObjectStore`]: crate::store::ObjectStore
//! [`Catalog`]: crate::catalog::Catalog

mod catalog;
mod lifecycle;
mod object_store;
mod portable;

use std::fmt::Display;

pub use catalog::catalog;
pub use object_store::object_store;
pub use portable::portable;

/// A fresh lowercase ULID: unique per run, and later runs sort after earlier ones.
fn run_id() -> String {
    ulid::Ulid::new().to_string().to_ascii_lowercase()
}

/// Unwraps a result the contract says must succeed, naming the step when it does not.
#[track_caller]
fn ok<T, E: Display>(result: Result<T, E>, step: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{step}: expected success, got error: {e}"),
    }
}

/// Awaits spawned tasks, turning a task's panic into a panic here.
async fn join_all<T>(tasks: Vec<tokio::task::JoinHandle<T>>, step: &str) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(value) => out.push(value),
            Err(e) => panic!("{step}: a concurrent task failed: {e}"),
        }
    }
    out
}
