//! Manifests: a snapshot's table of contents, written once after all its blobs.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::blob::{self, BlobError};
use crate::id::{BlobId, ObjectHash, SnapshotId};
use crate::record::{RecordKey, RecordKind};
use crate::scope::Scope;

/// The manifest format this build writes; readers refuse newer formats with a clear message.
/// 2: entry tables may be deltas on a base table, and record blobs may need a dictionary.
pub const MANIFEST_FORMAT: u32 = 2;

/// Longest chain of delta tables before a full table is written again: bounds the reads
/// needed to assemble a manifest.
pub const MAX_TABLE_CHAIN: usize = 32;

/// Why a snapshot was taken. Part of the CLI contract (`--trigger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    Manual,
    Schedule,
    Merge,
    Push,
    PreRollback,
    /// A tracker's webhook that is not a push or a merge (Jira: issues created, updated or
    /// deleted; see `events::jira`).
    Webhook,
}

impl Trigger {
    pub const ALL: [Trigger; 6] = [
        Trigger::Manual,
        Trigger::Schedule,
        Trigger::Merge,
        Trigger::Push,
        Trigger::PreRollback,
        Trigger::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
            Trigger::Merge => "merge",
            Trigger::Push => "push",
            Trigger::PreRollback => "pre-rollback",
            Trigger::Webhook => "webhook",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Trigger {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Trigger::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!("unknown trigger {s:?}; expected one of manual, schedule, merge, push, pre-rollback, webhook")
            })
    }
}

/// Where the tracker stood when the snapshot was taken, for the next incremental capture.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The newest `updated_at` seen among issues.
    pub issues_updated: Option<DateTime<Utc>>,
    /// The newest `updated_at` seen among comments.
    pub comments_updated: Option<DateTime<Utc>>,
    /// Validators of listings fetched whole (labels, milestones), by request path, so the
    /// next capture can revalidate them with `If-None-Match` (a 304 costs no rate limit).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub etags: std::collections::BTreeMap<String, String>,
    /// Incremental captures since the last full reconciliation of ids (a full capture or a
    /// sweep), so reconciliation can run every Nth snapshot.
    #[serde(default)]
    pub since_reconcile: u32,
    /// Where a capture cut short by its budget stopped, for a tracker whose walk is not in
    /// `updated` order (Jira reads issues in key order, so `issues_updated` alone cannot say
    /// what is left): the next capture continues the walk after it, then catches up with
    /// what changed since `issues_updated`. `None` once a capture completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
}

/// A key-ordered walk's position (see [`Cursor::checkpoint`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The search the walk stopped in: 0 the scope's own; 1 (a Jira epic) the subtasks of
    /// the epic's issues.
    pub search: u8,
    /// The last keys read whole, in walk order, the last one last: a few, so the walk can
    /// go on after an earlier one when the last was deleted meanwhile. Empty: the search
    /// had not started.
    pub after: Vec<String>,
    /// Set when the walk is an incremental capture's search of what changed (not a full
    /// walk): the `updated` bound its searches keep (the parent's cursor it started from),
    /// while the cursor's `issues_updated` says from when the run that completes it catches
    /// up with what changed behind it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes_since: Option<DateTime<Utc>>,
}

/// One record in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub kind: RecordKind,
    pub id: String,
    pub blob: BlobId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Uncompressed canonical size in bytes.
    pub size: u64,
    /// The blob's size as stored (compressed), known to be right when the snapshot
    /// completed: the next capture compares it with the store's listing, which catches a
    /// deleted or truncated blob without reading it. Absent in manifests written before
    /// stored sizes were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<u64>,
    /// For comments, the number of the issue they belong to: lets an incremental capture
    /// count each issue's comments (to spot deletions) without reading any blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<u64>,
    /// For records that embed copies of other records (GitHub: an issue embeds its labels
    /// and its milestone), the keys of those it carries, as `kind:id`: when a definition
    /// changes without the records carrying it being updated, an incremental capture finds
    /// them here without reading any blob. Empty when it carries none; absent for kinds that
    /// embed nothing, and in manifests written before it was recorded (then every record of
    /// the kind may carry a changed definition).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "key_list")]
    pub embeds: Option<Vec<RecordKey>>,
}

/// Record keys as a list of `kind:id` strings: about a third of the size of the structured
/// form, in a table that holds one list per issue.
mod key_list {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::record::RecordKey;

