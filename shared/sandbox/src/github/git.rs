//! The Git Data API subset: blobs, trees, commits and refs of the one repository, as GitHub
//! serves them (`/repos/{owner}/{repo}/git/…`).
//!
//! Objects carry their real git ids, so a tree or commit id computed by any git client
//! matches. What GitHub refuses, this refuses, with GitHub's status and message:
//! - a repository without branches answers every route `409 Git Repository is empty.`;
//! - `PATCH` of a ref that is not a fast-forward (without `force: true`) is `422 Update is not
//!   a fast forward`, which makes a ref a compare-and-swap cell; creating a ref that exists is
//!   `422 Reference already exists`; updating or deleting one that does not is `422
//!   Reference does not exist`; `refs/pull/*` is read-only; new ref names must start with
//!   `refs/` and have three components;
//! - a tree entry gives `sha` (`null` deletes the path) or `content`, never both; a tree that
//!   ends up empty answers 404 (GitHub will not serve an empty tree); a recursive listing stops
//!   at 100,000 entries or about 7 MB and says `truncated: true`;
//! - a commit's tree and parents must exist (`Tree SHA does not exist`, `Parent SHA does not
//!   exist or is not a commit object`); author and committer default to the token's user.
//!
//! The message for deleting a path that is not in the base tree is the sandbox's own (GitHub
//! answers 422 with an internal error text there).

mod db;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Extension;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use db::{Change, Commit, Mode, Object, Oid, RefError};
pub(crate) use db::{GitDb, Person};

use super::http::{check_repo, parse_body, Actor, ApiError, Ctx, Params, Reply};
use super::render::{encode_segment, ts};
use super::schema::{Kind, Shape, STRING};
use super::state::{unix_now, State as Store, UserKind};
use super::Shared;

type RepoPath = Path<(String, String)>;
type ItemPath = Path<(String, String, String)>;

/// GitHub stops a recursive tree listing at this many bytes of answer.
const TREE_BYTE_LIMIT: usize = 7 * 1024 * 1024;

fn unprocessable(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// The repository's git database, or 409 when it has no branch yet.
fn git_of<'a>(st: &'a Store, owner: &str, repo: &str) -> Result<&'a GitDb, ApiError> {
    check_repo(st, owner, repo)?;
    if st.git.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Git Repository is empty.",
        ));
    }
    Ok(&st.git)
}

fn git_of_mut<'a>(st: &'a mut Store, owner: &str, repo: &str) -> Result<&'a mut GitDb, ApiError> {
    git_of(st, owner, repo)?;
    Ok(&mut st.git)
}

/// GitHub's node ids for git objects: base64 of `0{len}:{Kind}{repo id}:{sha}`.
fn node_id(kind: &str, repo_id: u64, sha: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(format!("0{}:{kind}{repo_id}:{sha}", kind.len()))
}

/// Base64 as GitHub sends blob content: wrapped at 60 characters, each line ending in `\n`.
fn wrapped_base64(bytes: &[u8]) -> String {
    let flat = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(flat.len() + flat.len() / 60 + 1);
    for chunk in flat.as_bytes().chunks(60) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

struct Wire<'a> {
    ctx: &'a Ctx,
    st: &'a Store,
}

