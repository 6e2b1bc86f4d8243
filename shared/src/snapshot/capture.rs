//! Taking snapshots: records stream from the tracker into content-addressed blobs, then the
//! manifest is written, then the catalog entry completes.
//!
//! The write order keeps readers safe: the catalog row starts `pending`; every blob is
//! written (and made durable), then the manifest, and only then does the row become
//! `completed`. Readers only ever use completed entries, so a crash at any point leaves at
//! worst a `pending`/`failed` row and unreferenced blobs (which GC removes), never a half
//! snapshot. Incremental captures fetch what changed since the parent's cursor and merge it
//! into the parent's entries.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::archive::{encode_table_streamed, TableWrite, READS_IN_FLIGHT};
use super::reuse::{CaptureChecks, Ensured, Inventory, ParentCheck, Reuse};
use super::Archive;
use crate::blob::{self, Dictionary, RecordEncoder};
use crate::catalog::{ByteStats, Finish, SnapshotEntry, SnapshotStatus};
use crate::error::{Error, Result};
use crate::id::{BlobId, ObjectHash, SnapshotId};
use crate::lease::{self, LeaseOptions, StoreLease};
use crate::manifest::{
    in_key_order, key_order, Counts, DeltaWalk, Manifest, ManifestEntry, Trigger, MANIFEST_FORMAT,
};
use crate::record::{Record, RecordKey, RecordKind, RecordSet};
use crate::scope::Scope;
use crate::tracker::{Coverage, Embedding, FetchOptions, Known, Progress, Refresh, Tracker};
use crate::units::human_bytes;

use super::reference::SnapshotName;

mod entries;
mod training;

pub use entries::SpillError;
use entries::{Entries, Taken};
use training::Training;

/// Blob writes in flight at once: enough to hide S3 latency, small enough to bound memory.
const WRITES_IN_FLIGHT: usize = 32;

/// Deferred blob writes made durable together at most this many at a time: a store keeps a
/// note of each staged blob until its flush (the folder store: its name, ~150 bytes), which
/// for a capture of 600,000 records would otherwise be ~90 MB held to the end. An early
/// flush only makes blobs durable sooner; the manifest still waits for the last one.
const STAGED_BEFORE_FLUSH: u64 = 50_000;

/// Inputs of [`Archive::create_snapshot`].
#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    pub name: Option<SnapshotName>,
    /// Give the name even when a snapshot of the scope already has it (`--force`; automation
    /// whose names repeat). A reused name then resolves to the newest snapshot.
    pub reuse_name: bool,
    pub trigger: Trigger,
    /// The lock token the caller holds on the scope, if any (a rollback taking its
    /// pre-rollback snapshot); a snapshot refuses to run while someone *else* holds it.
    pub lock_token: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// List everything even though a parent exists (`--full`).
    pub full: bool,
    /// At most this many incremental snapshots in a row; the next one lists everything,
    /// re-checking every id (0: never forced).
    pub reconcile_every: u32,
    /// How far before the parent's cursor an incremental capture starts listing.
    pub overlap: chrono::Duration,
    pub progress: Arc<dyn Progress>,
    /// The capture's store lease (it keeps garbage collection out while it runs).
    pub lease: LeaseOptions,
    /// Limits (`--max-requests`, `--max-duration`): when one runs out the snapshot ends
    /// `partial`, and the next capture of the scope continues from its checkpoint.
    pub budget: crate::tracker::Budget,
    /// The entry a snapshot job reserved (`pending`, or `in_progress` from the job's earlier
    /// invocations): this capture takes it `in_progress` and completes it. When the budget
    /// runs out first, what was read is stored as a new `partial` checkpoint entry (the
    /// next capture continues from it) and the reserved entry stays `in_progress`, without
    /// a lease, for the job's next invocation. Its name is the reservation's.
    pub reserved: Option<SnapshotId>,
}

/// Incremental captures in a row before a full one, by default: a backstop behind the
/// per-capture deletion check, at about a month of daily snapshots.
pub const DEFAULT_RECONCILE_EVERY: u32 = 30;

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions {
            name: None,
            reuse_name: false,
            trigger: Trigger::Manual,
            lock_token: None,
            expires_at: None,
            full: false,
            reconcile_every: DEFAULT_RECONCILE_EVERY,
            overlap: chrono::Duration::seconds(60),
            progress: Arc::new(crate::tracker::NoProgress),
            lease: LeaseOptions::default(),
            budget: crate::tracker::Budget::default(),
            reserved: None,
        }
    }
}

/// How a snapshot was captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMode {
    /// Everything listed.
    Full,
    /// Changes since the parent, merged into the parent's records.
    Incremental,
}

/// What a snapshot produced: the `--json` output of `snapshot create`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotReport {
    pub id: SnapshotId,
    pub scope: Scope,
    pub name: Option<String>,
    pub trigger: Trigger,
    pub status: SnapshotStatus,
    pub created_at: DateTime<Utc>,
    pub counts: Counts,
    pub bytes: ByteStats,
    /// API requests the capture made.
    pub requests: u64,
    /// Of those, answered `304 Not Modified` (free against GitHub's rate limit).
    pub not_modified: u64,
    /// GraphQL points spent (GitHub's GraphQL budget, apart from REST requests).
    pub points: u64,
    pub parent: Option<SnapshotId>,
    pub mode: CaptureMode,
    /// Records of the parent found deleted (incremental captures; a full capture simply
    /// does not have them).
    pub deleted: u64,
    pub blobs_written: u64,
    /// Set when the capture could not build on its parent and listed everything instead:
    /// which parent, and why (it is damaged, or predates manifest hashes).
    pub fallback: Option<Fallback>,
    /// How the objects this snapshot reuses were checked (see [`CaptureChecks`]).
    pub checks: CaptureChecks,
    /// Set when an incremental capture refreshed the parent's copies of definitions its
    /// records embed (labels, milestones): some changed since the parent, or the parent
    /// predates recorded embeds.
    pub refreshed: Option<Refreshed>,
    pub duration_ms: u64,
    /// A partial checkpoint of a snapshot job's reserved entry: that entry's id (it stays
    /// `in_progress` until a later invocation completes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_of: Option<SnapshotId>,
    /// A partial capture the rate limit cut short: its reset, when the next run can go on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_at: Option<DateTime<Utc>>,
}

/// A capture that could not build on its parent snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fallback {
    pub parent: SnapshotId,
    pub reason: String,
}

impl fmt::Display for SnapshotReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Snapshot {} of {} {}", self.id, self.scope, self.status)?;
        if let Some(name) = &self.name {
            writeln!(f, "  name:     {name}")?;
        }
        let mode = match (self.mode, &self.fallback) {
            (CaptureMode::Full, Some(_)) => "full, not built on the parent (see below)".to_string(),
            (CaptureMode::Full, None) => "full".to_string(),
            (CaptureMode::Incremental, _) => {
                format!("incremental, {} deleted since the parent", self.deleted)
            }
        };
        writeln!(f, "  capture:  {mode}")?;
        if self.status == SnapshotStatus::Partial {
            match self.resume_at {
                Some(at) => writeln!(
                    f,
                    "  ⏸ the rate limit ran out: this snapshot is partial; run `snapshot create {}` again after {} to continue from where it stopped",
                    self.scope,
                    at.format("%Y-%m-%d %H:%M:%S UTC")
                )?,
                None => writeln!(
                    f,
                    "  ⏸ the budget ran out: this snapshot is partial; run `snapshot create {}` again to continue from where it stopped",
                    self.scope
                )?,
            }
        }
        if let Some(fallback) = &self.fallback {
            writeln!(f, "  ⚠ {}; listed everything instead", fallback.reason)?;
        }
        if let Some(r) = &self.refreshed {
            write!(
                f,
                "  refreshed: {} record(s) re-derived from the store after {} change(s) to definitions they embed ({} blob(s) read, no tracker request)",
                r.records, r.definitions, r.read
            )?;
            if r.unindexed > 0 {
                write!(
                    f,
                    "; {} record(s) checked once against every current definition, as the parent predates recorded embeds",
                    r.unindexed
                )?;
            }
            writeln!(f)?;
        }
        if self.checks.repaired > 0 {
            writeln!(
                f,
                "  repaired: {} damaged or missing blob(s) rewritten from this capture",
                self.checks.repaired
            )?;
        }
        writeln!(
            f,
            "  items:    {}",
            self.counts.describe(self.scope.tracker())
        )?;
        writeln!(
            f,
            "  size:     {} logical, {} new in the store ({} new blobs)",
            human_bytes(self.bytes.logical),
            human_bytes(self.bytes.stored_new),
            self.blobs_written
        )?;
        write!(
            f,
            "  requests: {} in {:.1}s",
            self.requests,
            self.duration_ms as f64 / 1000.0
        )
    }
}

impl Archive {
    /// Takes a snapshot of `tracker`'s scope (incremental on the newest completed one unless
    /// `opts` says otherwise), holding a capture lease on the store throughout so garbage
    /// collection cannot delete a blob it re-uses (see [`crate::lease`]).
    pub async fn create_snapshot(
        &self,
        tracker: Arc<dyn Tracker>,
        opts: &SnapshotOptions,
    ) -> Result<SnapshotReport> {
        let scope = tracker.scope().clone();
        // A bad run size is refused before anything is reserved or read.
        entries::run_entries()?;
        // A reserved entry holds its name already (checked when the job was queued).
        if let (Some(name), false, None) = (&opts.name, opts.reuse_name, opts.reserved) {
            self.check_name_free(&scope, name).await?;
        }
        if let Some(lock) = self.catalog.current_lock(&scope).await? {
            let ours = opts.lock_token.as_deref() == Some(lock.token.as_str());
            if !ours && lock.expires_at > Utc::now() {
                return Err(crate::catalog::CatalogError::Locked(Box::new(lock)).into());
            }
        }
        // Before anything is read: the parent's blobs, tables and dictionary are relied on
        // too, and only the lease keeps a collection from dropping them meanwhile.
        let lease = StoreLease::capture(
            self.catalog.clone(),
            &lease::holder(&format!("snapshot of {scope}")),
            opts.lease,
        )
        .await?;
        let result = self.create_leased(tracker, opts, &lease).await;
        if let Err(e) = lease.release().await {
            // It expires on its own within one TTL.
            tracing::warn!(error = %e, "could not release the capture's store lease");
        }
        result
    }

