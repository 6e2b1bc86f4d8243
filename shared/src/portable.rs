//! Portable archives: snapshots leaving their store as one file (`export`), coming back into
//! any store (`import`), or moving straight from one store to another (`copy`).
//!
//! # The file (format version 1)
//! ```text
//! backtrack-archive\n                                   magic line
//! {"format":1,"compression":"zstd","encryption":null,   header line (JSON; `encryption`
//!                                                       set for an encrypted file)
//!  "created_at":"…","created_by":"backtrack X.Y.Z"}\n
//! zstd( record* end )                                   one zstd frame, with zstd's checksum
//! sha256                                                32 bytes: SHA-256 of all bytes above
//!
//! record := tag:u8  length:u32 (big-endian)  payload[length]
//!   'B'  blob:     64 hex characters of the blob id, then the record's canonical JSON
//!   'S'  snapshot: {"entry": <catalog entry>, "manifest": <manifest with its entries> | null}
//!   'E'  end:      {"snapshots":N,"blobs":N,"content_bytes":N,"sha256":"…"}
//! ```
//! A snapshot's activity log (who changed what, [`crate::attribution`]) is a blob like the
//! records: the manifest's `activity` names it, it comes before the snapshot, and the
//! importing store records its own hash for it.
//!
//! The format version goes up only when an older reader would misread the file or accept
//! what it cannot check (a new record type, framing, compression, encryption). Additions an
//! older reader passes over safely keep it: activity logs are `B` records named by a
//! manifest field, so an older backtrack imports a file carrying them and only leaves the
//! logs out; files written before them import as they always did (unattributed diffs).
//!
//! The end record's SHA-256 covers the magic and header lines and every record before it,
//! uncompressed; the final 32 bytes cover the file as stored, so a changed bit anywhere is
//! found even where zstd would decode it to the same content. Every blob a snapshot names
//! comes before that snapshot's record, and each blob is in the file once. Blobs carry
//! canonical bytes, not the store's compressed objects: the file does not depend on how a
//! store compresses (dictionaries, delta entry tables), and every blob is checked against
//! its content address on the way in.
//!
//! What this protects against: damage (a flipped byte, a cut file, a file from a newer
//! backtrack) and careless edits — changed content no longer matches its blob id, and a
//! recomputed checksum does not help, because manifests name blobs by content address. It
//! does not authenticate a plain file: someone who rewrites a record, its id, the manifest
//! and the checksum together makes a valid archive.
//!
//! # Encrypted files
//! Exported from an encrypted store without `--decrypt`, the header's `encryption` names the
//! repository key (its id) and carries the store's key slots, and the zstd frame is sealed
//! in chunks under a key derived from the repository key (see [`crate::crypt::stream`]),
//! which also authenticates it. Such a file imports into a store with the same key, or into
//! an empty store, which it makes encrypted with that key and those slots; anything else is
//! refused before a write.
//!
//! # Import
//! Import reads the file twice. The first pass checks everything (the file's own integrity,
//! that each manifest matches its entry and names only blobs the file holds, and what the
//! destination already has) and writes nothing; any problem ends the import there. The
//! second pass, with `--execute`, writes in the store's order — a snapshot's blobs, then its
//! manifest, then its catalog row — writing only blobs a snapshot being imported needs, so
//! skipped snapshots leave no orphans. A snapshot already in the destination is a duplicate,
//! handled by [`OnDuplicate`].

mod export;
mod format;
mod import;

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{SnapshotEntry, SnapshotStatus};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::scope::Scope;
use crate::snapshot::{Archive, SnapshotRef};

pub use export::{export, ExportReport, ExportedSnapshot};
pub use format::{
    ArchiveFileError, ArchiveReader, ArchiveWriter, Frame, Header, Trailer, FORMAT_VERSION, MAGIC,
};
pub use import::{copy, import_file, Action, ImportOptions, TransferReport, Transferred};

/// What to do with a snapshot the destination already holds (same id), or whose name its
/// scope already uses for another snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDuplicate {
    /// Refuse the whole import, writing nothing.
    #[default]
    Error,
    /// Leave the destination's snapshot as it is.
    Skip,
    /// Replace the destination's snapshot with the archive's (an identical one is left as
    /// it is; a pinned one is refused: unpin it first).
    Overwrite,
}