impl Wire<'_> {
    fn git_api(&self) -> String {
        format!(
            "{}/repos/{}/{}/git",
            self.ctx.api, self.st.owner, self.st.repo
        )
    }

    fn object_url(&self, kind: &str, sha: &str) -> String {
        format!("{}/{kind}s/{sha}", self.git_api())
    }

    /// `git-ref`.
    fn git_ref(&self, name: &str, oid: &str) -> Value {
        let kind = self.st.git.object(oid).map_or("commit", Object::kind);
        let short = name.strip_prefix("refs/").unwrap_or(name);
        let url_name: Vec<String> = short.split('/').map(encode_segment).collect();
        json!({
            "ref": name,
            "node_id": base64::engine::general_purpose::STANDARD.encode(format!("03:Ref{name}")),
            "url": format!("{}/refs/{}", self.git_api(), url_name.join("/")),
            "object": {"sha": oid, "type": kind, "url": self.object_url(kind, oid)},
        })
    }

    /// `git-tree`: `entries` with their (full) paths.
    fn tree(&self, sha: &str, entries: &[(String, db::Entry)], truncated: bool) -> Value {
        let items: Vec<Value> = entries
            .iter()
            .map(|(path, e)| {
                let kind = e.mode.kind();
                let mut item = json!({
                    "path": path,
                    "mode": e.mode.api(),
                    "type": kind,
                    "sha": e.oid,
                });
                if kind == "blob" {
                    let size = self.st.git.blob(&e.oid).map_or(0, |b| b.len());
                    item["size"] = json!(size);
                }
                if kind != "commit" {
                    item["url"] = json!(self.object_url(kind, &e.oid));
                }
                item
            })
            .collect();
        json!({
            "sha": sha,
            "url": self.object_url("tree", sha),
            "tree": items,
            "truncated": truncated,
        })
    }

    fn person(p: &Person) -> Value {
        json!({"name": p.name, "email": p.email, "date": ts(p.time)})
    }

    /// `git-commit`.
    fn commit(&self, sha: &str, c: &Commit) -> Value {
        let web = format!("{}/{}/{}", self.ctx.origin, self.st.owner, self.st.repo);
        let parents: Vec<Value> = c
            .parents
            .iter()
            .map(|p| {
                json!({"sha": p, "url": self.object_url("commit", p),
                       "html_url": format!("{web}/commit/{p}")})
            })
            .collect();
        json!({
            "sha": sha,
            "node_id": node_id("Commit", self.st.repo_id, sha),
            "url": self.object_url("commit", sha),
            "html_url": format!("{web}/commit/{sha}"),
            "author": Self::person(&c.author),
            "committer": Self::person(&c.committer),
            "tree": {"sha": c.tree, "url": self.object_url("tree", &c.tree)},
            "message": c.message,
            "parents": parents,
            "verification": {"verified": false, "reason": "unsigned", "signature": null,
                             "payload": null, "verified_at": null},
        })
    }
}

/// `GET /repos/{owner}/{repo}/git/ref/{ref}`: one ref by its name without `refs/`.
pub(crate) async fn get_ref(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, name)): ItemPath,
) -> Result<Reply, ApiError> {
    let st = sb.read();
    let git = git_of(&st, &owner, &repo)?;
    let full = format!("refs/{name}");
    let oid = git.get_ref(&full).ok_or_else(ApiError::not_found)?;
    Ok(Reply::ok(&Wire { ctx: &ctx, st: &st }.git_ref(&full, oid)))
}

/// `GET /repos/{owner}/{repo}/git/matching-refs/{ref}`: every ref whose name starts so.
pub(crate) async fn matching_refs(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, prefix)): ItemPath,
) -> Result<Reply, ApiError> {
    let st = sb.read();
    let git = git_of(&st, &owner, &repo)?;
    let wire = Wire { ctx: &ctx, st: &st };
    let refs: Vec<Value> = git
        .matching_refs(&format!("refs/{prefix}"))
        .iter()
        .map(|(n, o)| wire.git_ref(n, o))
        .collect();
    Ok(Reply::ok(&Value::Array(refs)))
}