    async fn create_leased(
        &self,
        tracker: Arc<dyn Tracker>,
        opts: &SnapshotOptions,
        lease: &StoreLease,
    ) -> Result<SnapshotReport> {
        let typed = tracker.scope().clone();
        self.fail_abandoned(&typed).await?;
        let started = Instant::now();
        let requests_before = tracker.requests();
        let history = self.catalog.list(Some(&typed)).await?;
        // One repository, one history: its entries keep the form it was first captured as,
        // whatever case this command typed it in.
        let scope = history
            .last()
            .map(|first| first.scope.clone())
            .unwrap_or(typed);
        // A snapshot job's reserved entry: queued, between two invocations, or left by an
        // invocation that was killed (reported abandoned; recorded failed just above).
        let reserved = match opts.reserved {
            None => None,
            Some(id) => Some(reserved_entry(&history, &id)?),
        };
        // The newest completed snapshot, or a newer partial one this capture continues. By
        // start time, not id: a job's reserved entry is older than the checkpoints its
        // earlier invocations wrote, and starts again with each invocation.
        let parent = history
            .into_iter()
            .filter(|e| {
                matches!(
                    e.status,
                    SnapshotStatus::Completed | SnapshotStatus::Partial
                )
            })
            .max_by_key(|e| (e.created_at, e.id));
        let resuming = parent
            .as_ref()
            .is_some_and(|p| p.status == SnapshotStatus::Partial);
        // The parent's manifest, tables and dictionary are checked now; its blobs against the
        // store's listing once the capture is under way (see `settle_base`).
        let checked = match &parent {
            Some(p) => self.check_parent(p).await?,
            None => ParentCheck::default(),
        };
        let incremental = checked.manifest.as_ref().is_some_and(|m| {
            if opts.full || checked.damage.is_some() || checked.unverified {
                return false;
            }
            if !resuming
                && opts.reconcile_every > 0
                && m.cursor.since_reconcile >= opts.reconcile_every
            {
                tracing::info!(
                    incremental = m.cursor.since_reconcile,
                    "reconciliation due: listing everything"
                );
                return false;
            }
            // Manifests written before comment entries named their issue cannot say which
            // comments an issue should have, so deletions would go unnoticed.
            let complete = m
                .entries
                .iter()
                .all(|e| !e.kind.is_comment() || e.issue.is_some());
            if !complete {
                tracing::info!(
                    "the parent snapshot predates incremental capture; listing everything"
                );
            }
            complete
        });
        // The probe doubles as the up-front check (credentials, repository) and reads the
        // live totals that deletion detection compares against. Both run before the catalog
        // entry exists, so a capture that cannot start leaves nothing behind.
        let totals = if incremental {
            tracker.probe().await?
        } else {
            tracker.check().await?;
            None
        };

        let id = reserved.as_ref().map_or_else(SnapshotId::new, |r| r.id);
        let created_at = Utc::now();
        let name = match &reserved {
            Some(r) => r.name.clone(),
            None => opts.name.clone().map(String::from),
        };
        let entry = SnapshotEntry {
            id,
            scope: scope.clone(),
            name: name.clone(),
            trigger: opts.trigger,
            status: SnapshotStatus::InProgress,
            created_at,
            finished_at: None,
            counts: Counts::default(),
            bytes: ByteStats::default(),
            requests: 0,
            manifest_key: Manifest::key_for(&scope, &id),
            parent: parent.as_ref().map(|p| p.id),
            pinned: false,
            expires_at: opts.expires_at,
            error: None,
            manifest_hash: None,
            lease: Some(lease.token().to_string()),
        };
        // Where a job's capture that runs out of budget stores what it read.
        let checkpoint = reserved.as_ref().map(|_| {
            let id = SnapshotId::new();
            SnapshotEntry {
                id,
                name: None,
                manifest_key: Manifest::key_for(&scope, &id),
                lease: None,
                ..entry.clone()
            }
        });
        match &reserved {
            Some(_) => self.catalog.restart(&entry, RESTARTABLE).await?,
            None => self.catalog.create(&entry).await?,
        }

        let captured = async {
            let (inputs, fallback) = self
                .settle_base(&parent, checked, incremental, totals, opts)
                .await?;
            let mode = if inputs.base.is_some() {
                CaptureMode::Incremental
            } else {
                CaptureMode::Full
            };
            let captured = self
                .capture(tracker.clone(), &entry, checkpoint.as_ref(), inputs, opts)
                .await?;
            Ok::<_, Error>((captured, mode, fallback))
        };
        // Completing says every object the manifest names is there: true only if no
        // collection can have run since the capture began, which the lease proves now.
        let captured = match captured.await {
            Ok(c) => lease.confirm().await.map(|()| c),
            Err(e) => Err(e),
        };
        match captured {
            Ok((
                Captured {
                    counts,
                    manifest_hash,
                    stats,
                    blobs_written,
                    not_modified,
                    points,
                    partial,
                    resume_at,
                    deleted,
                    checks,
                    refreshed,
                },
                mode,
                fallback,
            )) => {
                let status = if partial {
                    SnapshotStatus::Partial
                } else {
                    SnapshotStatus::Completed
                };
                let finish = Finish {
                    status,
                    finished_at: Utc::now(),
                    counts,
                    bytes: stats,
                    requests: tracker.requests() - requests_before,
                    error: None,
                    manifest_hash: Some(manifest_hash),
                };
                let (id, name, checkpoint_of) = match &checkpoint {
                    Some(cp) if partial => {
                        // The checkpoint's row after its manifest; then the reserved entry
                        // waits, without a lease, for the job's next invocation.
                        let mut row = cp.clone();
                        row.apply_finish(&finish);
                        self.catalog.create(&row).await?;
                        let waiting = SnapshotEntry {
                            lease: None,
                            ..entry.clone()
                        };
                        self.catalog
                            .restart(&waiting, &[SnapshotStatus::InProgress])
                            .await?;
                        (cp.id, None, Some(id))
                    }
                    _ => {
                        self.catalog.finish(&id, &finish).await?;
                        (id, name, None)
                    }
                };
                Ok(SnapshotReport {
                    id,
                    scope,
                    name,
                    trigger: opts.trigger,
                    status,
                    created_at,
                    counts,
                    bytes: stats,
                    requests: finish.requests,
                    not_modified,
                    points,
                    parent: entry.parent,
                    mode,
                    deleted,
                    blobs_written,
                    fallback,
                    checks,
                    refreshed,
                    duration_ms: started.elapsed().as_millis() as u64,
                    checkpoint_of,
                    resume_at,
                })
            }
            // A job's reserved entry stays open for the job's retry (the next delivery of
            // its message) when the failure is passing: the job is not over.
            Err(e) if e.is_retryable() && reserved.is_some() => {
                let waiting = SnapshotEntry {
                    lease: None,
                    ..entry.clone()
                };
                if let Err(mark) = self
                    .catalog
                    .restart(&waiting, &[SnapshotStatus::InProgress])
                    .await
                {
                    tracing::warn!(snapshot = %id, error = %mark, "could not release the reserved snapshot for the job's retry; it reads as abandoned until then");
                }
                Err(e)
            }
            Err(e) => {
                let finish = Finish {
                    status: SnapshotStatus::Failed,
                    finished_at: Utc::now(),
                    counts: Counts::default(),
                    bytes: ByteStats::default(),
                    requests: tracker.requests() - requests_before,
                    error: Some(e.to_string()),
                    manifest_hash: None,
                };
                if let Err(mark) = self.catalog.finish(&id, &finish).await {
                    tracing::warn!(snapshot = %id, error = %mark, "could not mark the snapshot failed");
                }
                Err(e)
            }
        }
    }

    /// Lists the store and checks the parent's blobs against the listing, then settles what
    /// the capture builds on: its parent (incremental) only when nothing the parent needs is
    /// damaged; otherwise everything is listed and the report says why.
    async fn settle_base(
        &self,
        parent: &Option<SnapshotEntry>,
        mut checked: ParentCheck,
        incremental: bool,
        totals: Option<crate::tracker::Totals>,
        opts: &SnapshotOptions,
    ) -> Result<(Inputs, Option<Fallback>)> {
        // Taken before anything relies on it: what the store holds, for judging the parent's
        // blobs and every blob this capture would reuse (see `reuse`).
        let inventory = Arc::new(Inventory::take(&self.store).await?);
        self.check_parent_blobs(&mut checked, &inventory);
        let fallback = match (parent, &checked) {
            (
                Some(p),
                ParentCheck {
                    damage: Some(why), ..
                },
            ) => Some(Fallback {
                parent: p.id,
                reason: format!("the parent snapshot {} is damaged: {why}", p.id),
            }),
            (
                Some(p),
                ParentCheck {
                    unverified: true, ..
                },
            ) if !opts.full => Some(Fallback {
                parent: p.id,
                reason: format!(
                    "the parent snapshot {} was written before manifests were hashed, so its manifest (and the cursor in it) cannot be checked",
                    p.id
                ),
            }),
            _ => None,
        };
        if let Some(f) = &fallback {
            // The report says so too (text and JSON); this is for logs of unattended runs.
            tracing::info!(parent = %f.parent, "{}; taking a full snapshot", f.reason);
        }
        let ParentCheck {
            manifest: parent_manifest,
            dict,
            deep,
            ..
        } = checked;
        let base = match (&parent_manifest, incremental && fallback.is_none()) {
            (Some(m), true) => Some(Base {
                manifest: m.clone(),
                totals,
            }),
            _ => None,
        };
        // The parent's blobs and the sizes its manifest records: an incremental capture
        // reuses them untouched (the parent check found each listed at that size), and any
        // capture expects a blob it would write to be stored at that size if it exists —
        // unless the scope's dictionary is damaged, when right-sized blobs prove nothing.
        let parent_blobs = Arc::new(ParentBlobs::new(parent_manifest.clone(), !deep)?);
        let inputs = Inputs {
            parent_blobs,
            base,
            parent: parent_manifest,
            dict,
            inventory,
            deep,
        };
        Ok((inputs, fallback))
    }

