//! The manifest entries a capture takes in, held compactly until the manifest is written.
//!
//! A capture keeps one entry per record it reads until the end (the manifest lists them in
//! key order, and records arrive in the order the tracker lists them), so this is what
//! grows with the repository: at 600,000 records every byte of an entry is 0.6 MB. An entry
//! is therefore a fixed 88-byte [`Packed`] (its blob id is a third of that) in one `Vec`: the
//! rare text id and the embedded keys live in side tables, absent values are flags. The
//! entries are sorted in place (no scratch half the size of the table, as a stable sort
//! takes) and handed out in manifest order by [`Sorted`], which gives the memory back as it
//! goes, so the entry table being encoded grows while the entries shrink.

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::id::BlobId;
use crate::manifest::ManifestEntry;
use crate::record::{RecordKey, RecordKind};

/// What a capture knows of a record when it takes it in.
#[derive(Debug, Clone)]
pub(super) struct Taken {
    pub blob: BlobId,
    pub updated_at: Option<DateTime<Utc>>,
    pub size: u64,
    pub issue: Option<u64>,
    pub embeds: Option<Vec<RecordKey>>,
}

/// [`Packed::flags`]: the id is an index into [`Entries::texts`]...
const TEXT_ID: u8 = 1;
/// ...and these fields hold a value (else they are absent).
const UPDATED: u8 = 1 << 1;
const STORED: u8 = 1 << 2;
const ISSUE: u8 = 1 << 3;
const EMBEDS: u8 = 1 << 4;

/// One entry as a capture holds it (88 bytes; a [`ManifestEntry`] with its key is about 150
/// plus its strings).
#[derive(Debug, Clone)]
pub(super) struct Packed {
    blob: BlobId,
    /// The id's number, or (with [`TEXT_ID`]) its index in [`Entries::texts`].
    id: u64,
    size: u64,
    stored: u64,
    issue: u64,
    /// `updated_at` as seconds and nanoseconds since the epoch.
    secs: i64,
    nanos: u32,
    /// Where its embedded keys start in [`Entries::embedded`]: a count, then that many
    /// indexes into [`Entries::keys`].
    embeds_at: u32,
    /// Arrival order, which settles a record delivered twice with the same time (the first
    /// to come is kept). Past 4,294,967,295 records it saturates, and such a tie between two
    /// versions with the same `updated_at` would be settled by blob id.
    seq: u32,
    kind: RecordKind,
    flags: u8,
}

impl Packed {
    pub fn blob(&self) -> &BlobId {
        &self.blob
    }

    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        if self.flags & UPDATED == 0 {
            return None;
        }
        DateTime::from_timestamp(self.secs, self.nanos)
    }

    fn stored(&self) -> Option<u64> {
        (self.flags & STORED != 0).then_some(self.stored)
    }
}

/// An id written plainly as a number (every GitHub and Jira id): digits only, no leading
/// zero, so the text comes back the same.
fn plain_number(id: &str) -> Option<u64> {
    let plain = !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && (id == "0" || !id.starts_with('0'));
    plain.then(|| id.parse().ok()).flatten()
}

/// The entries a capture took in, in the order they came.
///
/// An incremental capture looks records up as they come (a record delivered twice keeps its
/// newest version; the refresh of embedded definitions asks what was listed), so it keeps an
/// index by key and one entry per key. A full capture needs no lookup: it keeps no index and
/// settles a record delivered twice when the entries are sorted, with the same rule (the
/// newest version; of equals, the first to come).
#[derive(Debug, Default)]
pub(super) struct Entries {
    slots: Vec<Packed>,
    /// Ids that are not plain numbers.
    texts: Vec<Box<str>>,
    /// Embedded keys' lists, each a count and then indexes into `keys`.
    embedded: Vec<u32>,
    /// Every distinct key an entry embeds (a repository's labels and milestones: few).
    keys: Vec<RecordKey>,
    key_index: HashMap<RecordKey, u32>,
    index: Option<Index>,
}

