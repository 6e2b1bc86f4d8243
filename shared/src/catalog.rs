//! The catalog: the index of snapshots, the per-scope locks, and rollback jobs with their
//! journals.
//!
//! Implementations: [`SqliteCatalog`] (the embedded default, a file inside a `file://` store),
//! [`GitCatalog`] (files in the archive branch of a `git://` store), `DynamoCatalog` (feature
//! `aws`) and [`MemoryCatalog`] (unit tests). Every state change is a conditional write: a transition
//! that does not start from the expected state fails with [`CatalogError::Conflict`] instead of
//! overwriting someone else's work.

#[cfg(feature = "aws")]
mod dynamo;
mod git;
mod memory;
mod sqlite;

use std::fmt::{self, Debug};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{JobId, ObjectHash, SnapshotId};
use crate::manifest::{Counts, Trigger};
use crate::scope::Scope;

#[cfg(feature = "aws")]
pub use dynamo::{DynamoCatalog, TableSetup};
pub use git::GitCatalog;
pub use memory::MemoryCatalog;
pub use sqlite::SqliteCatalog;

/// A snapshot's lifecycle: `pending` (a snapshot job reserved it; nothing captured yet) →
/// `in_progress` (a capture writes it) → `completed`, `partial` or `failed`; a snapshot job
/// takes a reserved entry back from `in_progress` to `in_progress` across invocations
/// ([`Catalog::restart`]). From any of them `→ deleting` while `snapshot delete` (or prune)
/// removes its data, before the row itself goes. Entries written before `in_progress`
/// existed say `pending` with a capture lease for a capture in progress, and are read so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotStatus {
    Pending,
    /// A capture is writing the entry (its `lease` is the capture's), or a snapshot job
    /// continues it in its next invocation (no lease between invocations).
    InProgress,
    Completed,
    /// The capture stopped when a budget ran out (`--max-requests`, `--max-duration`, the
    /// rate limit): its manifest holds what was read and its cursor the checkpoint, and the
    /// next capture of the scope continues from it. Never read as a completed snapshot.
    Partial,
    Failed,
    /// Its deletion started: the manifest may already be gone, so nothing reads it; a
    /// retried delete (or the next prune) finishes the job.
    Deleting,
}

impl SnapshotStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotStatus::Pending => "pending",
            SnapshotStatus::InProgress => "in_progress",
            SnapshotStatus::Completed => "completed",
            SnapshotStatus::Partial => "partial",
            SnapshotStatus::Failed => "failed",
            SnapshotStatus::Deleting => "deleting",
        }
    }
}

impl SnapshotStatus {
    /// Not finished yet: reserved by a job, or being captured. [`Catalog::finish`] moves
    /// only these.
    pub fn is_open(self) -> bool {
        matches!(self, SnapshotStatus::Pending | SnapshotStatus::InProgress)
    }
}

/// `a`, `a or b`, `a, b or c`: the statuses a conditional write expected, for its refusal.
pub(crate) fn one_of(statuses: &[SnapshotStatus]) -> String {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    match names.split_last() {
        None => "anything".into(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

impl fmt::Display for SnapshotStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SnapshotStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(SnapshotStatus::Pending),
            "in_progress" => Ok(SnapshotStatus::InProgress),
            "completed" => Ok(SnapshotStatus::Completed),
            "partial" => Ok(SnapshotStatus::Partial),
            "failed" => Ok(SnapshotStatus::Failed),
            "deleting" => Ok(SnapshotStatus::Deleting),
            _ => Err(format!("unknown snapshot status {s:?}")),
        }
    }
}

/// Byte figures of a snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByteStats {
    /// Uncompressed canonical size of every record in the snapshot.
    pub logical: u64,
    /// Compressed bytes this snapshot added to the store (new blobs plus its manifest).
    pub stored_new: u64,
}

/// The catalog row of one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotEntry {
    pub id: SnapshotId,
    pub scope: Scope,
    pub name: Option<String>,
    pub trigger: Trigger,
    pub status: SnapshotStatus,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub counts: Counts,
    pub bytes: ByteStats,
    /// API requests the capture made.
    pub requests: u64,
    pub manifest_key: String,
    pub parent: Option<SnapshotId>,
    pub pinned: bool,
    pub expires_at: Option<DateTime<Utc>>,
    /// Why the snapshot failed, when it did.
    pub error: Option<String>,
    /// The SHA-256 of the manifest object as stored, recorded when the snapshot completes:
    /// every read of the manifest checks it before use, because the manifest carries no
    /// checksum of its own. `None` on entries written before manifests were hashed (reads
    /// still work, `verify` names them unverified and can record it after a clean check; see
    /// [`Catalog::record_manifest_hash`]) and on entries that never completed.
    #[serde(default)]
    pub manifest_hash: Option<ObjectHash>,
    /// The store lease of the capture that writes this snapshot (see [`crate::lease`]):
    /// while it is `pending`, the entry is a capture in progress only as long as that lease
    /// is live; once it has expired, the capturing process is gone and the entry counts as
    /// `failed`. `None` on entries written before captures held leases.
    #[serde(default)]
    pub lease: Option<String>,
}

