//! Tests of the SQLite catalog: the shared contract, plus what only a file can get wrong —
//! several processes on one file, bad files, schema versions.

use std::sync::Arc;

use super::*;

fn open_in(dir: &tempfile::TempDir) -> SqliteCatalog {
    SqliteCatalog::create(&dir.path().join("catalog.db")).unwrap()
}

fn scope() -> Scope {
    Scope::github(
        &format!("t-{}", ulid::Ulid::new().to_string().to_ascii_lowercase()),
        "w",
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn conforms_to_the_catalog_contract() {
    let dir = tempfile::tempdir().unwrap();
    crate::conformance::catalog(Arc::new(open_in(&dir))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_one_file_conform_together() {
    // The suite run twice in parallel through two connections, as two CLI processes would.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open_in(&dir), open_in(&dir));
    tokio::join!(
        crate::conformance::catalog(Arc::new(a)),
        crate::conformance::catalog(Arc::new(b)),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_excludes_across_instances() {
    let dir = tempfile::tempdir().unwrap();
    let instances: Vec<Arc<dyn Catalog>> = (0..4)
        .map(|_| Arc::new(open_in(&dir)) as Arc<dyn Catalog>)
        .collect();
    let scope = scope();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let catalog = instances[i % instances.len()].clone();
            let lock = LockInfo::new(&scope, format!("process {i}"), Duration::from_secs(60));
            tokio::spawn(async move { (lock.clone(), catalog.lock(&lock).await) })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (lock, Ok(())) => winners.push(lock),
            (_, Err(CatalogError::Locked(_))) => {}
            (_, Err(e)) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one process gets the lock");
    for catalog in &instances {
        assert_eq!(
            catalog.current_lock(&scope).await.unwrap().as_ref(),
            Some(&winners[0]),
            "every process sees the same holder"
        );
    }
    // Another process may take it over only once it has expired.
    let mut short = LockInfo::new(&scope, "short", Duration::ZERO);
    assert!(matches!(
        instances[1].lock(&short).await,
        Err(CatalogError::Locked(_))
    ));
    instances[0]
        .unlock(&scope, &winners[0].token)
        .await
        .unwrap();
    instances[1].lock(&short).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let taker = LockInfo::new(&scope, "taker", Duration::from_secs(60));
    instances[2].lock(&taker).await.unwrap();
    short.expires_at = Utc::now() + chrono::Duration::minutes(5);
    assert!(matches!(
        instances[1].renew_lock(&short).await,
        Err(CatalogError::Conflict { .. })
    ));
}

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let scope = scope();
    let job = JobEntry {
        id: JobId::new(),
        scope: scope.clone(),
        kind: JobKind::Restore,
        target: Some(SnapshotId::new()),
        capture: None,
        resume_key: "fp".into(),
        plan_key: "plans/x".into(),
        plan_hash: Some(crate::id::ObjectHash::of(b"plan")),
        request_hash: None,
        status: JobStatus::Queued,
        pre_snapshot: None,
        total_ops: 3,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        error: None,
    };
    {
        let catalog = SqliteCatalog::create(&path).unwrap();
        catalog.create_job(&job).await.unwrap();
    }
    let catalog = SqliteCatalog::create(&path).unwrap();
    assert_eq!(catalog.get_job(&job.id).await.unwrap(), Some(job));
    assert_eq!(catalog.path(), path.as_path());
    assert_eq!(catalog.location(), format!("sqlite://{}", path.display()));
    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn missing_folder_is_unavailable_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = SqliteCatalog::create(&missing.join("catalog.db")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CatalogError::Unavailable { .. }), "{msg}");
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
    assert!(msg.contains("does not exist"), "{msg}");
}

#[test]
fn a_file_that_is_not_a_database_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    std::fs::write(&path, "this is a text file, not SQLite\n".repeat(200)).unwrap();
    let err = SqliteCatalog::create(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CatalogError::Unavailable { .. }), "{msg}");
    assert!(msg.contains("is not a SQLite database"), "{msg}");
    // And the file is left untouched.
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .starts_with("this is a text"));
}

#[test]
fn a_folder_in_place_of_the_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteCatalog::create(dir.path()).unwrap_err();
    assert!(err.to_string().contains("is a folder"), "{err}");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    drop(SqliteCatalog::create(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = SqliteCatalog::create(&path).unwrap_err();
    assert!(err.to_string().contains("upgrade backtrack"), "{err}");
}

#[cfg(unix)]
#[test]
fn unreadable_and_read_only_files_are_reported() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    drop(SqliteCatalog::create(&path).unwrap());
    // Checkpointed and closed, so only the main file matters.
    let set = |mode| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode));

    set(0o000).unwrap();
    if std::fs::read(&path).is_ok() {
        // Root ignores permission bits: nothing to observe.
        set(0o644).unwrap();
        eprintln!("skipped: running with permission bypass (root)");
        return;
    }
    let err = SqliteCatalog::create(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CatalogError::Unavailable { .. }), "{msg}");
    assert!(msg.contains("cannot open"), "{msg}");
    assert!(msg.contains("readable and writable"), "{msg}");

    set(0o444).unwrap();
    let err = SqliteCatalog::create(&path).unwrap_err();
    assert!(matches!(err, CatalogError::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains("read-only"), "{err}");
    set(0o644).unwrap();
}