/// GitHub's checks of a new ref's name, in its order and words.
fn check_new_ref_name(name: &str) -> Result<(), ApiError> {
    if !db::valid_ref_name(name) {
        return Err(unprocessable(&format!("{name} is not a valid ref name.")));
    }
    if !name.starts_with("refs/") {
        return Err(unprocessable("Reference name must start with 'refs/'."));
    }
    let three = name
        .strip_prefix("refs/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(first, rest)| !first.is_empty() && !rest.is_empty());
    if !three {
        return Err(unprocessable(
            "Reference name must contain at least three slash-separated components.",
        ));
    }
    check_writable_ref(name)
}

/// Refs GitHub keeps for itself, whatever the write.
fn check_writable_ref(name: &str) -> Result<(), ApiError> {
    if name == "refs/pull" || name.starts_with("refs/pull/") {
        return Err(unprocessable("refs/pull/* is read-only."));
    }
    if name == "refs/__gh__" || name.starts_with("refs/__gh__/") {
        return Err(unprocessable("refs/__gh__/* is reserved for internal use."));
    }
    Ok(())
}

fn sha_param(o: &Map<String, Value>, key: &str) -> Result<Oid, ApiError> {
    match o.get(key).and_then(Value::as_str) {
        Some(s) if db::is_oid(s) => Ok(s.to_ascii_lowercase()),
        _ => Err(unprocessable(&format!(
            "{key} must be exactly 40 characters and contain only [0-9a-f]."
        ))),
    }
}

fn ref_error(e: RefError) -> ApiError {
    unprocessable(e.message())
}

/// `POST /repos/{owner}/{repo}/git/refs` `{ref, sha}`.
pub(crate) async fn create_ref(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo)): RepoPath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let v = parse_body(&body)?;
    let o = Shape::of(&v)?
        .required("ref")
        .required("sha")
        .kinds("ref", STRING)
        .kinds("sha", STRING)
        .check()?;
    let name = o.get("ref").and_then(Value::as_str).unwrap_or_default();
    let sha = sha_param(o, "sha")?;
    let mut st = sb.write();
    let git = git_of_mut(&mut st, &owner, &repo)?;
    check_new_ref_name(name)?;
    git.create_ref(name, &sha).map_err(ref_error)?;
    Ok(Reply::created(
        &Wire { ctx: &ctx, st: &st }.git_ref(name, &sha),
    ))
}

/// Counters of ref updates, and the hold that makes branch updates meet (see the sandbox's
/// extensions in `github.rs`).
#[derive(Debug, Default)]
pub(crate) struct Control {
    updates: AtomicU64,
    not_fast_forward: AtomicU64,
    held: AtomicU64,
    hold: Mutex<Option<Hold>>,
}

#[derive(Debug)]
struct Hold {
    /// `refs/heads/<branch>`.
    name: String,
    expected: usize,
    arrived: usize,
    open: tokio::sync::watch::Sender<bool>,
    timeout: Duration,
}

impl Control {
    fn hold(&self) -> std::sync::MutexGuard<'_, Option<Hold>> {
        self.hold.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits while a hold on `name` gathers its updates (at most its timeout).
    async fn gate(&self, name: &str) {
        let wait = {
            let mut slot = self.hold();
            match slot.as_mut() {
                Some(h) if h.name == name => {
                    h.arrived += 1;
                    self.held.fetch_add(1, Ordering::Relaxed);
                    if h.arrived >= h.expected {
                        let _ = h.open.send(true);
                        *slot = None;
                        None
                    } else {
                        Some((h.open.subscribe(), h.timeout))
                    }
                }
                _ => None,
            }
        };
        if let Some((mut open, timeout)) = wait {
            let _ = tokio::time::timeout(timeout, open.wait_for(|o| *o)).await;
        }
    }
}

/// `GET /_sandbox/git`: ref updates answered, refused as not fast-forward, and held.
pub(crate) async fn sandbox_stats(State(sb): State<Arc<Shared>>) -> Reply {
    let c = &sb.git;
    Reply::ok(&json!({
        "ref_updates": c.updates.load(Ordering::Relaxed),
        "not_fast_forward": c.not_fast_forward.load(Ordering::Relaxed),
        "held": c.held.load(Ordering::Relaxed),
    }))
}

/// `POST /_sandbox/git/hold` `{"branch": B, "updates": N, "timeout_ms": T}`.
pub(crate) async fn sandbox_hold(State(sb): State<Arc<Shared>>, body: Bytes) -> Reply {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let branch = v.get("branch").and_then(Value::as_str);
    let updates = v
        .get("updates")
        .and_then(Value::as_u64)
        .filter(|n| (2..=64).contains(n));
    let (Some(branch), Some(updates)) = (branch, updates) else {
        return Reply::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"message": "expected {\"branch\": NAME, \"updates\": 2..64, \"timeout_ms\": N}",
                    "documentation_url": super::http::DOCS_URL}),
        );
    };
    let timeout = Duration::from_millis(
        v.get("timeout_ms")
            .and_then(Value::as_u64)
            .unwrap_or(30_000),
    );
    let (open, _) = tokio::sync::watch::channel(false);
    *sb.git.hold() = Some(Hold {
        name: format!("refs/heads/{branch}"),
        expected: updates as usize,
        arrived: 0,
        open,
        timeout,
    });
    Reply::ok(&json!({"held": branch, "updates": updates}))
}

