//! A rollback run by a process (the CLI, the demo): the scope's lock held in-process, the
//! job found again by its [`ResumeKey`] when the same command is re-run, no budget.
//!
//! The work itself is the engine's ([`run`](super::run)); this module adds what only a
//! process has: a preview that knows about an interrupted job of the same command, taking
//! the lock (and over a dead local holder's), and releasing it whatever happens.

use std::sync::Arc;

use serde::Serialize;

use super::run::{self, Engine, HeldLock, Step, Target};
use super::{
    Budget, Confirmed, OpProgress, PlanFingerprint, PlanProgress, ResumeKey, RollbackOptions,
    RollbackPlan, RollbackReport,
};
use crate::catalog::{CatalogError, JobEntry, JobStatus, LockInfo};
use crate::error::{Error, Result};
use crate::id::JobId;
use crate::record::RecordSet;
use crate::snapshot::Archive;
use crate::tracker::{NoProgress, Progress, Tracker, TrackerWriter};
use crate::SnapshotEntry;

/// How to run.
#[derive(Clone)]
pub struct ExecuteOptions {
    /// Who is rolling back, for the lock message (`alice`).
    pub holder: String,
    pub capture_progress: Arc<dyn Progress>,
    /// Called once the plan to execute is known, before the first write.
    pub on_plan: Option<PlanProgress>,
    pub on_op: Option<OpProgress>,
}

impl std::fmt::Debug for ExecuteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecuteOptions")
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl Default for ExecuteOptions {
    fn default() -> Self {
        ExecuteOptions {
            holder: "backtrack".into(),
            capture_progress: Arc::new(NoProgress),
            on_plan: None,
            on_op: None,
        }
    }
}

/// What `rollback` shows before it asks: the plan `--execute` would run, and its
/// fingerprint, which execution checks.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub fingerprint: PlanFingerprint,
    pub plan: RollbackPlan,
    /// Set when an interrupted job of the same command is pending: the plan is that job's,
    /// and `--execute` continues it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resuming: Option<Resuming>,
}

/// An interrupted job a preview found.
#[derive(Debug, Clone, Serialize)]
pub struct Resuming {
    pub job: JobId,
    /// Plan indices already written.
    pub done: Vec<u64>,
}

impl Preview {
    pub fn new(plan: RollbackPlan) -> Preview {
        Preview {
            fingerprint: plan.fingerprint(),
            plan,
            resuming: None,
        }
    }

    /// Writes still to make.
    pub fn remaining(&self) -> usize {
        self.plan.ops.len() - self.resuming.as_ref().map_or(0, |r| r.done.len())
    }

    /// Nothing to write and no job to finish.
    pub fn is_empty(&self) -> bool {
        self.plan.is_empty() && self.resuming.is_none()
    }
}

/// What [`execute`] ended with.
#[derive(Debug)]
pub enum Executed {
    /// The rollback ran and was verified.
    Done(Box<RollbackReport>),
    /// Nothing was written: planned from the pre-rollback snapshot, the plan is not the one
    /// confirmed. Confirm this one (a new [`execute`] takes a fresh pre-rollback snapshot and
    /// checks again) or give up.
    Changed(Box<RollbackPlan>),
}

/// The preview for a rollback to `target_entry`: the stored plan of an interrupted job of
/// the same command (which `--execute` resumes), else a plan against the live state.
pub async fn preview(
    archive: &Archive,
    tracker: Arc<dyn Tracker>,
    target_entry: &SnapshotEntry,
    target: &RecordSet,
    options: &RollbackOptions,
    progress: Arc<dyn Progress>,
) -> Result<Preview> {
    let key = ResumeKey::of(&target_entry.scope, &target_entry.id, options);
    if let Some(job) = open_job(archive, &target_entry.scope, &key).await? {
        match run::read_json::<RollbackPlan>(archive, &job.plan_key).await {
            Ok(plan) => {
                let mut done: Vec<u64> = archive
                    .catalog
                    .journal(&job.id)
                    .await?
                    .into_iter()
                    .map(|e| e.op)
                    .collect();
                done.sort_unstable();
                let mut preview = Preview::new(plan);
                preview.resuming = Some(Resuming { job: job.id, done });
                return Ok(preview);
            }
            Err(Error::Store(crate::store::StoreError::NotFound { .. })) => {}
            Err(e) => return Err(e),
        }
    }
    let plan = run::plan_against_live(tracker, target_entry, target, options, progress).await?;
    Ok(Preview::new(plan))
}

