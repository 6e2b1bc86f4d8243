//! Retention and garbage collection: which snapshots to drop, then which blobs no manifest
//! references any more.
//!
//! Plan, then apply: [`plan`] decides everything and can be printed; [`apply`] removes each
//! dropped snapshot (its row says `deleting`, its manifest goes, then its row), then the
//! unreferenced blobs. [`run`] is the one entry point the CLI and the functions call: it
//! validates nothing (the [`Retention`] it gets is valid by construction) and, to execute,
//! holds the scope's lock (no rollback reads a snapshot while it is dropped) and the store's
//! exclusive collect lease (no capture re-uses a blob while it is collected; see
//! [`crate::lease`]) from before the plan reads the manifests until the last delete.
//!
//! Blobs younger than the grace period are never collected either: with the lease the grace
//! is a second line of defence (and the only one against a writer that holds no lease, such
//! as an older backtrack), not the rule that keeps captures safe.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalog::SnapshotStatus;
use crate::error::{Error, Result};
use crate::id::SnapshotId;
use crate::lease::{self, LeaseOptions, StoreLease};
use crate::scope::Scope;
use crate::snapshot::{Archive, InUse, NeededAs, ABANDONED};
use crate::units::human_bytes;

/// Which snapshots of a scope to keep: the newest `keep_last` completed ones, and every
/// completed one younger than `keep_within`. A snapshot is kept if any rule keeps it; pinned
/// snapshots and those an unfinished rollback needs are always kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Retention {
    keep_last: usize,
    keep_within: Option<Duration>,
}

impl Retention {
    /// The rules; refused when they would keep nothing (`keep_last` 0 and no `keep_within`),
    /// which is never what a retention policy means.
    pub fn new(keep_last: usize, keep_within: Option<Duration>) -> Result<Self> {
        if keep_last == 0 && keep_within.is_none_or(|d| d.is_zero()) {
            return Err(Error::Invalid(
                "this retention keeps no snapshot at all (keep-last 0 and no keep-within); keep at least one (--keep-last 1) or give --keep-within, and delete snapshots one by one with `backtrack snapshot delete`".into(),
            ));
        }
        if keep_within.is_some_and(|d| d > crate::units::MAX_DURATION) {
            return Err(Error::Invalid(
                "keep-within must be at most 100 years; a longer span means nothing for retention"
                    .into(),
            ));
        }
        Ok(Retention {
            keep_last,
            keep_within: keep_within.filter(|d| !d.is_zero()),
        })
    }

    pub fn keep_last(&self) -> usize {
        self.keep_last
    }

    pub fn keep_within(&self) -> Option<Duration> {
        self.keep_within
    }
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            keep_last: 10,
            keep_within: None,
        }
    }
}

/// Retention plus how garbage collection behaves.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    pub retention: Retention,
    /// Unreferenced blobs younger than this are left alone.
    pub grace: Duration,
    /// A `pending` entry with no lease (written before captures held one) older than this is
    /// a crashed capture and is dropped.
    pub stale_pending: Duration,
    /// The collect lease's time to live.
    pub lease: LeaseOptions,
}

impl PruneOptions {
    pub fn new(retention: Retention) -> Self {
        PruneOptions {
            retention,
            ..PruneOptions::default()
        }
    }
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            retention: Retention::default(),
            grace: Duration::from_secs(3600),
            stale_pending: Duration::from_secs(24 * 3600),
            lease: LeaseOptions::default(),
        }
    }
}

/// One snapshot the plan drops, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Dropped {
    pub id: SnapshotId,
    pub status: SnapshotStatus,
    pub created_at: DateTime<Utc>,
    pub reason: String,
}

/// A snapshot retention would drop but an unfinished restore job needs: kept (skipped by
/// this prune), and why.
#[derive(Debug, Clone, Serialize)]
pub struct Held {
    pub id: SnapshotId,
    /// The job that needs it, and for what.
    pub needed_by: InUse,
    /// Why retention would otherwise drop it.
    pub would_drop: String,
}

/// What a prune would do.
#[derive(Debug, Clone, Serialize)]
pub struct PrunePlan {
    pub scope: Scope,
    pub keep: Vec<SnapshotId>,
    pub drop: Vec<Dropped>,
    /// Among `keep`: the snapshots kept only because an unfinished restore job needs them.
    pub held: Vec<Held>,
    /// Blob keys no surviving manifest references, older than the grace period.
    pub blobs: Vec<String>,
    pub blob_bytes: u64,
}

