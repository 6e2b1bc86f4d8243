//! [`GitCatalog`]: the catalog in the archive branch beside the objects (`git://BRANCH`).
//!
//! One small JSON file per snapshot entry, job, journal entry and claim (the layout is in
//! [`crate::git::layout`]), so writers never edit the same file unless they mean to change the
//! same row. Every change is a commit made by compare-and-swap on the branch's tip (see
//! [`crate::git::branch`]): a conditional write (create if absent, finish if pending, update
//! a job from the status read) is decided on the tip it will be committed on, and decided
//! again if another writer got there first. Locks and cells are refs ([`crate::git::refs`]).
//!
//! Listing a scope reads one index file (`catalog/index/<scope>.json`, a copy of the scope's
//! entries, each with the git id of its entry file) instead of one file per snapshot: entries
//! whose file's id matches are taken from it, the others are read and the index is rewritten
//! by the next change. A stale or damaged index therefore costs requests, never correctness.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::*;
use crate::git::api::GitError;
use crate::git::branch::{Branch, BranchError, Txn};
use crate::git::layout::catalog as paths;
use crate::git::object::{EntryKind, Oid};
use crate::git::refs::Refs;

/// Entry files read at once when the index does not cover them.
const READS_IN_FLIGHT: usize = 16;

/// The index of one scope's snapshot entries.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    version: u32,
    /// Snapshot id → the git id of its entry file and the entry.
    entries: BTreeMap<String, Indexed>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Indexed {
    file: Oid,
    entry: SnapshotEntry,
}

/// The catalog of an archive branch.
#[derive(Debug)]
pub struct GitCatalog {
    branch: Arc<Branch>,
    refs: Refs,
    /// Snapshot and job ids → the scope folder holding them (ids never change scope).
    homes: Mutex<HashMap<String, String>>,
}

fn json<T: Serialize>(value: &T) -> Result<String, BranchError> {
    serde_json::to_string_pretty(value)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| BranchError::Internal(format!("cannot encode a catalog row: {e}")))
}

fn parse<T: serde::de::DeserializeOwned>(path: &str, bytes: &[u8]) -> Result<T, BranchError> {
    serde_json::from_slice(bytes).map_err(|e| BranchError::Corrupt {
        path: path.to_string(),
        detail: e.to_string(),
    })
}

/// Every snapshot entry of scope folder `slug` as `txn` sees it, newest first, with the git
/// ids of their files; reads only the files the index does not cover.
async fn scope_entries(txn: &Txn, slug: &str) -> Result<Vec<Indexed>, BranchError> {
    let files = txn.files(&paths::snapshot_dir(slug)).await?;
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let index: Index = match txn.read(&paths::index(slug)).await? {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        None => Index::default(),
    };
    let mut found = Vec::with_capacity(files.len());
    let mut missing = Vec::new();
    for (name, file) in files {
        let Some(id) = name.strip_suffix(".json") else {
            continue;
        };
        match index.entries.get(id) {
            Some(ix) if ix.file == file.oid => found.push(ix.clone()),
            _ => missing.push((format!("{}/{name}", paths::snapshot_dir(slug)), file.oid)),
        }
    }
    if !missing.is_empty() {
        tracing::debug!(
            scope = slug,
            files = missing.len(),
            "reading entries the index does not cover"
        );
        let read: Vec<Indexed> = stream::iter(missing)
            .map(|(path, oid)| async move {
                let bytes = txn.read(&path).await?.ok_or_else(|| BranchError::Corrupt {
                    path: path.clone(),
                    detail: "listed but unreadable".into(),
                })?;
                Ok::<_, BranchError>(Indexed {
                    file: oid,
                    entry: parse(&path, &bytes)?,
                })
            })
            .buffer_unordered(READS_IN_FLIGHT)
            .try_collect()
            .await?;
        found.extend(read);
    }
    found.sort_by_key(|ix| std::cmp::Reverse(ix.entry.id));
    Ok(found)
}

