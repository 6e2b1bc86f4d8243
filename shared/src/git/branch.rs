//! One archive branch through the Git Data API: reading it, and changing it by group commit.
//!
//! # Reading
//! Git objects never change, so trees and blobs are cached by id for the life of the process;
//! only the branch's tip must be asked for. A read that must see every write finished before
//! it began ([`Branch::refresh`]) asks once (`GET /git/ref/heads/…`), and concurrent readers
//! share one answer. A tree is listed whole with one recursive request when GitHub allows it
//! (up to 100,000 entries), folder by folder when it says the listing was truncated.
//!
//! # Writing: group commit, compare-and-swap on the tip
//! Every change is an [`Edit`]: a function that looks at the branch (its tip plus the edits
//! before it in the same commit, through a [`Txn`]) and stages files to write or delete.
//! Edits submitted while a commit is being made wait and go into the next one together, so
//! concurrent writers of one process cost one commit, not one each. A commit is one or a few
//! `POST /git/trees` (new files inline, on the tip's tree), one `POST /git/commits` and one
//! `PATCH /git/refs/heads/…` with `force: false`. If another writer moved the tip meanwhile,
//! GitHub refuses the update as not a fast-forward; the tip is read again and every edit of
//! the group is decided again on it — nothing is lost and nothing is overwritten.
//!
//! # Replacing the history
//! [`Branch::squash`] (prune) replaces the branch with one orphan commit holding the same
//! tree. GitHub's API has no conditional forced update, so the squash first commits a marker
//! (`rewrite.json`, with an expiry) by the usual fast-forward rule; writers that find the
//! marker on the tip wait until it is gone or expired, so no write lands between the marker
//! and the forced update. The squash checks that the tip is still its marker commit right
//! before forcing, and gives up (keeping the history) if it is not or if it took too long.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::api::{GitApi, GitError};
use super::layout;
use super::object::{self, Entry, EntryKind, Oid};

/// Lost fast-forward races before a commit gives up.
const MAX_RACES: u32 = 40;
/// Stored text up to this size goes inline in the tree request; larger files are created as
/// blobs of their own first (keeps each request small).
const INLINE_LIMIT: usize = 512 * 1024;
/// Bytes of inline content per tree request; a larger commit chains several requests.
const TREE_REQUEST_BYTES: usize = 6 * 1024 * 1024;
/// Entries per tree request.
const TREE_REQUEST_ENTRIES: usize = 5_000;
/// Blobs kept in memory (by id) once read; small catalog files are read again and again.
const BLOB_CACHE_ENTRIES: usize = 8_192;
const BLOB_CACHE_MAX_SIZE: usize = 256 * 1024;
/// How long a squash marker holds writers off.
const REWRITE_TTL: Duration = Duration::from_secs(60);
/// A squash forces the update only this soon after it proved the tip was its marker.
const REWRITE_SAFE: Duration = Duration::from_secs(20);
/// Trees fetched at once when a listing was truncated and is walked folder by folder.
const TREE_FETCHES_IN_FLIGHT: usize = 8;

/// Why reading or changing the branch failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BranchError {
    #[error(transparent)]
    Api(#[from] GitError),
    /// A file in the branch is not what the layout says it is.
    #[error("{path} in the archive branch is damaged: {detail}")]
    Corrupt { path: String, detail: String },
    /// Other writers kept moving the tip.
    #[error("the archive branch kept moving ({0} attempts to commit lost the race); retry")]
    Contended(u32),
    /// A path is wanted as a file where the branch has a folder, or the other way round.
    #[error("{path} cannot be written: {detail}")]
    Clash { path: String, detail: String },
    #[error("{0}")]
    Internal(String),
}

/// The tip of the branch: a commit and its tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub commit: Oid,
    pub tree: Oid,
}

#[derive(Debug, Default)]
struct HeadCache {
    /// `None`: never read; `Some(None)`: the branch does not exist.
    head: Option<Option<Head>>,
    /// When the last read of the tip was sent.
    read_at: Option<Instant>,
}

/// A file staged by an edit.
#[derive(Debug, Clone)]
pub struct Staged {
    pub text: Arc<String>,
    pub kind: EntryKind,
    oid: Oid,
}

impl Staged {
    fn entry(&self, name: &str) -> Entry {
        Entry {
            name: name.to_string(),
            kind: self.kind,
            oid: self.oid.clone(),
            size: Some(self.text.len() as u64),
        }
    }
}

/// Path → staged file, or `None` to delete.
type Overlay = BTreeMap<String, Option<Staged>>;

/// What an edit sees and stages: the branch at one tip, plus the files staged before it in
/// the same commit.
#[derive(Debug)]
pub struct Txn {
    branch: Arc<Branch>,
    base: Option<Head>,
    overlay: Overlay,
}

