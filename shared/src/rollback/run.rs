//! The rollback engine: one run of a rollback job, whoever drives it.
//!
//! [`Engine::run`] takes a job, the lock its caller holds, the target, the options, what the
//! caller confirmed and a [`Budget`], and continues the job from wherever the catalog says
//! it is: pre-rollback snapshot → plan (made once, checked against the confirmed
//! fingerprint, stored) → journaled operations until the budget is spent → verification.
//! The CLI calls it once with no budget ([`execute`](super::execute)); the restore function
//! calls it once per queued slice with the invocation's budget ([`job`](super::job)).
//!
//! Crash safety comes from three pieces working together:
//! - the **job** (catalog) outlives the process; a later run finds it (by resume key, or by
//!   its id in the queue message) and continues with the same plan and the same
//!   pre-rollback snapshot;
//! - the **journal** (catalog) records each operation after its write succeeds, so a later
//!   run skips what is done;
//! - the one write that may have happened without its journal entry (the process died in
//!   between) is either idempotent (a PATCH to the target values) or a creation, which a
//!   resumed run looks for first ([`TrackerWriter::find_applied`]: a recreated comment by its
//!   hidden marker) before writing again.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use serde::Serialize;

use super::live::Live;
use super::plan::{plan, Irrecoverable};
use super::target::{Target, TargetView};
use super::{PlanChange, PlanFingerprint, PlannedOp, ResumeKey, RollbackOptions, RollbackPlan};
use crate::blob;
use crate::catalog::{CatalogError, JobEntry, JobKind, JobStatus, JournalEntry, LockInfo};
use crate::error::{Error, Result};
use crate::id::{JobId, ObjectHash, SnapshotId};
use crate::manifest::Trigger;
use crate::record::RecordSet;
use crate::scope::{Scope, TrackerKind};
use crate::snapshot::{fetch_each, Archive, SnapshotName, SnapshotOptions};
use crate::tracker::jira::RollbackContext;
use crate::tracker::{Progress, Tracker, TrackerWriter};
use crate::{SnapshotEntry, SnapshotStatus};

/// How long a lock held by a running process outlives its last renewal. The process renews
/// it every third of this while it writes, so a crashed holder frees the scope soon.
pub const PROCESS_LOCK_TTL: Duration = Duration::from_secs(2 * 60);

/// How long a restore job's lock outlives its last renewal. Nothing renews it while the
/// next slice's message waits in the queue, so it covers one invocation (at most 15
/// minutes) plus the queue's delivery.
pub const JOB_LOCK_TTL: Duration = Duration::from_secs(20 * 60);

/// Called after each operation: (operation, done so far, total).
pub type OpProgress = Arc<dyn Fn(&PlannedOp, usize, usize) + Send + Sync>;

/// Called once the plan a run executes is known, before its first write.
pub type PlanProgress = Arc<dyn Fn(&RollbackPlan) + Send + Sync>;

/// How much one run may do.
#[derive(Debug, Clone, Copy, Default)]
pub struct Budget {
    /// Stop starting operations after this instant (an invocation's deadline minus a margin
    /// for the bookkeeping that follows).
    pub deadline: Option<Instant>,
    /// Stop after this many operations.
    pub max_ops: Option<usize>,
}

impl Budget {
    /// No limit: run to the end (the CLI).
    pub fn unlimited() -> Self {
        Budget::default()
    }

    /// Every run applies at least one operation, so a job always progresses even when a
    /// slice starts late (a long pre-rollback snapshot ate its time).
    fn spent(&self, ops: usize) -> bool {
        ops > 0
            && (self.max_ops.is_some_and(|max| ops >= max)
                || self.deadline.is_some_and(|d| Instant::now() >= d))
    }
}

/// What the caller confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confirmed {
    /// Only a plan with this fingerprint may run; any other stops the run before it writes.
    Plan(PlanFingerprint),
    /// Whatever the plan is when the pre-rollback snapshot is taken (`--replan`).
    Replan,
}

