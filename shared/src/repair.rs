//! Repairs and the checks that point to them: a catalog that went missing while its store
//! still holds manifests is an error with a way out, and [`reindex`] is that way out.
//!
//! Manifests are self-describing (id, scope, name, trigger, creation time, parent, every
//! record), so the index of completed snapshots can be rebuilt from them. What only the
//! catalog knew cannot: pins, expiry dates, capture figures (requests made, bytes new),
//! failed or interrupted captures (they have no manifest), rollback jobs with their journals,
//! locks and handled webhook deliveries. A rebuilt entry records no manifest hash: a hash taken
//! from the manifest as found would vouch for whatever damage it has. Such entries read with
//! their headers cross-checked, are never built on by an incremental capture, and
//! `backtrack verify --all --record-hashes` records their hashes once everything each manifest
//! references checks out.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::catalog::{ByteStats, CatalogError, SnapshotEntry, SnapshotStatus};
use crate::error::{Error, Result};
use crate::id::SnapshotId;
use crate::keys;
use crate::lease::{self, LeaseOptions, StoreLease};
use crate::scope::Scope;
use crate::snapshot::Archive;
use crate::store::ObjectStore;

/// What cannot come back from manifests, said wherever a rebuild is offered or done.
pub const NOT_RECOVERABLE: &str = "pins, expiry dates, capture figures (requests, bytes new), failed or interrupted captures and rollback jobs are not in the manifests and do not come back";

/// The error for a catalog that does not exist, given what its store holds: when the store
/// has manifests the catalog was lost (not never made), and the way out is a rebuild;
/// otherwise the catalog's own `Missing` error (which says how to create one).
pub async fn missing_catalog(store: &dyn ObjectStore, missing: CatalogError) -> Error {
    let catalog = match &missing {
        CatalogError::Missing { catalog, .. } => catalog.clone(),
        _ => return missing.into(),
    };
    match store.list(keys::MANIFESTS).await {
        Ok(manifests) if !manifests.is_empty() => Error::Invalid(format!(
            "catalog {catalog} does not exist, but store {} holds {} snapshot manifest(s): the catalog was lost. Rebuild it from them with `backtrack repair --reindex` (names, scopes, triggers and dates come back; {NOT_RECOVERABLE})",
            store.location(),
            manifests.len()
        )),
        // An empty store (or one that cannot be listed): nothing to recover, so say how to
        // create the catalog.
        _ => missing.into(),
    }
}

/// Refuses to create a new, empty catalog beside a store that already holds manifests (it
/// would hide them): `init` and `snapshot create` check this before creating one.
pub async fn check_new_catalog(store: &dyn ObjectStore, catalog: &str) -> Result<()> {
    let missing = CatalogError::Missing {
        catalog: catalog.to_string(),
        detail: "about to create it".into(),
    };
    match missing_catalog(store, missing).await {
        Error::Catalog(CatalogError::Missing { .. }) => Ok(()),
        other => Err(other),
    }
}

/// The ids of every entry in the catalog.
async fn indexed_ids(archive: &Archive) -> Result<HashSet<SnapshotId>> {
    Ok(archive
        .catalog
        .list(None)
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect())
}

/// Manifests in the store that no catalog entry names (a catalog that lost entries, or
/// an empty one recreated beside the store): one problem line each, naming the way out.
pub async fn unindexed_manifests(archive: &Archive) -> Result<Vec<String>> {
    let indexed = indexed_ids(archive).await?;
    Ok(archive
        .store
        .list(keys::MANIFESTS)
        .await?
        .into_iter()
        .filter(|o| keys::manifest_snapshot(&o.key).is_some_and(|id| !indexed.contains(&id)))
        .map(|o| {
            format!(
                "manifest {} has no catalog entry, so no command can use it; rebuild the entries with `backtrack repair --reindex`",
                o.key
            )
        })
        .collect())
}

/// One entry a rebuild added.
#[derive(Debug, Clone, Serialize)]
pub struct Reindexed {
    pub id: SnapshotId,
    pub scope: Scope,
    pub name: Option<String>,
}

/// What [`reindex`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReindexReport {
    /// Manifests found in the store.
    pub manifests: u64,
    /// Entries created from them.
    pub added: Vec<Reindexed>,
    /// Manifests whose entry the catalog already had.
    pub already_indexed: u64,
    /// Manifests that could not be read (`key: why`): not indexed.
    pub unreadable: Vec<String>,
    /// What a rebuild cannot recover.
    pub not_recovered: &'static str,
}

impl fmt::Display for ReindexReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Found {} manifest(s): {} entr{} added, {} already in the catalog, {} unreadable.",
            self.manifests,
            self.added.len(),
            if self.added.len() == 1 { "y" } else { "ies" },
            self.already_indexed,
            self.unreadable.len()
        )?;
        for a in &self.added {
            writeln!(
                f,
                "  + {} {}{}",
                a.id,
                a.scope,
                a.name
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            )?;
        }
        for u in &self.unreadable {
            writeln!(f, "  ✗ {u}")?;
        }
        write!(
            f,
            "Not recovered: {}. Check the rebuilt snapshots and record their manifest hashes with `backtrack verify --all --record-hashes`.",
            self.not_recovered
        )
    }
}