impl Txn {
    /// The file at `path`, as this commit would leave it.
    pub async fn entry(&self, path: &str) -> Result<Option<Entry>, BranchError> {
        if let Some(staged) = self.overlay.get(path) {
            let name = path.rsplit('/').next().unwrap_or(path);
            return Ok(staged.as_ref().map(|s| s.entry(name)));
        }
        match &self.base {
            Some(h) => self.branch.lookup(&h.tree, path).await,
            None => Ok(None),
        }
    }

    /// The content of the file at `path`.
    pub async fn read(&self, path: &str) -> Result<Option<Bytes>, BranchError> {
        if let Some(staged) = self.overlay.get(path) {
            return Ok(staged
                .as_ref()
                .map(|s| Bytes::copy_from_slice(s.text.as_bytes())));
        }
        match self.entry(path).await? {
            Some(e) if e.kind.is_file() => Ok(Some(self.branch.blob(&e.oid).await?)),
            _ => Ok(None),
        }
    }

    /// The files directly in folder `dir`, as this commit would leave them, by name.
    pub async fn files(&self, dir: &str) -> Result<BTreeMap<String, Entry>, BranchError> {
        let mut out: BTreeMap<String, Entry> = match &self.base {
            Some(h) => self
                .branch
                .dir(&h.tree, dir)
                .await?
                .into_iter()
                .filter(|e| e.kind.is_file())
                .map(|e| (e.name.clone(), e))
                .collect(),
            None => BTreeMap::new(),
        };
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        for (path, staged) in self.overlay.range(prefix.clone()..) {
            let Some(name) = path.strip_prefix(&prefix) else {
                break;
            };
            if name.contains('/') {
                continue;
            }
            match staged {
                Some(s) => out.insert(name.to_string(), s.entry(name)),
                None => out.remove(name),
            };
        }
        Ok(out)
    }

    /// The names of the folders directly in folder `dir`, as this commit would leave them.
    pub async fn dirs(&self, dir: &str) -> Result<Vec<String>, BranchError> {
        let dir = dir.trim_end_matches('/');
        let mut out: std::collections::BTreeSet<String> = match &self.base {
            Some(h) => self
                .branch
                .dir(&h.tree, dir)
                .await?
                .into_iter()
                .filter(|e| e.kind == EntryKind::Dir)
                .map(|e| e.name)
                .collect(),
            None => Default::default(),
        };
        let prefix = format!("{dir}/");
        for (path, staged) in self.overlay.range(prefix.clone()..) {
            let Some(rest) = path.strip_prefix(&prefix) else {
                break;
            };
            if let (Some((name, _)), Some(_)) = (rest.split_once('/'), staged) {
                out.insert(name.to_string());
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Stages `text` as the file at `path`.
    pub fn write(&mut self, path: &str, text: String, kind: EntryKind) {
        let oid = object::blob_id(text.as_bytes());
        self.overlay.insert(
            path.to_string(),
            Some(Staged {
                text: Arc::new(text),
                kind,
                oid,
            }),
        );
    }

    /// Stages the deletion of `path` (nothing happens if it does not exist).
    pub fn delete(&mut self, path: &str) {
        self.overlay.insert(path.to_string(), None);
    }

    /// The git id a file holding `text` gets.
    pub fn blob_id(text: &str) -> Oid {
        object::blob_id(text.as_bytes())
    }
}

/// The future an edit function returns.
pub type EditFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BranchError>> + Send + 'a>>;

/// One change waiting for a commit (see the module docs).
#[async_trait::async_trait]
trait Edit: Send {
    fn message(&self) -> &str;
    /// Decides on `txn` and stages its files; an error fails this edit only.
    async fn apply(&mut self, txn: &mut Txn) -> Result<(), BranchError>;
    /// Hands the caller its answer once the commit is made (or failed).
    fn settle(self: Box<Self>, outcome: Result<(), BranchError>);
}

struct FnEdit<T, F> {
    message: String,
    f: F,
    answer: Option<T>,
    tx: Option<oneshot::Sender<Result<T, BranchError>>>,
}

#[async_trait::async_trait]
impl<T, F> Edit for FnEdit<T, F>
where
    T: Send + 'static,
    F: for<'a> Fn(&'a mut Txn) -> EditFuture<'a, T> + Send + Sync + 'static,
{
    fn message(&self) -> &str {
        &self.message
    }

    async fn apply(&mut self, txn: &mut Txn) -> Result<(), BranchError> {
        self.answer = Some((self.f)(txn).await?);
        Ok(())
    }

    fn settle(mut self: Box<Self>, outcome: Result<(), BranchError>) {
        let answer = outcome.and_then(|()| {
            self.answer
                .take()
                .ok_or_else(|| BranchError::Internal("an edit settled without an answer".into()))
        });
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(answer);
        }
    }
}

/// The marker a squash commits first (see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Rewrite {
    holder: String,
    expires_at: DateTime<Utc>,
}