    /// Streams records from the tracker into blobs, then writes the manifest.
    async fn capture(
        &self,
        tracker: Arc<dyn Tracker>,
        entry: &SnapshotEntry,
        checkpoint: Option<&SnapshotEntry>,
        inputs: Inputs,
        opts: &SnapshotOptions,
    ) -> Result<Captured> {
        let Inputs {
            parent_blobs,
            base,
            parent,
            dict,
            inventory,
            deep,
        } = inputs;
        // Kept beside the fetcher, which consumes its own handle.
        let reader = tracker.clone();
        let embedding = reader.embedding();
        let (tx, mut rx) = mpsc::channel::<Record>(256);
        // Who changed what since the parent: one listing of its own, kept beside the records.
        // Read first: it names the issues whose links changed (which a `since` listing does
        // not return), and a change made after it falls in the next snapshot's window.
        let activity = self
            .capture_activity(reader.as_ref(), parent.as_deref())
            .await?;
        // A failed listing (a gap) names no link changes: the fetch is told it does not know
        // them, rather than that there were none.
        let relinked = activity
            .as_ref()
            .filter(|(_, log)| log.failed.is_none())
            .map(|(_, log)| Arc::new(log.relinked()));
        let activity = activity.map(|(stored, _)| stored);
        let fetch_opts = FetchOptions {
            since: base.as_ref().map(|b| b.manifest.cursor.clone()),
            known: base.as_ref().map(|b| Arc::new(known_ids(&b.manifest))),
            totals: base.as_ref().and_then(|b| b.totals),
            overlap: opts.overlap,
            progress: opts.progress.clone(),
            budget: opts.budget,
            relinked,
        };
        let run_entries = entries::run_entries()?;
        let fetcher = tokio::spawn(async move { tracker.fetch(&fetch_opts, tx).await });

        let mut intake = Intake {
            archive: self,
            embedding,
            // An incremental capture keeps every blob of its parent as it is.
            inherited: base.as_ref().map(|_| &*parent_blobs),
            entries: Entries::new(base.is_some(), run_entries),
            writer: BlobWriter::new(self.clone(), inventory.clone(), deep, parent_blobs.clone()),
            encoder: RecordEncoder::new(dict.as_deref())?,
            // Without a dictionary yet, the first records wait here to train one on.
            training: dict.is_none().then(Training::default),
            definitions: (base.is_some() && embedding.is_some()).then(HashMap::new),
        };
        let consumed: Result<()> = async {
            while let Some(record) = rx.recv().await {
                intake.accept(record).await?;
            }
            Ok(())
        }
        .await;
        // Drop the receiver first so a failed consumer stops the fetcher promptly.
        drop(rx);
        let fetched = joined(fetcher.await)?;
        consumed?;
        let report = fetched?;
        let refreshed = match (&base, embedding) {
            (Some(base), Some(embedding)) => {
                self.refresh_embedded(&mut intake, &base.manifest, embedding, &report)
                    .await?
            }
            _ => None,
        };
        intake.finish_training().await?;
        let Intake {
            entries,
            writer,
            encoder,
            ..
        } = intake;
        let Written {
            mut stats,
            written: blobs_written,
            read_back,
            mut checks,
        } = writer.finish().await?;
        checks.listed = inventory.len() as u64;
        // Every entry records its blob's stored size, now known to be right: what this
        // capture wrote or checked, else what the parent recorded (inherited blobs, which
        // the parent check found listed at that size).
        let stored_of = |blob: &BlobId, held: Option<u64>| {
            read_back
                .get(blob)
                .copied()
                .or(held)
                .or_else(|| parent_blobs.stored(blob))
        };

        let mut cursor = report.cursor.clone();
        let deleted = report.deleted.len() as u64;
        if base.is_some() {
            cursor.since_reconcile = base
                .as_ref()
                .map_or(0, |b| b.manifest.cursor.since_reconcile.saturating_add(1));
        }
        let dict_id = encoder.dictionary();
        let dict_hash = match dict_id {
            Some(id) => Some(self.dictionary(id).await?.hash()),
            None => None,
        };
        // A job's capture cut short is stored as its checkpoint, not as the reserved entry.
        let entry = match checkpoint {
            Some(cp) if report.partial => cp,
            _ => entry,
        };
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            id: entry.id,
            scope: entry.scope.clone(),
            name: entry.name.clone(),
            trigger: entry.trigger,
            created_at: entry.created_at,
            parent: entry.parent,
            cursor,
            dict: dict_id,
            dict_hash,
            activity,
            entries: Vec::new(),
            tables: Vec::new(),
            table_hashes: Vec::new(),
        };
        let (sealed, table, counts) = match (&base, parent.as_deref()) {
            // A first snapshot's table is written whole: encoded entry by entry, in order,
            // without a second copy of every entry.
            (None, None) => {
                let mut counts = Counts::default();
                let mut logical = 0u64;
                let stream = entries.into_sorted()?.map(|e| {
                    let mut e = e?;
                    e.stored = stored_of(&e.blob, e.stored);
                    counts.add(e.kind);
                    logical += e.size;
                    Ok(e)
                });
                let (sealed, table) = self.write_manifest_streamed(&manifest, stream).await?;
                stats.logical = logical;
                (sealed, table, counts)
            }
            // Incremental: the parent's entries merged with this capture's, side by side in
            // key order, and stored as a delta on the parent's table where that is smaller.
            // The merged entries are never held: one walk finds the delta (and the counts),
            // a second writes them whole when the delta is not worth it.
            (Some(base), _) => {
                let fetched: Vec<ManifestEntry> =
                    entries.into_sorted()?.collect::<Result<_, _>>()?;
                // Applied after the overlay: a deletion is confirmed after the listing that
                // may still have shown the record.
                let gone: HashSet<(RecordKind, &str)> = report
                    .deleted
                    .iter()
                    .map(|k| (k.kind, k.id.as_str()))
                    .collect();
                let merged = || {
                    merge(&base.manifest.entries, &fetched, &report, &gone)
                        .map(|e| with_stored(e, stored_of(&e.blob, e.stored)))
                };
                let mut counts = Counts::default();
                let mut walk = DeltaWalk::new(&base.manifest);
                let (mut count, mut logical) = (0usize, 0u64);
                for e in merged() {
                    counts.add(e.kind);
                    logical += e.size;
                    count += 1;
                    if let Some(walk) = &mut walk {
                        walk.push(&e, None);
                    }
                }
                stats.logical = logical;
                let (sealed, table) = match walk.and_then(|w| w.finish(count)) {
                    Some(delta) => self.write_delta(&manifest, delta, count as u64).await?,
                    None => {
                        self.write_manifest_streamed(&manifest, merged().map(Ok))
                            .await?
                    }
                };
                (sealed, table, counts)
            }
            // Everything listed again, on a parent: stored as a delta on its table where that
            // is smaller.
            // The entries are never held: one walk (in key order already) finds the delta
            // and compresses the whole table beside it, and whichever is smaller is stored
            // (600,000 entries held took 140 MB, the compressed table takes ~25 MB).
            (None, parent) => {
                let sorted = entries.into_sorted()?;
                // The delta is not worth it past a quarter of the entries: past that, the
                // walk keeps no more of them.
                let limit = sorted.size_hint().1.unwrap_or(0) / 4;
                let mut walk = parent.and_then(DeltaWalk::new);
                let mut counts = Counts::default();
                let mut logical = 0u64;
                let stream = sorted.map(|e| {
                    let mut e = e?;
                    e.stored = stored_of(&e.blob, e.stored);
                    counts.add(e.kind);
                    logical += e.size;
                    if walk.as_mut().is_some_and(|w| !w.push(&e, Some(limit))) {
                        walk = None;
                    }
                    Ok(e)
                });
                let (whole, count) = encode_table_streamed(stream)?;
                stats.logical = logical;
                let (sealed, table) = match walk.and_then(|w| w.finish(count as usize)) {
                    Some(delta) => self.write_delta(&manifest, delta, count).await?,
                    None => self.write_table_and_header(&manifest, whole, count).await?,
                };
                (sealed, table, counts)
            }
        };
        stats.stored_new += sealed.stored_new;
        // An entry table already stored is trusted only once read back (one per capture).
        match table {
            TableWrite::Written(_) => {}
            TableWrite::Reused => checks.read_back += 1,
            TableWrite::Repaired(_) => {
                checks.read_back += 1;
                checks.repaired += 1;
            }
        }
        Ok(Captured {
            counts,
            manifest_hash: sealed.hash,
            stats,
            blobs_written,
            not_modified: report.not_modified,
            points: report.points,
            partial: report.partial,
            resume_at: report.resume_at,
            deleted,
            checks,
            refreshed,
        })
    }

    /// Refreshes the copies of definitions (labels, milestones) that the parent's records
    /// embed, where the definitions changed since the parent but the records carrying them
    /// were not listed again (editing a definition does not update them; see [`Embedding`]).
    ///
    /// Changed definitions are those whose record differs from the parent's in what the
    /// copies show (the parent's copy is read to tell), and those gone. The records carrying
    /// one are found from the manifest alone ([`ManifestEntry::embeds`]); each is read from
    /// the store and re-derived by the tracker's own conversion, then taken in like a
    /// listed record (so through the same blob writer). No tracker request is made.
    ///
    /// Entries written before embeds were recorded say nothing of what they carry, and
    /// builds from before this refresh may have left them holding copies older than the
    /// parent's own definitions (which no comparison with the parent would reveal). So when
    /// the parent has such entries, each is read once and re-derived against every current
    /// definition it carries: stale copies are healed, and its new entry records its embeds,
    /// so the next capture reads only what a change reaches.
    async fn refresh_embedded(
        &self,
        intake: &mut Intake<'_>,
        parent: &Manifest,
        embedding: &dyn Embedding,
        report: &crate::tracker::FetchReport,
    ) -> Result<Option<Refreshed>> {
        let gone: HashSet<&RecordKey> = report.deleted.iter().collect();
        let mut current = intake.definitions.take().unwrap_or_default();
        let mut refresh = Refresh::new();
        let mut edited: Vec<(RecordKey, BlobId)> = Vec::new();
        // The parent's definitions that were not listed again and stand (a 304, or a kind
        // listed by changes): read only to check entries that predate recorded embeds.
        let mut standing: Vec<(RecordKey, BlobId)> = Vec::new();
        for e in parent
            .entries
            .iter()
            .filter(|e| embedding.definitions().contains(&e.kind))
        {
            let key = e.key();
            match intake.entries.get(&key) {
                Some(now) if *now.blob() != e.blob && current.contains_key(&key) => {
                    edited.push((key, e.blob.clone()));
                }
                Some(_) => {}
                None if report.coverage(e.kind) == Coverage::Complete || gone.contains(&key) => {
                    refresh.insert(key, None);
                }
                None => standing.push((key, e.blob.clone())),
            }
        }
        let mut read = edited.len() as u64;
        let olds: Vec<(RecordKey, Record)> = self.read_records(edited).await?;
        for (key, old) in olds {
            if let Some(new) = current.get(&key) {
                if embedding.copy_changed(&old, new) {
                    refresh.insert(key, Some(new.clone()));
                }
            }
        }

        // The parent's carriers this capture did not list again (listed whole, every carrier
        // still there was), and of those the ones a change reaches, or that cannot say.
        let carriers: Vec<(BlobId, bool)> = parent
            .entries
            .iter()
            .filter(|e| {
                embedding.carriers().contains(&e.kind)
                    && report.coverage(e.kind) != Coverage::Complete
                    && !intake.entries.contains_key(&e.key())
                    && !gone.contains(&e.key())
                    && e.embeds
                        .as_ref()
                        .is_none_or(|keys| keys.iter().any(|k| refresh.contains_key(k)))
            })
            .map(|e| (e.blob.clone(), e.embeds.is_none()))
            .collect();
        let unindexed = carriers.iter().filter(|(_, unindexed)| *unindexed).count() as u64;
        if refresh.is_empty() && unindexed == 0 {
            return Ok(None);
        }
        // Checking a carrier that cannot say what it embeds takes every current definition:
        // those listed, and those that stand as the parent has them.
        if unindexed > 0 {
            read += standing.len() as u64;
            current.extend(self.read_records(standing).await?);
        }
        read += carriers.len() as u64;

        let mut records = 0u64;
        let mut stored = stream::iter(carriers)
            .map(|(blob, unindexed)| {
                let archive = self.clone();
                async move {
                    let (record, _): (Record, u64) = archive.read_blob(&blob).await?;
                    Ok::<_, Error>((blob, unindexed, record))
                }
            })
            .buffered(READS_IN_FLIGHT);
        while let Some(next) = stored.next().await {
            let (was, unindexed, record) = next?;
            let record = if unindexed {
                // Without what it carries (no raw JSON to tell), it is kept as it was.
                let Some(keys) = embedding.embeds(&record) else {
                    continue;
                };
                // Every copy it holds, set to the current definition; one that no longer
                // exists is dropped.
                let own: Refresh = keys
                    .into_iter()
                    .map(|k| {
                        let definition = current.get(&k).cloned();
                        (k, definition)
                    })
                    .collect();
                embedding.rederive(record, &own)?
            } else {
                embedding.rederive(record, &refresh)?
            };
            if intake.accept(record).await? != was {
                records += 1;
            }
        }
        let refreshed = Refreshed {
            definitions: refresh.len() as u64,
            records,
            read,
            unindexed,
        };
        tracing::info!(
            definitions = refreshed.definitions,
            records,
            read,
            unindexed,
            "refreshed the parent's copies of changed definitions"
        );
        Ok(Some(refreshed))
    }

    /// Reads the parent's records at these blobs, concurrently.
    async fn read_records(
        &self,
        wanted: Vec<(RecordKey, BlobId)>,
    ) -> Result<Vec<(RecordKey, Record)>> {
        stream::iter(wanted)
            .map(|(key, blob)| {
                let archive = self.clone();
                async move {
                    let (record, _): (Record, u64) = archive.read_blob(&blob).await?;
                    Ok::<_, Error>((key, record))
                }
            })
            .buffer_unordered(READS_IN_FLIGHT)
            .try_collect()
            .await
    }
}

