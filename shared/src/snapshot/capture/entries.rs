//! The manifest entries a capture takes in, held compactly until the manifest is written.
//!
//! A capture keeps one entry per record it reads until the end (the manifest lists them in
//! key order, and records arrive in the order the tracker lists them), so this is what
//! grows with the repository: at 600,000 records every byte of an entry is 0.6 MB. An entry
//! is therefore a fixed 88-byte [`Packed`] (its blob id is a third of that): the rare text
//! id and the embedded keys live in side tables, absent values are flags.
//!
//! A full capture holds at most [`RUN_ENTRIES`] of them: when that many are held they are
//! sorted, settled (a record delivered twice keeps one version) and written as a run of
//! fixed-size records to an unnamed temporary file, which the system removes when it is
//! closed, whatever ends the capture. At the end [`Sorted`] merges the runs and what is
//! still held, settling a record's versions across runs by the same rule, and hands the
//! entries out in manifest order, so memory stays flat however many records there are
//! (the disk holds 86 bytes a record). An incremental capture keeps every entry in memory:
//! it looks records up as they come, and it holds its parent's entries anyway.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::id::BlobId;
use crate::manifest::ManifestEntry;
use crate::record::{RecordKey, RecordKind};

/// Entries a full capture holds before it writes them out as a sorted run (5.6 MB of them):
/// a capture of 600,000 records writes 9 runs and merges 10 sources.
#[cfg(not(test))]
pub(super) const RUN_ENTRIES: usize = 1 << 16;
/// The library's own tests spill every 64 entries, so every capture they run goes through
/// runs on disk and the merge.
#[cfg(test)]
pub(super) const RUN_ENTRIES: usize = 64;

/// The run size a full capture uses: [`RUN_ENTRIES`], or the whole number of entries
/// [`crate::config::env::CAPTURE_RUN_ENTRIES`] gives (at least 1).
pub(super) fn run_entries() -> crate::Result<usize> {
    let name = crate::config::env::CAPTURE_RUN_ENTRIES;
    match crate::config::env::var(name) {
        None => Ok(RUN_ENTRIES),
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(crate::Error::Invalid(format!(
                "{name} must be a whole number of entries above 0 (the default is {RUN_ENTRIES}), not {:?}",
                text.chars().take(40).collect::<String>()
            ))),
        },
    }
}

/// Buffer of each run's reader and writer: few system calls, and 10 runs cost 0.6 MB.
const RUN_BUFFER: usize = 64 << 10;

/// Entries could not be kept in, or read back from, a temporary file.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    #[error("cannot keep a capture's manifest entries in a temporary file in {dir}: {source}; set TMPDIR to a writable folder with room (86 bytes a record)")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("a capture's temporary file of manifest entries in {dir} read back damaged (record kind {kind}); take the snapshot again")]
    Damaged { dir: PathBuf, kind: u8 },
}

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
#[derive(Debug, Clone, PartialEq)]
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

/// A [`Packed`] in a run: its fields in order, little-endian, the kind as its place in
/// [`RecordKind::ALL`]. Indexes into the side tables stay valid: those only grow.
const PACKED_BYTES: usize = 32 + 5 * 8 + 3 * 4 + 2;

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

    fn to_bytes(&self) -> [u8; PACKED_BYTES] {
        let mut out = [0u8; PACKED_BYTES];
        let kind = RecordKind::ALL
            .iter()
            .position(|k| *k == self.kind)
            .unwrap_or_default() as u8;
        let fields: [&[u8]; 11] = [
            self.blob.as_bytes(),
            &self.id.to_le_bytes(),
            &self.size.to_le_bytes(),
            &self.stored.to_le_bytes(),
            &self.issue.to_le_bytes(),
            &self.secs.to_le_bytes(),
            &self.nanos.to_le_bytes(),
            &self.embeds_at.to_le_bytes(),
            &self.seq.to_le_bytes(),
            &[kind],
            &[self.flags],
        ];
        let mut at = 0;
        for field in fields {
            out[at..at + field.len()].copy_from_slice(field);
            at += field.len();
        }
        out
    }

    /// The entry [`Packed::to_bytes`] wrote; `Err` with the kind byte when that names no kind.
    fn from_bytes(bytes: &[u8; PACKED_BYTES]) -> Result<Packed, u8> {
        let mut fields = Fields { bytes, at: 0 };
        let blob = BlobId::from_bytes(fields.take());
        let id = u64::from_le_bytes(fields.take());
        let size = u64::from_le_bytes(fields.take());
        let stored = u64::from_le_bytes(fields.take());
        let issue = u64::from_le_bytes(fields.take());
        let secs = i64::from_le_bytes(fields.take());
        let nanos = u32::from_le_bytes(fields.take());
        let embeds_at = u32::from_le_bytes(fields.take());
        let seq = u32::from_le_bytes(fields.take());
        let [kind] = fields.take();
        let [flags] = fields.take();
        let kind = *RecordKind::ALL.get(kind as usize).ok_or(kind)?;
        Ok(Packed {
            blob,
            id,
            size,
            stored,
            issue,
            secs,
            nanos,
            embeds_at,
            seq,
            kind,
            flags,
        })
    }
}

