//! A snapshot entry's life after its capture: what its status really is now, and how it is
//! deleted.
//!
//! - An `in_progress` entry holding a capture's store lease (its `lease` token, see
//!   [`crate::lease`]) is a capture in progress only while that lease is live (entries
//!   written before `in_progress` existed say `pending` with a lease, and are read the same).
//!   Once that lease has expired the capturing process is gone (killed, crashed, its machine
//!   asleep past the lease) and the entry is reported `failed` ([`Archive::entries`]); the
//!   next capture of the scope records it so ([`Archive::fail_abandoned`]) and `prune` drops
//!   it. A `pending` entry without a lease is one a snapshot job reserved and has not
//!   started; an `in_progress` one without a lease, a job's capture between two invocations
//!   (see [`super::job`]): both are its job's to finish.
//! - Deleting removes data before the index: the entry becomes `deleting`, then its manifest
//!   goes, and only then its row. A deletion that fails halfway (a read-only folder, a lost
//!   connection) leaves a row that says `deleting` and is finished by running the delete
//!   again (or by the next prune), never a vanished snapshot whose manifest is still there
//!   nor a `completed` one whose manifest is gone.
//! - A snapshot an unfinished restore job needs (its target, or its pre-rollback snapshot:
//!   the undo point) is never deleted, by `snapshot delete` or by `prune`
//!   ([`Archive::needed_by_jobs`], the one rule both ask). Deletions hold the scope's lock
//!   while they decide and delete, so no rollback starts needing a snapshot in between; a
//!   restore job holds that lock for its whole run (hours, for a large one), and since its
//!   row names everything it needs, deletions of other snapshots go ahead under it.
//! - A copy into another scope (`restore --into`) keeps its job in the destination's scope,
//!   so before the job exists it records a *hold* on its source scope (a catalog cell listing
//!   such jobs, [`Archive::hold_for_copy`]); the same rule reads the holds, so a snapshot being
//!   copied elsewhere is not pruned from under the copy either.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Archive;
use crate::catalog::{
    ByteStats, CatalogError, Finish, JobKind, LockInfo, SnapshotEntry, SnapshotStatus,
};
use crate::error::{Error, Result};
use crate::id::{JobId, SnapshotId};
use crate::lease::{self, LeaseTable};
use crate::manifest::{Counts, Trigger};
use crate::rollback::job::job_of_lock;
use crate::rollback::pre_rollback_name;
use crate::scope::Scope;

/// How long a deletion's own hold on the scope lasts at most (it is released as soon as the
/// deletion is done; the expiry only frees the scope if the process dies meanwhile).
const DELETE_LOCK_TTL: Duration = Duration::from_secs(120);

/// A job's lock must outlive the deletion working under it by this much, or the deletion
/// waits: otherwise the lock could expire, and another rollback start, while it works.
const UNDER_JOB_MARGIN: Duration = Duration::from_secs(60);

/// How often a hold is retried when other copies of the same scope record theirs at once.
const HOLD_ATTEMPTS: u32 = 8;

/// The catalog cell listing the jobs of other scopes that copy `source`'s snapshots.
fn copy_holds_cell(source: &Scope) -> String {
    format!("copy-holds--{}", source.slug())
}

/// What an unfinished restore job needs a snapshot for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NeededAs {
    /// The snapshot the job restores to.
    Target,
    /// The job's pre-rollback snapshot: what undoes the rollback.
    PreRollback,
}

/// A snapshot that an unfinished restore job needs, and so cannot be deleted or pruned
/// until the job finishes (as [`Error::InUse`] when a deletion asks for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InUse {
    pub snapshot: SnapshotId,
    pub scope: Scope,
    pub job: JobId,
    pub needed_as: NeededAs,
}