impl Confirmed {
    fn allows(&self, plan: &RollbackPlan) -> bool {
        match self {
            Confirmed::Plan(fp) => *fp == plan.fingerprint(),
            Confirmed::Replan => true,
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

/// What a finished rollback did.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    pub job: JobId,
    /// This run continued an interrupted job.
    pub resumed: bool,
    pub plan: RollbackPlan,
    /// The executed plan's fingerprint.
    pub fingerprint: PlanFingerprint,
    pub pre_rollback_snapshot: SnapshotId,
    /// Plan indices of the operations this run wrote.
    pub executed: Vec<u64>,
    /// Operations found already done (journaled earlier, or found by marker).
    pub already_done: u64,
    pub verification: Verification,
    /// Issues recreated under new keys (Jira, `--recreate-deleted`): original key → new
    /// key, from the journal (so a resumed run names those an earlier run made too).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub recreated: std::collections::BTreeMap<String, String>,
    /// The command that undoes this rollback.
    pub undo: String,
    /// A restore into another scope: where each original went (old → new), in the
    /// originals' order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<Moved>,
}

/// One issue copied into another scope: its number or key in the snapshot, and its copy's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Moved {
    pub from: String,
    pub to: String,
}

/// Where a run stopped.
#[derive(Debug)]
pub(crate) enum Step {
    /// The budget is spent and operations remain; `done` of the plan's are done.
    Paused { done: u64 },
    /// Verified, and the job is `completed`.
    Finished(Box<RollbackReport>),
    /// Nothing was written: the plan made from the pre-rollback snapshot is not the one
    /// confirmed. The job stays open with its pre-rollback snapshot and no plan.
    Changed(Box<RollbackPlan>),
}

/// A scope lock held by a rollback: one renewal rule for every holder.
#[derive(Debug, Clone)]
pub(crate) struct HeldLock {
    pub(crate) info: LockInfo,
    ttl: Duration,
    renewed: Instant,
}

impl HeldLock {
    /// The lock of a process (the CLI), naming who runs it where, so that a lock left by a
    /// process that died on this machine can be told apart.
    pub(crate) fn for_process(scope: &Scope, holder: &str) -> HeldLock {
        let holder = format!(
            "rollback by {holder} on {} (pid {})",
            hostname(),
            std::process::id()
        );
        HeldLock {
            info: LockInfo::new(scope, holder, PROCESS_LOCK_TTL),
            ttl: PROCESS_LOCK_TTL,
            renewed: Instant::now(),
        }
    }

    /// The lock of a restore job: its token names the job, so any later invocation can
    /// renew or release it.
    pub(crate) fn for_job(scope: &Scope, job: &JobId) -> HeldLock {
        let mut info = LockInfo::new(scope, format!("restore job {job}"), JOB_LOCK_TTL);
        info.token = super::job::lock_token(job);
        HeldLock {
            info,
            ttl: JOB_LOCK_TTL,
            renewed: Instant::now(),
        }
    }

    /// Extends the lock to a full lifetime from now.
    pub(crate) async fn renew(&mut self, archive: &Archive) -> Result<(), CatalogError> {
        // The same expiry arithmetic as a new lock's.
        self.info.expires_at = LockInfo::new(&self.info.scope, "", self.ttl).expires_at;
        archive.catalog.renew_lock(&self.info).await?;
        self.renewed = Instant::now();
        Ok(())
    }

