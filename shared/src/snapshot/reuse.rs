//! What a capture may reuse without damage spreading into the snapshot it takes.
//!
//! A snapshot may be marked `completed` only when every object it references is known to
//! exist and is not truncated (DESIGN §5), yet a capture writes few objects of its own: an
//! incremental one inherits its parent's blobs without touching them, and a content-addressed
//! put that finds its key taken trusts whatever holds it. Reading every reused object back
//! would cost as much as `verify`; instead a capture relies on three cheap facts:
//!
//! - **One listing of the store's blobs** ([`Inventory`]), taken before anything relies on
//!   it: every blob the snapshot will reference must be listed with the size it is expected
//!   to have. For an inherited blob that is the size its parent's manifest records (set when
//!   the parent was checked the same way), for a blob this capture would write it is the size
//!   of its own compression. Missing or wrongly sized, it is read back and checked by content
//!   address, and a damaged copy is replaced by the intact bytes this capture holds (the same
//!   content, so no reader ever sees a different value under the key). The listing also saves
//!   the put of every blob already there. On S3 it costs one LIST request per 1,000 blobs in
//!   the store, plus one per [`LISTING_SHARDS`] shard (listed in parallel): about 76 requests
//!   for a store of 60,000 blobs, where a HEAD per blob would cost 60,000. The folder store
//!   walks its `blobs/` folders.
//! - **The parent checked before it is built on** ([`ParentCheck`]): its manifest against the
//!   hash in its catalog entry, its entry tables by content address, its dictionary against
//!   the hash its manifest records, and its blobs against the listing. A damaged parent is
//!   never built on: the capture lists everything instead (a full capture) and says why.
//! - **Damage found in the scope's dictionary means every reused blob is read back**
//!   ([`ParentCheck::deep`]): blobs compressed with a damaged dictionary are intact objects of the
//!   right size that nonetheless cannot be read, so only reading them finds them. This costs
//!   one GET per blob of the scope, once, after a disaster.
//!
//! Bit flips inside an object of the right size are beyond these checks: `verify` finds them
//! by reading everything.

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::Archive;
use crate::blob::{self, Dictionary};
use crate::catalog::SnapshotEntry;
use crate::error::{Error, Result};
use crate::id::BlobId;
use crate::keys;
use crate::manifest::Manifest;
use crate::store::{ObjectStore, PutOutcome};

/// The blob listing is split by the first hex digit of the blob id and the shards listed in
/// parallel: on S3 one listing is a chain of requests of 1,000 keys each, so sixteen chains
/// finish sixteen times sooner for sixteen more requests.
pub const LISTING_SHARDS: usize = 16;

/// Blobs of a scope whose dictionary predates dictionary hashes that are decoded to prove it
/// intact before it is trusted (and its hash recorded).
const LEGACY_DICT_SAMPLES: usize = 8;
/// ...reading at most this many of its blobs to find them (the rest may predate it).
const LEGACY_DICT_READS: usize = 64;

/// Every blob in the store and its stored size, as listed at one moment: sorted by id, 40
/// bytes a blob (a hash map of them took twice that, a listing's keys thrice).
#[derive(Debug, Default)]
pub struct Inventory {
    sizes: Vec<(BlobId, u64)>,
}

impl Inventory {
    /// Lists `blobs/` in [`LISTING_SHARDS`] parallel shards.
    pub async fn take(store: &Arc<dyn ObjectStore>) -> Result<Inventory> {
        let shards: Vec<String> = (0..LISTING_SHARDS)
            .map(|i| format!("{}{:x}", keys::BLOBS, i))
            .collect();
        let mut listed = stream::iter(shards)
            .map(|prefix| {
                let store = store.clone();
                async move { store.list(&prefix).await }
            })
            .buffer_unordered(LISTING_SHARDS);
        // Each shard's listing (its keys as text) is let go as soon as it is read.
        let mut sizes = Vec::new();
        while let Some(shard) = listed.try_next().await? {
            // Anything under blobs/ that is not named like a blob is not ours to judge.
            sizes.extend(
                shard
                    .into_iter()
                    .filter_map(|object| keys::blob_id(&object.key).map(|id| (id, object.size))),
            );
        }
        sizes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        sizes.dedup_by(|a, b| a.0 == b.0);
        sizes.shrink_to_fit();
        Ok(Inventory { sizes })
    }

