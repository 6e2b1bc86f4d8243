//! Verification: read back every object a set of snapshots references and check each against
//! the hash held apart from it, then say which snapshots can still be restored.
//!
//! Objects are shared — a blob by every snapshot holding that record version, an entry table
//! by the deltas built on it, a dictionary by every blob compressed with it — so each is read
//! once, and a damaged one is charged to *every* snapshot that needs it: directly (its
//! manifest, its record blobs), through its chain of entry tables, or through the dictionary
//! its blobs were compressed with. A snapshot is restorable when nothing it needs is damaged.
//!
//! What is checked against what: a manifest against the hash its catalog entry records (and
//! its header against the entry's id, creation time, trigger and parent), entry tables and
//! record blobs against their content addresses, a scope's dictionary against the hash its
//! checked manifest records. Entries written before manifests were hashed are read and
//! checked as far as possible and reported as unverified; [`VerifyOptions::record_hashes`]
//! records their hash once everything they reference checks out.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::archive::READS_IN_FLIGHT;
use super::Archive;
use crate::blob;
use crate::catalog::{SnapshotEntry, SnapshotStatus};
use crate::error::{Error, Result};
use crate::id::{BlobId, ObjectHash, SnapshotId};
use crate::keys;
use crate::manifest::{EntryTable, Manifest, MAX_TABLE_CHAIN};
use crate::store::StoreError;
use crate::units::human_bytes;

/// Inputs of [`Archive::verify_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    /// Record the manifest hash of every entry written before manifests were hashed whose
    /// snapshot checks out whole (`verify --record-hashes`).
    pub record_hashes: bool,
}

/// The kinds of stored object a snapshot depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectKind {
    Manifest,
    EntryTable,
    Dictionary,
    Record,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Manifest => "manifest",
            ObjectKind::EntryTable => "entry table",
            ObjectKind::Dictionary => "dictionary",
            ObjectKind::Record => "record blob",
        })
    }
}

/// One missing or damaged object and every snapshot that needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DamagedObject {
    pub key: String,
    pub kind: ObjectKind,
    pub problem: String,
    /// Record blobs that cannot be read because they were compressed with this (damaged)
    /// dictionary; 0 for other kinds.
    #[serde(skip_serializing_if = "is_zero")]
    pub records: u64,
    /// Every snapshot checked that needs this object, oldest first.
    pub snapshots: Vec<SnapshotId>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The result of [`Archive::verify`]: the `--json` output of `backtrack verify`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VerifyReport {
    /// Completed snapshots checked.
    pub snapshots: u64,
    /// Distinct record blobs read and re-hashed.
    pub blobs: u64,
    /// Distinct entry tables read and re-hashed.
    pub tables: u64,
    /// Distinct dictionaries read (and checked where a manifest records their hash).
    pub dictionaries: u64,
    /// Bytes read, as stored.
    pub bytes: u64,
    /// Every missing or damaged object, with the snapshots that need it.
    pub damaged: Vec<DamagedObject>,
    /// Snapshots whose every object checked out, newest first.
    pub restorable: Vec<SnapshotId>,
    /// Snapshots that need a damaged object, newest first: they cannot be restored whole.
    pub unrestorable: Vec<SnapshotId>,
    /// Snapshots whose catalog entry records no manifest hash (written before manifests
    /// were hashed): their manifests were read and cross-checked, not verified.
    pub unverified: Vec<SnapshotId>,
    /// Of those, the ones whose hash this run recorded (`--record-hashes`).
    pub recorded: Vec<SnapshotId>,
    /// One line per damaged object naming the snapshots that need it.
    pub problems: Vec<String>,
    /// Entries that were not checked because they are not completed snapshots, and why.
    pub skipped: Vec<super::lifecycle::Skipped>,
    /// Manifests in the store that no catalog entry names (`verify --all`): snapshots no
    /// command can use until `repair --reindex` lists them again.
    pub unindexed: Vec<String>,
    /// How each snapshot reads in the text report (scope, name, age).
    #[serde(skip)]
    labels: BTreeMap<SnapshotId, String>,
}

