//! Row mapping for the SQLite catalog: structured columns for what queries use, JSON for the
//! rest, and strict parsing so that a bad row becomes `Corrupt` with context, never a panic.

use chrono::SecondsFormat;
use rusqlite::{Connection, OptionalExtension, Row};

use super::DbResult;
use crate::catalog::*;
use crate::manifest::{Counts, Trigger};

/// Fixed-width UTC text, so comparing strings compares times.
pub(super) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(super) fn corrupt(location: &str, detail: String) -> CatalogError {
    CatalogError::Corrupt {
        catalog: location.to_string(),
        detail,
    }
}

pub(super) fn parse_ts(location: &str, what: &str, s: &str) -> Result<DateTime<Utc>, CatalogError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt(location, format!("{what}: bad timestamp {s:?}: {e}")))
}

pub(super) fn parse<T: std::str::FromStr>(
    location: &str,
    what: &str,
    s: &str,
) -> Result<T, CatalogError>
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .map_err(|e| corrupt(location, format!("{what}: {e}")))
}

pub(super) fn to_json<T: Serialize>(location: &str, value: &T) -> Result<String, CatalogError> {
    serde_json::to_string(value).map_err(|e| CatalogError::Backend {
        catalog: location.to_string(),
        detail: format!("cannot encode row: {e}"),
    })
}

pub(super) fn from_json<T: for<'de> Deserialize<'de>>(
    location: &str,
    what: &str,
    s: &str,
) -> Result<T, CatalogError> {
    serde_json::from_str(s).map_err(|e| corrupt(location, format!("{what}: {e}")))
}

/// The JSON part of a snapshot row: what no query filters on.
#[derive(Serialize, Deserialize)]
struct SnapshotExtra {
    trigger: Trigger,
    finished_at: Option<DateTime<Utc>>,
    counts: Counts,
    bytes: ByteStats,
    requests: u64,
    manifest_key: String,
    parent: Option<SnapshotId>,
    error: Option<String>,
    #[serde(default)]
    lease: Option<String>,
}

/// `scope` is the display form the entry was written with; `scope_key` (version 4) is
/// [`Scope::key`], what listings filter on.
pub(super) const SNAPSHOT_COLUMNS: &str =
    "id, scope, status, created_at, name, pinned, expires_at, extra, manifest_hash, scope_key";

/// A snapshot row as stored, before validation (so that row reading stays infallible except
/// for SQLite's own type errors, and bad data becomes `Corrupt` with context).
pub(super) struct SnapshotRow {
    pub(super) id: String,
    pub(super) scope: String,
    pub(super) status: String,
    pub(super) created_at: String,
    pub(super) name: Option<String>,
    pub(super) pinned: bool,
    pub(super) expires_at: Option<String>,
    pub(super) extra: String,
    pub(super) manifest_hash: Option<String>,
    pub(super) scope_key: String,
}

impl SnapshotRow {
    pub(super) fn read(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(SnapshotRow {
            id: r.get(0)?,
            scope: r.get(1)?,
            status: r.get(2)?,
            created_at: r.get(3)?,
            name: r.get(4)?,
            pinned: r.get(5)?,
            expires_at: r.get(6)?,
            extra: r.get(7)?,
            manifest_hash: r.get(8)?,
            scope_key: r.get(9)?,
        })
    }

    pub(super) fn from_entry(location: &str, e: &SnapshotEntry) -> Result<Self, CatalogError> {
        let extra = SnapshotExtra {
            trigger: e.trigger,
            finished_at: e.finished_at,
            counts: e.counts,
            bytes: e.bytes,
            requests: e.requests,
            manifest_key: e.manifest_key.clone(),
            parent: e.parent,
            error: e.error.clone(),
            lease: e.lease.clone(),
        };
        Ok(SnapshotRow {
            id: e.id.to_string(),
            scope: e.scope.to_string(),
            status: e.status.as_str().to_string(),
            created_at: ts(&e.created_at),
            name: e.name.clone(),
            pinned: e.pinned,
            expires_at: e.expires_at.as_ref().map(ts),
            extra: to_json(location, &extra)?,
            manifest_hash: e.manifest_hash.as_ref().map(ToString::to_string),
            scope_key: e.scope.key(),
        })
    }

    pub(super) fn into_entry(self, location: &str) -> Result<SnapshotEntry, CatalogError> {
        let what = format!("snapshot {}", self.id);
        let extra: SnapshotExtra = from_json(location, &what, &self.extra)?;
        Ok(SnapshotEntry {
            id: parse(location, &what, &self.id)?,
            scope: parse(location, &what, &self.scope)?,
            name: self.name,
            trigger: extra.trigger,
            status: parse(location, &what, &self.status)?,
            created_at: parse_ts(location, &what, &self.created_at)?,
            finished_at: extra.finished_at,
            counts: extra.counts,
            bytes: extra.bytes,
            requests: extra.requests,
            manifest_key: extra.manifest_key,
            parent: extra.parent,
            pinned: self.pinned,
            expires_at: self
                .expires_at
                .as_deref()
                .map(|s| parse_ts(location, &what, s))
                .transpose()?,
            error: extra.error,
            lease: extra.lease,
            manifest_hash: self
                .manifest_hash
                .as_deref()
                .map(|h| parse(location, &what, h))
                .transpose()?,
        })
    }
}