/// Adds a `completed` entry for every manifest in the store that the catalog lacks (see the
/// module docs for what comes back). Holds the store's exclusive lease, so no capture or
/// collection changes the store meanwhile. Entries already present are left as they are.
pub async fn reindex(archive: &Archive) -> Result<ReindexReport> {
    let lease = StoreLease::collect(
        Arc::clone(&archive.catalog),
        &lease::holder("repair --reindex"),
        LeaseOptions::default(),
    )
    .await?;
    let result = rebuild(archive).await;
    if let Err(e) = lease.release().await {
        tracing::warn!(error = %e, "could not release the repair's store lease; it expires on its own");
    }
    result
}

async fn rebuild(archive: &Archive) -> Result<ReindexReport> {
    let indexed = indexed_ids(archive).await?;
    let mut report = ReindexReport {
        not_recovered: NOT_RECOVERABLE,
        ..ReindexReport::default()
    };
    for object in archive.store.list(keys::MANIFESTS).await? {
        let Some(id) = keys::manifest_snapshot(&object.key) else {
            continue;
        };
        report.manifests += 1;
        if indexed.contains(&id) {
            report.already_indexed += 1;
            continue;
        }
        let entry = match recover(archive, &object.key, id, object.modified).await {
            Ok(entry) => entry,
            Err(e) => {
                report.unreadable.push(format!("{}: {e}", object.key));
                continue;
            }
        };
        archive.catalog.create(&entry).await?;
        report.added.push(Reindexed {
            id: entry.id,
            scope: entry.scope,
            name: entry.name,
        });
    }
    report.added.sort_by_key(|a| a.id);
    Ok(report)
}

/// The entry a manifest describes.
async fn recover(
    archive: &Archive,
    key: &str,
    id: SnapshotId,
    modified: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<SnapshotEntry> {
    let manifest = archive.read_manifest(key, None).await?;
    if manifest.id != id {
        return Err(Error::Invalid(format!(
            "it describes snapshot {}, not the {id} its key names",
            manifest.id
        )));
    }
    Ok(SnapshotEntry {
        id,
        scope: manifest.scope.clone(),
        name: manifest.name.clone(),
        trigger: manifest.trigger,
        status: SnapshotStatus::Completed,
        created_at: manifest.created_at,
        finished_at: modified,
        counts: manifest.counts(),
        bytes: ByteStats {
            logical: manifest.logical_bytes(),
            stored_new: 0,
        },
        requests: 0,
        manifest_key: key.to_string(),
        parent: manifest.parent,
        pinned: false,
        expires_at: None,
        error: None,
        manifest_hash: None,
        lease: None,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::catalog::{Catalog, MemoryCatalog};
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn a_lost_catalog_is_rebuilt_from_the_manifests() {
        let store = Arc::new(MemoryStore::new());
        let before = Archive::new(store.clone(), Arc::new(MemoryCatalog::new()));
        let scope: Scope = "github:acme/widgets".parse().unwrap();
        // ULIDs of one millisecond are random among themselves: sort them into age order.
        let mut ids = [SnapshotId::new(), SnapshotId::new()];
        ids.sort();
        let mut written = Vec::new();
        for (i, name) in [Some("before-sync"), None].into_iter().enumerate() {
            let mut manifest = crate::manifest::Manifest {
                format: crate::manifest::MANIFEST_FORMAT,
                id: ids[i],
                scope: scope.clone(),
                name: name.map(str::to_string),
                trigger: crate::manifest::Trigger::Schedule,
                created_at: chrono::Utc::now(),
                parent: written.last().copied(),
                cursor: Default::default(),
                dict: None,
                dict_hash: None,
                activity: None,
                tables: Vec::new(),
                table_hashes: Vec::new(),
                entries: Vec::new(),
            };
            manifest.sort_entries();
            before.write_manifest(&manifest).await.unwrap();
            written.push(manifest.id);
            assert_eq!(written.len(), i + 1);
        }
        // The catalog is gone: opening it says how to get it back.
        let missing = CatalogError::Missing {
            catalog: "sqlite:///x".into(),
            detail: "no file".into(),
        };
        let err = missing_catalog(&*store, missing).await;
        assert!(err.to_string().contains("repair --reindex"), "{err}");
        assert!(err.to_string().contains("2 snapshot manifest(s)"), "{err}");
        assert!(check_new_catalog(&*store, "sqlite:///x").await.is_err());
        assert!(check_new_catalog(&MemoryStore::new(), "sqlite:///y")
            .await
            .is_ok());

        let catalog: Arc<dyn Catalog> = Arc::new(MemoryCatalog::new());
        let after = Archive::new(store.clone(), catalog.clone());
        let report = reindex(&after).await.unwrap();
        assert_eq!(report.manifests, 2);
        assert_eq!(report.added.len(), 2, "{report}");
        let entries = catalog.list(Some(&scope)).await.unwrap();
        assert_eq!(entries.len(), 2);
        let newest = &entries[0];
        assert_eq!(newest.id, written[1]);
        assert_eq!(newest.parent, Some(written[0]));
        assert_eq!(newest.status, SnapshotStatus::Completed);
        assert_eq!(entries[1].name.as_deref(), Some("before-sync"));
        assert!(
            newest.manifest_hash.is_none(),
            "a hash taken from the manifest as found would vouch for its damage"
        );
        assert_eq!(after.latest(&scope).await.unwrap().unwrap().id, written[1]);
        // Again: nothing to add.
        let again = reindex(&after).await.unwrap();
        assert_eq!((again.added.len(), again.already_indexed), (0, 2));
    }
}
