//! The catalog's SQLite schema and its migrations, versioned by `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

/// The schema version this code writes; see [`migrate`].
pub(super) const SCHEMA_VERSION: i64 = 3;

const SCHEMA_V1: &str = "
CREATE TABLE snapshots (
    id          TEXT PRIMARY KEY NOT NULL,
    scope       TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    name        TEXT,
    pinned      INTEGER NOT NULL DEFAULT 0,
    expires_at  TEXT,
    extra       TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX snapshots_by_scope ON snapshots (scope, id);

CREATE TABLE locks (
    scope       TEXT PRIMARY KEY NOT NULL,
    token       TEXT NOT NULL,
    holder      TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE jobs (
    id          TEXT PRIMARY KEY NOT NULL,
    scope       TEXT NOT NULL,
    status      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    extra       TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX jobs_by_scope ON jobs (scope, id);

CREATE TABLE journal (
    job         TEXT NOT NULL,
    op          INTEGER NOT NULL,
    done_at     TEXT NOT NULL,
    result      TEXT NOT NULL,
    PRIMARY KEY (job, op)
) WITHOUT ROWID;
";

/// Version 2: claims (webhook deliveries handled, job slices running).
const SCHEMA_V2: &str = "
CREATE TABLE claims (
    key         TEXT PRIMARY KEY NOT NULL,
    token       TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) WITHOUT ROWID;
";

/// Version 3: the manifest hash of each snapshot, a column of its own (not in `extra`) so
/// that `verify` can find the entries written before manifests were hashed with one query,
/// and `record_manifest_hash` can set it only where it is still empty, in one statement.
/// Existing rows get NULL: they predate the hash.
const SCHEMA_V3: &str = "
ALTER TABLE snapshots ADD COLUMN manifest_hash TEXT;
";

pub(super) enum MigrateError {
    Db(rusqlite::Error),
    TooNew(i64),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Db(e)
    }
}

/// Brings the schema to [`SCHEMA_VERSION`]. Runs in an `IMMEDIATE` transaction and re-reads
/// the version inside it, so two processes opening a fresh file at once migrate it once.
/// Each future version adds one `if version < N` step; steps never change.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(MigrateError::TooNew(version));
    }
    if version < 1 {
        tx.execute_batch(SCHEMA_V1)?;
    }
    if version < 2 {
        tx.execute_batch(SCHEMA_V2)?;
    }
    if version < 3 {
        tx.execute_batch(SCHEMA_V3)?;
    }
    if version < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.commit()?;
    Ok(())
}
