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

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
    TimeToLiveStatus,
};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{
    Catalog, CatalogError, Claim, Finish, JobEntry, JobStatus, JournalEntry, LockInfo,
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
/// The item kind (`snap`, `lock`, `job`, `journal`), for scans.
const ATTR_KIND: &str = "kind";
/// The id of the conditional write that last wrote an item (see `put_if`).
const ATTR_WRITE_ID: &str = "wid";
/// A lock's expiry in epoch milliseconds: the number its conditional takeover compares.
const ATTR_EXPIRES_MS: &str = "expires_ms";
/// A snapshot's manifest hash (part of the row's JSON; named here for the update
/// expressions that set it).
const ATTR_MANIFEST_HASH: &str = "manifest_hash";
/// The global secondary index over `gid`.
pub const INDEX_BY_ID: &str = "by-id";

/// Attributes that are layout, not part of a row's JSON.
const LAYOUT_ATTRS: [&str; 7] = [
    ATTR_PK,
    ATTR_SK,
    ATTR_GID,
    ATTR_TTL,
    ATTR_KIND,
    ATTR_EXPIRES_MS,
    ATTR_WRITE_ID,
];

const LOCK_SK: &str = "lock";
const CLAIM_SK: &str = "claim";
/// How long an abandoned lock row stays after its expiry before TTL removes it.
const LOCK_TTL_GRACE_SECS: i64 = 24 * 3600;
/// How long `finish`/`set_pinned`/`delete` wait for the `by-id` index to show a row created
/// by another process (GSIs are eventually consistent).
const INDEX_LAG_RETRIES: [u64; 3] = [100, 300, 900];

type Item = HashMap<String, AttributeValue>;

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
            CatalogUrl::Sqlite(_) => Err(unavailable(
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

    /// Checks that the table exists and the credentials reach it (one `DescribeTable`), so
    /// a wrong table name fails before any work.
    pub async fn check(&self) -> Result<(), CatalogError> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| self.error("describe table", aws::classify(&e)))?;
        Ok(())
    }

    /// Creates the table (on-demand, the `by-id` index, TTL on `ttl`) unless it exists, and
    /// waits until it is usable. Idempotent; a table with another key schema is an error.
    pub async fn ensure_table(&self) -> Result<TableSetup, CatalogError> {
        let setup = match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(out) => {
                let keys: Vec<(String, String)> = out
                    .table()
                    .map(|t| {
                        t.key_schema()
                            .iter()
                            .map(|k| {
                                (
                                    k.attribute_name().to_string(),
                                    k.key_type().as_str().to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let expected = vec![
                    (ATTR_PK.to_string(), "HASH".to_string()),
                    (ATTR_SK.to_string(), "RANGE".to_string()),
                ];
                if keys != expected {
                    return Err(CatalogError::Unavailable {
                        catalog: self.location(),
                        detail: format!(
                            "table {} exists with key schema {keys:?}, not ({ATTR_PK} HASH, {ATTR_SK} RANGE); choose another table name",
                            self.table
                        ),
                    });
                }
                TableSetup::Found
            }
            Err(e) => {
                let failure = aws::classify(&e);
                if !failure.code_is("ResourceNotFoundException") {
                    return Err(self.error("describe table", failure));
                }
                self.create_table().await?
            }
        };
        self.wait_active().await?;
        self.ensure_ttl().await?;
        Ok(setup)
    }

    async fn create_table(&self) -> Result<TableSetup, CatalogError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let built = (|| {
            Ok::<_, aws_sdk_dynamodb::error::BuildError>((
                vec![attr(ATTR_PK)?, attr(ATTR_SK)?, attr(ATTR_GID)?],
                vec![key(ATTR_PK, KeyType::Hash)?, key(ATTR_SK, KeyType::Range)?],
                GlobalSecondaryIndex::builder()
                    .index_name(INDEX_BY_ID)
                    .key_schema(key(ATTR_GID, KeyType::Hash)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()?,
            ))
        })();
        let (attrs, keys, index) = built.map_err(|e| CatalogError::Backend {
            catalog: self.location(),
            detail: format!("cannot build the table definition: {e}"),
        })?;
        match self
            .client
            .create_table()
            .table_name(&self.table)
            .set_attribute_definitions(Some(attrs))
            .set_key_schema(Some(keys))
            .global_secondary_indexes(index)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
        {
            Ok(_) => Ok(TableSetup::Created),
            // Another `init` created it a moment ago.
            Err(e) if aws::classify(&e).code_is("ResourceInUseException") => Ok(TableSetup::Found),
            Err(e) => Err(self.error("create table", aws::classify(&e))),
        }
    }

    async fn wait_active(&self) -> Result<(), CatalogError> {
        for _ in 0..240 {
            let out = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| self.error("describe table", aws::classify(&e)))?;
            let table = out.table();
            let active = table.and_then(|t| t.table_status()) == Some(&TableStatus::Active);
            let indexes_active = table
                .map(|t| {
                    t.global_secondary_indexes().iter().all(|i| {
                        i.index_status()
                            .is_none_or(|s| *s == aws_sdk_dynamodb::types::IndexStatus::Active)
                    })
                })
                .unwrap_or(true);
            if active && indexes_active {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(CatalogError::Unavailable {
            catalog: self.location(),
            detail: format!(
                "table {} did not become ACTIVE within 2 minutes; check it in the AWS console",
                self.table
            ),
        })
    }

    async fn ensure_ttl(&self) -> Result<(), CatalogError> {
        let current = self
            .client
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| self.error("describe TTL", aws::classify(&e)))?;
        let status = current
            .time_to_live_description()
            .and_then(|d| d.time_to_live_status());
        if matches!(
            status,
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        ) {
            return Ok(());
        }
        let spec = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(ATTR_TTL)
            .build()
            .map_err(|e| CatalogError::Backend {
                catalog: self.location(),
                detail: format!("cannot build the TTL setting: {e}"),
            })?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| self.error("enable TTL", aws::classify(&e)))?;
        Ok(())
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
            return CatalogError::Unavailable {
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

    fn remember(&self, gid: &str, pk: &str) {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(gid.to_string(), pk.to_string());
    }

    fn forget(&self, gid: &str) {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(gid);
    }

    fn known_pk(&self, gid: &str) -> Option<String> {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(gid)
            .cloned()
    }

    fn key(pk: &str, sk: &str) -> Item {
        HashMap::from([
            (ATTR_PK.to_string(), AttributeValue::S(pk.to_string())),
            (ATTR_SK.to_string(), AttributeValue::S(sk.to_string())),
        ])
    }

    /// A strongly consistent read of one item.
    async fn get_item(&self, pk: &str, sk: &str) -> Result<Option<Item>, CatalogError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("get item", aws::classify(&e)))?;
        Ok(out.item)
    }

    /// The item with `gid` (a snapshot or job), through the cache of known keys or the
    /// `by-id` index. `patient` waits briefly for the index to catch up with a row another
    /// process has just written.
    async fn find_by_gid(&self, gid: &str, patient: bool) -> Result<Option<Item>, CatalogError> {
        if let Some(pk) = self.known_pk(gid) {
            if let Some(item) = self.get_item(&pk, gid).await? {
                return Ok(Some(item));
            }
            self.forget(gid);
        }
        let waits: &[u64] = if patient { &INDEX_LAG_RETRIES } else { &[] };
        let mut waits = waits.iter();
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(INDEX_BY_ID)
                .key_condition_expression("#gid = :gid")
                .expression_attribute_names("#gid", ATTR_GID)
                .expression_attribute_values(":gid", AttributeValue::S(gid.to_string()))
                .send()
                .await
                .map_err(|e| self.error("query by id", aws::classify(&e)))?;
            if let Some(item) = out.items.and_then(|items| items.into_iter().next()) {
                if let Some(AttributeValue::S(pk)) = item.get(ATTR_PK) {
                    self.remember(gid, pk);
                }
                return Ok(Some(item));
            }
            match waits.next() {
                Some(ms) => tokio::time::sleep(Duration::from_millis(*ms)).await,
                None => return Ok(None),
            }
        }
    }

    /// Every item of a query or scan, following `LastEvaluatedKey`.
    async fn collect_pages(&self, request: PagedRequest<'_>) -> Result<Vec<Item>, CatalogError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let (page, next) = match &request {
                PagedRequest::Query {
                    pk,
                    sk_prefix,
                    newest_first,
                } => {
                    let out = self
                        .client
                        .query()
                        .table_name(&self.table)
                        .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                        .expression_attribute_names("#pk", ATTR_PK)
                        .expression_attribute_names("#sk", ATTR_SK)
                        .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()))
                        .expression_attribute_values(
                            ":prefix",
                            AttributeValue::S(sk_prefix.to_string()),
                        )
                        .scan_index_forward(!newest_first)
                        .consistent_read(true)
                        .set_limit(self.page_size)
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| self.error("query", aws::classify(&e)))?;
                    (out.items.unwrap_or_default(), out.last_evaluated_key)
                }
                PagedRequest::ScanKind(kind) => {
                    let out = self
                        .client
                        .scan()
                        .table_name(&self.table)
                        .filter_expression("#kind = :kind")
                        .expression_attribute_names("#kind", ATTR_KIND)
                        .expression_attribute_values(":kind", AttributeValue::S(kind.to_string()))
                        .consistent_read(true)
                        .set_limit(self.page_size)
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| self.error("scan", aws::classify(&e)))?;
                    (out.items.unwrap_or_default(), out.last_evaluated_key)
                }
            };
            items.extend(page);
            match next {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// Sends a conditional write with retries of our own (the SDK's are switched off for
    /// it), because only here can we tell a lost race from our own lost answer: when an
    /// attempt may have reached DynamoDB (a timeout, a reset, a 5xx) and the next attempt's
    /// condition fails, the caller reads the row back to see whether that first attempt
    /// won. A condition failing on a first clean attempt is always someone else's write.
    async fn send_conditional<T, E, Fut>(
        &self,
        what: &str,
        send: impl Fn() -> Fut,
    ) -> Result<Conditional, CatalogError>
    where
        Fut: std::future::Future<
            Output = Result<T, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
        >,
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let mut maybe_applied = false;
        let mut attempt = 0u32;
        loop {
            let failure = match send().await {
                Ok(_) => return Ok(Conditional::Applied),
                Err(e) => aws::classify(&e),
            };
            if failure.code_is("ConditionalCheckFailedException") {
                return Ok(Conditional::Failed { maybe_applied });
            }
            let server_error = failure.status.is_some_and(|s| s >= 500);
            let retryable = matches!(
                failure.kind,
                FailureKind::Throttled | FailureKind::Transient
            ) || server_error;
            attempt += 1;
            if !retryable || attempt >= CONDITIONAL_ATTEMPTS {
                return Err(self.error(what, failure));
            }
            // A throttled request was refused before it ran; anything else may have run.
            if failure.kind != FailureKind::Throttled {
                maybe_applied = true;
            }
            let backoff = 50u64 << attempt.min(6);
            let jitter = u64::from(Utc::now().timestamp_subsec_millis()) % backoff;
            tokio::time::sleep(Duration::from_millis(backoff + jitter)).await;
        }
    }

    /// A conditional put (see [`Self::send_conditional`]).
    async fn put_if(
        &self,
        what: &str,
        item: Item,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Conditional, CatalogError> {
        // A unique id per call, stored with the item: when a retried attempt finds the
        // condition failed, it tells "an earlier attempt of ours wrote this" apart from "a
        // racer wrote the same content" — identical payloads from two racers must not both
        // count as winners.
        let mut item = item;
        let write_id = ulid::Ulid::new().to_string();
        item.insert(ATTR_WRITE_ID.into(), AttributeValue::S(write_id.clone()));
        let key = match (item.get(ATTR_PK), item.get(ATTR_SK)) {
            (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => {
                Some((pk.clone(), sk.clone()))
            }
            _ => None,
        };
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        for (k, v) in names {
            req = req.expression_attribute_names(*k, *v);
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        let outcome = self
            .send_conditional(what, || {
                req.clone()
                    .customize()
                    .config_override(no_sdk_retries())
                    .send()
            })
            .await?;
        match (outcome, key) {
            (
                Conditional::Failed {
                    maybe_applied: true,
                },
                Some((pk, sk)),
            ) => {
                let ours = self.get_item(&pk, &sk).await?.is_some_and(|stored| {
                    stored.get(ATTR_WRITE_ID) == Some(&AttributeValue::S(write_id))
                });
                Ok(if ours {
                    Conditional::Applied
                } else {
                    Conditional::Failed {
                        maybe_applied: false,
                    }
                })
            }
            (outcome, _) => Ok(outcome),
        }
    }

    fn snapshot_item(&self, entry: &SnapshotEntry) -> Result<Item, CatalogError> {
        let sk = snapshot_sk(&entry.id);
        let mut item = row_item(entry).map_err(|e| self.corrupt("snapshot row", e))?;
        item.insert(ATTR_PK.into(), AttributeValue::S(entry.scope.to_string()));
        item.insert(ATTR_SK.into(), AttributeValue::S(sk.clone()));
        item.insert(ATTR_GID.into(), AttributeValue::S(sk));
        item.insert(ATTR_KIND.into(), AttributeValue::S("snap".into()));
        if let (Some(expires), false) = (entry.expires_at, entry.pinned) {
            item.insert(ATTR_TTL.into(), epoch_secs(expires));
        }
        Ok(item)
    }

    fn job_item(&self, job: &JobEntry) -> Result<Item, CatalogError> {
        let sk = job_sk(&job.id);
        let mut item = row_item(job).map_err(|e| self.corrupt("job row", e))?;
        item.insert(ATTR_PK.into(), AttributeValue::S(job.scope.to_string()));
        item.insert(ATTR_SK.into(), AttributeValue::S(sk.clone()));
        item.insert(ATTR_GID.into(), AttributeValue::S(sk));
        item.insert(ATTR_KIND.into(), AttributeValue::S("job".into()));
        Ok(item)
    }

    fn lock_item(&self, lock: &LockInfo) -> Result<Item, CatalogError> {
        let mut item = row_item(lock).map_err(|e| self.corrupt("lock row", e))?;
        item.insert(ATTR_PK.into(), AttributeValue::S(lock.scope.to_string()));
        item.insert(ATTR_SK.into(), AttributeValue::S(LOCK_SK.into()));
        item.insert(ATTR_KIND.into(), AttributeValue::S("lock".into()));
        item.insert(
            ATTR_EXPIRES_MS.into(),
            AttributeValue::N(lock.expires_at.timestamp_millis().to_string()),
        );
        item.insert(
            ATTR_TTL.into(),
            AttributeValue::N((lock.expires_at.timestamp() + LOCK_TTL_GRACE_SECS).to_string()),
        );
        Ok(item)
    }

    fn parse<T: DeserializeOwned>(&self, what: &str, item: Item) -> Result<T, CatalogError> {
        item_row(item).map_err(|e| self.corrupt(what, e))
    }

    async fn snapshot_by_id(
        &self,
        id: &SnapshotId,
        patient: bool,
    ) -> Result<Option<SnapshotEntry>, CatalogError> {
        match self.find_by_gid(&snapshot_sk(id), patient).await? {
            Some(item) => Ok(Some(self.parse("snapshot row", item)?)),
            None => Ok(None),
        }
    }

    fn not_found(&self, what: String) -> CatalogError {
        CatalogError::NotFound {
            catalog: self.location(),
            what,
        }
    }
}

/// The two kinds of paged read.
enum PagedRequest<'a> {
    Query {
        pk: &'a str,
        sk_prefix: &'a str,
        newest_first: bool,
    },
    ScanKind(&'a str),
}

/// The result of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conditional {
    Applied,
    /// The condition failed. `maybe_applied`: an earlier attempt of this same call may have
    /// been applied without us hearing the answer.
    Failed {
        maybe_applied: bool,
    },
}

/// Attempts of a conditional write (the SDK's standard policy also makes 3).
const CONDITIONAL_ATTEMPTS: u32 = 4;

fn no_sdk_retries() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::default()
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
}