    /// The listed size of blob `id`, if it was listed.
    pub fn size(&self, id: &BlobId) -> Option<u64> {
        self.sizes
            .binary_search_by(|(listed, _)| listed.cmp(id))
            .ok()
            .map(|i| self.sizes[i].1)
    }

    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }
}

/// What the capture found out about the newest completed snapshot of its scope.
#[derive(Debug, Default)]
pub(super) struct ParentCheck {
    /// The parent's manifest, read and checked (absent when it could not be read).
    pub manifest: Option<Arc<Manifest>>,
    /// The scope's dictionary, checked; absent when there is none or it is damaged.
    pub dict: Option<Arc<Dictionary>>,
    /// Why the parent must not be built on (damage), in words for the report.
    pub damage: Option<String>,
    /// The parent's manifest predates manifest hashes, so it cannot be checked.
    pub unverified: bool,
    /// Reused blobs must be read back: the dictionary is damaged (or unknown), so a blob of the
    /// right size may still be unreadable.
    pub deep: bool,
}

impl Archive {
    /// Checks the parent a capture would build on — its manifest, entry tables and
    /// dictionary; its blobs follow in [`Archive::check_parent_blobs`]. Errors only when
    /// reading failed for a reason other than damage (the store is unreachable, throttled):
    /// a capture then stops rather than pay for a full listing of the tracker.
    pub(super) async fn check_parent(&self, parent: &SnapshotEntry) -> Result<ParentCheck> {
        let mut check = ParentCheck {
            unverified: parent.manifest_hash.is_none(),
            ..ParentCheck::default()
        };
        let manifest = match self.load_manifest(parent).await {
            Ok(m) => Arc::new(m),
            Err(e) if e.is_damage() => {
                check.damage = Some(format!("its manifest {}", damage_detail(&e)));
                // Its dictionary is unknown, and may be damaged too: read reused blobs back.
                check.deep = true;
                return Ok(check);
            }
            Err(e) => return Err(e),
        };
        check.manifest = Some(manifest.clone());

        if let Some(id) = manifest.dict {
            let dict = match (check.unverified, &manifest.dict_hash) {
                // A checked manifest registered the hash: the read checks it.
                (false, Some(_)) => self.dictionary(id).await,
                _ => self.adopt_legacy_dictionary(id, &manifest).await,
            };
            match dict {
                Ok(d) => check.dict = Some(d),
                Err(e) if e.is_damage() => {
                    check.damage = Some(format!("its dictionary {}", damage_detail(&e)));
                    check.deep = true;
                }
                Err(e) => return Err(e),
            }
        }

        Ok(check)
    }

