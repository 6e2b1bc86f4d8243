//! The [`Catalog`] contract: conditional creates and transitions, newest-first listings,
//! scope locks with expiry and token ownership, jobs with compare-and-swap updates, and
//! journals that refuse to record an operation twice.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use super::{join_all, ok, run_id};
use crate::catalog::{
    ByteStats, Catalog, CatalogError, Claim, Finish, JobEntry, JobKind, JobStatus, JournalEntry,
    LockInfo, SnapshotEntry, SnapshotStatus,
};
use crate::id::{JobId, ObjectHash, SnapshotId};
use crate::manifest::{Counts, Trigger};
use crate::scope::Scope;

const RACERS: usize = 8;
const HOUR: Duration = Duration::from_secs(3600);

/// Runs the whole catalog contract against `catalog`, in scopes named after a fresh id (so
/// nothing else in the catalog is touched or assumed absent).
pub async fn catalog(catalog: Arc<dyn Catalog>) {
    let run = run_id();
    let scope = |name: &str| match Scope::github(&format!("bt-{run}"), name) {
        Ok(scope) => scope,
        Err(e) => panic!("conformance scope: {e}"),
    };
    let (a, b) = (scope("conformance-a"), scope("conformance-b"));
    let cat: &dyn Catalog = &*catalog;

    let created = snapshots(cat, &a, &b).await;
    concurrent_creates(catalog.clone(), &a).await;
    finish(cat, &a).await;
    restart(cat, &a).await;
    concurrent_finishes(catalog.clone(), &a).await;
    manifest_hashes(cat, &a).await;
    pinning_and_deletion(cat, &a).await;
    locks(cat, &a, &b).await;
    concurrent_locks(catalog.clone(), &scope("conformance-race")).await;
    lock_expiry(cat, &scope("conformance-expiry")).await;
    jobs(cat, &a, &b).await;
    concurrent_job_updates(catalog.clone(), &a).await;
    journal(cat, &a).await;
    concurrent_journal_appends(catalog.clone(), &a).await;
    claims(catalog.clone(), &run).await;
    runs(catalog.clone(), &run).await;
    super::lifecycle::lifecycle(catalog.clone(), &run).await;

    // Leave only what has no delete operation (locks are released above; jobs and journals
    // are small and live in this run's own scopes).
    for id in created {
        let _ = cat.delete(&id).await;
    }
    for entry in ok(cat.list(Some(&a)).await, "list for cleanup") {
        ok(cat.delete(&entry.id).await, "delete during cleanup");
    }
}

/// `n` fresh ids in creation order (ULIDs from one millisecond are random among themselves,
/// so sort them rather than trust generation order).
pub(super) fn ids(n: usize) -> Vec<SnapshotId> {
    let mut ids: Vec<SnapshotId> = (0..n).map(|_| SnapshotId::new()).collect();
    ids.sort();
    ids
}

pub(super) fn entry(scope: &Scope, id: SnapshotId, variant: usize) -> SnapshotEntry {
    let now = Utc::now();
    // Vary the optional fields so both `Some` and `None` round-trip.
    let odd = variant % 2 == 1;
    SnapshotEntry {
        id,
        scope: scope.clone(),
        name: (!odd).then(|| format!("before-sync-{variant}")),
        trigger: if odd {
            Trigger::Schedule
        } else {
            Trigger::Manual
        },
        status: SnapshotStatus::Pending,
        created_at: now,
        finished_at: None,
        counts: Counts::default(),
        bytes: ByteStats::default(),
        requests: 0,
        manifest_key: format!("manifests/{}/{id}", scope.slug()),
        parent: odd.then(SnapshotId::new),
        pinned: false,
        expires_at: (!odd).then(|| now + chrono::Duration::days(30)),
        error: None,
        manifest_hash: None,
        lease: odd.then(|| format!("lease-{variant}")),
    }
}

pub(super) fn finish_with(status: SnapshotStatus, requests: u64) -> Finish {
    Finish {
        status,
        finished_at: Utc::now(),
        counts: Counts {
            issues: 12,
            comments: 34,
            labels: 5,
            milestones: 2,
            ..Counts::default()
        },
        bytes: ByteStats {
            logical: 123_456,
            stored_new: 7_890,
        },
        requests,
        error: (status == SnapshotStatus::Failed).then(|| "tracker answered 502".to_string()),
        manifest_hash: (status == SnapshotStatus::Completed)
            .then(|| ObjectHash::of(format!("manifest {requests}").as_bytes())),
    }
}

