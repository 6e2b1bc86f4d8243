//! The Git Data API calls the git store makes (refs, commits, trees, blobs), over the same
//! GitHub transport as the tracker (octocrab underneath, with GitHub's retry, rate-limit and
//! write-pacing rules), and GitHub's answers turned into [`GitError`]s the store can act on:
//! a lost fast-forward race is a value to retry on, not a failure.

use http::Method;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::{json, Value};

use super::object::{Entry, EntryKind, Oid};
use crate::tracker::github::Client;
use crate::tracker::TrackerError;

/// Characters escaped in one path segment of a ref name (everything but unreserved ones).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What a Git Data API call can answer besides success.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GitError {
    #[error("{what} not found (HTTP 404)")]
    NotFound { what: String },
    /// 409 `Git Repository is empty.`: no branch exists yet, and GitHub refuses every Git
    /// Data call until one does.
    #[error("the repository has no commits yet (HTTP 409: Git Repository is empty.)")]
    EmptyRepository,
    /// The ref moved since it was read (422 `Update is not a fast forward`, or `Reference
    /// cannot be updated` when two updates meet inside GitHub).
    #[error("the ref moved meanwhile ({0})")]
    NotFastForward(String),
    #[error("the ref already exists")]
    RefExists,
    #[error("the ref does not exist")]
    RefMissing,
    /// An object just created is not visible yet (GitHub reads from replicas).
    #[error("an object it refers to does not exist (yet): {0}")]
    ObjectMissing(String),
    #[error("GitHub refused {what} (HTTP {status}: {message})")]
    Refused {
        what: String,
        status: u16,
        message: String,
    },
    #[error("GitHub refused {what} (HTTP 403: {message})")]
    Forbidden { what: String, message: String },
    #[error("GitHub rejected the credentials (HTTP 401); set a valid token in GITHUB_TOKEN")]
    Unauthorized,
    #[error("GitHub rate limit exhausted until {reset}")]
    RateLimited { reset: String },
    #[error("{0}")]
    Transport(String),
    #[error("GitHub sent an answer the git store cannot read for {what}: {detail}")]
    Decode { what: String, detail: String },
}

impl GitError {
    /// Failures that may pass on their own (network, 5xx, rate limits, replica lag).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GitError::Transport(_) | GitError::RateLimited { .. } | GitError::ObjectMissing(_)
        )
    }

    fn from_tracker(what: &str, e: TrackerError) -> GitError {
        match e {
            TrackerError::NotFound { .. } => GitError::NotFound {
                what: what.to_string(),
            },
            TrackerError::Unauthorized { .. } => GitError::Unauthorized,
            TrackerError::Forbidden { message, .. } => GitError::Forbidden {
                what: what.to_string(),
                message,
            },
            TrackerError::RateLimited { reset, .. } => GitError::RateLimited { reset },
            TrackerError::Http {
                status, message, ..
            } => classify(what, status, message),
            TrackerError::Decode { detail, .. } => GitError::Decode {
                what: what.to_string(),
                detail,
            },
            other => GitError::Transport(other.to_string()),
        }
    }
}

fn classify(what: &str, status: u16, message: String) -> GitError {
    let is = |m: &str| message.trim().eq_ignore_ascii_case(m);
    match status {
        409 if message.contains("Git Repository is empty") => GitError::EmptyRepository,
        422 if is("Update is not a fast forward") || is("Reference cannot be updated") => {
            GitError::NotFastForward(message)
        }
        // GitHub answers a ref update that meets another one inside its storage with 409.
        409 => GitError::NotFastForward(message),
        422 if is("Reference already exists") => GitError::RefExists,
        422 if is("Reference does not exist") => GitError::RefMissing,
        422 if is("Object does not exist") || message.starts_with("Tree SHA does not exist") => {
            GitError::ObjectMissing(message)
        }
        s if s >= 500 => GitError::Transport(format!("HTTP {s} for {what}: {message}")),
        _ => GitError::Refused {
            what: what.to_string(),
            status,
            message,
        },
    }
}

/// A commit as the store reads it.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub tree: Oid,
    pub parents: Vec<Oid>,
    pub message: String,
}

/// A tree listing: entries with their paths (full paths when recursive).
#[derive(Debug, Clone)]
pub struct TreeListing {
    pub entries: Vec<(String, Entry)>,
    pub truncated: bool,
}

#[derive(Deserialize)]
struct RefBody {
    object: RefObject,
}