/// Takes records in, from the tracker's stream or re-derived from the parent: one manifest
/// entry each (the newest version of a record wins), and one blob write for each blob this
/// capture does not inherit.
struct Intake<'a> {
    archive: &'a Archive,
    embedding: Option<&'a dyn Embedding>,
    /// The parent's blobs (incremental captures), kept as they are.
    inherited: Option<&'a ParentBlobs>,
    entries: Entries,
    writer: BlobWriter,
    encoder: RecordEncoder,
    /// Records held back until a dictionary is trained on them (see [`training`]).
    training: Option<Training>,
    /// Incremental captures of a tracker whose records embed definitions: the definitions
    /// taken in, to compare with the parent's (see [`Archive::refresh_embedded`]).
    definitions: Option<HashMap<RecordKey, Record>>,
}

impl Intake<'_> {
    /// Takes one record in; returns its blob id.
    async fn accept(&mut self, record: Record) -> Result<BlobId> {
        let key = record.key();
        let kind = key.kind;
        let updated_at = record.updated_at();
        // The walk may deliver a record twice when it changed during the capture; keep the
        // newest version.
        if let Some(existing) = self.entries.get(&key) {
            if existing.updated_at() >= updated_at {
                return Ok(existing.blob().clone());
            }
        }
        let canonical =
            blob::canonical_json(&record).map_err(|source| blob::BlobError::Encode {
                what: "record",
                source,
            })?;
        let id = BlobId::of(&canonical);
        let embeds = self.embedding.and_then(|e| e.embeds(&record));
        // A blob is the hash of a record's whole content, its key and time included: one
        // taken in again (a newer version of its record) is a new blob, so each is written
        // once without keeping a set of what was written.
        let slot = self.entries.upsert(
            &key,
            Taken {
                blob: id.clone(),
                updated_at,
                size: canonical.len() as u64,
                issue: record.issue(),
                embeds,
            },
        )?;
        if let (Some(definitions), Some(embedding)) = (&mut self.definitions, self.embedding) {
            if embedding.definitions().contains(&key.kind) {
                definitions.insert(key, record);
            }
        }
        if self.inherited.is_some_and(|parent| parent.holds(&id)) {
            return Ok(id);
        }
        if let Some(training) = &mut self.training {
            training.push((slot, id.clone(), canonical, kind.is_comment()));
            if training.ready() {
                let training = self.training.take().unwrap_or_default();
                self.flush_training(training).await?;
            }
            return Ok(id);
        }
        // Listed at the size the parent recorded: reused without even compressing it.
        if let Some(size) = self.writer.reuse_as_recorded(&id) {
            self.entries.set_stored(slot, &id, Some(size));
            return Ok(id);
        }
        let compressed = self.encoder.compress(&canonical);
        let size = self.writer.put(id.clone(), compressed).await?;
        self.entries.set_stored(slot, &id, size);
        Ok(id)
    }

    /// Trains the scope's dictionary on the buffered records, then writes them with it.
    async fn flush_training(&mut self, training: Training) -> Result<()> {
        let samples: Vec<Vec<u8>> = training.sample().into_iter().map(<[u8]>::to_vec).collect();
        let trained = self.archive.train_dictionary(samples).await?;
        self.encoder = match &trained {
            Some((dict, stored)) => {
                self.writer.stats.stored_new += stored;
                RecordEncoder::new(Some(dict))?
            }
            None => RecordEncoder::new(None)?,
        };
        self.write_buffered(training).await
    }

    /// Writes records held back, with the encoder as it stands.
    async fn write_buffered(&mut self, training: Training) -> Result<()> {
        for (slot, id, canonical, _) in training.held {
            let compressed = self.encoder.compress(&canonical);
            let size = self.writer.put(id.clone(), compressed).await?;
            self.entries.set_stored(slot, &id, size);
        }
        Ok(())
    }

    /// Writes whatever still waits for a dictionary: with one trained on it when there is
    /// enough to train on, else without.
    async fn finish_training(&mut self) -> Result<()> {
        let Some(training) = self.training.take() else {
            return Ok(());
        };
        if training.bytes() >= blob::DICT_MIN_TRAINING_BYTES {
            self.flush_training(training).await
        } else {
            self.write_buffered(training).await
        }
    }
}

/// What an incremental capture did about definitions (labels, milestones) whose copies the
/// parent's records embed (see [`Archive::refresh_embedded`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Refreshed {
    /// Definitions edited, renamed or deleted since the parent, in what the records carrying
    /// them copy.
    pub definitions: u64,
    /// Records of the parent re-derived into a new version (no tracker request).
    pub records: u64,
    /// Blobs of the parent read from the store to do it.
    pub read: u64,
    /// Of the records read, those whose manifest entry predates recorded embeds: each is
    /// checked once against every current definition it carries.
    pub unindexed: u64,
}

/// The parent an incremental capture builds on.
#[derive(Debug)]
struct Base {
    manifest: Arc<Manifest>,
    totals: Option<crate::tracker::Totals>,
}