#[track_caller]
pub(super) fn assert_conflict<T: std::fmt::Debug>(result: Result<T, CatalogError>, step: &str) {
    match result {
        Err(CatalogError::Conflict { .. }) => {}
        other => panic!("{step}: expected Conflict, got {other:?}"),
    }
}

#[track_caller]
pub(super) fn assert_not_found<T: std::fmt::Debug>(result: Result<T, CatalogError>, step: &str) {
    match result {
        Err(CatalogError::NotFound { .. }) => {}
        other => panic!("{step}: expected NotFound, got {other:?}"),
    }
}

pub(super) async fn get(cat: &dyn Catalog, id: &SnapshotId, step: &str) -> SnapshotEntry {
    match ok(cat.get(id).await, step) {
        Some(entry) => entry,
        None => panic!("{step}: snapshot {id} must exist"),
    }
}

/// Create, read back, list per scope and overall; returns the ids created.
async fn snapshots(cat: &dyn Catalog, a: &Scope, b: &Scope) -> Vec<SnapshotId> {
    let all_ids = ids(5);
    // Scope a gets ids 0, 2, 4 and scope b ids 1, 3: interleaved in time.
    let entries: Vec<SnapshotEntry> = all_ids
        .iter()
        .enumerate()
        .map(|(i, id)| entry(if i % 2 == 0 { a } else { b }, *id, i))
        .collect();
    // Created out of order: listings must sort by id, not by insertion.
    for i in [3, 0, 4, 1, 2] {
        ok(cat.create(&entries[i]).await, "create a new snapshot entry");
    }
    for e in &entries {
        assert_eq!(
            &get(cat, &e.id, "get after create").await,
            e,
            "get must return the entry exactly as created"
        );
    }
    assert!(
        ok(cat.get(&SnapshotId::new()).await, "get of an unknown id").is_none(),
        "get of an unknown id must be None"
    );

    let listed_a: Vec<SnapshotId> = ok(cat.list(Some(a)).await, "list of a scope")
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        listed_a,
        vec![all_ids[4], all_ids[2], all_ids[0]],
        "list of a scope must hold exactly its entries, newest first"
    );
    let listed_b = ok(cat.list(Some(b)).await, "list of a scope");
    assert_eq!(
        listed_b,
        vec![entries[3].clone(), entries[1].clone()],
        "list of a scope must return full entries, newest first"
    );
    let everything = ok(cat.list(None).await, "list of all scopes");
    for pair in everything.windows(2) {
        assert!(
            pair[0].id > pair[1].id,
            "list of all scopes must be newest first ({} before {})",
            pair[0].id,
            pair[1].id
        );
    }
    let ours: Vec<SnapshotId> = everything
        .iter()
        .map(|e| e.id)
        .filter(|id| all_ids.contains(id))
        .collect();
    let mut expected = all_ids.clone();
    expected.reverse();
    assert_eq!(
        ours, expected,
        "list of all scopes must include every scope's entries"
    );

    // A duplicate create is refused and changes nothing.
    let mut duplicate = entries[0].clone();
    duplicate.name = Some("impostor".into());
    assert_conflict(cat.create(&duplicate).await, "create of an existing id");
    assert_eq!(
        get(cat, &entries[0].id, "get after duplicate create").await,
        entries[0],
        "a refused create must not change the stored entry"
    );
    all_ids
}

