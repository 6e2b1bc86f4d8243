//! The archive: a store and a catalog used together, and everything that reads snapshots
//! back — resolving a user's reference, manifests with their entry-table chains, records and
//! the dictionaries their blobs were compressed with.
//!
//! [`Archive`] is the one way into stored snapshots: blobs are hash-checked as they are read,
//! and only completed catalog entries resolve.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::blob::{self, Dictionary};
use crate::catalog::{Catalog, Claim, JobEntry, JournalEntry, SnapshotEntry, SnapshotStatus};
use crate::error::{Error, Result};
use crate::id::{BlobId, JobId, ObjectHash, SnapshotId};
use crate::manifest::{
    side_by_side, DeltaTable, EntryTable, Manifest, ManifestEntry, StoredManifest, TableWalk,
    WalkedTable, MAX_TABLE_CHAIN,
};
use crate::record::{Record, RecordSet};
use crate::scope::Scope;
use crate::store::{ObjectStore, PutOutcome};

use super::reference::{self, Resolved, ResolvedBy, SnapshotName, SnapshotRef};

/// Blob reads in flight when loading a snapshot.
pub(super) const READS_IN_FLIGHT: usize = 32;

/// A store and a catalog used together: the archive of all snapshots.
#[derive(Debug, Clone)]
pub struct Archive {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) catalog: Arc<dyn Catalog>,
    /// Dictionaries read so far, and the hashes checked manifests record for them.
    dicts: Arc<std::sync::Mutex<Dicts>>,
}

/// The archive's dictionary cache.
#[derive(Debug, Default)]
struct Dicts {
    /// Loaded (and, where a hash was known, checked) dictionaries, by id: every blob of a
    /// scope needs the same one.
    loaded: HashMap<u32, Arc<Dictionary>>,
    /// Hashes recorded by manifests that passed their own check, by dictionary id.
    expected: HashMap<u32, ObjectHash>,
    /// Dictionaries found damaged (missing, wrong hash, unloadable), with why: a scope's
    /// blobs all name the same one, and reading it again for each would only fail again.
    broken: HashMap<u32, String>,
}

/// What the shells may ask of the catalog through the archive. The backends themselves stay
/// inside the library, so a rule about them (a snapshot as it stands, a claim's expiry) has
/// one home.
impl Archive {
    /// The snapshot with `id` as it stands (an abandoned capture reads `failed`), if any.
    pub async fn entry(&self, id: &SnapshotId) -> Result<Option<SnapshotEntry>> {
        match self.catalog.get(id).await? {
            Some(entry) => Ok(Some(self.standing(entry).await?)),
            None => Ok(None),
        }
    }

    /// Pins or unpins a snapshot (`prune` and `snapshot delete` keep pinned ones).
    pub async fn set_pinned(&self, id: &SnapshotId, pinned: bool) -> Result<()> {
        Ok(self.catalog.set_pinned(id, pinned).await?)
    }

    /// Takes a once-only claim (a webhook delivery, a job slice): `false` when someone
    /// else's unexpired claim holds the key.
    pub async fn claim(&self, claim: &Claim) -> Result<bool> {
        Ok(self.catalog.claim(claim).await?)
    }

    /// Drops a claim early, if `token` still holds it.
    pub async fn release_claim(&self, key: &str, token: &str) -> Result<()> {
        Ok(self.catalog.release_claim(key, token).await?)
    }

    /// A rollback job, if any.
    pub async fn job(&self, id: &JobId) -> Result<Option<JobEntry>> {
        Ok(self.catalog.get_job(id).await?)
    }

    /// The operations a rollback job has done, by index.
    pub async fn journal(&self, job: &JobId) -> Result<Vec<JournalEntry>> {
        Ok(self.catalog.journal(job).await?)
    }

    /// Where the store is, for messages.
    pub fn store_location(&self) -> String {
        self.store.location()
    }

    /// Whether the store is encrypted (see [`crate::crypt`]).
    pub fn is_encrypted(&self) -> bool {
        self.store.is_encrypted()
    }