    /// Completes [`Archive::check_parent`] once the store is listed: every blob the parent
    /// holds must be listed, at the size its manifest records.
    pub(super) fn check_parent_blobs(&self, check: &mut ParentCheck, inventory: &Inventory) {
        let Some(manifest) = check.manifest.clone() else {
            return;
        };
        let mut missing = Vec::new();
        let mut wrong_size = Vec::new();
        for e in &manifest.entries {
            match (inventory.size(&e.blob), e.stored) {
                (None, _) => missing.push(keys::blob(&e.blob)),
                (Some(listed), Some(recorded)) if listed != recorded => wrong_size.push(format!(
                    "{} ({listed} bytes, not {recorded})",
                    keys::blob(&e.blob)
                )),
                _ => {}
            }
        }
        if !missing.is_empty() || !wrong_size.is_empty() {
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!(
                    "{} of its blobs are missing ({}{})",
                    missing.len(),
                    missing[0],
                    if missing.len() > 1 { ", …" } else { "" }
                ));
            }
            if !wrong_size.is_empty() {
                parts.push(format!(
                    "{} of its blobs are truncated or altered ({}{})",
                    wrong_size.len(),
                    wrong_size[0],
                    if wrong_size.len() > 1 { ", …" } else { "" }
                ));
            }
            let blobs = parts.join("; ");
            check.damage = Some(match check.damage.take() {
                Some(earlier) => format!("{earlier}; {blobs}"),
                None => blobs,
            });
        }
    }

    /// A dictionary named by a manifest that records no hash for it (written before
    /// dictionaries were hashed): proved intact by decoding a few of the manifest's blobs
    /// compressed with it — a truncated or altered dictionary fails their content hashes —
    /// after which its hash is trusted for the rest of this process.
    async fn adopt_legacy_dictionary(
        &self,
        id: u32,
        manifest: &Manifest,
    ) -> Result<Arc<Dictionary>> {
        let dict = self.dictionary(id).await?;
        let (mut proved, mut read) = (0, 0);
        for e in manifest.entries.iter().rev() {
            if proved == LEGACY_DICT_SAMPLES || read == LEGACY_DICT_READS {
                break;
            }
            read += 1;
            let bytes = match self.store.get(&keys::blob(&e.blob)).await {
                Ok(b) => b,
                // A missing blob says nothing about the dictionary (the listing judges it).
                Err(crate::store::StoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            if blob::frame_dictionary(&bytes) != Some(id) {
                continue;
            }
            blob::decode_with::<serde_json::Value>(&e.blob, &bytes, Some(&dict)).map_err(|err| {
                Error::from(blob::BlobError::Corrupt {
                    key: dict.key(),
                    detail: format!(
                        "the dictionary is damaged or does not belong to its blobs: {} does not decode with it ({err})",
                        keys::blob(&e.blob)
                    ),
                })
            })?;
            proved += 1;
        }
        self.expect_dictionary(id, &dict.hash());
        Ok(dict)
    }

    /// Makes sure content-addressed object `id` is stored intact, given what the listing
    /// says; `good` is its intact encoding. See [`Reuse`].
    pub(super) async fn ensure_blob(
        &self,
        id: &BlobId,
        good: Bytes,
        reuse: Reuse,
    ) -> Result<Ensured> {
        match reuse {
            Reuse::Absent => match self.store.put_deferred(&id.key(), good.clone()).await? {
                PutOutcome::Written => Ok(Ensured::Written(good.len() as u64)),
                // Stored since the listing (a concurrent capture, or a copy staged earlier in
                // this process): check it once everything is flushed.
                PutOutcome::Existed => Ok(Ensured::Unsure(good)),
            },
            Reuse::Trusted(size) => Ok(Ensured::Intact(size)),
            Reuse::ReadBack => self.check_or_repair(id, good).await,
        }
    }

    /// Reads a stored content-addressed object and checks it by content address (and, for
    /// records, through the dictionary its frame names); a damaged or missing copy is
    /// replaced by `good`. The replacement holds the same content as the key promises, so
    /// it changes no reader's result — it only makes a failing read succeed.
    pub(super) async fn check_or_repair(&self, id: &BlobId, good: Bytes) -> Result<Ensured> {
        let key = id.key();
        match self.store.get(&key).await {
            Ok(stored) => match self.decode_blob::<serde_json::Value>(id, &stored).await {
                Ok(_) => return Ok(Ensured::ReadBack(stored.len() as u64)),
                Err(e) if e.is_damage() => {
                    // One line per blob would flood a disaster's log: the report counts them.
                    tracing::debug!(key = %key, error = %e, "replacing a damaged blob with the intact copy this capture holds");
                    self.store.delete(&key).await?;
                }
                Err(e) => return Err(e),
            },
            Err(crate::store::StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let len = good.len() as u64;
        match self.store.put(&key, good).await? {
            PutOutcome::Written => Ok(Ensured::Repaired(len)),
            // Someone re-stored it in between: it must be intact now.
            PutOutcome::Existed => {
                let stored = self.store.get(&key).await?;
                self.decode_blob::<serde_json::Value>(id, &stored).await?;
                Ok(Ensured::ReadBack(stored.len() as u64))
            }
        }
    }
}

/// A damage error as "KEY is missing" / "KEY: what is wrong", without the remedy the
/// error's own message appends (the capture report says what it did instead).
fn damage_detail(e: &Error) -> String {
    match e {
        Error::Blob(blob::BlobError::Corrupt { key, detail }) => {
            format!("{key} is damaged: {detail}")
        }
        Error::Store(crate::store::StoreError::NotFound { key, .. }) => format!("{key} is missing"),
        other => other.to_string(),
    }
}

/// How a capture may treat a blob it references, decided from the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// Not listed: write it.
    Absent,
    /// Listed with the expected size: use it as it is (no request).
    Trusted(u64),
    /// Listed with another size, or everything must be read back: read and check it,
    /// repairing a damaged copy.
    ReadBack,
}

impl Reuse {
    /// The decision for a blob the listing shows at `listed` bytes (or not at all), which
    /// should be `expected` bytes. `deep`: the scope's dictionary was found damaged, so a
    /// blob of the right size may still be unreadable (compressed with it).
    pub fn decide(listed: Option<u64>, expected: u64, deep: bool) -> Reuse {
        match listed {
            None => Reuse::Absent,
            Some(size) if size == expected && !deep => Reuse::Trusted(size),
            Some(_) => Reuse::ReadBack,
        }
    }
}

/// What [`Archive::ensure_blob`] did; every variant but `Unsure` carries the object's stored
/// size, now known to be right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ensured {
    Written(u64),
    Intact(u64),
    ReadBack(u64),
    Repaired(u64),
    /// Stored by someone else after the listing; check it after the flush.
    Unsure(Bytes),
}

/// Checks kept by a capture, for its report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CaptureChecks {
    /// Blobs in the store listing taken before the capture relied on any.
    pub listed: u64,
    /// Stored blobs reused as they were, on the listing's word (no read, no write).
    pub reused: u64,
    /// Stored blobs read back and checked (listed with an unexpected size, or after damage).
    pub read_back: u64,
    /// Damaged or missing blobs this capture replaced with intact copies.
    pub repaired: u64,
}

