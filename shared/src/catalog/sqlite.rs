//! [`SqliteCatalog`]: the catalog in one SQLite file, the embedded default.
//!
//! Several CLI processes may share the file (two rollbacks of one scope racing, a scheduled
//! snapshot during a restore), so every conditional write is decided inside SQLite — a single
//! conditional statement or an `IMMEDIATE` transaction, which takes the database's write lock
//! up front — never by a read in Rust followed by a write. WAL mode lets readers proceed while a
//! writer works, and a busy timeout makes a second writer wait instead of failing at once.
//!
//! # Schema (version 4, tracked in `PRAGMA user_version`; see `schema.rs`)
//! - `snapshots(id PK, scope, status, created_at, name, pinned, expires_at, extra,
//!   manifest_hash, scope_key)`, indexed by `(scope_key, id)`: the columns are what queries
//!   filter or sort on or set conditionally (`manifest_hash`, version 3); `scope` is the
//!   display form, `scope_key` the normalised one (version 4); `extra` is JSON with the rest of
//!   the entry (trigger, finished_at, counts, bytes, requests, manifest_key, parent, error,
//!   lease).
//! - `locks(scope_key PK, scope, token, holder, acquired_at, expires_at)` (version 4 re-keyed
//!   them by scope key).
//! - `jobs(id PK, scope, status, fingerprint, created_at, updated_at, extra, scope_key)`,
//!   indexed by `(scope_key, id)`; `extra` holds target, plan_key, pre_snapshot, total_ops,
//!   error.
//! - `journal(job, op, done_at, result)` with primary key `(job, op)`, so a second append of
//!   the same operation conflicts.
//! - `claims(key PK, token, expires_at)` (version 2): one-time markers with an expiry.
//! - `cells(name PK, version, value)` (version 4): JSON documents changed by compare-and-swap.
//!
//! Timestamps are RFC 3339 text in UTC with nine fractional digits: fixed width, so text order
//! is time order (the lock expiry check compares them in SQL) and values round-trip exactly.
//! Ids are lowercase ULIDs, so `ORDER BY id DESC` is newest first.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use super::*;

mod rows;
mod schema;

use rows::{
    corrupt, from_json, get_lock, get_snapshot, op_index, parse_ts, to_json, ts, JobRow,
    SnapshotRow, JOB_COLUMNS, LOCK_COLUMNS, SNAPSHOT_COLUMNS,
};
use schema::{migrate, MigrateError, SCHEMA_VERSION};

/// How long a writer waits for another process's write lock before giving up. Catalog
/// transactions are tiny, so waiting this long means something is stuck, not just busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A catalog in a SQLite file. Cheap to clone (clones share one connection).
#[derive(Debug, Clone)]
pub struct SqliteCatalog {
    path: PathBuf,
    // One connection per catalog value, behind a std Mutex: `Connection` is `Send` but not
    // `Sync`, and it is only ever used inside `spawn_blocking`, where a blocking lock is the
    // right tool — the guard is never held across an `.await`, so tokio's async Mutex would
    // add cost and nothing else. Serializing this process's calls costs nothing either:
    // SQLite serializes writers anyway, and cross-process exclusion comes from SQLite's own
    // file locks, not from this Mutex.
    conn: Arc<Mutex<Connection>>,
}