    /// Renews when a third of the lifetime has passed since the last renewal.
    async fn keep(&mut self, archive: &Archive) -> Result<(), CatalogError> {
        if self.renewed.elapsed() > self.ttl / 3 {
            self.renew(archive).await?;
        }
        Ok(())
    }
}

pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

fn preview_key(scope: &Scope, fingerprint: &PlanFingerprint) -> String {
    crate::keys::plan_preview(scope, fingerprint.as_str())
}

/// Keeps a previewed plan under its fingerprint (write-once: the same plan twice is one
/// object).
pub async fn remember_preview(archive: &Archive, plan: &RollbackPlan) -> Result<()> {
    let key = preview_key(&plan.scope, &plan.fingerprint());
    write_json(archive, &key, "plan preview", plan).await
}

/// The previewed plan kept under `fingerprint`, if it is kept (and hashes to it).
pub async fn kept_preview(
    archive: &Archive,
    scope: &Scope,
    fingerprint: &PlanFingerprint,
) -> Result<Option<RollbackPlan>> {
    match read_json::<RollbackPlan>(archive, &preview_key(scope, fingerprint)).await {
        // The key is the content's hash: a kept plan that does not hash to it is not it.
        Ok(plan) => Ok((plan.fingerprint() == *fingerprint).then_some(plan)),
        Err(Error::Store(crate::store::StoreError::NotFound { .. })) => Ok(None),
        Err(e) => Err(e),
    }
}

/// How `current` differs from the previewed plan `confirmed`, as far as the kept preview
/// tells ([`PlanChange::unknown`] when it is not kept).
pub async fn change_since(
    archive: &Archive,
    confirmed: &PlanFingerprint,
    current: &RollbackPlan,
) -> Result<PlanChange> {
    Ok(
        match kept_preview(archive, &current.scope, confirmed).await? {
            Some(previewed) => PlanChange::between(&previewed, current),
            None => PlanChange::unknown(confirmed.clone(), current),
        },
    )
}

/// A new job row for a rollback of `scope` to `target`.
pub(crate) fn new_job(id: JobId, rollback: &Rollback<'_>, status: JobStatus) -> JobEntry {
    let now = Utc::now();
    let target = rollback.target;
    JobEntry {
        id,
        scope: rollback.scope().clone(),
        kind: JobKind::Restore,
        target: Some(target.id),
        capture: None,
        resume_key: rollback.resume_key().to_string(),
        plan_key: crate::keys::job_plan(rollback.scope(), &id),
        plan_hash: None,
        request_hash: None,
        status,
        pre_snapshot: None,
        total_ops: 0,
        created_at: now,
        updated_at: now,
        error: None,
    }
}

/// Records a new job. A copy into another scope (`restore --into`) first holds its source
/// snapshot against deletion ([`Archive::hold_for_copy`]): the job's row lives in the
/// destination's scope, where the source's `prune` would not look.
pub(crate) async fn create_job(
    archive: &Archive,
    rollback: &Rollback<'_>,
    job: &JobEntry,
) -> Result<()> {
    let source = &rollback.target.scope;
    if source.key() != rollback.scope().key() {
        archive.hold_for_copy(source, &job.id).await?;
    }
    archive.catalog.create_job(job).await?;
    Ok(())
}

/// The name of a rollback job's pre-rollback snapshot: how the snapshot is recognised as
/// the job's undo point in the moment between its capture and the job recording its id.
pub fn pre_rollback_name(job: &JobId) -> String {
    format!("pre-rollback {job}")
}

/// Replaces the job row, expecting its current status.
pub(crate) async fn update(
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

/// Marks an unfinished job `failed` with `why`, and the others of the scope that are
/// unfinished (`retire_others`): called with the scope's lock held, so none of them runs.
pub(crate) async fn retire(archive: &Archive, job: &mut JobEntry, why: &str) -> Result<()> {
    if job.status.is_finished() {
        return Ok(());
    }
    let why = why.to_string();
    update(archive, job, |j| {
        j.status = JobStatus::Failed;
        j.error = Some(why);
    })
    .await
}

/// Retires the scope's unfinished jobs other than `keep`: a new rollback supersedes them.
pub(crate) async fn retire_others(
    archive: &Archive,
    scope: &Scope,
    keep: Option<&JobId>,
) -> Result<()> {
    for mut j in archive.catalog.list_jobs(scope).await? {
        // Snapshot jobs are not rollbacks: a new rollback does not supersede them.
        if Some(&j.id) != keep && j.kind == JobKind::Restore {
            retire(
                archive,
                &mut j,
                "superseded by a newer rollback of this scope",
            )
            .await?;
        }
    }
    Ok(())
}

/// A rollback as asked for: the target snapshot (its catalog entry and its records) and the
/// validated options.
#[derive(Debug, Clone, Copy)]
pub struct Rollback<'a> {
    pub target: &'a SnapshotEntry,
    pub records: &'a Target,
    pub options: &'a RollbackOptions,
}

impl<'a> Rollback<'a> {
    /// The scope written to, locked and snapshotted before: the snapshot's own, or the
    /// destination of a restore into another scope.
    pub fn scope(&self) -> &Scope {
        self.options.destination().unwrap_or(&self.target.scope)
    }

    /// Which command this is, for resuming its job.
    pub fn resume_key(&self) -> ResumeKey {
        ResumeKey::of(self.scope(), &self.target.id, self.options)
    }