    /// Refuses to take snapshots out of an encrypted store into plaintext unless `decrypt`
    /// (see [`crate::crypt::check_plaintext_out`]).
    pub fn check_plaintext_out(&self, to_encrypted: bool, decrypt: bool, what: &str) -> Result<()> {
        Ok(crate::crypt::check_plaintext_out(
            &*self.store,
            to_encrypted,
            decrypt,
            what,
        )?)
    }

    /// What the store holds, when it can tell cheaply (see [`ObjectStore::usage`]).
    pub async fn store_usage(&self) -> Result<Option<crate::store::Usage>> {
        Ok(self.store.usage().await?)
    }

    /// The catalog itself, for test kits that plant or inspect state.
    #[cfg(any(test, feature = "conformance"))]
    #[doc(hidden)]
    pub fn raw_catalog(&self) -> &Arc<dyn Catalog> {
        &self.catalog
    }

    /// The store itself, for test kits that plant or inspect state.
    #[cfg(any(test, feature = "conformance"))]
    #[doc(hidden)]
    pub fn raw_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }
}

impl Archive {
    pub fn new(store: Arc<dyn ObjectStore>, catalog: Arc<dyn Catalog>) -> Self {
        Archive {
            store,
            catalog,
            dicts: Arc::default(),
        }
    }

    fn dicts(&self) -> std::sync::MutexGuard<'_, Dicts> {
        // Every change is one map operation: a poisoned lock is still consistent.
        self.dicts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers the hash a checked manifest records for dictionary `id`, so that every
    /// later read of it is checked. A cached copy that does not match is dropped (the next
    /// read reports the damage).
    pub(super) fn expect_dictionary(&self, id: u32, hash: &ObjectHash) {
        let mut dicts = self.dicts();
        if dicts.loaded.get(&id).is_some_and(|d| d.hash() != *hash) {
            dicts.loaded.remove(&id);
        }
        if dicts.expected.insert(id, hash.clone()).as_ref() != Some(hash) {
            // Judged against another expectation (or none): judge again.
            dicts.broken.remove(&id);
        }
    }

    /// Dictionary `id`, from the cache or the store; checked against its hash when a
    /// manifest read so far records one. A dictionary no checked manifest vouches for (one
    /// named by blobs of snapshots written before dictionaries were hashed) is still
    /// usable: every blob decoded with it is checked against its content address, so a
    /// damaged dictionary can fail a read but never change what it returns.
    pub async fn dictionary(&self, id: u32) -> Result<Arc<Dictionary>> {
        let key = blob::dict_key(id);
        let (cached, expected) = {
            let dicts = self.dicts();
            if let Some(detail) = dicts.broken.get(&id) {
                return Err(blob::BlobError::Corrupt {
                    key,
                    detail: detail.clone(),
                }
                .into());
            }
            (
                dicts.loaded.get(&id).cloned(),
                dicts.expected.get(&id).cloned(),
            )
        };
        if let Some(d) = cached {
            return Ok(d);
        }
        let read = async {
            let bytes = self.store.get(&key).await?.to_vec();
            Ok::<_, Error>(Arc::new(match &expected {
                Some(hash) => Dictionary::from_bytes_checked(&key, bytes, hash)?,
                None => Dictionary::from_bytes(&key, bytes)?,
            }))
        };
        match read.await {
            Ok(dict) => {
                self.dicts().loaded.insert(id, dict.clone());
                Ok(dict)
            }
            Err(e) => {
                if e.is_damage() {
                    let detail = match &e {
                        Error::Blob(blob::BlobError::Corrupt { detail, .. }) => detail.clone(),
                        _ => "the dictionary is missing from the store".to_string(),
                    };
                    self.dicts().broken.insert(id, detail);
                }
                Err(e)
            }
        }
    }

    /// Reads a blob, checks its hash and parses it, with the dictionary its frame names.
    /// Returns the value and the stored (compressed) size.
    pub async fn read_blob<T: serde::de::DeserializeOwned>(&self, id: &BlobId) -> Result<(T, u64)> {
        let bytes = self.store.get(&id.key()).await?;
        let value = self.decode_blob(id, &bytes).await?;
        Ok((value, bytes.len() as u64))
    }