/// Entry slots by key (numbers apart: a kind and a number make a 16-byte key).
#[derive(Debug, Default)]
struct Index {
    numbers: HashMap<(RecordKind, u64), usize>,
    texts: HashMap<(RecordKind, Box<str>), usize>,
}

impl Entries {
    pub fn new(indexed: bool) -> Self {
        Entries {
            index: indexed.then(Index::default),
            ..Entries::default()
        }
    }

    fn slot(&self, key: &RecordKey) -> Option<usize> {
        let index = self.index.as_ref()?;
        match plain_number(&key.id) {
            Some(n) => index.numbers.get(&(key.kind, n)).copied(),
            None => index
                .texts
                .get(&(key.kind, key.id.as_str().into()))
                .copied(),
        }
    }

    /// The entry taken in for `key` (incremental captures; a full one answers `None`).
    pub fn get(&self, key: &RecordKey) -> Option<&Packed> {
        self.slot(key).and_then(|i| self.slots.get(i))
    }

    pub fn contains_key(&self, key: &RecordKey) -> bool {
        self.slot(key).is_some()
    }

    /// Takes the entry of `key` in (in its key's slot, replacing what was there, when
    /// indexed) and returns its slot.
    pub fn upsert(&mut self, key: &RecordKey, taken: Taken) -> usize {
        let next = self.slots.len();
        let number = plain_number(&key.id);
        let slot = match (&mut self.index, number) {
            (None, _) => next,
            (Some(index), Some(n)) => *index.numbers.entry((key.kind, n)).or_insert(next),
            (Some(index), None) => *index
                .texts
                .entry((key.kind, key.id.as_str().into()))
                .or_insert(next),
        };
        let held = self.slots.get(slot);
        let mut flags = 0u8;
        let id = match number {
            Some(n) => n,
            None => {
                flags |= TEXT_ID;
                // A key's later version reuses its text.
                match held.filter(|h| h.flags & TEXT_ID != 0) {
                    Some(h) => h.id,
                    None => {
                        self.texts.push(key.id.as_str().into());
                        (self.texts.len() - 1) as u64
                    }
                }
            }
        };
        let (secs, nanos) = match taken.updated_at {
            Some(t) => {
                flags |= UPDATED;
                (t.timestamp(), t.timestamp_subsec_nanos())
            }
            None => (0, 0),
        };
        let issue = match taken.issue {
            Some(n) => {
                flags |= ISSUE;
                n
            }
            None => 0,
        };
        let embeds_at = match taken.embeds {
            Some(keys) => {
                flags |= EMBEDS;
                self.push_embeds(keys)
            }
            None => 0,
        };
        let packed = Packed {
            blob: taken.blob,
            id,
            size: taken.size,
            stored: 0,
            issue,
            secs,
            nanos,
            embeds_at,
            seq: u32::try_from(next).unwrap_or(u32::MAX),
            kind: key.kind,
            flags,
        };
        match self.slots.get_mut(slot) {
            Some(held) => *held = packed,
            None => self.slots.push(packed),
        }
        slot
    }

    fn push_embeds(&mut self, keys: Vec<RecordKey>) -> u32 {
        let at = u32::try_from(self.embedded.len()).unwrap_or(u32::MAX);
        self.embedded.push(keys.len() as u32);
        for key in keys {
            let next = self.keys.len() as u32;
            let i = match self.key_index.get(&key) {
                Some(i) => *i,
                None => {
                    self.keys.push(key.clone());
                    self.key_index.insert(key, next);
                    next
                }
            };
            self.embedded.push(i);
        }
        at
    }

    /// Records the stored size of the blob in `slot`, unless a newer version of the record
    /// took the slot since.
    pub fn set_stored(&mut self, slot: usize, blob: &BlobId, stored: Option<u64>) {
        if let Some(held) = self.slots.get_mut(slot).filter(|h| h.blob == *blob) {
            match stored {
                Some(n) => {
                    held.stored = n;
                    held.flags |= STORED;
                }
                None => held.flags &= !STORED,
            }
        }
    }

