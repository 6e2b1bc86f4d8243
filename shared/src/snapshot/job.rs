//! Snapshots taken as queued jobs: what a webhook asks for (GitHub waits 10 seconds for an
//! answer; a 10,000-issue repository takes about 30 to capture), and what `POST /snapshots`
//! asks for when the capture will not fit the request ([`timing`] decides).
//!
//! A snapshot job has the lifecycle restore jobs have (see [`crate::rollback::job`]): a
//! catalog row, `queued` → `running` → `completed` | `failed`, visible by id while it runs;
//! one queue message per attempt; a per-job claim so a duplicated message does nothing; and
//! the scope's lock, taken in the job's name while it captures (so a restore cannot start
//! under a capture, and a delete or a restore sees who holds the scope). A job that finds its
//! scope held by someone else waits for it ([`JobRun::Waiting`]: the caller sends the
//! message again after the delay given), up to [`MAX_WAITS`] times, then fails naming the
//! holder.
//!
//! Its snapshot is reserved when the job is queued: a catalog entry, `pending`, whose id the
//! job names from the start (so `GET /snapshots/{id}` follows it). Each attempt captures
//! within the budget its caller gives (the invocation's remaining time, less a margin):
//! the entry is `in_progress` while it runs; a capture the budget cuts short stores what it
//! read as a `partial` checkpoint and the job continues ([`JobRun::Continuing`]: the caller
//! sends the message again, after the rate limit's reset when that is what ran out), and the
//! next attempt continues from the checkpoint into the same entry, until it is `completed`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use super::{Archive, SnapshotName, SnapshotOptions, SnapshotReport};
use crate::catalog::{ByteStats, Finish, SnapshotEntry};
use crate::catalog::{CaptureJob, CatalogError, Claim, JobEntry, JobKind, JobStatus, LockInfo};
use crate::error::{Error, Result};
use crate::id::JobId;
use crate::manifest::{Counts, Manifest};
use crate::rollback::job::{lock_token, slice_claim_key};
use crate::scope::Scope;
use crate::tracker::{Budget, Tracker};
use crate::SnapshotStatus;

/// The largest capture, in records (issues, comments, labels, milestones, as the scope's
/// newest snapshot counts them), that an HTTP request waits for. A capture that may list
/// everything reads about 100 records per GitHub request, and GitHub answers a page in
/// 0.3–1 s: 1,000 records are about 10 requests, a few seconds, well inside API Gateway's
/// 30-second limit even when the capture lists everything. Larger ones go through the queue.
pub const SYNC_CAPTURE_MAX_RECORDS: u64 = 1_000;

/// How many times a job waits for its scope before it fails (see [`wait_before`]: about
/// three hours in all, longer than any restore slice chain stalls without its lock expiring).
pub const MAX_WAITS: u32 = 16;

/// How long the scope's lock, taken for a capture, outlives its last renewal: one
/// invocation (at most 15 minutes) and some slack. Released as soon as the capture ends.
const CAPTURE_LOCK_TTL: Duration = Duration::from_secs(20 * 60);

/// Whether a capture is taken within the request or queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "timing", content = "reason", rename_all = "snake_case")]
pub enum CaptureTiming {
    /// Small enough to answer with the finished snapshot.
    Now,
    /// Queued, and why.
    Queued(String),
}

/// Decides how `POST /snapshots` takes a snapshot of `scope`: in the request when the
/// scope's newest completed snapshot holds at most [`SYNC_CAPTURE_MAX_RECORDS`] records;
/// queued when it holds more, or when there is none yet (its size is unknown). A scope held
/// by someone else (a restore job) is refused either way ([`CatalogError::Locked`], naming
/// the holder), as a capture would refuse it: a request is answered, not queued behind it.
pub async fn timing(archive: &Archive, scope: &Scope) -> Result<CaptureTiming> {
    if let Some(lock) = archive.catalog.current_lock(scope).await? {
        if lock.expires_at > Utc::now() {
            return Err(CatalogError::Locked(Box::new(lock)).into());
        }
    }
    Ok(match archive.latest(scope).await? {
        Some(latest) if latest.counts.total() <= SYNC_CAPTURE_MAX_RECORDS => CaptureTiming::Now,
        Some(latest) => CaptureTiming::Queued(format!(
            "its newest snapshot holds {} records, more than a request waits for ({SYNC_CAPTURE_MAX_RECORDS})",
            latest.counts.total()
        )),
        None => CaptureTiming::Queued(
            "its first snapshot: its size is unknown, so it is not taken within the request"
                .into(),
        ),
    })
}