impl SnapshotEntry {
    /// Copies a [`Finish`]'s figures into the entry: every catalog applies a finish the same
    /// way, whatever it stores.
    pub fn apply_finish(&mut self, finish: &Finish) {
        self.status = finish.status;
        self.finished_at = Some(finish.finished_at);
        self.counts = finish.counts;
        self.bytes = finish.bytes;
        self.requests = finish.requests;
        self.error = finish.error.clone();
        self.manifest_hash = finish.manifest_hash.clone();
    }
}

/// The final figures written when a snapshot leaves `pending`.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    pub status: SnapshotStatus,
    pub finished_at: DateTime<Utc>,
    pub counts: Counts,
    pub bytes: ByteStats,
    pub requests: u64,
    pub error: Option<String>,
    /// The stored manifest's hash (completed snapshots; `None` for failed ones).
    pub manifest_hash: Option<ObjectHash>,
}

/// Who holds a scope's lock, for the "refused" message and for expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub scope: Scope,
    /// Unique per acquisition; only its holder can renew or release the lock.
    pub token: String,
    /// Human description, e.g. `rollback by alice@laptop (pid 4242)`.
    pub holder: String,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl LockInfo {
    pub fn new(scope: &Scope, holder: impl Into<String>, ttl: Duration) -> Self {
        let now = Utc::now();
        LockInfo {
            scope: scope.clone(),
            token: ulid::Ulid::new().to_string(),
            holder: holder.into(),
            acquired_at: now,
            expires_at: now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1)),
        }
    }
}

/// A short-lived exclusive marker with an expiry, for work that must happen once: a webhook
/// delivery already handled (kept for days), a restore job's slice in progress (kept for one
/// invocation). Unlike a [`LockInfo`] it is keyed by any string, not a scope, and nothing
/// else waits on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub key: String,
    /// Unique per claimant; only it can release the claim early.
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl Claim {
    pub fn new(key: impl Into<String>, ttl: Duration) -> Self {
        Claim {
            key: key.into(),
            token: ulid::Ulid::new().to_string(),
            expires_at: Utc::now()
                + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1)),
        }
    }
}

/// A rollback job's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Completed,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed)
    }
}

impl FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(JobStatus::Queued),
            "running" => Ok(JobStatus::Running),
            "completed" => Ok(JobStatus::Completed),
            "failed" => Ok(JobStatus::Failed),
            _ => Err(format!("unknown job status {s:?}")),
        }
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// A rollback to `target` (every job written before snapshot jobs existed is one).
    #[default]
    Restore,
    /// A snapshot taken from the job queue (a webhook, or a request too large to answer in
    /// time): see [`crate::snapshot::job`].
    Snapshot,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Restore => "restore",
            JobKind::Snapshot => "snapshot",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a snapshot job takes, and what it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureJob {
    /// The snapshot's name (a valid [`SnapshotName`](crate::snapshot::SnapshotName)).
    pub name: Option<String>,
    pub trigger: Trigger,
    /// Whether a name already used in the scope may be used again (names made from events
    /// repeat: the same commit pushed twice).
    #[serde(default)]
    pub reuse_name: bool,
    /// The snapshot taken, once the job completed.
    #[serde(default)]
    pub snapshot: Option<SnapshotId>,
    /// Times the job found its scope held by someone else and waited.
    #[serde(default)]
    pub waits: u32,
    /// The organisation run that queued it ([`crate::fleet::runs`]): its line there is
    /// recorded when the job ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Set by an attempt on its message's last delivery (the queue's `maxReceiveCount`):
    /// when that attempt ends at the latest. Past it, with the job not finished, the
    /// message has gone to the dead-letter queue and nothing will run the job again
    /// ([`crate::snapshot::job::settle`] fails it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery_until: Option<DateTime<Utc>>,
}