impl VerifyReport {
    /// No damage found (unverified snapshots alone are not damage).
    pub fn is_ok(&self) -> bool {
        self.damaged.is_empty() && self.unindexed.is_empty()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Checked {} snapshot(s): {} record blobs, {} entry table(s), {} dictionar{}; {} read.",
            self.snapshots,
            self.blobs,
            self.tables,
            self.dictionaries,
            if self.dictionaries == 1 { "y" } else { "ies" },
            human_bytes(self.bytes)
        )?;
        for s in &self.skipped {
            writeln!(f, "  – skipped {} ({}): {}", s.id, s.status, s.reason)?;
        }
        let label = |id: &SnapshotId| {
            self.labels
                .get(id)
                .cloned()
                .unwrap_or_else(|| id.to_string())
        };
        if self.damaged.is_empty() {
            write!(f, "Every manifest, entry table, dictionary and record blob is present and matches its hash.")?;
        } else {
            writeln!(f, "{} damaged object(s):", self.damaged.len())?;
            for d in &self.damaged {
                writeln!(f, "  ✗ {} ({}): {}", d.key, d.kind, d.problem)?;
                if d.records > 0 {
                    writeln!(
                        f,
                        "      {} record blob(s) compressed with it cannot be read",
                        d.records
                    )?;
                }
                writeln!(f, "      needed by {}", short_list(&d.snapshots))?;
            }
            writeln!(f, "Cannot be restored whole ({}):", self.unrestorable.len())?;
            for line in listing(&self.unrestorable, "✗", &label) {
                writeln!(f, "{line}")?;
            }
            if self.restorable.is_empty() {
                write!(f, "No snapshot checked can be restored whole.")?;
            } else {
                writeln!(f, "Still restorable ({}):", self.restorable.len())?;
                write!(f, "{}", listing(&self.restorable, "✓", &label).join("\n"))?;
            }
        }
        for u in &self.unindexed {
            write!(f, "\n  ✗ {u}")?;
        }
        let pending: Vec<&SnapshotId> = self
            .unverified
            .iter()
            .filter(|id| !self.recorded.contains(id))
            .collect();
        if !self.recorded.is_empty() {
            write!(
                f,
                "\nRecorded the manifest hash of {} snapshot(s) written before manifests were hashed; every later read checks it.",
                self.recorded.len()
            )?;
        }
        if !pending.is_empty() {
            write!(
                f,
                "\n⚠ {} snapshot(s) were written before manifests were hashed: their manifests were read and cross-checked against the catalog but cannot be verified ({}). Once nothing else is reported, `backtrack verify --all --record-hashes` records their hashes.",
                pending.len(),
                pending
                    .iter()
                    .take(3)
                    .map(|id| id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
                    + if pending.len() > 3 { ", …" } else { "" }
            )?;
        }
        Ok(())
    }
}

/// What became of one object read, by kind.
#[derive(Debug, Clone)]
enum Outcome {
    Ok,
    /// Index into the damaged list.
    Damaged(usize),
}

/// The state of one verification: outcomes of objects read so far and what is damaged.
#[derive(Default)]
struct Verification {
    report: VerifyReport,
    blobs: HashMap<BlobId, Outcome>,
    /// Decoded entry tables are not kept (a full one can be megabytes); their outcome is,
    /// by table and the stored hash it was checked against.
    tables: HashMap<(BlobId, Option<ObjectHash>), Outcome>,
    tables_seen: std::collections::HashSet<BlobId>,
    dicts: HashMap<u32, Outcome>,
    damaged: Vec<(DamagedObject, BTreeSet<SnapshotId>)>,
    by_key: HashMap<String, usize>,
}