    /// One entry per key, in manifest order ([`crate::manifest::Manifest::sort_entries`]).
    /// The index goes first: its memory is the next step's.
    pub fn into_sorted(self) -> Sorted {
        let Entries {
            mut slots,
            texts,
            embedded,
            keys,
            key_index,
            index,
        } = self;
        drop(index);
        drop(key_index);
        // In place: a stable sort would take a scratch buffer of half the entries; arrival
        // order settles ties instead.
        slots.sort_unstable_by(|a, b| order(&texts, a, b).then(a.seq.cmp(&b.seq)));
        slots.dedup_by(|later, kept| {
            if later.kind != kept.kind || !same_id(&texts, later, kept) {
                return false;
            }
            if later.updated_at() > kept.updated_at() {
                std::mem::swap(later, kept);
            }
            true
        });
        // Handed out from the end, so the memory is given back as it goes.
        slots.reverse();
        Sorted {
            slots,
            texts,
            embedded,
            keys,
            handed: 0,
        }
    }
}

fn id_text(texts: &[Box<str>], p: &Packed) -> String {
    if p.flags & TEXT_ID != 0 {
        texts
            .get(p.id as usize)
            .map(|t| t.to_string())
            .unwrap_or_default()
    } else {
        p.id.to_string()
    }
}

/// The id as a number, where [`crate::manifest::Manifest::sort_entries`] reads it as one.
fn id_number(texts: &[Box<str>], p: &Packed) -> Option<u64> {
    if p.flags & TEXT_ID != 0 {
        texts.get(p.id as usize).and_then(|t| t.parse().ok())
    } else {
        Some(p.id)
    }
}

fn same_id(texts: &[Box<str>], a: &Packed, b: &Packed) -> bool {
    match (a.flags & TEXT_ID != 0, b.flags & TEXT_ID != 0) {
        (false, false) => a.id == b.id,
        (true, true) => texts.get(a.id as usize) == texts.get(b.id as usize),
        _ => false,
    }
}

/// [`crate::manifest::Manifest::sort_entries`]' order: by kind, then numerically where both
/// ids are numbers, else by text. Ids equal as numbers but written differently (`7`, `07`)
/// are told apart by their text, so a key's versions sit side by side.
fn order(texts: &[Box<str>], a: &Packed, b: &Packed) -> Ordering {
    a.kind.cmp(&b.kind).then_with(|| {
        if a.flags & TEXT_ID == 0 && b.flags & TEXT_ID == 0 {
            return a.id.cmp(&b.id);
        }
        match (id_number(texts, a), id_number(texts, b)) {
            (Some(x), Some(y)) => x
                .cmp(&y)
                .then_with(|| id_text(texts, a).cmp(&id_text(texts, b))),
            _ => id_text(texts, a).cmp(&id_text(texts, b)),
        }
    })
}

/// The entries in manifest order, one per key, as [`ManifestEntry`]s: an iterator that
/// shrinks its buffer as it is drained.
#[derive(Debug)]
pub(super) struct Sorted {
    /// In reverse order.
    slots: Vec<Packed>,
    texts: Vec<Box<str>>,
    embedded: Vec<u32>,
    keys: Vec<RecordKey>,
    handed: usize,
}

/// Entries handed out between two shrinks of [`Sorted`]'s buffer (5.8 MB of them): often
/// enough to keep the drained part from lingering, rarely enough to cost nothing.
const SHRINK_EVERY: usize = 1 << 16;