impl FromStr for OnDuplicate {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "error" => Ok(OnDuplicate::Error),
            "skip" => Ok(OnDuplicate::Skip),
            "overwrite" => Ok(OnDuplicate::Overwrite),
            other => Err(Error::Invalid(format!(
                "--on-duplicate {}: use error, skip or overwrite",
                crate::sanitize::quote(other)
            ))),
        }
    }
}

impl fmt::Display for OnDuplicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnDuplicate::Error => "error",
            OnDuplicate::Skip => "skip",
            OnDuplicate::Overwrite => "overwrite",
        })
    }
}

/// Which snapshots an export or a copy takes: the snapshots `refs` name (ids, id prefixes,
/// names, `latest`, or a scope for all of its snapshots; none: every snapshot), narrowed by
/// the filters. Captures still running and snapshots being deleted are never taken.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub refs: Vec<String>,
    pub scopes: Vec<Scope>,
    /// Snapshots taken at or after this time...
    pub since: Option<DateTime<Utc>>,
    /// ...and before this one.
    pub until: Option<DateTime<Utc>>,
    /// A glob over snapshot names (`*` any run of characters, `?` one); unnamed snapshots
    /// never match.
    pub name: Option<String>,
    pub only_completed: bool,
}

impl Selection {
    /// The selected snapshots as they stand, oldest first.
    pub async fn select(&self, archive: &Archive) -> Result<Vec<SnapshotEntry>> {
        let mut picked = Vec::new();
        if self.refs.is_empty() {
            picked = archive.entries(None).await?;
        }
        for r in &self.refs {
            // A scope stands for all of its snapshots; anything else (a name may hold a `:`)
            // is a snapshot reference.
            match r.parse::<Scope>() {
                Ok(scope) => picked.extend(archive.entries(Some(&scope)).await?),
                Err(_) => {
                    let found = archive.find(None, &SnapshotRef::parse(r)?).await?;
                    picked.push(archive.standing(found.entry).await?);
                }
            }
        }
        let scopes: HashSet<String> = self.scopes.iter().map(Scope::key).collect();
        let mut seen = HashSet::new();
        picked.retain(|e| {
            matches!(e.status, SnapshotStatus::Completed | SnapshotStatus::Failed)
                && (!self.only_completed || e.status == SnapshotStatus::Completed)
                && (scopes.is_empty() || scopes.contains(&e.scope.key()))
                && self.since.is_none_or(|t| e.created_at >= t)
                && self.until.is_none_or(|t| e.created_at < t)
                && self
                    .name
                    .as_deref()
                    .is_none_or(|g| e.name.as_deref().is_some_and(|n| glob_match(g, n)))
                && seen.insert(e.id)
        });
        picked.sort_by_key(|e| (e.created_at, e.id));
        if picked.is_empty() {
            return Err(Error::Invalid(
                "no snapshot matches: check the references and filters (`backtrack snapshot list` shows what there is)".into(),
            ));
        }
        Ok(picked)
    }
}

/// Parses a `--since`/`--until` time: RFC 3339 (`2026-11-30T12:00:00Z`), a date
/// (`2026-11-30`, midnight UTC), or a duration before now (`7d`, `12h`).
pub fn parse_time(text: &str) -> std::result::Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if let Some(midnight) = day.and_hms_opt(0, 0, 0) {
            return Ok(midnight.and_utc());
        }
    }
    if t.starts_with(|c: char| c.is_ascii_digit()) && !t.contains('-') {
        let d = crate::units::parse_duration(t)?;
        let d = chrono::Duration::from_std(d).map_err(|e| e.to_string())?;
        return Ok(Utc::now() - d);
    }
    Err(format!(
        "time {} must be RFC 3339 (2026-11-30T12:00:00Z), a date (2026-11-30) or a duration before now (7d)",
        crate::sanitize::quote(text)
    ))
}

/// Shell-style glob: `*` matches any run of characters (including none), `?` one character.
fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matching with one backtrack point: linear in practice, no recursion.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A snapshot as the file carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SnapshotRecord {
    entry: SnapshotEntry,
    /// Completed snapshots only.
    manifest: Option<Manifest>,
}

/// A fingerprint of what a snapshot holds (its records' keys and blobs, and its name): two
/// snapshots with the same id and fingerprint are the same snapshot.
fn fingerprint(name: Option<&str>, manifest: Option<&Manifest>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(name.unwrap_or("").as_bytes());
    h.update([0]);
    for e in manifest.map(|m| m.entries.as_slice()).unwrap_or_default() {
        h.update(e.key().to_string().as_bytes());
        h.update([0]);
        h.update(e.blob.to_hex().as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests;