    /// Decodes a blob's stored bytes (as [`Archive::read_blob`] does after reading them).
    pub(super) async fn decode_blob<T: serde::de::DeserializeOwned>(
        &self,
        id: &BlobId,
        bytes: &[u8],
    ) -> Result<T> {
        let dict = match blob::frame_dictionary(bytes) {
            Some(d) => Some(self.dictionary(d).await?),
            None => None,
        };
        Ok(blob::decode_with(id, bytes, dict.as_deref())?)
    }

    /// Stores `value` as zstd-compressed canonical JSON at `key`, write-once, and returns the
    /// hash of the stored bytes. That hash is what a later [`Archive::get_sealed`] checks the
    /// object against, so the caller must keep it where the object cannot be altered with it
    /// (a catalog row, or an object that is itself checked). For objects named by their
    /// owner rather than their content (manifests, rollback plans); records and entry tables
    /// are content-addressed blobs instead.
    ///
    /// When `key` already holds an object it must be this very one (a retried write); any
    /// other content is an error, never overwritten.
    pub async fn put_sealed<T: Serialize + ?Sized>(
        &self,
        key: &str,
        what: &'static str,
        value: &T,
    ) -> Result<Sealed> {
        let bytes = blob::canonical_json(value)
            .map_err(|source| blob::BlobError::Encode { what, source })?;
        self.put_sealed_bytes(key, blob::compress(&bytes)).await
    }

    /// [`Archive::put_sealed`] for bytes already encoded.
    async fn put_sealed_bytes(&self, key: &str, stored: Vec<u8>) -> Result<Sealed> {
        let hash = ObjectHash::of(&stored);
        let len = stored.len() as u64;
        match self.store.put(key, Bytes::from(stored)).await? {
            PutOutcome::Written => Ok(Sealed {
                hash,
                stored_new: len,
            }),
            PutOutcome::Existed => {
                let existing = self.store.get(key).await?;
                let found = ObjectHash::of(&existing);
                if found != hash {
                    return Err(Error::Internal(format!(
                        "{key} already holds another object (hash {found}, expected {hash}); objects are written once, so this one is left as it is"
                    )));
                }
                Ok(Sealed {
                    hash,
                    stored_new: 0,
                })
            }
        }
    }

