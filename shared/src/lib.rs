//! backtrack: snapshots, diffs and in-place rollback for issue trackers.
//!
//! This crate is the whole engine; the CLI (`action/`), the GitHub Action and the Lambda
//! functions are thin shells over it.
//!
//! # Layout
//! - [`scope`], [`id`], [`record`]: what is captured and how it is named.
//! - [`blob`], [`manifest`]: the archive format (content-addressed zstd blobs, write-once
//!   manifests).
//! - [`store`], [`catalog`], [`tracker`]: the backend traits (`Arc<dyn …>`) and their
//!   implementations, each with an in-memory twin for unit tests. Trackers are read
//!   ([`Tracker`]) and written ([`TrackerWriter`], applying [`tracker::Operation`]s).
//! - [`snapshot`]: taking snapshots (`capture`), reading them back and resolving snapshot
//!   references (`archive`), checking them (`verify`).
//! - [`keys`]: every object-store key backtrack writes, in one place.
//! - [`config`]: every environment variable's name, and the store and catalog URLs.
//! - [`portable`]: the portable archive file (`export`, `import`) and `copy` between stores.
//! - [`prune`]: retention rules and blob garbage collection (plan, then apply).
//! - [`repair`]: rebuilding a lost catalog from the manifests (`repair --reindex`).
//! - [`git`]: the archive in a branch of the GitHub repository itself (`git://BRANCH`): the
//!   branch's layout, compare-and-swap commits through the Git Data API, locks and lease
//!   cells as refs, and the read-only reader of a clone.
//! - [`lease`]: the store-wide exclusion between captures (shared) and garbage collection
//!   (exclusive), with leases that expire when their holder dies.
//! - [`diff`]: field-level differences between two record sets, and their renderers.
//! - [`compare`]: the two sides of a diff (`--from`, `--to`) resolved, loaded and diffed:
//!   the one path the CLI, the Action and the diff function share.
//! - [`report`]: the self-contained HTML page (timeline, diff, read-only plan) of `backtrack
//!   report`, the Action's artifact and the diff function's `text/html` answer.
//! - [`rollback`]: validated options, plans that put a live tracker back to a snapshot's
//!   state (with a fingerprint that execution checks), and one engine that executes them
//!   (journaled, resumable, verified) for the CLI and for the restore function's job slices.
//! - [`events`]: what a GitHub webhook delivery asks for (classification, the event's
//!   identity, its snapshot's name) and which repositories webhooks may snapshot.
//! - [`sanitize`]: untrusted text on its way to a terminal, Markdown or an error message.
//! - `aws` (feature `aws`): configuration and error classification shared by the S3 store
//!   and the DynamoDB catalog.
//! - `conformance` (tests, or feature `conformance`): the backend contract as test suites
//!   that every `ObjectStore` and `Catalog` implementation runs.
//!
//! The tracker emulators (the sandbox behind `backtrack sandbox` and `demo`) live beside this
//! crate in `backtrack-sandbox`, and what only the Lambda functions share in
//! `backtrack-lambda`: the engine depends on no emulator and no Lambda runtime.
//!
//! # Data flow
//! A tracker streams [`Record`]s; the snapshot engine turns each into a blob as it arrives,
//! then writes the manifest, then marks the catalog entry `completed`. Readers resolve a
//! snapshot through the catalog and only ever see completed ones.

#[cfg(feature = "aws")]
pub mod aws;
pub mod blob;
pub mod catalog;
pub mod compare;
pub mod config;
#[cfg(any(test, feature = "conformance"))]
#[doc(hidden)]
pub mod conformance;
pub mod crypt;
pub mod diff;
pub mod error;
pub mod events;
pub mod git;
pub mod id;
pub mod keys;
pub mod lease;
pub mod manifest;
pub mod portable;
pub mod prune;
pub mod record;
pub mod repair;
pub mod report;
pub mod rollback;
pub mod sanitize;
pub mod scope;
pub mod snapshot;
pub mod store;
pub mod tracker;
pub mod units;

pub use catalog::{Catalog, SnapshotEntry, SnapshotStatus};
pub use error::{Error, Result};
pub use id::{BlobId, JobId, ObjectHash, SnapshotId};
pub use manifest::{Counts, Manifest, Trigger};
pub use record::{Record, RecordKey, RecordKind};
pub use scope::Scope;
pub use store::ObjectStore;
pub use tracker::{Tracker, TrackerWriter};