#[derive(Deserialize)]
struct RefObject {
    sha: String,
}

#[derive(Deserialize)]
struct ShaBody {
    sha: String,
}

#[derive(Deserialize)]
struct CommitBody {
    tree: ShaBody,
    #[serde(default)]
    parents: Vec<ShaBody>,
    message: String,
}

#[derive(Deserialize)]
struct TreeBody {
    #[serde(default)]
    tree: Vec<TreeItem>,
    #[serde(default)]
    truncated: bool,
}

#[derive(Deserialize)]
struct TreeItem {
    path: String,
    mode: String,
    sha: String,
    size: Option<u64>,
}

#[derive(Deserialize)]
struct BlobBody {
    content: String,
    #[serde(default)]
    encoding: String,
}

/// One repository's Git Data API.
#[derive(Debug, Clone)]
pub struct GitApi {
    client: Client,
    owner: String,
    repo: String,
}

impl GitApi {
    pub fn new(client: Client, owner: &str, repo: &str) -> GitApi {
        GitApi {
            client,
            owner: owner.to_string(),
            repo: repo.to_string(),
        }
    }

    /// `OWNER/REPO`.
    pub fn repo(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }

    /// Requests made so far (reads and writes).
    pub fn requests(&self) -> u64 {
        self.client.requests()
    }

    fn path(&self, rest: &str) -> String {
        format!("/repos/{}/{}/git{rest}", self.owner, self.repo)
    }

    /// A ref name without `refs/` (`heads/x`), each segment escaped for the URL.
    fn ref_path(short: &str) -> String {
        short
            .split('/')
            .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
            .collect::<Vec<_>>()
            .join("/")
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
    ) -> Result<T, GitError> {
        let reply = self
            .client
            .get(path, None)
            .await
            .map_err(|e| GitError::from_tracker(what, e))?;
        serde_json::from_slice(&reply.body).map_err(|e| GitError::Decode {
            what: what.to_string(),
            detail: e.to_string(),
        })
    }

    async fn write_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<T, GitError> {
        let reply = self
            .client
            .write(method, path, Some(body))
            .await
            .map_err(|e| GitError::from_tracker(what, e))?;
        serde_json::from_slice(&reply.body).map_err(|e| GitError::Decode {
            what: what.to_string(),
            detail: e.to_string(),
        })
    }

    /// Whether the repository exists and the token can see it.
    pub async fn repository_exists(&self) -> Result<bool, GitError> {
        let path = format!("/repos/{}/{}", self.owner, self.repo);
        match self.client.get(&path, None).await {
            Ok(_) => Ok(true),
            Err(TrackerError::NotFound { .. }) => Ok(false),
            Err(e) => Err(GitError::from_tracker(
                &format!("repository {}", self.repo()),
                e,
            )),
        }
    }