impl Sorted {
    fn entry(&self, p: Packed) -> ManifestEntry {
        let id = id_text(&self.texts, &p);
        let updated_at = p.updated_at();
        let stored = p.stored();
        let embeds = (p.flags & EMBEDS != 0).then(|| {
            let at = p.embeds_at as usize;
            let count = self.embedded.get(at).copied().unwrap_or(0) as usize;
            self.embedded
                .get(at + 1..at + 1 + count)
                .unwrap_or_default()
                .iter()
                .filter_map(|i| self.keys.get(*i as usize).cloned())
                .collect()
        });
        ManifestEntry {
            kind: p.kind,
            id,
            blob: p.blob,
            updated_at,
            size: p.size,
            stored,
            issue: (p.flags & ISSUE != 0).then_some(p.issue),
            embeds,
        }
    }
}

impl Iterator for Sorted {
    type Item = ManifestEntry;

    fn next(&mut self) -> Option<ManifestEntry> {
        let p = self.slots.pop()?;
        self.handed += 1;
        if self.handed % SHRINK_EVERY == 0 {
            // In place: the allocator keeps the front and releases the rest.
            self.slots.shrink_to_fit();
        }
        Some(self.entry(p))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.slots.len(), Some(self.slots.len()))
    }
}

impl ExactSizeIterator for Sorted {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SnapshotId;
    use crate::manifest::{Manifest, Trigger, MANIFEST_FORMAT};

    fn taken(blob: &str, at: i64, issue: Option<u64>, embeds: Option<&[&str]>) -> Taken {
        Taken {
            blob: BlobId::of(blob.as_bytes()),
            updated_at: DateTime::from_timestamp(at, 0),
            size: blob.len() as u64,
            issue,
            embeds: embeds.map(|keys| keys.iter().map(|k| k.parse().unwrap()).collect()),
        }
    }

    #[test]
    fn an_entry_stays_small() {
        assert!(
            std::mem::size_of::<Packed>() <= 88,
            "{} bytes: every byte is 0.6 MB at 600,000 records",
            std::mem::size_of::<Packed>()
        );
    }

    /// Without an index (a full capture) a record delivered twice is settled when sorted,
    /// by the rule the index applies as records come: the newest version, of equals the
    /// first. Both give the manifest's own order and the same entries, field for field.
    #[test]
    fn entries_keep_the_newest_version_with_or_without_an_index() {
        let deliveries: Vec<(RecordKind, &str, Taken)> = vec![
            (
                RecordKind::Issue,
                "10",
                taken("10 v1", 100, None, Some(&["label:1"])),
            ),
            (RecordKind::Comment, "7", taken("c7", 50, Some(10), None)),
            (RecordKind::Issue, "9", taken("9 v1", 100, None, Some(&[]))),
            (
                RecordKind::Issue,
                "10",
                taken("10 v2", 200, None, Some(&["label:2", "milestone:1"])),
            ),
            (RecordKind::Issue, "9", taken("9 v1 again", 100, None, None)),
            (
                RecordKind::Label,
                "bug-label",
                taken("label", 1, None, None),
            ),
            (RecordKind::Label, "07", taken("label 07", 1, None, None)),
            (RecordKind::Label, "7", taken("label 7", 1, None, None)),
            (RecordKind::Issue, "10", taken("10 stale", 150, None, None)),
            (RecordKind::Comment, "8", taken("c8", 40, Some(9), None)),
        ];
        let mut results = Vec::new();
        for indexed in [false, true] {
            let mut entries = Entries::new(indexed);
            for (kind, id, t) in deliveries.clone() {
                let key = RecordKey::new(kind, id);
                // What `Intake::accept` does before taking a record in.
                if entries
                    .get(&key)
                    .is_some_and(|held| held.updated_at() >= t.updated_at)
                {
                    continue;
                }
                let blob = t.blob.clone();
                let slot = entries.upsert(&key, t);
                entries.set_stored(slot, &blob, Some(3));
            }
            let kept: Vec<ManifestEntry> = entries.into_sorted().collect();
            results.push(kept);
        }
        assert_eq!(results[0], results[1]);
        let keys: Vec<String> = results[0].iter().map(|e| e.key().to_string()).collect();
        assert_eq!(
            keys,
            [
                "label:07",
                "label:7",
                "label:bug-label",
                "issue:9",
                "issue:10",
                "comment:7",
                "comment:8"
            ]
        );
        let issue = |n: &str| {
            results[0]
                .iter()
                .find(|e| e.key().to_string() == n)
                .unwrap()
        };
        assert_eq!(
            issue("issue:9").blob,
            BlobId::of(b"9 v1"),
            "of equals, the first"
        );
        assert_eq!(issue("issue:9").embeds, Some(vec![]));
        assert_eq!(issue("issue:10").blob, BlobId::of(b"10 v2"), "the newest");
        assert_eq!(
            issue("issue:10").embeds,
            Some(vec![
                "label:2".parse().unwrap(),
                "milestone:1".parse().unwrap()
            ])
        );
        assert_eq!(
            issue("issue:10").updated_at,
            DateTime::from_timestamp(200, 0)
        );
        assert_eq!(issue("comment:8").issue, Some(9));
        assert_eq!(issue("label:07").embeds, None);
        assert!(results[0].iter().all(|e| e.stored == Some(3)));

        // The manifest's own sort agrees (it keeps ids equal as numbers, `07` and `7`, in
        // the order it finds them).
        let mut manifest = Manifest {
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
            tables: Vec::new(),
            table_hashes: Vec::new(),
            entries: results[0][3..]
                .iter()
                .chain(&results[0][..3])
                .cloned()
                .collect(),
        };
        manifest.sort_entries();
        assert_eq!(manifest.entries, results[0]);
    }