    pub fn serialize<S: Serializer>(
        keys: &Option<Vec<RecordKey>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        keys.as_ref()
            .map(|ks| ks.iter().map(ToString::to_string).collect::<Vec<_>>())
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<RecordKey>>, D::Error> {
        let Some(texts) = Option::<Vec<String>>::deserialize(d)? else {
            return Ok(None);
        };
        texts
            .iter()
            .map(|t| t.parse().map_err(serde::de::Error::custom))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

impl ManifestEntry {
    pub fn key(&self) -> RecordKey {
        RecordKey::new(self.kind, &self.id)
    }
}

/// A snapshot's table of contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub id: SnapshotId,
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub trigger: Trigger,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<SnapshotId>,
    #[serde(default)]
    pub cursor: Cursor,
    /// The zstd dictionary record blobs written for this snapshot were compressed with (see
    /// [`crate::blob::Dictionary`]); children inherit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dict: Option<u32>,
    /// The hash of that dictionary as stored: a dictionary's id is not derived from its
    /// stored bytes, so this (in a manifest itself checked against its catalog entry) is
    /// what proves the dictionary intact. Absent in manifests written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dict_hash: Option<ObjectHash>,
    /// Who changed what since the parent snapshot (see [`crate::attribution`]): the issue
    /// events, stored as a blob beside the entry table (for a first snapshot, none: only
    /// the newest event's id). Absent for trackers without an activity log, and in
    /// manifests written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<ActivityRef>,
    /// Sorted by kind, then numerically by id where ids are numbers.
    pub entries: Vec<ManifestEntry>,
    /// The stored entry tables this manifest was assembled from, newest first (a delta
    /// chain ends at a full table); empty for a manifest not read from a store.
    #[serde(skip)]
    pub tables: Vec<BlobId>,
    /// The hash of each of those tables as stored (same order), where the object naming it
    /// recorded one, so that a delta written on this manifest can record its base's.
    #[serde(skip)]
    pub table_hashes: Vec<Option<ObjectHash>>,
}

/// An entry table as stored: all entries, or the changes from a base table. Tables are
/// content-addressed blobs, so deleting the snapshot whose table is another's base breaks
/// nothing: the base stays referenced (and kept by GC) through the chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EntryTable {
    Full(Vec<ManifestEntry>),
    Delta(DeltaTable),
}

/// Told apart by the JSON's shape (a list is a full table, an object a delta) and decoded
/// straight into entries: serde's `untagged` would first copy the whole table into a
/// generic tree to try each variant on, several times the entries' own size for a large
/// table — the peak of every manifest read.
impl<'de> Deserialize<'de> for EntryTable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Shape;
        impl<'de> serde::de::Visitor<'de> for Shape {
            type Value = EntryTable;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of manifest entries or a delta table")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<EntryTable, A::Error> {
                Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(EntryTable::Full)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<EntryTable, A::Error> {
                DeltaTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(EntryTable::Delta)
            }
        }
        d.deserialize_any(Shape)
    }
}

/// Entries added or changed, and keys removed, relative to `base`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeltaTable {
    pub base: BlobId,
    /// The base table's hash as stored. A table's address is the hash of its content, and
    /// a few bits of a zstd frame (an unused header flag, a generous window size) can change
    /// without changing what it decodes to; this catches every changed bit. Absent in
    /// deltas written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_hash: Option<ObjectHash>,
    /// Tables in the chain below this one.
    pub depth: u32,
    pub upserts: Vec<ManifestEntry>,
    pub removed: Vec<RecordKey>,
}

/// Builds the delta table of a manifest whose entries come one at a time, in [`key_order`],
/// against its base's: the base's entries are walked beside them, so neither side is held
/// in a second copy (an incremental capture streams its merged entries through this, then
/// writes them whole only when the delta is not worth it). Keeps only what differs.
pub(crate) struct DeltaWalk<'a> {
    base: &'a Manifest,
    theirs: std::iter::Peekable<Box<dyn Iterator<Item = &'a ManifestEntry> + Send + 'a>>,
    /// Entries that differ from the base's (or that it lacks), with their place in the
    /// manifest's own order.
    changed: Vec<(usize, ManifestEntry)>,
    removed: Vec<RecordKey>,
    /// Entries pushed so far.
    seen: usize,
}

impl<'a> DeltaWalk<'a> {
    /// `None` when no delta may be written on `base` (it names no table, or its chain is
    /// as long as allowed).
    pub(crate) fn new(base: &'a Manifest) -> Option<Self> {
        if base.tables.is_empty() || base.tables.len() >= MAX_TABLE_CHAIN {
            return None;
        }
        Some(DeltaWalk {
            base,
            theirs: in_key_order(&base.entries).peekable(),
            changed: Vec::new(),
            removed: Vec::new(),
            seen: 0,
        })
    }

