//! The catalog's SQLite schema and its migrations, versioned by `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

/// The schema version this code writes; see [`migrate`].
pub(super) const SCHEMA_VERSION: i64 = 4;

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

/// Version 4: scopes are matched by their normalised key (GitHub names are case-insensitive,
/// so `github:ACME/Widgets` and `github:acme/widgets` are one history and one lock). Rows
/// keep the display form they were written with in `scope` and gain `scope_key`, which
/// listings filter on; SQLite's `lower()` folds ASCII only, exactly as `Scope::key` does
/// (scope names are ASCII). Locks are re-keyed: of two case variants holding a lock at
/// once (the bug this fixes), the one that expires last is kept. Also `cells`: small
/// documents changed by compare-and-swap on `version` (the store-wide leases).
const SCHEMA_V4: &str = "
ALTER TABLE snapshots ADD COLUMN scope_key TEXT NOT NULL DEFAULT '';
UPDATE snapshots SET scope_key = lower(scope);
DROP INDEX snapshots_by_scope;
CREATE INDEX snapshots_by_scope_key ON snapshots (scope_key, id);

ALTER TABLE jobs ADD COLUMN scope_key TEXT NOT NULL DEFAULT '';
UPDATE jobs SET scope_key = lower(scope);
DROP INDEX jobs_by_scope;
CREATE INDEX jobs_by_scope_key ON jobs (scope_key, id);

CREATE TABLE locks_by_key (
    scope_key   TEXT PRIMARY KEY NOT NULL,
    scope       TEXT NOT NULL,
    token       TEXT NOT NULL,
    holder      TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO locks_by_key (scope_key, scope, token, holder, acquired_at, expires_at)
    SELECT lower(scope), scope, token, holder, acquired_at, expires_at FROM locks
    WHERE true ORDER BY expires_at
    ON CONFLICT (scope_key) DO UPDATE SET
        scope = excluded.scope,
        token = excluded.token,
        holder = excluded.holder,
        acquired_at = excluded.acquired_at,
        expires_at = excluded.expires_at;
DROP TABLE locks;
ALTER TABLE locks_by_key RENAME TO locks;

CREATE TABLE cells (
    name        TEXT PRIMARY KEY NOT NULL,
    version     INTEGER NOT NULL,
    value       TEXT NOT NULL
) WITHOUT ROWID;
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

/// Each version's step, in order: `STEPS[n]` brings version `n` to `n + 1`.
const STEPS: [&str; SCHEMA_VERSION as usize] = [SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4];

/// Brings the schema to [`SCHEMA_VERSION`]. Runs in an `IMMEDIATE` transaction and re-reads
/// the version inside it, so two processes opening a fresh file at once migrate it once.
/// Each future version adds one step; steps never change.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    migrate_to(conn, SCHEMA_VERSION)
}

/// Brings the schema to `target` (tests build older layouts with it).
pub(super) fn migrate_to(conn: &mut Connection, target: i64) -> Result<(), MigrateError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(MigrateError::TooNew(version));
    }
    for (n, step) in STEPS.iter().enumerate() {
        let reaches = n as i64 + 1;
        if version < reaches && reaches <= target {
            tx.execute_batch(step)?;
        }
    }
    if version < target {
        tx.pragma_update(None, "user_version", target)?;
    }
    tx.commit()?;
    Ok(())
}
