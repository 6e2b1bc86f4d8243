//! Executing a rollback: lock, job, pre-rollback snapshot, journaled writes, verification.
//!
//! Crash safety comes from three pieces working together:
//! - the **job** (catalog) outlives the process; re-running the same command finds it by
//!   fingerprint and resumes with the same plan and the same pre-rollback snapshot;
//! - the **journal** (catalog) records each operation after its write succeeds, so a resumed
//!   run skips what is done;
//! - the one write that may have happened without its journal entry (the process died in
//!   between) is either idempotent (a PATCH to the target values) or a comment creation,
//!   which a resumed run looks for by its hidden marker before posting again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use serde::Serialize;

use super::plan::{plan, Irrecoverable};
use super::{Operation, PlannedOp, RollbackOptions, RollbackPlan};
use crate::blob;
use crate::catalog::{CatalogError, JobEntry, JobStatus, JournalEntry, LockInfo};
use crate::error::{Error, Result};
use crate::id::{JobId, SnapshotId};
use crate::manifest::Trigger;
use crate::record::RecordSet;
use crate::snapshot::{fetch_live, Archive, SnapshotName, SnapshotOptions};
use crate::store::PutOutcome;
use crate::tracker::{ApplyContext, NoProgress, Progress, Tracker};
use crate::SnapshotEntry;

/// Called after each operation: (operation, done so far, total).
pub type OpProgress = Arc<dyn Fn(&PlannedOp, usize, usize) + Send + Sync>;

/// How to run.
#[derive(Clone)]
pub struct ExecuteOptions {
    /// Who is rolling back, for the lock message (`alice@laptop`).
    pub holder: String,
    /// Lock lifetime; renewed while the rollback runs, so a crashed holder's lock frees
    /// itself after at most this long.
    pub lock_ttl: Duration,
    pub capture_progress: Arc<dyn Progress>,
    pub on_op: Option<OpProgress>,
}

impl std::fmt::Debug for ExecuteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecuteOptions")
            .field("holder", &self.holder)
            .field("lock_ttl", &self.lock_ttl)
            .finish_non_exhaustive()
    }
}

impl Default for ExecuteOptions {
    fn default() -> Self {
        ExecuteOptions {
            holder: "backtrack".into(),
            lock_ttl: Duration::from_secs(120),
            capture_progress: Arc::new(NoProgress),
            on_op: None,
        }
    }
}

/// The state after a rollback, compared with the target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    /// No restorable difference remains.
    pub clean: bool,
    /// Operations a new plan would still need (empty when clean).
    pub residual: Vec<PlannedOp>,
    /// Differences that no rollback can undo.
    pub irrecoverable: Vec<Irrecoverable>,
}

/// What `rollback --execute` did.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    pub job: JobId,
    /// This run continued an interrupted job.
    pub resumed: bool,
    pub plan: RollbackPlan,
    pub pre_rollback_snapshot: SnapshotId,
    /// Plan indices of the operations this run wrote.
    pub executed: Vec<u64>,
    /// Operations found already done (journaled earlier, or found by marker).
    pub already_done: u64,
    pub verification: Verification,
    /// The command that undoes this rollback.
    pub undo: String,
}