impl fmt::Display for PrunePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Prune {}: keep {} snapshot(s), drop {}.",
            self.scope,
            self.keep.len(),
            self.drop.len()
        )?;
        for d in &self.drop {
            writeln!(
                f,
                "  - {} ({}, {}) — {}",
                d.id,
                d.status,
                d.created_at.format("%Y-%m-%d %H:%M"),
                d.reason
            )?;
        }
        for h in &self.held {
            let role = match h.needed_by.needed_as {
                NeededAs::Target => "its target",
                NeededAs::PreRollback => "its pre-rollback snapshot",
            };
            writeln!(
                f,
                "  skipped: {} — restore job {} has not finished and needs it ({role}); retention would drop it ({}). A prune after the job finishes drops it.",
                h.id, h.needed_by.job, h.would_drop
            )?;
        }
        write!(
            f,
            "Unreferenced blobs to collect: {} ({}).",
            self.blobs.len(),
            human_bytes(self.blob_bytes)
        )
    }
}

/// Whether `t` is within `d` of `now`. A span too long for a date covers everything, so it
/// keeps rather than drops.
fn age_ok(t: DateTime<Utc>, now: DateTime<Utc>, d: Duration) -> bool {
    chrono::Duration::from_std(d).map_or(true, |d| now.signed_duration_since(t) < d)
}

/// Decides what to drop for one scope, and which blobs would then be unreferenced across the
/// whole store (blobs are shared between scopes).
pub async fn plan(archive: &Archive, scope: &Scope, opts: &PruneOptions) -> Result<PrunePlan> {
    let now = Utc::now();
    let entries = archive.entries(Some(scope)).await?;
    // Snapshots an unfinished rollback needs: its target, and its undo point.
    let needed = archive.needed_by_jobs(scope).await?;
    let retention = &opts.retention;
    let mut keep = Vec::new();
    let mut drop = Vec::new();
    let mut held = Vec::new();
    let mut completed_seen = 0usize;
    // The newest completed snapshot, by start (the order a capture picks its parent in).
    let newest_completed = entries
        .iter()
        .filter(|e| e.status == SnapshotStatus::Completed)
        .max_by_key(|e| (e.created_at, e.id));
    for e in &entries {
        let reason = match e.status {
            // A live capture (its lease is live), or one written before captures held leases
            // that is still young enough to be running.
            // A snapshot job's entry (queued, or between two invocations) or one written before
            // captures held leases, still young enough to be running; or a live capture.
            SnapshotStatus::Pending | SnapshotStatus::InProgress
                if e.lease.is_none() && !age_ok(e.created_at, now, opts.stale_pending) =>
            {
                Some(
                    "a capture that never finished (older than a day, and without a live capture)"
                        .to_string(),
                )
            }
            SnapshotStatus::Pending | SnapshotStatus::InProgress => None,
            SnapshotStatus::Partial => superseded_checkpoint(e, newest_completed),
            SnapshotStatus::Failed if e.error.as_deref() == Some(ABANDONED) => {
                Some("an abandoned capture (its process stopped)".to_string())
            }
            SnapshotStatus::Failed => Some("failed capture".to_string()),
            SnapshotStatus::Deleting => Some("a deletion that did not finish".to_string()),
            SnapshotStatus::Completed => {
                completed_seen += 1;
                let expired = e.expires_at.is_some_and(|x| x <= now);
                let recent = retention
                    .keep_within
                    .is_some_and(|d| age_ok(e.created_at, now, d));
                if e.pinned {
                    None
                } else if expired {
                    Some("expired".to_string())
                } else if completed_seen <= retention.keep_last || recent {
                    None
                } else {
                    Some(match retention.keep_within {
                        Some(d) => format!(
                            "beyond the newest {} and older than {}",
                            retention.keep_last,
                            crate::units::human_duration(d)
                        ),
                        None => format!("beyond the newest {}", retention.keep_last),
                    })
                }
            }
        };
        let needed_by = needed.iter().find(|n| n.snapshot == e.id);
        match (reason, needed_by) {
            (Some(would_drop), Some(needed_by)) => {
                keep.push(e.id);
                held.push(Held {
                    id: e.id,
                    needed_by: needed_by.clone(),
                    would_drop,
                });
            }
            (Some(reason), None) => drop.push(Dropped {
                id: e.id,
                status: e.status,
                created_at: e.created_at,
                reason,
            }),
            (None, _) => keep.push(e.id),
        }
    }
    let dropped: HashSet<SnapshotId> = drop.iter().map(|d| d.id).collect();
    let (blobs, blob_bytes) = unreferenced_blobs(archive, &dropped, opts.grace).await?;
    Ok(PrunePlan {
        scope: scope.clone(),
        keep,
        drop,
        held,
        blobs,
        blob_bytes,
    })
}