/// How long a job waits before it tries a held scope again, after `waits` waits: 30 s,
/// doubling up to 15 minutes (the longest a queue message can be delayed).
pub fn wait_before(waits: u32) -> Duration {
    Duration::from_secs(30u64.saturating_mul(1 << waits.min(5)).min(900))
}

/// Records a snapshot job for `scope`, `queued`, with its snapshot reserved (`pending`,
/// named in `capture.snapshot`); the caller sends its first queue message.
pub async fn enqueue(
    archive: &Archive,
    scope: &Scope,
    mut capture: CaptureJob,
) -> Result<JobEntry> {
    let now = Utc::now();
    let snapshot = crate::id::SnapshotId::new();
    archive
        .catalog
        .create(&SnapshotEntry {
            id: snapshot,
            scope: scope.clone(),
            name: capture.name.clone(),
            trigger: capture.trigger,
            status: SnapshotStatus::Pending,
            created_at: now,
            finished_at: None,
            counts: Counts::default(),
            bytes: ByteStats::default(),
            requests: 0,
            manifest_key: Manifest::key_for(scope, &snapshot),
            parent: None,
            pinned: false,
            expires_at: None,
            error: None,
            manifest_hash: None,
            lease: None,
        })
        .await?;
    capture.snapshot = Some(snapshot);
    let job = JobEntry {
        id: JobId::new(),
        scope: scope.clone(),
        kind: JobKind::Snapshot,
        target: None,
        capture: Some(capture),
        resume_key: String::new(),
        plan_key: String::new(),
        plan_hash: None,
        request_hash: None,
        status: JobStatus::Queued,
        pre_snapshot: None,
        total_ops: 0,
        created_at: now,
        updated_at: now,
        error: None,
    };
    archive.catalog.create_job(&job).await?;
    Ok(job)
}

/// Fails a job that will never run (its first message could not be sent).
pub async fn abandon(archive: &Archive, id: &JobId, why: &str) -> Result<()> {
    if let Some(job) = archive.catalog.get_job(id).await? {
        if !job.status.is_finished() {
            finish(archive, job, Err(why.to_string())).await?;
        }
    }
    Ok(())
}

/// What one attempt at a snapshot job did.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum JobRun {
    /// The job is finished (`completed`, with the snapshot, or `failed`).
    Finished {
        job: Box<JobEntry>,
        #[serde(skip_serializing_if = "Option::is_none")]
        snapshot: Option<Box<SnapshotReport>>,
    },
    /// The budget ran out: the capture stored its `partial` checkpoint, and the job's next
    /// attempt (sent after `retry_after`: zero, or until the rate limit's reset) continues
    /// from it into the reserved snapshot.
    Continuing {
        job: Box<JobEntry>,
        checkpoint: Box<SnapshotReport>,
        #[serde(skip)]
        retry_after: Duration,
    },
    /// The scope is held by someone else: try again after `retry_after`.
    Waiting {
        job: Box<JobEntry>,
        holder: String,
        #[serde(skip)]
        retry_after: Duration,
    },
    /// Another attempt of this job is running; it finishes the job.
    Busy { job: JobId },
}

/// Runs one attempt of snapshot job `id` with `tracker` (the scope's), capturing within
/// `budget`. `claim_ttl`: how long this attempt may take (the invocation's time left), after
/// which a redelivered message may take over. A retryable failure (GitHub or AWS
/// unreachable) is returned, and the job stays open for the redelivery; any other failure
/// fails the job (and its reserved snapshot).
pub async fn run(
    archive: &Archive,
    tracker: Arc<dyn Tracker>,
    id: &JobId,
    claim_ttl: Duration,
    budget: Budget,
) -> Result<JobRun> {
    let Some(job) = archive.catalog.get_job(id).await? else {
        return Err(Error::Invalid(format!("no snapshot job {id}")));
    };
    if job.kind != JobKind::Snapshot {
        return Err(Error::Invalid(format!(
            "job {id} is a {} job, not a snapshot",
            job.kind
        )));
    }
    if job.status.is_finished() {
        return Ok(JobRun::Finished {
            job: Box::new(job),
            snapshot: None,
        });
    }
    let claim = Claim::new(slice_claim_key(id), claim_ttl);
    if !archive.catalog.claim(&claim).await? {
        return Ok(JobRun::Busy { job: *id });
    }
    let outcome = attempt(archive, tracker, job, budget).await;
    if let Err(e) = archive
        .catalog
        .release_claim(&claim.key, &claim.token)
        .await
    {
        tracing::warn!(error = %e, "could not release the job's claim; it expires by itself");
    }
    outcome
}