impl Verification {
    /// The damaged-object slot for `key`, created on first sight.
    fn damage(&mut self, key: &str, kind: ObjectKind, problem: String) -> usize {
        if let Some(&i) = self.by_key.get(key) {
            return i;
        }
        self.damaged.push((
            DamagedObject {
                key: key.to_string(),
                kind,
                problem,
                records: 0,
                snapshots: Vec::new(),
            },
            BTreeSet::new(),
        ));
        let i = self.damaged.len() - 1;
        self.by_key.insert(key.to_string(), i);
        i
    }

    fn charge(&mut self, slot: usize, snapshot: SnapshotId) {
        if let Some((_, who)) = self.damaged.get_mut(slot) {
            who.insert(snapshot);
        }
    }
}

/// What reading one record blob found.
enum BlobRead {
    /// Its stored size, and the dictionary it needed.
    Ok(u64, Option<u32>),
    Damaged(String),
    /// Intact object, but the dictionary its frame names cannot be used.
    Dict {
        id: u32,
        problem: String,
    },
}

impl Archive {
    /// [`Archive::verify_with`] with default options (reads only).
    pub async fn verify(&self, entries: &[SnapshotEntry]) -> Result<VerifyReport> {
        self.verify_with(entries, VerifyOptions::default()).await
    }

    /// Reads back every object the completed snapshots among `entries` reference and
    /// checks it; see the module docs. Damage is reported, not returned as an error; an
    /// error means the check itself could not run (the store or catalog is unreachable).
    pub async fn verify_with(
        &self,
        entries: &[SnapshotEntry],
        opts: VerifyOptions,
    ) -> Result<VerifyReport> {
        let mut v = Verification::default();
        v.report.skipped = super::lifecycle::skipped(entries);
        let mut verdicts: Vec<(SnapshotId, bool)> = Vec::new();
        let mut adoptable: Vec<(SnapshotId, ObjectHash)> = Vec::new();
        for entry in entries
            .iter()
            .filter(|e| e.status == SnapshotStatus::Completed)
        {
            v.report.snapshots += 1;
            v.report.labels.insert(entry.id, label(entry));
            if entry.manifest_hash.is_none() {
                v.report.unverified.push(entry.id);
            }
            let before: usize = v
                .damaged
                .iter()
                .filter(|(_, s)| s.contains(&entry.id))
                .count();
            let legacy_hash = self.verify_one(&mut v, entry).await?;
            let after: usize = v
                .damaged
                .iter()
                .filter(|(_, s)| s.contains(&entry.id))
                .count();
            let whole = before == after;
            verdicts.push((entry.id, whole));
            if let (true, Some(hash)) = (whole, legacy_hash) {
                adoptable.push((entry.id, hash));
            }
        }
        let Verification {
            mut report,
            damaged,
            ..
        } = v;
        for (mut object, who) in damaged {
            object.snapshots = who.into_iter().collect();
            let ids: Vec<String> = object.snapshots.iter().map(ToString::to_string).collect();
            report.problems.push(format!(
                "{} ({}): {}{} — needed by {}",
                object.key,
                object.kind,
                object.problem,
                if object.records > 0 {
                    format!(
                        "; {} record blob(s) compressed with it cannot be read",
                        object.records
                    )
                } else {
                    String::new()
                },
                ids.join(", ")
            ));
            report.damaged.push(object);
        }
        for (id, whole) in verdicts {
            if whole {
                report.restorable.push(id);
            } else {
                report.unrestorable.push(id);
            }
        }
        if opts.record_hashes {
            for (id, hash) in adoptable {
                self.catalog.record_manifest_hash(&id, &hash).await?;
                report.recorded.push(id);
            }
        }
        Ok(report)
    }