#[cfg(test)]
mod tests {
    use super::super::capture::tests::{repo, Fixed};
    use super::super::{CaptureMode, SnapshotOptions};
    use super::*;
    use crate::catalog::{Catalog, Finish, MemoryCatalog, SnapshotStatus};
    use crate::id::ObjectHash;
    use crate::scope::Scope;
    use crate::store::MemoryStore;

    fn setup() -> (Archive, Arc<Fixed>) {
        let archive = Archive::new(Arc::new(MemoryStore::new()), Arc::new(MemoryCatalog::new()));
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        let tracker = Arc::new(Fixed(scope, std::sync::Mutex::new(repo()), None));
        (archive, tracker)
    }

    async fn snapshot(archive: &Archive, tracker: &Arc<Fixed>) -> super::super::SnapshotReport {
        archive
            .create_snapshot(tracker.clone(), &SnapshotOptions::default())
            .await
            .unwrap()
    }

    async fn all_entries(archive: &Archive) -> Vec<SnapshotEntry> {
        archive.catalog.list(None).await.unwrap()
    }

    /// Replaces a stored object (the damage a disk or a person does; backtrack never does).
    async fn overwrite(archive: &Archive, key: &str, bytes: &[u8]) {
        archive.store.delete(key).await.unwrap();
        archive
            .store
            .put(key, Bytes::copy_from_slice(bytes))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_parent_with_a_deleted_blob_yields_a_full_capture_that_restores_it() {
        let (archive, tracker) = setup();
        let first = snapshot(&archive, &tracker).await;
        let parent = archive.catalog.get(&first.id).await.unwrap().unwrap();
        let m = archive.load_manifest(&parent).await.unwrap();
        let victim = m.entries[3].blob.key();
        archive.store.delete(&victim).await.unwrap();

        let second = snapshot(&archive, &tracker).await;
        assert_eq!(second.status, SnapshotStatus::Completed);
        assert_eq!(second.mode, CaptureMode::Full);
        let fallback = second.fallback.clone().expect("a fallback is reported");
        assert_eq!(fallback.parent, first.id);
        assert!(fallback.reason.contains("missing"), "{}", fallback.reason);
        assert!(fallback.reason.contains(&victim), "{}", fallback.reason);
        assert!(
            second.to_string().contains("listed everything instead"),
            "{second}"
        );
        // The record still exists in the tracker, so the full capture wrote its blob again:
        // the parent is whole again too.
        let report = archive.verify(&all_entries(&archive).await).await.unwrap();
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.restorable.len(), 2);

        // Sound again: the next capture builds on its parent, reusing every blob unread.
        let third = snapshot(&archive, &tracker).await;
        assert_eq!(third.mode, CaptureMode::Incremental);
        assert!(third.fallback.is_none());
        assert_eq!(third.checks.read_back, 0, "{:?}", third.checks);
        assert!(third.checks.listed >= 200, "{:?}", third.checks);
    }