impl SqliteCatalog {
    /// Creates the catalog file (and its schema) if missing, or opens it, and migrates an
    /// older schema: for `backtrack init` and `snapshot create`, the commands that may make
    /// a catalog. The parent folder must exist.
    ///
    /// This does blocking file I/O; call it before entering async code or accept a brief block.
    pub fn create(path: &Path) -> Result<SqliteCatalog, CatalogError> {
        Self::check_path(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let location = location_of(path);
        let conn =
            Connection::open_with_flags(path, flags).map_err(|e| open_error(path, &location, e))?;
        match Self::writable(path, conn)? {
            Some(catalog) => Ok(catalog),
            // SQLite silently opens a write-protected file read-only; say so now rather than
            // on the first write of a capture.
            None => Err(CatalogError::Unavailable {
                catalog: location,
                detail: format!(
                    "{} is read-only; fix its permissions or choose another --catalog",
                    path.display()
                ),
            }),
        }
    }

    /// Opens an existing catalog file, for every command that only uses one: `Missing` when
    /// there is none (nothing is created). A catalog that cannot be written (a read-only
    /// file, folder or mount) opens read-only, so a read-only archive can still be listed,
    /// diffed and verified; writes then fail with an error saying so.
    ///
    /// This does blocking file I/O; call it before entering async code or accept a brief block.
    pub fn open(path: &Path) -> Result<SqliteCatalog, CatalogError> {
        Self::check_path(path)?;
        let location = location_of(path);
        if !path.exists() {
            return Err(CatalogError::Missing {
                catalog: location,
                detail: format!(
                    "there is no file {}; create it with `backtrack init`, or take a first snapshot with `backtrack snapshot create`",
                    path.display()
                ),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let writable = Connection::open_with_flags(path, flags)
            .map_err(|e| open_error(path, &location, e))
            .and_then(|conn| Self::writable(path, conn));
        match writable {
            Ok(Some(catalog)) => Ok(catalog),
            Ok(None) => Self::read_only(path),
            // A writable file in a folder that is not (no room for the WAL files), or a
            // read-only mount.
            Err(CatalogError::Unavailable { .. }) if !dir_writable(path) => Self::read_only(path),
            Err(e) => Err(e),
        }
    }

    fn check_path(path: &Path) -> Result<(), CatalogError> {
        let unavailable = |detail: String| CatalogError::Unavailable {
            catalog: location_of(path),
            detail,
        };
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !parent.is_dir() {
            return Err(unavailable(format!(
                "folder {} does not exist; create it or choose another --catalog",
                parent.display()
            )));
        }
        if path.is_dir() {
            return Err(unavailable(format!(
                "{} is a folder, not a catalog file; choose a file path with --catalog",
                path.display()
            )));
        }
        Ok(())
    }

    /// Finishes opening a read-write connection (busy timeout, WAL, migrations); `None` when
    /// SQLite opened the file read-only after all.
    fn writable(path: &Path, mut conn: Connection) -> Result<Option<SqliteCatalog>, CatalogError> {
        let location = location_of(path);
        let unavailable = |detail: String| CatalogError::Unavailable {
            catalog: location.clone(),
            detail,
        };
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| open_error(path, &location, e))?;
        // The first access to the file's header: where a file that is not a database is
        // detected.
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .map_err(|e| open_error(path, &location, e))?;
        if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            return Ok(None);
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| open_error(path, &location, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Some filesystems (network mounts) cannot do WAL; rollback journaling is slower
            // but just as correct, so carry on.
            tracing::warn!(catalog = %location, %mode, "SQLite WAL mode unavailable");
        }
        migrate(&mut conn).map_err(|e| match e {
            MigrateError::Db(e) => open_error(path, &location, e),
            MigrateError::TooNew(version) => unavailable(format!(
                "its schema version {version} is newer than this backtrack understands \
                 ({SCHEMA_VERSION}); upgrade backtrack"
            )),
        })?;
        Ok(Some(SqliteCatalog {
            path: path.to_path_buf(),
            conn: Arc::new(Mutex::new(conn)),
        }))
    }

    /// A read-only connection. A catalog in WAL mode needs its `-shm` file, which a read-only
    /// folder cannot hold; then the file is opened `immutable` (nobody can write it there
    /// anyway). Its schema must be current: migrating needs a write.
    fn read_only(path: &Path) -> Result<SqliteCatalog, CatalogError> {
        let location = location_of(path);
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let version = |conn: &Connection| -> rusqlite::Result<i64> {
            conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        };
        let plain = Connection::open_with_flags(path, flags)
            .and_then(|conn| version(&conn).map(|v| (conn, v)));
        let (conn, found) = match plain {
            Ok(opened) => opened,
            Err(_) => {
                let uri = format!("file:{}?immutable=1", path.display());
                Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
                    .and_then(|conn| version(&conn).map(|v| (conn, v)))
                    .map_err(|e| open_error(path, &location, e))?
            }
        };
        if found != SCHEMA_VERSION {
            return Err(CatalogError::Unavailable {
                catalog: location,
                detail: format!(
                    "{} is read-only and its schema (version {found}) is not the one this backtrack reads ({SCHEMA_VERSION}); open it once with write access to migrate it",
                    path.display()
                ),
            });
        }
        tracing::info!(catalog = %location, "the catalog is read-only: commands that write will fail");
        Ok(SqliteCatalog {
            path: path.to_path_buf(),
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The catalog file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on a blocking thread.
    async fn run<T, F>(&self, f: F) -> Result<T, CatalogError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &str) -> Result<T, CatalogError> + Send + 'static,
    {
        let conn = self.conn.clone();
        let location = self.location();
        let task_location = location.clone();
        tokio::task::spawn_blocking(move || {
            // A panic under the lock unwinds through rusqlite's `Transaction`, whose drop rolls
            // back, so the connection is clean and poisoning can be ignored.
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard, &task_location)
        })
        .await
        .map_err(|e| CatalogError::Backend {
            catalog: location,
            detail: format!("catalog task failed: {e}"),
        })?
    }
}

/// Whether a file can be created next to `path` (SQLite's WAL and journal files).
fn dir_writable(path: &Path) -> bool {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let probe = dir.join(format!(".tmp-probe-{}", ulid::Ulid::new()));
    let ok = std::fs::File::create_new(&probe).is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

fn location_of(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Errors while opening: the catalog is unusable, so they are all `Unavailable`, worded by
/// cause.
fn open_error(path: &Path, location: &str, e: rusqlite::Error) -> CatalogError {
    let shown = path.display();
    let detail = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => format!(
            "{shown} is not a SQLite database ({e}); move it away or choose another --catalog"
        ),
        Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => format!(
            "cannot open {shown} ({e}); check that the file and its folder are readable and \
             writable"
        ),
        Some(ErrorCode::ReadOnly) => {
            format!("{shown} is read-only ({e}); fix its permissions or choose another --catalog")
        }
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => format!(
            "{shown} stayed locked by another process for over {}s ({e}); retry",
            BUSY_TIMEOUT.as_secs()
        ),
        Some(ErrorCode::DatabaseCorrupt) => {
            format!("{shown} is damaged ({e}); restore it from a backup")
        }
        _ => format!("{shown}: {e}"),
    };
    CatalogError::Unavailable {
        catalog: location.to_string(),
        detail,
    }
}

/// Maps a failed statement to the catalog's error vocabulary.
trait DbResult<T> {
    fn db(self, location: &str) -> Result<T, CatalogError>;
}

impl<T> DbResult<T> for rusqlite::Result<T> {
    fn db(self, location: &str) -> Result<T, CatalogError> {
        self.map_err(|e| {
            let catalog = location.to_string();
            match e.sqlite_error_code() {
                Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
                    CatalogError::Backend {
                        catalog,
                        detail: format!(
                            "another process held the catalog for over {}s ({e}); retry",
                            BUSY_TIMEOUT.as_secs()
                        ),
                    }
                }
                Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
                    CatalogError::Corrupt {
                        catalog,
                        detail: e.to_string(),
                    }
                }
                Some(ErrorCode::ReadOnly) => CatalogError::Unavailable {
                    catalog,
                    detail: format!(
                        "it is read-only ({e}) and this command writes to it; fix its permissions, or use a command that only reads"
                    ),
                },
                _ => CatalogError::Backend {
                    catalog,
                    detail: e.to_string(),
                },
            }
        })
    }
}

fn conflict(what: String, detail: impl Into<String>) -> CatalogError {
    CatalogError::Conflict {
        what,
        detail: detail.into(),
    }
}

/// Inserts a row that must be new. `ON CONFLICT DO NOTHING` turns a duplicate into "0 rows
/// changed" in one statement, so the existence check and the insert cannot be separated by
/// another process; the duplicate is then a `Conflict` naming `what`.
fn insert_new(
    conn: &Connection,
    loc: &str,
    sql: &str,
    params: impl rusqlite::Params,
    what: impl FnOnce() -> String,
    exists: &str,
) -> Result<(), CatalogError> {
    if conn.execute(sql, params).db(loc)? == 0 {
        return Err(conflict(what(), exists));
    }
    Ok(())
}

fn not_found(location: &str, what: String) -> CatalogError {
    CatalogError::NotFound {
        catalog: location.to_string(),
        what,
    }
}

#[async_trait]
impl Catalog for SqliteCatalog {
    fn location(&self) -> String {
        location_of(&self.path)
    }

    async fn create(&self, entry: &SnapshotEntry) -> Result<(), CatalogError> {
        let entry = entry.clone();
        self.run(move |conn, loc| {
            let row = SnapshotRow::from_entry(loc, &entry)?;
            insert_new(
                conn,
                loc,
                &format!(
                    "INSERT INTO snapshots ({SNAPSHOT_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING"
                ),
                params![
                    row.id,
                    row.scope,
                    row.status,
                    row.created_at,
                    row.name,
                    row.pinned,
                    row.expires_at,
                    row.extra,
                    row.manifest_hash,
                    row.scope_key
                ],
                || format!("snapshot {}", entry.id),
                "an entry with this id already exists",
            )
        })
        .await
    }

    async fn get(&self, id: &SnapshotId) -> Result<Option<SnapshotEntry>, CatalogError> {
        let id = id.to_string();
        self.run(move |conn, loc| get_snapshot(conn, loc, &id))
            .await
    }

    async fn list(&self, scope: Option<&Scope>) -> Result<Vec<SnapshotEntry>, CatalogError> {
        let scope = scope.map(Scope::key);
        self.run(move |conn, loc| {
            let rows = match &scope {
                Some(scope) => {
                    let mut stmt = conn
                        .prepare_cached(&format!(
                            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots
                             WHERE scope_key = ?1 ORDER BY id DESC"
                        ))
                        .db(loc)?;
                    let rows = stmt
                        .query_map([scope], SnapshotRow::read)
                        .db(loc)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .db(loc)?;
                    rows
                }
                None => {
                    let mut stmt = conn
                        .prepare_cached(&format!(
                            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots ORDER BY id DESC"
                        ))
                        .db(loc)?;
                    let rows = stmt
                        .query_map([], SnapshotRow::read)
                        .db(loc)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .db(loc)?;
                    rows
                }
            };
            rows.into_iter().map(|r| r.into_entry(loc)).collect()
        })
        .await
    }

    async fn finish(&self, id: &SnapshotId, finish: &Finish) -> Result<(), CatalogError> {
        let id = *id;
        let finish = finish.clone();
        self.run(move |conn, loc| {
            // IMMEDIATE: the write lock is taken before the read, so no other process can
            // finish the entry between our status check and our update.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .db(loc)?;
            let Some(mut entry) = get_snapshot(&tx, loc, &id.to_string())? else {
                return Err(not_found(loc, format!("snapshot {id}")));
            };
            if !entry.status.is_open() {
                return Err(conflict(
                    format!("snapshot {id}"),
                    format!("it is {}, not pending or in progress", entry.status),
                ));
            }
            entry.apply_finish(&finish);
            let row = SnapshotRow::from_entry(loc, &entry)?;
            tx.execute(
                "UPDATE snapshots SET status = ?1, extra = ?2, manifest_hash = ?3 WHERE id = ?4",
                params![row.status, row.extra, row.manifest_hash, row.id],
            )
            .db(loc)?;
            tx.commit().db(loc)
        })
        .await
    }

    async fn restart(
        &self,
        entry: &SnapshotEntry,
        expected: &[SnapshotStatus],
    ) -> Result<(), CatalogError> {
        let next = entry.clone();
        let expected = expected.to_vec();
        self.run(move |conn, loc| {
            // IMMEDIATE, as for `finish`: nobody changes the row between check and update.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .db(loc)?;
            let Some(stored) = get_snapshot(&tx, loc, &next.id.to_string())? else {
                return Err(not_found(loc, format!("snapshot {}", next.id)));
            };
            if !expected.contains(&stored.status) {
                return Err(conflict(
                    format!("snapshot {}", next.id),
                    format!(
                        "it is {}, not {}",
                        stored.status,
                        crate::catalog::one_of(&expected)
                    ),
                ));
            }
            let row = SnapshotRow::from_entry(loc, &next)?;
            tx.execute(
                "UPDATE snapshots SET status = ?1, created_at = ?2, name = ?3, pinned = ?4,
                     expires_at = ?5, extra = ?6, manifest_hash = ?7 WHERE id = ?8",
                params![
                    row.status,
                    row.created_at,
                    row.name,
                    row.pinned,
                    row.expires_at,
                    row.extra,
                    row.manifest_hash,
                    row.id
                ],
            )
            .db(loc)?;
            tx.commit().db(loc)
        })
        .await
    }

    async fn record_manifest_hash(
        &self,
        id: &SnapshotId,
        hash: &ObjectHash,
    ) -> Result<(), CatalogError> {
        let id = id.to_string();
        let hash = hash.to_string();
        self.run(move |conn, loc| {
            // One conditional statement: only a completed row with no hash (or this very
            // hash, for an idempotent retry) changes.
            let changed = conn
                .execute(
                    "UPDATE snapshots SET manifest_hash = ?1
                     WHERE id = ?2 AND status = 'completed'
                       AND (manifest_hash IS NULL OR manifest_hash = ?1)",
                    params![hash, id],
                )
                .db(loc)?;
            if changed == 1 {
                return Ok(());
            }
            let Some(entry) = get_snapshot(conn, loc, &id)? else {
                return Err(not_found(loc, format!("snapshot {id}")));
            };
            Err(conflict(
                format!("snapshot {id}"),
                match entry.manifest_hash {
                    Some(held) => format!("it already records manifest hash {held}"),
                    None => format!("it is {}, not completed", entry.status),
                },
            ))
        })
        .await
    }

    async fn set_pinned(&self, id: &SnapshotId, pinned: bool) -> Result<(), CatalogError> {
        let id = id.to_string();
        self.run(move |conn, loc| {
            let changed = conn
                .execute(
                    "UPDATE snapshots SET pinned = ?1 WHERE id = ?2",
                    params![pinned, id],
                )
                .db(loc)?;
            if changed == 0 {
                return Err(not_found(loc, format!("snapshot {id}")));
            }
            Ok(())
        })
        .await
    }

    async fn mark_deleting(&self, id: &SnapshotId) -> Result<(), CatalogError> {
        let id = id.to_string();
        self.run(move |conn, loc| {
            let changed = conn
                .execute(
                    "UPDATE snapshots SET status = ?1 WHERE id = ?2",
                    params![SnapshotStatus::Deleting.as_str(), id],
                )
                .db(loc)?;
            if changed == 0 {
                return Err(not_found(loc, format!("snapshot {id}")));
            }
            Ok(())
        })
        .await
    }

    async fn delete(&self, id: &SnapshotId) -> Result<(), CatalogError> {
        let id = id.to_string();
        self.run(move |conn, loc| {
            let changed = conn
                .execute("DELETE FROM snapshots WHERE id = ?1", [&id])
                .db(loc)?;
            if changed == 0 {
                return Err(not_found(loc, format!("snapshot {id}")));
            }
            Ok(())
        })
        .await
    }

    async fn lock(&self, lock: &LockInfo) -> Result<(), CatalogError> {
        let lock = lock.clone();
        self.run(move |conn, loc| {
            let key = lock.scope.key();
            let now = ts(&Utc::now());
            // One transaction holding the write lock throughout: the conditional upsert
            // decides, and on refusal the holder we report is the one that refused us (it
            // cannot be released in between).
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .db(loc)?;
            let taken = tx
                .execute(
                    &format!(
                        "INSERT INTO locks ({LOCK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (scope_key) DO UPDATE SET
                             scope = excluded.scope,
                             token = excluded.token,
                             holder = excluded.holder,
                             acquired_at = excluded.acquired_at,
                             expires_at = excluded.expires_at
                         WHERE locks.expires_at <= ?7"
                    ),
                    params![
                        key,
                        lock.scope.to_string(),
                        lock.token,
                        lock.holder,
                        ts(&lock.acquired_at),
                        ts(&lock.expires_at),
                        now
                    ],
                )
                .db(loc)?;
            if taken == 1 {
                return tx.commit().db(loc);
            }
            match get_lock(&tx, loc, &key)? {
                Some(current) => Err(CatalogError::Locked(Box::new(current))),
                None => Err(CatalogError::Backend {
                    catalog: loc.to_string(),
                    detail: format!("lock on {key} was refused but no holder is recorded"),
                }),
            }
        })
        .await
    }

    async fn renew_lock(&self, lock: &LockInfo) -> Result<(), CatalogError> {
        let lock = lock.clone();
        self.run(move |conn, loc| {
            let changed = conn
                .execute(
                    "UPDATE locks SET expires_at = ?1 WHERE scope_key = ?2 AND token = ?3",
                    params![ts(&lock.expires_at), lock.scope.key(), lock.token],
                )
                .db(loc)?;
            if changed == 0 {
                return Err(conflict(
                    format!("lock on {}", lock.scope),
                    "this holder no longer holds it",
                ));
            }
            Ok(())
        })
        .await
    }

    async fn unlock(&self, scope: &Scope, token: &str) -> Result<(), CatalogError> {
        let scope = scope.key();
        let token = token.to_string();
        self.run(move |conn, loc| {
            conn.execute(
                "DELETE FROM locks WHERE scope_key = ?1 AND token = ?2",
                params![scope, token],
            )
            .db(loc)?;
            Ok(())
        })
        .await
    }

    async fn current_lock(&self, scope: &Scope) -> Result<Option<LockInfo>, CatalogError> {
        let scope = scope.key();
        self.run(move |conn, loc| get_lock(conn, loc, &scope)).await
    }

    async fn create_job(&self, job: &JobEntry) -> Result<(), CatalogError> {
        let job = job.clone();
        self.run(move |conn, loc| {
            let row = JobRow::from_job(loc, &job)?;
            insert_new(
                conn,
                loc,
                &format!(
                    "INSERT INTO jobs ({JOB_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT DO NOTHING"
                ),
                params![
                    row.id,
                    row.scope,
                    row.status,
                    row.fingerprint,
                    row.created_at,
                    row.updated_at,
                    row.extra,
                    row.scope_key
                ],
                || format!("job {}", job.id),
                "a job with this id already exists",
            )
        })
        .await
    }

    async fn get_job(&self, id: &JobId) -> Result<Option<JobEntry>, CatalogError> {
        let id = id.to_string();
        self.run(move |conn, loc| {
            conn.query_row(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
                [&id],
                JobRow::read,
            )
            .optional()
            .db(loc)?
            .map(|row| row.into_job(loc))
            .transpose()
        })
        .await
    }

    async fn list_jobs(&self, scope: &Scope) -> Result<Vec<JobEntry>, CatalogError> {
        let scope = scope.key();
        self.run(move |conn, loc| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE scope_key = ?1 ORDER BY id DESC"
                ))
                .db(loc)?;
            let rows = stmt
                .query_map([&scope], JobRow::read)
                .db(loc)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db(loc)?;
            rows.into_iter().map(|r| r.into_job(loc)).collect()
        })
        .await
    }