fn snapshot_sk(id: &SnapshotId) -> String {
    format!("snap#{id}")
}

fn job_sk(id: &JobId) -> String {
    format!("job#{id}")
}

fn claim_pk(key: &str) -> String {
    format!("claim#{key}")
}

fn journal_pk(job: &JobId) -> String {
    format!("job#{job}")
}

fn journal_sk(op: u64) -> String {
    // Zero-padded so the sort key orders numerically.
    format!("journal#{op:020}")
}

fn epoch_secs(t: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(t.timestamp().to_string())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A row's JSON object as item attributes.
fn row_item<T: Serialize>(row: &T) -> Result<Item, String> {
    match serde_json::to_value(row).map_err(|e| e.to_string())? {
        Value::Object(map) => Ok(map.into_iter().map(|(k, v)| (k, json_to_attr(v))).collect()),
        other => Err(format!("expected an object, got {other}")),
    }
}

/// Item attributes back to a row, without the layout attributes.
fn item_row<T: DeserializeOwned>(mut item: Item) -> Result<T, String> {
    for attr in LAYOUT_ATTRS {
        item.remove(attr);
    }
    let map = item
        .into_iter()
        .map(|(k, v)| attr_to_json(v).map(|v| (k, v)))
        .collect::<Result<serde_json::Map<String, Value>, String>>()?;
    serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())
}