/// Writes entry `entry` (or deletes it, `None`) in scope folder `slug` and rewrites the
/// scope's index to match.
async fn put_entry(
    txn: &mut Txn,
    slug: &str,
    id: &SnapshotId,
    entry: Option<&SnapshotEntry>,
) -> Result<(), BranchError> {
    let mut all = scope_entries(txn, slug).await?;
    all.retain(|ix| ix.entry.id != *id);
    let path = paths::snapshot(slug, id);
    match entry {
        Some(entry) => {
            let text = json(entry)?;
            all.push(Indexed {
                file: Txn::blob_id(&text),
                entry: entry.clone(),
            });
            txn.write(&path, text, EntryKind::File);
        }
        None => txn.delete(&path),
    }
    let index = Index {
        version: 1,
        entries: all
            .into_iter()
            .map(|ix| (ix.entry.id.to_string(), ix))
            .collect(),
    };
    if index.entries.is_empty() {
        txn.delete(&paths::index(slug));
    } else {
        txn.write(&paths::index(slug), json(&index)?, EntryKind::File);
    }
    Ok(())
}

fn conflict(what: String, detail: impl Into<String>) -> CatalogError {
    CatalogError::Conflict {
        what,
        detail: detail.into(),
    }
}

impl GitCatalog {
    pub fn new(branch: Arc<Branch>) -> GitCatalog {
        GitCatalog {
            refs: Refs::new(branch.clone()),
            branch,
            homes: Mutex::new(HashMap::new()),
        }
    }

    fn error(&self, e: BranchError) -> CatalogError {
        catalog_error(&self.location(), e)
    }

    fn home(&self, id: &str) -> Option<String> {
        self.homes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    fn set_home(&self, id: &str, slug: &str) {
        self.homes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_string(), slug.to_string());
    }

    /// A read view of the current tip.
    async fn view(&self) -> Result<Txn, CatalogError> {
        let head = self.branch.refresh().await.map_err(|e| self.error(e))?;
        Ok(self.branch.view(head))
    }

    /// The scope folder under `root` (snapshots or jobs) holding file `<id>.json`.
    async fn find_home(
        &self,
        txn: &Txn,
        root: &str,
        id: &str,
    ) -> Result<Option<String>, BranchError> {
        let file = format!("{id}.json");
        if let Some(slug) = self.home(id) {
            if txn.entry(&format!("{root}{slug}/{file}")).await?.is_some() {
                return Ok(Some(slug));
            }
        }
        for dir in txn.dirs(root).await? {
            if txn.entry(&format!("{root}{dir}/{file}")).await?.is_some() {
                self.set_home(id, &dir);
                return Ok(Some(dir));
            }
        }
        Ok(None)
    }

    /// Changes the snapshot entry `id` with `change` (which may refuse), in one commit.
    async fn change_entry<F>(
        &self,
        id: &SnapshotId,
        message: String,
        change: F,
    ) -> Result<(), CatalogError>
    where
        F: Fn(&mut SnapshotEntry) -> Result<(), CatalogError> + Send + Sync + 'static,
    {
        let catalog = self.location();
        let home = Arc::new(self.homes_snapshot());
        let id = *id;
        let change = Arc::new(change);
        let outcome = self
            .branch
            .commit(message, move |txn: &mut Txn| {
                let change = change.clone();
                let catalog = catalog.clone();
                let home = home.clone();
                Box::pin(async move {
                    let Some(slug) =
                        find_home_in(txn, paths::SNAPSHOTS, &id.to_string(), &home).await?
                    else {
                        return Ok(Err(CatalogError::NotFound {
                            catalog,
                            what: format!("snapshot {id}"),
                        }));
                    };
                    let path = paths::snapshot(&slug, &id);
                    let Some(bytes) = txn.read(&path).await? else {
                        return Ok(Err(CatalogError::NotFound {
                            catalog,
                            what: format!("snapshot {id}"),
                        }));
                    };
                    let mut entry: SnapshotEntry = parse(&path, &bytes)?;
                    if let Err(e) = change(&mut entry) {
                        return Ok(Err(e));
                    }
                    put_entry(txn, &slug, &id, Some(&entry)).await?;
                    Ok(Ok(()))
                })
            })
            .await
            .map_err(|e| self.error(e))?;
        outcome
    }