    #[tokio::test]
    async fn a_truncated_blob_found_stored_is_read_back_and_repaired() {
        let (archive, tracker) = setup();
        let first = snapshot(&archive, &tracker).await;
        let parent = archive.catalog.get(&first.id).await.unwrap().unwrap();
        let m = archive.load_manifest(&parent).await.unwrap();
        let victim = m.entries[10].blob.key();
        let good = archive.store.get(&victim).await.unwrap();
        overwrite(&archive, &victim, &good[..good.len() / 2]).await;

        let second = snapshot(&archive, &tracker).await;
        assert_eq!(second.mode, CaptureMode::Full);
        assert!(
            second
                .fallback
                .as_ref()
                .unwrap()
                .reason
                .contains("truncated"),
            "{second:?}"
        );
        assert_eq!(second.checks.repaired, 1, "{:?}", second.checks);
        assert_eq!(archive.store.get(&victim).await.unwrap(), good);
        let report = archive.verify(&all_entries(&archive).await).await.unwrap();
        assert!(report.is_ok(), "{report}");
    }

    /// The subtle case: a record version the parent does not hold, whose blob is already
    /// stored (an earlier snapshot held it) but damaged. Its put would find the key taken;
    /// the listing shows it at the wrong size, so it is read back and replaced.
    #[tokio::test]
    async fn a_damaged_blob_a_put_would_find_existing_is_not_trusted() {
        let (archive, tracker) = setup();
        let original = tracker.1.lock().unwrap().issues[&7].title.clone();
        snapshot(&archive, &tracker).await;
        let first = all_entries(&archive).await.remove(0);
        let m1 = archive.load_manifest(&first).await.unwrap();
        let issue7 = m1
            .entries
            .iter()
            .find(|e| e.key().to_string() == "issue:7")
            .unwrap()
            .blob
            .key();
        // Issue 7 changes, then changes back: the third capture's version is the first's.
        tracker.1.lock().unwrap().issues.get_mut(&7).unwrap().title = "changed".into();
        snapshot(&archive, &tracker).await;
        let good = archive.store.get(&issue7).await.unwrap();
        overwrite(&archive, &issue7, &good[..good.len() - 3]).await;
        tracker.1.lock().unwrap().issues.get_mut(&7).unwrap().title = original;

        let third = snapshot(&archive, &tracker).await;
        assert_eq!(third.mode, CaptureMode::Incremental, "{third:?}");
        assert_eq!(third.checks.read_back, 1, "{:?}", third.checks);
        assert_eq!(third.checks.repaired, 1, "{:?}", third.checks);
        assert_eq!(archive.store.get(&issue7).await.unwrap(), good);
        let report = archive.verify(&all_entries(&archive).await).await.unwrap();
        assert!(report.is_ok(), "{report}");
    }

    #[tokio::test]
    async fn every_bit_flip_of_a_manifest_is_caught_before_use() {
        let (archive, tracker) = setup();
        snapshot(&archive, &tracker).await;
        let entry = all_entries(&archive).await.remove(0);
        let good = archive.store.get(&entry.manifest_key).await.unwrap();
        for bit in 0..good.len() * 8 {
            let mut flipped = good.to_vec();
            flipped[bit / 8] ^= 1 << (bit % 8);
            overwrite(&archive, &entry.manifest_key, &flipped).await;
            let err = archive.load_manifest(&entry).await.unwrap_err();
            assert!(err.is_damage(), "bit {bit}: {err}");
        }
        overwrite(&archive, &entry.manifest_key, &good).await;
        archive.load_manifest(&entry).await.unwrap();
    }

    /// Walking a manifest's entries as they are parsed hands some over before a damaged
    /// table is found: the walk must still fail, whatever the damage.
    #[tokio::test]
    async fn a_damaged_entry_table_fails_the_walk_of_its_entries() {
        let (archive, tracker) = setup();
        snapshot(&archive, &tracker).await;
        tracker.1.lock().unwrap().issues.get_mut(&3).unwrap().title = "x".into();
        snapshot(&archive, &tracker).await;
        for entry in all_entries(&archive).await {
            let header = archive.load_manifest_header(&entry).await.unwrap();
            let table = header.entries_blob.key();
            let good = archive.store.get(&table).await.unwrap();
            let truncated = good[..good.len() - 5].to_vec();
            let mut flipped = good.to_vec();
            let at = flipped.len() / 2;
            flipped[at] ^= 0x10;
            for bad in [truncated, flipped] {
                overwrite(&archive, &table, &bad).await;
                let mut seen = 0;
                let err = archive
                    .for_each_entry(&entry, |_| seen += 1)
                    .await
                    .unwrap_err();
                assert!(err.is_damage(), "{err}");
                assert!(archive.load_manifest(&entry).await.is_err());
            }
            overwrite(&archive, &table, &good).await;
            let mut seen = 0u64;
            archive.for_each_entry(&entry, |_| seen += 1).await.unwrap();
            assert_eq!(seen, entry.counts.total());
        }
    }