    /// Takes the next entry of the manifest, which is also next in its own order; returns
    /// whether the delta is still within `limit` changes.
    pub(crate) fn push(&mut self, e: &ManifestEntry, limit: Option<usize>) -> bool {
        self.push_at(self.seen, e, limit)
    }

    /// Takes the next entry in key order, `at` its place in the manifest's own order.
    fn push_at(&mut self, at: usize, e: &ManifestEntry, limit: Option<usize>) -> bool {
        self.seen += 1;
        // The base's keys before this one are gone from the manifest.
        while let Some(theirs) = self.theirs.next_if(|t| key_order(e, t).is_gt()) {
            self.removed.push(theirs.key());
        }
        match self.theirs.next_if(|t| key_order(e, t).is_eq()) {
            Some(theirs) if theirs == e => {}
            _ => self.changed.push((at, e.clone())),
        }
        limit.is_none_or(|limit| self.changed.len() + self.removed.len() <= limit)
    }

    /// The delta, for a manifest of `count` entries (all pushed), if at most a quarter of
    /// them changed.
    pub(crate) fn finish(mut self, count: usize) -> Option<DeltaTable> {
        self.removed.extend(self.theirs.map(ManifestEntry::key));
        if self.changed.len() + self.removed.len() > count / 4 {
            return None;
        }
        // Upserts in the manifest's own order, removals by key: the table's bytes depend on
        // nothing but the two snapshots.
        self.changed.sort_unstable_by_key(|(at, _)| *at);
        self.removed.sort();
        Some(DeltaTable {
            base: self.base.tables.first()?.clone(),
            base_hash: self.base.table_hashes.first().cloned().flatten(),
            depth: self.base.tables.len() as u32,
            upserts: self.changed.into_iter().map(|(_, e)| e).collect(),
            removed: self.removed,
        })
    }
}

/// [`Manifest::sort_entries`]' order made total: by kind, then numerically where both ids
/// are numbers, else by text; ids equal as numbers but written differently (`7`, `07`) by
/// their text. Entries in this order are in `sort_entries`' order, and two lists of
/// distinct keys in it can be merged side by side.
pub fn key_order(a: &ManifestEntry, b: &ManifestEntry) -> Ordering {
    a.kind
        .cmp(&b.kind)
        .then_with(|| match (a.id.parse::<u64>(), b.id.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y).then_with(|| a.id.cmp(&b.id)),
            _ => a.id.cmp(&b.id),
        })
}

/// References to `entries` in [`key_order`] (a manifest's are already, unless written by
/// an older build).
pub fn sorted_refs(entries: &[ManifestEntry]) -> Vec<&ManifestEntry> {
    let mut refs: Vec<&ManifestEntry> = entries.iter().collect();
    if !refs.is_sorted_by(|a, b| key_order(a, b).is_le()) {
        refs.sort_by(|a, b| key_order(a, b));
    }
    refs
}

/// `entries` in [`key_order`], without a list of references when they are in it already
/// (a manifest's are, unless written by an older build).
pub fn in_key_order(
    entries: &[ManifestEntry],
) -> Box<dyn Iterator<Item = &ManifestEntry> + Send + '_> {
    if entries.is_sorted_by(|a, b| key_order(a, b).is_le()) {
        Box::new(entries.iter())
    } else {
        Box::new(sorted_refs(entries).into_iter())
    }
}

/// Two manifests' entries walked side by side in [`key_order`]: each key once, with its
/// entry on either side (`None` where that side lacks it). Holds no map of the keys and no
/// copy of the entries: comparing two snapshots costs two lists of references.
pub fn side_by_side<'a>(
    from: &'a [ManifestEntry],
    to: &'a [ManifestEntry],
) -> impl Iterator<Item = (Option<&'a ManifestEntry>, Option<&'a ManifestEntry>)> + 'a {
    let mut a = sorted_refs(from).into_iter().peekable();
    let mut b = sorted_refs(to).into_iter().peekable();
    std::iter::from_fn(move || {
        let ord = match (a.peek(), b.peek()) {
            (None, None) => return None,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => key_order(x, y),
        };
        Some(match ord {
            Ordering::Less => (a.next(), None),
            Ordering::Greater => (None, b.next()),
            Ordering::Equal => (a.next(), b.next()),
        })
    })
}

