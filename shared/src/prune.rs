//! Retention and garbage collection: which snapshots to drop, then which blobs no manifest
//! references any more.
//!
//! Plan, then apply: [`plan`] decides everything and can be printed; [`apply`] deletes
//! catalog rows first (so no reader resolves a snapshot whose manifest is going), then
//! manifests, then unreferenced blobs. Blobs younger than the grace period are never
//! collected, because a capture in progress writes its blobs before its manifest exists.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalog::{JobStatus, SnapshotStatus};
use crate::error::Result;
use crate::id::SnapshotId;
use crate::scope::Scope;
use crate::snapshot::Archive;
use crate::units::human_bytes;
use crate::SnapshotEntry;

/// Retention rules. A snapshot is kept if any rule keeps it.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Keep the newest N completed snapshots.
    pub keep_last: usize,
    /// Keep completed snapshots younger than this.
    pub keep_within: Option<Duration>,
    /// Unreferenced blobs younger than this are left alone (captures in progress).
    pub grace: Duration,
    /// A `pending` snapshot older than this is a crashed capture and may be dropped.
    pub stale_pending: Duration,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            keep_last: 10,
            keep_within: None,
            grace: Duration::from_secs(3600),
            stale_pending: Duration::from_secs(24 * 3600),
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

/// What a prune would do.
#[derive(Debug, Clone, Serialize)]
pub struct PrunePlan {
    pub scope: Scope,
    pub keep: Vec<SnapshotId>,
    pub drop: Vec<Dropped>,
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
        write!(
            f,
            "Unreferenced blobs to collect: {} ({}).",
            self.blobs.len(),
            human_bytes(self.blob_bytes)
        )
    }
}

fn age_ok(t: DateTime<Utc>, now: DateTime<Utc>, d: Duration) -> bool {
    chrono::Duration::from_std(d).is_ok_and(|d| now - t < d)
}

/// Decides what to drop for one scope, and which blobs would then be unreferenced across the
/// whole store (blobs are shared between scopes).
pub async fn plan(archive: &Archive, scope: &Scope, opts: &PruneOptions) -> Result<PrunePlan> {
    let now = Utc::now();
    let entries = archive.catalog.list(Some(scope)).await?;
    // Snapshots an unfinished rollback may still need to undo itself.
    let protected: HashSet<SnapshotId> = archive
        .catalog
        .list_jobs(scope)
        .await?
        .into_iter()
        .filter(|j| !matches!(j.status, JobStatus::Completed | JobStatus::Failed))
        .flat_map(|j| [Some(j.target), j.pre_snapshot])
        .flatten()
        .collect();
    let mut keep = Vec::new();
    let mut drop = Vec::new();
    let mut completed_seen = 0usize;
    for e in &entries {
        let reason = match e.status {
            SnapshotStatus::Pending if !age_ok(e.created_at, now, opts.stale_pending) => {
                Some("a capture that never finished".to_string())
            }
            SnapshotStatus::Pending => None,
            SnapshotStatus::Failed => Some("failed capture".to_string()),
            SnapshotStatus::Completed => {
                completed_seen += 1;
                let expired = e.expires_at.is_some_and(|x| x <= now);
                let recent = opts
                    .keep_within
                    .is_some_and(|d| age_ok(e.created_at, now, d));
                if e.pinned || protected.contains(&e.id) {
                    None
                } else if expired {
                    Some("expired".to_string())
                } else if completed_seen <= opts.keep_last || recent {
                    None
                } else {
                    Some(format!("beyond the newest {}", opts.keep_last))
                }
            }
        };
        match reason {
            Some(reason) => drop.push(Dropped {
                id: e.id,
                status: e.status,
                created_at: e.created_at,
                reason,
            }),
            None => keep.push(e.id),
        }
    }
    let dropped: HashSet<SnapshotId> = drop.iter().map(|d| d.id).collect();
    let (blobs, blob_bytes) = unreferenced_blobs(archive, &dropped, opts.grace).await?;
    Ok(PrunePlan {
        scope: scope.clone(),
        keep,
        drop,
        blobs,
        blob_bytes,
    })
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
    }
    let cutoff =
        Utc::now() - chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::hours(1));
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

/// Carries out a plan: catalog rows, then manifests, then blobs.
pub async fn apply(archive: &Archive, plan: &PrunePlan) -> Result<()> {
    for d in &plan.drop {
        if let Some(entry) = archive.catalog.get(&d.id).await? {
            remove(archive, &entry).await?;
        }
    }
    for key in &plan.blobs {
        archive.store.delete(key).await?;
    }
    Ok(())
}

async fn remove(archive: &Archive, entry: &SnapshotEntry) -> Result<()> {
    archive.catalog.delete(&entry.id).await?;
    archive.store.delete(&entry.manifest_key).await?;
    Ok(())
}