/// Why a `partial` checkpoint is garbage, if it is: a capture continues from the newest
/// completed-or-partial snapshot of its scope, so a checkpoint older than a completed
/// snapshot is never continued again — its capture completed (or was overtaken by a full
/// one), and the completed manifest names every table it needs itself. A checkpoint newer
/// than every completed snapshot is a capture still in progress: the next run (the CLI
/// again, or the job's next invocation) continues from it, so it is kept, however old.
fn superseded_checkpoint(
    e: &crate::catalog::SnapshotEntry,
    newest_completed: Option<&crate::catalog::SnapshotEntry>,
) -> Option<String> {
    let done = newest_completed.filter(|c| (c.created_at, c.id) > (e.created_at, e.id))?;
    Some(format!(
        "a checkpoint of a capture that has completed since (snapshot {})",
        done.id
    ))
}

/// Blobs that no manifest in the store references once `dropped` are gone.
async fn unreferenced_blobs(
    archive: &Archive,
    dropped: &HashSet<SnapshotId>,
    grace: Duration,
) -> Result<(Vec<String>, u64)> {
    let mut referenced: HashSet<String> = HashSet::new();
    // Manifests are checked against their catalog entries' hashes like any read: a damaged
    // one must stop the collection, not misname what it references.
    let hashes: std::collections::HashMap<SnapshotId, crate::ObjectHash> = archive
        .catalog
        .list(None)
        .await?
        .into_iter()
        .filter_map(|e| e.manifest_hash.map(|h| (e.id, h)))
        .collect();
    for object in archive.store.list(crate::keys::MANIFESTS).await? {
        let dropped_here =
            crate::keys::manifest_snapshot(&object.key).is_some_and(|id| dropped.contains(&id));
        if dropped_here {
            continue;
        }
        // Every table of the chain stays: a child's delta may sit on a dropped parent's.
        let expected = crate::keys::manifest_snapshot(&object.key).and_then(|id| hashes.get(&id));
        let manifest = archive.read_manifest(&object.key, expected).await?;
        referenced.extend(manifest.tables.iter().map(|t| t.key()));
        referenced.extend(manifest.entries.iter().map(|e| e.blob.key()));
        referenced.extend(manifest.activity.iter().map(|a| a.blob.key()));
    }
    // A grace too long for a date protects every blob (never a shorter default).
    let cutoff = chrono::Duration::from_std(grace)
        .ok()
        .and_then(|g| Utc::now().checked_sub_signed(g))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut out = Vec::new();
    let mut bytes = 0;
    for object in archive.store.list(crate::keys::BLOBS).await? {
        let old = object.modified.is_none_or(|m| m < cutoff);
        if old && !referenced.contains(&object.key) {
            bytes += object.size;
            out.push(object.key);
        }
    }
    Ok((out, bytes))
}

/// Blob deletes between two proofs that the collect lease is still held.
const DELETES_PER_CONFIRM: usize = 500;

/// Carries out a plan while `lease` (the store's collect lease) is held: each dropped
/// snapshot is removed (row `deleting`, manifest, row), then the blobs, proving the lease
/// before each batch so a collector that stalled past its lease stops instead of deleting
/// under a capture that started meanwhile.
pub async fn apply(archive: &Archive, plan: &PrunePlan, lease: &StoreLease) -> Result<()> {
    for d in &plan.drop {
        if let Some(entry) = archive.catalog.get(&d.id).await? {
            archive.remove_snapshot(&entry).await?;
        }
    }
    for batch in plan.blobs.chunks(DELETES_PER_CONFIRM) {
        lease.confirm().await?;
        archive.store.delete_many(batch).await?;
    }
    Ok(())
}

/// What [`run`] did.
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    /// Whether the plan was carried out (otherwise it was a preview).
    pub executed: bool,
    pub plan: PrunePlan,
    /// What the store did after the deletes to reclaim their space, when it keeps history
    /// (the git store replaces its branch's history; see `ObjectStore::compact`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compacted: Option<String>,
}

/// Retention and collection for one scope, the one way every shell prunes: a preview (the
/// plan only, no lock, nothing written) unless `execute`; executing holds rollbacks of the
/// scope off (its lock, or the hold of the restore job that has it, whose snapshots are then
/// skipped: see [`Archive::needed_by_jobs`]) and the store's collect lease throughout, and
/// is refused (exit 3) while a capture runs anywhere in the store or anything else holds
/// the scope (a CLI rollback).
pub async fn run(
    archive: &Archive,
    scope: &Scope,
    opts: &PruneOptions,
    execute: bool,
    holder: &str,
) -> Result<PruneReport> {
    if !execute {
        let plan = plan(archive, scope, opts).await?;
        return Ok(PruneReport {
            executed: false,
            plan,
            compacted: None,
        });
    }
    let guard = archive
        .guard_deletion(scope, holder, Duration::from_secs(600))
        .await?;
    let result = collect(archive, scope, opts, &lease::holder(holder)).await;
    archive.release_guard(guard).await;
    result
}

