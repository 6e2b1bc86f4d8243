//! The archive in the repository's own git (`--store git://BRANCH`): objects and catalog as
//! files of one orphan branch, written through GitHub's Git Data API with the workflow's
//! token, so the Action keeps its snapshots with nothing but `contents: write`.
//!
//! # Layout
//! [`layout`] (and the `README.md` every archive branch carries): `store/<key>` for objects
//! (base64 text), `catalog/…` for one small JSON file per snapshot, job, journal entry and
//! claim, plus one index per scope for cheap listing. A plain `git clone` of the branch is a
//! read-only archive ([`Checkout`], opened by `--store file://CLONE`).
//!
//! # Consistency
//! Every change is a commit on the branch's tip, published by a fast-forward-only ref update
//! ([`branch`]): GitHub refuses it if the tip moved, and the change is decided again on the new
//! tip — a compare-and-swap on the whole branch. Writers in one process share commits (group
//! commit). Locks and the store-wide lease cells are refs of their own ([`refs`]), changed by
//! the same rule. Write order is the engine's (blobs, then manifest, then the entry that
//! completes the snapshot), each step a commit, so a reader never sees a completed entry
//! without its objects, whatever process dies when.
//!
//! # Rate budget (see the README for measured figures)
//! A snapshot costs, on top of its tracker reads: reading the tip and listing the store
//! (3–4 requests, one recursive tree listing), one commit per write phase (new blobs, entry
//! table and manifest, entry created and completed: 3 requests each — the blobs of the whole
//! snapshot go inline in one or a few tree requests), and the lease (3 requests to take, confirm
//! and release, plus 3 per 15 s of capture). Writes are paced like every other GitHub write
//! (750 ms apart by default, `BACKTRACK_GIT_WRITE_INTERVAL_MS`), under GitHub's 80 content
//! writes a minute.

pub mod api;
pub mod branch;
mod checkout;
pub mod layout;
pub mod object;
pub mod refs;

use std::sync::Arc;
use std::time::Duration;

pub use checkout::Checkout;

use crate::catalog::GitCatalog;
use crate::config::GitTarget;
use crate::store::{GitStore, StoreError};
use crate::tracker::github::{Client, RetryPolicy, WritePace};

/// How to reach GitHub for an archive branch.
#[derive(Clone)]
pub struct GitOptions {
    pub api_url: String,
    pub token: Option<String>,
    /// Spacing of writes (GitHub's secondary limits count commits as content writes).
    pub pace: WritePace,
}

impl std::fmt::Debug for GitOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitOptions")
            .field("api_url", &crate::sanitize::redact_url(&self.api_url))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("pace", &self.pace)
            .finish()
    }
}

impl GitOptions {
    /// Writes paced as `BACKTRACK_GIT_WRITE_INTERVAL_MS` says (default 750 ms, and at most
    /// 500 an hour, GitHub's documented secondary limits).
    pub fn pace_from_env() -> Result<WritePace, StoreError> {
        let var = crate::config::env::GIT_WRITE_INTERVAL_MS;
        match crate::config::env::var(var) {
            None => Ok(WritePace::default()),
            Some(text) => {
                let ms: u64 = text.trim().parse().map_err(|_| StoreError::Io {
                    store: "git://".into(),
                    key: String::new(),
                    detail: format!("{var} must be a whole number of milliseconds"),
                })?;
                Ok(if ms == 0 {
                    WritePace::unpaced()
                } else {
                    WritePace {
                        min_interval: Duration::from_millis(ms),
                        ..WritePace::default()
                    }
                })
            }
        }
    }
}

/// An archive branch opened: its object store and its catalog, sharing one branch (and so
/// one group commit and one cache).
#[derive(Debug, Clone)]
pub struct GitArchive {
    pub store: Arc<GitStore>,
    pub catalog: Arc<GitCatalog>,
}

impl GitArchive {
    /// Opens `url` (nothing is requested yet).
    pub fn open(url: &GitTarget, opts: &GitOptions) -> Result<GitArchive, StoreError> {
        let client = Client::new(
            &opts.api_url,
            opts.token.as_deref(),
            RetryPolicy::default(),
            opts.pace.clone(),
        )
        .map_err(|e| StoreError::Io {
            store: url.to_string(),
            key: String::new(),
            detail: e.to_string(),
        })?;
        let api = api::GitApi::new(client, &url.owner, &url.repo);
        let branch = branch::Branch::new(api, &url.branch);
        Ok(GitArchive {
            store: Arc::new(GitStore::new(branch.clone())),
            catalog: Arc::new(GitCatalog::new(branch)),
        })
    }

    /// Whether the branch exists; an error names a repository that cannot be reached.
    pub async fn exists(&self) -> Result<bool, StoreError> {
        let branch = self.store.branch();
        let location = branch.location();
        match branch.refresh().await {
            Ok(Some(_)) => Ok(true),
            Ok(None) => match branch.api().repository_exists().await {
                Ok(true) => Ok(false),
                Ok(false) => Err(StoreError::Missing {
                    store: location,
                    detail: format!(
                        "repository {} was not found: check its name, and that GITHUB_TOKEN can see it",
                        branch.api().repo()
                    ),
                }),
                Err(e) => Err(crate::store::git_store_error(&location, "", e.into())),
            },
            Err(e) => Err(crate::store::git_store_error(&location, "", e)),
        }
    }

    /// Creates the branch (its first commit holds the README and format marker) unless it
    /// exists; `true` when it was created.
    pub async fn ensure(&self) -> Result<bool, StoreError> {
        if self.exists().await? {
            return Ok(false);
        }
        let branch = self.store.branch();
        branch
            .commit("create the backtrack archive", |txn: &mut branch::Txn| {
                Box::pin(async move {
                    if txn.entry(layout::FORMAT).await?.is_none() {
                        txn.write(
                            layout::FORMAT,
                            layout::format_marker(),
                            object::EntryKind::File,
                        );
                    }
                    Ok(())
                })
            })
            .await
            .map_err(|e| crate::store::git_store_error(&branch.location(), "", e))?;
        Ok(true)
    }

    /// Git Data API requests made through this archive so far.
    pub fn requests(&self) -> u64 {
        self.store.branch().api().requests()
    }

    /// `(commits made, fast-forward races lost)` by this process.
    pub fn commits(&self) -> (u64, u64) {
        let b = self.store.branch();
        (
            b.made.load(std::sync::atomic::Ordering::Relaxed),
            b.races.load(std::sync::atomic::Ordering::Relaxed),
        )
    }
}
