//! The catalog contract for a snapshot's life beyond capture: cells (compare-and-swap
//! documents, which hold the store-wide leases), the store leases themselves decided through
//! them, `deleting` entries, and scopes matched by key (case variants of a repository are one
//! history and one lock, each entry keeping its display form).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::catalog::{assert_conflict, assert_not_found, entry, finish_with, get, ids, job, lock};
use super::{join_all, ok};
use crate::catalog::{Catalog, CatalogError, JobStatus, SnapshotStatus};
use crate::id::{JobId, SnapshotId};
use crate::lease::{self, LeaseOptions, StoreLease};
use crate::scope::Scope;

const RACERS: u64 = 8;
const INCREMENTS: u64 = 5;

pub(super) async fn lifecycle(catalog: Arc<dyn Catalog>, run: &str) {
    let cat: &dyn Catalog = &*catalog;
    cells(cat, run).await;
    concurrent_cell_updates(catalog.clone(), run).await;
    store_leases(catalog.clone(), run).await;
    deleting(cat, run).await;
    case_variants(cat, run).await;
}

/// A cell is created once, then changed only from the version that was read.
async fn cells(cat: &dyn Catalog, run: &str) {
    let name = format!("conformance-{run}");
    assert_eq!(
        ok(cat.read_cell(&name).await, "read a cell never written"),
        None
    );
    let v1 = ok(
        cat.write_cell(&name, &json!({"n": 1}), None).await,
        "create a cell",
    );
    assert_eq!(v1, 1, "a new cell is version 1");
    assert_conflict(
        cat.write_cell(&name, &json!({"n": 99}), None).await,
        "creating a cell that exists",
    );
    let v2 = ok(
        cat.write_cell(&name, &json!({"n": 2, "list": [1, "two"]}), Some(v1))
            .await,
        "write from the version read",
    );
    assert_eq!(v2, 2, "every write adds one to the version");
    assert_conflict(
        cat.write_cell(&name, &json!({"n": 3}), Some(v1)).await,
        "writing from a stale version",
    );
    assert_conflict(
        cat.write_cell(&format!("{name}-absent"), &json!({}), Some(1))
            .await,
        "writing a cell that does not exist from a version",
    );
    let cell = ok(cat.read_cell(&name).await, "read the cell back");
    match cell {
        Some(cell) => {
            assert_eq!(cell.version, 2);
            assert_eq!(
                cell.value,
                json!({"n": 2, "list": [1, "two"]}),
                "the value round-trips"
            );
        }
        None => panic!("a written cell must read back"),
    }
}