/// A job: a rollback (the plan it executes lives in the object store at `plan_key`; the
/// journal, which of its operations are done, in the catalog), or a queued snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEntry {
    pub id: JobId,
    pub scope: Scope,
    /// Restore or snapshot; rows written before snapshot jobs existed are restores. Spelt
    /// `type` when stored and answered: the DynamoDB catalog keeps `kind` for its own layout.
    #[serde(default, rename = "type")]
    pub kind: JobKind,
    /// Restore jobs: the snapshot restored to (always set). Snapshot jobs: `None`.
    pub target: Option<SnapshotId>,
    /// Snapshot jobs: what to take, and what was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureJob>,
    /// Which command the job serves ([`ResumeKey`](crate::rollback::ResumeKey): target and
    /// options, not the operations): a re-run of the same command resumes the open job with
    /// the same key instead of starting another. Not the plan's fingerprint.
    #[serde(alias = "fingerprint")]
    pub resume_key: String,
    pub plan_key: String,
    /// The hash of the stored plan (at `plan_key`), recorded with `total_ops` once the plan
    /// is written: every later read checks it. `None` before the plan exists, and for jobs
    /// written before plans were sealed.
    #[serde(default)]
    pub plan_hash: Option<ObjectHash>,
    /// The hash of the stored request a queued job runs with (restore jobs), recorded when the
    /// job is created; `None` for jobs without one or written before requests were sealed.
    #[serde(default)]
    pub request_hash: Option<ObjectHash>,
    pub status: JobStatus,
    pub pre_snapshot: Option<SnapshotId>,
    pub total_ops: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub error: Option<String>,
}

/// One completed operation of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub job: JobId,
    /// Index of the operation in the plan.
    pub op: u64,
    pub done_at: DateTime<Utc>,
    /// What the tracker answered that later steps may need (e.g. a recreated comment's id).
    pub result: serde_json::Value,
}

/// A small JSON document in the catalog, changed only by compare-and-swap on its version:
/// how the store-wide leases (and a catalog's own layout version) are kept, so every backend
/// decides them with the one conditional write it already has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Starts at 1 when the cell is created and grows by one with every write.
    pub version: u64,
    pub value: serde_json::Value,
}

/// Catalog failures.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A conditional write lost: the row exists, or is not in the expected state.
    #[error("catalog conflict on {what}: {detail}")]
    Conflict { what: String, detail: String },
    /// The scope is locked by someone else.
    #[error("{} is locked by {} since {} (expires {}); wait for it to finish, or retry after the lock expires", .0.scope, .0.holder, .0.acquired_at.format("%Y-%m-%d %H:%M:%S UTC"), .0.expires_at.format("%H:%M:%S UTC"))]
    Locked(Box<LockInfo>),
    #[error("{what} not found in catalog {catalog}")]
    NotFound { catalog: String, what: String },
    #[error("catalog {catalog} cannot be opened: {detail}")]
    Unavailable { catalog: String, detail: String },
    /// Opening an existing catalog found none (only `init` and `snapshot create` create one).
    #[error("catalog {catalog} does not exist: {detail}")]
    Missing { catalog: String, detail: String },
    #[error("catalog {catalog} failed: {detail}")]
    Backend { catalog: String, detail: String },
    #[error("catalog {catalog} holds an unreadable row ({detail})")]
    Corrupt { catalog: String, detail: String },
}

impl CatalogError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, CatalogError::Backend { .. })
    }
}

/// The snapshot index, locks and rollback jobs.
#[async_trait]
pub trait Catalog: Send + Sync + Debug {
    /// Where this catalog is, for messages.
    fn location(&self) -> String;

    /// Inserts a new entry; `Conflict` if its id exists.
    async fn create(&self, entry: &SnapshotEntry) -> Result<(), CatalogError>;

    async fn get(&self, id: &SnapshotId) -> Result<Option<SnapshotEntry>, CatalogError>;

    /// Entries of one scope (or all scopes), newest first, whatever their status. A scope is
    /// matched by its [`Scope::key`]: every case variant of a repository is one history, and
    /// each entry keeps the display form it was written with.
    async fn list(&self, scope: Option<&Scope>) -> Result<Vec<SnapshotEntry>, CatalogError>;

    /// Moves a `pending` or `in_progress` entry to `completed`, `partial` or `failed` with its
    /// final figures; `Conflict` when the entry is neither (a second completion never
    /// overwrites the first); `NotFound` when there is no such entry.
    async fn finish(&self, id: &SnapshotId, finish: &Finish) -> Result<(), CatalogError>;