/// How a squash ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Squash {
    /// The branch is one orphan commit now.
    Done { commit: Oid },
    /// The history was kept: why.
    Kept(String),
}

/// One archive branch of one repository.
#[derive(Debug)]
pub struct Branch {
    api: GitApi,
    name: String,
    /// `refs/heads/<name>`.
    full: String,
    head: tokio::sync::Mutex<HeadCache>,
    trees: Mutex<HashMap<Oid, Arc<Vec<Entry>>>>,
    blobs: Mutex<HashMap<Oid, Bytes>>,
    /// Blob reads in flight, shared by every reader of the same blob.
    reading: Mutex<HashMap<Oid, Arc<tokio::sync::OnceCell<Bytes>>>>,
    /// Commit → its tree, for commits this process made or read.
    commits: Mutex<HashMap<Oid, Oid>>,
    queue: Mutex<Vec<Box<dyn Edit>>>,
    committer: tokio::sync::Mutex<()>,
    loader: tokio::sync::Mutex<()>,
    /// The branch is too big for one recursive listing (GitHub truncated it).
    big: std::sync::atomic::AtomicBool,
    /// This process is squashing the branch (its own marker holds no commit of its own).
    rewriting: std::sync::atomic::AtomicBool,
    /// Commits made, and fast-forward races lost (for reports and tests).
    pub(crate) made: AtomicU64,
    pub(crate) races: AtomicU64,
}