impl fmt::Display for InUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (role, loss) = match self.needed_as {
            NeededAs::Target => (
                "the target",
                "deleting it would leave the repository half restored",
            ),
            NeededAs::PreRollback => (
                "the pre-rollback snapshot (the undo point)",
                "deleting it would leave no way to undo the rollback",
            ),
        };
        write!(
            f,
            "snapshot {} is {role} of restore job {}, which has not finished: {loss}; wait until the job is completed or failed, then delete it",
            self.snapshot, self.job
        )
    }
}

/// How a deletion holds rollbacks of its scope off while it works.
#[derive(Debug)]
pub(crate) enum DeletionGuard {
    /// The deletion holds the scope's lock itself.
    Own(LockInfo),
    /// An unfinished job holds the lock, and its row names what it needs.
    UnderJob(JobId),
}

/// What an abandoned capture's entry says, shown as its error.
pub const ABANDONED: &str =
    "abandoned: the capturing process stopped (its store lease expired) before it finished";

/// Whether `entry` is a `pending` capture whose process is gone: its lease is not live in
/// `leases`. Entries without a lease (written before captures held one) are judged by age
/// elsewhere (`prune`'s stale-pending rule), never here.
pub fn is_abandoned(entry: &SnapshotEntry, leases: &LeaseTable, now: DateTime<Utc>) -> bool {
    entry.status.is_open()
        && entry
            .lease
            .as_deref()
            .is_some_and(|token| !leases.holds(token, now))
}

/// `entry` as it stands: an abandoned capture is `failed`, with [`ABANDONED`] as its error.
fn as_it_stands(mut entry: SnapshotEntry) -> SnapshotEntry {
    entry.status = SnapshotStatus::Failed;
    entry.error = Some(ABANDONED.to_string());
    entry
}

/// An entry `verify` did not check, and why (it names every one, so nothing is skipped
/// silently).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub id: crate::id::SnapshotId,
    pub status: SnapshotStatus,
    pub reason: String,
}

/// The entries among `entries` that are not completed snapshots, with the reason each has
/// nothing to verify.
pub fn skipped(entries: &[SnapshotEntry]) -> Vec<Skipped> {
    entries
        .iter()
        .filter_map(|e| {
            let reason = match e.status {
                SnapshotStatus::Completed => return None,
                SnapshotStatus::Partial => {
                    "a partial capture: the next `snapshot create` of its scope completes it"
                        .to_string()
                }
                SnapshotStatus::Pending if e.lease.is_none() => {
                    "a queued snapshot job: nothing is captured yet".to_string()
                }
                SnapshotStatus::Pending | SnapshotStatus::InProgress => {
                    "a capture in progress: its manifest is not written yet".to_string()
                }
                SnapshotStatus::Failed if e.error.as_deref() == Some(ABANDONED) => {
                    "an abandoned capture (its process stopped): it never completed".to_string()
                }
                SnapshotStatus::Failed => format!(
                    "a failed capture: {}",
                    e.error.as_deref().unwrap_or("no manifest was written")
                ),
                SnapshotStatus::Deleting => {
                    "being deleted: its manifest may already be gone".to_string()
                }
            };
            Some(Skipped {
                id: e.id,
                status: e.status,
                reason,
            })
        })
        .collect()
}

