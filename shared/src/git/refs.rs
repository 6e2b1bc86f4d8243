//! Small shared state kept in refs beside the archive branch: the catalog's cells (which hold
//! the store-wide leases of [`crate::lease`]) and the per-scope locks.
//!
//! Each state is one commit whose message holds it (as JSON after a one-line subject), its
//! tree a fixed one-file tree; the ref under `refs/backtrack/<branch>/` points at the latest.
//! A change is a new commit whose parent is the state it was decided on, published by a
//! fast-forward-only update: GitHub refuses it if anyone changed the state since, which is
//! exactly a compare-and-swap. Creating a ref that exists is refused too, so "create if
//! absent" is atomic as well.
//!
//! Why refs and not files in the branch: leases are renewed every 15 s while a capture runs,
//! and a file there would add a commit to the archive's history each time and make every
//! writer of the archive race with the renewals. Refs outside `refs/heads/` and `refs/tags/`
//! trigger no workflow and are not fetched by a clone.
//!
//! Why a lock is released by a commit saying so rather than by deleting its ref: GitHub's
//! `DELETE` of a ref is unconditional, so a holder whose lock expired and was taken over a
//! moment before would delete the new holder's lock. A released lock is taken over by the
//! same fast-forward rule as an expired one. Each scope's ref is created once and then only
//! moves forward (a few hundred bytes per change).
//!
//! Cost: reading a state is one `GET /git/ref/…` (plus one `GET /git/commits/…` when it
//! changed since this process last saw it); a change is one `POST /git/commits` and one
//! `PATCH` (or `POST`) of the ref.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::OnceCell;

use super::api::GitError;
use super::branch::{Branch, BranchError};
use super::layout;
use super::object::{self, Entry, EntryKind, Oid};
use crate::catalog::{Cell, LockInfo};
use crate::scope::Scope;

/// What the fixed tree of every state commit says.
const STATE_README: &str =
    "This commit holds one piece of backtrack's shared state in its message \
(a lease table, a lock or a layout version). Its ref lives under refs/backtrack/ beside the \
archive branch; see that branch's README.md.\n";

/// Attempts at a lock change that keeps losing races before giving up.
const LOCK_ATTEMPTS: usize = 12;

/// A lock ref's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LockState {
    /// `None` once released.
    lock: Option<LockInfo>,
}

/// How a state change ended.
#[derive(Debug)]
pub enum Swap {
    Done,
    /// Someone changed (or created, or never created) the state first.
    Lost,
}

/// The cells and locks of one archive branch.
#[derive(Debug)]
pub struct Refs {
    branch: Arc<Branch>,
    tree: OnceCell<Oid>,
    /// The last commit seen or made per ref, with its message.
    seen: Mutex<HashMap<String, (Oid, String)>>,
}