#[tokio::test]
async fn corrupt_rows_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let catalog = SqliteCatalog::create(&path).unwrap();
    let id = SnapshotId::new();
    Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO snapshots (id, scope, status, created_at, pinned, extra)
             VALUES (?1, 'github:a/b', 'exploded', 'yesterday', 0, '{}')",
            [id.to_string()],
        )
        .unwrap();
    let err = catalog.get(&id).await.unwrap_err();
    assert!(matches!(err, CatalogError::Corrupt { .. }), "{err}");
    assert!(catalog.list(None).await.is_err());
}

/// A catalog written before manifests were hashed (schema 2, no `manifest_hash` column)
/// opens, keeps its rows (without a hash), and takes hashes afterwards.
#[tokio::test]
async fn a_version_2_catalog_migrates_and_its_entries_have_no_manifest_hash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let scope = scope();
    let id = SnapshotId::new();
    // A completed row as version 2 wrote it.
    let mut conn = Connection::open(&path).unwrap();
    schema::migrate_to(&mut conn, 2).ok().unwrap();
    conn.execute(
        "INSERT INTO snapshots (id, scope, status, created_at, name, pinned, expires_at, extra)
         VALUES (?1, ?2, 'completed', ?3, NULL, 0, NULL, ?4)",
        params![
            id.to_string(),
            scope.to_string(),
            rows::ts(&Utc::now()),
            serde_json::json!({
                "trigger": "manual", "finished_at": Utc::now(), "counts": Counts::default(),
                "bytes": ByteStats::default(), "requests": 1,
                "manifest_key": crate::keys::manifest(&scope, &id), "parent": null, "error": null
            })
            .to_string()
        ],
    )
    .unwrap();
    drop(conn);

    let catalog = SqliteCatalog::create(&path).unwrap();
    let version: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let read = catalog.get(&id).await.unwrap().unwrap();
    assert_eq!(read.status, SnapshotStatus::Completed);
    assert_eq!(read.manifest_hash, None);
    let hash = crate::id::ObjectHash::of(b"checked manifest");
    catalog.record_manifest_hash(&id, &hash).await.unwrap();
    assert_eq!(
        catalog.get(&id).await.unwrap().unwrap().manifest_hash,
        Some(hash)
    );
}