async fn concurrent_creates(catalog: Arc<dyn Catalog>, scope: &Scope) {
    let id = SnapshotId::new();
    let tasks = (0..RACERS)
        .map(|i| {
            let catalog = catalog.clone();
            let mut e = entry(scope, id, 0);
            e.name = Some(format!("racer-{i}"));
            tokio::spawn(async move { (e.clone(), catalog.create(&e).await) })
        })
        .collect();
    let mut winners = Vec::new();
    for (e, result) in join_all(tasks, "concurrent creates").await {
        match result {
            Ok(()) => winners.push(e),
            Err(CatalogError::Conflict { .. }) => {}
            Err(other) => panic!("concurrent creates: losers must get Conflict, got {other}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "concurrent creates of one id: exactly one must succeed, {} did",
        winners.len()
    );
    assert_eq!(
        get(catalog.as_ref(), &id, "get after concurrent creates").await,
        winners[0],
        "the stored entry must be the winner's"
    );
}

async fn finish(cat: &dyn Catalog, scope: &Scope) {
    let pair = ids(2);
    let (done, broken) = (pair[0], pair[1]);
    let mut expected = entry(scope, done, 0);
    ok(cat.create(&expected).await, "create for finish");
    let completed = finish_with(SnapshotStatus::Completed, 17);
    ok(
        cat.finish(&done, &completed).await,
        "finish of a pending entry as completed",
    );
    expected.apply_finish(&completed);
    assert_eq!(
        get(cat, &done, "get after finish").await,
        expected,
        "finish must record status, finished_at, counts, bytes, requests and error"
    );
    assert_conflict(
        cat.finish(&done, &finish_with(SnapshotStatus::Failed, 99))
            .await,
        "second finish of a completed entry",
    );
    assert_eq!(
        get(cat, &done, "get after second finish").await,
        expected,
        "a refused finish must not overwrite the first"
    );

    let mut failed = entry(scope, broken, 1);
    ok(cat.create(&failed).await, "create for failure");
    let failure = finish_with(SnapshotStatus::Failed, 3);
    ok(
        cat.finish(&broken, &failure).await,
        "finish of a pending entry as failed",
    );
    failed.apply_finish(&failure);
    assert_eq!(
        get(cat, &broken, "get after failure").await,
        failed,
        "a failed finish must record the error"
    );
    assert_conflict(
        cat.finish(&broken, &completed).await,
        "finish of a failed entry",
    );
    assert_not_found(
        cat.finish(&SnapshotId::new(), &completed).await,
        "finish of an unknown id",
    );
}

/// A snapshot job's reserved entry: `pending` → `in_progress` (with a lease, a new parent
/// and start time) → `in_progress` without a lease between invocations → `completed` by
/// `finish`; never reopened once finished, and never from a status not expected.
async fn restart(cat: &dyn Catalog, scope: &Scope) {
    let id = ids(1)[0];
    let reserved = SnapshotEntry {
        lease: None,
        parent: None,
        ..entry(scope, id, 0)
    };
    ok(cat.create(&reserved).await, "create a reserved entry");
    let running = SnapshotEntry {
        status: SnapshotStatus::InProgress,
        lease: Some("lease-restart".into()),
        parent: Some(SnapshotId::new()),
        created_at: Utc::now() + chrono::Duration::seconds(5),
        ..reserved.clone()
    };
    assert_conflict(
        cat.restart(&running, &[SnapshotStatus::InProgress]).await,
        "restart from a status not expected",
    );
    assert_eq!(get(cat, &id, "get after refused restart").await, reserved);
    ok(
        cat.restart(
            &running,
            &[SnapshotStatus::Pending, SnapshotStatus::InProgress],
        )
        .await,
        "restart of a pending entry",
    );
    assert_eq!(
        get(cat, &id, "get after restart").await,
        running,
        "restart must store the whole entry: status, lease, parent, start time"
    );
    let waiting = SnapshotEntry {
        lease: None,
        ..running.clone()
    };
    ok(
        cat.restart(&waiting, &[SnapshotStatus::InProgress]).await,
        "restart of an in-progress entry",
    );
    assert_eq!(get(cat, &id, "get between invocations").await, waiting);
    let completed = finish_with(SnapshotStatus::Completed, 5);
    ok(
        cat.finish(&id, &completed).await,
        "finish of an in-progress entry",
    );
    assert_conflict(
        cat.restart(
            &running,
            &[SnapshotStatus::Pending, SnapshotStatus::InProgress],
        )
        .await,
        "restart of a completed entry",
    );
    let mut expected = waiting;
    expected.apply_finish(&completed);
    assert_eq!(get(cat, &id, "get after finish").await, expected);
    assert_not_found(
        cat.restart(
            &entry(scope, SnapshotId::new(), 0),
            &[SnapshotStatus::Pending],
        )
        .await,
        "restart of an unknown id",
    );
}

async fn concurrent_finishes(catalog: Arc<dyn Catalog>, scope: &Scope) {
    let id = SnapshotId::new();
    ok(
        catalog.create(&entry(scope, id, 0)).await,
        "create for racing finishes",
    );
    let tasks = (0..RACERS as u64)
        .map(|i| {
            let catalog = catalog.clone();
            tokio::spawn(async move {
                let f = finish_with(SnapshotStatus::Completed, 1000 + i);
                (i, catalog.finish(&id, &f).await)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, result) in join_all(tasks, "concurrent finishes").await {
        match result {
            Ok(()) => winners.push(i),
            Err(CatalogError::Conflict { .. }) => {}
            Err(other) => panic!("concurrent finishes: losers must get Conflict, got {other}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "concurrent finishes: exactly one must succeed, got {winners:?}"
    );
    let stored = get(catalog.as_ref(), &id, "get after concurrent finishes").await;
    assert_eq!(
        stored.requests,
        1000 + winners[0],
        "the stored figures must be the winner's"
    );
}

/// A completed entry carries the manifest hash its finish recorded; an entry without one (as
/// written before manifests were hashed) takes one later, once, and never a second one.
async fn manifest_hashes(cat: &dyn Catalog, scope: &Scope) {
    let trio = ids(3);
    let (hashed, legacy, pending) = (trio[0], trio[1], trio[2]);
    let (h1, h2) = (ObjectHash::of(b"one"), ObjectHash::of(b"two"));

    ok(cat.create(&entry(scope, hashed, 0)).await, "create hashed");
    let mut completed = finish_with(SnapshotStatus::Completed, 1);
    completed.manifest_hash = Some(h1.clone());
    ok(cat.finish(&hashed, &completed).await, "finish with a hash");
    let listed = ok(cat.list(Some(scope)).await, "list after finish with a hash");
    let found = listed.iter().find(|e| e.id == hashed);
    assert_eq!(
        found.and_then(|e| e.manifest_hash.clone()),
        Some(h1.clone()),
        "list must carry the manifest hash recorded by finish"
    );
    ok(
        cat.record_manifest_hash(&hashed, &h1).await,
        "recording the hash an entry already holds",
    );
    assert_conflict(
        cat.record_manifest_hash(&hashed, &h2).await,
        "recording a different hash over a recorded one",
    );
    assert_eq!(
        get(cat, &hashed, "get after refused record")
            .await
            .manifest_hash,
        Some(h1.clone()),
        "a recorded hash is never replaced"
    );

    let mut expected = entry(scope, legacy, 1);
    ok(cat.create(&expected).await, "create legacy");
    let mut unhashed = finish_with(SnapshotStatus::Completed, 2);
    unhashed.manifest_hash = None;
    ok(
        cat.finish(&legacy, &unhashed).await,
        "finish without a hash",
    );
    assert_eq!(
        get(cat, &legacy, "get legacy").await.manifest_hash,
        None,
        "an entry finished without a hash has none"
    );
    ok(
        cat.record_manifest_hash(&legacy, &h2).await,
        "recording the hash of an entry without one",
    );
    expected.apply_finish(&unhashed);
    expected.manifest_hash = Some(h2.clone());
    assert_eq!(
        get(cat, &legacy, "get after record").await,
        expected,
        "recording the hash must change nothing else"
    );
    ok(
        cat.record_manifest_hash(&legacy, &h2).await,
        "recording the same hash again (a retry)",
    );
    assert_conflict(
        cat.record_manifest_hash(&legacy, &h1).await,
        "recording another hash after one was recorded",
    );

    ok(
        cat.create(&entry(scope, pending, 0)).await,
        "create pending",
    );
    assert_conflict(
        cat.record_manifest_hash(&pending, &h1).await,
        "recording a hash on a pending entry",
    );
    assert_eq!(
        get(cat, &pending, "get pending").await.manifest_hash,
        None,
        "a refused record leaves a pending entry without a hash"
    );
    assert_not_found(
        cat.record_manifest_hash(&SnapshotId::new(), &h1).await,
        "recording a hash of an unknown id",
    );
    for id in [hashed, legacy, pending] {
        ok(cat.delete(&id).await, "delete after manifest hashes");
    }
}

async fn pinning_and_deletion(cat: &dyn Catalog, scope: &Scope) {
    let id = SnapshotId::new();
    let e = entry(scope, id, 0);
    ok(cat.create(&e).await, "create for pinning");
    ok(cat.set_pinned(&id, true).await, "pin");
    assert!(
        get(cat, &id, "get after pin").await.pinned,
        "pin must stick"
    );
    ok(cat.set_pinned(&id, false).await, "unpin");
    assert_eq!(
        get(cat, &id, "get after unpin").await,
        e,
        "unpin must restore the entry and change nothing else"
    );
    assert_not_found(
        cat.set_pinned(&SnapshotId::new(), true).await,
        "pin of an unknown id",
    );

    ok(cat.delete(&id).await, "delete of an entry");
    assert!(
        ok(cat.get(&id).await, "get after delete").is_none(),
        "a deleted entry must be gone"
    );
    assert!(
        !ok(cat.list(Some(scope)).await, "list after delete")
            .iter()
            .any(|x| x.id == id),
        "a deleted entry must leave the listing"
    );
    assert_not_found(cat.delete(&id).await, "second delete of an entry");
}

pub(super) fn lock(scope: &Scope, holder: &str, ttl: Duration) -> LockInfo {
    LockInfo::new(scope, holder, ttl)
}

async fn current(cat: &dyn Catalog, scope: &Scope, step: &str) -> Option<LockInfo> {
    ok(cat.current_lock(scope).await, step)
}

async fn locks(cat: &dyn Catalog, a: &Scope, b: &Scope) {
    assert!(
        current(cat, a, "current lock of a fresh scope")
            .await
            .is_none(),
        "a fresh scope must have no lock"
    );
    let first = lock(a, "rollback by alice@laptop (pid 1)", HOUR);
    ok(cat.lock(&first).await, "lock of a free scope");
    assert_eq!(
        current(cat, a, "current lock").await,
        Some(first.clone()),
        "current_lock must return the holder exactly"
    );

    let second = lock(a, "rollback by bob@ci (pid 2)", HOUR);
    match cat.lock(&second).await {
        Err(CatalogError::Locked(holder)) => assert_eq!(
            *holder, first,
            "Locked must carry the current holder's lock"
        ),
        other => panic!("lock of a held scope must fail with Locked, got {other:?}"),
    }
    // Other scopes are independent.
    let other_scope = lock(b, "snapshot by cron", HOUR);
    ok(
        cat.lock(&other_scope).await,
        "lock of another scope while one is held",
    );

    // Only the token holder can renew or release.
    let mut forged = second.clone();
    forged.expires_at = first.expires_at + chrono::Duration::hours(5);
    assert_conflict(cat.renew_lock(&forged).await, "renew by a non-holder");
    ok(cat.unlock(a, &second.token).await, "unlock by a non-holder");
    assert_eq!(
        current(cat, a, "current lock after foreign unlock").await,
        Some(first.clone()),
        "unlock by a non-holder must change nothing"
    );

    let mut renewed = first.clone();
    renewed.expires_at = first.expires_at + chrono::Duration::hours(1);
    ok(cat.renew_lock(&renewed).await, "renew by the holder");
    assert_eq!(
        current(cat, a, "current lock after renew").await,
        Some(renewed.clone()),
        "renew must move expires_at and keep everything else"
    );

    ok(cat.unlock(a, &first.token).await, "unlock by the holder");
    assert!(
        current(cat, a, "current lock after unlock").await.is_none(),
        "unlock by the holder must release the lock"
    );
    assert_conflict(cat.renew_lock(&renewed).await, "renew of a released lock");
    ok(
        cat.unlock(a, &first.token).await,
        "unlock of a released lock",
    );
    ok(cat.lock(&second).await, "lock after release");
    ok(cat.unlock(a, &second.token).await, "unlock");
    ok(cat.unlock(b, &other_scope.token).await, "unlock");
}

async fn concurrent_locks(catalog: Arc<dyn Catalog>, scope: &Scope) {
    let tasks = (0..RACERS)
        .map(|i| {
            let catalog = catalog.clone();
            let l = lock(scope, &format!("racer {i}"), HOUR);
            tokio::spawn(async move { (l.clone(), catalog.lock(&l).await) })
        })
        .collect();
    let mut winners = Vec::new();
    let mut refusals = Vec::new();
    for (l, result) in join_all(tasks, "concurrent locks").await {
        match result {
            Ok(()) => winners.push(l),
            Err(CatalogError::Locked(holder)) => refusals.push(*holder),
            Err(other) => panic!("concurrent locks: losers must get Locked, got {other}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "concurrent locks of one scope: exactly one must succeed, {} did",
        winners.len()
    );
    for holder in refusals {
        assert_eq!(
            holder.token, winners[0].token,
            "every refused locker must be told the winner holds the lock"
        );
    }
    assert_eq!(
        current(catalog.as_ref(), scope, "current lock after race").await,
        Some(winners[0].clone()),
        "the stored lock must be the winner's"
    );
    ok(catalog.unlock(scope, &winners[0].token).await, "unlock");
}

async fn lock_expiry(cat: &dyn Catalog, scope: &Scope) {
    // A zero TTL expires the moment it is taken, like a holder that crashed long ago.
    let crashed = lock(scope, "rollback that crashed", Duration::ZERO);
    ok(cat.lock(&crashed).await, "lock of a free scope");
    assert_eq!(
        current(cat, scope, "current lock, expired").await,
        Some(crashed.clone()),
        "current_lock must return an expired lock too"
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    let taker = lock(scope, "rollback that takes over", HOUR);
    ok(cat.lock(&taker).await, "lock over an expired lock");
    assert_eq!(
        current(cat, scope, "current lock after takeover").await,
        Some(taker.clone()),
        "takeover must replace the expired holder"
    );
    // The previous holder has lost it for good.
    let mut late = crashed.clone();
    late.expires_at = Utc::now() + chrono::Duration::hours(1);
    assert_conflict(
        cat.renew_lock(&late).await,
        "renew by a holder whose lock was taken over",
    );
    ok(
        cat.unlock(scope, &crashed.token).await,
        "unlock by a holder whose lock was taken over",
    );
    assert_eq!(
        current(cat, scope, "current lock after stale unlock").await,
        Some(taker.clone()),
        "a stale unlock must not release the new holder's lock"
    );
    // A live lock cannot be taken.
    match cat.lock(&lock(scope, "impatient", HOUR)).await {
        Err(CatalogError::Locked(holder)) => assert_eq!(*holder, taker),
        other => panic!("lock over a live lock must fail with Locked, got {other:?}"),
    }
    ok(cat.unlock(scope, &taker.token).await, "unlock");
}

pub(super) fn job(scope: &Scope, id: JobId, status: JobStatus) -> JobEntry {
    let now = Utc::now();
    JobEntry {
        id,
        scope: scope.clone(),
        kind: JobKind::Restore,
        target: Some(SnapshotId::new()),
        capture: None,
        resume_key: format!("fp-{id}"),
        plan_key: format!("plans/{}/{id}", scope.slug()),
        plan_hash: Some(crate::id::ObjectHash::of(id.to_string().as_bytes())),
        request_hash: None,
        status,
        pre_snapshot: None,
        total_ops: 42,
        created_at: now,
        updated_at: now,
        error: None,
    }
}

fn job_ids(n: usize) -> Vec<JobId> {
    let mut ids: Vec<JobId> = (0..n).map(|_| JobId::new()).collect();
    ids.sort();
    ids
}

async fn get_job(cat: &dyn Catalog, id: &JobId, step: &str) -> JobEntry {
    match ok(cat.get_job(id).await, step) {
        Some(job) => job,
        None => panic!("{step}: job {id} must exist"),
    }
}

async fn jobs(cat: &dyn Catalog, a: &Scope, b: &Scope) {
    let ids = job_ids(3);
    let created: Vec<JobEntry> = ids
        .iter()
        .map(|id| job(a, *id, JobStatus::Queued))
        .collect();
    for i in [1, 2, 0] {
        ok(cat.create_job(&created[i]).await, "create of a new job");
    }
    let mut elsewhere = job(b, JobId::new(), JobStatus::Queued);
    // A snapshot job, with what it takes: every field survives the round trip.
    elsewhere.kind = JobKind::Snapshot;
    elsewhere.target = None;
    elsewhere.capture = Some(crate::catalog::CaptureJob {
        name: Some("push-abc1234".into()),
        trigger: Trigger::Push,
        reuse_name: true,
        snapshot: Some(SnapshotId::new()),
        waits: 2,
        run: Some("01jrunrecordroundtrip0000000".into()),
        last_delivery_until: Some(
            chrono::DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(1_800_000_000),
        ),
    });
    ok(
        cat.create_job(&elsewhere).await,
        "create of a job elsewhere",
    );
    assert_eq!(
        get_job(cat, &elsewhere.id, "get of a snapshot job").await,
        elsewhere,
        "get_job must return a snapshot job exactly as created"
    );
    assert_eq!(
        get_job(cat, &ids[0], "get of a job").await,
        created[0],
        "get_job must return the job exactly as created"
    );
    assert!(
        ok(cat.get_job(&JobId::new()).await, "get of an unknown job").is_none(),
        "get_job of an unknown id must be None"
    );
    assert_eq!(
        ok(cat.list_jobs(a).await, "list of jobs"),
        vec![created[2].clone(), created[1].clone(), created[0].clone()],
        "list_jobs must return exactly the scope's jobs, newest first"
    );
    assert_conflict(
        cat.create_job(&created[0]).await,
        "create of an existing job",
    );

    // Compare-and-swap on status.
    let mut running = created[0].clone();
    running.status = JobStatus::Running;
    running.pre_snapshot = Some(SnapshotId::new());
    running.updated_at = Utc::now();
    ok(
        cat.update_job(&running, JobStatus::Queued).await,
        "update of a job from its stored status",
    );
    assert_eq!(
        get_job(cat, &ids[0], "get after update").await,
        running,
        "update_job must replace the whole row"
    );
    let mut stale = created[0].clone();
    stale.status = JobStatus::Failed;
    assert_conflict(
        cat.update_job(&stale, JobStatus::Queued).await,
        "update of a job from a status it no longer has",
    );
    assert_eq!(
        get_job(cat, &ids[0], "get after refused update").await,
        running,
        "a refused update must change nothing"
    );
    let mut done = running.clone();
    done.status = JobStatus::Completed;
    ok(
        cat.update_job(&done, JobStatus::Running).await,
        "update running → completed",
    );
    assert_not_found(
        cat.update_job(&job(a, JobId::new(), JobStatus::Running), JobStatus::Queued)
            .await,
        "update of an unknown job",
    );
}

async fn concurrent_job_updates(catalog: Arc<dyn Catalog>, scope: &Scope) {
    let queued = job(scope, JobId::new(), JobStatus::Queued);
    ok(
        catalog.create_job(&queued).await,
        "create for racing updates",
    );
    let tasks = (0..RACERS)
        .map(|i| {
            let catalog = catalog.clone();
            let mut claim = queued.clone();
            claim.status = JobStatus::Running;
            claim.error = Some(format!("worker {i}"));
            tokio::spawn(async move {
                (
                    claim.clone(),
                    catalog.update_job(&claim, JobStatus::Queued).await,
                )
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (claim, result) in join_all(tasks, "concurrent job updates").await {
        match result {
            Ok(()) => winners.push(claim),
            Err(CatalogError::Conflict { .. }) => {}
            Err(other) => panic!("concurrent job claims: losers must get Conflict, got {other}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "concurrent queued → running claims: exactly one must succeed, {} did",
        winners.len()
    );
    assert_eq!(
        get_job(catalog.as_ref(), &queued.id, "get after racing updates").await,
        winners[0],
        "the stored job must be the winner's"
    );
}

fn journal_entry(job: JobId, op: u64) -> JournalEntry {
    JournalEntry {
        job,
        op,
        done_at: Utc::now(),
        result: json!({ "op": op, "comment_id": 1000 + op, "note": "ok" }),
    }
}

async fn journal(cat: &dyn Catalog, scope: &Scope) {
    let j = job(scope, JobId::new(), JobStatus::Running);
    let other = JobId::new();
    ok(cat.create_job(&j).await, "create for journal");
    let entries: Vec<JournalEntry> = (0..4).map(|op| journal_entry(j.id, op)).collect();
    assert!(
        ok(cat.journal(&j.id).await, "journal of a fresh job").is_empty(),
        "a fresh job's journal must be empty"
    );
    for i in [2, 0, 3, 1] {
        ok(cat.journal_append(&entries[i]).await, "append of a new op");
    }
    ok(
        cat.journal_append(&journal_entry(other, 1)).await,
        "append to another job's journal",
    );
    // Indexes ≥ 10 guard against text ordering ("10" < "2").
    let eleven = journal_entry(j.id, 11);
    ok(cat.journal_append(&eleven).await, "append of op 11");

    let mut duplicate = entries[1].clone();
    duplicate.result = json!({ "comment_id": -1 });
    assert_conflict(
        cat.journal_append(&duplicate).await,
        "append of an op already journaled",
    );

    let mut expected = entries.clone();
    expected.push(eleven);
    assert_eq!(
        ok(cat.journal(&j.id).await, "read of a journal"),
        expected,
        "journal must return exactly the job's entries, by op index, the first append winning"
    );
    assert_eq!(
        ok(cat.journal(&other).await, "read of another journal").len(),
        1,
        "journals of different jobs must not mix"
    );
}

async fn concurrent_journal_appends(catalog: Arc<dyn Catalog>, scope: &Scope) {
    let j = job(scope, JobId::new(), JobStatus::Running);
    ok(catalog.create_job(&j).await, "create for racing appends");
    let tasks = (0..RACERS as u64)
        .map(|i| {
            let catalog = catalog.clone();
            let mut e = journal_entry(j.id, 7);
            e.result = json!({ "racer": i });
            tokio::spawn(async move { (e.clone(), catalog.journal_append(&e).await) })
        })
        .collect();
    let mut winners = Vec::new();
    for (e, result) in join_all(tasks, "concurrent journal appends").await {
        match result {
            Ok(()) => winners.push(e),
            Err(CatalogError::Conflict { .. }) => {}
            Err(other) => panic!("concurrent appends: losers must get Conflict, got {other}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "concurrent appends of one op: exactly one must succeed, {} did",
        winners.len()
    );
    assert_eq!(
        ok(catalog.journal(&j.id).await, "journal after racing appends"),
        winners,
        "the journal must hold only the winner's entry"
    );
}

/// Claims: taken once until they expire or their holder releases them; racers on one key
/// have exactly one winner; only the holder's token releases.
async fn claims(catalog: Arc<dyn Catalog>, run: &str) {
    let cat: &dyn Catalog = &*catalog;
    let key = format!("conformance-{run}-delivery");
    let first = Claim::new(&key, HOUR);
    assert!(
        ok(cat.claim(&first).await, "first claim"),
        "a free key is claimed"
    );
    let second = Claim::new(&key, HOUR);
    assert!(
        !ok(cat.claim(&second).await, "second claim"),
        "an unexpired claim refuses a second claimant"
    );
    ok(
        cat.release_claim(&key, &second.token).await,
        "release by a stranger",
    );
    assert!(
        !ok(cat.claim(&second).await, "claim after a stranger's release"),
        "only the holder's token releases a claim"
    );
    ok(
        cat.release_claim(&key, &first.token).await,
        "release by the holder",
    );
    assert!(
        ok(cat.claim(&second).await, "claim after release"),
        "a released key is free again"
    );

    let expiring = format!("conformance-{run}-expiring");
    let mut old = Claim::new(&expiring, HOUR);
    old.expires_at = Utc::now() - chrono::Duration::seconds(5);
    assert!(ok(cat.claim(&old).await, "claim (already expired)"));
    assert!(
        ok(
            cat.claim(&Claim::new(&expiring, HOUR)).await,
            "claim over an expired one"
        ),
        "an expired claim is replaced"
    );

    let raced = format!("conformance-{run}-raced");
    let tasks = (0..RACERS)
        .map(|_| {
            let catalog = catalog.clone();
            let claim = Claim::new(&raced, HOUR);
            tokio::spawn(async move { catalog.claim(&claim).await })
        })
        .collect();
    let won = join_all(tasks, "racing claims")
        .await
        .into_iter()
        .map(|r| ok(r, "racing claim"))
        .filter(|taken| *taken)
        .count();
    assert_eq!(won, 1, "exactly one of {RACERS} racing claimants wins");
}

/// Run records (`crate::fleet::runs`) kept in cells: jobs ending at once each land their line,
/// exactly one of them finishes the run, and the run is listed by its selection.
async fn runs(catalog: Arc<dyn Catalog>, run: &str) {
    use crate::fleet::{runs, RunStatus, RunSummary, ScopeRun};
    let selection = format!("github:bt-{run}/*");
    let mut record = RunSummary::start(selection.clone(), Utc::now());
    let line = |i: usize, status: RunStatus| ScopeRun {
        scope: Scope::github(&format!("bt-{run}"), &format!("r{i}"))
            .unwrap_or_else(|e| panic!("conformance scope: {e}")),
        status,
        snapshot: None,
        job: (status == RunStatus::Queued).then(|| format!("job-{i}")),
        requests: i as u64,
        duration_ms: 10,
        error: None,
    };
    record.scopes = (0..RACERS).map(|i| line(i, RunStatus::Queued)).collect();
    ok_run(runs::save_in(&*catalog, &record).await, "save a run");
    let racers: Vec<_> = (0..RACERS)
        .map(|i| {
            let catalog = catalog.clone();
            let id = record.id.clone();
            let line = line(i, RunStatus::Completed);
            tokio::spawn(async move { runs::record(&*catalog, &id, line).await })
        })
        .collect();
    let mut finished = 0;
    for racer in racers {
        match racer.await {
            Ok(Ok(Some(_))) => finished += 1,
            Ok(Ok(None)) => {}
            other => panic!("record a run's line: {other:?}"),
        }
    }
    assert_eq!(finished, 1, "exactly one line finishes the run");
    let stored = ok_run(runs::get_in(&*catalog, &record.id).await, "get a run")
        .unwrap_or_else(|| panic!("run {} must exist", record.id));
    assert_eq!(stored.count(RunStatus::Completed), RACERS, "{stored:?}");
    assert_eq!(stored.status(), "completed");
    assert_eq!(stored.scopes[2].job.as_deref(), Some("job-2"));
    assert_eq!(stored.requests(), (0..RACERS as u64).sum::<u64>());
    let listed = ok_run(
        runs::list_in(&*catalog, Some(&selection), 5).await,
        "list runs",
    );
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, record.id);
}

#[track_caller]
fn ok_run<T>(result: crate::error::Result<T>, step: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{step}: {e}"),
    }
}
