//! The GitHub tracker: captures a repository's issues (pull requests included), comments,
//! labels and milestones with repo-wide listings only — never one request per issue.
//!
//! Issues and comments are walked in `sort=updated&direction=asc` order using `since`
//! windows rather than deep `page=` offsets: a window query is re-evaluated from its start
//! time, so a record updated while the walk runs moves *later* in the order and is seen again
//! instead of shifting an unseen record into an already-read page. The same walk, started
//! from a cursor, is the incremental capture.

mod apply;
mod client;
mod convert;

use std::collections::HashSet;
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::mpsc;

pub use client::{parse_next_link, Client, Reply, RetryPolicy, WritePace};

use crate::manifest::Cursor;
use crate::record::{Record, RecordKind};
use crate::scope::Scope;
use crate::tracker::{FetchOptions, FetchReport, Progress, Tracker, TrackerError};

/// The public API root.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// GitHub's largest page.
const PER_PAGE: u32 = 100;

/// How to reach GitHub. The token is held here and handed to the HTTP client only; `Debug`
/// redacts it.
#[derive(Clone)]
pub struct GitHubConfig {
    pub api_url: String,
    pub token: Option<String>,
    pub retry: RetryPolicy,
    pub pace: WritePace,
}

impl fmt::Debug for GitHubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubConfig")
            .field("api_url", &self.api_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("retry", &self.retry)
            .field("pace", &self.pace)
            .finish()
    }
}

impl GitHubConfig {
    pub fn new(api_url: impl Into<String>, token: Option<String>) -> Self {
        GitHubConfig {
            api_url: api_url.into(),
            token,
            retry: RetryPolicy::default(),
            pace: WritePace::default(),
        }
    }

    /// `GITHUB_API_URL` (default the public API) and `GITHUB_TOKEN`, else `GH_TOKEN`.
    pub fn from_env() -> Self {
        let nonempty = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let api_url = nonempty("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_string());
        let token = nonempty("GITHUB_TOKEN")
            .or_else(|| nonempty("GH_TOKEN"))
            .map(|t| t.trim().to_string());
        GitHubConfig::new(api_url, token)
    }
}

/// One GitHub repository as a [`Tracker`].
#[derive(Debug)]
pub struct GitHubTracker {
    scope: Scope,
    owner: String,
    repo: String,
    client: Client,
}

impl GitHubTracker {
    pub fn new(scope: &Scope, config: &GitHubConfig) -> Result<Self, TrackerError> {
        let (owner, repo) = scope
            .github_repo()
            .ok_or_else(|| TrackerError::Config(format!("{scope} is not a GitHub scope")))?;
        let client = Client::new(
            &config.api_url,
            config.token.as_deref(),
            config.retry.clone(),
            config.pace.clone(),
        )?;
        Ok(GitHubTracker {
            scope: scope.clone(),
            owner: owner.to_string(),
            repo: repo.to_string(),
            client,
        })
    }

    /// The HTTP client, for writes (rollback) and diagnostics.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `/repos/{owner}/{repo}{rest}`.
    pub fn repo_path(&self, rest: &str) -> String {
        format!("/repos/{}/{}{}", self.owner, self.repo, rest)
    }

    /// Reads every page of a plain listing (labels, milestones) by following `Link: next`.
    async fn walk_pages(
        &self,
        first: String,
        kind: RecordKind,
        progress: &dyn Progress,
        out: &mpsc::Sender<Record>,
    ) -> Result<(), TrackerError> {
        let mut next = Some(first);
        let mut fetched = 0u64;
        while let Some(target) = next {
            let reply = self.client.get(&target, None).await?;
            for raw in page_items(&reply, &target)? {
                let record = match kind {
                    RecordKind::Label => Record::Label(convert::label(raw, &target)?),
                    RecordKind::Milestone => Record::Milestone(convert::milestone(raw, &target)?),
                    RecordKind::Issue => Record::Issue(convert::issue(raw, &target)?),
                    RecordKind::Comment => Record::Comment(convert::comment(raw, &target)?),
                };
                out.send(record).await.map_err(|_| TrackerError::Aborted)?;
                fetched += 1;
            }
            progress.update(kind, fetched, None);
            next = reply.next_link();
        }
        Ok(())
    }