    /// Reads an object written by [`Archive::put_sealed`], checks its stored bytes against
    /// `expected` before anything parses them, and decodes it.
    pub async fn get_sealed<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        what: &'static str,
        expected: &ObjectHash,
    ) -> Result<T> {
        let stored = self.store.get(key).await?;
        check_sealed(key, what, &stored, expected)?;
        let bytes = blob::decompress(key, &stored)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            blob::BlobError::Corrupt {
                key: key.to_string(),
                detail: format!("its content matches its hash but is not a valid {what} ({e})"),
            }
            .into()
        })
    }

    /// Trains a dictionary on a scope's first records and stores it. `None` (compress
    /// without) when training declines or the id is taken by a different dictionary.
    pub(super) async fn train_dictionary(
        &self,
        samples: Vec<Vec<u8>>,
    ) -> Result<Option<(Arc<Dictionary>, u64)>> {
        let trained = tokio::task::spawn_blocking(move || Dictionary::train(&samples))
            .await
            .map_err(|e| Error::Internal(format!("dictionary training panicked: {e}")))?;
        let Some(dict) = trained else {
            return Ok(None);
        };
        let len = dict.bytes().len() as u64;
        let hash = dict.hash();
        let key = dict.key();
        let stored = match self
            .store
            .put(&key, Bytes::copy_from_slice(dict.bytes()))
            .await?
        {
            PutOutcome::Written => len,
            PutOutcome::Existed => {
                let existing = self.store.get(&key).await?;
                if existing.as_ref() == dict.bytes() {
                    0
                } else if self.dicts().expected.get(&dict.id) == Some(&hash) {
                    // Training reproduced, byte for byte, the dictionary a checked manifest
                    // vouches for, and the stored copy is damaged: put the intact one back.
                    // Every blob compressed with it becomes readable again.
                    tracing::warn!(key = %key, "replacing a damaged dictionary with the identical one this capture trained");
                    self.store.delete(&key).await?;
                    if self
                        .store
                        .put(&key, Bytes::copy_from_slice(dict.bytes()))
                        .await?
                        == PutOutcome::Existed
                        && self.store.get(&key).await?.as_ref() != dict.bytes()
                    {
                        return Ok(None);
                    }
                    self.dicts().broken.remove(&dict.id);
                    len
                } else {
                    tracing::warn!(
                        id = dict.id,
                        "dictionary id taken by another dictionary; compressing without one"
                    );
                    return Ok(None);
                }
            }
        };
        let dict = Arc::new(dict);
        let mut dicts = self.dicts();
        dicts.expected.insert(dict.id, hash);
        dicts.loaded.insert(dict.id, dict.clone());
        drop(dicts);
        Ok(Some((dict, stored)))
    }

    /// The newest completed snapshot of a scope.
    pub async fn latest(&self, scope: &Scope) -> Result<Option<SnapshotEntry>> {
        Ok(self
            .catalog
            .list(Some(scope))
            .await?
            .into_iter()
            .find(|e| e.status == SnapshotStatus::Completed))
    }

    /// Finds the snapshot a reference means, within `scope` (or across every scope with
    /// `None`), and says how: a full id (any status), `latest` (the newest completed one; needs
    /// a scope), a name (completed snapshots; the newest when a name was reused, which the
    /// answer lists), or a unique id prefix (any status). A text that is both a name and an id
    /// prefix of different snapshots, or a name in several scopes, is refused as ambiguous.
    pub async fn find(&self, scope: Option<&Scope>, reference: &SnapshotRef) -> Result<Resolved> {
        match reference {
            SnapshotRef::Latest => {
                let scope = scope.ok_or_else(|| {
                    Error::Invalid(
                        "`latest` needs a scope; pass one (e.g. github:OWNER/REPO)".into(),
                    )
                })?;
                let entry = self.latest(scope).await?.ok_or_else(|| {
                    Error::Invalid(format!(
                        "no completed snapshot of {scope} yet; take one with `backtrack snapshot create {scope}`"
                    ))
                })?;
                Ok(Resolved::new(
                    reference,
                    ResolvedBy::Latest,
                    entry,
                    Vec::new(),
                ))
            }
            SnapshotRef::Id(id) => match self.catalog.get(id).await? {
                Some(entry) if scope.is_none_or(|s| *s == entry.scope) => {
                    Ok(Resolved::new(reference, ResolvedBy::Id, entry, Vec::new()))
                }
                Some(entry) => Err(Error::Invalid(format!(
                    "snapshot {id} is of {}, not {}",
                    entry.scope,
                    scope.map(ToString::to_string).unwrap_or_default()
                ))),
                None => Err(Error::Invalid(format!(
                    "no snapshot {id}; list them with `backtrack snapshot list`"
                ))),
            },
            SnapshotRef::Text(text) => {
                let entries = self.catalog.list(scope).await?;
                reference::resolve_text(reference, text, scope, entries)
            }
        }
    }

    /// [`Archive::find`] for a reference given as text, returning just the snapshot.
    pub async fn resolve(&self, scope: Option<&Scope>, reference: &str) -> Result<SnapshotEntry> {
        Ok(self
            .find(scope, &SnapshotRef::parse(reference)?)
            .await?
            .entry)
    }

    /// Refuses `name` when a snapshot of `scope` already has it (see [`SnapshotName`]).
    pub async fn check_name_free(&self, scope: &Scope, name: &SnapshotName) -> Result<()> {
        let entries = self.catalog.list(Some(scope)).await?;
        reference::check_name_free(name, scope, &entries)
    }

    /// Reads a snapshot's manifest, checked against the hash its catalog entry records (see
    /// [`Archive::read_manifest`]).
    pub async fn load_manifest(&self, entry: &SnapshotEntry) -> Result<Manifest> {
        let key = &entry.manifest_key;
        let manifest = self
            .read_manifest(key, entry.manifest_hash.as_ref())
            .await?;
        check_belongs(
            entry,
            super::verify::header_mismatch(
                manifest.id,
                manifest.created_at,
                manifest.trigger,
                manifest.parent,
                entry,
            ),
            manifest.entries.len() as u64,
        )?;
        Ok(manifest)
    }

    /// A snapshot's manifest header alone (parent, cursor, activity log…), checked as
    /// [`Archive::load_manifest`] checks it but without reading its entry tables: for walking
    /// a chain of snapshots, which needs no snapshot's records.
    pub async fn load_manifest_header(&self, entry: &SnapshotEntry) -> Result<StoredManifest> {
        let header = self
            .read_header(&entry.manifest_key, entry.manifest_hash.as_ref())
            .await?;
        check_belongs(
            entry,
            super::verify::header_mismatch(
                header.id,
                header.created_at,
                header.trigger,
                header.parent,
                entry,
            ),
            header.entries_count,
        )?;
        Ok(header)
    }

    /// Reads the manifest at `key` and assembles its entries from its chain of entry tables.
    ///
    /// Every piece is checked before use: the header against `expected` (the hash its
    /// catalog entry records; `None` only for entries written before manifests were hashed,
    /// whose header cannot be checked), and each entry table against its content address.
    /// A checked header also vouches for the hash of its scope's dictionary, which later
    /// dictionary reads are checked against.
    pub async fn read_manifest(
        &self,
        key: &str,
        expected: Option<&ObjectHash>,
    ) -> Result<Manifest> {
        let header = self.read_header(key, expected).await?;
        // Sized once from the header rather than grown by doubling (bounded: a header read
        // unchecked could claim any count; `assemble` refuses a wrong one).
        let mut entries = Vec::with_capacity(header.entries_count.min(1 << 20) as usize);
        let (tables, hashes) = self.walk_tables(key, &header, |e| entries.push(e)).await?;
        let mut manifest = Manifest::assemble(key, header, entries)?;
        manifest.sort_entries();
        manifest.tables = tables;
        manifest.table_hashes = hashes;
        Ok(manifest)
    }

    /// A snapshot's manifest entries handed to `take` one by one, in no particular order,
    /// as they are parsed: for a reader that keeps few of them (a 600,000-record manifest's
    /// entries take ~300 MB held whole). Checked as [`Archive::load_manifest`] checks them,
    /// but a damaged entry table is only found once some of its entries have gone by: act
    /// on what `take` collected only once this returns `Ok`. Returns the header.
    pub async fn for_each_entry(
        &self,
        entry: &SnapshotEntry,
        take: impl FnMut(ManifestEntry),
    ) -> Result<StoredManifest> {
        let header = self.load_manifest_header(entry).await?;
        self.walk_tables(&entry.manifest_key, &header, take).await?;
        Ok(header)
    }

    /// Reads the manifest header at `key`, checked against `expected` (see
    /// [`Archive::read_manifest`]).
    async fn read_header(
        &self,
        key: &str,
        expected: Option<&ObjectHash>,
    ) -> Result<StoredManifest> {
        let stored = self.store.get(key).await?;
        if let Some(expected) = expected {
            check_sealed(key, "manifest", &stored, expected)?;
        }
        let header = Manifest::decode_header(key, &stored)?;
        if let (Some(_), Some(id), Some(hash)) = (expected, header.dict, &header.dict_hash) {
            self.expect_dictionary(id, hash);
        }
        Ok(header)
    }

    /// Reads the chain of entry tables `header` (stored at `key`) names, newest first, each
    /// checked against its content address and recorded hash: the deltas are folded as they
    /// come, and the full table at the chain's end is walked through them into `take`,
    /// entry by entry. Returns the chain's tables and their hashes.
    async fn walk_tables(
        &self,
        key: &str,
        header: &StoredManifest,
        mut take: impl FnMut(ManifestEntry),
    ) -> Result<(Vec<BlobId>, Vec<Option<ObjectHash>>)> {
        let mut tables = vec![header.entries_blob.clone()];
        let mut hashes = vec![header.entries_hash.clone()];
        let mut deltas = Vec::new();
        loop {
            let (Some(table), Some(expected)) = (tables.last().cloned(), hashes.last().cloned())
            else {
                return Err(Error::Internal("empty table chain".into()));
            };
            let stored = self.store.get(&table.key()).await?;
            if let Some(expected) = &expected {
                check_sealed(&table.key(), "entry table", &stored, expected)?;
            }
            let walk = TableWalk {
                deltas: &mut deltas,
                take: &mut take,
            };
            match blob::decode_streamed_seed(&table, &stored, walk)? {
                WalkedTable::Full { kept, fold } => {
                    let mut count = kept;
                    for e in fold.finish(key)? {
                        take(e);
                        count += 1;
                    }
                    if count != header.entries_count {
                        return Err(blob::BlobError::Corrupt {
                            key: key.to_string(),
                            detail: format!(
                                "its entry table has {count} entries, the header says {}",
                                header.entries_count
                            ),
                        }
                        .into());
                    }
                    return Ok((tables, hashes));
                }
                WalkedTable::Delta(delta) => {
                    if tables.len() > MAX_TABLE_CHAIN {
                        return Err(blob::BlobError::Corrupt {
                            key: key.to_string(),
                            detail: format!("its entry tables chain past {MAX_TABLE_CHAIN}"),
                        }
                        .into());
                    }
                    tables.push(delta.base.clone());
                    hashes.push(delta.base_hash.clone());
                    deltas.push(delta);
                }
            }
        }
    }

    /// Writes a manifest: its entry table first, then the header that names it. Returns
    /// the compressed bytes newly stored and the header's hash, which the snapshot's catalog
    /// entry must record.
    pub async fn write_manifest(&self, manifest: &Manifest) -> Result<Sealed> {
        // Encoded entry by entry: the table's JSON whole would be ~200 bytes an entry.
        self.write_manifest_streamed(manifest, manifest.entries.iter().map(Ok))
            .await
            .map(|(s, _)| s)
    }

    /// [`Archive::write_manifest`] for a manifest of `count` entries (`manifest.entries` is
    /// ignored) stored as `delta` on its parent's table.
    pub(super) async fn write_delta(
        &self,
        manifest: &Manifest,
        delta: DeltaTable,
        count: u64,
    ) -> Result<(Sealed, TableWrite)> {
        let table = blob::encode("manifest entries", &EntryTable::Delta(delta))?;
        self.write_table_and_header(manifest, table, count).await
    }

    /// [`Archive::write_manifest`] for a manifest whose entries (`manifest.entries` is
    /// ignored) come one by one, in manifest order: the entry table is stored whole, encoded
    /// as they come, so no second copy of them is held — a snapshot of 600,000 records
    /// would otherwise hold every entry and its JSON at once.
    pub(super) async fn write_manifest_streamed<E: std::borrow::Borrow<ManifestEntry>>(
        &self,
        manifest: &Manifest,
        entries: impl Iterator<Item = Result<E>>,
    ) -> Result<(Sealed, TableWrite)> {
        let (table, count) = encode_table_streamed(entries)?;
        self.write_table_and_header(manifest, table, count).await
    }

    /// Stores an encoded entry table, then the header naming it (for `count` entries).
    pub(super) async fn write_table_and_header(
        &self,
        manifest: &Manifest,
        table: blob::EncodedBlob,
        count: u64,
    ) -> Result<(Sealed, TableWrite)> {
        let bytes = Bytes::from(table.compressed);
        let (table_hash, write) = match self.store.put(&table.id.key(), bytes.clone()).await? {
            PutOutcome::Written => (
                ObjectHash::of(&bytes),
                TableWrite::Written(bytes.len() as u64),
            ),
            PutOutcome::Existed => match self.check_or_repair(&table.id, bytes.clone()).await? {
                super::reuse::Ensured::Repaired(n) => {
                    (ObjectHash::of(&bytes), TableWrite::Repaired(n))
                }
                _ => {
                    let stored = self.store.get(&table.id.key()).await?;
                    (ObjectHash::of(&stored), TableWrite::Reused)
                }
            },
        };
        let header = manifest.encode_header_counted(&table.id, &table_hash, count)?;
        let mut sealed = self.put_sealed_bytes(&manifest.key(), header).await?;
        if let TableWrite::Written(n) | TableWrite::Repaired(n) = write {
            sealed.stored_new += n;
        }
        Ok((sealed, write))
    }

    /// Reads every record of a manifest, checking each blob's hash. `with_raw = false`
    /// drops the raw JSON as records arrive, for comparisons that never look at it.
    pub async fn load_records(&self, manifest: &Manifest, with_raw: bool) -> Result<RecordSet> {
        let keep: fn(Record) -> Record = if with_raw {
            std::convert::identity
        } else {
            Record::without_raw
        };
        let mut set = RecordSet::default();
        self.for_each_record(manifest, keep, |r| set.insert(r))
            .await?;
        Ok(set)
    }

    /// Reads every record of a manifest, checking each blob's hash, and hands each, passed
    /// through `keep`, to `take` as it arrives (in no particular order): for a consumer
    /// that holds less than every record.
    pub async fn for_each_record(
        &self,
        manifest: &Manifest,
        keep: fn(Record) -> Record,
        take: impl FnMut(Record),
    ) -> Result<()> {
        self.for_each_entry_record(manifest.entries.iter().cloned(), keep, take)
            .await
    }

    /// [`Archive::for_each_record`] for some of a manifest's entries.
    pub async fn for_each_entry_record(
        &self,
        entries: impl IntoIterator<Item = ManifestEntry>,
        keep: fn(Record) -> Record,
        mut take: impl FnMut(Record),
    ) -> Result<()> {
        let mut records = stream::iter(entries)
            .map(|e| {
                let archive = self.clone();
                async move {
                    let (record, _): (Record, u64) = archive.read_blob(&e.blob).await?;
                    Ok::<_, Error>(keep(record))
                }
            })
            .buffer_unordered(READS_IN_FLIGHT);
        while let Some(record) = records.try_next().await? {
            take(record);
        }
        Ok(())
    }

    /// Loads what a diff between two snapshots needs: every record whose blob differs
    /// between the manifests (or exists on one side only), the issues those comments belong
    /// to, and all label and milestone definitions. Records identical on both sides produce
    /// no change, so leaving them out gives the same diff at a fraction of the reads: two
    /// snapshots of a 60,000-record repository with 1% churn load about 1% of their blobs.
    ///
    /// The manifests are walked side by side in key order (both are sorted), so choosing
    /// what to read holds no map of either side's keys; a blob both sides name is the same
    /// record (content addressing) and is read once.
    pub async fn load_changed_pair(
        &self,
        from: &Manifest,
        to: &Manifest,
    ) -> Result<(RecordSet, RecordSet)> {
        let mut reads = Vec::new();
        for pair in side_by_side(&from.entries, &to.entries) {
            match pair {
                (Some(a), Some(b)) if a.blob == b.blob => {
                    if a.kind.is_definition() {
                        reads.push((Sides::Both, a.blob.clone()));
                    }
                }
                (a, b) => {
                    reads.extend(a.map(|a| (Sides::From, a.blob.clone())));
                    reads.extend(b.map(|b| (Sides::To, b.blob.clone())));
                }
            }
        }
        let (mut from_set, mut to_set) = self.load_sides(reads).await?;
        // Comments that changed need their issue on both sides (for its title and key).
        let parents: HashSet<u64> = from_set
            .comment_issues()
            .chain(to_set.comment_issues())
            .collect();
        if parents.is_empty() {
            return Ok((from_set, to_set));
        }
        let wanted = |e: &ManifestEntry, set: &RecordSet| {
            e.kind.is_issue()
                && e.id
                    .parse::<u64>()
                    .is_ok_and(|n| parents.contains(&n) && !set.contains(e.kind, n))
        };
        let mut reads = Vec::new();
        for pair in side_by_side(&from.entries, &to.entries) {
            let a = pair.0.filter(|e| wanted(e, &from_set));
            let b = pair.1.filter(|e| wanted(e, &to_set));
            match (a, b) {
                (Some(a), Some(b)) if a.blob == b.blob => reads.push((Sides::Both, a.blob.clone())),
                (a, b) => {
                    reads.extend(a.map(|a| (Sides::From, a.blob.clone())));
                    reads.extend(b.map(|b| (Sides::To, b.blob.clone())));
                }
            }
        }
        let (more_from, more_to) = self.load_sides(reads).await?;
        from_set.absorb(more_from);
        to_set.absorb(more_to);
        Ok((from_set, to_set))
    }

    /// Reads records for the two sides of a comparison (raw JSON dropped), each blob once:
    /// one named for both sides is decoded once and put on both.
    async fn load_sides(&self, reads: Vec<(Sides, BlobId)>) -> Result<(RecordSet, RecordSet)> {
        let records: Vec<(Sides, Record)> = stream::iter(reads)
            .map(|(sides, id)| {
                let archive = self.clone();
                async move {
                    let (record, _): (Record, u64) = archive.read_blob(&id).await?;
                    Ok::<_, Error>((sides, record.without_raw()))
                }
            })
            .buffer_unordered(READS_IN_FLIGHT)
            .try_collect()
            .await?;
        let (mut from, mut to) = (RecordSet::default(), RecordSet::default());
        for (sides, record) in records {
            match sides {
                Sides::From => from.insert(record),
                Sides::To => to.insert(record),
                Sides::Both => {
                    from.insert(record.clone());
                    to.insert(record);
                }
            }
        }
        Ok((from, to))
    }
}

