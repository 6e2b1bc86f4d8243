//! A snapshot entry's life after its capture: what its status really is now, and how it is
//! deleted.
//!
//! - A `pending` entry is a capture in progress only while the capture's store lease (its
//!   `lease` token, see [`crate::lease`]) is live. Once that lease has expired the capturing
//!   process is gone (killed, crashed, its machine asleep past the lease) and the entry is
//!   reported `failed` ([`Archive::entries`]); the next capture of the scope records it so
//!   ([`Archive::fail_abandoned`]) and `prune` drops it.
//! - Deleting removes data before the index: the entry becomes `deleting`, then its manifest
//!   goes, and only then its row. A deletion that fails halfway (a read-only folder, a lost
//!   connection) leaves a row that says `deleting` and is finished by running the delete
//!   again (or by the next prune), never a vanished snapshot whose manifest is still there
//!   nor a `completed` one whose manifest is gone.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Archive;
use crate::catalog::{ByteStats, Finish, SnapshotEntry, SnapshotStatus};
use crate::error::{Error, Result};
use crate::lease::{self, LeaseTable};
use crate::manifest::Counts;
use crate::scope::Scope;

/// What an abandoned capture's entry says, shown as its error.
pub const ABANDONED: &str =
    "abandoned: the capturing process stopped (its store lease expired) before it finished";

/// Whether `entry` is a `pending` capture whose process is gone: its lease is not live in
/// `leases`. Entries without a lease (written before captures held one) are judged by age
/// elsewhere (`prune`'s stale-pending rule), never here.
pub fn is_abandoned(entry: &SnapshotEntry, leases: &LeaseTable, now: DateTime<Utc>) -> bool {
    entry.status == SnapshotStatus::Pending
        && entry
            .lease
            .as_deref()
            .is_some_and(|token| !leases.holds(token, now))
}

/// `entry` as it stands: an abandoned capture is `failed`, with [`ABANDONED`] as its error.
fn as_it_stands(mut entry: SnapshotEntry) -> SnapshotEntry {
    entry.status = SnapshotStatus::Failed;
    entry.error = Some(ABANDONED.to_string());
    entry
}

/// An entry `verify` did not check, and why (it names every one, so nothing is skipped
/// silently).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub id: crate::id::SnapshotId,
    pub status: SnapshotStatus,
    pub reason: String,
}

/// The entries among `entries` that are not completed snapshots, with the reason each has
/// nothing to verify.
pub fn skipped(entries: &[SnapshotEntry]) -> Vec<Skipped> {
    entries
        .iter()
        .filter_map(|e| {
            let reason = match e.status {
                SnapshotStatus::Completed => return None,
                SnapshotStatus::Pending => {
                    "a capture in progress: its manifest is not written yet".to_string()
                }
                SnapshotStatus::Failed if e.error.as_deref() == Some(ABANDONED) => {
                    "an abandoned capture (its process stopped): it never completed".to_string()
                }
                SnapshotStatus::Failed => format!(
                    "a failed capture: {}",
                    e.error.as_deref().unwrap_or("no manifest was written")
                ),
                SnapshotStatus::Deleting => {
                    "being deleted: its manifest may already be gone".to_string()
                }
            };
            Some(Skipped {
                id: e.id,
                status: e.status,
                reason,
            })
        })
        .collect()
}