impl Refs {
    pub fn new(branch: Arc<Branch>) -> Refs {
        Refs {
            branch,
            tree: OnceCell::new(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The one-file tree every state commit points at. Its id is computed here; it is
    /// created only when GitHub says it does not exist yet (once per repository).
    fn tree_id() -> Oid {
        let mut entries = vec![Entry {
            name: "README.md".into(),
            kind: EntryKind::File,
            oid: object::blob_id(STATE_README.as_bytes()),
            size: Some(STATE_README.len() as u64),
        }];
        object::sort(&mut entries);
        object::tree_id(&entries).unwrap_or_default()
    }

    async fn create_tree(&self) -> Result<Oid, BranchError> {
        self.tree
            .get_or_try_init(|| async {
                let tree = self
                    .branch
                    .api()
                    .create_tree(
                        None,
                        vec![json!({"path": "README.md", "mode": "100644", "type": "blob", "content": STATE_README})],
                    )
                    .await?;
                Ok::<_, BranchError>(tree)
            })
            .await
            .cloned()
    }

    fn remember(&self, name: &str, commit: &str, message: &str) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_string(), (commit.to_string(), message.to_string()));
    }

    fn seen(&self, name: &str) -> Option<(Oid, String)> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// The current state of ref `name`: its commit and message, or `None`.
    async fn read(&self, name: &str) -> Result<Option<(Oid, String)>, BranchError> {
        let Some(commit) = self.branch.api().get_ref(name).await? else {
            return Ok(None);
        };
        if let Some((seen, message)) = self.seen(name) {
            if seen == commit {
                return Ok(Some((commit, message)));
            }
        }
        let info = self.branch.api().get_commit(&commit).await?;
        self.remember(name, &commit, &info.message);
        Ok(Some((commit, info.message)))
    }

    /// Publishes `message` as the new state of `name`, built on `parent` (the state it was
    /// decided on; `None`: the ref must not exist yet).
    async fn swap(
        &self,
        name: &str,
        parent: Option<&str>,
        message: String,
    ) -> Result<Swap, BranchError> {
        let parents: Vec<Oid> = parent.iter().map(|p| p.to_string()).collect();
        let api = self.branch.api();
        // Two writers deciding the same state on the same parent within a second would make
        // the very same commit, and the second "update" would succeed as a no-op: a unique
        // trailer makes every attempt its own commit, so exactly one wins.
        let unique = format!("{message}\nBacktrack-Attempt: {}\n", ulid::Ulid::new());
        let mut tree = match self.tree.get() {
            Some(t) => t.clone(),
            None => Self::tree_id(),
        };
        let mut attempt = 0;
        let commit = loop {
            match api.create_commit(&unique, &tree, &parents).await {
                Ok(c) => break c,
                // The first state commit of a repository: make the tree, then ask again
                // (and again, briefly, while GitHub's replicas catch up).
                Err(GitError::ObjectMissing(_)) if attempt < 4 => {
                    attempt += 1;
                    if attempt == 1 {
                        tree = self.create_tree().await?;
                    } else {
                        tokio::time::sleep(std::time::Duration::from_millis(250 * attempt)).await;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        };
        let moved = match parent {
            None => api.create_ref(name, &commit).await,
            Some(_) => api.update_ref(name, &commit, false).await,
        };
        match moved {
            Ok(()) => {
                self.remember(name, &commit, &unique);
                Ok(Swap::Done)
            }
            Err(GitError::NotFastForward(_) | GitError::RefExists | GitError::RefMissing) => {
                Ok(Swap::Lost)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Cell `name`, if it was ever written.
    pub async fn read_cell(&self, name: &str) -> Result<Option<Cell>, BranchError> {
        let r = layout::cell_ref(self.branch.name(), name);
        match self.read(&r).await? {
            None => Ok(None),
            Some((_, message)) => parse_state::<Cell>(&r, &message).map(Some),
        }
    }

    /// Writes cell `name` if its version is still `expected`; `Ok(None)` when it is not.
    pub async fn write_cell(
        &self,
        name: &str,
        value: &serde_json::Value,
        expected: Option<u64>,
    ) -> Result<Option<u64>, BranchError> {
        let r = layout::cell_ref(self.branch.name(), name);
        let version = expected.unwrap_or(0) + 1;
        let body = serde_json::to_string(&Cell {
            version,
            value: value.clone(),
        })
        .map_err(|e| BranchError::Internal(e.to_string()))?;
        let message = format!("backtrack cell {name} v{version}\n\n{body}\n");
        let parent = match expected {
            None => None,
            Some(v) => {
                // The state last seen is the likely parent; a stale guess only loses the swap.
                let known = self.seen(&r).and_then(|(commit, message)| {
                    parse_state::<Cell>(&r, &message)
                        .ok()
                        .filter(|c| c.version == v)
                        .map(|_| commit)
                });
                let commit = match known {
                    Some(c) => c,
                    None => match self.read(&r).await? {
                        Some((commit, message))
                            if parse_state::<Cell>(&r, &message)?.version == v =>
                        {
                            commit
                        }
                        _ => return Ok(None),
                    },
                };
                Some(commit)
            }
        };
        match self.swap(&r, parent.as_deref(), message).await? {
            Swap::Done => Ok(Some(version)),
            Swap::Lost => Ok(None),
        }
    }

    /// The lock of `scope`, expired or not (`None` when free or released).
    pub async fn current_lock(&self, scope: &Scope) -> Result<Option<LockInfo>, BranchError> {
        let r = layout::lock_ref(self.branch.name(), scope);
        match self.read(&r).await? {
            None => Ok(None),
            Some((_, message)) => Ok(parse_state::<LockState>(&r, &message)?.lock),
        }
    }

    /// Takes the lock: `Ok(Err(holder))` when someone else's unexpired lock holds it.
    pub async fn lock(&self, lock: &LockInfo) -> Result<Result<(), LockInfo>, BranchError> {
        let r = layout::lock_ref(self.branch.name(), &lock.scope);
        for _ in 0..LOCK_ATTEMPTS {
            let current = self.read(&r).await?;
            let parent = match &current {
                None => None,
                Some((commit, message)) => {
                    if let Some(held) = parse_state::<LockState>(&r, message)?.lock {
                        if held.expires_at > Utc::now() {
                            return Ok(Err(held));
                        }
                    }
                    Some(commit.clone())
                }
            };
            let message = lock_message(&lock.scope, Some(lock))?;
            if let Swap::Done = self.swap(&r, parent.as_deref(), message).await? {
                return Ok(Ok(()));
            }
        }
        Err(BranchError::Contended(LOCK_ATTEMPTS as u32))
    }

    /// Moves the lock held by `lock.token` to `lock.expires_at`; `Ok(false)` when that token
    /// no longer holds it.
    pub async fn renew_lock(&self, lock: &LockInfo) -> Result<bool, BranchError> {
        self.change_own(&lock.scope, &lock.token, Some(lock)).await
    }

    /// Releases the lock if `token` holds it.
    pub async fn unlock(&self, scope: &Scope, token: &str) -> Result<(), BranchError> {
        self.change_own(scope, token, None).await.map(|_| ())
    }

    async fn change_own(
        &self,
        scope: &Scope,
        token: &str,
        next: Option<&LockInfo>,
    ) -> Result<bool, BranchError> {
        let r = layout::lock_ref(self.branch.name(), scope);
        for _ in 0..LOCK_ATTEMPTS {
            let Some((commit, message)) = self.read(&r).await? else {
                return Ok(false);
            };
            let held = parse_state::<LockState>(&r, &message)?.lock;
            let Some(held) = held.filter(|h| h.token == token) else {
                return Ok(false);
            };
            let next = next.map(|n| LockInfo {
                expires_at: n.expires_at,
                ..held.clone()
            });
            let message = lock_message(scope, next.as_ref())?;
            if let Swap::Done = self.swap(&r, Some(&commit), message).await? {
                return Ok(true);
            }
        }
        Err(BranchError::Contended(LOCK_ATTEMPTS as u32))
    }
}

fn lock_message(scope: &Scope, lock: Option<&LockInfo>) -> Result<String, BranchError> {
    let body = serde_json::to_string(&LockState {
        lock: lock.cloned(),
    })
    .map_err(|e| BranchError::Internal(e.to_string()))?;
    let subject = match lock {
        Some(l) => format!("backtrack lock {scope}: held by {}", l.holder),
        None => format!("backtrack lock {scope}: released"),
    };
    Ok(format!("{subject}\n\n{body}\n"))
}

/// The JSON state after a state commit's subject line.
fn parse_state<T: serde::de::DeserializeOwned>(
    name: &str,
    message: &str,
) -> Result<T, BranchError> {
    let body = message.split_once("\n\n").map_or(message, |(_, b)| b);
    let body = body.split("\nBacktrack-Attempt:").next().unwrap_or(body);
    serde_json::from_str(body.trim()).map_err(|e| BranchError::Corrupt {
        path: name.to_string(),
        detail: format!("its commit message does not hold a state ({e})"),
    })
}