    /// Checks one snapshot, charging it with every damaged object it needs. Returns the
    /// hash of its manifest as read when its entry records none and the manifest passed
    /// every check that can be made without one (a candidate for `--record-hashes`).
    async fn verify_one(
        &self,
        v: &mut Verification,
        entry: &SnapshotEntry,
    ) -> Result<Option<ObjectHash>> {
        let key = entry.manifest_key.clone();
        let damaged_manifest = |v: &mut Verification, problem: String| {
            let slot = v.damage(&key, ObjectKind::Manifest, problem);
            v.charge(slot, entry.id);
        };

        // The header, against the catalog's hash, then against the entry itself.
        let stored = match self.store.get(&key).await {
            Ok(b) => b,
            Err(StoreError::NotFound { .. }) => {
                damaged_manifest(v, "missing from the store".into());
                return Ok(None);
            }
            Err(StoreError::Corrupt { detail, .. }) => {
                damaged_manifest(v, detail);
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        v.report.bytes += stored.len() as u64;
        let actual = ObjectHash::of(&stored);
        if let Some(expected) = &entry.manifest_hash {
            if &actual != expected {
                damaged_manifest(
                    v,
                    format!(
                        "its {} stored bytes hash to {actual}, the catalog records {expected}",
                        stored.len()
                    ),
                );
                return Ok(None);
            }
        }
        let header = match Manifest::decode_header(&key, &stored) {
            Ok(h) => h,
            Err(e) => {
                damaged_manifest(v, problem_of(&Error::from(e)));
                return Ok(None);
            }
        };
        if let Some(mismatch) = header_mismatch(
            header.id,
            header.created_at,
            header.trigger,
            header.parent,
            entry,
        ) {
            damaged_manifest(v, mismatch);
            return Ok(None);
        }
        if let (Some(_), Some(id), Some(hash)) =
            (&entry.manifest_hash, header.dict, &header.dict_hash)
        {
            self.expect_dictionary(id, hash);
        }

        // The entry-table chain: each table by the stored hash its referrer records (where
        // it records one) and by content address; each (table, expected hash) once per run.
        let mut chain = vec![(header.entries_blob.clone(), header.entries_hash.clone())];
        let mut entries = None;
        let mut deltas = Vec::new();
        while let Some((table, expected)) = chain.last().cloned() {
            let cache_key = (table.clone(), expected.clone());
            let cached = v.tables.get(&cache_key).cloned();
            let decoded = match cached {
                Some(Outcome::Damaged(slot)) => {
                    v.charge(slot, entry.id);
                    return Ok(None);
                }
                // Read again: decoded tables are not kept.
                Some(Outcome::Ok) | None => match self.store.get(&table.key()).await {
                    Ok(bytes) => {
                        if v.tables_seen.insert(table.clone()) {
                            v.report.tables += 1;
                            v.report.bytes += bytes.len() as u64;
                        }
                        let actual = ObjectHash::of(&bytes);
                        match &expected {
                            Some(want) if *want != actual => Err(format!(
                                "its {} stored bytes hash to {actual}, the object naming it records {want}",
                                bytes.len()
                            )),
                            _ => blob::decode::<EntryTable>(&table, &bytes)
                                .map_err(|e| problem_of(&e.into())),
                        }
                    }
                    Err(StoreError::NotFound { .. }) => Err("missing from the store".to_string()),
                    Err(StoreError::Corrupt { detail, .. }) => Err(detail),
                    Err(e) => return Err(e.into()),
                },
            };
            match decoded {
                Ok(EntryTable::Full(full)) => {
                    v.tables.insert(cache_key, Outcome::Ok);
                    entries = Some(full);
                    break;
                }
                Ok(EntryTable::Delta(delta)) => {
                    v.tables.insert(cache_key, Outcome::Ok);
                    if chain.len() > MAX_TABLE_CHAIN {
                        damaged_manifest(
                            v,
                            format!("its entry tables chain past {MAX_TABLE_CHAIN}"),
                        );
                        return Ok(None);
                    }
                    chain.push((delta.base.clone(), delta.base_hash.clone()));
                    deltas.push(delta);
                }
                Err(problem) => {
                    let slot = v.damage(&table.key(), ObjectKind::EntryTable, problem);
                    v.tables.insert(cache_key, Outcome::Damaged(slot));
                    v.charge(slot, entry.id);
                    return Ok(None);
                }
            }
        }
        let Some(full) = entries else {
            return Err(Error::Internal("empty table chain".into()));
        };
        let manifest = match Manifest::apply_chain(&key, full, deltas)
            .and_then(|entries| Manifest::assemble(&key, header, entries))
        {
            Ok(m) => m,
            Err(e) => {
                damaged_manifest(v, problem_of(&e.into()));
                return Ok(None);
            }
        };
        if manifest.entries.len() as u64 != entry.counts.total() {
            damaged_manifest(
                v,
                format!(
                    "it holds {} records, its catalog entry counts {}",
                    manifest.entries.len(),
                    entry.counts.total()
                ),
            );
            return Ok(None);
        }

        // Record blobs: each read once per run, charged to every snapshot needing it.
        let todo: Vec<BlobId> = manifest
            .entries
            .iter()
            .map(|e| e.blob.clone())
            .filter(|b| !v.blobs.contains_key(b))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let reads: Vec<(BlobId, Result<BlobRead>)> = stream::iter(todo)
            .map(|id| {
                let archive = self.clone();
                async move {
                    let read = archive.read_for_verify(&id).await;
                    (id, read)
                }
            })
            .buffer_unordered(READS_IN_FLIGHT)
            .collect()
            .await;
        for (id, read) in reads {
            v.report.blobs += 1;
            let outcome = match read? {
                BlobRead::Ok(n, dict) => {
                    v.report.bytes += n;
                    if let Some(d) = dict {
                        if !v.dicts.contains_key(&d) {
                            v.report.dictionaries += 1;
                            v.dicts.insert(d, Outcome::Ok);
                        }
                    }
                    Outcome::Ok
                }
                BlobRead::Damaged(problem) => {
                    Outcome::Damaged(v.damage(&keys::blob(&id), ObjectKind::Record, problem))
                }
                BlobRead::Dict { id: dict, problem } => {
                    if !v.dicts.contains_key(&dict) {
                        v.report.dictionaries += 1;
                    }
                    let slot = v.damage(&keys::dict(dict), ObjectKind::Dictionary, problem);
                    v.dicts.insert(dict, Outcome::Damaged(slot));
                    if let Some((object, _)) = v.damaged.get_mut(slot) {
                        object.records += 1;
                    }
                    Outcome::Damaged(slot)
                }
            };
            v.blobs.insert(id, outcome);
        }
        let mut slots = BTreeSet::new();
        for e in &manifest.entries {
            if let Some(Outcome::Damaged(slot)) = v.blobs.get(&e.blob) {
                slots.insert(*slot);
            }
        }
        for slot in slots {
            v.charge(slot, entry.id);
        }

        Ok(match entry.manifest_hash {
            None if cursor_is_plausible(&manifest) => Some(actual),
            _ => None,
        })
    }

    /// Reads one record blob for `verify`, telling a damaged blob from an intact one that
    /// needs a damaged dictionary. Errors only when the read itself failed.
    async fn read_for_verify(&self, id: &BlobId) -> Result<BlobRead> {
        let bytes = match self.store.get(&id.key()).await {
            Ok(b) => b,
            Err(StoreError::NotFound { .. }) => {
                return Ok(BlobRead::Damaged("missing from the store".into()))
            }
            Err(StoreError::Corrupt { detail, .. }) => return Ok(BlobRead::Damaged(detail)),
            Err(e) => return Err(e.into()),
        };
        let dict = match blob::frame_dictionary(&bytes) {
            Some(d) => match self.dictionary(d).await {
                Ok(dict) => Some(dict),
                Err(e) if e.is_damage() => {
                    return Ok(BlobRead::Dict {
                        id: d,
                        problem: problem_of(&e),
                    })
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        Ok(
            match blob::decode_with::<serde_json::Value>(id, &bytes, dict.as_deref()) {
                Ok(_) => BlobRead::Ok(bytes.len() as u64, dict.map(|d| d.id)),
                Err(e) => BlobRead::Damaged(problem_of(&e.into())),
            },
        )
    }
}

/// Lines naming snapshots, at most [`LISTED`] of them (`--json` has them all).
fn listing(ids: &[SnapshotId], mark: &str, label: &dyn Fn(&SnapshotId) -> String) -> Vec<String> {
    let mut out: Vec<String> = ids
        .iter()
        .take(LISTED)
        .map(|id| format!("  {mark} {}", label(id)))
        .collect();
    if ids.len() > LISTED {
        out.push(format!(
            "  … and {} more (`--json` lists them all)",
            ids.len() - LISTED
        ));
    }
    out
}

/// Snapshots listed by name in the text report, per list.
const LISTED: usize = 20;

/// Snapshot ids for a line of text: a few, then how many more (`--json` has them all).
fn short_list(ids: &[SnapshotId]) -> String {
    const SHOWN: usize = 4;
    let mut out: Vec<String> = ids.iter().take(SHOWN).map(ToString::to_string).collect();
    if ids.len() > SHOWN {
        out.push(format!("and {} more", ids.len() - SHOWN));
    }
    out.join(", ")
}

/// How a snapshot reads in the text report.
fn label(entry: &SnapshotEntry) -> String {
    format!(
        "{} {}{} ({})",
        entry.id,
        entry.scope,
        entry
            .name
            .as_ref()
            .map(|n| format!(" {n:?}"))
            .unwrap_or_default(),
        entry.created_at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// A damage error's detail without the remedy every corrupt-object message carries (the
/// report gives the remedy once).
fn problem_of(e: &Error) -> String {
    match e {
        Error::Blob(blob::BlobError::Corrupt { detail, .. }) => detail.clone(),
        Error::Store(StoreError::NotFound { .. }) => "missing from the store".into(),
        Error::Store(StoreError::Corrupt { detail, .. }) => detail.clone(),
        other => other.to_string(),
    }
}

/// Where a manifest header disagrees with the catalog entry that names it. The entry and
/// the header are written from the same values, so any difference is damage (or a header
/// put in another snapshot's place): this catches what a manifest without a recorded hash
/// cannot be checked for otherwise.
pub(super) fn header_mismatch(
    id: SnapshotId,
    created_at: chrono::DateTime<chrono::Utc>,
    trigger: crate::manifest::Trigger,
    parent: Option<SnapshotId>,
    entry: &SnapshotEntry,
) -> Option<String> {
    let differs = |what: &str, header: String, entry: String| {
        Some(format!(
            "its header names {what} {header}, its catalog entry {entry}"
        ))
    };
    if id != entry.id {
        return differs("snapshot", id.to_string(), entry.id.to_string());
    }
    if created_at != entry.created_at {
        return differs(
            "creation time",
            created_at.to_rfc3339(),
            entry.created_at.to_rfc3339(),
        );
    }
    if trigger != entry.trigger {
        return differs("trigger", trigger.to_string(), entry.trigger.to_string());
    }
    if parent != entry.parent {
        let show = |p: Option<SnapshotId>| p.map_or("none".to_string(), |p| p.to_string());
        return differs("parent", show(parent), show(entry.parent));
    }
    None
}

/// Whether a manifest's cursor could be the one its capture wrote: a capture's cursor is
/// the newest `updated_at` it saw, so it is never later than every record it kept. A bit
/// flip that moves the cursor forward (which would make the next incremental capture skip
/// edits) breaks this; one that moves it back only costs a wider listing.
fn cursor_is_plausible(manifest: &Manifest) -> bool {
    use crate::record::RecordKind;
    let newest = |of: fn(RecordKind) -> bool| {
        manifest
            .entries
            .iter()
            .filter(|e| of(e.kind))
            .filter_map(|e| e.updated_at)
            .max()
    };
    let fits = |cursor: Option<chrono::DateTime<chrono::Utc>>, of| match cursor {
        None => true,
        Some(c) => newest(of).is_some_and(|n| c <= n),
    };
    fits(manifest.cursor.issues_updated, RecordKind::is_issue)
        && fits(manifest.cursor.comments_updated, RecordKind::is_comment)
}