    /// An empty live state for this rollback's planner to take records into: held against
    /// the target where the planner reads it through [`LiveView`] (GitHub, in place), so
    /// records identical to the target are kept as keys only; whole otherwise.
    pub fn live(&self) -> Live<'a> {
        let against_target = self.target.scope.tracker() == TrackerKind::GitHub
            && self.options.destination().is_none();
        Live::new(against_target.then_some(self.records))
    }

    /// The plan that turns `live` into the target, with what the tracker must tell besides
    /// the records (Jira: editable fields, workflows) read from `tracker` first.
    async fn plan_from(&self, tracker: &dyn Tracker, live: &Live<'_>) -> Result<RollbackPlan> {
        if self.records.is_deferred() {
            return Err(super::target::unread());
        }
        let context = match self.target.scope.tracker() {
            TrackerKind::Jira => {
                let ask = match self.options.destination() {
                    Some(into) => super::into::jira::context_request(
                        &self.records.records,
                        self.options,
                        into,
                    ),
                    None => super::jira::context_request(
                        &self.records.records,
                        live.whole(),
                        self.options,
                    ),
                };
                tracker.rollback_context(&ask).await?
            }
            TrackerKind::GitHub => RollbackContext::default(),
        };
        // `--by`/`--since`: who made each change since the snapshot, from one listing.
        let activity = match self.options.narrowed() {
            true => Some(
                tracker
                    .activity(self.options.activity_from())
                    .await
                    .map_err(|e| self.no_events(&e))?
                    .ok_or_else(|| {
                        Error::Internal(format!(
                            "{} keeps no record of who changed what; plan without --by and --since",
                            self.target.scope
                        ))
                    })?,
            ),
            false => None,
        };
        // A restore into another scope copies every target record.
        let complete = match self.options.destination() {
            Some(_) => Some(self.records.complete().await?),
            None => None,
        };
        let whole = complete.unwrap_or(&self.records.records);
        let in_place = self.target.scope.tracker() == TrackerKind::GitHub && complete.is_none();
        if in_place && live.target_view().is_none() {
            return Err(Error::Internal(
                "a GitHub plan in place needs the live state held against its target (Rollback::live)".into(),
            ));
        }
        Ok(self.plan(whole, live, &context, activity.as_ref()))
    }

    /// `--by`/`--since` decide from the issue events since the target snapshot; when they
    /// cannot be listed, nothing is guessed: the plan is refused, saying what to do.
    fn no_events(&self, e: &crate::tracker::TrackerError) -> Error {
        let target = self
            .target
            .name
            .clone()
            .unwrap_or_else(|| self.target.id.to_string());
        Error::Invalid(format!(
            "--by/--since need {}'s issue events since snapshot {target}, and listing them failed ({e}); nothing was planned or written — try again once the listing answers, or roll back without --by/--since (the preview lists every change)",
            self.target.scope
        ))
    }

    /// The plan that turns `live` into the target: `whole` holds every target record
    /// (GitHub in place: all but the pending comments, which `live` read as needed).
    fn plan(
        &self,
        whole: &RecordSet,
        live: &Live<'_>,
        context: &RollbackContext,
        activity: Option<&crate::attribution::Activity>,
    ) -> RollbackPlan {
        let reference = self
            .target
            .name
            .clone()
            .unwrap_or_else(|| self.target.id.to_string());
        let from = &self.target.scope;
        let planned = match (from.tracker(), self.options.destination()) {
            (TrackerKind::GitHub, Some(_)) => {
                super::into::plan_github(whole, from, live.whole(), &reference)
            }
            (TrackerKind::Jira, Some(_)) => {
                super::into::jira::plan(whole, from, live.whole(), &reference, context)
            }
            (TrackerKind::Jira, None) => {
                super::jira::plan(whole, live.whole(), self.options, &reference, context)
            }
            (TrackerKind::GitHub, None) => {
                let target = live
                    .target_view()
                    .unwrap_or_else(|| TargetView::from(whole));
                let planned = plan(target, live.view(), self.options, &reference);
                match activity {
                    Some(log) => super::narrow::narrow(planned, live.view(), self.options, log),
                    None => planned,
                }
            }
        };
        RollbackPlan {
            scope: self.scope().clone(),
            target: self.target.id,
            target_name: self.target.name.clone(),
            created_at: Utc::now(),
            options: self.options.clone(),
            ops: planned.ops,
            irrecoverable: planned.irrecoverable,
            notes: planned.notes,
            left_alone: planned.left_alone,
        }
    }
}