impl Archive {
    /// The entries of one scope (or all), newest first, with their status as it stands:
    /// a `pending` entry whose capture is gone is reported `failed` (see the module docs).
    /// Listings, `verify` and `prune` all go through here, so they agree.
    pub async fn entries(&self, scope: Option<&Scope>) -> Result<Vec<SnapshotEntry>> {
        let entries = self.catalog.list(scope).await?;
        if !entries
            .iter()
            .any(|e| e.status == SnapshotStatus::Pending && e.lease.is_some())
        {
            return Ok(entries);
        }
        let leases = lease::read(&*self.catalog).await?;
        let now = Utc::now();
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            if !is_abandoned(&entry, &leases, now) {
                out.push(entry);
                continue;
            }
            // The listing may be older than the lease table: a capture that finished in
            // between released its lease after completing its entry, so read the entry again
            // before calling it abandoned.
            match self.catalog.get(&entry.id).await? {
                Some(fresh) if fresh.status == SnapshotStatus::Pending => {
                    out.push(as_it_stands(fresh))
                }
                Some(fresh) => out.push(fresh),
                None => {}
            }
        }
        Ok(out)
    }

    /// One entry as it stands (see [`Archive::entries`]).
    pub async fn standing(&self, entry: SnapshotEntry) -> Result<SnapshotEntry> {
        if entry.status != SnapshotStatus::Pending || entry.lease.is_none() {
            return Ok(entry);
        }
        let leases = lease::read(&*self.catalog).await?;
        Ok(if is_abandoned(&entry, &leases, Utc::now()) {
            as_it_stands(entry)
        } else {
            entry
        })
    }

    /// Records every abandoned capture of `scope` as `failed` (a conditional finish, so a
    /// capture that completes meanwhile wins). Returns how many were.
    pub async fn fail_abandoned(&self, scope: &Scope) -> Result<usize> {
        let mut failed = 0;
        for entry in self.entries(Some(scope)).await? {
            if entry.status != SnapshotStatus::Failed || entry.error.as_deref() != Some(ABANDONED) {
                continue;
            }
            let finish = Finish {
                status: SnapshotStatus::Failed,
                finished_at: Utc::now(),
                counts: Counts::default(),
                bytes: ByteStats::default(),
                requests: 0,
                error: Some(ABANDONED.to_string()),
                manifest_hash: None,
            };
            match self.catalog.finish(&entry.id, &finish).await {
                Ok(()) => failed += 1,
                // Finished (or removed) by someone else in the meantime: nothing to record.
                Err(crate::catalog::CatalogError::Conflict { .. })
                | Err(crate::catalog::CatalogError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if failed > 0 {
            tracing::info!(scope = %scope, failed, "abandoned captures recorded as failed");
        }
        Ok(failed)
    }

    /// Deletes a snapshot: its manifest, then its row (see the module docs). Blobs stay
    /// until `prune` collects the ones no manifest references. A pinned snapshot needs
    /// `force`; a capture still running cannot be deleted.
    pub async fn delete_snapshot(&self, entry: &SnapshotEntry, force: bool) -> Result<()> {
        if entry.pinned && !force {
            return Err(Error::Refused(format!(
                "snapshot {} is pinned; unpin it or pass --force to delete it anyway",
                entry.id
            )));
        }
        // An abandoned capture's process is gone: it may be deleted like a failed one.
        let entry = self.standing(entry.clone()).await?;
        if entry.status == SnapshotStatus::Pending {
            return Err(Error::Refused(format!(
                "snapshot {} is a capture still running; wait for it to finish (or, if its process is gone, for its lease to expire) and delete it then",
                entry.id
            )));
        }
        self.remove_snapshot(&entry).await
    }

    /// The deletion itself, for `delete_snapshot` and `prune` (which decided already).
    pub(crate) async fn remove_snapshot(&self, entry: &SnapshotEntry) -> Result<()> {
        // `deleting` first: from here no reader uses the manifest, and a failure below
        // leaves a row that says what happened.
        self.catalog.mark_deleting(&entry.id).await?;
        if let Err(e) = self.store.delete(&entry.manifest_key).await {
            return Err(Error::Invalid(format!(
                "snapshot {} is now marked `deleting`, but its manifest could not be removed ({e}); fix that and run `backtrack snapshot delete {}` again to finish",
                entry.id, entry.id
            )));
        }
        self.catalog.delete(&entry.id).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::catalog::{Catalog, MemoryCatalog};
    use crate::id::SnapshotId;
    use crate::lease::{LeaseOptions, StoreLease};
    use crate::manifest::Trigger;
    use crate::store::{MemoryStore, ObjectStore};

    fn pending(scope: &Scope, lease: Option<&str>) -> SnapshotEntry {
        let id = SnapshotId::new();
        SnapshotEntry {
            id,
            scope: scope.clone(),
            name: None,
            trigger: Trigger::Manual,
            status: SnapshotStatus::Pending,
            created_at: Utc::now(),
            finished_at: None,
            counts: Counts::default(),
            bytes: ByteStats::default(),
            requests: 0,
            manifest_key: crate::keys::manifest(scope, &id),
            parent: None,
            pinned: false,
            expires_at: None,
            error: None,
            manifest_hash: None,
            lease: lease.map(str::to_string),
        }
    }

    #[tokio::test]
    async fn a_pending_entry_without_a_live_lease_stands_failed_until_recorded() {
        let catalog: Arc<dyn Catalog> = Arc::new(MemoryCatalog::new());
        let archive = Archive::new(Arc::new(MemoryStore::new()), catalog.clone());
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        let live = StoreLease::capture(catalog.clone(), "live", LeaseOptions::default())
            .await
            .unwrap();
        let running = pending(&scope, Some(live.token()));
        let gone = pending(&scope, Some("01-a-lease-nobody-holds"));
        let legacy = pending(&scope, None);
        for e in [&running, &gone, &legacy] {
            catalog.create(e).await.unwrap();
        }
        let status = |entries: &[SnapshotEntry], id| {
            entries
                .iter()
                .find(|e| e.id == id)
                .map(|e| (e.status, e.error.clone()))
                .unwrap()
        };
        let now = archive.entries(Some(&scope)).await.unwrap();
        assert_eq!(status(&now, running.id).0, SnapshotStatus::Pending);
        assert_eq!(status(&now, legacy.id).0, SnapshotStatus::Pending);
        assert_eq!(
            status(&now, gone.id),
            (SnapshotStatus::Failed, Some(ABANDONED.to_string()))
        );
        // Stored as pending until a writer records it.
        let stored = catalog.get(&gone.id).await.unwrap().unwrap();
        assert_eq!(stored.status, SnapshotStatus::Pending);
        assert_eq!(archive.fail_abandoned(&scope).await.unwrap(), 1);
        let stored = catalog.get(&gone.id).await.unwrap().unwrap();
        assert_eq!(stored.status, SnapshotStatus::Failed);
        assert_eq!(archive.fail_abandoned(&scope).await.unwrap(), 0);
        live.release().await.unwrap();
    }

    /// A store whose deletes fail, like a read-only folder.
    #[derive(Debug)]
    struct NoDelete(MemoryStore);

    #[async_trait::async_trait]
    impl ObjectStore for NoDelete {
        fn location(&self) -> String {
            "memory:no-delete".into()
        }
        async fn put(
            &self,
            key: &str,
            bytes: bytes::Bytes,
        ) -> std::result::Result<crate::store::PutOutcome, crate::store::StoreError> {
            self.0.put(key, bytes).await
        }
        async fn get(
            &self,
            key: &str,
        ) -> std::result::Result<bytes::Bytes, crate::store::StoreError> {
            self.0.get(key).await
        }
        async fn exists(&self, key: &str) -> std::result::Result<bool, crate::store::StoreError> {
            self.0.exists(key).await
        }
        async fn list(
            &self,
            prefix: &str,
        ) -> std::result::Result<Vec<crate::store::ObjectInfo>, crate::store::StoreError> {
            self.0.list(prefix).await
        }
        async fn delete(&self, key: &str) -> std::result::Result<(), crate::store::StoreError> {
            Err(crate::store::StoreError::PermissionDenied {
                store: self.location(),
                detail: format!("{key}: read-only"),
            })
        }
    }

    #[tokio::test]
    async fn a_failed_delete_leaves_a_deleting_row_and_a_retry_finishes() {
        let catalog: Arc<dyn Catalog> = Arc::new(MemoryCatalog::new());
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        let mut entry = pending(&scope, None);
        entry.status = SnapshotStatus::Completed;
        catalog.create(&entry).await.unwrap();
        let stuck = Archive::new(Arc::new(NoDelete(MemoryStore::new())), catalog.clone());
        let err = stuck.delete_snapshot(&entry, false).await.unwrap_err();
        assert!(err.to_string().contains("`deleting`"), "{err}");
        assert!(err.to_string().contains(&entry.id.to_string()), "{err}");
        let row = catalog.get(&entry.id).await.unwrap().unwrap();
        assert_eq!(row.status, SnapshotStatus::Deleting, "the row says so");
        let fixed = Archive::new(Arc::new(MemoryStore::new()), catalog.clone());
        fixed.delete_snapshot(&row, false).await.unwrap();
        assert_eq!(catalog.get(&entry.id).await.unwrap(), None);
    }
}