/// Reads a [`Packed`]'s fields one after another.
struct Fields<'a> {
    bytes: &'a [u8; PACKED_BYTES],
    at: usize,
}

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut field = [0u8; N];
        // The fields add up to `PACKED_BYTES`, so this never runs short.
        if let Some(bytes) = self.bytes.get(self.at..self.at + N) {
            field.copy_from_slice(bytes);
        }
        self.at += N;
        field
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
/// index by key and one entry per key, all in memory. A full capture needs no lookup: it
/// keeps no index, writes full runs out, and settles a record delivered twice when the
/// entries are sorted and merged, with the same rule (the newest version; of equals, the
/// first to come).
#[derive(Debug)]
pub(super) struct Entries {
    /// The entries held (a full capture: those taken in since the last run).
    slots: Vec<Packed>,
    /// Ids that are not plain numbers.
    texts: Vec<Box<str>>,
    /// Embedded keys' lists, each a count and then indexes into `keys`.
    embedded: Vec<u32>,
    /// Every distinct key an entry embeds (a repository's labels and milestones: few).
    keys: Vec<RecordKey>,
    key_index: HashMap<RecordKey, u32>,
    index: Option<Index>,
    runs: Runs,
}

/// Entry slots by key (numbers apart: a kind and a number make a 16-byte key).
#[derive(Debug, Default)]
struct Index {
    numbers: HashMap<(RecordKind, u64), usize>,
    texts: HashMap<(RecordKind, Box<str>), usize>,
}

/// A full capture's entries written out, sorted, a run per file.
#[derive(Debug)]
struct Runs {
    /// Entries held at most before they are written out as a run.
    limit: usize,
    /// Where the files go (`None`: the system's temporary folder).
    dir: Option<PathBuf>,
    written: Vec<Run>,
    /// Entries taken in before the first one held: slots go on counting across runs.
    spilled: usize,
    /// Stored sizes learnt after their entry was written out (a blob held back to train the
    /// dictionary on is written later), by blob: a blob is one version of one record.
    late: HashMap<BlobId, Option<u64>>,
}

/// One run: an unnamed file (the system removes it once closed) of `len` entries.
#[derive(Debug)]
struct Run {
    file: File,
    len: usize,
}

impl Runs {
    fn dir(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(std::env::temp_dir)
    }

    fn io(&self, source: std::io::Error) -> SpillError {
        SpillError::Io {
            dir: self.dir(),
            source,
        }
    }

    /// Writes `sorted` out as a run.
    fn write(&mut self, sorted: &[Packed]) -> Result<(), SpillError> {
        let file = match &self.dir {
            Some(dir) => tempfile::tempfile_in(dir),
            None => tempfile::tempfile(),
        }
        .map_err(|e| self.io(e))?;
        let mut out = BufWriter::with_capacity(RUN_BUFFER, file);
        for p in sorted {
            out.write_all(&p.to_bytes()).map_err(|e| self.io(e))?;
        }
        let mut file = out.into_inner().map_err(|e| self.io(e.into_error()))?;
        file.rewind().map_err(|e| self.io(e))?;
        self.written.push(Run {
            file,
            len: sorted.len(),
        });
        Ok(())
    }
}

impl Entries {
    /// Entries that write a run every `limit` (see [`run_entries`]; an incremental
    /// capture's, `indexed`, are all held).
    pub fn new(indexed: bool, limit: usize) -> Self {
        Entries::with_runs(indexed, limit, None)
    }