/// A target snapshot as a rollback plan holds it ([`Target`]); the manifest's entries are
/// let go as the target is built.
pub async fn load_target(archive: &Archive, entry: &SnapshotEntry) -> Result<Target> {
    Ok(Target::load(archive, entry).await?.0)
}

/// What a shell reads before it plans a rollback request: the target as the plan holds it,
/// and the request's options checked against it (the inner `Err`: the request is refused,
/// naming the field).
pub async fn prepare(
    archive: &Archive,
    entry: &SnapshotEntry,
    request: &super::RollbackRequest,
    jira: &super::JiraRequest,
    into: Option<&Scope>,
) -> Result<(
    Target,
    std::result::Result<RollbackOptions, super::OptionError>,
)> {
    let (target, header) = Target::load(archive, entry).await?;
    let activity = header.activity_from();
    let options =
        RollbackOptions::for_request(request, jira, entry, activity, &target.records, into);
    Ok((target, options))
}

/// Computes the plan against the current live state (previews, and verification).
pub async fn plan_against_live(
    tracker: Arc<dyn Tracker>,
    rollback: &Rollback<'_>,
    progress: Arc<dyn Progress>,
) -> Result<RollbackPlan> {
    let live = fetch_live_for(tracker.clone(), rollback, progress).await?;
    rollback.plan_from(tracker.as_ref(), &live).await
}

/// Reads the live state as `rollback`'s planner holds it ([`Rollback::live`]).
async fn fetch_live_for<'a>(
    tracker: Arc<dyn Tracker>,
    rollback: &Rollback<'a>,
    progress: Arc<dyn Progress>,
) -> Result<Live<'a>> {
    let mut live = rollback.live();
    fetch_each(tracker, progress, |record| {
        live.take(record);
        Ok(())
    })
    .await?;
    live.read_target().await?;
    let (issues, comments, target_comments) = live.held();
    tracing::debug!(
        issues,
        comments,
        target_comments,
        "live records held apart from the target, and target comments read"
    );
    Ok(live)
}

/// What a preview shows, and what `--execute` (or an executing request) confirms: the plan
/// and its fingerprint.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub fingerprint: PlanFingerprint,
    pub plan: RollbackPlan,
    /// Set when an interrupted job of the same command is pending: the plan is that job's,
    /// and executing continues it.
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

/// Who will execute a preview's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Executor {
    /// A process (the CLI), which resumes an interrupted job of the same command: the
    /// preview is then that job's plan.
    Process,
    /// A restore job, which never resumes another's: the preview is always a new plan.
    Job,
}

/// The preview of `rollback` for `executor`, kept under its fingerprint (see
/// [`change_since`]).
pub async fn preview(
    archive: &Archive,
    tracker: Arc<dyn Tracker>,
    rollback: &Rollback<'_>,
    progress: Arc<dyn Progress>,
    executor: Executor,
) -> Result<Preview> {
    let pending = match executor {
        Executor::Process => open_job(archive, rollback.scope(), &rollback.resume_key()).await?,
        Executor::Job => None,
    };
    let mut preview = None;
    if let Some(job) = pending {
        let mut job = job;
        // Shown only: executing checks the stored plan again (see `Engine::step`).
        let stored = match sealed_plan(archive, &mut job).await? {
            Some(plan) => Ok(plan),
            None => read_json::<RollbackPlan>(archive, &job.plan_key).await,
        };
        match stored {
            Ok(plan) => {
                let done = journaled(archive, &job.id).await?.into_iter().collect();
                let mut resumed = Preview::new(plan);
                resumed.resuming = Some(Resuming { job: job.id, done });
                preview = Some(resumed);
            }
            Err(Error::Store(crate::store::StoreError::NotFound { .. })) => {}
            Err(e) => return Err(e),
        }
    }
    let preview = match preview {
        Some(p) => p,
        None => Preview::new(plan_against_live(tracker, rollback, progress).await?),
    };
    remember_preview(archive, &preview.plan).await?;
    Ok(preview)
}

