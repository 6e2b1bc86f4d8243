//! [`SqliteCatalog`]: the catalog in one SQLite file, the embedded default.
//!
//! Several CLI processes may share the file (two rollbacks of one scope racing, a scheduled
//! snapshot during a restore), so every conditional write is decided inside SQLite — a single
//! conditional statement or an `IMMEDIATE` transaction, which takes the database's write lock
//! up front — never by a read in Rust followed by a write. WAL mode lets readers proceed while a
//! writer works, and a busy timeout makes a second writer wait instead of failing at once.
//!
//! # Schema (version 3, tracked in `PRAGMA user_version`; see `schema.rs`)
//! - `snapshots(id PK, scope, status, created_at, name, pinned, expires_at, extra,
//!   manifest_hash)`, indexed by `(scope, id)`: the columns are what queries filter or sort
//!   on or set conditionally (`manifest_hash`, version 3); `extra` is JSON with the rest of the
//!   entry (trigger, finished_at, counts, bytes, requests, manifest_key, parent, error).
//! - `locks(scope PK, token, holder, acquired_at, expires_at)`.
//! - `jobs(id PK, scope, status, fingerprint, created_at, updated_at, extra)`, indexed by
//!   `(scope, id)`; `extra` holds target, plan_key, pre_snapshot, total_ops, error.
//! - `journal(job, op, done_at, result)` with primary key `(job, op)`, so a second append of
//!   the same operation conflicts.
//! - `claims(key PK, token, expires_at)` (version 2): one-time markers with an expiry.
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
    /// Opens the catalog file, creating it (and its schema) if missing, and migrates an older
    /// schema. The parent folder must exist.
    ///
    /// This does blocking file I/O; call it before entering async code or accept a brief block.
    pub fn open(path: &Path) -> Result<SqliteCatalog, CatalogError> {
        let location = location_of(path);
        let unavailable = |detail: String| CatalogError::Unavailable {
            catalog: location.clone(),
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

        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn =
            Connection::open_with_flags(path, flags).map_err(|e| open_error(path, &location, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| open_error(path, &location, e))?;
        // Reading the journal mode is also the first access to the file's header, so this is
        // where a file that is not a database is detected.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| open_error(path, &location, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Some filesystems (network mounts) cannot do WAL; rollback journaling is slower
            // but just as correct, so carry on.
            tracing::warn!(catalog = %location, %mode, "SQLite WAL mode unavailable");
        }
        // SQLite silently opens a write-protected file read-only; say so now rather than on
        // the first write of a capture.
        if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            return Err(unavailable(format!(
                "{} is read-only; fix its permissions or choose another --catalog",
                path.display()
            )));
        }
        migrate(&mut conn).map_err(|e| match e {
            MigrateError::Db(e) => open_error(path, &location, e),
            MigrateError::TooNew(version) => unavailable(format!(
                "its schema version {version} is newer than this backtrack understands \
                 ({SCHEMA_VERSION}); upgrade backtrack"
            )),
        })?;
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
            // `DO NOTHING` turns the duplicate into "0 rows changed" in one statement, so the
            // existence check and the insert cannot be separated by another process.
            let inserted = conn
                .execute(
                    &format!(
                        "INSERT INTO snapshots ({SNAPSHOT_COLUMNS})
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING"
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
                        row.manifest_hash
                    ],
                )
                .db(loc)?;
            if inserted == 0 {
                return Err(conflict(
                    format!("snapshot {}", entry.id),
                    "an entry with this id already exists",
                ));
            }
            Ok(())
        })
        .await
    }

    async fn get(&self, id: &SnapshotId) -> Result<Option<SnapshotEntry>, CatalogError> {
        let id = id.to_string();
        self.run(move |conn, loc| get_snapshot(conn, loc, &id))
            .await
    }

    async fn list(&self, scope: Option<&Scope>) -> Result<Vec<SnapshotEntry>, CatalogError> {
        let scope = scope.map(ToString::to_string);
        self.run(move |conn, loc| {
            let rows = match &scope {
                Some(scope) => {
                    let mut stmt = conn
                        .prepare_cached(&format!(
                            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots
                             WHERE scope = ?1 ORDER BY id DESC"
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
            if entry.status != SnapshotStatus::Pending {
                return Err(conflict(
                    format!("snapshot {id}"),
                    format!("it is {}, not pending", entry.status),
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
            let scope = lock.scope.to_string();
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
                        "INSERT INTO locks ({LOCK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (scope) DO UPDATE SET
                             token = excluded.token,
                             holder = excluded.holder,
                             acquired_at = excluded.acquired_at,
                             expires_at = excluded.expires_at
                         WHERE locks.expires_at <= ?6"
                    ),
                    params![
                        scope,
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
            match get_lock(&tx, loc, &scope)? {
                Some(current) => Err(CatalogError::Locked(Box::new(current))),
                None => Err(CatalogError::Backend {
                    catalog: loc.to_string(),
                    detail: format!("lock on {scope} was refused but no holder is recorded"),
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
                    "UPDATE locks SET expires_at = ?1 WHERE scope = ?2 AND token = ?3",
                    params![ts(&lock.expires_at), lock.scope.to_string(), lock.token],
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
        let scope = scope.to_string();
        let token = token.to_string();
        self.run(move |conn, loc| {
            conn.execute(
                "DELETE FROM locks WHERE scope = ?1 AND token = ?2",
                params![scope, token],
            )
            .db(loc)?;
            Ok(())
        })
        .await
    }

    async fn current_lock(&self, scope: &Scope) -> Result<Option<LockInfo>, CatalogError> {
        let scope = scope.to_string();
        self.run(move |conn, loc| get_lock(conn, loc, &scope)).await
    }

    async fn create_job(&self, job: &JobEntry) -> Result<(), CatalogError> {
        let job = job.clone();
        self.run(move |conn, loc| {
            let row = JobRow::from_job(loc, &job)?;
            let inserted = conn
                .execute(
                    &format!(
                        "INSERT INTO jobs ({JOB_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT DO NOTHING"
                    ),
                    params![
                        row.id,
                        row.scope,
                        row.status,
                        row.fingerprint,
                        row.created_at,
                        row.updated_at,
                        row.extra
                    ],
                )
                .db(loc)?;
            if inserted == 0 {
                return Err(conflict(
                    format!("job {}", job.id),
                    "a job with this id already exists",
                ));
            }
            Ok(())
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
        let scope = scope.to_string();
        self.run(move |conn, loc| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE scope = ?1 ORDER BY id DESC"
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
                         created_at = ?4, updated_at = ?5, extra = ?6
                     WHERE id = ?7 AND status = ?8",
                    params![
                        row.scope,
                        row.status,
                        row.fingerprint,
                        row.created_at,
                        row.updated_at,
                        row.extra,
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
}

#[cfg(test)]
mod tests;
