//! Rollback as a queued job that runs in bounded slices (the serverless bundle's `restore`).
//!
//! A large rollback outlasts one 15-minute Lambda invocation under GitHub's write limits, so
//! the engine's work ([`run`](super::run)) is cut into slices: [`start`] checks that the plan
//! is still the one the caller confirmed, takes the scope's lock *for the job* (its token
//! names the job, so any later invocation can renew or release it) and records the job
//! `queued` with its request; each [`run_slice`] then continues the job within its
//! [`Budget`] and answers whether more remains. The caller schedules the next slice (an SQS
//! message).
//!
//! The plan is checked twice: when the job starts (against the live state) and in its first
//! slice (against the pre-rollback snapshot, which may be later still). A moved plan fails
//! the job, naming the difference, before anything is written.
//!
//! What keeps a redelivered or duplicated message from repeating a write:
//! - a per-job claim (see [`Catalog::claim`](crate::Catalog::claim)) lets one slice run at a
//!   time; a duplicate finds it held and does nothing (the holder schedules the next slice);
//!   the claim expires with the invocation, so a crashed slice's redelivery can take over;
//! - the journal records each operation after its write; a slice skips journaled operations;
//! - the one write that may lack its journal entry (a crash in between) is an idempotent PATCH
//!   or a creation, which a `resumed` slice looks for first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::run::{self, Engine, HeldLock, Rollback, Step};
use super::{Budget, Confirmed, PlanFingerprint, RollbackOptions, Verification};
use crate::catalog::{CatalogError, Claim, JobEntry, JobKind, JobStatus, LockInfo};
use crate::error::{Error, Result};
use crate::id::JobId;
use crate::scope::Scope;
use crate::snapshot::Archive;
use crate::tracker::{NoProgress, Tracker, TrackerWriter};
use crate::SnapshotStatus;

/// How long a slice's claim outlives its deadline: the bookkeeping after the last operation.
const SLICE_CLAIM_SLACK: Duration = Duration::from_secs(90);

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

/// The claim one run of a job holds, so that a duplicated queue message finds it taken.
pub fn slice_claim_key(job: &JobId) -> String {
    format!("job-slice#{job}")
}

/// The lock token a job holds its scope's lock with.
pub fn lock_token(job: &JobId) -> String {
    format!("job:{job}")
}

/// The job holding `lock`, when a job holds it.
pub fn job_of_lock(lock: &LockInfo) -> Option<JobId> {
    lock.token.strip_prefix("job:")?.parse().ok()
}

/// What a job was asked to do, stored beside it when it starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JobRequest {
    #[serde(flatten)]
    options: RollbackOptions,
    /// The plan the caller confirmed; `None`: run the plan as it is then (jobs stored
    /// before plans were confirmed read back this way too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    confirmed_plan: Option<PlanFingerprint>,
}

impl JobRequest {
    fn confirmed(&self) -> Confirmed {
        match &self.confirmed_plan {
            Some(fp) => Confirmed::Plan(fp.clone()),
            None => Confirmed::Replan,
        }
    }
}

fn request_key(scope: &Scope, job: &JobId) -> String {
    crate::keys::job_options(scope, job)
}

/// Starts a job for `rollback`: checks that the plan against the live state is still the
/// `confirmed` one ([`Error::PlanChanged`] naming the difference if not), takes the scope's
/// lock for the job and records the job `queued` with its request. Fails with
/// [`CatalogError::Locked`] while anything else holds the scope.
pub async fn start(
    archive: &Archive,
    tracker: Arc<dyn Tracker>,
    rollback: &Rollback<'_>,
    confirmed: &Confirmed,
) -> Result<JobEntry> {
    let target = rollback.target;
    if target.status != SnapshotStatus::Completed {
        return Err(Error::Invalid(format!(
            "snapshot {} is {}; only completed snapshots can be restored",
            target.id, target.status
        )));
    }
    if let Confirmed::Plan(fingerprint) = confirmed {
        let current = run::plan_against_live(tracker, rollback, Arc::new(NoProgress)).await?;
        if current.fingerprint() != *fingerprint {
            let change = run::change_since(archive, fingerprint, &current).await?;
            return Err(Error::PlanChanged(Box::new(change)));
        }
    }
    let scope = rollback.scope();
    let id = JobId::new();
    let lock = HeldLock::for_job(scope, &id);
    archive.catalog.lock(&lock.info).await?;
    let started = async {
        run::retire_others(archive, scope, None).await?;
        let request = JobRequest {
            options: rollback.options.clone(),
            confirmed_plan: match confirmed {
                Confirmed::Plan(fp) => Some(fp.clone()),
                Confirmed::Replan => None,
            },
        };
        let sealed = archive
            .put_sealed(&request_key(scope, &id), "rollback request", &request)
            .await?;
        let mut job = run::new_job(id, rollback, JobStatus::Queued);
        job.request_hash = Some(sealed.hash);
        run::create_job(archive, rollback, &job).await?;
        Ok::<_, Error>(job)
    }
    .await;
    if started.is_err() {
        let _ = archive.catalog.unlock(scope, &lock.info.token).await;
    }
    started
}