/// Racers each add to a counter by read-modify-write, retrying lost swaps: no increment is
/// lost, so exactly one writer wins every version.
async fn concurrent_cell_updates(catalog: Arc<dyn Catalog>, run: &str) {
    let name = format!("conformance-race-{run}");
    let tasks = (0..RACERS)
        .map(|_| {
            let catalog = catalog.clone();
            let name = name.clone();
            tokio::spawn(async move {
                for _ in 0..INCREMENTS {
                    let mut attempts = 0;
                    loop {
                        attempts += 1;
                        assert!(attempts < 500, "a racer never won a swap");
                        let cell = ok(catalog.read_cell(&name).await, "racer read");
                        let (n, version) = match &cell {
                            Some(c) => (c.value["n"].as_u64().unwrap_or(0), Some(c.version)),
                            None => (0, None),
                        };
                        match catalog
                            .write_cell(&name, &json!({"n": n + 1}), version)
                            .await
                        {
                            Ok(_) => break,
                            Err(CatalogError::Conflict { .. }) => {
                                tokio::time::sleep(Duration::from_millis(attempts % 7)).await
                            }
                            Err(e) => panic!("racer write: {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    join_all(tasks, "cell racers").await;
    let cell = ok(catalog.read_cell(&name).await, "read the raced cell");
    match cell {
        Some(cell) => {
            assert_eq!(
                cell.value["n"].as_u64(),
                Some(RACERS * INCREMENTS),
                "a lost update: two racers won the same version"
            );
            assert_eq!(cell.version, RACERS * INCREMENTS);
        }
        None => panic!("the raced cell must exist"),
    }
}

/// The store-wide exclusion decided through this catalog's cells: captures share, a
/// collection excludes them, a capture waits for a running collection, a stale holder cannot
/// come back, and racing collectors get in one at a time.
async fn store_leases(catalog: Arc<dyn Catalog>, run: &str) {
    let cell = format!("conformance-leases-{run}");
    let opts = LeaseOptions {
        ttl: Duration::from_secs(4),
        max_wait: Duration::from_secs(30),
    };
    let a = ok(
        StoreLease::capture_in(catalog.clone(), &cell, "capture a", opts).await,
        "first capture lease",
    );
    let b = ok(
        StoreLease::capture_in(catalog.clone(), &cell, "capture b", opts).await,
        "second capture lease (shared)",
    );
    match StoreLease::collect_in(catalog.clone(), &cell, "gc", opts).await {
        Err(e) if e.is_refusal() => {}
        other => panic!("a collection beside two captures must be refused, got {other:?}"),
    }
    ok(a.release().await, "release a");
    ok(b.release().await, "release b");

    // Racing collectors: exactly one gets in.
    let racers = (0..RACERS)
        .map(|i| {
            let catalog = catalog.clone();
            let cell = cell.clone();
            tokio::spawn(async move {
                StoreLease::collect_in(catalog, &cell, &format!("gc {i}"), opts).await
            })
        })
        .collect();
    let outcomes = join_all(racers, "racing collectors").await;
    let mut winners: Vec<StoreLease> = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(held) => winners.push(held),
            Err(e) if e.is_refusal() => {}
            Err(e) => panic!("a racing collector failed: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one collector may hold the store");
    let gc = winners.remove(0);

    // A capture registers and waits; the next collector is kept out meanwhile.
    let waiting = {
        let catalog = catalog.clone();
        let cell = cell.clone();
        tokio::spawn(async move { StoreLease::capture_in(catalog, &cell, "waiter", opts).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a capture must wait while a collection holds the store"
    );
    ok(gc.confirm().await, "the collector still holds its lease");
    ok(gc.release().await, "release the collector");
    match StoreLease::collect_in(catalog.clone(), &cell, "gc late", opts).await {
        Err(e) if e.is_refusal() => {}
        other => panic!("a waiting capture must keep new collections out, got {other:?}"),
    }
    let capture = match waiting.await {
        Ok(Ok(held)) => held,
        other => panic!("the waiting capture must get in once the collection ends: {other:?}"),
    };
    let table = ok(
        lease::read_in(&*catalog, &cell).await,
        "read the lease table",
    );
    assert!(table.holds(capture.token(), chrono::Utc::now()));
    ok(capture.release().await, "release the capture");
    assert!(
        ok(lease::read_in(&*catalog, &cell).await, "read after release")
            .leases
            .is_empty(),
        "released leases leave the table"
    );
}

/// `deleting` can be set from any status, is visible to readers, and needs the entry.
async fn deleting(cat: &dyn Catalog, run: &str) {
    let scope = match Scope::github(&format!("bt-{run}"), "conformance-deleting") {
        Ok(s) => s,
        Err(e) => panic!("conformance scope: {e}"),
    };
    let pair = ids(2);
    ok(cat.create(&entry(&scope, pair[0], 0)).await, "create");
    ok(cat.create(&entry(&scope, pair[1], 1)).await, "create");
    ok(
        cat.finish(&pair[0], &finish_with(SnapshotStatus::Completed, 1))
            .await,
        "complete",
    );
    for id in &pair {
        ok(cat.mark_deleting(id).await, "mark deleting");
        ok(cat.mark_deleting(id).await, "mark deleting again");
        assert_eq!(
            get(cat, id, "get deleting").await.status,
            SnapshotStatus::Deleting
        );
    }
    let listed = ok(cat.list(Some(&scope)).await, "list deleting");
    assert!(
        listed.iter().all(|e| e.status == SnapshotStatus::Deleting) && listed.len() == 2,
        "listings show deleting entries: {listed:?}"
    );
    assert_conflict(
        cat.finish(&pair[1], &finish_with(SnapshotStatus::Failed, 1))
            .await,
        "finishing an entry that is being deleted",
    );
    assert_not_found(
        cat.mark_deleting(&SnapshotId::new()).await,
        "mark an unknown entry deleting",
    );
    for id in &pair {
        ok(cat.delete(id).await, "delete");
    }
}

/// `github:Bt-X/Conformance-Case` and `github:bt-x/conformance-case` are one scope: one
/// history (listed by either), one lock, one list of jobs; entries keep their display form.
async fn case_variants(cat: &dyn Catalog, run: &str) {
    let owner = format!("bt-{run}");
    let scope = |owner: &str, repo: &str| match Scope::github(owner, repo) {
        Ok(s) => s,
        Err(e) => panic!("conformance scope: {e}"),
    };
    let typed = scope(&owner.to_ascii_uppercase(), "Conformance-Case");
    let lower = scope(&owner, "conformance-case");
    assert_ne!(typed.to_string(), lower.to_string());
    let pair = ids(2);
    ok(cat.create(&entry(&typed, pair[0], 0)).await, "create typed");
    ok(cat.create(&entry(&lower, pair[1], 1)).await, "create lower");
    for (asked, step) in [(&typed, "list by typed"), (&lower, "list by lower")] {
        let listed = ok(cat.list(Some(asked)).await, step);
        let got: Vec<SnapshotId> = listed.iter().map(|e| e.id).collect();
        assert_eq!(
            got,
            vec![pair[1], pair[0]],
            "{step}: one history, newest first"
        );
        let shown: BTreeSet<String> = listed.iter().map(|e| e.scope.to_string()).collect();
        assert_eq!(
            shown,
            [typed.to_string(), lower.to_string()].into_iter().collect(),
            "{step}: each entry keeps the display form it was written with"
        );
    }

    let holder = lock(&typed, "case holder", Duration::from_secs(3600));
    ok(cat.lock(&holder).await, "lock by typed");
    match cat
        .lock(&lock(&lower, "case rival", Duration::from_secs(3600)))
        .await
    {
        Err(CatalogError::Locked(current)) => {
            assert_eq!(current.token, holder.token, "the holder is named");
        }
        other => panic!("a case variant must not take a held lock, got {other:?}"),
    }
    match ok(cat.current_lock(&lower).await, "current lock by lower") {
        Some(current) => assert_eq!(current.token, holder.token),
        None => panic!("a lock taken by one case variant is the other's too"),
    }
    let mut renewed = holder.clone();
    renewed.scope = lower.clone();
    renewed.expires_at += chrono::Duration::minutes(5);
    ok(
        cat.renew_lock(&renewed).await,
        "renew through the other variant",
    );
    ok(cat.unlock(&lower, &holder.token).await, "unlock by lower");
    assert_eq!(
        ok(cat.current_lock(&typed).await, "lock after unlock"),
        None,
        "unlocked under either name"
    );

    let job_id = JobId::new();
    ok(
        cat.create_job(&job(&typed, job_id, JobStatus::Queued))
            .await,
        "create job typed",
    );
    let jobs = ok(cat.list_jobs(&lower).await, "list jobs by lower");
    assert!(
        jobs.iter().any(|j| j.id == job_id),
        "jobs of a case variant are the scope's jobs"
    );
    for id in &pair {
        ok(cat.delete(id).await, "delete");
    }
}