impl Manifest {
    /// The object-store key of a snapshot's manifest.
    pub fn key_for(scope: &Scope, id: &SnapshotId) -> String {
        crate::keys::manifest(scope, id)
    }

    pub fn key(&self) -> String {
        Self::key_for(&self.scope, &self.id)
    }

    /// Puts entries in their canonical order so equal snapshots have equal manifests.
    pub fn sort_entries(&mut self) {
        self.entries.sort_by(|a, b| {
            a.kind
                .cmp(&b.kind)
                .then_with(|| match (a.id.parse::<u64>(), b.id.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => a.id.cmp(&b.id),
                })
        });
    }

    /// The entry table to store for this manifest: a content-addressed blob (so a snapshot
    /// identical to its parent stores no new table at all).
    ///
    /// With `base` (the parent, as read from the store), the table is a delta on the
    /// parent's when that is small (at most a quarter of the entries changed) and the chain
    /// is short enough; otherwise it is written whole.
    pub fn encode_table(&self, base: Option<&Manifest>) -> Result<blob::EncodedBlob, BlobError> {
        match base.and_then(|b| self.delta_on(b)) {
            Some(delta) => blob::encode("manifest entries", &EntryTable::Delta(delta)),
            None => blob::encode("manifest entries", &self.entries),
        }
    }

    /// The small header stored at the manifest's key, naming its entry table by content
    /// address and by the hash of the table as stored (`table_hash`). Compressed.
    pub fn encode_header(
        &self,
        table: &BlobId,
        table_hash: &ObjectHash,
    ) -> Result<Vec<u8>, BlobError> {
        self.encode_header_counted(table, table_hash, self.entries.len() as u64)
    }

    /// [`Manifest::encode_header`] for a table of `count` entries encoded apart from
    /// `self.entries` (see `Archive::write_manifest_streamed`).
    pub fn encode_header_counted(
        &self,
        table: &BlobId,
        table_hash: &ObjectHash,
        count: u64,
    ) -> Result<Vec<u8>, BlobError> {
        let header = StoredManifest {
            format: self.format,
            id: self.id,
            scope: self.scope.clone(),
            name: self.name.clone(),
            trigger: self.trigger,
            created_at: self.created_at,
            parent: self.parent,
            cursor: self.cursor.clone(),
            dict: self.dict,
            dict_hash: self.dict_hash.clone(),
            entries_blob: table.clone(),
            entries_hash: Some(table_hash.clone()),
            entries_count: count,
            activity: self.activity.clone(),
        };
        let bytes = blob::canonical_json(&header).map_err(|source| BlobError::Encode {
            what: "manifest",
            source,
        })?;
        Ok(blob::compress(&bytes))
    }

    /// The changes from `base`'s entries, if a delta table is worth writing.
    pub(crate) fn delta_on(&self, base: &Manifest) -> Option<DeltaTable> {
        let mut walk = DeltaWalk::new(base)?;
        // Both sides walked in key order, side by side: indexes and references rather than
        // maps of keys, which at 600,000 entries took ~100 MB.
        let limit = self.entries.len() / 4;
        if self.entries.is_sorted_by(|a, b| key_order(a, b).is_le()) {
            for e in &self.entries {
                if !walk.push(e, Some(limit)) {
                    return None;
                }
            }
        } else {
            let mut ours: Vec<usize> = (0..self.entries.len()).collect();
            ours.sort_by(|&a, &b| key_order(&self.entries[a], &self.entries[b]));
            for i in ours {
                if !walk.push_at(i, &self.entries[i], Some(limit)) {
                    return None;
                }
            }
        }
        walk.finish(self.entries.len())
    }