async fn attempt(
    archive: &Archive,
    tracker: Arc<dyn Tracker>,
    mut job: JobEntry,
    budget: Budget,
) -> Result<JobRun> {
    let Some(capture) = job.capture.clone() else {
        return finish(
            archive,
            job,
            Err("the job does not say what to capture".into()),
        )
        .await;
    };
    let mut lock = LockInfo::new(
        &job.scope,
        format!("snapshot job {}", job.id),
        CAPTURE_LOCK_TTL,
    );
    lock.token = lock_token(&job.id);
    match archive.catalog.lock(&lock).await {
        Ok(()) => {}
        // An earlier attempt of this job took it and stopped before releasing it.
        Err(CatalogError::Locked(held)) if held.token == lock.token => {
            archive.catalog.renew_lock(&lock).await?
        }
        Err(CatalogError::Locked(held)) => return wait(archive, job, &held).await,
        Err(e) => return Err(e.into()),
    }
    // An earlier attempt completed the reserved snapshot and stopped before recording the
    // job's end: record it now rather than capture again.
    if let Some(reserved) = capture.snapshot {
        let done = archive
            .catalog
            .get(&reserved)
            .await?
            .is_some_and(|e| e.status == SnapshotStatus::Completed);
        if done {
            if let Err(e) = archive.catalog.unlock(&job.scope, &lock.token).await {
                tracing::warn!(error = %e, "could not release the scope's lock; it expires by itself");
            }
            update(archive, &mut job, |j| {
                j.status = JobStatus::Completed;
                j.error = None;
            })
            .await?;
            return Ok(JobRun::Finished {
                job: Box::new(job),
                snapshot: None,
            });
        }
    }
    let result = async {
        if job.status == JobStatus::Queued {
            update(archive, &mut job, |j| j.status = JobStatus::Running).await?;
        }
        let name = capture
            .name
            .as_deref()
            .map(SnapshotName::parse)
            .transpose()?;
        archive
            .create_snapshot(
                tracker,
                &SnapshotOptions {
                    name,
                    reuse_name: capture.reuse_name,
                    trigger: capture.trigger,
                    lock_token: Some(lock.token.clone()),
                    budget,
                    // Jobs queued before snapshots were reserved capture a new entry.
                    reserved: capture.snapshot,
                    ..SnapshotOptions::default()
                },
            )
            .await
    }
    .await;
    if let Err(e) = archive.catalog.unlock(&job.scope, &lock.token).await {
        tracing::warn!(error = %e, "could not release the scope's lock after the capture; it expires by itself");
    }
    match result {
        Err(e) if e.is_retryable() => Err(e),
        Err(e) => finish(archive, job, Err(e.to_string())).await,
        Ok(report) if report.checkpoint_of.is_some() => {
            // Until the reset when the rate limit is what ran out; at once otherwise (the
            // next invocation brings a new budget).
            let retry_after = report
                .resume_at
                .map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::ZERO);
            Ok(JobRun::Continuing {
                job: Box::new(job),
                checkpoint: Box::new(report),
                retry_after,
            })
        }
        Ok(report) => finish(archive, job, Ok(report)).await,
    }
}

/// Counts a wait, or fails the job when it has waited enough.
async fn wait(archive: &Archive, mut job: JobEntry, held: &LockInfo) -> Result<JobRun> {
    let waits = job.capture.as_ref().map_or(0, |c| c.waits);
    let holder = format!(
        "{} holds {} until {}",
        held.holder,
        held.scope,
        held.expires_at.format("%Y-%m-%dT%H:%M:%SZ")
    );
    if waits >= MAX_WAITS {
        let why = format!("the scope stayed busy through {MAX_WAITS} tries: {holder}");
        return finish(archive, job, Err(why)).await;
    }
    update(archive, &mut job, |j| {
        if let Some(c) = j.capture.as_mut() {
            c.waits += 1;
        }
    })
    .await?;
    Ok(JobRun::Waiting {
        job: Box::new(job),
        holder,
        retry_after: wait_before(waits),
    })
}

async fn finish(
    archive: &Archive,
    mut job: JobEntry,
    result: std::result::Result<SnapshotReport, String>,
) -> Result<JobRun> {
    let snapshot = match result {
        Ok(report) => {
            let id = report.id;
            let completed = report.status == SnapshotStatus::Completed;
            update(archive, &mut job, |j| {
                j.status = JobStatus::Completed;
                if !completed {
                    j.status = JobStatus::Failed;
                    j.error = Some(format!("snapshot {id} did not complete"));
                }
                if let Some(c) = j.capture.as_mut() {
                    c.snapshot = Some(id);
                }
            })
            .await?;
            Some(Box::new(report))
        }
        Err(why) => {
            if let Some(reserved) = job.capture.as_ref().and_then(|c| c.snapshot) {
                fail_reserved(archive, &reserved, &why).await?;
            }
            update(archive, &mut job, |j| {
                j.status = JobStatus::Failed;
                j.error = Some(why);
            })
            .await?;
            None
        }
    };
    Ok(JobRun::Finished {
        job: Box::new(job),
        snapshot,
    })
}

