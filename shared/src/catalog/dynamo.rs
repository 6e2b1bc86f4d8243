//! [`DynamoCatalog`]: the catalog in one DynamoDB table (feature `aws`).
//!
//! # Table layout
//! | item | `pk` (partition) | `sk` (sort) | `gid` (GSI `by-id`) |
//! |---|---|---|---|
//! | snapshot | scope (`github:o/r`) | `snap#<id>` | `snap#<id>` |
//! | lock | scope | `lock` | — |
//! | rollback job | scope | `job#<id>` | `job#<id>` |
//! | journal entry | `job#<job id>` | `journal#<op, 20 digits>` | — |
//! | claim | `claim#<key>` | `claim` | — |
//!
//! Ids are ULIDs, so a descending query on `sk` lists a scope's snapshots (or jobs) newest
//! first. The global secondary index `by-id` finds a snapshot or job by id alone (the trait's
//! `get(id)` has no scope). Journal entries live in their job's own partition because the
//! journal API is keyed by job alone: an append stays one conditional put with no lookup.
//! Every other attribute is the row's JSON form (objects become maps), so items read well in
//! the console; items stay a few hundred bytes, far below DynamoDB's 400 KB (manifests live
//! in the object store).
//!
//! # Concurrency
//! Every state change is one conditional write, checked by DynamoDB itself, never
//! read-then-write: `attribute_not_exists(pk)` for creates, `#status = :pending` for finishing
//! a snapshot, `#status = :expected` for jobs, and for locks `expires_ms <= :now` against the
//! *stored* expiry. A failed condition (`ConditionalCheckFailedException`) becomes
//! [`CatalogError::Conflict`] or [`CatalogError::Locked`]. Conditional writes are retried by
//! this module rather than the SDK, so that it knows when an earlier attempt may have been
//! applied with its answer lost (a reset, a timeout, a 5xx): only then is a failed condition
//! read back, and an item that is exactly what we wrote counts as our success.
//!
//! # Expiry
//! Snapshots with an `expires_at` (and not pinned) carry `ttl` (epoch seconds), the table's
//! TTL attribute: DynamoDB drops their rows after that time. Locks carry a `ttl` a day past
//! their expiry so abandoned ones are cleaned up (an expired lock can be taken over before).
//! Claims carry a `ttl` at their own expiry: a handled webhook delivery is forgotten then.

mod cells;
mod items;
mod jobs;
mod layout;
mod locks;
mod requests;
mod snapshots;
mod table;

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{
    Catalog, CatalogError, Cell, Claim, Finish, JobEntry, JobStatus, JournalEntry, LockInfo,
    SnapshotEntry, SnapshotStatus,
};
use crate::aws::{self, Failure, FailureKind, CREDENTIALS_HINT};
use crate::config::CatalogUrl;
use crate::id::{JobId, ObjectHash, SnapshotId};
use crate::scope::Scope;

/// Partition key attribute.
pub const ATTR_PK: &str = "pk";
/// Sort key attribute.
pub const ATTR_SK: &str = "sk";
/// Partition key of the `by-id` index.
pub const ATTR_GID: &str = "gid";
/// The table's TTL attribute (epoch seconds).
pub const ATTR_TTL: &str = "ttl";
/// The global secondary index over `gid`.
pub const INDEX_BY_ID: &str = "by-id";

/// What `ensure_table` found or did (for `backtrack init`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableSetup {
    Created,
    Found,
}

/// The catalog in a DynamoDB table. One per process; the client pools connections.
#[derive(Debug)]
pub struct DynamoCatalog {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// `Limit` of each query/scan page (`None`: DynamoDB's 1 MB pages). Tests make it small
    /// to prove paging.
    page_size: Option<i32>,
    /// `gid → pk` of rows this process has seen: lets `finish` after `create` use strongly
    /// consistent key access instead of the eventually consistent index.
    known: Mutex<HashMap<String, String>>,
}

impl DynamoCatalog {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoCatalog {
            client,
            table: table.into(),
            page_size: None,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// A catalog from a `dynamodb://TABLE` URL, configured by the standard AWS chain.
    pub async fn from_url(url: &str) -> Result<Self, CatalogError> {
        let unavailable = |detail: String| CatalogError::Unavailable {
            catalog: url.to_string(),
            detail,
        };
        match CatalogUrl::parse(url, "catalog").map_err(|e| unavailable(e.to_string()))? {
            CatalogUrl::Dynamo(table) => Ok(Self::open(&table).await),
            CatalogUrl::Sqlite(_) | CatalogUrl::Git(_) => Err(unavailable(
                "not a dynamodb:// URL; expected dynamodb://TABLE".into(),
            )),
        }
    }

    /// A catalog on `table`, configured by the standard AWS chain.
    pub async fn open(table: &str) -> Self {
        let config = aws::load_config().await;
        Self::new(aws::dynamodb_client(&config), table)
    }