impl Archive {
    /// The entries of one scope (or all), newest first, with their status as it stands:
    /// a `pending` entry whose capture is gone is reported `failed` (see the module docs).
    /// Listings, `verify` and `prune` all go through here, so they agree.
    pub async fn entries(&self, scope: Option<&Scope>) -> Result<Vec<SnapshotEntry>> {
        let entries = self.catalog.list(scope).await?;
        if !entries
            .iter()
            .any(|e| e.status.is_open() && e.lease.is_some())
        {
            return Ok(entries);
        }
        let leases = lease::read(&*self.catalog).await?;
        let now = Utc::now();
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            if !is_abandoned(&entry, &leases, now) {
                out.push(entry);
                continue;
            }
            // The listing may be older than the lease table: a capture that finished in
            // between released its lease after completing its entry, so read the entry again
            // before calling it abandoned.
            match self.catalog.get(&entry.id).await? {
                Some(fresh) if fresh.status.is_open() => out.push(as_it_stands(fresh)),
                Some(fresh) => out.push(fresh),
                None => {}
            }
        }
        Ok(out)
    }

    /// One entry as it stands (see [`Archive::entries`]).
    pub async fn standing(&self, entry: SnapshotEntry) -> Result<SnapshotEntry> {
        if !entry.status.is_open() || entry.lease.is_none() {
            return Ok(entry);
        }
        let leases = lease::read(&*self.catalog).await?;
        Ok(if is_abandoned(&entry, &leases, Utc::now()) {
            as_it_stands(entry)
        } else {
            entry
        })
    }

    /// Records every abandoned capture of `scope` as `failed` (a conditional finish, so a
    /// capture that completes meanwhile wins). Returns how many were.
    pub async fn fail_abandoned(&self, scope: &Scope) -> Result<usize> {
        let mut failed = 0;
        for entry in self.entries(Some(scope)).await? {
            if entry.status != SnapshotStatus::Failed || entry.error.as_deref() != Some(ABANDONED) {
                continue;
            }
            let finish = Finish {
                status: SnapshotStatus::Failed,
                finished_at: Utc::now(),
                counts: Counts::default(),
                bytes: ByteStats::default(),
                requests: 0,
                error: Some(ABANDONED.to_string()),
                manifest_hash: None,
            };
            match self.catalog.finish(&entry.id, &finish).await {
                Ok(()) => failed += 1,
                // Finished (or removed) by someone else in the meantime: nothing to record.
                Err(crate::catalog::CatalogError::Conflict { .. })
                | Err(crate::catalog::CatalogError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if failed > 0 {
            tracing::info!(scope = %scope, failed, "abandoned captures recorded as failed");
        }
        Ok(failed)
    }

    /// Deletes a snapshot: its manifest, then its row (see the module docs). Blobs stay
    /// until `prune` collects the ones no manifest references. A pinned snapshot needs
    /// `force`; a capture still running cannot be deleted, nor (whatever `force` says) a
    /// snapshot an unfinished restore job needs ([`Error::InUse`], naming the job).
    pub async fn delete_snapshot(&self, entry: &SnapshotEntry, force: bool) -> Result<()> {
        if entry.pinned && !force {
            return Err(Error::Refused(format!(
                "snapshot {} is pinned; unpin it or pass --force to delete it anyway",
                entry.id
            )));
        }
        // An abandoned capture's process is gone: it may be deleted like a failed one.
        let entry = self.standing(entry.clone()).await?;
        if entry.status.is_open() {
            return Err(Error::Refused(format!(
                "snapshot {} is {}: a capture still running or queued; wait for it to finish (or, if its process is gone, for its lease to expire) and delete it then",
                entry.id, entry.status
            )));
        }
        // Asked first so that a job's need is named even while its process holds the scope;
        // asked again under the guard, which is the answer that counts.
        self.refuse_if_needed(&entry).await?;
        let guard = self
            .guard_deletion(&entry.scope, "snapshot delete", DELETE_LOCK_TTL)
            .await?;
        let result = async {
            self.refuse_if_needed(&entry).await?;
            self.remove_snapshot(&entry).await
        }
        .await;
        self.release_guard(guard).await;
        result
    }

    async fn refuse_if_needed(&self, entry: &SnapshotEntry) -> Result<()> {
        match self
            .needed_by_jobs(&entry.scope)
            .await?
            .into_iter()
            .find(|n| n.snapshot == entry.id)
        {
            Some(needed) => Err(Error::InUse(Box::new(needed))),
            None => Ok(()),
        }
    }

    /// The snapshots of `scope` that unfinished restore jobs need: each job's target and its
    /// pre-rollback snapshot — the one it recorded, or one taken under its name that it has
    /// not recorded yet. The one rule `snapshot delete` and `prune` both follow.
    pub async fn needed_by_jobs(&self, scope: &Scope) -> Result<Vec<InUse>> {
        let jobs: Vec<_> = self
            .catalog
            .list_jobs(scope)
            .await?
            .into_iter()
            .filter(|j| j.kind == JobKind::Restore && !j.status.is_finished())
            .collect();
        let mut needed = Vec::new();
        for job in &jobs {
            let mut need = |snapshot: SnapshotId, needed_as| {
                if !needed.iter().any(|n: &InUse| n.snapshot == snapshot) {
                    needed.push(InUse {
                        snapshot,
                        scope: job.scope.clone(),
                        job: job.id,
                        needed_as,
                    });
                }
            };
            if let Some(target) = job.target {
                need(target, NeededAs::Target);
            }
            if let Some(pre) = job.pre_snapshot {
                need(pre, NeededAs::PreRollback);
            }
        }
        for job in self.copying_from(scope).await? {
            if let Some(target) = job.target {
                if !needed.iter().any(|n| n.snapshot == target) {
                    needed.push(InUse {
                        snapshot: target,
                        scope: job.scope.clone(),
                        job: job.id,
                        needed_as: NeededAs::Target,
                    });
                }
            }
        }
        if jobs.is_empty() {
            return Ok(needed);
        }
        for entry in self.catalog.list(Some(scope)).await? {
            if entry.trigger != Trigger::PreRollback
                || needed.iter().any(|n| n.snapshot == entry.id)
            {
                continue;
            }
            if let Some(job) = jobs
                .iter()
                .find(|j| entry.name.as_deref() == Some(pre_rollback_name(&j.id).as_str()))
            {
                needed.push(InUse {
                    snapshot: entry.id,
                    scope: job.scope.clone(),
                    job: job.id,
                    needed_as: NeededAs::PreRollback,
                });
            }
        }
        Ok(needed)
    }

    /// Records that restore job `job`, kept in another scope, copies a snapshot of `source`
    /// (`restore --into`): called before the job is created, so there is no moment in which
    /// the job exists and its source snapshot could be pruned. Holds of finished or vanished
    /// jobs are dropped on the way.
    pub async fn hold_for_copy(&self, source: &Scope, job: &JobId) -> Result<()> {
        let cell = copy_holds_cell(source);
        for _ in 0..HOLD_ATTEMPTS {
            let (mut held, version) = self.copy_holds(&cell).await?;
            let mut kept = Vec::with_capacity(held.len() + 1);
            for id in held.drain(..) {
                if id != *job && self.unfinished_restore(&id).await?.is_some() {
                    kept.push(id);
                }
            }
            kept.push(*job);
            let value = serde_json::to_value(&kept)
                .map_err(|e| Error::Internal(format!("cannot encode the copy holds: {e}")))?;
            match self.catalog.write_cell(&cell, &value, version).await {
                Ok(_) => return Ok(()),
                Err(CatalogError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Catalog(CatalogError::Conflict {
            what: format!("the copy holds on {source}"),
            detail: format!("they kept changing through {HOLD_ATTEMPTS} attempts; retry"),
        }))
    }

    /// The unfinished restore jobs of other scopes that copy a snapshot of `scope`.
    async fn copying_from(&self, scope: &Scope) -> Result<Vec<crate::catalog::JobEntry>> {
        let (held, _) = self.copy_holds(&copy_holds_cell(scope)).await?;
        let mut jobs = Vec::new();
        for id in held {
            if let Some(job) = self.unfinished_restore(&id).await? {
                jobs.push(job);
            }
        }
        Ok(jobs)
    }

    async fn unfinished_restore(&self, id: &JobId) -> Result<Option<crate::catalog::JobEntry>> {
        Ok(self
            .catalog
            .get_job(id)
            .await?
            .filter(|j| j.kind == JobKind::Restore && !j.status.is_finished()))
    }

    async fn copy_holds(&self, cell: &str) -> Result<(Vec<JobId>, Option<u64>)> {
        match self.catalog.read_cell(cell).await? {
            None => Ok((Vec::new(), None)),
            Some(stored) => {
                let held = serde_json::from_value(stored.value).map_err(|e| {
                    Error::Catalog(CatalogError::Corrupt {
                        catalog: self.catalog.location(),
                        detail: format!("cell {cell}: {e}"),
                    })
                })?;
                Ok((held, Some(stored.version)))
            }
        }
    }

    /// Holds rollbacks of `scope` off for a deletion (see the module docs): the scope's lock,
    /// or, while an unfinished job holds it with time to spare, that job's hold. Anything
    /// else holding the scope (a CLI rollback, another prune) refuses with
    /// [`CatalogError::Locked`] naming it.
    pub(crate) async fn guard_deletion(
        &self,
        scope: &Scope,
        what: &str,
        ttl: Duration,
    ) -> Result<DeletionGuard> {
        let lock = LockInfo::new(scope, lease::holder(what), ttl);
        match self.catalog.lock(&lock).await {
            Ok(()) => Ok(DeletionGuard::Own(lock)),
            Err(CatalogError::Locked(held)) => {
                let margin =
                    chrono::Duration::from_std(UNDER_JOB_MARGIN).unwrap_or(chrono::Duration::MAX);
                if let Some(job) = job_of_lock(&held) {
                    let lasting = held.expires_at > Utc::now() + margin;
                    let open = match self.catalog.get_job(&job).await? {
                        Some(j) => !j.status.is_finished(),
                        None => false,
                    };
                    if lasting && open {
                        return Ok(DeletionGuard::UnderJob(job));
                    }
                }
                Err(CatalogError::Locked(held).into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Ends a [`DeletionGuard`] (a lock it took is released; a failure to is only logged:
    /// the lock expires by itself).
    pub(crate) async fn release_guard(&self, guard: DeletionGuard) {
        match guard {
            DeletionGuard::Own(lock) => {
                if let Err(e) = self.catalog.unlock(&lock.scope, &lock.token).await {
                    tracing::warn!(error = %e, "could not release the scope's lock after deleting; it expires by itself");
                }
            }
            DeletionGuard::UnderJob(job) => {
                tracing::debug!(job = %job, "deleted under the hold of the job that has the scope")
            }
        }
    }

    /// The deletion itself, for `delete_snapshot` and `prune` (which decided already).
    pub(crate) async fn remove_snapshot(&self, entry: &SnapshotEntry) -> Result<()> {
        // `deleting` first: from here no reader uses the manifest, and a failure below
        // leaves a row that says what happened.
        self.catalog.mark_deleting(&entry.id).await?;
        if let Err(e) = self.store.delete(&entry.manifest_key).await {
            return Err(Error::Invalid(format!(
                "snapshot {} is now marked `deleting`, but its manifest could not be removed ({e}); fix that and run `backtrack snapshot delete {}` again to finish",
                entry.id, entry.id
            )));
        }
        self.catalog.delete(&entry.id).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::catalog::{Catalog, MemoryCatalog};
    use crate::id::SnapshotId;
    use crate::lease::{LeaseOptions, StoreLease};
    use crate::manifest::Trigger;
    use crate::store::{MemoryStore, ObjectStore};

    fn pending(scope: &Scope, lease: Option<&str>) -> SnapshotEntry {
        let id = SnapshotId::new();
        SnapshotEntry {
            id,
            scope: scope.clone(),
            name: None,
            trigger: Trigger::Manual,
            status: SnapshotStatus::Pending,
            created_at: Utc::now(),
            finished_at: None,
            counts: Counts::default(),
            bytes: ByteStats::default(),
            requests: 0,
            manifest_key: crate::keys::manifest(scope, &id),
            parent: None,
            pinned: false,
            expires_at: None,
            error: None,
            manifest_hash: None,
            lease: lease.map(str::to_string),
        }
    }

    #[tokio::test]
    async fn a_pending_entry_without_a_live_lease_stands_failed_until_recorded() {
        let catalog: Arc<dyn Catalog> = Arc::new(MemoryCatalog::new());
        let archive = Archive::new(Arc::new(MemoryStore::new()), catalog.clone());
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        let live = StoreLease::capture(catalog.clone(), "live", LeaseOptions::default())
            .await
            .unwrap();
        let running = pending(&scope, Some(live.token()));
        let gone = pending(&scope, Some("01-a-lease-nobody-holds"));
        let legacy = pending(&scope, None);
        for e in [&running, &gone, &legacy] {
            catalog.create(e).await.unwrap();
        }
        let status = |entries: &[SnapshotEntry], id| {
            entries
                .iter()
                .find(|e| e.id == id)
                .map(|e| (e.status, e.error.clone()))
                .unwrap()
        };
        let now = archive.entries(Some(&scope)).await.unwrap();
        assert_eq!(status(&now, running.id).0, SnapshotStatus::Pending);
        assert_eq!(status(&now, legacy.id).0, SnapshotStatus::Pending);
        assert_eq!(
            status(&now, gone.id),
            (SnapshotStatus::Failed, Some(ABANDONED.to_string()))
        );
        // Stored as pending until a writer records it.
        let stored = catalog.get(&gone.id).await.unwrap().unwrap();
        assert_eq!(stored.status, SnapshotStatus::Pending);
        assert_eq!(archive.fail_abandoned(&scope).await.unwrap(), 1);
        let stored = catalog.get(&gone.id).await.unwrap().unwrap();
        assert_eq!(stored.status, SnapshotStatus::Failed);
        assert_eq!(archive.fail_abandoned(&scope).await.unwrap(), 0);
        live.release().await.unwrap();
    }

    /// Issue 22 item 5: a snapshot an unfinished restore job needs (its target, its
    /// pre-rollback snapshot, recorded or not yet) is refused naming the job, whatever
    /// `force` says; others of the scope can go while the job holds the scope; once the job
    /// is finished, so can they.
    #[tokio::test]
    async fn snapshots_an_unfinished_job_needs_are_not_deleted_or_pruned() {
        use crate::catalog::{JobEntry, JobStatus};
        use crate::id::JobId;
        let catalog: Arc<dyn Catalog> = Arc::new(MemoryCatalog::new());
        let archive = Archive::new(Arc::new(MemoryStore::new()), catalog.clone());
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        let completed = |name: Option<String>, trigger| {
            let mut e = pending(&scope, None);
            e.status = SnapshotStatus::Completed;
            e.name = name;
            e.trigger = trigger;
            e
        };
        let target = completed(None, Trigger::Manual);
        let other = completed(None, Trigger::Manual);
        let job_id = JobId::new();
        let pre = completed(
            Some(crate::rollback::pre_rollback_name(&job_id)),
            Trigger::PreRollback,
        );
        for e in [&target, &other, &pre] {
            catalog.create(e).await.unwrap();
        }
        let now = Utc::now();
        let mut job = JobEntry {
            id: job_id,
            scope: scope.clone(),
            kind: JobKind::Restore,
            target: Some(target.id),
            capture: None,
            resume_key: "k".into(),
            plan_key: "p".into(),
            plan_hash: None,
            request_hash: None,
            status: JobStatus::Running,
            pre_snapshot: None,
            total_ops: 1,
            created_at: now,
            updated_at: now,
            error: None,
        };
        catalog.create_job(&job).await.unwrap();
        // The job holds the scope, as a restore job does for its whole run.
        let mut lock = LockInfo::new(&scope, "restore job", Duration::from_secs(600));
        lock.token = crate::rollback::job::lock_token(&job_id);
        catalog.lock(&lock).await.unwrap();

        for (entry, needed_as) in [(&target, NeededAs::Target), (&pre, NeededAs::PreRollback)] {
            match archive.delete_snapshot(entry, true).await {
                Err(Error::InUse(n)) => {
                    assert_eq!(
                        (n.snapshot, n.job, n.needed_as),
                        (entry.id, job_id, needed_as)
                    );
                    assert!(n.to_string().contains(&job_id.to_string()));
                }
                other => panic!("expected InUse, got {other:?}"),
            }
            assert!(catalog.get(&entry.id).await.unwrap().is_some());
        }
        assert!(Error::InUse(Box::new(
            archive.needed_by_jobs(&scope).await.unwrap()[0].clone()
        ))
        .is_refusal());
        // Retention would drop every snapshot: prune skips the two the job needs, saying why.
        let drop_all = crate::prune::Retention::new(0, Some(Duration::from_nanos(1))).unwrap();
        let opts = crate::prune::PruneOptions::new(drop_all);
        let report = crate::prune::run(&archive, &scope, &opts, true, "test")
            .await
            .unwrap();
        let held: Vec<_> = report.plan.held.iter().map(|h| h.id).collect();
        assert_eq!(held.len(), 2, "{held:?}");
        assert!(
            held.contains(&target.id) && held.contains(&pre.id),
            "{held:?}"
        );
        assert!(
            report
                .plan
                .to_string()
                .contains(&format!("restore job {job_id}")),
            "{}",
            report.plan
        );
        assert!(catalog.get(&target.id).await.unwrap().is_some());
        // Under the job's hold, a snapshot it does not need goes (prune took one already,
        // or the delete does).
        if catalog.get(&other.id).await.unwrap().is_some() {
            archive.delete_snapshot(&other, false).await.unwrap();
        }
        assert!(catalog.get(&other.id).await.unwrap().is_none());
        assert_eq!(
            catalog.current_lock(&scope).await.unwrap().unwrap().token,
            lock.token
        );

        // The job finishes: its snapshots are ordinary ones again.
        let mut done = job.clone();
        done.status = JobStatus::Completed;
        catalog.update_job(&done, JobStatus::Running).await.unwrap();
        job.status = JobStatus::Completed;
        catalog.unlock(&scope, &lock.token).await.unwrap();
        assert!(archive.needed_by_jobs(&scope).await.unwrap().is_empty());
        archive.delete_snapshot(&target, false).await.unwrap();
        assert!(
            catalog.current_lock(&scope).await.unwrap().is_none(),
            "the delete released its lock"
        );
    }

    /// A copy into another scope keeps its job in the destination's scope; the hold it
    /// records first keeps its source snapshot from the source's `prune` and `delete` until
    /// the job finishes, and holds of finished jobs are dropped when the next copy holds.
    #[tokio::test]
    async fn a_snapshot_being_copied_elsewhere_is_not_deleted_or_pruned() {
        use crate::catalog::{JobEntry, JobStatus};
        use crate::id::JobId;
        let catalog: Arc<dyn Catalog> = Arc::new(MemoryCatalog::new());
        let archive = Archive::new(Arc::new(MemoryStore::new()), catalog.clone());
        let source: Scope = "github:acme/widgets".parse().unwrap();
        let dest: Scope = "github:acme/widgets-copy".parse().unwrap();
        let mut copied = pending(&source, None);
        copied.status = SnapshotStatus::Completed;
        catalog.create(&copied).await.unwrap();
        let now = Utc::now();
        let job = JobEntry {
            id: JobId::new(),
            scope: dest.clone(),
            kind: JobKind::Restore,
            target: Some(copied.id),
            capture: None,
            resume_key: "k".into(),
            plan_key: "p".into(),
            plan_hash: None,
            request_hash: None,
            status: JobStatus::Running,
            pre_snapshot: None,
            total_ops: 1,
            created_at: now,
            updated_at: now,
            error: None,
        };
        archive.hold_for_copy(&source, &job.id).await.unwrap();
        assert!(
            archive.needed_by_jobs(&source).await.unwrap().is_empty(),
            "a hold whose job was never created holds nothing"
        );
        catalog.create_job(&job).await.unwrap();
        let needed = archive.needed_by_jobs(&source).await.unwrap();
        assert_eq!(
            needed
                .iter()
                .map(|n| (n.snapshot, n.job, n.needed_as, n.scope.clone()))
                .collect::<Vec<_>>(),
            vec![(copied.id, job.id, NeededAs::Target, dest.clone())]
        );
        match archive.delete_snapshot(&copied, true).await {
            Err(Error::InUse(n)) => assert!(n.to_string().contains(&job.id.to_string())),
            other => panic!("expected InUse, got {other:?}"),
        }
        let drop_all = crate::prune::Retention::new(0, Some(Duration::from_nanos(1))).unwrap();
        let opts = crate::prune::PruneOptions::new(drop_all);
        let report = crate::prune::run(&archive, &source, &opts, true, "test")
            .await
            .unwrap();
        assert_eq!(
            report.plan.held.iter().map(|h| h.id).collect::<Vec<_>>(),
            vec![copied.id]
        );
        assert!(catalog.get(&copied.id).await.unwrap().is_some());

        let mut done = job.clone();
        done.status = JobStatus::Completed;
        catalog.update_job(&done, JobStatus::Running).await.unwrap();
        assert!(archive.needed_by_jobs(&source).await.unwrap().is_empty());
        let next = JobId::new();
        archive.hold_for_copy(&source, &next).await.unwrap();
        let (held, _) = archive.copy_holds(&copy_holds_cell(&source)).await.unwrap();
        assert_eq!(held, vec![next], "the finished job's hold was dropped");
        archive.delete_snapshot(&copied, false).await.unwrap();
    }

    /// A store whose deletes fail, like a read-only folder.
    #[derive(Debug)]
    struct NoDelete(MemoryStore);

    #[async_trait::async_trait]
    impl ObjectStore for NoDelete {
        fn location(&self) -> String {
            "memory:no-delete".into()
        }
        async fn put(
            &self,
            key: &str,
            bytes: bytes::Bytes,
        ) -> std::result::Result<crate::store::PutOutcome, crate::store::StoreError> {
            self.0.put(key, bytes).await
        }
        async fn get(
            &self,
            key: &str,
        ) -> std::result::Result<bytes::Bytes, crate::store::StoreError> {
            self.0.get(key).await
        }
        async fn exists(&self, key: &str) -> std::result::Result<bool, crate::store::StoreError> {
            self.0.exists(key).await
        }
        async fn list(
            &self,
            prefix: &str,
        ) -> std::result::Result<Vec<crate::store::ObjectInfo>, crate::store::StoreError> {
            self.0.list(prefix).await
        }
        async fn delete(&self, key: &str) -> std::result::Result<(), crate::store::StoreError> {
            Err(crate::store::StoreError::PermissionDenied {
                store: self.location(),
                detail: format!("{key}: read-only"),
            })
        }
    }

    #[tokio::test]
    async fn a_failed_delete_leaves_a_deleting_row_and_a_retry_finishes() {
        let catalog: Arc<dyn Catalog> = Arc::new(MemoryCatalog::new());
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        let mut entry = pending(&scope, None);
        entry.status = SnapshotStatus::Completed;
        catalog.create(&entry).await.unwrap();
        let stuck = Archive::new(Arc::new(NoDelete(MemoryStore::new())), catalog.clone());
        let err = stuck.delete_snapshot(&entry, false).await.unwrap_err();
        assert!(err.to_string().contains("`deleting`"), "{err}");
        assert!(err.to_string().contains(&entry.id.to_string()), "{err}");
        let row = catalog.get(&entry.id).await.unwrap().unwrap();
        assert_eq!(row.status, SnapshotStatus::Deleting, "the row says so");
        let fixed = Archive::new(Arc::new(MemoryStore::new()), catalog.clone());
        fixed.delete_snapshot(&row, false).await.unwrap();
        assert_eq!(catalog.get(&entry.id).await.unwrap(), None);
    }
}
