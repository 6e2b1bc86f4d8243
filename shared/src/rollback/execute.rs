//! A rollback run by a process (the CLI, the demo): the scope's lock held in-process, the
//! job found again by its [`ResumeKey`] when the same command is re-run, no budget.
//!
//! The work itself is the engine's ([`run`](super::run)); this module adds what only a
//! process has: taking the lock (and over a dead local holder's), finding its job again,
//! and releasing the lock whatever happens.

use std::sync::Arc;

use super::run::{self, Engine, HeldLock, Rollback, Step};
use super::{Budget, Confirmed, OpProgress, PlanProgress, RollbackPlan, RollbackReport};
use crate::catalog::{CatalogError, JobStatus, LockInfo};
use crate::error::{Error, Result};
use crate::id::JobId;
use crate::snapshot::Archive;
use crate::tracker::{NoProgress, Progress, TrackerWriter};

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

/// Runs (or resumes) `rollback`, if its plan is the one `confirmed`.
pub async fn execute(
    archive: &Archive,
    tracker: Arc<dyn TrackerWriter>,
    rollback: &Rollback<'_>,
    confirmed: &Confirmed,
    opts: &ExecuteOptions,
) -> Result<Executed> {
    let scope = rollback.scope();
    let mut lock = HeldLock::for_process(scope, &opts.holder);
    acquire(archive, &lock.info).await?;
    let engine = Engine {
        archive,
        tracker,
        progress: opts.capture_progress.clone(),
        on_plan: opts.on_plan.clone(),
        on_op: opts.on_op.clone(),
    };
    let result = run_locked(&engine, &mut lock, rollback, confirmed).await;
    if let Err(e) = archive.catalog.unlock(scope, &lock.info.token).await {
        tracing::warn!(error = %e, "could not release the lock; it expires by itself");
    }
    result
}

async fn run_locked(
    engine: &Engine<'_>,
    lock: &mut HeldLock,
    rollback: &Rollback<'_>,
    confirmed: &Confirmed,
) -> Result<Executed> {
    let archive = engine.archive;
    let scope = rollback.scope();
    // Resume the open job of the same command; retire open jobs of other commands.
    let existing = run::open_job(archive, scope, &rollback.resume_key()).await?;
    run::retire_others(archive, scope, existing.as_ref().map(|j| &j.id)).await?;
    let resumed = existing.is_some();
    let mut job = match existing {
        Some(job) => job,
        None => {
            let job = run::new_job(JobId::new(), rollback, JobStatus::Running);
            run::create_job(archive, rollback, &job).await?;
            job
        }
    };
    let step = engine
        .run(
            &mut job,
            lock,
            rollback,
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