    /// Sub-second times and absent values come back exactly as taken in.
    #[test]
    fn times_and_absent_values_round_trip() {
        let mut entries = Entries::new(false);
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_789);
        let key = RecordKey::new(RecordKind::JiraIssue, "10001");
        entries.upsert(
            &key,
            Taken {
                blob: BlobId::of(b"x"),
                updated_at: at,
                size: u64::MAX,
                issue: None,
                embeds: None,
            },
        );
        let none = RecordKey::new(RecordKind::JiraIssue, "10002");
        entries.upsert(
            &none,
            Taken {
                blob: BlobId::of(b"y"),
                updated_at: None,
                size: 0,
                issue: Some(0),
                embeds: Some(Vec::new()),
            },
        );
        let out: Vec<ManifestEntry> = entries.into_sorted().collect();
        assert_eq!(out[0].updated_at, at);
        assert_eq!(out[0].size, u64::MAX);
        assert_eq!(
            (out[0].issue, out[0].stored, &out[0].embeds),
            (None, None, &None)
        );
        assert_eq!(out[1].updated_at, None);
        assert_eq!((out[1].issue, &out[1].embeds), (Some(0), &Some(Vec::new())));
    }

    /// Draining the sorted entries gives their memory back as it goes, so the table being
    /// encoded from them does not sit on top of all of them.
    #[test]
    fn draining_gives_the_memory_back() {
        let mut entries = Entries::new(false);
        let n = 3 * SHRINK_EVERY;
        for i in 0..n {
            let key = RecordKey::new(RecordKind::Comment, (n - i) as u64);
            entries.upsert(&key, taken(&i.to_string(), i as i64, Some(1), None));
        }
        let mut sorted = entries.into_sorted();
        let before = sorted.slots.capacity();
        assert!(before >= n);
        let mut last = 0u64;
        for _ in 0..2 * SHRINK_EVERY {
            let e = sorted.next().unwrap();
            let id: u64 = e.id.parse().unwrap();
            assert!(id > last, "in order");
            last = id;
        }
        assert!(
            sorted.slots.capacity() <= n - 2 * SHRINK_EVERY,
            "{} of {before} still held",
            sorted.slots.capacity()
        );
        assert_eq!(sorted.count(), SHRINK_EVERY);
    }
}