/// The holder description plus the facts needed to tell a dead holder on this machine.
fn lock_for(scope: &crate::Scope, opts: &ExecuteOptions) -> LockInfo {
    LockInfo::new(
        scope,
        format!(
            "rollback by {} on {} (pid {})",
            opts.holder,
            hostname(),
            std::process::id()
        ),
        opts.lock_ttl,
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Whether the lock was taken by a process on this machine that no longer runs: such a
/// lock can be taken over at once instead of waiting for it to expire. Only decidable where
/// `/proc` exists; elsewhere the expiry is the fallback.
fn holder_is_dead(lock: &LockInfo) -> bool {
    let host = hostname();
    let Some(rest) = lock.holder.rsplit_once(&format!(" on {host} (pid ")) else {
        return false;
    };
    let Some(pid) = rest.1.strip_suffix(')').and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    std::path::Path::new("/proc/self").exists()
        && pid != std::process::id()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

async fn acquire(archive: &Archive, lock: &LockInfo) -> Result<()> {
    match archive.catalog.lock(lock).await {
        Ok(()) => Ok(()),
        Err(CatalogError::Locked(current)) if holder_is_dead(&current) => {
            tracing::warn!(holder = %current.holder, "taking over the lock of a process that no longer runs");
            archive
                .catalog
                .unlock(&current.scope, &current.token)
                .await?;
            Ok(archive.catalog.lock(lock).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// The object-store key of a job's plan.
pub(crate) fn plan_key(scope: &crate::Scope, job: &JobId) -> String {
    crate::keys::job_plan(scope, job)
}

/// Computes the plan against the current live state (the preview, and verification).
pub async fn preview(
    tracker: Arc<dyn Tracker>,
    target_entry: &SnapshotEntry,
    target: &RecordSet,
    options: &RollbackOptions,
    progress: Arc<dyn Progress>,
) -> Result<RollbackPlan> {
    let live = fetch_live(tracker, progress, true).await?;
    Ok(make_plan(target_entry, target, &live, options))
}

pub(crate) fn make_plan(
    target_entry: &SnapshotEntry,
    target: &RecordSet,
    live: &RecordSet,
    options: &RollbackOptions,
) -> RollbackPlan {
    let reference = target_entry
        .name
        .clone()
        .unwrap_or_else(|| target_entry.id.to_string());
    let planned = plan(target, live, options, &reference);
    RollbackPlan {
        scope: target_entry.scope.clone(),
        target: target_entry.id,
        target_name: target_entry.name.clone(),
        created_at: Utc::now(),
        options: options.clone(),
        ops: planned.ops,
        irrecoverable: planned.irrecoverable,
    }
}

/// Runs (or resumes) a rollback to `target_entry`.
pub async fn execute(
    archive: &Archive,
    tracker: Arc<dyn Tracker>,
    target_entry: &SnapshotEntry,
    target: &RecordSet,
    options: &RollbackOptions,
    opts: &ExecuteOptions,
) -> Result<RollbackReport> {
    let scope = target_entry.scope.clone();
    let lock = lock_for(&scope, opts);
    acquire(archive, &lock).await?;
    let result = run_locked(archive, tracker, target_entry, target, options, opts, &lock).await;
    if let Err(e) = archive.catalog.unlock(&scope, &lock.token).await {
        tracing::warn!(error = %e, "could not release the lock; it expires by itself");
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn run_locked(
    archive: &Archive,
    tracker: Arc<dyn Tracker>,
    target_entry: &SnapshotEntry,
    target: &RecordSet,
    options: &RollbackOptions,
    opts: &ExecuteOptions,
    lock: &LockInfo,
) -> Result<RollbackReport> {
    let scope = &target_entry.scope;
    let fingerprint = RollbackPlan::fingerprint(scope, &target_entry.id, options);

    // Resume the open job of the same command; retire open jobs of other commands.
    let mut job = None;
    for j in archive.catalog.list_jobs(scope).await? {
        if j.status.is_finished() {
            continue;
        }
        if j.fingerprint == fingerprint && job.is_none() {
            job = Some(j);
        } else {
            let mut retired = j.clone();
            retired.status = JobStatus::Failed;
            retired.error = Some("superseded by a newer rollback of this scope".into());
            retired.updated_at = Utc::now();
            archive.catalog.update_job(&retired, j.status).await?;
        }
    }
    let resumed = job.is_some();
    let mut job = match job {
        Some(j) => j,
        None => {
            let id = JobId::new();
            let now = Utc::now();
            let j = JobEntry {
                id,
                scope: scope.clone(),
                target: target_entry.id,
                fingerprint,
                plan_key: plan_key(scope, &id),
                status: JobStatus::Running,
                pre_snapshot: None,
                total_ops: 0,
                created_at: now,
                updated_at: now,
                error: None,
            };
            archive.catalog.create_job(&j).await?;
            j
        }
    };

    // The pre-rollback snapshot is both the undo point and the live state the plan is
    // computed from, so the repository is read once, not twice.
    let (pre, taken) = pre_rollback_snapshot(
        archive,
        &tracker,
        &job,
        &lock.token,
        opts.capture_progress.clone(),
    )
    .await?;
    if taken {
        let mut updated = job.clone();
        updated.pre_snapshot = Some(pre.id);
        updated.updated_at = Utc::now();
        archive.catalog.update_job(&updated, job.status).await?;
        job = updated;
    }

    let plan = match archive.store.get(&job.plan_key).await {
        Ok(bytes) => {
            let text = crate::blob::decompress(&job.plan_key, &bytes)?;
            serde_json::from_slice::<RollbackPlan>(&text).map_err(|e| {
                Error::Internal(format!(
                    "the stored plan {} is unreadable: {e}",
                    job.plan_key
                ))
            })?
        }
        Err(crate::store::StoreError::NotFound { .. }) => {
            let manifest = archive.load_manifest(&pre).await?;
            let live = archive.load_records(&manifest, true).await?;
            let plan = make_plan(target_entry, target, &live, options);
            let bytes = blob::canonical_json(&plan).map_err(|source| blob::BlobError::Encode {
                what: "plan",
                source,
            })?;
            let put = archive
                .store
                .put(&job.plan_key, Bytes::from(blob::compress(&bytes)))
                .await?;
            debug_assert!(matches!(put, PutOutcome::Written | PutOutcome::Existed));
            let mut updated = job.clone();
            updated.total_ops = plan.ops.len() as u64;
            updated.updated_at = Utc::now();
            archive.catalog.update_job(&updated, job.status).await?;
            job = updated;
            plan
        }
        Err(e) => return Err(e.into()),
    };

    let done: std::collections::HashSet<u64> = archive
        .catalog
        .journal(&job.id)
        .await?
        .into_iter()
        .map(|e| e.op)
        .collect();
    let mut ctx = ApplyContext::default();
    let mut executed = Vec::new();
    let mut already_done = 0u64;
    let mut last_renew = Instant::now();
    let mut lock = lock.clone();
    let total = plan.ops.len();
    for (n, planned) in plan.ops.iter().enumerate() {
        if done.contains(&planned.index) {
            already_done += 1;
            continue;
        }
        if last_renew.elapsed() > opts.lock_ttl / 3 {
            lock.expires_at = Utc::now()
                + chrono::Duration::from_std(opts.lock_ttl).unwrap_or(chrono::Duration::minutes(2));
            archive.catalog.renew_lock(&lock).await?;
            last_renew = Instant::now();
        }
        match apply_journaled(
            archive,
            tracker.as_ref(),
            &job.id,
            planned,
            resumed,
            &mut ctx,
        )
        .await?
        {
            Applied::Found => already_done += 1,
            Applied::Executed => executed.push(planned.index),
        }
        if let Some(cb) = &opts.on_op {
            cb(planned, n + 1, total);
        }
    }

    // Verify: plan again against what is live now. A clean rollback needs nothing more.
    let live = fetch_live(tracker.clone(), opts.capture_progress.clone(), true).await?;
    let again = make_plan(target_entry, target, &live, options);
    let verification = Verification {
        clean: again.ops.is_empty(),
        residual: again.ops,
        irrecoverable: plan.irrecoverable.clone(),
    };
    let mut finished = job.clone();
    finished.status = JobStatus::Completed;
    finished.updated_at = Utc::now();
    if !verification.clean {
        finished.error = Some(format!(
            "{} difference(s) remain after execution",
            verification.residual.len()
        ));
    }
    archive.catalog.update_job(&finished, job.status).await?;

    Ok(RollbackReport {
        job: job.id,
        resumed,
        undo: format!("backtrack restore {}", pre.id),
        pre_rollback_snapshot: pre.id,
        plan,
        executed,
        already_done,
        verification,
    })
}

/// What [`apply_journaled`] did with an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// A resumed run found its effect already there (a recreated comment, by its marker).
    Found,
    /// The write was made.
    Executed,
}

/// Applies one planned operation so that retries never repeat it: on a resumed job a
/// recreated comment is first looked for by its hidden marker; the outcome goes to the
/// journal, where a duplicate append (a concurrent runner recorded the same operation) is
/// not an error.
pub(crate) async fn apply_journaled(
    archive: &Archive,
    tracker: &dyn Tracker,
    job: &crate::id::JobId,
    planned: &super::PlannedOp,
    resumed: bool,
    ctx: &mut crate::tracker::ApplyContext,
) -> Result<Applied> {
    let found = match &planned.op {
        Operation::RecreateComment {
            issue, original_id, ..
        } if resumed => tracker.find_restored_comment(*issue, *original_id).await?,
        _ => None,
    };
    let (result, applied) = match found {
        Some(id) => (serde_json::json!({"id": id, "found": true}), Applied::Found),
        None => (tracker.apply(&planned.op, ctx).await?, Applied::Executed),
    };
    match archive
        .catalog
        .journal_append(&JournalEntry {
            job: *job,
            op: planned.index,
            done_at: Utc::now(),
            result,
        })
        .await
    {
        Ok(()) | Err(CatalogError::Conflict { .. }) => Ok(applied),
        Err(e) => Err(e.into()),
    }
}

/// A rollback job's pre-rollback snapshot: the undo point, and the live state its plan is
/// computed from. The one the job recorded if it completed, otherwise a new one, always
/// full: a plan is only as good as its view of the live state, so it lists everything
/// rather than trust a merge. Returns it and whether it was just taken (the caller records
/// its id on the job).
pub(crate) async fn pre_rollback_snapshot(
    archive: &Archive,
    tracker: &Arc<dyn Tracker>,
    job: &crate::catalog::JobEntry,
    lock_token: &str,
    progress: Arc<dyn crate::tracker::Progress>,
) -> Result<(crate::SnapshotEntry, bool)> {
    if let Some(id) = job.pre_snapshot {
        if let Some(entry) = archive
            .catalog
            .get(&id)
            .await?
            .filter(|e| e.status == crate::SnapshotStatus::Completed)
        {
            return Ok((entry, false));
        }
    }
    let report = archive
        .create_snapshot(
            tracker.clone(),
            &SnapshotOptions {
                name: Some(SnapshotName::parse(&format!("pre-rollback {}", job.id))?),
                // A resumed job may take it again after a crash that left the first one
                // unrecorded.
                reuse_name: true,
                trigger: Trigger::PreRollback,
                lock_token: Some(lock_token.to_string()),
                full: true,
                progress,
                ..SnapshotOptions::default()
            },
        )
        .await?;
    let entry = archive
        .catalog
        .get(&report.id)
        .await?
        .ok_or_else(|| Error::Internal("the pre-rollback snapshot vanished".into()))?;
    Ok((entry, true))
}