    async fn update_job(&self, job: &JobEntry, expected: JobStatus) -> Result<(), CatalogError> {
        let job = job.clone();
        self.run(move |conn, loc| {
            let row = JobRow::from_job(loc, &job)?;
            // The status condition is part of the UPDATE itself: compare-and-swap in SQLite.
            let changed = conn
                .execute(
                    "UPDATE jobs SET scope = ?1, status = ?2, fingerprint = ?3,
                         created_at = ?4, updated_at = ?5, extra = ?6, scope_key = ?7
                     WHERE id = ?8 AND status = ?9",
                    params![
                        row.scope,
                        row.status,
                        row.fingerprint,
                        row.created_at,
                        row.updated_at,
                        row.extra,
                        row.scope_key,
                        row.id,
                        expected.as_str()
                    ],
                )
                .db(loc)?;
            if changed == 1 {
                return Ok(());
            }
            // Only to word the error: the decision was already made by the UPDATE.
            let stored: Option<String> = conn
                .query_row("SELECT status FROM jobs WHERE id = ?1", [&row.id], |r| {
                    r.get(0)
                })
                .optional()
                .db(loc)?;
            match stored {
                None => Err(not_found(loc, format!("job {}", job.id))),
                Some(status) => Err(conflict(
                    format!("job {}", job.id),
                    format!("it is {status}, not {}", expected.as_str()),
                )),
            }
        })
        .await
    }