/// What [`Archive::capture`] starts from.
#[derive(Debug)]
struct Inputs {
    /// The parent's blobs and the stored sizes its manifest records (no sizes when the
    /// parent cannot vouch for them).
    parent_blobs: Arc<ParentBlobs>,
    /// Set for an incremental capture.
    base: Option<Base>,
    /// The parent, for a delta entry table (whatever the capture mode).
    parent: Option<Arc<Manifest>>,
    /// The scope's dictionary, if it has one (checked).
    dict: Option<Arc<Dictionary>>,
    /// The store's blobs, listed before the capture relied on any.
    inventory: Arc<Inventory>,
    /// Read back every blob reused from the store (the scope's dictionary was damaged).
    deep: bool,
}

/// Writes blobs with a bounded number in flight, deferred (the store may batch their
/// durability) and flushed once at the end, counting what was new. Each blob goes through
/// [`Archive::ensure_blob`]: the listing decides whether it is written, reused as it is, or
/// read back (and repaired when damaged).
struct BlobWriter {
    archive: Archive,
    inventory: Arc<Inventory>,
    deep: bool,
    /// Sizes the parent's manifest records, the expected size of a listed blob.
    expected: Arc<ParentBlobs>,
    writes: JoinSet<Result<(BlobId, Ensured)>>,
    stats: ByteStats,
    written: u64,
    /// Stored sizes learnt by reading a blob back (those [`BlobWriter::put`] could not
    /// tell): rare, so a map of every blob is not kept.
    read_back: HashMap<BlobId, u64>,
    checks: CaptureChecks,
    /// Blobs someone else stored after the listing: checked after the flush.
    unsure: Vec<(BlobId, Bytes)>,
    /// Deferred writes since the last flush.
    staged: u64,
}

/// What [`BlobWriter::finish`] reports.
struct Written {
    stats: ByteStats,
    written: u64,
    read_back: HashMap<BlobId, u64>,
    checks: CaptureChecks,
}

impl BlobWriter {
    fn new(
        archive: Archive,
        inventory: Arc<Inventory>,
        deep: bool,
        expected: Arc<ParentBlobs>,
    ) -> Self {
        BlobWriter {
            archive,
            inventory,
            deep,
            expected,
            writes: JoinSet::new(),
            stats: ByteStats::default(),
            written: 0,
            read_back: HashMap::new(),
            checks: CaptureChecks::default(),
            unsure: Vec::new(),
            staged: 0,
        }
    }

    fn account(
        &mut self,
        done: std::result::Result<Result<(BlobId, Ensured)>, tokio::task::JoinError>,
    ) -> Result<()> {
        let (id, ensured) = joined(done)??;
        self.record(id, ensured);
        Ok(())
    }

    /// Counts what a blob's write came to. Sizes known when it was put (written: its own
    /// length; reused: the listing's) are the caller's to keep; sizes learnt by reading it
    /// back are kept here.
    fn record(&mut self, id: BlobId, ensured: Ensured) {
        match ensured {
            Ensured::Written(n) => {
                self.stats.stored_new += n;
                self.written += 1;
            }
            Ensured::Repaired(n) => {
                self.stats.stored_new += n;
                self.written += 1;
                self.checks.read_back += 1;
                self.checks.repaired += 1;
                self.read_back.insert(id, n);
            }
            Ensured::Intact(_) => self.checks.reused += 1,
            Ensured::ReadBack(n) => {
                self.checks.read_back += 1;
                self.read_back.insert(id, n);
            }
            Ensured::Unsure(bytes) => self.unsure.push((id, bytes)),
        }
    }

    /// Records `id` as reused when the listing shows it at the size the parent's manifest
    /// recorded for it (and nothing calls for reading it back), returning that size.
    fn reuse_as_recorded(&mut self, id: &BlobId) -> Option<u64> {
        let recorded = self.expected.stored(id)?;
        match Reuse::decide(self.inventory.size(id), recorded, self.deep) {
            Reuse::Trusted(size) => {
                self.record(id.clone(), Ensured::Intact(size));
                Some(size)
            }
            _ => None,
        }
    }

    /// Writes (or reuses) a blob; returns its stored size when that is known now: its own
    /// length when written, the listing's when reused. A blob to be read back first gets
    /// its size from the reading ([`Written::read_back`]).
    async fn put(&mut self, id: BlobId, compressed: Vec<u8>) -> Result<Option<u64>> {
        while self.writes.len() >= WRITES_IN_FLIGHT {
            if let Some(done) = self.writes.join_next().await {
                self.account(done)?;
            }
        }
        let expected = self.expected.stored(&id).unwrap_or(compressed.len() as u64);
        let reuse = Reuse::decide(self.inventory.size(&id), expected, self.deep);
        let known = match reuse {
            Reuse::Trusted(size) => {
                // No request at all: the listing vouches for it.
                self.record(id, Ensured::Intact(size));
                return Ok(Some(size));
            }
            Reuse::Absent => {
                if self.staged >= STAGED_BEFORE_FLUSH {
                    self.archive.store.flush().await?;
                    self.staged = 0;
                }
                self.staged += 1;
                Some(compressed.len() as u64)
            }
            Reuse::ReadBack => None,
        };
        let archive = self.archive.clone();
        self.writes.spawn(async move {
            let ensured = archive
                .ensure_blob(&id, Bytes::from(compressed), reuse)
                .await?;
            Ok((id, ensured))
        });
        Ok(known)
    }

    /// Waits for every write and makes them durable (before anything may reference
    /// them), then checks what others stored meanwhile.
    async fn finish(mut self) -> Result<Written> {
        while let Some(done) = self.writes.join_next().await {
            self.account(done)?;
        }
        self.archive.store.flush().await?;
        for (id, good) in std::mem::take(&mut self.unsure) {
            let ensured = self.archive.check_or_repair(&id, good).await?;
            self.record(id, ensured);
        }
        Ok(Written {
            stats: self.stats,
            written: self.written,
            read_back: self.read_back,
            checks: self.checks,
        })
    }
}

impl fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobWriter")
            .field("in_flight", &self.writes.len())
            .field("written", &self.written)
            .field("checks", &self.checks)
            .finish()
    }
}

/// What [`Archive::capture`] produced.
#[derive(Debug)]
struct Captured {
    counts: Counts,
    manifest_hash: ObjectHash,
    checks: CaptureChecks,
    stats: ByteStats,
    blobs_written: u64,
    not_modified: u64,
    points: u64,
    /// The budget ran out: the snapshot is stored `partial`.
    partial: bool,
    resume_at: Option<DateTime<Utc>>,
    deleted: u64,
    refreshed: Option<Refreshed>,
}

/// The statuses a job's reserved entry is taken up from: reserved, between invocations, or
/// abandoned by a killed invocation (reported, or recorded, `failed`).
const RESTARTABLE: &[SnapshotStatus] = &[
    SnapshotStatus::Pending,
    SnapshotStatus::InProgress,
    SnapshotStatus::Failed,
];

/// The reserved entry `id` in `history`, if a capture may write it: still open, or abandoned
/// by a killed invocation of its job.
fn reserved_entry(history: &[SnapshotEntry], id: &SnapshotId) -> Result<SnapshotEntry> {
    let Some(entry) = history.iter().find(|e| e.id == *id) else {
        return Err(Error::Invalid(format!(
            "the snapshot {id} reserved for this capture is not in the catalog"
        )));
    };
    let abandoned =
        entry.status == SnapshotStatus::Failed && entry.error.as_deref() == Some(super::ABANDONED);
    if entry.status.is_open() || abandoned {
        Ok(entry.clone())
    } else {
        Err(Error::Refused(format!(
            "snapshot {id} is {}, so no capture can write it any more",
            entry.status
        )))
    }
}

/// The ids a manifest holds, for the tracker's deletion check.
fn known_ids(manifest: &Manifest) -> Known {
    let mut known = Known::default();
    for e in &manifest.entries {
        match (e.kind, e.id.parse::<u64>()) {
            (kind, Ok(n)) if kind.is_issue() => {
                known.issues.insert(n);
                if let Some(embeds) = &e.embeds {
                    known.embeds.insert(n, embeds.clone());
                }
            }
            (kind, Ok(id)) if kind.is_comment() => {
                if let Some(issue) = e.issue {
                    known.comments.insert(id, issue);
                }
            }
            _ => {}
        }
    }
    known
}

/// An incremental capture's records: the parent's, minus kinds listed whole again and
/// records found deleted (`gone`), overlaid with everything fetched (which is newer by
/// definition).
///
/// Both sides come in key order ([`key_order`]: the parent's manifest is sorted, the
/// capture's entries are handed out sorted), so they are merged side by side, and so is
/// the result, as it is needed: no map of every key, and no copy of the parent's entries.
fn merge<'a>(
    parent: &'a [ManifestEntry],
    fetched: &'a [ManifestEntry],
    report: &'a crate::tracker::FetchReport,
    gone: &'a HashSet<(RecordKind, &'a str)>,
) -> impl Iterator<Item = &'a ManifestEntry> + 'a {
    let mut kept = in_key_order(parent)
        .filter(|e| report.coverage(e.kind) != Coverage::Complete)
        .peekable();
    let mut new = fetched.iter().peekable();
    std::iter::from_fn(move || loop {
        let next = match (kept.peek(), new.peek()) {
            (None, None) => return None,
            (Some(_), None) => kept.next(),
            (None, Some(_)) => new.next(),
            (Some(old), Some(n)) => match key_order(old, n) {
                std::cmp::Ordering::Less => kept.next(),
                std::cmp::Ordering::Equal => {
                    kept.next();
                    new.next()
                }
                std::cmp::Ordering::Greater => new.next(),
            },
        };
        match next {
            Some(e) if gone.contains(&(e.kind, e.id.as_str())) => {}
            e => return e,
        }
    })
}

/// `e` with its stored size set to `stored`, copied only when that changes it.
fn with_stored(e: &ManifestEntry, stored: Option<u64>) -> Cow<'_, ManifestEntry> {
    if stored == e.stored {
        Cow::Borrowed(e)
    } else {
        Cow::Owned(ManifestEntry {
            stored,
            ..e.clone()
        })
    }
}