fn json_to_attr(v: Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s),
        Value::Array(items) => AttributeValue::L(items.into_iter().map(json_to_attr).collect()),
        Value::Object(map) => {
            AttributeValue::M(map.into_iter().map(|(k, v)| (k, json_to_attr(v))).collect())
        }
    }
}

fn attr_to_json(a: AttributeValue) -> Result<Value, String> {
    Ok(match a {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(b),
        AttributeValue::S(s) => Value::String(s),
        AttributeValue::N(n) => {
            if let Ok(i) = n.parse::<i64>() {
                Value::from(i)
            } else if let Ok(u) = n.parse::<u64>() {
                Value::from(u)
            } else {
                n.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| format!("number {n:?} is out of range"))?
            }
        }
        AttributeValue::L(items) => Value::Array(
            items
                .into_iter()
                .map(attr_to_json)
                .collect::<Result<_, _>>()?,
        ),
        AttributeValue::M(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| attr_to_json(v).map(|v| (k, v)))
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(format!("unexpected attribute type {other:?}")),
    })
}

#[async_trait]
impl Catalog for DynamoCatalog {
    fn location(&self) -> String {
        format!("dynamodb://{}", self.table)
    }

    async fn create(&self, entry: &SnapshotEntry) -> Result<(), CatalogError> {
        let item = self.snapshot_item(entry)?;
        let pk = entry.scope.to_string();
        let sk = snapshot_sk(&entry.id);
        match self
            .put_if(
                "create snapshot",
                item,
                "attribute_not_exists(#pk)",
                &[("#pk", ATTR_PK)],
                vec![],
            )
            .await?
        {
            Conditional::Applied => {
                self.remember(&sk, &pk);
                return Ok(());
            }
            // Our own earlier attempt whose answer was lost looks exactly like this.
            Conditional::Failed {
                maybe_applied: true,
            } => {
                if let Some(stored) = self.get_item(&pk, &sk).await? {
                    if self.parse::<SnapshotEntry>("snapshot row", stored)? == *entry {
                        self.remember(&sk, &pk);
                        return Ok(());
                    }
                }
            }
            Conditional::Failed { .. } => {}
        }
        Err(CatalogError::Conflict {
            what: format!("snapshot {}", entry.id),
            detail: "a snapshot with this id already exists".into(),
        })
    }

