//! Rollback as a queued job that runs in bounded slices (the serverless bundle's `restore`).
//!
//! A large rollback outlasts one 15-minute Lambda invocation under GitHub's write limits, so
//! the work of [`execute`](super::execute::execute) is cut into slices: [`start`] takes the
//! scope's lock *for the job* (its token names the job, so any later invocation can renew or
//! release it) and records the job `queued`; each [`run_slice`] then continues where the
//! catalog says the job is — pre-rollback snapshot, stored plan, journaled operations,
//! verification — until its [`SliceBudget`] is spent, and answers whether more remains. The
//! caller schedules the next slice (an SQS message).
//!
//! What keeps a redelivered or duplicated message from repeating a write:
//! - a per-job claim (see [`Catalog::claim`](crate::Catalog::claim)) lets one slice run at a
//!   time; a duplicate finds it held and does nothing (the holder schedules the next slice);
//!   the claim expires with the invocation, so a crashed slice's redelivery can take over;
//! - the journal records each operation after its write; a slice skips journaled operations;
//! - the one write that may lack its journal entry (a crash in between) is an idempotent PATCH
//!   or a comment creation, which a `resumed` slice looks for by its hidden marker first.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use serde::Serialize;

use super::execute::{apply_journaled, make_plan, plan_key, pre_rollback_snapshot, Verification};
use super::{RollbackOptions, RollbackPlan};
use crate::blob;
use crate::catalog::{CatalogError, Claim, JobEntry, JobStatus, LockInfo};
use crate::error::{Error, Result};
use crate::id::JobId;
use crate::scope::Scope;
use crate::snapshot::{fetch_live, Archive};
use crate::tracker::{ApplyContext, NoProgress, Tracker};
use crate::{SnapshotEntry, SnapshotStatus};

/// How long a slice's claim outlives its deadline: the bookkeeping after the last operation.
const SLICE_CLAIM_SLACK: Duration = Duration::from_secs(90);

/// How much one slice may do.
#[derive(Debug, Clone, Copy)]
pub struct SliceBudget {
    /// Stop starting operations after this instant (the invocation's deadline minus a
    /// margin for the bookkeeping that follows).
    pub deadline: Option<Instant>,
    /// Stop after this many operations.
    pub max_ops: Option<usize>,
}

impl SliceBudget {
    pub fn unlimited() -> Self {
        SliceBudget {
            deadline: None,
            max_ops: None,
        }
    }

    /// Every slice applies at least one operation, so a job always progresses even when a
    /// slice starts late (a long pre-rollback snapshot ate its time).
    fn spent(&self, ops: usize) -> bool {
        ops > 0
            && (self.max_ops.is_some_and(|max| ops >= max)
                || self.deadline.is_some_and(|d| Instant::now() >= d))
    }
}

/// What a slice left behind.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SliceOutcome {
    /// More remains: schedule another slice.
    Continue { job: JobEntry, done: u64 },
    /// The job is finished (`completed` or `failed`); nothing more to schedule.
    Finished {
        job: JobEntry,
        verification: Option<Verification>,
    },
    /// Another slice of this job holds its claim; it schedules what follows.
    Busy { job: JobId },
}

/// The lock token a job holds its scope's lock with.
pub fn lock_token(job: &JobId) -> String {
    format!("job:{job}")
}

/// The job holding `lock`, when a job holds it.
pub fn job_of_lock(lock: &LockInfo) -> Option<JobId> {
    lock.token.strip_prefix("job:")?.parse().ok()
}

fn job_lock(scope: &Scope, job: &JobId, ttl: Duration) -> LockInfo {
    let mut lock = LockInfo::new(scope, format!("restore job {job}"), ttl);
    lock.token = lock_token(job);
    lock
}

fn options_key(scope: &Scope, job: &JobId) -> String {
    crate::keys::job_options(scope, job)
}

/// Takes the scope's lock for a new job and records the job `queued` with its options. Fails
/// with [`CatalogError::Locked`] while anything else holds the scope.
pub async fn start(
    archive: &Archive,
    target: &SnapshotEntry,
    options: &RollbackOptions,
    lock_ttl: Duration,
) -> Result<JobEntry> {
    if target.status != SnapshotStatus::Completed {
        return Err(Error::Invalid(format!(
            "snapshot {} is {}; only completed snapshots can be restored",
            target.id, target.status
        )));
    }
    let scope = &target.scope;
    let id = JobId::new();
    let lock = job_lock(scope, &id, lock_ttl);
    archive.catalog.lock(&lock).await?;
    let started = async {
        let bytes = blob::canonical_json(options).map_err(|source| blob::BlobError::Encode {
            what: "rollback options",
            source,
        })?;
        archive
            .store
            .put(
                &options_key(scope, &id),
                Bytes::from(blob::compress(&bytes)),
            )
            .await?;
        let now = Utc::now();
        let job = JobEntry {
            id,
            scope: scope.clone(),
            target: target.id,
            fingerprint: RollbackPlan::fingerprint(scope, &target.id, options),
            plan_key: plan_key(scope, &id),
            status: JobStatus::Queued,
            pre_snapshot: None,
            total_ops: 0,
            created_at: now,
            updated_at: now,
            error: None,
        };
        archive.catalog.create_job(&job).await?;
        Ok::<_, Error>(job)
    }
    .await;
    if started.is_err() {
        let _ = archive.catalog.unlock(scope, &lock.token).await;
    }
    started
}

