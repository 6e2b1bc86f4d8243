//! Snapshots taken as queued jobs: what a webhook asks for (GitHub waits 10 seconds for an
//! answer; a 10,000-issue repository takes about 30 to capture), and what `POST /snapshots`
//! asks for when the capture will not fit the request ([`timing`] decides). A capture
//! [`timing`] lets the request wait for still has a budget ([`request_budget`]): a scope
//! that grew, or a slow tracker, stops it `partial` within the request, and a job
//! continues its checkpoint.
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
use std::time::{Duration, Instant};

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

/// How long a capture taken within an HTTP request may read: API Gateway answers 504 after
/// 29 seconds (its integration timeout, which cannot be raised), and the function still
/// needs time once the pages stop: the manifest and the catalog entry, a continuing job
/// when the capture was cut short, and the answer; a cold start before the function sees
/// the request counts against the 29 seconds too.
pub const REQUEST_WINDOW: Duration = Duration::from_secs(20);

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

/// The budget of a capture taken within a request the function took at `started`: its
/// pages stop `window` later ([`REQUEST_WINDOW`] on Lambda), or at `deadline` when that
/// comes first (the invocation's own, less what the function keeps for itself), and after
/// `max_requests` requests when set. A capture cut short stores its `partial` checkpoint,
/// and the caller answers with a snapshot job that continues it, as a queued one.
pub fn request_budget(
    started: Instant,
    window: Duration,
    deadline: Option<Instant>,
    max_requests: Option<u64>,
) -> Budget {
    let request = started + window;
    Budget {
        max_requests,
        deadline: Some(deadline.map_or(request, |d| d.min(request))),
    }
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

/// Which delivery of its queue message an attempt is, as the queue counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The message's receive count: 1 for its first delivery.
    pub receive: u32,
    /// The queue's `maxReceiveCount`: a message received that many times goes to the
    /// dead-letter queue when its attempt fails. `None`: unknown (no redrive policy).
    pub max_receives: Option<u32>,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            receive: 1,
            max_receives: None,
        }
    }
}

impl Delivery {
    /// Whether nothing will deliver the message again if this attempt fails.
    pub fn is_last(&self) -> bool {
        self.max_receives.is_some_and(|max| self.receive >= max)
    }
}

/// Runs one attempt of snapshot job `id` with `tracker` (the scope's), capturing within
/// `budget`. `claim_ttl`: how long this attempt may take (the invocation's time left), after
/// which a redelivered message may take over. A retryable failure (GitHub or AWS
/// unreachable) is returned, and the job stays open for the redelivery; any other failure
/// fails the job (and its reserved snapshot).
///
/// On the message's last `delivery` nothing will redeliver it: the job row says until when
/// this attempt may run (so [`settle`] can fail a job whose last attempt died without a
/// word: a crash, a timeout), and a retryable failure fails the job — and its run's line —
/// before it is returned (the message goes on to the dead-letter queue, for the alarm).
pub async fn run(
    archive: &Archive,
    tracker: Arc<dyn Tracker>,
    id: &JobId,
    claim_ttl: Duration,
    budget: Budget,
    delivery: Delivery,
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
    let mut job = job;
    if delivery.is_last() {
        let until = Utc::now()
            + chrono::Duration::from_std(claim_ttl).unwrap_or(chrono::Duration::hours(1));
        update(archive, &mut job, |j| {
            if let Some(c) = j.capture.as_mut() {
                c.last_delivery_until = Some(until);
            }
        })
        .await?;
    }
    let outcome = attempt(archive, tracker, job, budget).await;
    if let Err(e) = archive
        .catalog
        .release_claim(&claim.key, &claim.token)
        .await
    {
        tracing::warn!(error = %e, "could not release the job's claim; it expires by itself");
    }
    if !delivery.is_last() {
        return outcome;
    }
    match outcome {
        Err(e) if e.is_retryable() => {
            let why = format!(
                "gave up: the last delivery ({} of {}) of its queue message failed too: {e}",
                delivery.receive,
                delivery.max_receives.unwrap_or(delivery.receive)
            );
            if let Err(failed) = give_up(archive, id, &why).await {
                tracing::warn!(job = %id, error = %failed, "could not record the job's end; reading its run settles it");
            }
            Err(e)
        }
        // It goes on in a new message, delivered afresh: not the last delivery any more.
        Ok(JobRun::Continuing {
            mut job,
            checkpoint,
            retry_after,
        }) => {
            unmark_last_delivery(archive, &mut job).await?;
            Ok(JobRun::Continuing {
                job,
                checkpoint,
                retry_after,
            })
        }
        Ok(JobRun::Waiting {
            mut job,
            holder,
            retry_after,
        }) => {
            unmark_last_delivery(archive, &mut job).await?;
            Ok(JobRun::Waiting {
                job,
                holder,
                retry_after,
            })
        }
        other => other,
    }
}