    /// Reads at most `n` items per query or scan page.
    pub fn with_page_size(mut self, n: i32) -> Self {
        self.page_size = Some(n.max(1));
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// Turns a classified SDK failure into the catalog's error, naming the table and the fix.
    fn error(&self, op: &str, failure: Failure) -> CatalogError {
        let catalog = self.location();
        if failure.code_is("ResourceNotFoundException") {
            let region = self
                .client
                .config()
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "(none)".into());
            return CatalogError::Missing {
                catalog,
                detail: format!(
                    "table {} not found in region {region}; create it with `backtrack init --catalog dynamodb://{}`, or check the table name and AWS_REGION",
                    self.table, self.table
                ),
            };
        }
        match failure.kind {
            FailureKind::Denied => CatalogError::Unavailable {
                catalog,
                detail: format!(
                    "{op} on table {}: {}; {CREDENTIALS_HINT}",
                    self.table, failure.detail
                ),
            },
            FailureKind::Throttled => CatalogError::Backend {
                catalog,
                detail: format!(
                    "{op} on table {}: throttled ({}) after the SDK's retries; retry later",
                    self.table, failure.detail
                ),
            },
            _ => CatalogError::Backend {
                catalog,
                detail: format!("{op} on table {}: {}", self.table, failure.detail),
            },
        }
    }

    fn corrupt(&self, what: &str, detail: impl std::fmt::Display) -> CatalogError {
        CatalogError::Corrupt {
            catalog: self.location(),
            detail: format!("{what} in table {}: {detail}", self.table),
        }
    }
    fn not_found(&self, what: String) -> CatalogError {
        CatalogError::NotFound {
            catalog: self.location(),
            what,
        }
    }
}

#[async_trait]
impl Catalog for DynamoCatalog {
    fn location(&self) -> String {
        format!("dynamodb://{}", self.table)
    }

    async fn create(&self, entry: &SnapshotEntry) -> Result<(), CatalogError> {
        self.create_snapshot(entry).await
    }

    async fn get(&self, id: &SnapshotId) -> Result<Option<SnapshotEntry>, CatalogError> {
        self.snapshot_by_id(id, false).await
    }

    async fn list(&self, scope: Option<&Scope>) -> Result<Vec<SnapshotEntry>, CatalogError> {
        self.list_snapshots(scope).await
    }

    async fn finish(&self, id: &SnapshotId, finish: &Finish) -> Result<(), CatalogError> {
        self.finish_snapshot(id, finish).await
    }

    async fn restart(
        &self,
        entry: &SnapshotEntry,
        expected: &[SnapshotStatus],
    ) -> Result<(), CatalogError> {
        self.restart_snapshot(entry, expected).await
    }

    async fn record_manifest_hash(
        &self,
        id: &SnapshotId,
        hash: &ObjectHash,
    ) -> Result<(), CatalogError> {
        self.record_snapshot_manifest_hash(id, hash).await
    }

    async fn set_pinned(&self, id: &SnapshotId, pinned: bool) -> Result<(), CatalogError> {
        self.set_snapshot_pinned(id, pinned).await
    }

    async fn mark_deleting(&self, id: &SnapshotId) -> Result<(), CatalogError> {
        self.mark_snapshot_deleting(id).await
    }

    async fn delete(&self, id: &SnapshotId) -> Result<(), CatalogError> {
        self.delete_snapshot(id).await
    }

    async fn lock(&self, lock: &LockInfo) -> Result<(), CatalogError> {
        self.take_lock(lock).await
    }

    async fn renew_lock(&self, lock: &LockInfo) -> Result<(), CatalogError> {
        self.renew_held_lock(lock).await
    }

    async fn unlock(&self, scope: &Scope, token: &str) -> Result<(), CatalogError> {
        self.release_lock(scope, token).await
    }

    async fn current_lock(&self, scope: &Scope) -> Result<Option<LockInfo>, CatalogError> {
        self.lock_of(scope).await
    }

    async fn create_job(&self, job: &JobEntry) -> Result<(), CatalogError> {
        self.create_job_row(job).await
    }

    async fn get_job(&self, id: &JobId) -> Result<Option<JobEntry>, CatalogError> {
        self.job_by_id(id).await
    }

    async fn list_jobs(&self, scope: &Scope) -> Result<Vec<JobEntry>, CatalogError> {
        self.jobs_of(scope).await
    }

    async fn update_job(&self, job: &JobEntry, expected: JobStatus) -> Result<(), CatalogError> {
        self.replace_job(job, expected).await
    }

    async fn journal_append(&self, entry: &JournalEntry) -> Result<(), CatalogError> {
        self.append_journal(entry).await
    }

    async fn journal(&self, job: &JobId) -> Result<Vec<JournalEntry>, CatalogError> {
        self.journal_of(job).await
    }

    async fn claim(&self, claim: &Claim) -> Result<bool, CatalogError> {
        self.take_claim(claim).await
    }

    async fn release_claim(&self, key: &str, token: &str) -> Result<(), CatalogError> {
        self.drop_claim(key, token).await
    }

    async fn read_cell(&self, name: &str) -> Result<Option<Cell>, CatalogError> {
        self.cell(name).await
    }

    async fn write_cell(
        &self,
        name: &str,
        value: &serde_json::Value,
        expected: Option<u64>,
    ) -> Result<u64, CatalogError> {
        self.put_cell(name, value, expected).await
    }
}