/// The unfinished job of a command, if any.
pub(crate) async fn open_job(
    archive: &Archive,
    scope: &Scope,
    key: &ResumeKey,
) -> Result<Option<JobEntry>> {
    Ok(archive
        .catalog
        .list_jobs(scope)
        .await?
        .into_iter()
        .find(|j| {
            j.kind == JobKind::Restore && !j.status.is_finished() && j.resume_key == key.as_str()
        }))
}

/// The plan indices a job's journal holds.
async fn journaled(archive: &Archive, job: &JobId) -> Result<BTreeSet<u64>> {
    Ok(archive
        .catalog
        .journal(job)
        .await?
        .into_iter()
        .map(|e| e.op)
        .collect())
}

/// Reads a JSON object the engine stored (a plan, a job's request).
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    archive: &Archive,
    key: &str,
) -> Result<T> {
    let bytes = archive.store.get(key).await?;
    let text = blob::decompress(key, &bytes)?;
    serde_json::from_slice(&text)
        .map_err(|e| Error::Internal(format!("the stored object {key} is unreadable: {e}")))
}

/// The plan a job stored, checked against the hash the job recorded (`None` while it has
/// recorded none). A damaged plan is never used, to execute or to show: the job is closed as
/// failed, so the next run of the command plans afresh from the live state — safe, since
/// what the job already wrote is part of that state, and comments it recreated carry their
/// markers.
async fn sealed_plan(archive: &Archive, job: &mut JobEntry) -> Result<Option<RollbackPlan>> {
    let Some(hash) = job.plan_hash.clone() else {
        return Ok(None);
    };
    match archive.get_sealed(&job.plan_key, "plan", &hash).await {
        Ok(plan) => Ok(Some(plan)),
        Err(e) if e.is_damage() => {
            retire(archive, job, &format!("its stored plan is damaged: {e}")).await?;
            Err(Error::Invalid(format!(
                "rollback job {} cannot resume: {e}. The job is closed as failed; run the command again to plan afresh from the live state (what the job wrote stays, and a new plan covers only what remains)",
                job.id
            )))
        }
        Err(e) => Err(e),
    }
}