/// The parent's entries by blob id, for what a capture asks of every record it takes in:
/// whether the parent holds its blob (an incremental capture keeps those as they are), and
/// at what stored size. Four bytes an entry (its place in the manifest, sorted by blob),
/// where a set of the parent's blob ids and a map of their sizes took ~130 bytes an entry
/// (78 MB at 600,000 records).
#[derive(Debug)]
struct ParentBlobs {
    manifest: Option<Arc<Manifest>>,
    /// Places in `manifest.entries`, by blob id (ties in the manifest's order).
    by_blob: Vec<u32>,
    /// Whether the sizes the manifest records are to be relied on (not when the scope's
    /// dictionary is damaged: right-sized blobs then prove nothing).
    sizes: bool,
}

impl ParentBlobs {
    fn new(manifest: Option<Arc<Manifest>>, sizes: bool) -> Result<ParentBlobs> {
        let entries = manifest.as_deref().map_or(&[][..], |m| &m.entries[..]);
        let count = u32::try_from(entries.len()).map_err(|_| {
            Error::Internal(format!(
                "the parent snapshot holds {} records, more than a capture can index",
                entries.len()
            ))
        })?;
        let mut by_blob: Vec<u32> = (0..count).collect();
        by_blob.sort_by(|&a, &b| entries[a as usize].blob.cmp(&entries[b as usize].blob));
        Ok(ParentBlobs {
            manifest,
            by_blob,
            sizes,
        })
    }

    /// The parent's entries whose blob is `blob` (one, but for a damaged manifest).
    fn entries<'s>(
        &'s self,
        blob: &BlobId,
    ) -> impl DoubleEndedIterator<Item = &'s ManifestEntry> + 's {
        let entries = self.manifest.as_deref().map_or(&[][..], |m| &m.entries[..]);
        let from = self
            .by_blob
            .partition_point(|&i| entries[i as usize].blob < *blob);
        let to =
            from + self.by_blob[from..].partition_point(|&i| entries[i as usize].blob == *blob);
        self.by_blob[from..to].iter().map(|&i| &entries[i as usize])
    }

    /// Whether the parent holds `blob`.
    fn holds(&self, blob: &BlobId) -> bool {
        self.entries(blob).next().is_some()
    }

    /// The stored size the parent records for `blob`, if it is to be relied on (the last
    /// recorded, as a map of the entries' sizes would hold).
    fn stored(&self, blob: &BlobId) -> Option<u64> {
        if !self.sizes {
            return None;
        }
        self.entries(blob).rev().find_map(|e| e.stored)
    }
}

/// Reads the live state of a tracker into memory (for `diff … --to live` and rollback
/// planning). Raw JSON is dropped unless `with_raw`, which keeps memory near the size of
/// the normalized fields.
pub async fn fetch_live(
    tracker: Arc<dyn Tracker>,
    progress: Arc<dyn Progress>,
    with_raw: bool,
) -> Result<RecordSet> {
    let keep: fn(Record) -> Record = if with_raw {
        std::convert::identity
    } else {
        Record::without_raw
    };
    let mut set = RecordSet::default();
    fetch_each(tracker, progress, |record| {
        let record = keep(record);
        if crate::record::supersedes(&record, set.get(&record.key()).map(|h| h.updated_at())) {
            set.insert(record);
        }
        Ok(())
    })
    .await?;
    Ok(set)
}

/// Runs the tracker's full listing, handing each record to `take` as it arrives (a
/// consumer that keeps less than every record: a diff against live).
pub(crate) async fn fetch_each(
    tracker: Arc<dyn Tracker>,
    progress: Arc<dyn Progress>,
    mut take: impl FnMut(Record) -> Result<()>,
) -> Result<()> {
    tracker.check().await?;
    let (tx, mut rx) = mpsc::channel::<Record>(256);
    let opts = FetchOptions {
        progress,
        ..FetchOptions::default()
    };
    let fetcher = tokio::spawn(async move { tracker.fetch(&opts, tx).await });
    let mut taken = Ok(());
    while let Some(record) = rx.recv().await {
        taken = take(record);
        if taken.is_err() {
            break;
        }
    }
    // Dropped first so a failed consumer stops the fetcher promptly.
    drop(rx);
    let fetched = joined(fetcher.await);
    taken?;
    fetched??;
    Ok(())
}

/// Flattens a task's join result: a panicked or cancelled task becomes an error value.
fn joined<T>(r: std::result::Result<T, tokio::task::JoinError>) -> Result<T> {
    r.map_err(|e| Error::Internal(format!("a task failed: {e}")))
}

#[cfg(test)]
mod merge_tests {
    use super::*;
    use crate::record::RecordKind;
    use crate::tracker::FetchReport;

    fn entry(kind: RecordKind, id: u64, blob: &str, issue: Option<u64>) -> ManifestEntry {
        ManifestEntry {
            kind,
            id: id.to_string(),
            blob: BlobId::of(blob.as_bytes()),
            updated_at: None,
            size: 1,
            stored: None,
            issue,
            embeds: None,
        }
    }

    #[test]
    fn merge_overlays_changes_drops_deletions_and_replaces_complete_kinds() {
        let parent = vec![
            entry(RecordKind::Label, 1, "bug", None),
            entry(RecordKind::Label, 2, "old label", None),
            entry(RecordKind::Milestone, 1, "v1", None),
            entry(RecordKind::Issue, 1, "issue 1", None),
            entry(RecordKind::Issue, 2, "issue 2", None),
            entry(RecordKind::Comment, 10, "c10", Some(1)),
            entry(RecordKind::Comment, 11, "c11", Some(2)),
        ];
        let fetched = vec![
            entry(RecordKind::Label, 1, "bug", None),
            entry(RecordKind::Issue, 1, "issue 1 edited", None),
            entry(RecordKind::Comment, 12, "c12", Some(1)),
            entry(RecordKind::Comment, 13, "c13", Some(1)),
        ];
        let mut report = FetchReport::default();
        // Labels were re-listed whole (label 2 is gone); milestones answered 304; issues
        // and comments are changes with one deleted issue and its comment, and a comment
        // deleted after the listing showed it.
        report
            .coverage
            .insert(RecordKind::Milestone, Coverage::Unchanged);
        report.coverage.insert(RecordKind::Issue, Coverage::Changes);
        report
            .coverage
            .insert(RecordKind::Comment, Coverage::Changes);
        report.deleted = vec![
            RecordKey::new(RecordKind::Issue, 2),
            RecordKey::new(RecordKind::Comment, 11),
            RecordKey::new(RecordKind::Comment, 13),
        ];
        let expected = [
            "label:1",
            "milestone:1",
            "issue:1",
            "comment:10",
            "comment:12",
        ];
        // A parent in another order (an older build's manifest) merges the same.
        let mut shuffled = parent.clone();
        shuffled.reverse();
        let gone: HashSet<(RecordKind, &str)> = report
            .deleted
            .iter()
            .map(|k| (k.kind, k.id.as_str()))
            .collect();
        for parent in [parent, shuffled] {
            let merged: Vec<&ManifestEntry> = merge(&parent, &fetched, &report, &gone).collect();
            let keys: Vec<String> = merged.iter().map(|e| e.key().to_string()).collect();
            assert_eq!(keys, expected, "in key order");
            assert_eq!(merged[2].blob, BlobId::of(b"issue 1 edited"));
            assert_eq!(merged[0].blob, BlobId::of(b"bug"));
        }
    }

    #[test]
    fn known_ids_come_from_the_manifest_alone() {
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            id: SnapshotId::new(),
            scope: "github:acme/widgets".parse().unwrap(),
            name: None,
            trigger: Trigger::Manual,
            created_at: Utc::now(),
            parent: None,
            cursor: Default::default(),
            dict: None,
            dict_hash: None,
            activity: None,
            tables: Vec::new(),
            table_hashes: Vec::new(),
            entries: vec![
                entry(RecordKind::Issue, 7, "i7", None),
                entry(RecordKind::Comment, 70, "c70", Some(7)),
                entry(RecordKind::Label, 1, "l", None),
            ],
        };
        let known = known_ids(&manifest);
        assert_eq!(known.issues.into_iter().collect::<Vec<_>>(), [7]);
        assert_eq!(known.comments.into_iter().collect::<Vec<_>>(), [(70, 7)]);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::catalog::MemoryCatalog;
    use crate::diff::testkit::{names, Builder};
    use crate::manifest::MAX_TABLE_CHAIN;
    use crate::store::MemoryStore;

    /// A tracker serving a fixed record set, for engine tests without HTTP.
    #[derive(Debug)]
    /// The third field, when set, holds the listing until a permit is added (to look at the
    /// store mid-capture).
    pub(crate) struct Fixed(
        pub Scope,
        pub std::sync::Mutex<RecordSet>,
        pub Option<tokio::sync::Semaphore>,
    );

    #[async_trait::async_trait]
    impl Tracker for Fixed {
        fn scope(&self) -> &Scope {
            &self.0
        }
        async fn check(&self) -> std::result::Result<(), crate::tracker::TrackerError> {
            Ok(())
        }
        async fn fetch(
            &self,
            _: &FetchOptions,
            out: mpsc::Sender<Record>,
        ) -> std::result::Result<crate::tracker::FetchReport, crate::tracker::TrackerError>
        {
            if let Some(gate) = &self.2 {
                let _go = gate.acquire().await;
            }
            let set = self.1.lock().unwrap().clone();
            let all = set
                .labels
                .into_values()
                .map(Record::Label)
                .chain(set.milestones.into_values().map(Record::Milestone))
                .chain(set.issues.into_values().map(Record::Issue))
                .chain(set.comments.into_values().map(Record::Comment));
            for r in all {
                out.send(r)
                    .await
                    .map_err(|_| crate::tracker::TrackerError::Aborted)?;
            }
            Ok(Default::default())
        }
        fn requests(&self) -> u64 {
            0
        }
    }