/// `PATCH /repos/{owner}/{repo}/git/refs/{ref}` `{sha, force}`: fast-forward only unless
/// `force`.
pub(crate) async fn update_ref(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, short)): ItemPath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let v = parse_body(&body)?;
    let o = Shape::of(&v)?
        .required("sha")
        .kinds("sha", STRING)
        .kinds("force", &[Kind::Boolean])
        .check()?;
    let sha = sha_param(o, "sha")?;
    let force = o.get("force").and_then(Value::as_bool).unwrap_or(false);
    let name = format!("refs/{short}");
    sb.git.gate(&name).await;
    let mut st = sb.write();
    let git = git_of_mut(&mut st, &owner, &repo)?;
    check_writable_ref(&name)?;
    sb.git.updates.fetch_add(1, Ordering::Relaxed);
    if let Err(e) = git.update_ref(&name, &sha, force) {
        if e == RefError::NotFastForward {
            sb.git.not_fast_forward.fetch_add(1, Ordering::Relaxed);
        }
        return Err(ref_error(e));
    }
    Ok(Reply::ok(&Wire { ctx: &ctx, st: &st }.git_ref(&name, &sha)))
}

/// `DELETE /repos/{owner}/{repo}/git/refs/{ref}`.
pub(crate) async fn delete_ref(
    State(sb): State<Arc<Shared>>,
    Path((owner, repo, short)): ItemPath,
) -> Result<Reply, ApiError> {
    let name = format!("refs/{short}");
    let mut st = sb.write();
    let git = git_of_mut(&mut st, &owner, &repo)?;
    check_writable_ref(&name)?;
    git.delete_ref(&name).map_err(ref_error)?;
    Ok(Reply::no_content())
}

/// `POST /repos/{owner}/{repo}/git/blobs` `{content, encoding}`.
pub(crate) async fn create_blob(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo)): RepoPath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let v = parse_body(&body)?;
    let o = Shape::of(&v)?
        .required("content")
        .kinds("content", STRING)
        .one_of("encoding", &["utf-8", "base64"], false)
        .check()?;
    let content = o.get("content").and_then(Value::as_str).unwrap_or_default();
    let bytes = match o.get("encoding").and_then(Value::as_str) {
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(content.replace(['\n', '\r'], ""))
            .map_err(|_| unprocessable("content is not valid Base64"))?,
        _ => content.as_bytes().to_vec(),
    };
    let mut st = sb.write();
    let git = git_of_mut(&mut st, &owner, &repo)?;
    let sha = git.put_blob(bytes);
    let url = Wire { ctx: &ctx, st: &st }.object_url("blob", &sha);
    Ok(Reply::created(&json!({"sha": sha, "url": url})))
}

/// `GET /repos/{owner}/{repo}/git/blobs/{sha}`: content in wrapped base64.
pub(crate) async fn get_blob(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, sha)): ItemPath,
) -> Result<Reply, ApiError> {
    let st = sb.read();
    let git = git_of(&st, &owner, &repo)?;
    let sha = sha.to_ascii_lowercase();
    let bytes = git.blob(&sha).ok_or_else(ApiError::not_found)?;
    let wire = Wire { ctx: &ctx, st: &st };
    Ok(Reply::ok(&json!({
        "sha": sha,
        "node_id": node_id("Blob", st.repo_id, &sha),
        "size": bytes.len(),
        "url": wire.object_url("blob", &sha),
        "content": wrapped_base64(bytes),
        "encoding": "base64",
    })))
}