/// Stores a job's plan, sealed: returns the plan that stands and the hash its job records.
///
/// A plan may already be stored without its hash on the job: the run stopped between the
/// two writes, or the job predates sealed plans. It stands only if it is the plan made
/// again now from the same pre-rollback snapshot (same fingerprint: the same operations in
/// the same order, which the journal's indices refer to); anything else is damage.
async fn seal_plan(
    archive: &Archive,
    key: &str,
    plan: RollbackPlan,
) -> Result<(RollbackPlan, ObjectHash)> {
    let stored = match archive.store.get(key).await {
        Ok(stored) => stored,
        Err(crate::store::StoreError::NotFound { .. }) => {
            return Ok((
                plan.clone(),
                archive.put_sealed(key, "plan", &plan).await?.hash,
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let earlier: Option<RollbackPlan> = blob::decompress(key, &stored)
        .ok()
        .and_then(|text| serde_json::from_slice(&text).ok());
    match earlier {
        Some(earlier) if earlier.fingerprint() == plan.fingerprint() => {
            Ok((earlier, ObjectHash::of(&stored)))
        }
        _ => Err(blob::BlobError::Corrupt {
            key: key.to_string(),
            detail: format!(
                "it is not the plan this job's pre-rollback snapshot gives (fingerprint {})",
                plan.fingerprint()
            ),
        }
        .into()),
    }
}

/// Stores a JSON object once (create-if-absent, like every object).
pub(crate) async fn write_json<T: Serialize>(
    archive: &Archive,
    key: &str,
    what: &'static str,
    value: &T,
) -> Result<()> {
    let bytes =
        blob::canonical_json(value).map_err(|source| blob::BlobError::Encode { what, source })?;
    archive
        .store
        .put(key, Bytes::from(blob::compress(&bytes)))
        .await?;
    Ok(())
}

/// Everything one run works with besides the job.
#[derive(Clone)]
pub(crate) struct Engine<'a> {
    pub archive: &'a Archive,
    pub tracker: Arc<dyn TrackerWriter>,
    pub progress: Arc<dyn Progress>,
    pub on_plan: Option<PlanProgress>,
    pub on_op: Option<OpProgress>,
}

impl Engine<'_> {
    /// Continues `job` as far as `budget` allows (see the module docs). `resumed`: an
    /// earlier run of this job may have written without journaling, so creations are
    /// looked for before they are repeated.
    pub(crate) async fn run(
        &self,
        job: &mut JobEntry,
        lock: &mut HeldLock,
        rollback: &Rollback<'_>,
        confirmed: &Confirmed,
        budget: Budget,
        resumed: bool,
    ) -> Result<Step> {
        let archive = self.archive;
        // The pre-rollback snapshot is both the undo point and the live state the plan is
        // computed from, so the tracker is read once, not twice.
        let pre = self.pre_rollback_snapshot(job, &lock.info.token).await?;
        if job.pre_snapshot != Some(pre.id) {
            update(archive, job, |j| j.pre_snapshot = Some(pre.id)).await?;
        }
        // A deferred target is read now, the capture's memory given back.
        let read;
        let with_target;
        let rollback = match rollback.records.is_deferred() {
            true => {
                read = Target::load(archive, rollback.target).await?.0;
                with_target = Rollback {
                    records: &read,
                    ..*rollback
                };
                &with_target
            }
            false => rollback,
        };

        let plan: RollbackPlan = match sealed_plan(archive, job).await? {
            Some(plan) => plan,
            None => {
                // A comment whose blob is the target's is known identical unread.
                let mut live = rollback.live();
                // Its entries walked as parsed: held whole, they were most of a large
                // repository's execution peak.
                let mut differing = Vec::new();
                archive
                    .for_each_entry(&pre, |e| {
                        if !live.take_stored(&e) {
                            differing.push(e);
                        }
                    })
                    .await?;
                archive
                    .for_each_entry_record(differing, std::convert::identity, |r| live.take(r))
                    .await?;
                live.read_target().await?;
                let plan = rollback
                    .plan_from(self.tracker.clone().reader().as_ref(), &live)
                    .await?;
                if !confirmed.allows(&plan) {
                    return Ok(Step::Changed(Box::new(plan)));
                }
                let (plan, hash) = seal_plan(archive, &job.plan_key, plan).await?;
                let total = plan.ops.len() as u64;
                update(archive, job, |j| {
                    j.total_ops = total;
                    j.plan_hash = Some(hash);
                })
                .await?;
                plan
            }
        };
        if !confirmed.allows(&plan) {
            return Ok(Step::Changed(Box::new(plan)));
        }
        if let Some(cb) = &self.on_plan {
            cb(&plan);
        }

        let done = journaled(archive, &job.id).await?;
        let mut executed = Vec::new();
        let mut already_done = done.len() as u64;
        let total = plan.ops.len();
        for (n, planned) in plan.ops.iter().enumerate() {
            if done.contains(&planned.index) {
                continue;
            }
            if budget.spent(executed.len()) {
                return Ok(Step::Paused {
                    done: already_done + executed.len() as u64,
                });
            }
            lock.keep(archive).await?;
            match self.apply_journaled(&job.id, planned, resumed).await? {
                Applied::Found => already_done += 1,
                Applied::Executed => executed.push(planned.index),
            }
            if let Some(cb) = &self.on_op {
                cb(planned, n + 1, total);
            }
        }

        // Verify: plan again against what is live now. A clean rollback needs nothing more.
        let reader = self.tracker.clone().reader();
        let live = fetch_live_for(reader.clone(), rollback, self.progress.clone()).await?;
        let again = rollback.plan_from(reader.as_ref(), &live).await?;
        let recreated = recreated_keys(archive, &job.id, &plan).await?;
        let moved = match rollback.options.destination() {
            Some(_) if rollback.target.scope.tracker() == TrackerKind::Jira => recreated
                .iter()
                .map(|(from, to)| Moved {
                    from: from.clone(),
                    to: to.clone(),
                })
                .collect(),
            Some(_) => super::into::mapping(&rollback.target.scope, live.whole())
                .into_iter()
                .map(|(from, to)| Moved {
                    from: format!("#{from}"),
                    to: format!("#{to}"),
                })
                .collect(),
            None => Vec::new(),
        };
        let verification = Verification {
            clean: again.ops.is_empty(),
            residual: again.ops,
            irrecoverable: plan.irrecoverable.clone(),
        };
        let residual = verification.residual.len();
        update(archive, job, |j| {
            j.status = JobStatus::Completed;
            if residual > 0 {
                j.error = Some(format!("{residual} difference(s) remain after execution"));
            }
        })
        .await?;
        Ok(Step::Finished(Box::new(RollbackReport {
            job: job.id,
            resumed,
            fingerprint: plan.fingerprint(),
            // A copy's undo closes what the restore created in the destination.
            undo: match rollback.options.destination() {
                // A Jira copy's undo deletes the issues created since the pre-rollback
                // snapshot: the copies (subtasks with their parents).
                Some(_) if rollback.target.scope.tracker() == TrackerKind::Jira => format!(
                    "backtrack restore {} --delete-new-issues --delete-new-subtasks",
                    pre.id
                ),
                Some(_) => format!(
                    "backtrack restore {} --close-new-issues --delete-new-comments",
                    pre.id
                ),
                None => format!("backtrack restore {}", pre.id),
            },
            pre_rollback_snapshot: pre.id,
            plan,
            executed,
            already_done,
            verification,
            recreated,
            moved,
        })))
    }

    /// Applies one planned operation so that retries never repeat it: on a resumed job a
    /// creation is first looked for; the outcome goes to the journal, where a duplicate
    /// append (a concurrent runner recorded the same operation) is not an error.
    async fn apply_journaled(
        &self,
        job: &JobId,
        planned: &PlannedOp,
        resumed: bool,
    ) -> Result<Applied> {
        let found = if resumed && !planned.op.is_idempotent() {
            self.tracker.find_applied(&planned.op).await?
        } else {
            None
        };
        let (result, applied) = match found {
            Some(result) => (result, Applied::Found),
            None => (self.tracker.apply(&planned.op).await?, Applied::Executed),
        };
        match self
            .archive
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

    /// The job's pre-rollback snapshot: the one it recorded if that completed, otherwise a
    /// new one, always full: a plan is only as good as its view of the live state, so it
    /// lists everything rather than trust a merge.
    async fn pre_rollback_snapshot(
        &self,
        job: &JobEntry,
        lock_token: &str,
    ) -> Result<SnapshotEntry> {
        if let Some(id) = job.pre_snapshot {
            if let Some(entry) = self
                .archive
                .catalog
                .get(&id)
                .await?
                .filter(|e| e.status == SnapshotStatus::Completed)
            {
                return Ok(entry);
            }
        }
        let report = self
            .archive
            .create_snapshot(
                self.tracker.clone().reader(),
                &SnapshotOptions {
                    name: Some(SnapshotName::parse(&pre_rollback_name(&job.id))?),
                    // A resumed job may take it again after a crash that left the first one
                    // unrecorded.
                    reuse_name: true,
                    trigger: Trigger::PreRollback,
                    lock_token: Some(lock_token.to_string()),
                    full: true,
                    progress: self.progress.clone(),
                    ..SnapshotOptions::default()
                },
            )
            .await?;
        self.archive
            .catalog
            .get(&report.id)
            .await?
            .ok_or_else(|| Error::Internal("the pre-rollback snapshot vanished".into()))
    }
}

/// Original key → new key of the issues the job recreated, as its journal recorded them.
async fn recreated_keys(
    archive: &Archive,
    job: &JobId,
    plan: &RollbackPlan,
) -> Result<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    if !plan.ops.iter().any(|o| {
        matches!(
            o.op,
            crate::tracker::operation::Operation::JiraRecreateIssue { .. }
        )
    }) {
        return Ok(out);
    }
    for e in archive.catalog.journal(job).await? {
        let Some(planned) = plan.ops.iter().find(|o| o.index == e.op) else {
            continue;
        };
        if let crate::tracker::operation::Operation::JiraRecreateIssue { original_key, .. } =
            &planned.op
        {
            if let Some(k) = e.result.get("key").and_then(serde_json::Value::as_str) {
                out.insert(original_key.clone(), k.to_string());
            }
        }
    }
    Ok(out)
}

/// What [`Engine::apply_journaled`] did with an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    /// A resumed run found its effect already there (a recreated comment, by its marker).
    Found,
    /// The write was made.
    Executed,
}