/// Runs one slice of `job`. `resumed`: an earlier attempt of this slice may have written
/// without journaling (a redelivered message), so recreated comments are looked up by marker
/// before posting. A non-retryable failure marks the job `failed` and releases the lock; a
/// retryable one is returned for the queue to redeliver.
pub async fn run_slice(
    archive: &Archive,
    tracker: Arc<dyn Tracker>,
    job: &JobId,
    budget: SliceBudget,
    lock_ttl: Duration,
    resumed: bool,
) -> Result<SliceOutcome> {
    let Some(entry) = archive.catalog.get_job(job).await? else {
        return Err(Error::Invalid(format!("no restore job {job}")));
    };
    if entry.status.is_finished() {
        return Ok(SliceOutcome::Finished {
            job: entry,
            verification: None,
        });
    }
    // The claim must lapse before the queue redelivers a crashed slice's message (the
    // queue's visibility timeout exceeds the invocation's timeout), or that redelivery would
    // find it held and be dropped: it lasts until the slice's deadline plus some slack.
    let claim_ttl = budget
        .deadline
        .map(|d| d.saturating_duration_since(Instant::now()) + SLICE_CLAIM_SLACK)
        .unwrap_or(lock_ttl);
    let claim = Claim::new(format!("job-slice#{job}"), claim_ttl);
    if !archive.catalog.claim(&claim).await? {
        return Ok(SliceOutcome::Busy { job: *job });
    }
    let result = slice(archive, tracker, entry, budget, lock_ttl, resumed).await;
    let outcome = match result {
        Ok(outcome) => Ok(outcome),
        Err(e) if e.is_retryable() => Err(e),
        Err(e) => fail(archive, job, &e.to_string()).await,
    };
    if let Err(e) = archive
        .catalog
        .release_claim(&claim.key, &claim.token)
        .await
    {
        tracing::warn!(error = %e, "could not release the slice claim; it expires by itself");
    }
    outcome
}

/// Marks the job failed and frees its scope.
async fn fail(archive: &Archive, job: &JobId, why: &str) -> Result<SliceOutcome> {
    let Some(current) = archive.catalog.get_job(job).await? else {
        return Err(Error::Invalid(format!("no restore job {job}")));
    };
    let mut failed = current.clone();
    if !current.status.is_finished() {
        failed.status = JobStatus::Failed;
        failed.error = Some(why.to_string());
        failed.updated_at = Utc::now();
        archive.catalog.update_job(&failed, current.status).await?;
    }
    archive
        .catalog
        .unlock(&current.scope, &lock_token(job))
        .await?;
    Ok(SliceOutcome::Finished {
        job: failed,
        verification: None,
    })
}

/// Replaces the job row, expecting its current status.
async fn update(
    archive: &Archive,
    job: &mut JobEntry,
    edit: impl FnOnce(&mut JobEntry),
) -> Result<()> {
    let mut next = job.clone();
    edit(&mut next);
    next.updated_at = Utc::now();
    archive.catalog.update_job(&next, job.status).await?;
    *job = next;
    Ok(())
}