pub(super) fn get_snapshot(
    conn: &Connection,
    location: &str,
    id: &str,
) -> Result<Option<SnapshotEntry>, CatalogError> {
    conn.query_row(
        &format!("SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE id = ?1"),
        [id],
        SnapshotRow::read,
    )
    .optional()
    .db(location)?
    .map(|row| row.into_entry(location))
    .transpose()
}

/// Locks are keyed by `scope_key` (version 4); `scope` keeps the holder's display form.
pub(super) const LOCK_COLUMNS: &str = "scope_key, scope, token, holder, acquired_at, expires_at";

pub(super) fn read_lock(r: &Row<'_>) -> rusqlite::Result<[String; 6]> {
    Ok([
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ])
}

pub(super) fn lock_from_row(location: &str, row: [String; 6]) -> Result<LockInfo, CatalogError> {
    let [_key, scope, token, holder, acquired_at, expires_at] = row;
    let what = format!("lock on {scope}");
    Ok(LockInfo {
        scope: parse(location, &what, &scope)?,
        token,
        holder,
        acquired_at: parse_ts(location, &what, &acquired_at)?,
        expires_at: parse_ts(location, &what, &expires_at)?,
    })
}

pub(super) fn get_lock(
    conn: &Connection,
    location: &str,
    scope: &str,
) -> Result<Option<LockInfo>, CatalogError> {
    conn.query_row(
        &format!("SELECT {LOCK_COLUMNS} FROM locks WHERE scope_key = ?1"),
        [scope],
        read_lock,
    )
    .optional()
    .db(location)?
    .map(|row| lock_from_row(location, row))
    .transpose()
}

/// The JSON part of a job row.
#[derive(Serialize, Deserialize)]
struct JobExtra {
    #[serde(default)]
    kind: JobKind,
    target: Option<SnapshotId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    capture: Option<CaptureJob>,
    plan_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plan_hash: Option<ObjectHash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_hash: Option<ObjectHash>,
    pre_snapshot: Option<SnapshotId>,
    total_ops: u64,
    error: Option<String>,
}

pub(super) const JOB_COLUMNS: &str =
    "id, scope, status, fingerprint, created_at, updated_at, extra, scope_key";

pub(super) struct JobRow {
    pub(super) id: String,
    pub(super) scope: String,
    pub(super) status: String,
    /// The job's resume key (the column kept its first name, `fingerprint`).
    pub(super) fingerprint: String,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    pub(super) extra: String,
    pub(super) scope_key: String,
}

impl JobRow {
    pub(super) fn read(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(JobRow {
            id: r.get(0)?,
            scope: r.get(1)?,
            status: r.get(2)?,
            fingerprint: r.get(3)?,
            created_at: r.get(4)?,
            updated_at: r.get(5)?,
            extra: r.get(6)?,
            scope_key: r.get(7)?,
        })
    }

    pub(super) fn from_job(location: &str, j: &JobEntry) -> Result<Self, CatalogError> {
        let extra = JobExtra {
            kind: j.kind,
            target: j.target,
            capture: j.capture.clone(),
            plan_key: j.plan_key.clone(),
            plan_hash: j.plan_hash.clone(),
            request_hash: j.request_hash.clone(),
            pre_snapshot: j.pre_snapshot,
            total_ops: j.total_ops,
            error: j.error.clone(),
        };
        Ok(JobRow {
            id: j.id.to_string(),
            scope: j.scope.to_string(),
            status: j.status.as_str().to_string(),
            fingerprint: j.resume_key.clone(),
            created_at: ts(&j.created_at),
            updated_at: ts(&j.updated_at),
            extra: to_json(location, &extra)?,
            scope_key: j.scope.key(),
        })
    }

    pub(super) fn into_job(self, location: &str) -> Result<JobEntry, CatalogError> {
        let what = format!("job {}", self.id);
        let extra: JobExtra = from_json(location, &what, &self.extra)?;
        Ok(JobEntry {
            id: parse(location, &what, &self.id)?,
            scope: parse(location, &what, &self.scope)?,
            kind: extra.kind,
            target: extra.target,
            capture: extra.capture,
            resume_key: self.fingerprint,
            plan_key: extra.plan_key,
            plan_hash: extra.plan_hash,
            request_hash: extra.request_hash,
            status: parse(location, &what, &self.status)?,
            pre_snapshot: extra.pre_snapshot,
            total_ops: extra.total_ops,
            created_at: parse_ts(location, &what, &self.created_at)?,
            updated_at: parse_ts(location, &what, &self.updated_at)?,
            error: extra.error,
        })
    }
}

/// SQLite integers are signed 64-bit; an operation index beyond that cannot be stored.
pub(super) fn op_index(location: &str, op: u64) -> Result<i64, CatalogError> {
    i64::try_from(op).map_err(|_| CatalogError::Backend {
        catalog: location.to_string(),
        detail: format!("operation index {op} is too large to journal"),
    })
}