/// A catalog written by version 3 (scopes stored as typed: `github:ACME/Widgets` and
/// `github:acme/widgets` were two histories, and each could hold its own lock) migrates to
/// one history and one lock per repository, keeping each row's display form.
#[tokio::test]
async fn a_version_3_catalog_with_case_variants_migrates_to_one_history_and_one_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let mut conn = Connection::open(&path).unwrap();
    schema::migrate_to(&mut conn, 3).ok().unwrap();
    let run = ulid::Ulid::new().to_string().to_ascii_lowercase();
    let (typed, lower) = (
        format!("github:T-{run}/Widgets"),
        format!("github:t-{run}/widgets"),
    );
    let mut ids = [SnapshotId::new(), SnapshotId::new()];
    ids.sort();
    let now = Utc::now();
    for (id, scope) in ids.iter().zip([&typed, &lower]) {
        conn.execute(
            "INSERT INTO snapshots (id, scope, status, created_at, name, pinned, expires_at, extra, manifest_hash)
             VALUES (?1, ?2, 'completed', ?3, NULL, 0, NULL, ?4, NULL)",
            params![
                id.to_string(),
                scope,
                rows::ts(&now),
                serde_json::json!({
                    "trigger": "manual", "finished_at": now, "counts": Counts::default(),
                    "bytes": ByteStats::default(), "requests": 1,
                    "manifest_key": format!("manifests/x/{id}"), "parent": null, "error": null
                })
                .to_string()
            ],
        )
        .unwrap();
    }
    let job = JobId::new();
    conn.execute(
        "INSERT INTO jobs (id, scope, status, fingerprint, created_at, updated_at, extra)
         VALUES (?1, ?2, 'running', 'fp', ?3, ?3, ?4)",
        params![
            job.to_string(),
            typed,
            rows::ts(&now),
            serde_json::json!({"target": ids[0], "plan_key": "jobs/x/plan", "pre_snapshot": null,
                               "total_ops": 3, "error": null})
            .to_string()
        ],
    )
    .unwrap();
    // Two case variants each holding a lock (what version 3 allowed): the later expiry wins.
    let soon = rows::ts(&(now + chrono::Duration::minutes(5)));
    let later = rows::ts(&(now + chrono::Duration::minutes(30)));
    for (scope, token, expires) in [(&typed, "tok-soon", &soon), (&lower, "tok-later", &later)] {
        conn.execute(
            "INSERT INTO locks (scope, token, holder, acquired_at, expires_at)
             VALUES (?1, ?2, 'rollback', ?3, ?4)",
            params![scope, token, rows::ts(&now), expires],
        )
        .unwrap();
    }
    drop(conn);

    let catalog = SqliteCatalog::open(&path).unwrap();
    let version: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    for spelling in [&typed, &lower] {
        let scope: Scope = spelling.parse().unwrap();
        let listed = catalog.list(Some(&scope)).await.unwrap();
        assert_eq!(
            listed.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![ids[1], ids[0]],
            "one history under {spelling}"
        );
        assert_eq!(listed[1].scope.to_string(), typed, "display forms are kept");
        assert_eq!(listed[0].scope.to_string(), lower);
        assert_eq!(catalog.list_jobs(&scope).await.unwrap().len(), 1);
        let held = catalog.current_lock(&scope).await.unwrap().unwrap();
        assert_eq!(held.token, "tok-later", "one lock, the one expiring last");
    }
    let rival = LockInfo::new(
        &typed.parse().unwrap(),
        "snapshot",
        std::time::Duration::from_secs(60),
    );
    assert!(matches!(
        catalog.lock(&rival).await,
        Err(CatalogError::Locked(_))
    ));
}

#[test]
fn open_needs_an_existing_catalog_and_create_makes_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let err = SqliteCatalog::open(&path).unwrap_err();
    assert!(matches!(err, CatalogError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("backtrack init"), "{err}");
    assert!(!path.exists(), "opening creates nothing");
    drop(SqliteCatalog::create(&path).unwrap());
    assert!(path.exists());
    drop(SqliteCatalog::open(&path).unwrap());
}

/// A catalog that cannot be written still opens for reading (a read-only archive can be
/// listed); a write says the catalog is read-only.
#[cfg(unix)]
#[tokio::test]
async fn a_read_only_catalog_opens_for_reading() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("store");
    std::fs::create_dir(&folder).unwrap();
    let path = folder.join("catalog.db");
    let scope = scope();
    {
        let catalog = SqliteCatalog::create(&path).unwrap();
        let id = SnapshotId::new();
        catalog
            .create(&SnapshotEntry {
                id,
                scope: scope.clone(),
                name: Some("kept".into()),
                trigger: crate::manifest::Trigger::Manual,
                status: SnapshotStatus::Pending,
                created_at: Utc::now(),
                finished_at: None,
                counts: Default::default(),
                bytes: Default::default(),
                requests: 0,
                manifest_key: crate::keys::manifest(&scope, &id),
                parent: None,
                pinned: false,
                expires_at: None,
                error: None,
                manifest_hash: None,
                lease: None,
            })
            .await
            .unwrap();
    }
    let set = |p: &std::path::Path, mode| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    set(&path, 0o444);
    set(&folder, 0o555);
    if std::fs::write(folder.join("probe"), b"x").is_ok() {
        set(&folder, 0o755);
        set(&path, 0o644);
        eprintln!("skipped: running with permission bypass (root)");
        return;
    }
    let catalog = SqliteCatalog::open(&path);
    let listed = match &catalog {
        Ok(c) => c.list(Some(&scope)).await.map(|l| l.len()),
        Err(_) => Ok(0),
    };
    let write = match &catalog {
        Ok(c) => c.set_pinned(&SnapshotId::new(), true).await.err(),
        Err(_) => None,
    };
    set(&folder, 0o755);
    set(&path, 0o644);
    assert_eq!(listed.unwrap(), 1, "{catalog:?}");
    let write = write.unwrap();
    assert!(write.to_string().contains("read-only"), "{write}");
}