async fn slice(
    archive: &Archive,
    tracker: Arc<dyn Tracker>,
    mut job: JobEntry,
    budget: SliceBudget,
    lock_ttl: Duration,
    resumed: bool,
) -> Result<SliceOutcome> {
    let mut lock = job_lock(&job.scope, &job.id, lock_ttl);
    if let Err(e) = archive.catalog.renew_lock(&lock).await {
        return match e {
            CatalogError::Conflict { .. } => Err(Error::Refused(format!(
                "restore job {} lost the lock on {} (it expired and was taken over)",
                job.id, job.scope
            ))),
            e => Err(e.into()),
        };
    }
    if job.status == JobStatus::Queued {
        update(archive, &mut job, |j| j.status = JobStatus::Running).await?;
    }
    let target_entry = archive
        .catalog
        .get(&job.target)
        .await?
        .ok_or_else(|| Error::Invalid(format!("the target snapshot {} is gone", job.target)))?;
    let target = archive
        .load_records(&archive.load_manifest(&target_entry).await?, true)
        .await?;
    let options: RollbackOptions = read_json(archive, &options_key(&job.scope, &job.id)).await?;

    // The pre-rollback snapshot: the undo point, and the live state the plan is made from.
    let (pre, taken) =
        pre_rollback_snapshot(archive, &tracker, &job, &lock.token, Arc::new(NoProgress)).await?;
    if taken {
        update(archive, &mut job, |j| j.pre_snapshot = Some(pre.id)).await?;
    }

    let plan: RollbackPlan = match read_json(archive, &job.plan_key).await {
        Ok(plan) => plan,
        Err(Error::Store(crate::store::StoreError::NotFound { .. })) => {
            let live = archive
                .load_records(&archive.load_manifest(&pre).await?, true)
                .await?;
            let plan = make_plan(&target_entry, &target, &live, &options);
            let bytes = blob::canonical_json(&plan).map_err(|source| blob::BlobError::Encode {
                what: "plan",
                source,
            })?;
            archive
                .store
                .put(&job.plan_key, Bytes::from(blob::compress(&bytes)))
                .await?;
            let total = plan.ops.len() as u64;
            update(archive, &mut job, |j| j.total_ops = total).await?;
            plan
        }
        Err(e) => return Err(e),
    };

    let done: HashSet<u64> = archive
        .catalog
        .journal(&job.id)
        .await?
        .into_iter()
        .map(|e| e.op)
        .collect();
    let mut ctx = ApplyContext::default();
    let mut this_slice = 0usize;
    let mut last_renew = Instant::now();
    let mut finished_ops = done.len() as u64;
    for planned in &plan.ops {
        if done.contains(&planned.index) {
            continue;
        }
        if budget.spent(this_slice) {
            return Ok(SliceOutcome::Continue {
                job,
                done: finished_ops,
            });
        }
        if last_renew.elapsed() > lock_ttl / 3 {
            lock.expires_at = Utc::now()
                + chrono::Duration::from_std(lock_ttl).unwrap_or(chrono::Duration::minutes(15));
            archive.catalog.renew_lock(&lock).await?;
            last_renew = Instant::now();
        }
        apply_journaled(
            archive,
            tracker.as_ref(),
            &job.id,
            planned,
            resumed,
            &mut ctx,
        )
        .await?;
        this_slice += 1;
        finished_ops += 1;
    }

    // Verify: plan again against the live state. A clean rollback needs nothing more.
    let live = fetch_live(tracker, Arc::new(NoProgress), true).await?;
    let again = make_plan(&target_entry, &target, &live, &options);
    let verification = Verification {
        clean: again.ops.is_empty(),
        residual: again.ops,
        irrecoverable: plan.irrecoverable.clone(),
    };
    let residual = verification.residual.len();
    update(archive, &mut job, |j| {
        j.status = JobStatus::Completed;
        if residual > 0 {
            j.error = Some(format!("{residual} difference(s) remain after execution"));
        }
    })
    .await?;
    if let Err(e) = archive.catalog.unlock(&job.scope, &lock.token).await {
        tracing::warn!(error = %e, "could not release the lock; it expires by itself");
    }
    Ok(SliceOutcome::Finished {
        job,
        verification: Some(verification),
    })
}

async fn read_json<T: serde::de::DeserializeOwned>(archive: &Archive, key: &str) -> Result<T> {
    let bytes = archive.store.get(key).await?;
    let text = blob::decompress(key, &bytes)?;
    serde_json::from_slice(&text)
        .map_err(|e| Error::Internal(format!("the stored object {key} is unreadable: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::MemoryCatalog;
    use crate::manifest::Trigger;
    use crate::store::MemoryStore;

    /// Starting a job takes the scope's lock in the job's name, so a second start (or a
    /// snapshot) of the scope is refused naming the job.
    #[tokio::test]
    async fn a_started_job_holds_the_scope() {
        let archive = Archive::new(Arc::new(MemoryStore::new()), Arc::new(MemoryCatalog::new()));
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        let now = Utc::now();
        let target = SnapshotEntry {
            id: crate::SnapshotId::new(),
            scope: scope.clone(),
            name: None,
            trigger: Trigger::Manual,
            status: SnapshotStatus::Completed,
            created_at: now,
            finished_at: Some(now),
            counts: Default::default(),
            bytes: Default::default(),
            requests: 0,
            manifest_key: "m".into(),
            parent: None,
            pinned: false,
            expires_at: None,
            error: None,
            manifest_hash: None,
            lease: None,
        };
        let options = RollbackOptions::new(now);
        let job = start(&archive, &target, &options, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(job.status, JobStatus::Queued);
        let held = archive.catalog.current_lock(&scope).await.unwrap().unwrap();
        assert_eq!(job_of_lock(&held), Some(job.id));
        match start(&archive, &target, &options, Duration::from_secs(60)).await {
            Err(Error::Catalog(CatalogError::Locked(lock))) => {
                assert_eq!(job_of_lock(&lock), Some(job.id))
            }
            other => panic!("expected Locked, got {other:?}"),
        }
    }
}