    /// Walks issues or comments in `since` windows (see the module docs). Returns the newest
    /// `updated_at` seen.
    async fn walk_since(
        &self,
        kind: RecordKind,
        since: Option<DateTime<Utc>>,
        progress: &dyn Progress,
        out: &mpsc::Sender<Record>,
    ) -> Result<Option<DateTime<Utc>>, TrackerError> {
        let (path, extra) = match kind {
            RecordKind::Issue => ("/issues", "state=all&"),
            _ => ("/issues/comments", ""),
        };
        let base = self.repo_path(path);
        let mut since = since;
        let mut page = 1u32;
        // Ids already emitted whose updated_at is at or after the current window start: the
        // window overlaps the previous page by design and these are its duplicates.
        // A record updated again during the walk comes back with a newer timestamp and is
        // emitted again; the consumer keeps the newest version of each key.
        let mut seen: HashSet<(u64, DateTime<Utc>)> = HashSet::new();
        let mut newest: Option<DateTime<Utc>> = None;
        let mut fetched = 0u64;
        loop {
            let since_q = since
                .map(|s| format!("&since={}", s.format("%Y-%m-%dT%H:%M:%SZ")))
                .unwrap_or_default();
            let target = format!(
                "{base}?{extra}sort=updated&direction=asc&per_page={PER_PAGE}&page={page}{since_q}"
            );
            let reply = self.client.get(&target, None).await?;
            let items = page_items(&reply, &target)?;
            let mut last_ts: Option<DateTime<Utc>> = None;
            for raw in items {
                let record = match kind {
                    RecordKind::Issue => Record::Issue(convert::issue(raw, &target)?),
                    _ => Record::Comment(convert::comment(raw, &target)?),
                };
                let (id, ts) = match &record {
                    Record::Issue(i) => (i.id, i.updated_at),
                    Record::Comment(c) => (c.id, c.updated_at),
                    _ => continue,
                };
                last_ts = Some(ts);
                if !seen.insert((id, ts)) {
                    continue;
                }
                newest = newest.max(Some(ts));
                out.send(record).await.map_err(|_| TrackerError::Aborted)?;
                fetched += 1;
            }
            progress.update(kind, fetched, None);
            if reply.next_link().is_none() {
                break;
            }
            let Some(last_ts) = last_ts else { break };
            // Start the next window one second before the last timestamp read: GitHub's
            // timestamps have one-second resolution and `since` may be inclusive or not, so
            // this overlap is what guarantees no record sharing that second is lost.
            let next_since = last_ts - chrono::Duration::seconds(1);
            if since.is_some_and(|s| next_since <= s) {
                // The whole page sat within one second of the window start (a bulk edit):
                // the window cannot move, so page through it.
                page += 1;
            } else {
                since = Some(next_since);
                page = 1;
                seen.retain(|(_, ts)| *ts >= next_since);
            }
        }
        Ok(newest)
    }
}

/// The JSON array of a listing page.
fn page_items(reply: &Reply, target: &str) -> Result<Vec<Value>, TrackerError> {
    match reply.json(target)? {
        Value::Array(items) => Ok(items),
        other => Err(TrackerError::Decode {
            service: "GitHub".into(),
            path: target.to_string(),
            detail: format!(
                "expected a JSON array, got {}",
                match other {
                    Value::Object(_) => "an object",
                    _ => "a scalar",
                }
            ),
        }),
    }
}

#[async_trait]
impl Tracker for GitHubTracker {
    fn scope(&self) -> &Scope {
        &self.scope
    }

    async fn check(&self) -> Result<(), TrackerError> {
        let path = self.repo_path("");
        let reply = self.client.get(&path, None).await.map_err(|e| match e {
            TrackerError::NotFound { service, .. } => TrackerError::NotFound {
                service,
                what: format!("repository {}/{}", self.owner, self.repo),
            },
            other => other,
        })?;
        let repo = reply.json(&path)?;
        if repo.get("has_issues").and_then(Value::as_bool) == Some(false) {
            tracing::warn!(scope = %self.scope, "the repository has issues disabled; only pull requests will be captured");
        }
        Ok(())
    }

    async fn fetch(
        &self,
        opts: &FetchOptions,
        out: mpsc::Sender<Record>,
    ) -> Result<FetchReport, TrackerError> {
        let requests_before = self.client.requests();
        let not_modified_before = self.client.not_modified();
        let progress = opts.progress.as_ref();
        let since = opts.since.clone().unwrap_or_default();
        let labels = self.walk_pages(
            self.repo_path(&format!("/labels?per_page={PER_PAGE}")),
            RecordKind::Label,
            progress,
            &out,
        );
        let milestones = self.walk_pages(
            self.repo_path(&format!("/milestones?state=all&per_page={PER_PAGE}")),
            RecordKind::Milestone,
            progress,
            &out,
        );
        let issues = self.walk_since(RecordKind::Issue, since.issues_updated, progress, &out);
        let comments = self.walk_since(RecordKind::Comment, since.comments_updated, progress, &out);
        // Four listings in flight at most, which is within what GitHub tolerates for one
        // token and hides most of the latency of the two long walks.
        let result = futures::future::try_join4(labels, milestones, issues, comments).await;
        let (_, _, issues_updated, comments_updated) = result.map_err(|e| match e {
            TrackerError::NotFound { service, .. } => TrackerError::NotFound {
                service,
                what: format!("repository {}/{}", self.owner, self.repo),
            },
            other => other,
        })?;
        Ok(FetchReport {
            requests: self.client.requests() - requests_before,
            not_modified: self.client.not_modified() - not_modified_before,
            cursor: Cursor {
                issues_updated: issues_updated.or(since.issues_updated),
                comments_updated: comments_updated.or(since.comments_updated),
                ..Cursor::default()
            },
        })
    }

    fn requests(&self) -> u64 {
        self.client.requests()
    }

    async fn apply(
        &self,
        op: &crate::rollback::Operation,
        ctx: &mut crate::tracker::ApplyContext,
    ) -> Result<Value, TrackerError> {
        self.apply_op(op, ctx).await
    }

    async fn find_restored_comment(
        &self,
        issue: u64,
        original_id: u64,
    ) -> Result<Option<u64>, TrackerError> {
        self.find_restored(issue, original_id).await
    }
}