    /// Where a fully qualified ref points, or `None` when it does not exist.
    pub async fn get_ref(&self, full: &str) -> Result<Option<Oid>, GitError> {
        let short = full.strip_prefix("refs/").unwrap_or(full);
        let what = format!("ref {full}");
        match self
            .get_json::<RefBody>(
                &what,
                &self.path(&format!("/ref/{}", Self::ref_path(short))),
            )
            .await
        {
            Ok(body) => Ok(Some(body.object.sha.to_ascii_lowercase())),
            Err(GitError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn create_ref(&self, full: &str, sha: &str) -> Result<(), GitError> {
        let what = format!("creating ref {full}");
        let _: Value = self
            .write_json(
                &what,
                Method::POST,
                &self.path("/refs"),
                &json!({"ref": full, "sha": sha}),
            )
            .await?;
        Ok(())
    }

    /// Moves a ref; without `force` only forward (`NotFastForward` otherwise).
    pub async fn update_ref(&self, full: &str, sha: &str, force: bool) -> Result<(), GitError> {
        let short = full.strip_prefix("refs/").unwrap_or(full);
        let what = format!("updating ref {full}");
        let _: Value = self
            .write_json(
                &what,
                Method::PATCH,
                &self.path(&format!("/refs/{}", Self::ref_path(short))),
                &json!({"sha": sha, "force": force}),
            )
            .await?;
        Ok(())
    }

    pub async fn get_commit(&self, sha: &str) -> Result<CommitInfo, GitError> {
        let body: CommitBody = self
            .get_json(
                &format!("commit {sha}"),
                &self.path(&format!("/commits/{sha}")),
            )
            .await?;
        Ok(CommitInfo {
            tree: body.tree.sha.to_ascii_lowercase(),
            parents: body
                .parents
                .into_iter()
                .map(|p| p.sha.to_ascii_lowercase())
                .collect(),
            message: body.message,
        })
    }

    pub async fn create_commit(
        &self,
        message: &str,
        tree: &str,
        parents: &[Oid],
    ) -> Result<Oid, GitError> {
        let body: ShaBody = self
            .write_json(
                "creating a commit",
                Method::POST,
                &self.path("/commits"),
                &json!({"message": message, "tree": tree, "parents": parents}),
            )
            .await?;
        Ok(body.sha.to_ascii_lowercase())
    }

    /// A tree by id; `recursive` lists every entry below it (GitHub may truncate that).
    pub async fn get_tree(&self, sha: &str, recursive: bool) -> Result<TreeListing, GitError> {
        let query = if recursive { "?recursive=1" } else { "" };
        let body: TreeBody = self
            .get_json(
                &format!("tree {sha}"),
                &self.path(&format!("/trees/{sha}{query}")),
            )
            .await?;
        let entries = body
            .tree
            .into_iter()
            .map(|item| {
                let name = item
                    .path
                    .rsplit_once('/')
                    .map_or(item.path.as_str(), |(_, n)| n)
                    .to_string();
                (
                    item.path.clone(),
                    Entry {
                        name,
                        kind: EntryKind::from_mode(&item.mode),
                        oid: item.sha.to_ascii_lowercase(),
                        size: item.size,
                    },
                )
            })
            .collect();
        Ok(TreeListing {
            entries,
            truncated: body.truncated,
        })
    }

    /// A new tree: `items` (Git Data API tree entries) on `base`.
    pub async fn create_tree(
        &self,
        base: Option<&str>,
        items: Vec<Value>,
    ) -> Result<Oid, GitError> {
        let mut body = json!({ "tree": items });
        if let Some(base) = base {
            body["base_tree"] = json!(base);
        }
        let reply: ShaBody = self
            .write_json("creating a tree", Method::POST, &self.path("/trees"), &body)
            .await?;
        Ok(reply.sha.to_ascii_lowercase())
    }

    /// A new blob holding `text` (the stored text of a large object).
    pub async fn create_blob(&self, text: &str) -> Result<Oid, GitError> {
        let reply: ShaBody = self
            .write_json(
                "creating a blob",
                Method::POST,
                &self.path("/blobs"),
                &json!({"content": text, "encoding": "utf-8"}),
            )
            .await?;
        Ok(reply.sha.to_ascii_lowercase())
    }

    /// The bytes of blob `sha`.
    pub async fn get_blob(&self, sha: &str) -> Result<Vec<u8>, GitError> {
        let what = format!("blob {sha}");
        let body: BlobBody = self
            .get_json(&what, &self.path(&format!("/blobs/{sha}")))
            .await?;
        match body.encoding.as_str() {
            "base64" => {
                use base64::Engine as _;
                let flat: String = body.content.split_whitespace().collect();
                base64::engine::general_purpose::STANDARD
                    .decode(flat)
                    .map_err(|e| GitError::Decode {
                        what,
                        detail: format!("content is not base64 ({e})"),
                    })
            }
            _ => Ok(body.content.into_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn githubs_answers_become_errors_to_act_on() {
        assert!(matches!(
            classify("x", 422, "Update is not a fast forward".into()),
            GitError::NotFastForward(_)
        ));
        assert!(matches!(
            classify("x", 422, "Reference cannot be updated".into()),
            GitError::NotFastForward(_)
        ));
        assert!(matches!(
            classify("x", 409, "Git Repository is empty.".into()),
            GitError::EmptyRepository
        ));
        assert!(matches!(
            classify("x", 422, "Reference already exists".into()),
            GitError::RefExists
        ));
        assert!(matches!(
            classify("x", 422, "Tree SHA does not exist".into()),
            GitError::ObjectMissing(_)
        ));
        assert!(matches!(
            classify("x", 422, "Repository rule violations found".into()),
            GitError::Refused { status: 422, .. }
        ));
        assert_eq!(
            GitApi::ref_path("backtrack/archive/locks/github--acme--%2Egithub"),
            "backtrack/archive/locks/github--acme--%252Egithub"
        );
    }
}