async fn unmark_last_delivery(archive: &Archive, job: &mut JobEntry) -> Result<()> {
    update(archive, job, |j| {
        if let Some(c) = j.capture.as_mut() {
            c.last_delivery_until = None;
        }
    })
    .await
}

/// Fails job `id`, unless it is finished, with `why`, and records its line in its run (when
/// it has one): nothing will run it again.
pub async fn give_up(archive: &Archive, id: &JobId, why: &str) -> Result<()> {
    let Some(job) = archive.catalog.get_job(id).await? else {
        return Ok(());
    };
    if job.status.is_finished() {
        return Ok(());
    }
    if let JobRun::Finished { job, .. } = finish(archive, job, Err(why.to_string())).await? {
        crate::fleet::runs::record_job(archive, &job, None, 0).await?;
    }
    Ok(())
}

/// Settles a job an organisation run still shows `queued`: a finished job's line is
/// recorded from its row (a record its attempt could not write), and an unfinished job
/// whose last delivery's attempt has ended ([`run`] marks it) is failed — its message went
/// to the dead-letter queue, so nothing will run it again. Exact, not a guess from the
/// job's age: a job waiting for a busy scope, or continuing after a rate-limit reset, is
/// never marked (each of its messages is delivered afresh).
pub async fn settle(archive: &Archive, id: &JobId) -> Result<()> {
    let Some(job) = archive.catalog.get_job(id).await? else {
        return Ok(());
    };
    if job.status.is_finished() {
        crate::fleet::runs::record_job(archive, &job, None, 0).await?;
        return Ok(());
    }
    let Some(until) = job.capture.as_ref().and_then(|c| c.last_delivery_until) else {
        return Ok(());
    };
    if until > Utc::now() {
        return Ok(());
    }
    let why = format!(
        "lost: the attempt on its queue message's last delivery ended by {} without finishing \
         the job (it crashed or timed out); the message went to the dead-letter queue",
        until.format("%Y-%m-%dT%H:%M:%SZ")
    );
    give_up(archive, id, &why).await
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
    fn a_request_captures_within_its_window_or_the_invocations_deadline() {
        let started = Instant::now();
        let window = REQUEST_WINDOW;
        let far = started + Duration::from_secs(840);
        let near = started + Duration::from_secs(5);
        let budget = request_budget(started, window, Some(far), Some(7));
        assert_eq!(budget.deadline, Some(started + window));
        assert_eq!(budget.max_requests, Some(7));
        assert_eq!(
            request_budget(started, window, Some(near), None).deadline,
            Some(near)
        );
        assert_eq!(
            request_budget(started, window, None, None).deadline,
            Some(started + window)
        );
        assert!(REQUEST_WINDOW < Duration::from_secs(29));
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
                last_delivery_until: None,
            },
        )
        .await
        .unwrap();
        let ttl = Duration::from_secs(60);
        for n in 0..MAX_WAITS {
            match run(
                &archive,
                tracker.clone(),
                &job.id,
                ttl,
                Budget::default(),
                Delivery::default(),
            )
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
        match run(
            &archive,
            tracker.clone(),
            &job.id,
            ttl,
            Budget::default(),
            Delivery::default(),
        )
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
            run(
                &archive,
                tracker,
                &job.id,
                ttl,
                Budget::default(),
                Delivery::default()
            )
            .await
            .unwrap(),
            JobRun::Finished { snapshot: None, .. }
        ));
    }

    fn run_job(run: &str) -> CaptureJob {
        CaptureJob {
            name: None,
            trigger: Trigger::Schedule,
            reuse_name: false,
            snapshot: None,
            waits: 0,
            run: Some(run.to_string()),
            last_delivery_until: None,
        }
    }

    /// A retryable failure on the message's last delivery fails the job, its reserved
    /// snapshot and its run's line at once (the message goes to the dead-letter queue);
    /// the same failure on an earlier delivery leaves all three open for the redelivery.
    #[tokio::test]
    async fn a_retryable_failure_on_the_last_delivery_fails_the_job_and_its_run_line() {
        use crate::fleet::{runs, RunStatus, RunSummary, ScopeRun};
        let archive = archive();
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        let mut config = GitHubConfig::new("http://127.0.0.1:9", None);
        config.retry.max_attempts = 1;
        let tracker: Arc<dyn Tracker> = Arc::new(GitHubTracker::new(&scope, &config).unwrap());
        let mut summary = RunSummary::start("github:acme/*", Utc::now());
        let job = enqueue(&archive, &scope, run_job(&summary.id))
            .await
            .unwrap();
        summary.scopes.push(ScopeRun {
            scope: scope.clone(),
            status: RunStatus::Queued,
            snapshot: None,
            job: Some(job.id.to_string()),
            requests: 0,
            duration_ms: 0,
            error: None,
        });
        runs::save(&archive, &summary).await.unwrap();
        let ttl = Duration::from_secs(60);
        let delivery = |receive| Delivery {
            receive,
            max_receives: Some(3),
        };
        for receive in 1..=2 {
            let e = run(
                &archive,
                tracker.clone(),
                &job.id,
                ttl,
                Budget::default(),
                delivery(receive),
            )
            .await
            .unwrap_err();
            assert!(e.is_retryable(), "{e}");
            let row = archive.catalog.get_job(&job.id).await.unwrap().unwrap();
            assert!(!row.status.is_finished(), "{row:?}");
        }
        let e = run(
            &archive,
            tracker,
            &job.id,
            ttl,
            Budget::default(),
            delivery(3),
        )
        .await
        .unwrap_err();
        assert!(e.is_retryable(), "{e}");
        let row = archive.catalog.get_job(&job.id).await.unwrap().unwrap();
        assert_eq!(row.status, JobStatus::Failed);
        assert!(
            row.error
                .as_deref()
                .unwrap()
                .contains("last delivery (3 of 3)"),
            "{row:?}"
        );
        let reserved = row.capture.as_ref().and_then(|c| c.snapshot).unwrap();
        let entry = archive.catalog.get(&reserved).await.unwrap().unwrap();
        assert_eq!(entry.status, SnapshotStatus::Failed);
        let stored = runs::get(&archive, &summary.id).await.unwrap().unwrap();
        assert!(stored.finished_at.is_some(), "{stored:?}");
        assert_eq!(stored.scopes[0].status, RunStatus::Failed);
    }

    /// A job whose last delivery's attempt died without a word (a crash, a timeout: marked,
    /// never finished) reads failed in its run once that attempt's time is up; one still
    /// within it, and one never on its last delivery, stay queued.
    #[tokio::test]
    async fn a_job_lost_with_its_last_delivery_reads_failed_when_its_run_is_read() {
        use crate::fleet::{runs, RunStatus, RunSummary, ScopeRun};
        let archive = archive();
        let mut summary = RunSummary::start("github:acme/*", Utc::now());
        let mut jobs = Vec::new();
        for (name, until) in [
            ("lost", Some(Utc::now() - chrono::Duration::seconds(1))),
            ("running", Some(Utc::now() + chrono::Duration::hours(1))),
            ("waiting", None),
        ] {
            let scope: Scope = format!("github:acme/{name}").parse().unwrap();
            let job = enqueue(&archive, &scope, run_job(&summary.id))
                .await
                .unwrap();
            let mut marked = job.clone();
            marked.capture.as_mut().unwrap().last_delivery_until = until;
            archive
                .catalog
                .update_job(&marked, job.status)
                .await
                .unwrap();
            summary.scopes.push(ScopeRun {
                scope,
                status: RunStatus::Queued,
                snapshot: None,
                job: Some(job.id.to_string()),
                requests: 0,
                duration_ms: 0,
                error: None,
            });
            jobs.push(job);
        }
        runs::save(&archive, &summary).await.unwrap();
        let read = runs::get(&archive, &summary.id).await.unwrap().unwrap();
        let statuses: Vec<RunStatus> = read.scopes.iter().map(|l| l.status).collect();
        assert_eq!(
            statuses,
            [RunStatus::Failed, RunStatus::Queued, RunStatus::Queued]
        );
        assert!(
            read.scopes[0]
                .error
                .as_deref()
                .unwrap()
                .contains("dead-letter queue"),
            "{read:?}"
        );
        assert!(read.finished_at.is_none());
        let lost = archive.catalog.get_job(&jobs[0].id).await.unwrap().unwrap();
        assert_eq!(lost.status, JobStatus::Failed);
        // Read again: nothing more changes; listing settles the same way.
        let listed = runs::list(&archive, None, 10).await.unwrap();
        assert_eq!(listed[0].scopes[0].status, RunStatus::Failed);
        assert_eq!(listed[0].count(RunStatus::Queued), 2);
    }
}
