//! [`Checkout`]: a plain clone of an archive branch, read as an archive (`--store
//! file://CLONE`). Read-only: objects decode from their base64 files, the catalog reads its
//! entry files; anything that would write says to use `git://BRANCH` instead.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use super::layout::{self, catalog as paths};
use crate::catalog::{
    Catalog, CatalogError, Cell, Claim, Finish, JobEntry, JobStatus, JournalEntry, LockInfo,
    SnapshotEntry,
};
use crate::id::{JobId, ObjectHash, SnapshotId};
use crate::scope::Scope;
use crate::store::{
    validate_key, validate_prefix, ObjectInfo, ObjectStore, PutOutcome, StoreError,
};

/// A checked-out archive branch (its root holds `backtrack.json`).
#[derive(Debug, Clone)]
pub struct Checkout {
    root: PathBuf,
}

const READ_ONLY: &str = "a clone of an archive branch is read-only; write through --store git://BRANCH (with GITHUB_TOKEN) instead";

impl Checkout {
    /// The clone at `root`, if that folder is one (it has the format marker at its root).
    pub fn detect(root: &Path) -> Option<Checkout> {
        let marker = std::fs::read(root.join(layout::FORMAT)).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&marker).ok()?;
        (v["format"] == "backtrack-git-archive").then(|| Checkout {
            root: root.to_path_buf(),
        })
    }

    fn location(&self) -> String {
        format!(
            "file://{} (a clone of an archive branch)",
            self.root.display()
        )
    }

    fn io(&self, key: &str, e: std::io::Error) -> StoreError {
        StoreError::Io {
            store: ObjectStore::location(self),
            key: key.to_string(),
            detail: e.to_string(),
        }
    }

    fn read_only(&self) -> StoreError {
        StoreError::PermissionDenied {
            store: ObjectStore::location(self),
            detail: READ_ONLY.into(),
        }
    }

    fn catalog_read_only(&self) -> CatalogError {
        CatalogError::Unavailable {
            catalog: Catalog::location(self),
            detail: READ_ONLY.into(),
        }
    }

    /// Whether `path` holds a parts index rather than an object's text: executable (as git
    /// checks it out), or (where the bit is lost) starting with the index header.
    fn is_parts_index(path: &Path, meta: &std::fs::Metadata) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o111 != 0 {
                return true;
            }
        }
        meta.len() < 64
            && std::fs::read(path).is_ok_and(|b| b.starts_with(layout::PARTS_HEADER.as_bytes()))
    }

    fn read_object(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.root.join(layout::object_path(key));
        let meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(key, e)),
        };
        let text = std::fs::read(&path).map_err(|e| self.io(key, e))?;
        let corrupt = |detail: String| StoreError::Io {
            store: ObjectStore::location(self),
            key: key.to_string(),
            detail,
        };
        let text = if Self::is_parts_index(&path, &meta) {
            let (_, parts) = layout::parse_parts_index(&text)
                .ok_or_else(|| corrupt("an executable file that is not a parts index".into()))?;
            let mut joined = Vec::new();
            for n in 0..parts {
                let part = self.root.join(layout::part_path(key, n));
                joined.extend(std::fs::read(&part).map_err(|e| self.io(key, e))?);
            }
            joined
        } else {
            text
        };
        // A checkout on Windows may have added a line ending.
        let trimmed: Vec<u8> = text
            .into_iter()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        layout::decode(&trimmed).map(Some).map_err(corrupt)
    }

    /// Every file below `dir` (relative to the root), sorted.
    fn walk(&self, dir: &str) -> std::io::Result<Vec<(String, PathBuf)>> {
        let mut out = Vec::new();
        let mut todo = vec![(dir.trim_end_matches('/').to_string(), self.root.join(dir))];
        while let Some((rel, path)) = todo.pop() {
            let entries = match std::fs::read_dir(&path) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let child = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                if entry.file_type()?.is_dir() {
                    todo.push((child, entry.path()));
                } else {
                    out.push((child, entry.path()));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn catalog_files<T: serde::de::DeserializeOwned>(
        &self,
        dir: &str,
    ) -> Result<Vec<T>, CatalogError> {
        let files = self.walk(dir).map_err(|e| CatalogError::Backend {
            catalog: Catalog::location(self),
            detail: e.to_string(),
        })?;
        files
            .into_iter()
            .filter(|(rel, _)| rel.ends_with(".json"))
            .map(|(rel, path)| {
                let bytes = std::fs::read(&path).map_err(|e| CatalogError::Backend {
                    catalog: Catalog::location(self),
                    detail: format!("{rel}: {e}"),
                })?;
                serde_json::from_slice(&bytes).map_err(|e| CatalogError::Corrupt {
                    catalog: Catalog::location(self),
                    detail: format!("{rel}: {e}"),
                })
            })
            .collect()
    }
}

#[async_trait]
impl ObjectStore for Checkout {
    fn location(&self) -> String {
        Checkout::location(self)
    }

    async fn put(&self, key: &str, _bytes: Bytes) -> Result<PutOutcome, StoreError> {
        validate_key(key)?;
        Err(self.read_only())
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        validate_key(key)?;
        match self.read_object(key)? {
            Some(bytes) => Ok(Bytes::from(bytes)),
            None => Err(StoreError::NotFound {
                store: ObjectStore::location(self),
                key: key.to_string(),
            }),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        validate_key(key)?;
        Ok(self.root.join(layout::object_path(key)).is_file())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        validate_prefix(prefix)?;
        let full = layout::object_path(prefix);
        let dir = full.rsplit_once('/').map_or("", |(d, _)| d);
        let files = self.walk(dir).map_err(|e| self.io(prefix, e))?;
        let mut out = Vec::new();
        for (rel, path) in files.into_iter().filter(|(rel, _)| rel.starts_with(&full)) {
            let meta = std::fs::metadata(&path).map_err(|e| self.io(&rel, e))?;
            let size = if Self::is_parts_index(&path, &meta) {
                std::fs::read(&path)
                    .ok()
                    .and_then(|b| layout::parse_parts_index(&b))
                    .map_or(0, |(s, _)| s)
            } else {
                layout::decoded_len(meta.len())
            };
            out.push(ObjectInfo {
                key: layout::object_key(&rel).unwrap_or(&rel).to_string(),
                size,
                modified: None,
            });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        Err(self.read_only())
    }
}

#[async_trait]
impl Catalog for Checkout {
    fn location(&self) -> String {
        Checkout::location(self)
    }

    async fn create(&self, _entry: &SnapshotEntry) -> Result<(), CatalogError> {
        Err(self.catalog_read_only())
    }

    async fn get(&self, id: &SnapshotId) -> Result<Option<SnapshotEntry>, CatalogError> {
        Ok(Catalog::list(self, None)
            .await?
            .into_iter()
            .find(|e| e.id == *id))
    }

    async fn list(&self, scope: Option<&Scope>) -> Result<Vec<SnapshotEntry>, CatalogError> {
        let dir = match scope {
            Some(s) => paths::snapshot_dir(&s.slug()),
            None => paths::SNAPSHOTS.trim_end_matches('/').to_string(),
        };
        let mut all: Vec<SnapshotEntry> = self.catalog_files(&dir)?;
        all.sort_by_key(|e| std::cmp::Reverse(e.id));
        Ok(all)
    }

    async fn finish(&self, _id: &SnapshotId, _finish: &Finish) -> Result<(), CatalogError> {
        Err(self.catalog_read_only())
    }

    async fn restart(
        &self,
        _entry: &SnapshotEntry,
        _expected: &[crate::catalog::SnapshotStatus],
    ) -> Result<(), CatalogError> {
        Err(self.catalog_read_only())
    }

    async fn record_manifest_hash(
        &self,
        _id: &SnapshotId,
        _hash: &ObjectHash,
    ) -> Result<(), CatalogError> {
        Err(self.catalog_read_only())
    }

    async fn set_pinned(&self, _id: &SnapshotId, _pinned: bool) -> Result<(), CatalogError> {
        Err(self.catalog_read_only())
    }

    async fn mark_deleting(&self, _id: &SnapshotId) -> Result<(), CatalogError> {
        Err(self.catalog_read_only())
    }

    async fn delete(&self, _id: &SnapshotId) -> Result<(), CatalogError> {
        Err(self.catalog_read_only())
    }

    async fn lock(&self, _lock: &LockInfo) -> Result<(), CatalogError> {
        Err(self.catalog_read_only())
    }

    async fn renew_lock(&self, _lock: &LockInfo) -> Result<(), CatalogError> {
        Err(self.catalog_read_only())
    }

    async fn unlock(&self, _scope: &Scope, _token: &str) -> Result<(), CatalogError> {
        Ok(())
    }

    /// Locks are refs beside the branch, which a clone of the branch does not have.
    async fn current_lock(&self, _scope: &Scope) -> Result<Option<LockInfo>, CatalogError> {
        Ok(None)
    }

    async fn create_job(&self, _job: &JobEntry) -> Result<(), CatalogError> {
        Err(self.catalog_read_only())
    }

    async fn get_job(&self, id: &JobId) -> Result<Option<JobEntry>, CatalogError> {
        let all: Vec<JobEntry> = self.catalog_files(paths::JOBS.trim_end_matches('/'))?;
        Ok(all.into_iter().find(|j| j.id == *id))
    }

    async fn list_jobs(&self, scope: &Scope) -> Result<Vec<JobEntry>, CatalogError> {
        let mut jobs: Vec<JobEntry> =
            self.catalog_files(&format!("{}{}", paths::JOBS, scope.slug()))?;
        jobs.sort_by_key(|j| std::cmp::Reverse(j.id));
        Ok(jobs)
    }

    async fn update_job(&self, _job: &JobEntry, _expected: JobStatus) -> Result<(), CatalogError> {
        Err(self.catalog_read_only())
    }

    async fn journal_append(&self, _entry: &JournalEntry) -> Result<(), CatalogError> {
        Err(self.catalog_read_only())
    }

    async fn journal(&self, job: &JobId) -> Result<Vec<JournalEntry>, CatalogError> {
        let mut entries: Vec<JournalEntry> = self.catalog_files(&paths::journal_dir(job))?;
        entries.sort_by_key(|e| e.op);
        Ok(entries)
    }

    async fn claim(&self, _claim: &Claim) -> Result<bool, CatalogError> {
        Err(self.catalog_read_only())
    }

    async fn release_claim(&self, _key: &str, _token: &str) -> Result<(), CatalogError> {
        Ok(())
    }

    /// Cells are refs beside the branch: a clone holds none.
    async fn read_cell(&self, _name: &str) -> Result<Option<Cell>, CatalogError> {
        Ok(None)
    }

    async fn write_cell(
        &self,
        _name: &str,
        _value: &serde_json::Value,
        _expected: Option<u64>,
    ) -> Result<u64, CatalogError> {
        Err(self.catalog_read_only())
    }
}