    /// An entry written before manifests were hashed: read (cross-checked against its entry),
    /// never built on, reported unverified, and hashed once it checks out whole.
    #[tokio::test]
    async fn entries_without_a_manifest_hash_are_read_not_built_on_and_can_be_hashed() {
        let (archive, tracker) = setup();
        snapshot(&archive, &tracker).await;
        let hashed = all_entries(&archive).await.remove(0);
        // The same snapshot as an older backtrack would have catalogued it.
        let legacy_catalog = Arc::new(MemoryCatalog::new());
        let mut legacy = hashed.clone();
        legacy.status = SnapshotStatus::Pending;
        legacy.manifest_hash = None;
        legacy_catalog.create(&legacy).await.unwrap();
        let finish = Finish {
            status: SnapshotStatus::Completed,
            finished_at: chrono::Utc::now(),
            counts: hashed.counts,
            bytes: hashed.bytes,
            requests: hashed.requests,
            error: None,
            manifest_hash: None,
        };
        legacy_catalog.finish(&legacy.id, &finish).await.unwrap();
        let archive = Archive::new(archive.store.clone(), legacy_catalog.clone());
        let legacy = archive.catalog.get(&hashed.id).await.unwrap().unwrap();
        archive.load_manifest(&legacy).await.unwrap();

        let report = archive.verify(std::slice::from_ref(&legacy)).await.unwrap();
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.unverified, [legacy.id]);
        assert!(report.to_string().contains("--record-hashes"), "{report}");

        let next = snapshot(&archive, &tracker).await;
        assert_eq!(next.mode, CaptureMode::Full);
        assert!(
            next.fallback
                .as_ref()
                .unwrap()
                .reason
                .contains("before manifests were hashed"),
            "{next:?}"
        );

        let recorded = archive
            .verify_with(
                std::slice::from_ref(&legacy),
                super::super::VerifyOptions {
                    record_hashes: true,
                },
            )
            .await
            .unwrap();
        assert_eq!(recorded.recorded, [legacy.id]);
        let stored = archive.store.get(&legacy.manifest_key).await.unwrap();
        assert_eq!(
            archive
                .catalog
                .get(&legacy.id)
                .await
                .unwrap()
                .unwrap()
                .manifest_hash,
            Some(ObjectHash::of(&stored))
        );
    }

    #[tokio::test]
    async fn a_manifest_swapped_for_another_snapshots_is_refused() {
        let (archive, tracker) = setup();
        snapshot(&archive, &tracker).await;
        tracker.1.lock().unwrap().issues.get_mut(&3).unwrap().title = "x".into();
        snapshot(&archive, &tracker).await;
        let entries = all_entries(&archive).await;
        let (newer, older) = (&entries[0], &entries[1]);
        let other = archive.store.get(&older.manifest_key).await.unwrap();
        overwrite(&archive, &newer.manifest_key, &other).await;
        let err = archive.load_manifest(newer).await.unwrap_err();
        assert!(err.to_string().contains("hash to"), "{err}");
        let err = archive.for_each_entry(newer, |_| {}).await.unwrap_err();
        assert!(err.to_string().contains("hash to"), "{err}");
        // Without a recorded hash the header's own fields give it away.
        let mut unhashed = newer.clone();
        unhashed.manifest_hash = None;
        let err = archive.load_manifest(&unhashed).await.unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
        let err = archive.for_each_entry(&unhashed, |_| {}).await.unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
    }

    #[test]
    fn reuse_decisions() {
        assert_eq!(Reuse::decide(None, 10, false), Reuse::Absent);
        assert_eq!(Reuse::decide(Some(10), 10, false), Reuse::Trusted(10));
        assert_eq!(Reuse::decide(Some(9), 10, false), Reuse::ReadBack);
        assert_eq!(Reuse::decide(Some(10), 10, true), Reuse::ReadBack);
        assert_eq!(Reuse::decide(None, 10, true), Reuse::Absent);
    }
}