    async fn get(&self, id: &SnapshotId) -> Result<Option<SnapshotEntry>, CatalogError> {
        self.snapshot_by_id(id, false).await
    }

    async fn list(&self, scope: Option<&Scope>) -> Result<Vec<SnapshotEntry>, CatalogError> {
        let items = match scope {
            Some(scope) => {
                let pk = scope.to_string();
                self.collect_pages(PagedRequest::Query {
                    pk: &pk,
                    sk_prefix: "snap#",
                    newest_first: true,
                })
                .await?
            }
            // No scope: a filtered scan. Catalogs hold thousands of rows, not millions, and
            // this is an interactive listing, so a scan is simpler than a second index.
            None => self.collect_pages(PagedRequest::ScanKind("snap")).await?,
        };
        let mut entries = items
            .into_iter()
            .map(|item| self.parse::<SnapshotEntry>("snapshot row", item))
            .collect::<Result<Vec<_>, _>>()?;
        for e in &entries {
            self.remember(&snapshot_sk(&e.id), &e.scope.to_string());
        }
        // Ids sort by creation time; the scan has no order of its own.
        entries.sort_by_key(|e| std::cmp::Reverse(e.id));
        Ok(entries)
    }

    async fn finish(&self, id: &SnapshotId, finish: &Finish) -> Result<(), CatalogError> {
        let entry = self
            .snapshot_by_id(id, true)
            .await?
            .ok_or_else(|| self.not_found(format!("snapshot {id}")))?;
        let pk = entry.scope.to_string();
        let sk = snapshot_sk(id);
        // Identifies this call's write, so a retry can tell its own landed attempt from an
        // identical finish by a racer (see `put_if`).
        let write_id = ulid::Ulid::new().to_string();
        let to_attr = |v: Result<Value, serde_json::Error>| {
            v.map(json_to_attr)
                .map_err(|e| self.corrupt("snapshot figures", e))
        };
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk, &sk)))
            .update_expression(
                "SET #status = :status, finished_at = :finished_at, #counts = :counts, #bytes = :bytes, #requests = :requests, #error = :error, #mh = :mh, #wid = :wid",
            )
            .condition_expression("attribute_exists(#pk) AND #status = :pending")
            .expression_attribute_names("#pk", ATTR_PK)
            .expression_attribute_names("#wid", ATTR_WRITE_ID)
            .expression_attribute_values(":wid", s(write_id.clone()))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#counts", "counts")
            .expression_attribute_names("#bytes", "bytes")
            .expression_attribute_names("#requests", "requests")
            .expression_attribute_names("#error", "error")
            .expression_attribute_names("#mh", ATTR_MANIFEST_HASH)
            .expression_attribute_values(":status", s(finish.status.as_str()))
            .expression_attribute_values(":pending", s(SnapshotStatus::Pending.as_str()))
            .expression_attribute_values(
                ":finished_at",
                to_attr(serde_json::to_value(finish.finished_at))?,
            )
            .expression_attribute_values(":counts", to_attr(serde_json::to_value(finish.counts))?)
            .expression_attribute_values(":bytes", to_attr(serde_json::to_value(finish.bytes))?)
            .expression_attribute_values(":requests", AttributeValue::N(finish.requests.to_string()))
            .expression_attribute_values(":error", to_attr(serde_json::to_value(&finish.error))?)
            .expression_attribute_values(
                ":mh",
                to_attr(serde_json::to_value(&finish.manifest_hash))?,
            );
        let maybe_applied = match self
            .send_conditional("finish snapshot", || {
                req.clone()
                    .customize()
                    .config_override(no_sdk_retries())
                    .send()
            })
            .await?
        {
            Conditional::Applied => return Ok(()),
            Conditional::Failed { maybe_applied } => maybe_applied,
        };
        let Some(stored) = self.get_item(&pk, &sk).await? else {
            return Err(self.not_found(format!("snapshot {id}")));
        };
        // Our own earlier attempt whose answer was lost: the row carries our write id.
        if maybe_applied && stored.get(ATTR_WRITE_ID) == Some(&AttributeValue::S(write_id)) {
            return Ok(());
        }
        let stored: SnapshotEntry = self.parse("snapshot row", stored)?;
        Err(CatalogError::Conflict {
            what: format!("snapshot {id}"),
            detail: format!(
                "it is already {}; a finished snapshot is never finished again",
                stored.status
            ),
        })
    }

    async fn record_manifest_hash(
        &self,
        id: &SnapshotId,
        hash: &ObjectHash,
    ) -> Result<(), CatalogError> {
        let entry = self
            .snapshot_by_id(id, true)
            .await?
            .ok_or_else(|| self.not_found(format!("snapshot {id}")))?;
        let (pk, sk) = (entry.scope.to_string(), snapshot_sk(id));
        // Entries written before the hash existed lack the attribute; newer ones that are
        // not completed hold NULL. Recording the same hash twice is a no-op, so a retry
        // after a lost answer needs no write id: the read-back below settles it.
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk, &sk)))
            .update_expression("SET #mh = :mh")
            .condition_expression(
                "attribute_exists(#pk) AND #status = :completed AND \
                 (attribute_not_exists(#mh) OR attribute_type(#mh, :null_type) OR #mh = :mh)",
            )
            .expression_attribute_names("#pk", ATTR_PK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#mh", ATTR_MANIFEST_HASH)
            .expression_attribute_values(":mh", s(hash.to_string()))
            .expression_attribute_values(":completed", s(SnapshotStatus::Completed.as_str()))
            .expression_attribute_values(":null_type", s("NULL"));
        let outcome = self
            .send_conditional("record manifest hash", || {
                req.clone()
                    .customize()
                    .config_override(no_sdk_retries())
                    .send()
            })
            .await?;
        if outcome == Conditional::Applied {
            return Ok(());
        }
        let Some(stored) = self.get_item(&pk, &sk).await? else {
            return Err(self.not_found(format!("snapshot {id}")));
        };
        let stored: SnapshotEntry = self.parse("snapshot row", stored)?;
        match stored.manifest_hash {
            Some(held) if held == *hash => Ok(()),
            Some(held) => Err(CatalogError::Conflict {
                what: format!("snapshot {id}"),
                detail: format!("it already records manifest hash {held}"),
            }),
            None => Err(CatalogError::Conflict {
                what: format!("snapshot {id}"),
                detail: format!("it is {}, not completed", stored.status),
            }),
        }
    }

    async fn set_pinned(&self, id: &SnapshotId, pinned: bool) -> Result<(), CatalogError> {
        // `expires_at` never changes after creation, so reading it first is safe.
        let entry = self
            .snapshot_by_id(id, true)
            .await?
            .ok_or_else(|| self.not_found(format!("snapshot {id}")))?;
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&entry.scope.to_string(), &snapshot_sk(id))))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", ATTR_PK)
            .expression_attribute_names("#pinned", "pinned")
            .expression_attribute_names("#ttl", ATTR_TTL)
            .expression_attribute_values(":pinned", AttributeValue::Bool(pinned));
        req = match (pinned, entry.expires_at) {
            // A pinned snapshot must never be dropped by TTL.
            (true, _) | (false, None) => req.update_expression("SET #pinned = :pinned REMOVE #ttl"),
            (false, Some(expires)) => req
                .update_expression("SET #pinned = :pinned, #ttl = :ttl")
                .expression_attribute_values(":ttl", epoch_secs(expires)),
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let failure = aws::classify(&e);
                if failure.code_is("ConditionalCheckFailedException") {
                    Err(self.not_found(format!("snapshot {id}")))
                } else {
                    Err(self.error("pin snapshot", failure))
                }
            }
        }
    }

    async fn delete(&self, id: &SnapshotId) -> Result<(), CatalogError> {
        let entry = self
            .snapshot_by_id(id, true)
            .await?
            .ok_or_else(|| self.not_found(format!("snapshot {id}")))?;
        // Unconditional: the row was there a moment ago, and a delete the SDK retries after
        // a lost answer must not turn into "not found".
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&entry.scope.to_string(), &snapshot_sk(id))))
            .send()
            .await
            .map_err(|e| self.error("delete snapshot", aws::classify(&e)))?;
        self.forget(&snapshot_sk(id));
        Ok(())
    }

    async fn lock(&self, lock: &LockInfo) -> Result<(), CatalogError> {
        let pk = lock.scope.to_string();
        // A lock released between our failed put and the read-back: try again, a few times.
        for _ in 0..3 {
            let now = Utc::now().timestamp_millis();
            if self
                .put_if(
                    "take lock",
                    self.lock_item(lock)?,
                    "attribute_not_exists(#pk) OR #expires <= :now",
                    &[("#pk", ATTR_PK), ("#expires", ATTR_EXPIRES_MS)],
                    vec![(":now", AttributeValue::N(now.to_string()))],
                )
                .await?
                == Conditional::Applied
            {
                return Ok(());
            }
            match self.current_lock(&lock.scope).await? {
                // Ours already (an earlier attempt whose answer was lost): tokens are unique
                // per acquisition, so nobody else can hold this one.
                Some(held) if held.token == lock.token => return Ok(()),
                Some(held) => return Err(CatalogError::Locked(Box::new(held))),
                None => continue,
            }
        }
        Err(CatalogError::Conflict {
            what: format!("lock of {pk}"),
            detail: "the lock kept changing hands; retry".into(),
        })
    }

    async fn renew_lock(&self, lock: &LockInfo) -> Result<(), CatalogError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&lock.scope.to_string(), LOCK_SK)))
            .update_expression("SET expires_at = :expires_at, #expires = :expires_ms, #ttl = :ttl")
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#expires", ATTR_EXPIRES_MS)
            .expression_attribute_names("#ttl", ATTR_TTL)
            .expression_attribute_values(":token", s(lock.token.clone()))
            .expression_attribute_values(
                ":expires_at",
                json_to_attr(
                    serde_json::to_value(lock.expires_at)
                        .map_err(|e| self.corrupt("lock expiry", e))?,
                ),
            )
            .expression_attribute_values(
                ":expires_ms",
                AttributeValue::N(lock.expires_at.timestamp_millis().to_string()),
            )
            .expression_attribute_values(
                ":ttl",
                AttributeValue::N((lock.expires_at.timestamp() + LOCK_TTL_GRACE_SECS).to_string()),
            )
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => {
                let failure = aws::classify(&e);
                if failure.code_is("ConditionalCheckFailedException") {
                    Err(CatalogError::Conflict {
                        what: format!("lock of {}", lock.scope),
                        detail: "this holder no longer holds it (it expired and was taken over, or was released)".into(),
                    })
                } else {
                    Err(self.error("renew lock", failure))
                }
            }
        }
    }

    async fn unlock(&self, scope: &Scope, token: &str) -> Result<(), CatalogError> {
        let sent = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&scope.to_string(), LOCK_SK)))
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", s(token))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => {
                let failure = aws::classify(&e);
                // Not ours (any more), or already gone: nothing to do, as the trait says.
                if failure.code_is("ConditionalCheckFailedException") {
                    Ok(())
                } else {
                    Err(self.error("release lock", failure))
                }
            }
        }
    }

    async fn current_lock(&self, scope: &Scope) -> Result<Option<LockInfo>, CatalogError> {
        match self.get_item(&scope.to_string(), LOCK_SK).await? {
            Some(item) => Ok(Some(self.parse("lock row", item)?)),
            None => Ok(None),
        }
    }

    async fn create_job(&self, job: &JobEntry) -> Result<(), CatalogError> {
        let pk = job.scope.to_string();
        let sk = job_sk(&job.id);
        match self
            .put_if(
                "create job",
                self.job_item(job)?,
                "attribute_not_exists(#pk)",
                &[("#pk", ATTR_PK)],
                vec![],
            )
            .await?
        {
            Conditional::Applied => {
                self.remember(&sk, &pk);
                return Ok(());
            }
            Conditional::Failed {
                maybe_applied: true,
            } => {
                if let Some(stored) = self.get_item(&pk, &sk).await? {
                    if self.parse::<JobEntry>("job row", stored)? == *job {
                        self.remember(&sk, &pk);
                        return Ok(());
                    }
                }
            }
            Conditional::Failed { .. } => {}
        }
        Err(CatalogError::Conflict {
            what: format!("job {}", job.id),
            detail: "a job with this id already exists".into(),
        })
    }

    async fn get_job(&self, id: &JobId) -> Result<Option<JobEntry>, CatalogError> {
        match self.find_by_gid(&job_sk(id), false).await? {
            Some(item) => Ok(Some(self.parse("job row", item)?)),
            None => Ok(None),
        }
    }

    async fn list_jobs(&self, scope: &Scope) -> Result<Vec<JobEntry>, CatalogError> {
        let pk = scope.to_string();
        let items = self
            .collect_pages(PagedRequest::Query {
                pk: &pk,
                sk_prefix: "job#",
                newest_first: true,
            })
            .await?;
        let jobs = items
            .into_iter()
            .map(|item| self.parse::<JobEntry>("job row", item))
            .collect::<Result<Vec<_>, _>>()?;
        for job in &jobs {
            self.remember(&job_sk(&job.id), &pk);
        }
        Ok(jobs)
    }

    async fn update_job(&self, job: &JobEntry, expected: JobStatus) -> Result<(), CatalogError> {
        let pk = job.scope.to_string();
        let sk = job_sk(&job.id);
        let maybe_applied = match self
            .put_if(
                "update job",
                self.job_item(job)?,
                "attribute_exists(#pk) AND #status = :expected",
                &[("#pk", ATTR_PK), ("#status", "status")],
                vec![(":expected", s(expected.as_str()))],
            )
            .await?
        {
            Conditional::Applied => return Ok(()),
            Conditional::Failed { maybe_applied } => maybe_applied,
        };
        let Some(stored) = self.get_item(&pk, &sk).await? else {
            return Err(self.not_found(format!("job {}", job.id)));
        };
        let stored: JobEntry = self.parse("job row", stored)?;
        if maybe_applied && stored == *job {
            return Ok(());
        }
        Err(CatalogError::Conflict {
            what: format!("job {}", job.id),
            detail: format!(
                "its status is {}, not the expected {}",
                stored.status.as_str(),
                expected.as_str()
            ),
        })
    }

    async fn journal_append(&self, entry: &JournalEntry) -> Result<(), CatalogError> {
        let pk = journal_pk(&entry.job);
        let sk = journal_sk(entry.op);
        let mut item = row_item(entry).map_err(|e| self.corrupt("journal row", e))?;
        item.insert(ATTR_PK.into(), s(pk.clone()));
        item.insert(ATTR_SK.into(), s(sk.clone()));
        item.insert(ATTR_KIND.into(), s("journal"));
        match self
            .put_if(
                "append to journal",
                item,
                "attribute_not_exists(#pk)",
                &[("#pk", ATTR_PK)],
                vec![],
            )
            .await?
        {
            Conditional::Applied => return Ok(()),
            Conditional::Failed {
                maybe_applied: true,
            } => {
                if let Some(stored) = self.get_item(&pk, &sk).await? {
                    if self.parse::<JournalEntry>("journal row", stored)? == *entry {
                        return Ok(());
                    }
                }
            }
            Conditional::Failed { .. } => {}
        }
        Err(CatalogError::Conflict {
            what: format!("operation {} of job {}", entry.op, entry.job),
            detail: "it is already journaled as done".into(),
        })
    }

    async fn journal(&self, job: &JobId) -> Result<Vec<JournalEntry>, CatalogError> {
        let pk = journal_pk(job);
        let items = self
            .collect_pages(PagedRequest::Query {
                pk: &pk,
                sk_prefix: "journal#",
                newest_first: false,
            })
            .await?;
        items
            .into_iter()
            .map(|item| self.parse::<JournalEntry>("journal row", item))
            .collect()
    }

    async fn claim(&self, claim: &Claim) -> Result<bool, CatalogError> {
        let mut item = row_item(claim).map_err(|e| self.corrupt("claim row", e))?;
        item.insert(ATTR_PK.into(), s(claim_pk(&claim.key)));
        item.insert(ATTR_SK.into(), s(CLAIM_SK));
        item.insert(ATTR_KIND.into(), s("claim"));
        item.insert(
            ATTR_EXPIRES_MS.into(),
            AttributeValue::N(claim.expires_at.timestamp_millis().to_string()),
        );
        item.insert(ATTR_TTL.into(), epoch_secs(claim.expires_at));
        let now = Utc::now().timestamp_millis();
        let outcome = self
            .put_if(
                "take claim",
                item,
                "attribute_not_exists(#pk) OR #expires <= :now",
                &[("#pk", ATTR_PK), ("#expires", ATTR_EXPIRES_MS)],
                vec![(":now", AttributeValue::N(now.to_string()))],
            )
            .await?;
        Ok(outcome == Conditional::Applied)
    }

    async fn release_claim(&self, key: &str, token: &str) -> Result<(), CatalogError> {
        let sent = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&claim_pk(key), CLAIM_SK)))
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", s(token))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => {
                let failure = aws::classify(&e);
                if failure.code_is("ConditionalCheckFailedException") {
                    Ok(())
                } else {
                    Err(self.error("release claim", failure))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_items() {
        let value = serde_json::json!({
            "a": "x", "n": 12, "neg": -3, "big": u64::MAX, "f": 1.5, "t": true,
            "none": null, "list": [1, "two", {"three": 3}], "map": {"k": [false]}
        });
        let item = row_item(&value).unwrap();
        let back: Value = item_row(item).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn journal_keys_sort_numerically() {
        assert!(journal_sk(9) < journal_sk(10));
        assert!(journal_sk(99_999) < journal_sk(100_000));
    }
}