/// One entry of a tree request, checked as GitHub checks it.
fn tree_change(git: &mut GitDb, item: &Value) -> Result<(String, Change), ApiError> {
    let invalid = || unprocessable("Invalid tree info");
    let o = item.as_object().ok_or_else(invalid)?;
    let path = o
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .replace('\0', "");
    let malformed = path.is_empty()
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c.eq_ignore_ascii_case(".git"));
    if malformed {
        return Err(unprocessable(
            "tree.path contains a malformed path component",
        ));
    }
    let sha = match o.get("sha") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    };
    let has_sha_key = o.contains_key("sha");
    let content = o.get("content").filter(|c| !c.is_null());
    if has_sha_key == content.is_some() {
        return Err(unprocessable(
            "Must supply either tree.sha or tree.content. Request will be rejected if both are present.",
        ));
    }
    let kind = o.get("type").and_then(Value::as_str).unwrap_or("blob");
    if let Some(sha) = &sha {
        let exists = kind == "commit" && db::is_oid(sha)
            || git.object(sha).is_some_and(|obj| obj.kind() == kind);
        if !exists {
            return Err(unprocessable(&format!(
                "tree.sha {sha} is not a valid {kind}"
            )));
        }
    }
    let mode = o
        .get("mode")
        .and_then(Value::as_str)
        .and_then(Mode::parse)
        .ok_or_else(|| unprocessable("Must supply a valid tree.mode"))?;
    if mode == Mode::Dir && content.is_some() {
        return Err(unprocessable("A subdirectory may not have content"));
    }
    let change = match (sha, content) {
        (Some(sha), _) => Change::Set {
            mode,
            oid: sha.to_ascii_lowercase(),
        },
        (None, Some(content)) => {
            let text = content.as_str().ok_or_else(invalid)?;
            let oid = git.put_blob(text.as_bytes().to_vec());
            Change::Set { mode, oid }
        }
        (None, None) => Change::Delete,
    };
    Ok((path, change))
}

/// `POST /repos/{owner}/{repo}/git/trees` `{tree: [...], base_tree}`.
pub(crate) async fn create_tree(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo)): RepoPath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let v = parse_body(&body)?;
    let o = Shape::of(&v)?
        .required("tree")
        .kinds("tree", &[Kind::Array])
        .kinds("base_tree", STRING)
        .check()?;
    let items = o
        .get("tree")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let base = o
        .get("base_tree")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut st = sb.write();
    let git = git_of_mut(&mut st, &owner, &repo)?;
    if items.is_empty() {
        return Err(unprocessable("Invalid tree info"));
    }
    // A refused tree may leave blobs of its `content` entries behind, unreachable and
    // invisible, as a failed write leaves loose objects in any git repository.
    let mut changes = Vec::with_capacity(items.len());
    for item in &items {
        changes.push(tree_change(git, item)?);
    }
    let base = match base {
        Some(b) => Some(
            git.resolve_tree(&b)
                .ok_or_else(|| unprocessable("base_tree is not a valid tree oid"))?,
        ),
        None => None,
    };
    let sha = git
        .build_tree(base.as_deref(), &changes)
        .map_err(|e| unprocessable(&e.0))?;
    let entries: Vec<(String, db::Entry)> = git
        .tree(&sha)
        .map(|t| t.iter().map(|e| (e.name.clone(), e.clone())).collect())
        .unwrap_or_default();
    // GitHub answers 404 rather than serve an empty tree.
    if entries.is_empty() {
        return Err(ApiError::not_found());
    }
    Ok(Reply::created(
        &Wire { ctx: &ctx, st: &st }.tree(&sha, &entries, false),
    ))
}

/// `GET /repos/{owner}/{repo}/git/trees/{tree_sha}[?recursive=1]`: a tree by id, or the tree
/// of a commit or of a branch's tip.
pub(crate) async fn get_tree(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, treeish)): ItemPath,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, ApiError> {
    let q = Params(q);
    let st = sb.read();
    let git = git_of(&st, &owner, &repo)?;
    if git.blob(&treeish).is_some() {
        return Err(unprocessable(
            "Invalid object requested. SHA must identify a commit or a tree.",
        ));
    }
    let sha = git.resolve_tree(&treeish).ok_or_else(ApiError::not_found)?;
    let limit = sb.opts.git_tree_limit.max(1);
    let (entries, truncated) = if q.get("recursive").is_some() {
        git.walk(&sha, limit, TREE_BYTE_LIMIT)
    } else {
        let all = git
            .tree(&sha)
            .map(|t| t.as_ref().clone())
            .unwrap_or_default();
        let truncated = all.len() > limit;
        (
            all.into_iter()
                .take(limit)
                .map(|e| (e.name.clone(), e))
                .collect(),
            truncated,
        )
    };
    if entries.is_empty() {
        return Err(ApiError::not_found());
    }
    Ok(Reply::ok(
        &Wire { ctx: &ctx, st: &st }.tree(&sha, &entries, truncated),
    ))
}