    /// A full capture's entries (`indexed` false) are written out every `limit` entries,
    /// into files in `dir` (else the system's temporary folder).
    fn with_runs(indexed: bool, limit: usize, dir: Option<PathBuf>) -> Self {
        Entries {
            slots: Vec::new(),
            texts: Vec::new(),
            embedded: Vec::new(),
            keys: Vec::new(),
            key_index: HashMap::new(),
            index: indexed.then(Index::default),
            runs: Runs {
                limit: limit.max(1),
                dir,
                written: Vec::new(),
                spilled: 0,
                late: HashMap::new(),
            },
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
    /// indexed) and returns its slot. Without an index, a full set of held entries is
    /// written out first.
    pub fn upsert(&mut self, key: &RecordKey, taken: Taken) -> Result<usize, SpillError> {
        if self.index.is_none() && self.slots.len() >= self.runs.limit {
            self.spill()?;
        }
        let next = self.runs.spilled + self.slots.len();
        let number = plain_number(&key.id);
        let slot = match (&mut self.index, number) {
            (None, _) => next,
            (Some(index), Some(n)) => *index.numbers.entry((key.kind, n)).or_insert(next),
            (Some(index), None) => *index
                .texts
                .entry((key.kind, key.id.as_str().into()))
                .or_insert(next),
        };
        let held = slot
            .checked_sub(self.runs.spilled)
            .and_then(|i| self.slots.get(i));
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
        // A new slot is the next one held; only an indexed capture (which writes nothing
        // out) takes one of its slots again.
        match slot
            .checked_sub(self.runs.spilled)
            .and_then(|i| self.slots.get_mut(i))
        {
            Some(held) => *held = packed,
            None => self.slots.push(packed),
        }
        Ok(slot)
    }

    /// Writes the held entries out as a sorted run; the buffer is kept for the next ones.
    fn spill(&mut self) -> Result<(), SpillError> {
        let taken = self.slots.len();
        settle(&mut self.slots, &self.texts);
        self.runs.write(&self.slots)?;
        self.runs.spilled += taken;
        self.slots.clear();
        Ok(())
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
        let Some(i) = slot.checked_sub(self.runs.spilled) else {
            // Written out already: applied as the merge hands it out.
            self.runs.late.insert(blob.clone(), stored);
            return;
        };
        if let Some(held) = self.slots.get_mut(i).filter(|h| h.blob == *blob) {
            held.set_stored(stored);
        }
    }

    /// One entry per key, in manifest order ([`crate::manifest::Manifest::sort_entries`]):
    /// the runs written out merged with the entries still held. The index goes first: its
    /// memory is the next step's.
    pub fn into_sorted(self) -> Result<Sorted, SpillError> {
        let Entries {
            mut slots,
            texts,
            embedded,
            keys,
            key_index,
            index,
            runs,
        } = self;
        drop(index);
        drop(key_index);
        settle(&mut slots, &texts);
        // Handed out from the end, so the memory is given back as it goes.
        slots.reverse();
        let dir = runs.dir();
        let mut sorted = Sorted {
            held: slots,
            runs: runs
                .written
                .into_iter()
                .map(|run| {
                    Some(RunReader {
                        file: BufReader::with_capacity(RUN_BUFFER, run.file),
                        left: run.len,
                    })
                })
                .collect(),
            heads: Vec::new(),
            late: runs.late,
            dir,
            texts,
            embedded,
            keys,
            taken_from_held: 0,
        };
        for source in 0..=sorted.runs.len() {
            if let Some(p) = sorted.read(source)? {
                sorted.push_head(p, source);
            }
        }
        Ok(sorted)
    }
}

impl Packed {
    fn set_stored(&mut self, stored: Option<u64>) {
        match stored {
            Some(n) => {
                self.stored = n;
                self.flags |= STORED;
            }
            None => self.flags &= !STORED,
        }
    }
}

/// Sorts entries into manifest order and keeps one per key: the newest version, of equals
/// the first to come. In place: a stable sort would take a scratch buffer of half the
/// entries; arrival order settles ties instead.
fn settle(slots: &mut Vec<Packed>, texts: &[Box<str>]) {
    slots.sort_unstable_by(|a, b| merge_order(texts, a, b));
    slots.dedup_by(|later, kept| {
        if !same_key(texts, later, kept) {
            return false;
        }
        if later.updated_at() > kept.updated_at() {
            std::mem::swap(later, kept);
        }
        true
    });
}

/// Manifest order, then arrival: a key's versions side by side, the first to come first.
fn merge_order(texts: &[Box<str>], a: &Packed, b: &Packed) -> Ordering {
    order(texts, a, b).then(a.seq.cmp(&b.seq))
}

fn same_key(texts: &[Box<str>], a: &Packed, b: &Packed) -> bool {
    a.kind == b.kind && same_id(texts, a, b)
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

/// A run being read back, entry by entry.
#[derive(Debug)]
struct RunReader {
    file: BufReader<File>,
    left: usize,
}

/// The entries in manifest order, one per key, as [`ManifestEntry`]s: the runs written out
/// and the entries still held, merged. Each source is sorted and has one entry per key; a
/// key found in several (a record delivered again after its first version was written out)
/// comes out of them one version after another, and is settled as [`settle`] does.
#[derive(Debug)]
pub(super) struct Sorted {
    /// The entries never written out, in reverse order: the source numbered `runs.len()`.
    held: Vec<Packed>,
    /// `None` once read to the end (its file then closed, and so removed).
    runs: Vec<Option<RunReader>>,
    /// The next entry of each source not yet exhausted, with its source, the least last.
    heads: Vec<(Packed, usize)>,
    late: HashMap<BlobId, Option<u64>>,
    dir: PathBuf,
    texts: Vec<Box<str>>,
    embedded: Vec<u32>,
    keys: Vec<RecordKey>,
    taken_from_held: usize,
}

/// Entries taken from [`Sorted`]'s held buffer between two shrinks of it (5.8 MB of them):
/// often enough to keep the drained part from lingering, rarely enough to cost nothing.
const SHRINK_EVERY: usize = 1 << 16;

impl Sorted {
    /// The next entry of `source`.
    fn read(&mut self, source: usize) -> Result<Option<Packed>, SpillError> {
        if source >= self.runs.len() {
            let p = self.held.pop();
            if p.is_some() {
                self.taken_from_held += 1;
                if self.taken_from_held % SHRINK_EVERY == 0 {
                    // In place: the allocator keeps the front and releases the rest.
                    self.held.shrink_to_fit();
                }
            }
            return Ok(p);
        }
        let Some(Some(run)) = self.runs.get_mut(source) else {
            return Ok(None);
        };
        if run.left == 0 {
            self.runs[source] = None;
            return Ok(None);
        }
        let mut bytes = [0u8; PACKED_BYTES];
        if let Err(source) = run.file.read_exact(&mut bytes) {
            return Err(SpillError::Io {
                dir: self.dir.clone(),
                source,
            });
        }
        run.left -= 1;
        Packed::from_bytes(&bytes)
            .map(Some)
            .map_err(|kind| SpillError::Damaged {
                dir: self.dir.clone(),
                kind,
            })
    }

    fn push_head(&mut self, p: Packed, source: usize) {
        let texts = &self.texts;
        let at = self
            .heads
            .partition_point(|(h, _)| merge_order(texts, h, &p) == Ordering::Greater);
        self.heads.insert(at, (p, source));
    }

    /// The least entry of all sources, its source's next one taking its place.
    fn pop(&mut self) -> Result<Option<Packed>, SpillError> {
        let Some((p, source)) = self.heads.pop() else {
            return Ok(None);
        };
        if let Some(next) = self.read(source)? {
            self.push_head(next, source);
        }
        Ok(Some(p))
    }

    /// The next key's entry, its versions from every source settled.
    fn next_packed(&mut self) -> Result<Option<Packed>, SpillError> {
        let Some(mut kept) = self.pop()? else {
            return Ok(None);
        };
        while self
            .heads
            .last()
            .is_some_and(|(h, _)| same_key(&self.texts, h, &kept))
        {
            match self.pop()? {
                Some(later) if later.updated_at() > kept.updated_at() => kept = later,
                _ => {}
            }
        }
        if let Some(stored) = self.late.get(&kept.blob) {
            kept.set_stored(*stored);
        }
        Ok(Some(kept))
    }

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
    type Item = Result<ManifestEntry, SpillError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_packed() {
            Ok(p) => p.map(|p| Ok(self.entry(p))),
            Err(e) => {
                // Nothing after a failure: the manifest cannot be written anyway.
                self.heads.clear();
                Some(Err(e))
            }
        }
    }

    /// Exact when nothing was written out; else at most every entry left in every source.
    fn size_hint(&self) -> (usize, Option<usize>) {
        let unread: usize = self.runs.iter().flatten().map(|r| r.left).sum();
        let most = self.heads.len() + self.held.len() + unread;
        let least = if self.runs.is_empty() { most } else { 0 };
        (least, Some(most))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SnapshotId;
    use crate::manifest::{key_order, Manifest, Trigger, MANIFEST_FORMAT};
    use proptest::prelude::*;

    fn drain(entries: Entries) -> Vec<ManifestEntry> {
        entries
            .into_sorted()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

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
        // In memory, indexed, and written out in runs of 1 and 3 (a record's versions in
        // different runs, and in a run and in memory).
        for (indexed, limit) in [
            (false, usize::MAX),
            (true, usize::MAX),
            (false, 1),
            (false, 3),
        ] {
            let mut entries = Entries::with_runs(indexed, limit, None);
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
                let slot = entries.upsert(&key, t).unwrap();
                entries.set_stored(slot, &blob, Some(3));
            }
            results.push(drain(entries));
        }
        for other in &results[1..] {
            assert_eq!(&results[0], other);
        }
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

    /// Sub-second times and absent values come back exactly as taken in, from memory and
    /// from a run on disk.
    #[test]
    fn times_and_absent_values_round_trip() {
        for limit in [usize::MAX, 1] {
            let mut entries = Entries::with_runs(false, limit, None);
            let at = DateTime::from_timestamp(1_700_000_000, 123_456_789);
            let key = RecordKey::new(RecordKind::JiraIssue, "10001");
            entries
                .upsert(
                    &key,
                    Taken {
                        blob: BlobId::of(b"x"),
                        updated_at: at,
                        size: u64::MAX,
                        issue: None,
                        embeds: None,
                    },
                )
                .unwrap();
            let none = RecordKey::new(RecordKind::JiraIssue, "10002");
            entries
                .upsert(
                    &none,
                    Taken {
                        blob: BlobId::of(b"y"),
                        updated_at: None,
                        size: 0,
                        issue: Some(0),
                        embeds: Some(Vec::new()),
                    },
                )
                .unwrap();
            let out = drain(entries);
            assert_eq!(out[0].updated_at, at);
            assert_eq!(out[0].size, u64::MAX);
            assert_eq!(
                (out[0].issue, out[0].stored, &out[0].embeds),
                (None, None, &None)
            );
            assert_eq!(out[1].updated_at, None);
            assert_eq!((out[1].issue, &out[1].embeds), (Some(0), &Some(Vec::new())));
        }
    }

    /// Draining the sorted entries gives their memory back as it goes, so the table being
    /// encoded from them does not sit on top of all of them.
    #[test]
    fn draining_gives_the_memory_back() {
        let mut entries = Entries::with_runs(false, usize::MAX, None);
        let n = 3 * SHRINK_EVERY;
        for i in 0..n {
            let key = RecordKey::new(RecordKind::Comment, (n - i) as u64);
            entries
                .upsert(&key, taken(&i.to_string(), i as i64, Some(1), None))
                .unwrap();
        }
        let mut sorted = entries.into_sorted().unwrap();
        let before = sorted.held.capacity();
        assert!(before >= n);
        let mut last = 0u64;
        for _ in 0..2 * SHRINK_EVERY {
            let e = sorted.next().unwrap().unwrap();
            let id: u64 = e.id.parse().unwrap();
            assert!(id > last, "in order");
            last = id;
        }
        assert!(
            sorted.held.capacity() <= n - 2 * SHRINK_EVERY,
            "{} of {before} still held",
            sorted.held.capacity()
        );
        assert_eq!(sorted.count(), SHRINK_EVERY);
    }

    /// One delivery of a property test: a key from a small pool (so records come again,
    /// across runs), a time from a few (so versions tie), embedded keys, and how many
    /// deliveries later its stored size is learnt (as for a blob held back for training).
    #[derive(Debug, Clone)]
    struct Delivery {
        kind: RecordKind,
        id: &'static str,
        at: Option<i64>,
        embeds: Option<Vec<&'static str>>,
        stored: Option<u64>,
        learnt_after: usize,
    }

    /// Ids that sort consistently under the manifest's order: numbers, numbers written
    /// with a zero in front, and names.
    const IDS: &[&str] = &[
        "1", "2", "3", "7", "07", "10", "12", "bug", "docs", "wontfix",
    ];
    const KINDS: &[RecordKind] = &[RecordKind::Label, RecordKind::Issue, RecordKind::Comment];
    const EMBEDDED_KEYS: &[&str] = &["label:1", "label:2", "milestone:1"];

    fn delivery() -> impl Strategy<Value = Delivery> {
        (
            0..KINDS.len(),
            0..IDS.len(),
            proptest::option::weighted(0.9, 0..4i64),
            proptest::option::of(proptest::sample::subsequence(
                EMBEDDED_KEYS,
                0..=EMBEDDED_KEYS.len(),
            )),
            proptest::option::weighted(0.8, 0..1000u64),
            0..40usize,
        )
            .prop_map(|(kind, id, at, embeds, stored, learnt_after)| Delivery {
                kind: KINDS[kind],
                id: IDS[id],
                at,
                embeds,
                stored,
                learnt_after,
            })
    }

    fn blob_of(i: usize) -> BlobId {
        BlobId::of(format!("delivery {i}").as_bytes())
    }

    /// What a full capture takes in for `deliveries`, written out every `limit` entries.
    fn capture(deliveries: &[Delivery], limit: usize) -> Vec<ManifestEntry> {
        let mut entries = Entries::with_runs(false, limit, None);
        let mut learnt: Vec<(usize, usize, BlobId, Option<u64>)> = Vec::new();
        for (i, d) in deliveries.iter().enumerate() {
            // Sizes due by now are learnt first, in the order they fall due.
            learnt.sort_by_key(|l| std::cmp::Reverse(l.0));
            while learnt.last().is_some_and(|l| l.0 <= i) {
                if let Some((_, slot, blob, stored)) = learnt.pop() {
                    entries.set_stored(slot, &blob, stored);
                }
            }
            let key = RecordKey::new(d.kind, d.id);
            let slot = entries
                .upsert(
                    &key,
                    Taken {
                        blob: blob_of(i),
                        updated_at: d.at.and_then(|s| DateTime::from_timestamp(s, 7)),
                        size: i as u64,
                        issue: d.kind.is_comment().then_some(i as u64 % 3),
                        embeds: d
                            .embeds
                            .as_ref()
                            .map(|keys| keys.iter().map(|k| k.parse().unwrap()).collect()),
                    },
                )
                .unwrap();
            learnt.push((i + d.learnt_after, slot, blob_of(i), d.stored));
        }
        for (_, slot, blob, stored) in learnt {
            entries.set_stored(slot, &blob, stored);
        }
        drain(entries)
    }

    /// The rule stated plainly: per key the first delivery of the greatest time (no time
    /// before any), in the manifest's key order.
    fn expected(deliveries: &[Delivery]) -> Vec<ManifestEntry> {
        let mut winners: HashMap<(RecordKind, &str), usize> = HashMap::new();
        for (i, d) in deliveries.iter().enumerate() {
            let held = winners.entry((d.kind, d.id)).or_insert(i);
            if d.at > deliveries[*held].at {
                *held = i;
            }
        }
        let mut out: Vec<ManifestEntry> = winners
            .into_values()
            .map(|i| {
                let d = &deliveries[i];
                ManifestEntry {
                    kind: d.kind,
                    id: d.id.to_string(),
                    blob: blob_of(i),
                    updated_at: d.at.and_then(|s| DateTime::from_timestamp(s, 7)),
                    size: i as u64,
                    stored: d.stored,
                    issue: d.kind.is_comment().then_some(i as u64 % 3),
                    embeds: d
                        .embeds
                        .as_ref()
                        .map(|keys| keys.iter().map(|k| k.parse().unwrap()).collect()),
                }
            })
            .collect();
        out.sort_by(key_order);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Written out in runs of any size, the entries come back as held in memory, to the
        /// byte of the entry table, and as the rule says.
        #[test]
        fn runs_on_disk_give_what_memory_gives(
            deliveries in proptest::collection::vec(delivery(), 0..120),
            limit in 1..30usize,
        ) {
            let in_memory = capture(&deliveries, usize::MAX);
            let in_runs = capture(&deliveries, limit);
            prop_assert_eq!(
                crate::blob::canonical_json(&in_runs).unwrap(),
                crate::blob::canonical_json(&in_memory).unwrap()
            );
            prop_assert_eq!(&in_runs, &expected(&deliveries));
        }
    }

    /// The files a full capture writes its runs to in `dir` that this process holds open.
    #[cfg(target_os = "linux")]
    fn open_in(dir: &std::path::Path) -> usize {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| target.starts_with(dir))
            .count()
    }

    /// Runs live in unnamed files: nothing ever shows in the folder (so nothing is left
    /// there whatever ends the capture), each is closed, and so gone, once read to its end,
    /// and the rest when the entries are dropped half read.
    #[cfg(target_os = "linux")]
    #[test]
    fn run_files_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let fill = |n: u64| {
            let mut entries = Entries::with_runs(false, 4, Some(dir.path().to_path_buf()));
            for i in 0..n {
                // Runs of interleaved keys, so every run is read from until near the end.
                let key = RecordKey::new(RecordKind::Issue, (i * 7) % n);
                entries
                    .upsert(&key, taken(&i.to_string(), 1, None, None))
                    .unwrap();
            }
            entries
        };
        let entries = fill(20);
        assert_eq!(open_in(dir.path()), 4, "20 entries: 4 runs of 4, 4 held");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "unnamed");
        let mut sorted = entries.into_sorted().unwrap();
        let first: Vec<u64> = sorted
            .by_ref()
            .take(10)
            .map(|e| e.unwrap().id.parse().unwrap())
            .collect();
        assert_eq!(first, (0..10).collect::<Vec<u64>>());
        let rest: Vec<ManifestEntry> = sorted.by_ref().collect::<Result<_, _>>().unwrap();
        assert_eq!(rest.len(), 10);
        assert_eq!(open_in(dir.path()), 0, "each closed once read to its end");

        let mut sorted = fill(20).into_sorted().unwrap();
        sorted.next().unwrap().unwrap();
        assert_eq!(open_in(dir.path()), 4);
        drop(sorted);
        assert_eq!(open_in(dir.path()), 0, "closed when dropped half read");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// A folder that cannot take the runs is an error naming it, not a panic or a silent
    /// loss of entries.
    #[test]
    fn a_folder_that_cannot_take_runs_is_named() {
        let missing = tempfile::tempdir().unwrap().path().join("gone");
        let mut entries = Entries::with_runs(false, 2, Some(missing.clone()));
        let mut failed = None;
        for i in 0..3u64 {
            let key = RecordKey::new(RecordKind::Issue, i);
            if let Err(e) = entries.upsert(&key, taken(&i.to_string(), 1, None, None)) {
                failed = Some(e);
            }
        }
        let e = failed.expect("the third entry writes a run");
        assert!(matches!(e, SpillError::Io { .. }), "{e:?}");
        assert!(
            e.to_string().contains(&missing.display().to_string()),
            "{e}"
        );
        assert!(e.to_string().contains("TMPDIR"), "{e}");
    }

    /// A run read back with a byte that names no record kind is refused.
    #[test]
    fn a_damaged_run_is_refused() {
        let mut entries = Entries::with_runs(false, 1, None);
        for i in 0..2u64 {
            let key = RecordKey::new(RecordKind::Issue, i);
            entries
                .upsert(&key, taken(&i.to_string(), 1, None, None))
                .unwrap();
        }
        let run = entries.runs.written.first_mut().unwrap();
        run.file
            .seek(std::io::SeekFrom::Start(PACKED_BYTES as u64 - 2))
            .unwrap();
        run.file.write_all(&[200]).unwrap();
        run.file.rewind().unwrap();
        // The first entry of each run is read as the merge starts.
        let out: Vec<Result<ManifestEntry, SpillError>> = match entries.into_sorted() {
            Err(e) => vec![Err(e)],
            Ok(sorted) => sorted.collect(),
        };
        assert!(
            out.iter()
                .any(|e| matches!(e, Err(SpillError::Damaged { kind: 200, .. }))),
            "{out:?}"
        );
    }
}