/// The unfinished job of this command, if any.
async fn open_job(
    archive: &Archive,
    scope: &crate::Scope,
    key: &ResumeKey,
) -> Result<Option<JobEntry>> {
    Ok(archive
        .catalog
        .list_jobs(scope)
        .await?
        .into_iter()
        .find(|j| !j.status.is_finished() && j.resume_key == key.as_str()))
}

/// Runs (or resumes) a rollback to `target_entry`, if its plan is the one `confirmed`.
pub async fn execute(
    archive: &Archive,
    tracker: Arc<dyn TrackerWriter>,
    target_entry: &SnapshotEntry,
    target: &RecordSet,
    options: &RollbackOptions,
    confirmed: &Confirmed,
    opts: &ExecuteOptions,
) -> Result<Executed> {
    let scope = &target_entry.scope;
    let mut lock = HeldLock::for_process(scope, &opts.holder);
    acquire(archive, &lock.info).await?;
    let engine = Engine {
        archive,
        tracker,
        progress: opts.capture_progress.clone(),
        on_plan: opts.on_plan.clone(),
        on_op: opts.on_op.clone(),
    };
    let target = Target {
        entry: target_entry,
        records: target,
    };
    let result = run_locked(&engine, &mut lock, target, options, confirmed).await;
    if let Err(e) = archive.catalog.unlock(scope, &lock.info.token).await {
        tracing::warn!(error = %e, "could not release the lock; it expires by itself");
    }
    result
}

async fn run_locked(
    engine: &Engine<'_>,
    lock: &mut HeldLock,
    target: Target<'_>,
    options: &RollbackOptions,
    confirmed: &Confirmed,
) -> Result<Executed> {
    let archive = engine.archive;
    let scope = &target.entry.scope;
    let key = ResumeKey::of(scope, &target.entry.id, options);
    // Resume the open job of the same command; retire open jobs of other commands.
    let existing = open_job(archive, scope, &key).await?;
    run::retire_others(archive, scope, existing.as_ref().map(|j| &j.id)).await?;
    let resumed = existing.is_some();
    let mut job = match existing {
        Some(job) => job,
        None => {
            let job = run::new_job(JobId::new(), target.entry, &key, JobStatus::Running);
            archive.catalog.create_job(&job).await?;
            job
        }
    };
    let step = engine
        .run(
            &mut job,
            lock,
            target,
            options,
            confirmed,
            Budget::unlimited(),
            resumed,
        )
        .await?;
    match step {
        Step::Finished(report) => Ok(Executed::Done(report)),
        Step::Changed(plan) => {
            // Nothing was written. A later confirmation starts over from a fresh
            // pre-rollback snapshot, so the plan it runs is made from the newest state.
            run::retire(
                archive,
                &mut job,
                "the plan changed since it was confirmed; nothing was written",
            )
            .await?;
            Ok(Executed::Changed(plan))
        }
        Step::Paused { .. } => Err(Error::Internal(
            "an unlimited rollback run stopped before its end".into(),
        )),
    }
}

/// Whether the lock was taken by a process on this machine that no longer runs: such a
/// lock can be taken over at once instead of waiting for it to expire. Only decidable where
/// `/proc` exists; elsewhere the expiry is the fallback.
fn holder_is_dead(lock: &LockInfo) -> bool {
    let host = run::hostname();
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