/// Runs one slice of `job`. `resumed`: an earlier attempt of this slice may have written
/// without journaling (a redelivered message), so creations are looked for before they are
/// repeated. A non-retryable failure marks the job `failed` and releases the lock; a
/// retryable one is returned for the queue to redeliver.
pub async fn run_slice(
    archive: &Archive,
    tracker: Arc<dyn TrackerWriter>,
    job: &JobId,
    budget: Budget,
    resumed: bool,
) -> Result<SliceOutcome> {
    let Some(entry) = archive.catalog.get_job(job).await? else {
        return Err(Error::Invalid(format!("no restore job {job}")));
    };
    if entry.kind != JobKind::Restore {
        return Err(Error::Invalid(format!(
            "job {job} is a {} job, not a restore",
            entry.kind
        )));
    }
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
        .unwrap_or(run::JOB_LOCK_TTL);
    let claim = Claim::new(slice_claim_key(job), claim_ttl);
    if !archive.catalog.claim(&claim).await? {
        return Ok(SliceOutcome::Busy { job: *job });
    }
    let result = slice(archive, tracker, entry, budget, resumed).await;
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
pub async fn fail(archive: &Archive, job: &JobId, why: &str) -> Result<SliceOutcome> {
    let Some(mut current) = archive.catalog.get_job(job).await? else {
        return Err(Error::Invalid(format!("no restore job {job}")));
    };
    run::retire(archive, &mut current, why).await?;
    archive
        .catalog
        .unlock(&current.scope, &lock_token(job))
        .await?;
    Ok(SliceOutcome::Finished {
        job: current,
        verification: None,
    })
}

async fn slice(
    archive: &Archive,
    tracker: Arc<dyn TrackerWriter>,
    mut job: JobEntry,
    budget: Budget,
    resumed: bool,
) -> Result<SliceOutcome> {
    let mut lock = HeldLock::for_job(&job.scope, &job.id);
    if let Err(e) = lock.renew(archive).await {
        return match e {
            CatalogError::Conflict { .. } => Err(Error::Refused(format!(
                "restore job {} lost the lock on {} (it expired and was taken over)",
                job.id, job.scope
            ))),
            e => Err(e.into()),
        };
    }
    if job.status == JobStatus::Queued {
        run::update(archive, &mut job, |j| j.status = JobStatus::Running).await?;
    }
    let target = job
        .target
        .ok_or_else(|| Error::Invalid(format!("restore job {} names no target", job.id)))?;
    let target_entry = archive
        .catalog
        .get(&target)
        .await?
        .ok_or_else(|| Error::Invalid(format!("the target snapshot {target} is gone")))?;
    // Read by the engine once the pre-rollback snapshot is taken (see `Target::deferred`).
    let target = super::target::Target::deferred();
    let key = request_key(&job.scope, &job.id);
    let request: JobRequest = match &job.request_hash {
        Some(hash) => archive.get_sealed(&key, "rollback request", hash).await?,
        // Queued before requests were sealed.
        None => run::read_json(archive, &key).await?,
    };
    let confirmed = request.confirmed();
    let engine = Engine {
        archive,
        tracker,
        progress: Arc::new(NoProgress),
        on_plan: None,
        on_op: None,
    };
    let rollback = Rollback {
        target: &target_entry,
        records: &target,
        options: &request.options,
    };
    let step = engine
        .run(&mut job, &mut lock, &rollback, &confirmed, budget, resumed)
        .await?;
    match step {
        Step::Paused { done } => Ok(SliceOutcome::Continue { job, done }),
        Step::Finished(report) => {
            if let Err(e) = archive.catalog.unlock(&job.scope, &lock.info.token).await {
                tracing::warn!(error = %e, "could not release the lock; it expires by itself");
            }
            Ok(SliceOutcome::Finished {
                job,
                verification: Some(report.verification),
            })
        }
        Step::Changed(plan) => {
            let change = match &confirmed {
                Confirmed::Plan(fp) => run::change_since(archive, fp, &plan).await?,
                Confirmed::Replan => {
                    return Err(Error::Internal(
                        "a re-planning job refused its own plan".into(),
                    ))
                }
            };
            tracing::warn!(job = %job.id, change = %change.summary(), "the plan moved after it was confirmed; job failed, nothing written");
            fail(archive, &job.id, &change.to_string()).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::MemoryCatalog;
    use crate::record::RecordSet;
    use crate::rollback::RollbackRequest;
    use crate::store::MemoryStore;
    use chrono::Utc;

    /// Starting a job takes the scope's lock in the job's name, so a second start (or a
    /// snapshot) of the scope is refused naming the job.
    #[tokio::test]
    async fn a_started_job_holds_the_scope() {
        let archive = Archive::new(Arc::new(MemoryStore::new()), Arc::new(MemoryCatalog::new()));
        let target = crate::rollback::testkit::entry(Utc::now());
        let scope = target.scope.clone();
        let records = RecordSet::default();
        let options =
            RollbackOptions::validate(&RollbackRequest::default(), &target, &records).unwrap();
        let tracker: Arc<dyn Tracker> = Arc::new(
            crate::tracker::github::GitHubTracker::new(
                &scope,
                &crate::tracker::GitHubConfig::new("http://127.0.0.1:9", None),
            )
            .unwrap(),
        );
        let records = crate::rollback::target::Target::whole(records);
        let rollback = Rollback {
            target: &target,
            records: &records,
            options: &options,
        };
        let job = start(&archive, tracker.clone(), &rollback, &Confirmed::Replan)
            .await
            .unwrap();
        assert_eq!(job.status, JobStatus::Queued);
        let held = archive.catalog.current_lock(&scope).await.unwrap().unwrap();
        assert_eq!(job_of_lock(&held), Some(job.id));
        match start(&archive, tracker, &rollback, &Confirmed::Replan).await {
            Err(Error::Catalog(CatalogError::Locked(lock))) => {
                assert_eq!(job_of_lock(&lock), Some(job.id))
            }
            other => panic!("expected Locked, got {other:?}"),
        }
    }
}