/// Records a failed job's reserved snapshot `failed` too, unless it is finished already.
async fn fail_reserved(archive: &Archive, id: &crate::id::SnapshotId, why: &str) -> Result<()> {
    let finish = Finish {
        status: SnapshotStatus::Failed,
        finished_at: Utc::now(),
        counts: Counts::default(),
        bytes: ByteStats::default(),
        requests: 0,
        error: Some(why.to_string()),
        manifest_hash: None,
    };
    match archive.catalog.finish(id, &finish).await {
        Ok(()) | Err(CatalogError::Conflict { .. }) | Err(CatalogError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::MemoryCatalog;
    use crate::manifest::Trigger;
    use crate::store::MemoryStore;
    use crate::tracker::github::GitHubTracker;
    use crate::tracker::GitHubConfig;

    fn archive() -> Archive {
        Archive::new(Arc::new(MemoryStore::new()), Arc::new(MemoryCatalog::new()))
    }

    #[test]
    fn waits_double_up_to_the_queues_longest_delay() {
        assert_eq!(wait_before(0), Duration::from_secs(30));
        assert_eq!(wait_before(1), Duration::from_secs(60));
        assert_eq!(wait_before(4), Duration::from_secs(480));
        assert_eq!(wait_before(5), Duration::from_secs(900));
        assert_eq!(wait_before(u32::MAX), Duration::from_secs(900));
        let total: u64 = (0..MAX_WAITS).map(|w| wait_before(w).as_secs()).sum();
        assert!((3 * 3600..4 * 3600).contains(&total), "{total}");
    }

    #[tokio::test]
    async fn a_first_snapshot_is_queued_a_small_scope_is_taken_now() {
        let archive = archive();
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        assert!(matches!(
            timing(&archive, &scope).await.unwrap(),
            CaptureTiming::Queued(_)
        ));
    }

    /// A job that finds its scope held waits (its row stays `queued` and counts the wait)
    /// and, past [`MAX_WAITS`], fails naming the holder; it never captures meanwhile.
    #[tokio::test]
    async fn a_held_scope_makes_the_job_wait_then_fail_naming_the_holder() {
        let archive = archive();
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        let tracker: Arc<dyn Tracker> = Arc::new(
            GitHubTracker::new(&scope, &GitHubConfig::new("http://127.0.0.1:9", None)).unwrap(),
        );
        let holder = LockInfo::new(&scope, "rollback by alice", Duration::from_secs(3600));
        archive.catalog.lock(&holder).await.unwrap();
        let job = enqueue(
            &archive,
            &scope,
            CaptureJob {
                name: Some("push-abc1234".into()),
                trigger: Trigger::Push,
                reuse_name: true,
                snapshot: None,
                waits: 0,
                run: None,
            },
        )
        .await
        .unwrap();
        let ttl = Duration::from_secs(60);
        for n in 0..MAX_WAITS {
            match run(&archive, tracker.clone(), &job.id, ttl, Budget::default())
                .await
                .unwrap()
            {
                JobRun::Waiting {
                    job,
                    retry_after,
                    holder,
                    ..
                } => {
                    assert_eq!(job.status, JobStatus::Queued);
                    assert_eq!(job.capture.as_ref().unwrap().waits, n + 1);
                    assert_eq!(retry_after, wait_before(n));
                    assert!(holder.contains("rollback by alice"), "{holder}");
                }
                other => panic!("expected Waiting, got {other:?}"),
            }
        }
        match run(&archive, tracker.clone(), &job.id, ttl, Budget::default())
            .await
            .unwrap()
        {
            JobRun::Finished { job, snapshot } => {
                assert_eq!(job.status, JobStatus::Failed);
                assert!(job.error.unwrap().contains("rollback by alice"));
                assert!(snapshot.is_none());
            }
            other => panic!("expected Finished, got {other:?}"),
        }
        // Nothing was captured: the reserved snapshot failed with its job.
        let entries = archive.catalog.list(Some(&scope)).await.unwrap();
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0].status, SnapshotStatus::Failed);
        assert!(entries[0]
            .error
            .as_deref()
            .unwrap()
            .contains("rollback by alice"));
        // A finished job's redelivered message does nothing.
        assert!(matches!(
            run(&archive, tracker, &job.id, ttl, Budget::default())
                .await
                .unwrap(),
            JobRun::Finished { snapshot: None, .. }
        ));
    }
}