    fn homes_snapshot(&self) -> HashMap<String, String> {
        self.homes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// [`GitCatalog::find_home`] for edits, which cannot borrow the catalog.
async fn find_home_in(
    txn: &Txn,
    root: &str,
    id: &str,
    homes: &HashMap<String, String>,
) -> Result<Option<String>, BranchError> {
    let file = format!("{id}.json");
    if let Some(slug) = homes.get(id) {
        if txn.entry(&format!("{root}{slug}/{file}")).await?.is_some() {
            return Ok(Some(slug.clone()));
        }
    }
    for dir in txn.dirs(root).await? {
        if txn.entry(&format!("{root}{dir}/{file}")).await?.is_some() {
            return Ok(Some(dir));
        }
    }
    Ok(None)
}

/// A branch failure as the catalog reports it.
pub(crate) fn catalog_error(catalog: &str, e: BranchError) -> CatalogError {
    let catalog = catalog.to_string();
    match e {
        BranchError::Api(GitError::EmptyRepository) => CatalogError::Unavailable {
            catalog,
            detail: "the repository has no commits yet, and GitHub's Git Data API cannot write to an empty repository: push a first commit (e.g. create a README on GitHub), then retry".into(),
        },
        BranchError::Api(GitError::Forbidden { message, .. }) => CatalogError::Unavailable {
            catalog,
            detail: format!("{message}; the token needs write access to the repository's contents (in a workflow: `permissions: contents: write`)"),
        },
        BranchError::Api(GitError::Unauthorized) => CatalogError::Unavailable {
            catalog,
            detail: "GitHub rejected the token (HTTP 401); set a valid GITHUB_TOKEN".into(),
        },
        BranchError::Api(GitError::NotFound { what }) => CatalogError::Unavailable {
            catalog,
            detail: format!("{what} was not found: check the repository name, and that the token can see it"),
        },
        BranchError::Corrupt { path, detail } => CatalogError::Corrupt {
            catalog,
            detail: format!("{path}: {detail}"),
        },
        other => CatalogError::Backend {
            catalog,
            detail: other.to_string(),
        },
    }
}

#[async_trait]
impl Catalog for GitCatalog {
    fn location(&self) -> String {
        self.branch.location()
    }

    async fn create(&self, entry: &SnapshotEntry) -> Result<(), CatalogError> {
        let slug = entry.scope.slug();
        let owned = entry.clone();
        let outcome = self
            .branch
            .commit(
                format!(
                    "catalog: snapshot {} of {} {}",
                    entry.id, entry.scope, entry.status
                ),
                move |txn: &mut Txn| {
                    let entry = owned.clone();
                    let slug = slug.clone();
                    Box::pin(async move {
                        let id = entry.id.to_string();
                        // An id is unique across scopes, as in every catalog.
                        if find_home_in(txn, paths::SNAPSHOTS, &id, &HashMap::new())
                            .await?
                            .is_some()
                        {
                            return Ok(Err(conflict(
                                format!("snapshot {id}"),
                                "an entry with this id already exists",
                            )));
                        }
                        put_entry(txn, &slug, &entry.id, Some(&entry)).await?;
                        Ok(Ok(()))
                    })
                },
            )
            .await
            .map_err(|e| self.error(e))?;
        if outcome.is_ok() {
            self.set_home(&entry.id.to_string(), &entry.scope.slug());
        }
        outcome
    }

    async fn get(&self, id: &SnapshotId) -> Result<Option<SnapshotEntry>, CatalogError> {
        let txn = self.view().await?;
        let key = id.to_string();
        let Some(slug) = self
            .find_home(&txn, paths::SNAPSHOTS, &key)
            .await
            .map_err(|e| self.error(e))?
        else {
            return Ok(None);
        };
        // Through the index: one read for the whole scope, usually cached.
        let all = scope_entries(&txn, &slug)
            .await
            .map_err(|e| self.error(e))?;
        Ok(all
            .into_iter()
            .find(|ix| ix.entry.id == *id)
            .map(|ix| ix.entry))
    }

    async fn list(&self, scope: Option<&Scope>) -> Result<Vec<SnapshotEntry>, CatalogError> {
        let txn = self.view().await?;
        let slugs = match scope {
            Some(s) => vec![s.slug()],
            None => txn
                .dirs(paths::SNAPSHOTS)
                .await
                .map_err(|e| self.error(e))?,
        };
        let mut out = Vec::new();
        for slug in slugs {
            let entries = scope_entries(&txn, &slug)
                .await
                .map_err(|e| self.error(e))?;
            out.extend(entries.into_iter().map(|ix| ix.entry));
        }
        out.sort_by_key(|e| std::cmp::Reverse(e.id));
        Ok(out)
    }

    async fn finish(&self, id: &SnapshotId, finish: &Finish) -> Result<(), CatalogError> {
        let finish = finish.clone();
        let key = *id;
        self.change_entry(
            id,
            format!("catalog: snapshot {id} {}", finish.status),
            move |entry| {
                if !entry.status.is_open() {
                    return Err(conflict(
                        format!("snapshot {key}"),
                        format!("it is {}, not pending or in progress", entry.status),
                    ));
                }
                entry.apply_finish(&finish);
                Ok(())
            },
        )
        .await
    }

    async fn restart(
        &self,
        entry: &SnapshotEntry,
        expected: &[SnapshotStatus],
    ) -> Result<(), CatalogError> {
        let next = entry.clone();
        let expected = expected.to_vec();
        self.change_entry(
            &entry.id,
            format!("catalog: snapshot {} {}", entry.id, entry.status),
            move |stored| {
                if !expected.contains(&stored.status) {
                    return Err(conflict(
                        format!("snapshot {}", next.id),
                        format!(
                            "it is {}, not {}",
                            stored.status,
                            crate::catalog::one_of(&expected)
                        ),
                    ));
                }
                *stored = next.clone();
                Ok(())
            },
        )
        .await
    }

    async fn record_manifest_hash(
        &self,
        id: &SnapshotId,
        hash: &ObjectHash,
    ) -> Result<(), CatalogError> {
        let hash = hash.clone();
        let key = *id;
        self.change_entry(
            id,
            format!("catalog: manifest hash of snapshot {id}"),
            move |entry| {
                if entry.status != SnapshotStatus::Completed {
                    return Err(conflict(
                        format!("snapshot {key}"),
                        format!("it is {}, not completed", entry.status),
                    ));
                }
                match &entry.manifest_hash {
                    None => entry.manifest_hash = Some(hash.clone()),
                    Some(held) if *held == hash => {}
                    Some(held) => {
                        return Err(conflict(
                            format!("snapshot {key}"),
                            format!("it already records manifest hash {held}"),
                        ))
                    }
                }
                Ok(())
            },
        )
        .await
    }

    async fn set_pinned(&self, id: &SnapshotId, pinned: bool) -> Result<(), CatalogError> {
        let verb = if pinned { "pin" } else { "unpin" };
        self.change_entry(id, format!("catalog: {verb} snapshot {id}"), move |entry| {
            entry.pinned = pinned;
            Ok(())
        })
        .await
    }

    async fn mark_deleting(&self, id: &SnapshotId) -> Result<(), CatalogError> {
        self.change_entry(id, format!("catalog: deleting snapshot {id}"), |entry| {
            entry.status = SnapshotStatus::Deleting;
            Ok(())
        })
        .await
    }

    async fn delete(&self, id: &SnapshotId) -> Result<(), CatalogError> {
        let catalog = self.location();
        let home = Arc::new(self.homes_snapshot());
        let id = *id;
        self.branch
            .commit(
                format!("catalog: delete snapshot {id}"),
                move |txn: &mut Txn| {
                    let catalog = catalog.clone();
                    let home = home.clone();
                    Box::pin(async move {
                        match find_home_in(txn, paths::SNAPSHOTS, &id.to_string(), &home).await? {
                            None => Ok(Err(CatalogError::NotFound {
                                catalog,
                                what: format!("snapshot {id}"),
                            })),
                            Some(slug) => {
                                put_entry(txn, &slug, &id, None).await?;
                                Ok(Ok(()))
                            }
                        }
                    })
                },
            )
            .await
            .map_err(|e| self.error(e))?
    }

    async fn lock(&self, lock: &LockInfo) -> Result<(), CatalogError> {
        match self.refs.lock(lock).await.map_err(|e| self.error(e))? {
            Ok(()) => Ok(()),
            Err(held) => Err(CatalogError::Locked(Box::new(held))),
        }
    }

    async fn renew_lock(&self, lock: &LockInfo) -> Result<(), CatalogError> {
        if self
            .refs
            .renew_lock(lock)
            .await
            .map_err(|e| self.error(e))?
        {
            Ok(())
        } else {
            Err(conflict(
                format!("lock on {}", lock.scope),
                "this holder no longer holds it",
            ))
        }
    }

    async fn unlock(&self, scope: &Scope, token: &str) -> Result<(), CatalogError> {
        self.refs
            .unlock(scope, token)
            .await
            .map_err(|e| self.error(e))
    }

    async fn current_lock(&self, scope: &Scope) -> Result<Option<LockInfo>, CatalogError> {
        self.refs
            .current_lock(scope)
            .await
            .map_err(|e| self.error(e))
    }

    async fn create_job(&self, job: &JobEntry) -> Result<(), CatalogError> {
        let owned = job.clone();
        let outcome = self
            .branch
            .commit(
                format!("catalog: job {} of {}", job.id, job.scope),
                move |txn: &mut Txn| {
                    let job = owned.clone();
                    Box::pin(async move {
                        let id = job.id.to_string();
                        if find_home_in(txn, paths::JOBS, &id, &HashMap::new())
                            .await?
                            .is_some()
                        {
                            return Ok(Err(conflict(
                                format!("job {id}"),
                                "a job with this id already exists",
                            )));
                        }
                        txn.write(
                            &paths::job(&job.scope.slug(), &job.id),
                            json(&job)?,
                            EntryKind::File,
                        );
                        Ok(Ok(()))
                    })
                },
            )
            .await
            .map_err(|e| self.error(e))?;
        if outcome.is_ok() {
            self.set_home(&job.id.to_string(), &job.scope.slug());
        }
        outcome
    }

    async fn get_job(&self, id: &JobId) -> Result<Option<JobEntry>, CatalogError> {
        let txn = self.view().await?;
        let key = id.to_string();
        let Some(slug) = self
            .find_home(&txn, paths::JOBS, &key)
            .await
            .map_err(|e| self.error(e))?
        else {
            return Ok(None);
        };
        let path = paths::job(&slug, id);
        match txn.read(&path).await.map_err(|e| self.error(e))? {
            Some(bytes) => Ok(Some(parse(&path, &bytes).map_err(|e| self.error(e))?)),
            None => Ok(None),
        }
    }

    async fn list_jobs(&self, scope: &Scope) -> Result<Vec<JobEntry>, CatalogError> {
        let txn = self.view().await?;
        let dir = format!("{}{}", paths::JOBS, scope.slug());
        let files = txn.files(&dir).await.map_err(|e| self.error(e))?;
        let txn = &txn;
        let dir = &dir;
        let mut jobs: Vec<JobEntry> = stream::iter(files.into_keys())
            .map(|name| async move {
                let path = format!("{dir}/{name}");
                let bytes = txn.read(&path).await?.unwrap_or_default();
                parse::<JobEntry>(&path, &bytes)
            })
            .buffer_unordered(READS_IN_FLIGHT)
            .try_collect()
            .await
            .map_err(|e| self.error(e))?;
        jobs.retain(|j| j.scope == *scope);
        jobs.sort_by_key(|j| std::cmp::Reverse(j.id));
        Ok(jobs)
    }

    async fn update_job(&self, job: &JobEntry, expected: JobStatus) -> Result<(), CatalogError> {
        let owned = job.clone();
        let catalog = self.location();
        let home = Arc::new(self.homes_snapshot());
        self.branch
            .commit(
                format!("catalog: job {} {}", job.id, job.status.as_str()),
                move |txn: &mut Txn| {
                    let job = owned.clone();
                    let catalog = catalog.clone();
                    let home = home.clone();
                    Box::pin(async move {
                        let id = job.id.to_string();
                        let Some(slug) = find_home_in(txn, paths::JOBS, &id, &home).await? else {
                            return Ok(Err(CatalogError::NotFound {
                                catalog,
                                what: format!("job {id}"),
                            }));
                        };
                        let path = paths::job(&slug, &job.id);
                        let stored: JobEntry = match txn.read(&path).await? {
                            Some(bytes) => parse(&path, &bytes)?,
                            None => {
                                return Ok(Err(CatalogError::NotFound {
                                    catalog,
                                    what: format!("job {id}"),
                                }))
                            }
                        };
                        if stored.status != expected {
                            return Ok(Err(conflict(
                                format!("job {id}"),
                                format!(
                                    "it is {}, not {}",
                                    stored.status.as_str(),
                                    expected.as_str()
                                ),
                            )));
                        }
                        txn.write(&path, json(&job)?, EntryKind::File);
                        Ok(Ok(()))
                    })
                },
            )
            .await
            .map_err(|e| self.error(e))?
    }

    async fn journal_append(&self, entry: &JournalEntry) -> Result<(), CatalogError> {
        let owned = entry.clone();
        self.branch
            .commit(
                format!("catalog: job {} operation {} done", entry.job, entry.op),
                move |txn: &mut Txn| {
                    let entry = owned.clone();
                    Box::pin(async move {
                        let path = paths::journal(&entry.job, entry.op);
                        if txn.entry(&path).await?.is_some() {
                            return Ok(Err(conflict(
                                format!("journal of job {} op {}", entry.job, entry.op),
                                "this operation is already journaled as done",
                            )));
                        }
                        txn.write(&path, json(&entry)?, EntryKind::File);
                        Ok(Ok(()))
                    })
                },
            )
            .await
            .map_err(|e| self.error(e))?
    }

    async fn journal(&self, job: &JobId) -> Result<Vec<JournalEntry>, CatalogError> {
        let txn = self.view().await?;
        let dir = paths::journal_dir(job);
        let files = txn.files(&dir).await.map_err(|e| self.error(e))?;
        let txn = &txn;
        let dir = &dir;
        let mut entries: Vec<JournalEntry> = stream::iter(files.into_keys())
            .map(|name| async move {
                let path = format!("{dir}/{name}");
                let bytes = txn.read(&path).await?.unwrap_or_default();
                parse::<JournalEntry>(&path, &bytes)
            })
            .buffer_unordered(READS_IN_FLIGHT)
            .try_collect()
            .await
            .map_err(|e| self.error(e))?;
        entries.sort_by_key(|e| e.op);
        Ok(entries)
    }

    async fn claim(&self, claim: &Claim) -> Result<bool, CatalogError> {
        let owned = claim.clone();
        self.branch
            .commit(
                format!("catalog: claim {}", claim.key),
                move |txn: &mut Txn| {
                    let claim = owned.clone();
                    Box::pin(async move {
                        let path = paths::claim(&claim.key);
                        if let Some(bytes) = txn.read(&path).await? {
                            let current: Claim = parse(&path, &bytes)?;
                            if current.expires_at > Utc::now() {
                                return Ok(false);
                            }
                        }
                        txn.write(&path, json(&claim)?, EntryKind::File);
                        Ok(true)
                    })
                },
            )
            .await
            .map_err(|e| self.error(e))
    }

    async fn release_claim(&self, key: &str, token: &str) -> Result<(), CatalogError> {
        let (key, token) = (key.to_string(), token.to_string());
        self.branch
            .commit(
                format!("catalog: release claim {key}"),
                move |txn: &mut Txn| {
                    let (key, token) = (key.clone(), token.clone());
                    Box::pin(async move {
                        let path = paths::claim(&key);
                        if let Some(bytes) = txn.read(&path).await? {
                            let current: Claim = parse(&path, &bytes)?;
                            if current.token == token {
                                txn.delete(&path);
                            }
                        }
                        Ok(())
                    })
                },
            )
            .await
            .map_err(|e| self.error(e))
    }

    async fn read_cell(&self, name: &str) -> Result<Option<Cell>, CatalogError> {
        self.refs.read_cell(name).await.map_err(|e| self.error(e))
    }

    async fn write_cell(
        &self,
        name: &str,
        value: &serde_json::Value,
        expected: Option<u64>,
    ) -> Result<u64, CatalogError> {
        match self
            .refs
            .write_cell(name, value, expected)
            .await
            .map_err(|e| self.error(e))?
        {
            Some(version) => Ok(version),
            None => Err(conflict(
                format!("cell {name}"),
                format!("it changed since version {expected:?} was read"),
            )),
        }
    }
}
