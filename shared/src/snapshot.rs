//! Snapshots: taking them ([`capture`]), reading them back ([`archive`]) and checking them
//! ([`verify`]).
//!
//! - [`Archive`] pairs an object store with a catalog; every read goes through it.
//! - [`Archive::create_snapshot`] captures a tracker's scope with the write order that keeps
//!   readers safe (blobs, then the manifest, then the completed catalog entry).
//! - [`Archive::verify`] re-hashes what a set of snapshots references.
//! - `reuse` keeps damage from spreading: what a capture may rely on without reading it.
//! - [`SnapshotName`], [`SnapshotRef`] and [`Archive::find`]: naming snapshots and finding
//!   them again (`reference`).
//! - [`job`]: snapshots taken as queued jobs (webhooks, large requests), and the rule that
//!   decides when a request waits for its capture.
//! - [`Archive::entries`] lists entries as they stand (an abandoned capture is `failed`);
//!   [`Archive::delete_snapshot`] removes data before the index.

mod activity;
mod archive;
mod capture;
/// The capture tests' fixed tracker, for other modules' tests that need a snapshot.
#[cfg(test)]
pub(crate) use capture::tests as capture_tests;
pub mod job;
mod lifecycle;
mod reference;
mod reuse;
mod verify;

pub use archive::{Archive, Sealed};
pub(crate) use capture::fetch_each;
pub use capture::{
    fetch_live, CaptureMode, Fallback, Refreshed, SnapshotOptions, SnapshotReport, SpillError,
    DEFAULT_RECONCILE_EVERY,
};
pub use lifecycle::{is_abandoned, skipped, InUse, NeededAs, Skipped, ABANDONED};
pub use reference::{NameError, Resolved, ResolvedBy, SnapshotName, SnapshotRef, MAX_NAME_CHARS};
pub use reuse::{CaptureChecks, Inventory, LISTING_SHARDS};
pub use verify::{DamagedObject, ObjectKind, VerifyOptions, VerifyReport};