impl std::fmt::Debug for Box<dyn Edit> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Edit({})", self.message())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Branch {
    pub fn new(api: GitApi, name: &str) -> Arc<Branch> {
        Arc::new(Branch {
            api,
            name: name.to_string(),
            full: format!("refs/heads/{name}"),
            head: tokio::sync::Mutex::new(HeadCache::default()),
            trees: Mutex::new(HashMap::new()),
            blobs: Mutex::new(HashMap::new()),
            reading: Mutex::new(HashMap::new()),
            commits: Mutex::new(HashMap::new()),
            queue: Mutex::new(Vec::new()),
            committer: tokio::sync::Mutex::new(()),
            loader: tokio::sync::Mutex::new(()),
            big: std::sync::atomic::AtomicBool::new(false),
            rewriting: std::sync::atomic::AtomicBool::new(false),
            made: AtomicU64::new(0),
            races: AtomicU64::new(0),
        })
    }

    pub fn api(&self) -> &GitApi {
        &self.api
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `git://BRANCH on OWNER/REPO`, for messages.
    pub fn location(&self) -> String {
        format!("git://{} on {}", self.name, self.api.repo())
    }

    /// The tip as of now: every commit that landed before this call is seen.
    pub async fn refresh(&self) -> Result<Option<Head>, BranchError> {
        let asked = Instant::now();
        let mut cache = self.head.lock().await;
        if let (Some(read_at), Some(head)) = (cache.read_at, &cache.head) {
            if read_at >= asked {
                return Ok(head.clone());
            }
        }
        let sent = Instant::now();
        let head = match self.api.get_ref(&self.full).await {
            Ok(Some(commit)) => {
                let tree = self.tree_of(&commit).await?;
                Some(Head { commit, tree })
            }
            Ok(None) | Err(GitError::EmptyRepository) => None,
            Err(e) => return Err(e.into()),
        };
        cache.head = Some(head.clone());
        cache.read_at = Some(sent);
        Ok(head)
    }

    /// A read-only view of the branch at `head`.
    pub fn view(self: &Arc<Self>, head: Option<Head>) -> Txn {
        Txn {
            branch: self.clone(),
            base: head,
            overlay: Overlay::new(),
        }
    }

    /// The tip as last seen (read once if never): for reads of write-once data, where an
    /// older tip answers as well, and as the first guess of a commit.
    pub async fn current(&self) -> Result<Option<Head>, BranchError> {
        {
            let cache = self.head.lock().await;
            if let Some(head) = &cache.head {
                return Ok(head.clone());
            }
        }
        self.refresh().await
    }

    async fn set_head(&self, head: Head) {
        lock(&self.commits).insert(head.commit.clone(), head.tree.clone());
        self.head.lock().await.head = Some(Some(head));
    }

    async fn tree_of(&self, commit: &str) -> Result<Oid, BranchError> {
        if let Some(tree) = lock(&self.commits).get(commit) {
            return Ok(tree.clone());
        }
        let info = self.api.get_commit(commit).await?;
        lock(&self.commits).insert(commit.to_string(), info.tree.clone());
        Ok(info.tree)
    }

    /// The entries of tree `oid`.
    pub async fn tree(&self, oid: &str) -> Result<Arc<Vec<Entry>>, BranchError> {
        if let Some(t) = lock(&self.trees).get(oid) {
            return Ok(t.clone());
        }
        let listing = self.api.get_tree(oid, false).await?;
        let mut entries: Vec<Entry> = listing.entries.into_iter().map(|(_, e)| e).collect();
        object::sort(&mut entries);
        let entries = Arc::new(entries);
        lock(&self.trees).insert(oid.to_string(), entries.clone());
        Ok(entries)
    }

    /// Whether tree `oid` and every tree below it are cached.
    fn deep_cached(&self, oid: &str) -> bool {
        let trees = lock(&self.trees);
        let mut todo = vec![oid.to_string()];
        while let Some(t) = todo.pop() {
            match trees.get(&t) {
                None => return false,
                Some(entries) => todo.extend(
                    entries
                        .iter()
                        .filter(|e| e.kind == EntryKind::Dir)
                        .map(|e| e.oid.clone()),
                ),
            }
        }
        true
    }

    /// Caches tree `oid` and everything below it: one recursive listing, or folder by folder
    /// when GitHub truncates it.
    async fn load_deep(&self, oid: &str) -> Result<(), BranchError> {
        if self.deep_cached(oid) {
            return Ok(());
        }
        let _one_at_a_time = self.loader.lock().await;
        if self.deep_cached(oid) {
            return Ok(());
        }
        let listing = self.api.get_tree(oid, true).await?;
        if !listing.truncated {
            self.cache_listing(oid, listing.entries);
            return Ok(());
        }
        tracing::debug!(
            tree = oid,
            "tree listing truncated; listing folder by folder"
        );
        let mut level = vec![oid.to_string()];
        while !level.is_empty() {
            let fetched: Vec<Arc<Vec<Entry>>> = stream::iter(level.clone())
                .map(|t| async move { self.tree(&t).await })
                .buffer_unordered(TREE_FETCHES_IN_FLIGHT)
                .try_collect()
                .await?;
            level = fetched
                .iter()
                .flat_map(|entries| entries.iter())
                .filter(|e| e.kind == EntryKind::Dir)
                .map(|e| e.oid.clone())
                .collect();
        }
        Ok(())
    }

    /// Caches every tree of a complete recursive listing of tree `oid`.
    fn cache_listing(&self, oid: &str, listing: Vec<(String, Entry)>) {
        let mut dirs: HashMap<String, Vec<Entry>> = HashMap::new();
        let mut ids: HashMap<String, Oid> = HashMap::from([(String::new(), oid.to_string())]);
        for (path, e) in listing {
            let parent = path.rsplit_once('/').map_or("", |(p, _)| p).to_string();
            if e.kind == EntryKind::Dir {
                ids.insert(path.clone(), e.oid.clone());
                dirs.entry(path).or_default();
            }
            dirs.entry(parent).or_default().push(e);
        }
        let mut trees = lock(&self.trees);
        for (path, mut entries) in dirs {
            if let Some(id) = ids.get(&path) {
                object::sort(&mut entries);
                trees.insert(id.clone(), Arc::new(entries));
            }
        }
    }

    /// A process that has cached no tree yet lists the whole branch in one recursive request
    /// (every later lookup is then free) unless GitHub truncates it; from then on, trees are
    /// fetched one at a time, and only those that changed.
    async fn warm(&self, root: &str) -> Result<(), BranchError> {
        let cold = || !self.big.load(Ordering::Relaxed) && lock(&self.trees).is_empty();
        if !cold() {
            return Ok(());
        }
        let _one_at_a_time = self.loader.lock().await;
        if !cold() {
            return Ok(());
        }
        let listing = self.api.get_tree(root, true).await?;
        if listing.truncated {
            self.big.store(true, Ordering::Relaxed);
        } else {
            self.cache_listing(root, listing.entries);
        }
        Ok(())
    }

    /// The entry at `path` below tree `root`.
    pub async fn lookup(&self, root: &str, path: &str) -> Result<Option<Entry>, BranchError> {
        self.warm(root).await?;
        let mut tree = root.to_string();
        let mut parts = path.split('/').peekable();
        while let Some(name) = parts.next() {
            let entries = self.tree(&tree).await?;
            let Some(e) = entries.iter().find(|e| e.name == name) else {
                return Ok(None);
            };
            if parts.peek().is_none() {
                return Ok(Some(e.clone()));
            }
            if e.kind != EntryKind::Dir {
                return Ok(None);
            }
            tree = e.oid.clone();
        }
        Ok(None)
    }

    /// The entries of folder `dir` below `root` (empty when there is no such folder).
    pub async fn dir(&self, root: &str, dir: &str) -> Result<Vec<Entry>, BranchError> {
        self.warm(root).await?;
        let dir = dir.trim_end_matches('/');
        let oid = if dir.is_empty() {
            root.to_string()
        } else {
            match self.lookup(root, dir).await? {
                Some(e) if e.kind == EntryKind::Dir => e.oid,
                _ => return Ok(Vec::new()),
            }
        };
        Ok(self.tree(&oid).await?.as_ref().clone())
    }

    /// Every file below folder `dir` of `root`, with paths relative to `root`, sorted.
    pub async fn files_below(
        &self,
        root: &str,
        dir: &str,
    ) -> Result<Vec<(String, Entry)>, BranchError> {
        self.warm(root).await?;
        let dir = dir.trim_end_matches('/');
        let oid = if dir.is_empty() {
            root.to_string()
        } else {
            match self.lookup(root, dir).await? {
                Some(e) if e.kind == EntryKind::Dir => e.oid,
                _ => return Ok(Vec::new()),
            }
        };
        self.load_deep(&oid).await?;
        let trees = lock(&self.trees);
        let mut out = Vec::new();
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut todo = vec![(prefix, oid)];
        while let Some((prefix, t)) = todo.pop() {
            let Some(entries) = trees.get(&t) else {
                return Err(BranchError::Internal(format!("tree {t} left the cache")));
            };
            for e in entries.iter() {
                let path = format!("{prefix}{}", e.name);
                match e.kind {
                    EntryKind::Dir => todo.push((format!("{path}/"), e.oid.clone())),
                    EntryKind::File | EntryKind::Chunked => out.push((path, e.clone())),
                    EntryKind::Other => {}
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The bytes of blob `oid`. GitHub reads from replicas, so a blob just written may take
    /// a moment to be found: a 404 is asked again twice before it counts.
    pub async fn blob(&self, oid: &str) -> Result<Bytes, BranchError> {
        if let Some(b) = lock(&self.blobs).get(oid) {
            return Ok(b.clone());
        }
        // Readers of one blob at once (a dictionary, a definition both sides of a diff hold)
        // share one request.
        let cell = lock(&self.reading)
            .entry(oid.to_string())
            .or_default()
            .clone();
        let read = cell.get_or_try_init(|| self.fetch_blob(oid)).await.cloned();
        lock(&self.reading).remove(oid);
        read
    }

    async fn fetch_blob(&self, oid: &str) -> Result<Bytes, BranchError> {
        let mut attempt = 0;
        let bytes = loop {
            match self.api.get_blob(oid).await {
                Ok(b) => break Bytes::from(b),
                Err(GitError::NotFound { .. }) if attempt < 2 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(300 * attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        if bytes.len() <= BLOB_CACHE_MAX_SIZE {
            let mut cache = lock(&self.blobs);
            if cache.len() >= BLOB_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(oid.to_string(), bytes.clone());
        }
        Ok(bytes)
    }

    /// Makes a commit with `edit` (see the module docs) and returns its answer. `edit` may
    /// run more than once (once per attempt); only the attempt that lands counts.
    pub async fn commit<T, F>(
        self: &Arc<Self>,
        message: impl Into<String>,
        edit: F,
    ) -> Result<T, BranchError>
    where
        T: Send + 'static,
        F: for<'a> Fn(&'a mut Txn) -> EditFuture<'a, T> + Send + Sync + 'static,
    {
        let (tx, rx) = oneshot::channel();
        lock(&self.queue).push(Box::new(FnEdit {
            message: message.into(),
            f: edit,
            answer: None,
            tx: Some(tx),
        }));
        // The group is made by a task of its own, so a caller that stops waiting cannot leave
        // the other edits of its group unanswered.
        let branch = self.clone();
        tokio::spawn(async move {
            let _turn = branch.committer.lock().await;
            let edits = std::mem::take(&mut *lock(&branch.queue));
            if !edits.is_empty() {
                branch.run_group(edits).await;
            }
        });
        rx.await
            .map_err(|_| BranchError::Internal("the commit task stopped".into()))?
    }

    async fn run_group(self: &Arc<Self>, mut edits: Vec<Box<dyn Edit>>) {
        let mut races = 0u32;
        let mut fresh = false;
        let waited = Instant::now();
        loop {
            let base = match if fresh {
                self.refresh().await
            } else {
                self.current().await
            } {
                Ok(b) => b,
                Err(e) => return settle_all(edits, Err(e)),
            };
            let mut txn = Txn {
                branch: self.clone(),
                base: base.clone(),
                overlay: Overlay::new(),
            };
            // A squash in progress holds writers off until it is done or expired.
            match self.rewrite_marker(&txn).await {
                // The squash's own commits (removing its marker) do not wait for it.
                Ok(Some(_)) if self.rewriting.load(Ordering::SeqCst) => {}
                Ok(Some(marker))
                    if marker.expires_at > Utc::now() && waited.elapsed() < REWRITE_TTL * 2 =>
                {
                    tracing::info!(holder = %marker.holder, "prune is replacing the archive branch's history; waiting");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    fresh = true;
                    continue;
                }
                Ok(Some(_)) => txn.delete(layout::REWRITE),
                Ok(None) => {}
                Err(e) => return settle_all(edits, Err(e)),
            }
            let mut failed = Vec::new();
            for (i, edit) in edits.iter_mut().enumerate() {
                let before = txn.overlay.clone();
                if let Err(e) = edit.apply(&mut txn).await {
                    txn.overlay = before;
                    failed.push((i, e));
                }
            }
            // Edits that could not decide are answered now; the rest go on.
            for (i, e) in failed.into_iter().rev() {
                edits.remove(i).settle(Err(e));
            }
            if edits.is_empty() {
                return;
            }
            // Answers that write nothing ("exists", "conflict") are not checked by a ref
            // update, so they must be decided on the tip as of now, not on one seen earlier.
            if txn.overlay.is_empty() && !fresh {
                fresh = true;
                continue;
            }
            let message = group_message(&edits);
            match self.write(&base, txn.overlay, &message).await {
                Ok(()) => return settle_all(edits, Ok(())),
                Err(BranchError::Api(GitError::NotFastForward(_) | GitError::RefExists)) => {
                    races += 1;
                    self.races.fetch_add(1, Ordering::Relaxed);
                    if races >= MAX_RACES {
                        return settle_all(edits, Err(BranchError::Contended(races)));
                    }
                    tracing::debug!(
                        races,
                        "the archive branch moved; deciding again on its new tip"
                    );
                    tokio::time::sleep(backoff(races)).await;
                    fresh = true;
                }
                Err(e) => return settle_all(edits, Err(e)),
            }
        }
    }

    async fn rewrite_marker(&self, txn: &Txn) -> Result<Option<Rewrite>, BranchError> {
        match txn.read(layout::REWRITE).await? {
            None => Ok(None),
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes).unwrap_or(Rewrite {
                // An unreadable marker holds no one.
                holder: "unknown".into(),
                expires_at: DateTime::<Utc>::MIN_UTC,
            }))),
        }
    }

    /// Writes `overlay` as one commit on `base` and moves the branch to it (creating the
    /// branch, with its README and format marker, when there is none).
    async fn write(
        &self,
        base: &Option<Head>,
        mut overlay: Overlay,
        message: &str,
    ) -> Result<(), BranchError> {
        // Deleting what is not there is a no-op (GitHub refuses it in a tree).
        let mut absent = Vec::new();
        for (path, staged) in &overlay {
            if staged.is_none() {
                let exists = match base {
                    Some(h) => self.lookup(&h.tree, path).await?.is_some(),
                    None => false,
                };
                if !exists {
                    absent.push(path.clone());
                }
            }
        }
        for path in absent {
            overlay.remove(&path);
        }
        if overlay.is_empty() {
            return Ok(());
        }
        if base.is_none() {
            for (path, text) in [
                (layout::README, layout::readme(&self.name)),
                (layout::FORMAT, layout::format_marker()),
            ] {
                overlay.entry(path.to_string()).or_insert_with(|| {
                    Some(Staged {
                        oid: object::blob_id(text.as_bytes()),
                        text: Arc::new(text),
                        kind: EntryKind::File,
                    })
                });
            }
        }
        let mut items = Vec::with_capacity(overlay.len());
        for (path, staged) in &overlay {
            items.push(match staged {
                None => json!({"path": path, "mode": "100644", "type": "blob", "sha": null}),
                Some(s) if s.text.len() > INLINE_LIMIT => {
                    let sha = self.api.create_blob(&s.text).await?;
                    if sha != s.oid {
                        return Err(BranchError::Internal(format!(
                            "GitHub stored {path} as blob {sha}, not {}",
                            s.oid
                        )));
                    }
                    json!({"path": path, "mode": s.kind.mode(), "type": "blob", "sha": sha})
                }
                Some(s) => {
                    json!({"path": path, "mode": s.kind.mode(), "type": "blob", "content": s.text.as_str()})
                }
            });
        }
        let mut tree = base.as_ref().map(|h| h.tree.clone());
        for chunk in chunks(items) {
            tree = Some(self.api.create_tree(tree.as_deref(), chunk).await?);
        }
        let tree = tree.ok_or_else(|| BranchError::Internal("a commit without a tree".into()))?;
        let parents: Vec<Oid> = base.iter().map(|h| h.commit.clone()).collect();
        // Identical commits on one parent would let a second writer "win" as a no-op update:
        // every attempt is made unique (see `refs`).
        let message = format!("{message}\n\nBacktrack-Attempt: {}\n", ulid::Ulid::new());
        let commit = with_lag_retry(|| self.api.create_commit(&message, &tree, &parents)).await?;
        match base {
            Some(_) => with_lag_retry(|| self.api.update_ref(&self.full, &commit, false)).await?,
            None => with_lag_retry(|| self.api.create_ref(&self.full, &commit)).await?,
        }
        self.made.fetch_add(1, Ordering::Relaxed);
        self.remember(base.as_ref().map(|h| h.tree.as_str()), &overlay, &tree);
        self.set_head(Head { commit, tree }).await;
        Ok(())
    }

    /// Caches the trees of a commit this process just made, computed locally from the base's
    /// cached trees and the staged files; kept only if the root matches what GitHub built.
    fn remember(&self, base: Option<&str>, overlay: &Overlay, root: &str) {
        let mut made = HashMap::new();
        let computed = {
            let trees = lock(&self.trees);
            build(&trees, base, overlay, &mut made)
        };
        match computed {
            Some(Some(id)) if id == root => {
                let mut trees = lock(&self.trees);
                for (id, entries) in made {
                    trees.insert(id, Arc::new(entries));
                }
            }
            _ => tracing::debug!("the new tree was not cached (base not cached, or ids differ)"),
        }
    }

    /// Replaces the branch's history with one orphan commit holding its current tree (see
    /// the module docs). `holder` names the process in the marker.
    pub async fn squash(self: &Arc<Self>, holder: &str) -> Result<Squash, BranchError> {
        let marker = Rewrite {
            holder: holder.to_string(),
            expires_at: Utc::now()
                + chrono::Duration::from_std(REWRITE_TTL).unwrap_or(chrono::Duration::seconds(60)),
        };
        let text = serde_json::to_string_pretty(&marker)
            .map_err(|e| BranchError::Internal(e.to_string()))?;
        let placed = self
            .commit(
                "prune: replacing the history (marker)",
                move |txn: &mut Txn| {
                    let text = text.clone();
                    Box::pin(async move {
                        if txn.base.is_none() {
                            return Ok(false);
                        }
                        txn.write(layout::REWRITE, text, EntryKind::File);
                        Ok(true)
                    })
                },
            )
            .await?;
        if !placed {
            return Ok(Squash::Kept("the archive branch does not exist".into()));
        }
        self.rewriting.store(true, Ordering::SeqCst);
        let outcome = self.squash_marked().await;
        if !matches!(outcome, Ok(Squash::Done { .. })) {
            // Take the marker away so writers need not wait for it to expire.
            let removed = self
                .commit("prune: history kept (marker removed)", |txn: &mut Txn| {
                    Box::pin(async move {
                        txn.delete(layout::REWRITE);
                        Ok(())
                    })
                })
                .await;
            if let Err(e) = removed {
                tracing::warn!(error = %e, "could not remove the rewrite marker; it expires on its own");
            }
        }
        self.rewriting.store(false, Ordering::SeqCst);
        outcome
    }

    /// The forced update of [`Branch::squash`], once its marker is the tip.
    async fn squash_marked(self: &Arc<Self>) -> Result<Squash, BranchError> {
        let Some(marked) = self.current().await? else {
            return Ok(Squash::Kept("the archive branch disappeared".into()));
        };
        let proved = Instant::now();
        let outcome = async {
            let tip = self.api.get_ref(&self.full).await?;
            if tip.as_deref() != Some(marked.commit.as_str()) {
                return Ok::<_, BranchError>(Squash::Kept(
                    "another writer committed after the marker".into(),
                ));
            }
            let tree = self
                .api
                .create_tree(
                    Some(&marked.tree),
                    vec![json!({"path": layout::REWRITE, "mode": "100644", "type": "blob", "sha": null})],
                )
                .await?;
            let commit = with_lag_retry(|| {
                self.api.create_commit(
                    "backtrack archive (history replaced by prune; earlier commits are left to GitHub's garbage collection)",
                    &tree,
                    &[],
                )
            })
            .await?;
            if proved.elapsed() > REWRITE_SAFE {
                return Ok(Squash::Kept(format!(
                    "replacing the history took longer than {}s, so it was not forced",
                    REWRITE_SAFE.as_secs()
                )));
            }
            match with_lag_retry(|| self.api.update_ref(&self.full, &commit, true)).await {
                Ok(()) => {
                    self.set_head(Head {
                        commit: commit.clone(),
                        tree,
                    })
                    .await;
                    Ok(Squash::Done { commit })
                }
                Err(GitError::Refused { message, .. }) | Err(GitError::Forbidden { message, .. }) => {
                    Ok(Squash::Kept(format!(
                        "GitHub refused the forced update ({message}); a ruleset may forbid force pushes to the branch"
                    )))
                }
                Err(e) => Err(e.into()),
            }
        }
        .await;
        outcome
    }
}

fn settle_all(edits: Vec<Box<dyn Edit>>, outcome: Result<(), BranchError>) {
    for e in edits {
        e.settle(outcome.clone());
    }
}

fn group_message(edits: &[Box<dyn Edit>]) -> String {
    match edits {
        [one] => one.message().to_string(),
        many => {
            let mut m = format!("backtrack: {} changes\n", many.len());
            for e in many.iter().take(50) {
                m.push_str(&format!("\n- {}", e.message()));
            }
            if many.len() > 50 {
                m.push_str(&format!("\n- … and {} more", many.len() - 50));
            }
            m
        }
    }
}

/// Splits tree entries into requests of bounded size.
fn chunks(items: Vec<Value>) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0usize;
    for item in items {
        let size = item
            .get("content")
            .and_then(Value::as_str)
            .map_or(0, str::len)
            + 200;
        if !current.is_empty()
            && (bytes + size > TREE_REQUEST_BYTES || current.len() >= TREE_REQUEST_ENTRIES)
        {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(item);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn backoff(races: u32) -> Duration {
    let jitter = u64::from(Utc::now().timestamp_subsec_micros()) % 100;
    Duration::from_millis((25u64 << races.min(6)).min(1_500) + jitter)
}

/// Retries a call GitHub may answer "does not exist" for a moment after the object was made
/// (it reads from replicas).
async fn with_lag_retry<T, F, Fut>(call: F) -> Result<T, GitError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, GitError>>,
{
    let mut attempt = 0u64;
    loop {
        match call().await {
            Err(GitError::ObjectMissing(m)) if attempt < 4 => {
                attempt += 1;
                tracing::debug!(%m, attempt, "object not visible yet; asking again");
                tokio::time::sleep(Duration::from_millis(250 * attempt)).await;
            }
            other => return other,
        }
    }
}

/// The id of tree `base` with `overlay` applied (paths relative to it), computing every new
/// tree into `made`; `Some(None)` when the result is empty, `None` when a tree it needs is
/// not cached.
fn build(
    trees: &HashMap<Oid, Arc<Vec<Entry>>>,
    base: Option<&str>,
    overlay: &Overlay,
    made: &mut HashMap<Oid, Vec<Entry>>,
) -> Option<Option<Oid>> {
    let mut map: BTreeMap<String, Entry> = match base {
        Some(b) => trees
            .get(b)?
            .iter()
            .map(|e| (e.name.clone(), e.clone()))
            .collect(),
        None => BTreeMap::new(),
    };
    let mut nested: BTreeMap<String, Overlay> = BTreeMap::new();
    for (path, staged) in overlay {
        match path.split_once('/') {
            None => match staged {
                Some(s) => {
                    map.insert(path.clone(), s.entry(path));
                }
                None => {
                    map.remove(path);
                }
            },
            Some((dir, rest)) => {
                nested
                    .entry(dir.to_string())
                    .or_default()
                    .insert(rest.to_string(), staged.clone());
            }
        }
    }
    for (dir, sub) in nested {
        let sub_base = match map.get(&dir) {
            Some(e) if e.kind == EntryKind::Dir => Some(e.oid.clone()),
            _ => None,
        };
        match build(trees, sub_base.as_deref(), &sub, made)? {
            Some(id) => {
                map.insert(
                    dir.clone(),
                    Entry {
                        name: dir,
                        kind: EntryKind::Dir,
                        oid: id,
                        size: None,
                    },
                );
            }
            None => {
                map.remove(&dir);
            }
        }
    }
    if map.is_empty() {
        return Some(None);
    }
    let mut entries: Vec<Entry> = map.into_values().collect();
    object::sort(&mut entries);
    let id = object::tree_id(&entries)?;
    made.insert(id.clone(), entries);
    Some(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_requests_stay_small() {
        let big = "x".repeat(1024 * 1024);
        let items: Vec<Value> = (0..20)
            .map(|i| json!({"path": format!("f{i}"), "content": big}))
            .collect();
        let split = chunks(items);
        assert!(split.len() >= 4, "{}", split.len());
        assert!(split.iter().all(|c| c.len() <= 6));
        let many: Vec<Value> = (0..12_000)
            .map(|i| json!({"path": format!("f{i}"), "sha": null}))
            .collect();
        assert_eq!(chunks(many).len(), 3);
    }

    #[test]
    fn local_trees_match_gits() {
        // One file `hello.txt` holding "hello\n", built from nothing.
        let mut overlay = Overlay::new();
        let text = "hello\n".to_string();
        overlay.insert(
            "hello.txt".into(),
            Some(Staged {
                oid: object::blob_id(text.as_bytes()),
                text: Arc::new(text),
                kind: EntryKind::File,
            }),
        );
        let mut made = HashMap::new();
        let id = build(&HashMap::new(), None, &overlay, &mut made);
        assert_eq!(
            id,
            Some(Some("aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7".to_string()))
        );
        // Deleting it again leaves nothing.
        let mut trees = HashMap::new();
        for (k, v) in made {
            trees.insert(k, Arc::new(v));
        }
        let mut gone = Overlay::new();
        gone.insert("hello.txt".into(), None);
        let mut made = HashMap::new();
        assert_eq!(
            build(
                &trees,
                Some("aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7"),
                &gone,
                &mut made
            ),
            Some(None)
        );
    }
}