async fn collect(
    archive: &Archive,
    scope: &Scope,
    opts: &PruneOptions,
    holder: &str,
) -> Result<PruneReport> {
    let lease = StoreLease::collect(Arc::clone(&archive.catalog), holder, opts.lease).await?;
    let result = async {
        let plan = plan(archive, scope, opts).await?;
        apply(archive, &plan, &lease).await?;
        let compacted = if plan.drop.is_empty() && plan.blobs.is_empty() {
            None
        } else {
            lease.confirm().await?;
            archive.store.compact(holder).await?
        };
        Ok(PruneReport {
            executed: true,
            plan,
            compacted,
        })
    }
    .await;
    if let Err(e) = lease.release().await {
        tracing::warn!(error = %e, "could not release the collect lease; it expires on its own");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spans too long for a date err on the side of keeping: nothing is too old for them.
    #[test]
    fn spans_beyond_the_calendar_keep_everything() {
        let now = Utc::now();
        let long_ago = DateTime::<Utc>::MIN_UTC;
        assert!(age_ok(long_ago, now, Duration::MAX));
        assert!(!age_ok(long_ago, now, Duration::from_secs(3600)));
        assert!(age_ok(now, now, Duration::from_secs(1)));
    }

    #[tokio::test]
    async fn a_grace_beyond_the_calendar_collects_no_blob() {
        use crate::catalog::MemoryCatalog;
        use crate::store::{MemoryStore, ObjectStore};
        let store = Arc::new(MemoryStore::new());
        let id = crate::BlobId::of(b"orphan");
        store
            .put(&id.key(), bytes::Bytes::from_static(b"orphan"))
            .await
            .unwrap();
        let archive = Archive::new(store, Arc::new(MemoryCatalog::new()));
        let none = HashSet::new();
        let (blobs, _) = unreferenced_blobs(&archive, &none, Duration::MAX)
            .await
            .unwrap();
        assert!(blobs.is_empty(), "{blobs:?}");
        let (blobs, _) = unreferenced_blobs(&archive, &none, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(blobs, [id.key()]);
    }

    #[test]
    fn a_retention_that_keeps_nothing_is_refused() {
        let err = Retention::new(0, None).unwrap_err();
        assert!(err.to_string().contains("--keep-last 1"), "{err}");
        assert!(Retention::new(0, Some(Duration::ZERO)).is_err());
        let r = Retention::new(0, Some(Duration::from_secs(60))).unwrap();
        assert_eq!(r.keep_within(), Some(Duration::from_secs(60)));
        assert_eq!(Retention::new(3, None).unwrap().keep_last(), 3);
    }

    /// A checkpoint older than a completed snapshot is dropped (its capture completed);
    /// the newest one, with no completed snapshot after it, is a capture in progress and
    /// is kept, like the completed ones retention keeps.
    #[tokio::test]
    async fn checkpoints_go_once_their_capture_completed_and_stay_while_it_runs() {
        use crate::catalog::{ByteStats, MemoryCatalog, SnapshotEntry};
        use crate::manifest::{Counts, Manifest, Trigger};
        use crate::store::MemoryStore;
        let archive = Archive::new(Arc::new(MemoryStore::new()), Arc::new(MemoryCatalog::new()));
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        let start = Utc::now() - chrono::Duration::hours(5);
        let mut ids = Vec::new();
        for (hour, status) in [
            (0, SnapshotStatus::Completed),
            (1, SnapshotStatus::Partial),
            (2, SnapshotStatus::Partial),
            (3, SnapshotStatus::Completed),
            (4, SnapshotStatus::Partial),
        ] {
            let id = SnapshotId::new();
            archive
                .catalog
                .create(&SnapshotEntry {
                    id,
                    scope: scope.clone(),
                    name: None,
                    trigger: Trigger::Manual,
                    status,
                    created_at: start + chrono::Duration::hours(hour),
                    finished_at: Some(start + chrono::Duration::hours(hour)),
                    counts: Counts::default(),
                    bytes: ByteStats::default(),
                    requests: 0,
                    manifest_key: Manifest::key_for(&scope, &id),
                    parent: None,
                    pinned: false,
                    expires_at: None,
                    error: None,
                    manifest_hash: None,
                    lease: None,
                })
                .await
                .unwrap();
            ids.push(id);
        }
        let plan = plan(&archive, &scope, &PruneOptions::default())
            .await
            .unwrap();
        let dropped: HashSet<SnapshotId> = plan.drop.iter().map(|d| d.id).collect();
        assert_eq!(dropped, HashSet::from([ids[1], ids[2]]), "{plan:?}");
        assert!(
            plan.drop
                .iter()
                .all(|d| d.reason.contains(&ids[3].to_string())),
            "{plan:?}"
        );
        for kept in [ids[0], ids[3], ids[4]] {
            assert!(plan.keep.contains(&kept), "{plan:?}");
        }
    }
}