    /// Applies a chain of tables (newest first, ending with the full one) into entries.
    /// The result is unordered; callers sort it.
    pub fn apply_chain(
        key: &str,
        mut full: Vec<ManifestEntry>,
        deltas: Vec<DeltaTable>,
    ) -> Result<Vec<ManifestEntry>, BlobError> {
        if deltas.is_empty() {
            return Ok(full);
        }
        let mut fold = ChainFold::new(deltas);
        full.retain(|e| fold.keeps(e));
        full.extend(fold.finish(key)?);
        Ok(full)
    }
    /// Reads a stored header; the caller fetches the entry table it names and calls
    /// [`Manifest::assemble`].
    pub fn decode_header(key: &str, compressed: &[u8]) -> Result<StoredManifest, BlobError> {
        let bytes = blob::decompress(key, compressed)?;
        let probe: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| BlobError::Corrupt {
                key: key.to_string(),
                detail: format!("not JSON ({e})"),
            })?;
        let format = probe.get("format").and_then(|f| f.as_u64()).unwrap_or(0);
        if format > u64::from(MANIFEST_FORMAT) {
            return Err(BlobError::Corrupt {
                key: key.to_string(),
                detail: format!(
                    "manifest format {format} is newer than this build understands ({MANIFEST_FORMAT}); upgrade backtrack"
                ),
            });
        }
        serde_json::from_value(probe).map_err(|e| BlobError::Corrupt {
            key: key.to_string(),
            detail: format!("not a valid manifest ({e})"),
        })
    }

    /// Joins a header with its entry table, checking the table is the one it names.
    pub fn assemble(
        key: &str,
        header: StoredManifest,
        entries: Vec<ManifestEntry>,
    ) -> Result<Self, BlobError> {
        if entries.len() as u64 != header.entries_count {
            return Err(BlobError::Corrupt {
                key: key.to_string(),
                detail: format!(
                    "its entry table has {} entries, the header says {}",
                    entries.len(),
                    header.entries_count
                ),
            });
        }
        Ok(Manifest {
            format: header.format,
            id: header.id,
            scope: header.scope,
            name: header.name,
            trigger: header.trigger,
            created_at: header.created_at,
            parent: header.parent,
            cursor: header.cursor,
            dict: header.dict,
            dict_hash: header.dict_hash,
            activity: header.activity,
            entries,
            tables: Vec::new(),
            table_hashes: Vec::new(),
        })
    }

    /// Entries counted per kind.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for e in &self.entries {
            c.add(e.kind);
        }
        c
    }

    /// Sum of the uncompressed sizes of all records.
    pub fn logical_bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }
}

/// A chain of delta tables folded into what it changes, for the full table at its end to
/// be filtered through entry by entry: the entries are held once (or not at all, when they
/// are walked as they are parsed), never in a second map of every key.
pub(crate) struct ChainFold {
    /// What the chain leaves of each key it touches: the newest upsert, or `None` for
    /// removed.
    changed: HashMap<RecordKey, Option<ManifestEntry>>,
    /// Keys a delta removes that no older delta touched: the full table must hold them.
    in_full: HashSet<RecordKey>,
    /// A key removed twice: the chain is corrupt (reported by [`ChainFold::finish`]).
    broken: Option<RecordKey>,
}

impl ChainFold {
    /// `deltas` newest first, as a chain is read.
    pub(crate) fn new(deltas: Vec<DeltaTable>) -> Self {
        let mut fold = ChainFold {
            changed: HashMap::new(),
            in_full: HashSet::new(),
            broken: None,
        };
        // Deltas apply oldest first.
        for delta in deltas.into_iter().rev() {
            for k in delta.removed {
                match fold.changed.get(&k) {
                    Some(None) => {
                        fold.broken.get_or_insert_with(|| k.clone());
                    }
                    Some(Some(_)) => {}
                    None => {
                        fold.in_full.insert(k.clone());
                    }
                }
                fold.changed.insert(k, None);
            }
            fold.changed
                .extend(delta.upserts.into_iter().map(|e| (e.key(), Some(e))));
        }
        fold
    }

    /// Whether the full table's entry `e` stands as it is (the chain does not touch it).
    pub(crate) fn keeps(&mut self, e: &ManifestEntry) -> bool {
        if self.changed.is_empty() {
            return true;
        }
        let k = e.key();
        self.in_full.remove(&k);
        !self.changed.contains_key(&k)
    }

    /// Once every entry of the full table went through [`ChainFold::keeps`]: the entries
    /// the chain adds or changes, or why the chain does not fit its full table.
    pub(crate) fn finish(
        self,
        key: &str,
    ) -> Result<impl Iterator<Item = ManifestEntry>, BlobError> {
        let lacks = |k: &RecordKey| BlobError::Corrupt {
            key: key.to_string(),
            detail: format!("a delta table removes {k}, which its base lacks"),
        };
        if let Some(k) = self.broken.as_ref().or_else(|| self.in_full.iter().min()) {
            return Err(lacks(k));
        }
        Ok(self.changed.into_values().flatten())
    }
}

/// Reads one stored entry table: a delta comes back whole (it is small), a full table's
/// entries go through the chain's deltas to `take` as they are parsed, so a 600,000-entry
/// table is never held.
pub(crate) struct TableWalk<'f, F> {
    /// The deltas read so far, newest first: folded if this table is the full one.
    pub deltas: &'f mut Vec<DeltaTable>,
    pub take: &'f mut F,
}