/// Which side of a comparison a record read is for.
#[derive(Debug, Clone, Copy)]
enum Sides {
    From,
    To,
    Both,
}

/// What [`Archive::put_sealed`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The hash of the stored bytes: keep it apart from the object.
    pub hash: ObjectHash,
    /// Bytes newly stored (0 when the object was already there).
    pub stored_new: u64,
}

/// How a manifest write stored its entry table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TableWrite {
    /// Newly written, this many bytes.
    Written(u64),
    /// Already stored and read back intact.
    Reused,
    /// Already stored but damaged: replaced, this many bytes.
    Repaired(u64),
}

/// Checks an object's stored bytes against the hash held apart from it.
fn check_sealed(
    key: &str,
    what: &str,
    stored: &[u8],
    expected: &ObjectHash,
) -> std::result::Result<(), blob::BlobError> {
    let actual = ObjectHash::of(stored);
    if &actual == expected {
        return Ok(());
    }
    Err(blob::BlobError::Corrupt {
        key: key.to_string(),
        detail: format!(
            "its {} stored bytes hash to {actual}, the catalog records {expected} for this {what}",
            stored.len()
        ),
    })
}

/// A whole entry table encoded from entries that come one by one, in manifest order, and
/// compressed as they come: no second copy of them is held, only the compressed table
/// (a snapshot of 600,000 records would otherwise hold every entry and its JSON at once).
/// Returns the table and how many entries it holds.
pub(super) fn encode_table_streamed<E: std::borrow::Borrow<ManifestEntry>>(
    entries: impl Iterator<Item = Result<E>>,
) -> Result<(blob::EncodedBlob, u64)> {
    let compressing =
        |e: std::io::Error| Error::Internal(format!("cannot compress an entry table: {e}"));
    let mut table = blob::StreamEncoder::new().map_err(compressing)?;
    let mut count = 0u64;
    table.push(b"[").map_err(compressing)?;
    for entry in entries {
        let entry = entry?;
        if count > 0 {
            table.push(b",").map_err(compressing)?;
        }
        let bytes =
            blob::canonical_json(entry.borrow()).map_err(|source| blob::BlobError::Encode {
                what: "manifest entries",
                source,
            })?;
        table.push(&bytes).map_err(compressing)?;
        count += 1;
    }
    table.push(b"]").map_err(compressing)?;
    let table = table.finish().map_err(compressing)?;
    Ok((table, count))
}

/// Refuses a manifest that does not belong to `entry`: its header names another snapshot
/// (`header`, from [`super::verify::header_mismatch`]), or it holds another number of
/// `records` than the entry counts.
fn check_belongs(entry: &SnapshotEntry, header: Option<String>, records: u64) -> Result<()> {
    let mismatch = header.or_else(|| {
        (records != entry.counts.total()).then(|| {
            format!(
                "it holds {records} records, its catalog entry counts {}",
                entry.counts.total()
            )
        })
    });
    match mismatch {
        Some(detail) => Err(blob::BlobError::Corrupt {
            key: entry.manifest_key.clone(),
            detail: format!("the manifest does not belong to its catalog entry: {detail}"),
        }
        .into()),
        None => Ok(()),
    }
}