    /// Replaces the entry `entry.id` with `entry`, only while the stored entry's status is one
    /// of `expected`: how a snapshot job takes up the entry it reserved (`pending`), or
    /// continues it in a later invocation (`in_progress`, or `failed` as abandoned after a
    /// crash). `Conflict` when the stored status is not expected (a completed entry is never
    /// reopened); `NotFound` when there is no such entry.
    async fn restart(
        &self,
        entry: &SnapshotEntry,
        expected: &[SnapshotStatus],
    ) -> Result<(), CatalogError>;

    /// Records the manifest hash of a `completed` entry that has none (one written before
    /// manifests were hashed), once its manifest has been checked some other way. Recording
    /// the hash it already holds succeeds; any other hash, or an entry that is not completed,
    /// is a `Conflict` (a recorded hash is never replaced); `NotFound` when there is no such
    /// entry.
    async fn record_manifest_hash(
        &self,
        id: &SnapshotId,
        hash: &ObjectHash,
    ) -> Result<(), CatalogError>;

    /// `NotFound` when there is no such entry.
    async fn set_pinned(&self, id: &SnapshotId, pinned: bool) -> Result<(), CatalogError>;

    /// Marks an entry `deleting`, whatever its status (again is fine): the first step of a
    /// deletion, so that a deletion that fails halfway leaves a row that says so instead of
    /// a `completed` one whose manifest is gone. `NotFound` when there is no such entry.
    async fn mark_deleting(&self, id: &SnapshotId) -> Result<(), CatalogError>;

    /// Removes an entry; `NotFound` when there is none.
    async fn delete(&self, id: &SnapshotId) -> Result<(), CatalogError>;

    /// Takes the scope's lock (one per [`Scope::key`], whatever case the scope is typed in)
    /// if it is free or its previous holder's lock has expired
    /// (`expires_at <= now`); otherwise `Locked` with the current holder.
    async fn lock(&self, lock: &LockInfo) -> Result<(), CatalogError>;

    /// Extends a held lock to `lock.expires_at`; `Conflict` if `lock.token` no longer holds it
    /// (released, or taken over after expiry). A lock that expired but was not taken over is
    /// still held and can be renewed.
    async fn renew_lock(&self, lock: &LockInfo) -> Result<(), CatalogError>;

    /// Releases the lock if `token` still holds it; otherwise does nothing.
    async fn unlock(&self, scope: &Scope, token: &str) -> Result<(), CatalogError>;

    /// The current lock of a scope, expired or not.
    async fn current_lock(&self, scope: &Scope) -> Result<Option<LockInfo>, CatalogError>;

    /// Inserts a job; `Conflict` if its id exists.
    async fn create_job(&self, job: &JobEntry) -> Result<(), CatalogError>;

    async fn get_job(&self, id: &JobId) -> Result<Option<JobEntry>, CatalogError>;

    /// Jobs of a scope, newest first.
    async fn list_jobs(&self, scope: &Scope) -> Result<Vec<JobEntry>, CatalogError>;

    /// Replaces a job row, only if its stored status is `expected`; `Conflict` otherwise,
    /// `NotFound` when there is no such job.
    async fn update_job(&self, job: &JobEntry, expected: JobStatus) -> Result<(), CatalogError>;

    /// Records one operation as done; `Conflict` if it already was (so a write is never
    /// journaled twice).
    async fn journal_append(&self, entry: &JournalEntry) -> Result<(), CatalogError>;

    /// A job's journal, by operation index.
    async fn journal(&self, job: &JobId) -> Result<Vec<JournalEntry>, CatalogError>;

    /// Takes `claim.key` if no unexpired claim holds it: `Ok(true)` when taken now,
    /// `Ok(false)` when someone else's claim still holds it (an expired one is replaced).
    async fn claim(&self, claim: &Claim) -> Result<bool, CatalogError>;

    /// Drops the claim on `key` if `token` holds it; otherwise does nothing.
    async fn release_claim(&self, key: &str, token: &str) -> Result<(), CatalogError>;

    /// The cell `name`, if it was ever written (strongly consistent).
    async fn read_cell(&self, name: &str) -> Result<Option<Cell>, CatalogError>;

    /// Writes cell `name` if its stored version is still `expected` (`None`: the cell must
    /// not exist yet) and returns the new version; `Conflict` when someone wrote it since.
    async fn write_cell(
        &self,
        name: &str,
        value: &serde_json::Value,
        expected: Option<u64>,
    ) -> Result<u64, CatalogError>;
}