/// The `author` or `committer` object of a commit request.
fn person_param(o: &Map<String, Value>, key: &str, now: i64) -> Result<Option<Person>, ApiError> {
    let Some(v) = o.get(key).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let p = v
        .as_object()
        .ok_or_else(|| unprocessable(&format!("Invalid request.\n\n{key} is not an object.")))?;
    let field = |f: &str| p.get(f).and_then(Value::as_str).map(str::to_owned);
    let (Some(name), Some(email)) = (field("name"), field("email")) else {
        return Err(unprocessable(&format!(
            "Invalid request.\n\n\"name\" and \"email\" weren't supplied for {key}."
        )));
    };
    let time = match field("date") {
        Some(d) => chrono::DateTime::parse_from_rfc3339(&d)
            .map(|t| t.timestamp())
            .map_err(|_| unprocessable(&format!("{key}.date is not a valid date-time")))?,
        None => now,
    };
    Ok(Some(Person { name, email, time }))
}

/// `POST /repos/{owner}/{repo}/git/commits` `{message, tree, parents, author, committer}`.
pub(crate) async fn create_commit(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo)): RepoPath,
    Actor(me): Actor,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let v = parse_body(&body)?;
    let o = Shape::of(&v)?
        .required("message")
        .required("tree")
        .kinds("message", STRING)
        .kinds("tree", STRING)
        .array_of("parents", STRING)
        .kinds("author", &[Kind::Object])
        .kinds("committer", &[Kind::Object])
        .check()?;
    let message = o.get("message").and_then(Value::as_str).unwrap_or_default();
    let tree = sha_param(o, "tree")?;
    let parents: Vec<Oid> = o
        .get("parents")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    let mut st = sb.write();
    let now = st.clock.max(unix_now());
    let default_author = st.users.get(me).map(|u| Person {
        name: match u.kind {
            UserKind::Bot { .. } => u.login.clone(),
            _ => u.name.clone().unwrap_or_else(|| u.login.clone()),
        },
        email: format!("{}+{}@users.noreply.github.com", u.id, u.login),
        time: now,
    });
    let git = git_of_mut(&mut st, &owner, &repo)?;
    match git.object(&tree) {
        None => return Err(unprocessable("Tree SHA does not exist")),
        Some(Object::Tree(_)) => {}
        Some(_) => return Err(unprocessable("Tree SHA is not a tree object")),
    }
    if parents.iter().any(|p| !db::is_oid(p)) {
        return Err(unprocessable(
            "Each SHA in the 'parents' parameter must be exactly 40 characters and contain only [0-9a-f].",
        ));
    }
    if parents.iter().any(|p| git.commit(p).is_none()) {
        return Err(unprocessable(
            "Parent SHA does not exist or is not a commit object",
        ));
    }
    let author = person_param(o, "author", now)?
        .or(default_author)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "Requires authentication"))?;
    let committer = person_param(o, "committer", now)?.unwrap_or_else(|| author.clone());
    let commit = Commit {
        tree,
        parents,
        author,
        committer,
        message: message.to_owned(),
    };
    let sha = git.put_commit(commit.clone());
    Ok(Reply::created(
        &Wire { ctx: &ctx, st: &st }.commit(&sha, &commit),
    ))
}

/// `GET /repos/{owner}/{repo}/git/commits/{sha}`.
pub(crate) async fn get_commit(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, sha)): ItemPath,
) -> Result<Reply, ApiError> {
    let st = sb.read();
    let git = git_of(&st, &owner, &repo)?;
    let sha = sha.to_ascii_lowercase();
    let commit = git.commit(&sha).ok_or_else(ApiError::not_found)?;
    Ok(Reply::ok(&Wire { ctx: &ctx, st: &st }.commit(&sha, commit)))
}