    async fn journal_append(&self, entry: &JournalEntry) -> Result<(), CatalogError> {
        let entry = entry.clone();
        self.run(move |conn, loc| {
            let op = op_index(loc, entry.op)?;
            let result = to_json(loc, &entry.result)?;
            let inserted = conn
                .execute(
                    "INSERT INTO journal (job, op, done_at, result) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO NOTHING",
                    params![entry.job.to_string(), op, ts(&entry.done_at), result],
                )
                .db(loc)?;
            if inserted == 0 {
                return Err(conflict(
                    format!("journal of job {} op {}", entry.job, entry.op),
                    "this operation is already journaled as done",
                ));
            }
            Ok(())
        })
        .await
    }

    async fn journal(&self, job: &JobId) -> Result<Vec<JournalEntry>, CatalogError> {
        let job = *job;
        self.run(move |conn, loc| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT op, done_at, result FROM journal WHERE job = ?1 ORDER BY op",
                )
                .db(loc)?;
            let rows = stmt
                .query_map([job.to_string()], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .db(loc)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db(loc)?;
            rows.into_iter()
                .map(|(op, done_at, result)| {
                    let what = format!("journal of job {job} op {op}");
                    Ok(JournalEntry {
                        job,
                        op: u64::try_from(op)
                            .map_err(|_| corrupt(loc, format!("{what}: negative index")))?,
                        done_at: parse_ts(loc, &what, &done_at)?,
                        result: from_json(loc, &what, &result)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn claim(&self, claim: &Claim) -> Result<bool, CatalogError> {
        let claim = claim.clone();
        self.run(move |conn, loc| {
            // One conditional upsert decides: a free key or an expired claim is taken.
            let taken = conn
                .execute(
                    "INSERT INTO claims (key, token, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET
                         token = excluded.token,
                         expires_at = excluded.expires_at
                     WHERE claims.expires_at <= ?4",
                    params![
                        claim.key,
                        claim.token,
                        ts(&claim.expires_at),
                        ts(&Utc::now())
                    ],
                )
                .db(loc)?;
            Ok(taken == 1)
        })
        .await
    }

    async fn release_claim(&self, key: &str, token: &str) -> Result<(), CatalogError> {
        let (key, token) = (key.to_string(), token.to_string());
        self.run(move |conn, loc| {
            conn.execute(
                "DELETE FROM claims WHERE key = ?1 AND token = ?2",
                params![key, token],
            )
            .db(loc)?;
            Ok(())
        })
        .await
    }

    async fn read_cell(&self, name: &str) -> Result<Option<Cell>, CatalogError> {
        let name = name.to_string();
        self.run(move |conn, loc| {
            let row: Option<(i64, String)> = conn
                .query_row(
                    "SELECT version, value FROM cells WHERE name = ?1",
                    [&name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .db(loc)?;
            row.map(|(version, value)| {
                let what = format!("cell {name}");
                Ok(Cell {
                    version: u64::try_from(version)
                        .map_err(|_| corrupt(loc, format!("{what}: negative version")))?,
                    value: from_json(loc, &what, &value)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn write_cell(
        &self,
        name: &str,
        value: &serde_json::Value,
        expected: Option<u64>,
    ) -> Result<u64, CatalogError> {
        let name = name.to_string();
        let value = value.clone();
        self.run(move |conn, loc| {
            let text = to_json(loc, &value)?;
            let next = expected.unwrap_or(0).saturating_add(1);
            let next_db = i64::try_from(next)
                .map_err(|_| corrupt(loc, format!("cell {name}: version overflow")))?;
            // One conditional statement each: an insert that only creates, an update that
            // only replaces the version it expects.
            let changed = match expected {
                None => conn.execute(
                    "INSERT INTO cells (name, version, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                    params![name, next_db, text],
                ),
                Some(version) => conn.execute(
                    "UPDATE cells SET version = ?1, value = ?2 WHERE name = ?3 AND version = ?4",
                    params![
                        next_db,
                        text,
                        name,
                        i64::try_from(version).unwrap_or(i64::MAX)
                    ],
                ),
            }
            .db(loc)?;
            if changed == 0 {
                return Err(conflict(
                    format!("cell {name}"),
                    format!("it changed since version {expected:?} was read"),
                ));
            }
            Ok(next)
        })
        .await
    }
}

#[cfg(test)]
mod tests;