/// What [`TableWalk`] read.
pub(crate) enum WalkedTable {
    /// A full table: how many of its entries the chain left as they are (given to `take`),
    /// and the chain folded (what it adds or changes: [`ChainFold::finish`]).
    Full {
        kept: u64,
        fold: ChainFold,
    },
    Delta(DeltaTable),
}

impl<'de, F: FnMut(ManifestEntry)> serde::de::DeserializeSeed<'de> for TableWalk<'_, F> {
    type Value = WalkedTable;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<WalkedTable, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, F: FnMut(ManifestEntry)> serde::de::Visitor<'de> for TableWalk<'_, F> {
    type Value = WalkedTable;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of manifest entries or a delta table")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<WalkedTable, A::Error> {
        let mut fold = ChainFold::new(std::mem::take(self.deltas));
        let mut kept = 0u64;
        while let Some(e) = seq.next_element::<ManifestEntry>()? {
            if fold.keeps(&e) {
                (self.take)(e);
                kept += 1;
            }
        }
        Ok(WalkedTable::Full { kept, fold })
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<WalkedTable, A::Error> {
        DeltaTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            .map(WalkedTable::Delta)
    }
}

/// A manifest as stored: everything but the entries, which live in the blob it names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredManifest {
    pub format: u32,
    pub id: SnapshotId,
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub trigger: Trigger,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<SnapshotId>,
    #[serde(default)]
    pub cursor: Cursor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dict: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dict_hash: Option<ObjectHash>,
    /// The blob holding the entry table ([`EntryTable`]).
    pub entries_blob: BlobId,
    /// That blob's hash as stored (see [`DeltaTable::base_hash`]); absent in manifests
    /// written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries_hash: Option<ObjectHash>,
    pub entries_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<ActivityRef>,
}

/// A snapshot's activity log as stored: a content-addressed blob and its hash as stored
/// (checked on every read), with the count of events for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityRef {
    pub blob: BlobId,
    pub hash: ObjectHash,
    pub events: u64,
    /// The newest event id the tracker had: where the next snapshot's window starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<u64>,
    /// Set when the tracker's listing failed while this snapshot was taken: the log holds no
    /// events, and `newest` is the window's start (the last good point), so the next
    /// snapshot lists this window again with its own. Absent when the listing answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<ActivityGap>,
}

/// Why a snapshot's activity window has no events, and where it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityGap {
    /// The tracker's answer (`HTTP 503 …`).
    pub reason: String,
    /// The window's start by time, when it had no event id to start from (a parent that
    /// kept no log); absent when `newest` holds it, or for a first snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_time: Option<DateTime<Utc>>,
}

impl Manifest {
    /// Where the activity after this snapshot starts (see [`crate::attribution`]).
    ///
    /// After a snapshot whose listing failed, that is where its own window started (the
    /// last good point): the next listing covers both windows, so nothing is lost.
    pub fn activity_from(&self) -> crate::attribution::ActivityFrom {
        activity_from(self.activity.as_ref(), self.created_at)
    }
}

impl StoredManifest {
    /// [`Manifest::activity_from`], from the header alone.
    pub fn activity_from(&self) -> crate::attribution::ActivityFrom {
        activity_from(self.activity.as_ref(), self.created_at)
    }
}

fn activity_from(
    activity: Option<&ActivityRef>,
    created_at: DateTime<Utc>,
) -> crate::attribution::ActivityFrom {
    use crate::attribution::ActivityFrom;
    match activity {
        Some(ActivityRef {
            newest: None,
            gap: Some(gap),
            ..
        }) => ActivityFrom::AfterTime(gap.after_time.unwrap_or(created_at)),
        activity => ActivityFrom::after(activity.map(|a| a.newest), created_at),
    }
}