    /// Snapshot `id`'s manifest, read back.
    async fn manifest_of(archive: &Archive, id: SnapshotId) -> Manifest {
        let entry = archive.catalog.get(&id).await.unwrap().unwrap();
        archive.load_manifest(&entry).await.unwrap()
    }

    pub(crate) fn repo() -> RecordSet {
        let mut b = Builder::new();
        b.label(1, "bug", "d73a4a");
        b.label(2, "docs", "0075ca");
        b.milestone(1, "v1");
        for n in 1..=50 {
            let i = b.issue(n, &format!("Issue {n}"));
            i.labels = names(if n % 3 == 0 { &["bug"] } else { &["docs"] });
            for k in 0..3 {
                b.comment(n * 10 + k, n, "amy", &format!("comment {k} on {n}"));
            }
        }
        b.build()
    }

    /// The capture holds its store lease from before it reads anything until its entry is
    /// final: a collection in the meantime is refused, and the lease costs three writes of
    /// the lease table (take, confirm before completing, release) for a short capture.
    #[tokio::test]
    async fn a_capture_keeps_collection_out_until_it_is_final() {
        let catalog: Arc<dyn crate::Catalog> = Arc::new(MemoryCatalog::new());
        let archive = Archive::new(Arc::new(MemoryStore::new()), catalog.clone());
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        let tracker = Arc::new(Fixed(
            scope.clone(),
            std::sync::Mutex::new(repo()),
            Some(tokio::sync::Semaphore::new(0)),
        ));
        let capture = {
            let (archive, tracker) = (archive.clone(), tracker.clone());
            tokio::spawn(async move {
                archive
                    .create_snapshot(tracker, &SnapshotOptions::default())
                    .await
            })
        };
        let pending = loop {
            let entries = archive.entries(Some(&scope)).await.unwrap();
            if let Some(e) = entries.first() {
                break e.clone();
            }
            tokio::task::yield_now().await;
        };
        assert_eq!(pending.status, SnapshotStatus::InProgress, "a live capture");
        let opts = crate::prune::PruneOptions::new(crate::prune::Retention::new(1, None).unwrap());
        let refused = crate::prune::run(&archive, &scope, &opts, true, "test")
            .await
            .unwrap_err();
        assert!(refused.is_refusal(), "{refused}");
        assert!(
            refused.to_string().contains("1 capture(s) running"),
            "{refused}"
        );
        if let Some(gate) = &tracker.2 {
            gate.add_permits(1);
        }
        let report = capture.await.unwrap().unwrap();
        assert_eq!(report.status, SnapshotStatus::Completed);
        let cell = catalog
            .read_cell(crate::lease::CELL)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(cell.version, 3, "take, confirm, release");
        assert!(crate::lease::read(&*catalog)
            .await
            .unwrap()
            .leases
            .is_empty());
        // Free again: the collection runs, and the snapshot stays whole.
        let report = crate::prune::run(&archive, &scope, &opts, true, "test")
            .await
            .unwrap();
        assert!(report.executed);
        let cell = catalog
            .read_cell(crate::lease::CELL)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            cell.version, 5,
            "a collection with no blob to delete: take and release (plus one confirm per 500 deletes)"
        );
        let all = archive.entries(Some(&scope)).await.unwrap();
        assert!(archive.verify(&all).await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn snapshots_dedupe_and_changed_pair_diffs_like_full_sets() {
        let archive = Archive::new(Arc::new(MemoryStore::new()), Arc::new(MemoryCatalog::new()));
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        let tracker = Arc::new(Fixed(scope.clone(), std::sync::Mutex::new(repo()), None));
        let first = archive
            .create_snapshot(tracker.clone(), &SnapshotOptions::default())
            .await
            .unwrap();
        assert_eq!(first.counts.issues, 50);
        assert_eq!(first.counts.comments, 150);
        let second = archive
            .create_snapshot(tracker.clone(), &SnapshotOptions::default())
            .await
            .unwrap();
        assert_eq!(second.blobs_written, 0, "identical records are stored once");
        assert_eq!(second.parent, Some(first.id));

        {
            let mut set = tracker.1.lock().unwrap();
            set.labels.remove(&1);
            for i in set.issues.values_mut() {
                i.labels.retain(|l| l != "bug");
            }
            set.issues.get_mut(&7).unwrap().title = "changed".into();
            set.comments.remove(&101);
            set.comments.get_mut(&202).unwrap().body = "edited".into();
        }
        let third = archive
            .create_snapshot(tracker.clone(), &SnapshotOptions::default())
            .await
            .unwrap();
        let e2 = archive.catalog.get(&second.id).await.unwrap().unwrap();
        let e3 = archive.catalog.get(&third.id).await.unwrap().unwrap();
        // Completion records the hash of the manifest exactly as stored.
        let stored = archive.store.get(&e3.manifest_key).await.unwrap();
        assert_eq!(e3.manifest_hash, Some(ObjectHash::of(&stored)));
        let (m2, m3) = (
            archive.load_manifest(&e2).await.unwrap(),
            archive.load_manifest(&e3).await.unwrap(),
        );
        let full = crate::diff::diff(
            &crate::tracker::github::fields::SCHEMA,
            &archive.load_records(&m2, false).await.unwrap(),
            &archive.load_records(&m3, false).await.unwrap(),
            &Default::default(),
        );
        let (a, b) = archive.load_changed_pair(&m2, &m3).await.unwrap();
        assert!(
            a.issues.len() < 30,
            "only changed records and their context are loaded"
        );
        let partial = crate::diff::diff(
            &crate::tracker::github::fields::SCHEMA,
            &a,
            &b,
            &Default::default(),
        );
        assert_eq!(
            serde_json::to_value(&full).unwrap(),
            serde_json::to_value(&partial).unwrap()
        );
        assert!(full.summary.total >= 4);
    }

    /// A diff against live keeps only what differs (and the context the diff needs) on
    /// either side, and shows exactly what the whole two sides show, both ways round:
    /// a renamed label folded over its issues, an edited issue, deleted and edited comments
    /// (one on an issue nothing else changed on), a deleted issue with its comments, a new
    /// issue with a comment.
    #[tokio::test]
    async fn a_diff_against_live_equals_the_diff_of_the_whole_sides() {
        use crate::compare::{compare, DiffSides, LiveSource};
        let archive = Archive::new(Arc::new(MemoryStore::new()), Arc::new(MemoryCatalog::new()));
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        let tracker = Arc::new(Fixed(scope.clone(), std::sync::Mutex::new(repo()), None));
        let snap = archive
            .create_snapshot(tracker.clone(), &SnapshotOptions::default())
            .await
            .unwrap();
        {
            let mut set = tracker.1.lock().unwrap();
            set.labels.get_mut(&1).unwrap().name = "defect".into();
            for i in set.issues.values_mut() {
                for l in i.labels.iter_mut().filter(|l| l.as_str() == "bug") {
                    *l = "defect".into();
                }
            }
            set.issues.get_mut(&7).unwrap().title = "changed".into();
            set.comments.remove(&101);
            set.comments.get_mut(&202).unwrap().body = "edited".into();
            set.issues.remove(&44);
            set.comments.retain(|_, c| c.issue_number != 44);
            let mut b = crate::diff::testkit::Builder::new();
            b.issue(99, "new");
            b.comment(990, 99, "bob", "first");
            set.absorb(b.build());
        }
        let entry = archive.catalog.get(&snap.id).await.unwrap().unwrap();
        let stored = archive
            .load_records(&archive.load_manifest(&entry).await.unwrap(), false)
            .await
            .unwrap();
        let now = fetch_live(tracker.clone(), Arc::new(crate::tracker::NoProgress), false)
            .await
            .unwrap();
        let live = LiveSource {
            tracker: tracker.clone(),
            progress: Arc::new(crate::tracker::NoProgress),
        };
        let id = snap.id.to_string();
        for (sides, (a, b)) in [
            (DiffSides::parse(Some(&id), Some("live")), (&stored, &now)),
            (DiffSides::parse(Some("live"), Some(&id)), (&now, &stored)),
        ] {
            let whole = crate::diff::diff(
                &crate::tracker::github::fields::SCHEMA,
                a,
                b,
                &Default::default(),
            );
            let compared = compare(
                &archive,
                &scope,
                &sides.unwrap(),
                &Default::default(),
                Some(&live),
            )
            .await
            .unwrap();
            let (diff, whole) = (
                compared.diff,
                whole.with_sides(Default::default(), Default::default()),
            );
            let diff = diff.with_sides(Default::default(), Default::default());
            assert_eq!(
                serde_json::to_value(&whole).unwrap(),
                serde_json::to_value(&diff).unwrap()
            );
            let s = &whole.summary;
            assert_eq!(
                (
                    s.comments_added + s.comments_deleted,
                    s.comments_edited,
                    s.issues_added + s.issues_removed
                ),
                (5, 1, 2)
            );
        }
    }

    /// A tracker that lists everything once, then only what changed since (issues and
    /// comments; labels and milestones answer "unchanged"), with the deletions it found:
    /// the shape of a GitHub incremental listing.
    #[derive(Debug)]
    struct Changing {
        scope: Scope,
        all: std::sync::Mutex<RecordSet>,
        changed: std::sync::Mutex<Vec<Record>>,
        deleted: std::sync::Mutex<Vec<RecordKey>>,
    }

    #[async_trait::async_trait]
    impl Tracker for Changing {
        fn scope(&self) -> &Scope {
            &self.scope
        }
        async fn check(&self) -> std::result::Result<(), crate::tracker::TrackerError> {
            Ok(())
        }
        async fn fetch(
            &self,
            opts: &FetchOptions,
            out: mpsc::Sender<Record>,
        ) -> std::result::Result<crate::tracker::FetchReport, crate::tracker::TrackerError>
        {
            let mut report = crate::tracker::FetchReport::default();
            let records: Vec<Record> = if opts.since.is_none() {
                let set = self.all.lock().unwrap().clone();
                set.labels
                    .into_values()
                    .map(Record::Label)
                    .chain(set.milestones.into_values().map(Record::Milestone))
                    .chain(set.issues.into_values().map(Record::Issue))
                    .chain(set.comments.into_values().map(Record::Comment))
                    .collect()
            } else {
                for (kind, coverage) in [
                    (RecordKind::Label, Coverage::Unchanged),
                    (RecordKind::Milestone, Coverage::Unchanged),
                    (RecordKind::Issue, Coverage::Changes),
                    (RecordKind::Comment, Coverage::Changes),
                ] {
                    report.coverage.insert(kind, coverage);
                }
                report.deleted = std::mem::take(&mut *self.deleted.lock().unwrap());
                std::mem::take(&mut *self.changed.lock().unwrap())
            };
            for r in records {
                out.send(r)
                    .await
                    .map_err(|_| crate::tracker::TrackerError::Aborted)?;
            }
            Ok(report)
        }
        fn requests(&self) -> u64 {
            0
        }
    }

    /// An incremental capture merges its parent's entries with the changes as it writes
    /// them, holding neither the merged entries nor a map of them: what it stores must be
    /// what the plain rule gives for the whole manifests — the entry table
    /// [`Manifest::encode_table`] makes of the snapshot's entries on its parent's, and
    /// entries that are exactly the tracker's records. Checked for a delta table (a few
    /// edits, additions and deletions) and for a whole one (more than a quarter changed).
    #[tokio::test]
    async fn an_incremental_capture_stores_the_table_the_whole_manifests_give() {
        let archive = Archive::new(Arc::new(MemoryStore::new()), Arc::new(MemoryCatalog::new()));
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        let tracker = Arc::new(Changing {
            scope: scope.clone(),
            all: std::sync::Mutex::new(repo()),
            changed: std::sync::Mutex::new(Vec::new()),
            deleted: std::sync::Mutex::new(Vec::new()),
        });
        let mut parent = archive
            .create_snapshot(tracker.clone(), &SnapshotOptions::default())
            .await
            .unwrap();
        // Edits, one new issue with a comment, one deleted issue with its comments and one
        // deleted comment; then 30 of the 50 issues and their comments edited.
        let rounds: [(Vec<u64>, bool); 2] = [(vec![2, 7, 50], true), ((1..=30).collect(), false)];
        for (edited, delta) in rounds {
            {
                let mut all = tracker.all.lock().unwrap();
                let mut changed = tracker.changed.lock().unwrap();
                let mut deleted = tracker.deleted.lock().unwrap();
                for n in &edited {
                    let issue = all.issues.get_mut(n).unwrap();
                    issue.title = format!("{} (edited)", issue.title);
                    changed.push(Record::Issue(issue.clone()));
                    if !delta {
                        for k in 0..3 {
                            if let Some(c) = all.comments.get_mut(&(n * 10 + k)) {
                                c.body = format!("{} (edited)", c.body);
                                changed.push(Record::Comment(c.clone()));
                            }
                        }
                    }
                }
                if delta {
                    let mut b = Builder::new();
                    b.issue(51, "Issue 51");
                    b.comment(510, 51, "amy", "a new comment");
                    let new = b.build();
                    for (n, i) in new.issues {
                        all.issues.insert(n, i.clone());
                        changed.push(Record::Issue(i));
                    }
                    for (n, c) in new.comments {
                        all.comments.insert(n, c.clone());
                        changed.push(Record::Comment(c));
                    }
                    all.issues.remove(&40);
                    deleted.push(RecordKey::new(RecordKind::Issue, 40));
                    for k in 0..3 {
                        all.comments.remove(&(400 + k));
                        deleted.push(RecordKey::new(RecordKind::Comment, 400 + k));
                    }
                    all.comments.remove(&121);
                    deleted.push(RecordKey::new(RecordKind::Comment, 121));
                }
            }
            let child = archive
                .create_snapshot(tracker.clone(), &SnapshotOptions::default())
                .await
                .unwrap();
            assert_eq!(child.mode, CaptureMode::Incremental);
            let (before, after) = (
                manifest_of(&archive, parent.id).await,
                manifest_of(&archive, child.id).await,
            );
            // Walked as parsed, the chain gives the same entries.
            let mut walked = Vec::new();
            let entry = archive.catalog.get(&child.id).await.unwrap().unwrap();
            let header = archive
                .for_each_entry(&entry, |e| walked.push(e))
                .await
                .unwrap();
            walked.sort_by(crate::manifest::key_order);
            assert_eq!(walked, after.entries);
            assert_eq!(header.entries_blob, after.tables[0]);
            let rule = after.encode_table(Some(&before)).unwrap();
            assert_eq!(
                after.tables[0], rule.id,
                "the table the whole manifests give"
            );
            assert_eq!(after.tables.len() == 2, delta, "{:?}", after.tables);
            // Every entry is a record the tracker holds, at the blob its content gives.
            let records = archive.load_records(&after, true).await.unwrap();
            assert_eq!(records, *tracker.all.lock().unwrap());
            assert_eq!(child.counts.total(), after.entries.len() as u64);
            assert_eq!(child.bytes.logical, after.logical_bytes());
            parent = child;
        }
    }

    /// A full capture on a parent walks its entries once, finding the delta and
    /// compressing the whole table side by side: what it stores is what the whole
    /// manifests give, a delta for a few changes and the whole table for many.
    #[tokio::test]
    async fn a_full_capture_on_a_parent_stores_the_table_the_whole_manifests_give() {
        let archive = Archive::new(Arc::new(MemoryStore::new()), Arc::new(MemoryCatalog::new()));
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        let tracker = Arc::new(Fixed(scope.clone(), std::sync::Mutex::new(repo()), None));
        let full = SnapshotOptions {
            full: true,
            ..SnapshotOptions::default()
        };
        let mut parent = archive
            .create_snapshot(tracker.clone(), &full)
            .await
            .unwrap();
        for (round, many) in [(1, false), (2, true), (3, false)] {
            {
                let mut set = tracker.1.lock().unwrap();
                set.issues.get_mut(&3).unwrap().title = format!("round {round}");
                if many {
                    for c in set.comments.values_mut() {
                        c.body = format!("{} (round {round})", c.body);
                    }
                }
                set.comments.remove(&(round * 10 + 11));
            }
            let child = archive
                .create_snapshot(tracker.clone(), &full)
                .await
                .unwrap();
            assert_eq!(child.mode, CaptureMode::Full);
            let (before, after) = (
                manifest_of(&archive, parent.id).await,
                manifest_of(&archive, child.id).await,
            );
            let rule = after.encode_table(Some(&before)).unwrap();
            assert_eq!(after.tables[0], rule.id, "round {round}");
            assert_eq!(
                after.tables.len(),
                if many { 1 } else { 2 },
                "round {round}"
            );
            let records = archive.load_records(&after, true).await.unwrap();
            assert_eq!(records, *tracker.1.lock().unwrap());
            assert_eq!(child.counts.total(), after.entries.len() as u64);
            assert_eq!(child.bytes.logical, after.logical_bytes());
            parent = child;
        }
    }

    #[tokio::test]
    async fn delta_tables_chain_are_capped_and_survive_pruning_their_bases() {
        let archive = Archive::new(Arc::new(MemoryStore::new()), Arc::new(MemoryCatalog::new()));
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        let tracker = Arc::new(Fixed(scope.clone(), std::sync::Mutex::new(repo()), None));
        let mut chains = Vec::new();
        let mut stored = Vec::new();
        for day in 0..40u64 {
            {
                let mut set = tracker.1.lock().unwrap();
                set.issues.get_mut(&(day % 50 + 1)).unwrap().title = format!("day {day}");
                set.comments.remove(&(day % 50 * 10 + 11));
            }
            let r = archive
                .create_snapshot(tracker.clone(), &SnapshotOptions::default())
                .await
                .unwrap();
            let entry = archive.catalog.get(&r.id).await.unwrap().unwrap();
            let m = archive.load_manifest(&entry).await.unwrap();
            let mut walked = Vec::new();
            archive
                .for_each_entry(&entry, |e| walked.push(e))
                .await
                .unwrap();
            walked.sort_by(crate::manifest::key_order);
            assert_eq!(walked, m.entries, "day {day}");
            // The chain reproduces exactly what the tracker holds.
            assert_eq!(
                r.counts.comments,
                tracker.1.lock().unwrap().comments.len() as u64
            );
            chains.push(m.tables.len());
            stored.push(r.bytes.stored_new);
        }
        assert_eq!(chains[..4], [1, 2, 3, 4], "{chains:?}");
        assert_eq!(*chains.iter().max().unwrap(), MAX_TABLE_CHAIN, "{chains:?}");
        assert_eq!(
            chains[MAX_TABLE_CHAIN], 1,
            "a full table after the cap: {chains:?}"
        );
        // A daily delta costs a fraction of a full table.
        assert!(
            stored[5] * 3 < stored[0].min(stored[MAX_TABLE_CHAIN]),
            "{stored:?}"
        );

        // Drop every snapshot but the newest, collect garbage, and the newest still reads
        // and verifies: its chain's tables were kept although their snapshots are gone.
        let opts = crate::prune::PruneOptions {
            grace: std::time::Duration::ZERO,
            ..crate::prune::PruneOptions::new(crate::prune::Retention::new(1, None).unwrap())
        };
        let report = crate::prune::run(&archive, &scope, &opts, true, "test")
            .await
            .unwrap();
        let plan = report.plan;
        assert_eq!(plan.drop.len(), 39);
        assert!(!plan.blobs.is_empty(), "old record versions are collected");
        let all = archive.catalog.list(Some(&scope)).await.unwrap();
        let report = archive.verify(&all).await.unwrap();
        assert!(report.problems.is_empty(), "{report}");
        let m = archive.load_manifest(&all[0]).await.unwrap();
        assert_eq!(m.entries.len() as u64, all[0].counts.total());
    }
}