/// Record counts per kind (the `counts` object of the CLI's JSON output). Issues and
/// comments count either tracker's; labels and milestones are GitHub's definitions,
/// components and versions Jira's (present in the JSON only when not zero, so GitHub
/// output is as it always was).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub issues: u64,
    pub comments: u64,
    pub labels: u64,
    pub milestones: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub components: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub versions: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Counts {
    /// Counts one record of `kind`.
    pub fn add(&mut self, kind: RecordKind) {
        match kind {
            RecordKind::Issue | RecordKind::JiraIssue => self.issues += 1,
            RecordKind::Comment | RecordKind::JiraComment => self.comments += 1,
            RecordKind::Label => self.labels += 1,
            RecordKind::Milestone => self.milestones += 1,
            RecordKind::Component => self.components += 1,
            RecordKind::Version => self.versions += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.issues
            + self.comments
            + self.labels
            + self.milestones
            + self.components
            + self.versions
    }

    /// `12 issues, 40 comments, 3 labels, 1 milestones` for a GitHub scope (the form the
    /// snapshot report has always printed); components and versions for a Jira one.
    pub fn describe(&self, tracker: crate::scope::TrackerKind) -> String {
        let (a, a_name, b, b_name) = match tracker {
            crate::scope::TrackerKind::GitHub => {
                (self.labels, "labels", self.milestones, "milestones")
            }
            crate::scope::TrackerKind::Jira => {
                (self.components, "components", self.versions, "versions")
            }
        };
        format!(
            "{} issues, {} comments, {a} {a_name}, {b} {b_name}",
            self.issues, self.comments
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(kind: RecordKind, id: &str, content: &str) -> ManifestEntry {
        ManifestEntry {
            kind,
            id: id.into(),
            blob: BlobId::of(content.as_bytes()),
            updated_at: None,
            size: content.len() as u64,
            stored: None,
            issue: None,
            embeds: None,
        }
    }

    fn with_entries(entries: Vec<ManifestEntry>, tables: Vec<BlobId>) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            id: SnapshotId::new(),
            scope: "github:acme/widgets".parse().unwrap(),
            name: None,
            trigger: Trigger::Manual,
            created_at: Utc::now(),
            parent: None,
            cursor: Default::default(),
            dict: None,
            dict_hash: None,
            activity: None,
            table_hashes: vec![None; tables.len()],
            tables,
            entries,
        }
    }

    /// The delta walks both tables side by side: edits and additions in the manifest's
    /// order, removals by key, and a whole table once more than a quarter changed. A base
    /// in another order (an older build's) gives the same delta.
    #[test]
    fn a_delta_table_holds_exactly_the_changes() {
        let base_entries: Vec<ManifestEntry> = (1..=100)
            .map(|n| numbered(RecordKind::Issue, &n.to_string(), &format!("v1 {n}")))
            .chain([numbered(RecordKind::Label, "bug", "bug")])
            .collect();
        let mut base = with_entries(base_entries, vec![BlobId::of(b"table")]);
        base.sort_entries();
        let mut ours: Vec<ManifestEntry> = base
            .entries
            .iter()
            .filter(|e| !["3", "50"].contains(&e.id.as_str()))
            .cloned()
            .collect();
        for e in &mut ours {
            if ["7", "10"].contains(&e.id.as_str()) {
                e.blob = BlobId::of(e.id.as_bytes());
            }
        }
        ours.push(numbered(RecordKind::Issue, "200", "new"));
        let mut m = with_entries(ours, Vec::new());
        m.sort_entries();
        let mut shuffled = base.clone();
        shuffled.entries.reverse();
        for base in [&base, &shuffled] {
            let delta = m.delta_on(base).expect("5 changes of 100");
            let upserts: Vec<&str> = delta.upserts.iter().map(|e| e.id.as_str()).collect();
            assert_eq!(upserts, ["7", "10", "200"]);
            assert_eq!(
                delta.removed,
                [
                    RecordKey::new(RecordKind::Issue, 3),
                    RecordKey::new(RecordKind::Issue, 50)
                ]
            );
            assert_eq!((delta.base, delta.depth), (BlobId::of(b"table"), 1));
        }
        // A quarter of the entries changed is still a delta; one more is not.
        let len = m.entries.len();
        for (edits, delta) in [(len / 4 - 5, true), (len / 4 - 4, false)] {
            let mut more = m.clone();
            for e in more
                .entries
                .iter_mut()
                .filter(|e| e.kind.is_issue())
                .skip(20)
                .take(edits)
            {
                e.blob = BlobId::of(b"edited");
            }
            assert_eq!(more.delta_on(&base).is_some(), delta, "{edits} more edits");
        }
    }

    #[test]
    fn a_snapshot_after_a_failed_listing_lists_from_the_last_good_point() {
        use crate::attribution::ActivityFrom;
        let created_at = Utc::now();
        let mut m = Manifest {
            format: MANIFEST_FORMAT,
            id: SnapshotId::new(),
            scope: "github:acme/widgets".parse().unwrap(),
            name: None,
            trigger: Trigger::Manual,
            created_at,
            parent: None,
            cursor: Cursor::default(),
            dict: None,
            dict_hash: None,
            activity: None,
            tables: Vec::new(),
            table_hashes: Vec::new(),
            entries: Vec::new(),
        };
        let gap = |after_time| ActivityGap {
            reason: "HTTP 410".into(),
            after_time,
        };
        let r = |newest, gap| ActivityRef {
            blob: BlobId::of(b"{}"),
            hash: ObjectHash::of(b"{}"),
            events: 0,
            newest,
            gap,
        };
        m.activity = Some(r(Some(41), Some(gap(None))));
        assert_eq!(m.activity_from(), ActivityFrom::AfterId(41));
        // Its window started by time (a parent without ids): from that time, not its own.
        let earlier = created_at - chrono::Duration::hours(1);
        m.activity = Some(r(None, Some(gap(Some(earlier)))));
        assert_eq!(m.activity_from(), ActivityFrom::AfterTime(earlier));
        // A first snapshot's failed read: from its own time.
        m.activity = Some(r(None, Some(gap(None))));
        assert_eq!(m.activity_from(), ActivityFrom::AfterTime(created_at));
        // Unchanged for logs that answered, and for manifests without one.
        m.activity = Some(r(None, None));
        assert_eq!(m.activity_from(), ActivityFrom::AfterId(0));
        m.activity = None;
        assert_eq!(m.activity_from(), ActivityFrom::AfterTime(created_at));
        // The gap round-trips, and is absent from manifests whose listing answered.
        let json = serde_json::to_string(&r(Some(3), Some(gap(None)))).unwrap();
        assert!(json.contains("\"gap\":{\"reason\":\"HTTP 410\"}"), "{json}");
        assert!(!serde_json::to_string(&r(Some(3), None))
            .unwrap()
            .contains("gap"));
    }

    #[test]
    fn manifest_round_trips_and_refuses_future_formats() {
        let mut m = Manifest {
            format: MANIFEST_FORMAT,
            id: SnapshotId::new(),
            scope: "github:acme/widgets".parse().unwrap(),
            name: Some("before-sync".into()),
            trigger: Trigger::PreRollback,
            created_at: Utc::now(),
            parent: None,
            cursor: Cursor::default(),
            dict: None,
            dict_hash: None,
            activity: None,
            tables: Vec::new(),
            table_hashes: Vec::new(),
            entries: vec![
                ManifestEntry {
                    kind: RecordKind::Issue,
                    id: "10".into(),
                    blob: BlobId::of(b"x"),
                    updated_at: None,
                    issue: None,
                    size: 5,
                    stored: None,
                    embeds: Some(vec![
                        RecordKey::new(RecordKind::Label, 1),
                        RecordKey::new(RecordKind::Milestone, 2),
                    ]),
                },
                ManifestEntry {
                    kind: RecordKind::Issue,
                    id: "9".into(),
                    blob: BlobId::of(b"y"),
                    updated_at: None,
                    issue: None,
                    size: 7,
                    stored: None,
                    embeds: None,
                },
                ManifestEntry {
                    kind: RecordKind::Label,
                    id: "1".into(),
                    blob: BlobId::of(b"z"),
                    updated_at: None,
                    issue: None,
                    size: 1,
                    stored: None,
                    embeds: None,
                },
            ],
        };
        m.sort_entries();
        let ids: Vec<_> = m.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["1", "9", "10"]);
        assert_eq!(m.counts().issues, 2);
        assert_eq!(m.logical_bytes(), 13);
        let table = m.encode_table(None).unwrap();
        let header = m
            .encode_header(&table.id, &ObjectHash::of(&table.compressed))
            .unwrap();
        let stored = Manifest::decode_header("k", &header).unwrap();
        assert_eq!(stored.entries_blob, table.id);
        let entries: Vec<ManifestEntry> = blob::decode(&table.id, &table.compressed).unwrap();
        let back = Manifest::assemble("k", stored.clone(), entries.clone()).unwrap();
        assert_eq!(back, m);
        // Embedded keys are stored compactly, and only where recorded.
        let json = serde_json::to_string(&m.entries).unwrap();
        assert!(
            json.contains(r#""embeds":["label:1","milestone:2"]"#),
            "{json}"
        );
        assert_eq!(json.matches("embeds").count(), 1, "{json}");
        assert!(Manifest::assemble("k", stored, entries[1..].to_vec()).is_err());
        assert!(serde_json::to_string(&back.trigger)
            .unwrap()
            .contains("pre-rollback"));

        let mut v = serde_json::to_value(&m).unwrap();
        v["format"] = 99.into();
        let bytes = blob::compress(&serde_json::to_vec(&v).unwrap());
        let err = Manifest::decode_header("k", &bytes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("upgrade backtrack"), "{err}");
    }
}
