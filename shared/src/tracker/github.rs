//! The GitHub tracker: captures a repository's issues (pull requests included), comments,
//! labels and milestones with repo-wide listings only — never one request per issue.
//!
//! Issues and comments are walked in `sort=updated&direction=asc` order using `since`
//! windows rather than deep `page=` offsets: a window query is re-evaluated from its start
//! time, so a record updated while the walk runs moves *later* in the order and is seen again
//! instead of shifting an unseen record into an already-read page. The same walk, started
//! from a cursor, is the incremental capture.

mod activity;
mod apply;
mod client;
mod convert;
mod embed;
pub mod fields;
pub mod graphql;
mod links;
mod reconcile;
pub mod sticky;

use std::collections::HashSet;
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::mpsc;

pub use client::{
    check_token, parse_link, parse_next_link, Client, Reply, RetryPolicy, TokenSource, WritePace,
};
pub use graphql::Api;

use crate::manifest::Cursor;
use crate::record::{Record, RecordKind};
use crate::scope::Scope;
use crate::tracker::{
    Coverage, Embedding, FetchOptions, FetchReport, Operation, Progress, Spend, Totals, Tracker,
    TrackerError, TrackerWriter,
};

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
    /// Which API a full capture reads comments through (see [`graphql`]).
    pub api: Api,
    /// Tokens that change while the tracker lives (a GitHub App's installation tokens),
    /// asked before every request; `token` is unused then.
    pub token_source: Option<std::sync::Arc<dyn TokenSource>>,
}

impl fmt::Debug for GitHubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubConfig")
            .field("api_url", &crate::sanitize::redact_url(&self.api_url))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("retry", &self.retry)
            .field("pace", &self.pace)
            .field("api", &self.api)
            .field(
                "token_source",
                &self.token_source.as_ref().map(|_| "<redacted>"),
            )
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
            api: Api::default(),
            token_source: None,
        }
    }

    /// A configuration whose tokens come from `source`, asked before every request.
    pub fn with_token_source(
        api_url: impl Into<String>,
        source: std::sync::Arc<dyn TokenSource>,
    ) -> Self {
        GitHubConfig {
            token_source: Some(source),
            ..GitHubConfig::new(api_url, None)
        }
    }

    /// `GITHUB_API_URL` (default the public API) and `GITHUB_TOKEN`, else `GH_TOKEN`.
    ///
    /// A variable that is set but unusable (not UTF-8, or a token with a control character,
    /// a space or a non-ASCII character in it, which no GitHub token has) is an error that
    /// names the variable, never its value: a token pasted with a stray character would
    /// otherwise fail later and obscurely.
    pub fn from_env() -> Result<Self, TrackerError> {
        let nonempty = |k: &str| match std::env::var(k) {
            Ok(v) if v.trim().is_empty() => Ok(None),
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(TrackerError::Config(format!(
                "{k} is not valid UTF-8; set it again"
            ))),
        };
        use crate::config::env;
        let api_url = nonempty(env::GITHUB_API_URL)?.unwrap_or_else(|| DEFAULT_API_URL.to_string());
        let token = match nonempty(env::GITHUB_TOKEN)? {
            Some(t) => Some((env::GITHUB_TOKEN, t)),
            None => nonempty(env::GH_TOKEN)?.map(|t| (env::GH_TOKEN, t)),
        };
        let token = match token {
            Some((var, t)) => {
                let t = t.trim().to_string();
                check_token(&t, var)?;
                Some(t)
            }
            None => None,
        };
        let mut config = GitHubConfig::new(api_url, token);
        if let Some(api) = nonempty(env::GITHUB_API)? {
            config.api = api.parse()?;
        }
        Ok(config)
    }
}

/// One GitHub repository as a [`Tracker`].
#[derive(Debug)]
pub struct GitHubTracker {
    scope: Scope,
    owner: String,
    repo: String,
    client: Client,
    api: Api,
    max_wait: std::time::Duration,
    /// The writer's milestone numbers by title (see `apply`).
    milestones: apply::MilestoneCache,
    /// The writer's copies (restore into another scope) by origin (see `apply`).
    copies: apply::CopyCache,
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
        )?
        .with_token_source(config.token_source.clone());
        Ok(GitHubTracker {
            scope: scope.clone(),
            owner: owner.to_string(),
            repo: repo.to_string(),
            client,
            api: config.api,
            max_wait: config.retry.max_wait,
            milestones: apply::MilestoneCache::default(),
            copies: apply::CopyCache::default(),
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
    /// With `etag` (the validator of the listing's single page last time), asks
    /// `If-None-Match` first: a 304 means the parent's records of `kind` stand, and costs no
    /// rate limit.
    async fn walk_pages(
        &self,
        first: String,
        kind: RecordKind,
        etag: Option<&str>,
        progress: &dyn Progress,
        out: &mpsc::Sender<Record>,
    ) -> Result<Listing, TrackerError> {
        let mut next = Some(first.clone());
        let mut fetched = 0u64;
        let mut pages = 0u32;
        let mut first_etag = None;
        while let Some(target) = next {
            let conditional = if pages == 0 { etag } else { None };
            let reply = self.client.get(&target, conditional).await?;
            if reply.status == http::StatusCode::NOT_MODIFIED {
                return Ok(Listing::Unchanged);
            }
            if pages == 0 {
                first_etag = reply.header("etag").map(str::to_string);
            }
            pages += 1;
            for raw in page_items(&reply, &target)? {
                let record = match kind {
                    RecordKind::Label => Record::Label(convert::label(raw, &target)?),
                    RecordKind::Milestone => Record::Milestone(convert::milestone(raw, &target)?),
                    RecordKind::Issue => Record::Issue(convert::issue(raw, &target)?),
                    RecordKind::Comment => Record::Comment(convert::comment(raw, &target)?),
                    other => {
                        return Err(TrackerError::Config(format!(
                            "GitHub has no listing of {other} records"
                        )))
                    }
                };
                out.send(record).await.map_err(|_| TrackerError::Aborted)?;
                fetched += 1;
            }
            progress.update(kind, fetched, None);
            next = reply.next_link();
        }
        // A validator only describes one page; a longer listing is re-read whole.
        Ok(Listing::Complete {
            etag: first_etag.filter(|_| pages == 1),
        })
    }

    /// Walks issues or comments in `since` windows (see the module docs). Returns the newest
    /// `updated_at` seen; `aside` says what else it keeps or tells (see [`Aside`]).
    async fn walk_since(
        &self,
        kind: RecordKind,
        since: Option<DateTime<Utc>>,
        spend: &Spend,
        progress: &dyn Progress,
        out: &mpsc::Sender<Record>,
        aside: Aside,
    ) -> Result<Walked, TrackerError> {
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
        let mut observed = Vec::new();
        let mut partial = false;
        let mut resume_at = None;
        let mut pages = 0u64;
        let mut began = None;
        loop {
            // Between two pages: everything before `newest` has been read, so stopping here
            // leaves a cursor the next capture continues from. The first page is always
            // read, so a budget smaller than a capture's fixed requests still makes progress
            // (a snapshot job continued invocation after invocation would otherwise loop).
            if spend.stops(self.client.requests(), pages) {
                partial = true;
                break;
            }
            let since_q = since
                .map(|s| format!("&since={}", s.format("%Y-%m-%dT%H:%M:%SZ")))
                .unwrap_or_default();
            let target = format!(
                "{base}?{extra}sort=updated&direction=asc&per_page={PER_PAGE}&page={page}{since_q}"
            );
            let reply = match self.client.get(&target, None).await {
                Ok(r) => r,
                Err(TrackerError::RateLimited { reset, .. }) => {
                    tracing::warn!(%reset, "rate limit spent; stopping here (partial): run again after the reset to continue");
                    partial = true;
                    resume_at = reset_time(&reset);
                    break;
                }
                Err(e) => return Err(e),
            };
            pages += 1;
            if began.is_none() {
                began = graphql::server_date(&reply);
            }
            let items = page_items(&reply, &target)?;
            let mut last_ts: Option<DateTime<Utc>> = None;
            for raw in items {
                let record = match kind {
                    RecordKind::Issue => {
                        let mut issue = convert::issue(raw, &target)?;
                        self.read_links(&mut issue, None).await?;
                        Record::Issue(issue)
                    }
                    _ => Record::Comment(convert::comment(raw, &target)?),
                };
                let (id, ts, seen_as) = match &record {
                    Record::Issue(i) => (i.id, i.updated_at, (i.number, i.comments)),
                    Record::Comment(c) => (c.id, c.updated_at, (c.id, c.issue_number)),
                    _ => continue,
                };
                last_ts = Some(ts);
                if !seen.insert((id, ts)) {
                    continue;
                }
                match (&aside, &record) {
                    (Aside::Observe, _) => observed.push(seen_as),
                    (Aside::Feed(tx), Record::Issue(i)) => {
                        // The walk reading comments may have stopped (or fallen back to REST).
                        let _ = tx.send(graphql::Listed {
                            number: i.number,
                            comments: i.comments,
                            pull: i.pull_request,
                        });
                    }
                    _ => {}
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
            let next_since = last_ts
                .checked_sub_signed(chrono::Duration::seconds(1))
                .unwrap_or(last_ts);
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
        Ok(Walked {
            newest,
            observed,
            partial,
            resume_at,
            began,
            follows_issues: false,
        })
    }
}

/// A rate-limit error's reset (RFC 3339, or "in Ns"), as a time.
pub(crate) fn reset_time(reset: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(reset) {
        return Some(t.with_timezone(&Utc));
    }
    let secs = reset
        .strip_prefix("in ")?
        .strip_suffix('s')?
        .parse::<i64>()
        .ok()?;
    Some(Utc::now() + chrono::Duration::seconds(secs))
}

impl GitHubTracker {
    /// A full capture's comments through GraphQL where `api` allows, following the issue
    /// listing (`listed`), and falling back to REST under `auto` when the server has none;
    /// an incremental one's (`since`) through the REST listing. Returns the walk and the
    /// GraphQL points spent.
    async fn walk_comments(
        &self,
        since: Option<Option<DateTime<Utc>>>,
        listed: Option<mpsc::UnboundedReceiver<graphql::Listed>>,
        spend: &Spend,
        progress: &dyn Progress,
        out: &mpsc::Sender<Record>,
        observe: bool,
    ) -> Result<(Walked, u64), TrackerError> {
        if let (None, Some(listed)) = (since, listed) {
            let reader = graphql::GraphqlReader {
                client: &self.client,
                owner: &self.owner,
                repo: &self.repo,
                max_wait: self.max_wait,
                budget: spend.budget,
                start: spend.start,
            };
            match reader.walk(listed, progress, out).await {
                Ok(w) => {
                    tracing::info!(
                        queries = w.queries,
                        points = w.points,
                        "comments read through GraphQL"
                    );
                    return Ok((
                        Walked {
                            newest: w.newest,
                            partial: w.partial,
                            resume_at: w.resume_at,
                            follows_issues: true,
                            ..Walked::default()
                        },
                        w.points,
                    ));
                }
                Err(graphql::GraphqlError::Unsupported(why)) if self.api == Api::Auto => {
                    tracing::info!(%why, "no usable GraphQL API; reading comments through REST");
                }
                Err(e) => return Err(e.into_tracker()),
            }
        }
        let walked = self
            .walk_since(
                RecordKind::Comment,
                since.flatten(),
                spend,
                progress,
                out,
                if observe {
                    Aside::Observe
                } else {
                    Aside::Nothing
                },
            )
            .await?;
        Ok((walked, 0))
    }
}

/// The outcome of [`GitHubTracker::walk_pages`].
#[derive(Debug)]
enum Listing {
    /// Revalidated by a 304: nothing was read.
    Unchanged,
    /// Read whole; `etag` validates it next time when it fit one page.
    Complete { etag: Option<String> },
}

/// What [`GitHubTracker::walk_since`] keeps or tells beside the records it sends.
#[derive(Debug)]
enum Aside {
    Nothing,
    /// Keep what deletion detection compares ([`Walked::observed`]): incremental captures
    /// only, as a full one would hold a pair per record for nothing.
    Observe,
    /// Tell the GraphQL comment walk each issue read (it follows the listing).
    Feed(mpsc::UnboundedSender<graphql::Listed>),
}

/// The outcome of [`GitHubTracker::walk_since`].
#[derive(Debug, Default)]
struct Walked {
    /// The newest `updated_at` read.
    newest: Option<DateTime<Utc>>,
    /// Issues as (number, comment count); comments as (id, issue number).
    observed: Vec<(u64, u64)>,
    /// The budget ran out before the walk's end.
    partial: bool,
    /// The rate limit's reset, when that is what ran out.
    resume_at: Option<DateTime<Utc>>,
    /// The server's clock at the walk's first answer.
    began: Option<DateTime<Utc>>,
    /// Comments read item by item after the issue listing (GraphQL): complete only as far
    /// as the listing is.
    follows_issues: bool,
}

impl GitHubTracker {
    /// A 404 from a repository path means the repository (or the token's view of it).
    fn repo_not_found(&self, e: TrackerError) -> TrackerError {
        match e {
            TrackerError::NotFound { service, .. } => TrackerError::NotFound {
                service,
                what: format!("repository {}/{}", self.owner, self.repo),
            },
            other => other,
        }
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
        let reply = self
            .client
            .get(&path, None)
            .await
            .map_err(|e| self.repo_not_found(e))?;
        let repo = reply.json(&path)?;
        if repo.get("has_issues").and_then(Value::as_bool) == Some(false) {
            tracing::warn!(scope = %self.scope, "the repository has issues disabled; only pull requests will be captured");
        }
        Ok(())
    }

    async fn probe(&self) -> Result<Option<Totals>, TrackerError> {
        let issues_path = self.repo_path("/issues?state=all&per_page=1");
        let comments_path = self.repo_path("/issues/comments?per_page=1");
        let (issues, comments) =
            futures::future::try_join(self.count(&issues_path), self.count(&comments_path))
                .await
                .map_err(|e| self.repo_not_found(e))?;
        Ok(Some(Totals { issues, comments }))
    }

    async fn fetch(
        &self,
        opts: &FetchOptions,
        out: mpsc::Sender<Record>,
    ) -> Result<FetchReport, TrackerError> {
        let requests_before = self.client.requests();
        let not_modified_before = self.client.not_modified();
        let progress = opts.progress.as_ref();
        let incremental = opts.since.is_some();
        let parent = opts.since.clone().unwrap_or_default();
        // Windows start `overlap` before the parent's cursor: a record committed just
        // before the parent finished may only have become visible since.
        let start =
            |t: Option<DateTime<Utc>>| t.map(|t| t.checked_sub_signed(opts.overlap).unwrap_or(t));
        let labels_path = self.repo_path(&format!("/labels?per_page={PER_PAGE}"));
        let milestones_path = self.repo_path(&format!("/milestones?state=all&per_page={PER_PAGE}"));
        let etag = |path: &str| {
            incremental
                .then(|| parent.etags.get(path).map(String::as_str))
                .flatten()
        };
        let labels = self.walk_pages(
            labels_path.clone(),
            RecordKind::Label,
            etag(&labels_path),
            progress,
            &out,
        );
        let milestones = self.walk_pages(
            milestones_path.clone(),
            RecordKind::Milestone,
            etag(&milestones_path),
            progress,
            &out,
        );
        let spend = Spend {
            budget: opts.budget,
            start: requests_before,
        };
        // A full capture may read comments through GraphQL, asking about the items the
        // issue listing shows as it goes.
        let (aside, listed) = if incremental {
            (Aside::Observe, None)
        } else if self.api != Api::Rest {
            let (tx, rx) = mpsc::unbounded_channel();
            (Aside::Feed(tx), Some(rx))
        } else {
            (Aside::Nothing, None)
        };
        let issues = self.walk_since(
            RecordKind::Issue,
            start(parent.issues_updated),
            &spend,
            progress,
            &out,
            aside,
        );
        let comments = self.walk_comments(
            incremental.then(|| start(parent.comments_updated)),
            listed,
            &spend,
            progress,
            &out,
            incremental,
        );
        // Labels and milestones (a page or two, often a free 304) are read before the issues,
        // not beside them: an issue then never embeds a definition older than the one this
        // capture records. A definition edited between the two reads leaves the issue newer
        // than the definition record, which the next capture sees changed and refreshes the
        // issues of (see `embed`); the other order would leave an issue stale for good.
        let (labels, milestones) = futures::future::try_join(labels, milestones)
            .await
            .map_err(|e| self.repo_not_found(e))?;
        // Two listings in flight, within what GitHub tolerates for one token.
        let (issues, (mut comments, points)) = futures::future::try_join(issues, comments)
            .await
            .map_err(|e| self.repo_not_found(e))?;
        if comments.follows_issues {
            // Comments read after the listing cover only the items it showed, and a comment
            // added to an item the listing had already passed is not among them: the next
            // capture resumes no later than when the listing began, and lists comments whole
            // after a partial listing.
            comments.newest = match (issues.partial, comments.newest, issues.began) {
                (true, _, _) => None,
                (false, Some(n), Some(b)) => Some(n.min(b - chrono::Duration::seconds(1))),
                (false, n, _) => n,
            };
        }

        let mut report = FetchReport {
            points,
            partial: issues.partial || comments.partial,
            resume_at: issues.resume_at.max(comments.resume_at),
            ..FetchReport::default()
        };
        let mut etags = std::collections::BTreeMap::new();
        for (kind, path, listing) in [
            (RecordKind::Label, labels_path, labels),
            (RecordKind::Milestone, milestones_path, milestones),
        ] {
            match listing {
                Listing::Unchanged => {
                    report.coverage.insert(kind, Coverage::Unchanged);
                    if let Some(e) = parent.etags.get(&path) {
                        etags.insert(path, e.clone());
                    }
                }
                Listing::Complete { etag: Some(e) } => {
                    etags.insert(path, e);
                }
                Listing::Complete { etag: None } => {}
            }
        }
        // Even when the budget ran out: the activity window moves on with this capture, so
        // the issues its link events name are read now or never (a few reads per event).
        if incremental {
            match (&opts.known, &opts.relinked) {
                (Some(known), Some(relinked)) => {
                    let listed: HashSet<u64> = issues.observed.iter().map(|(n, _)| *n).collect();
                    let done = self
                        .refresh_links(known, relinked, &listed, &out)
                        .await
                        .map_err(|e| self.repo_not_found(e))?;
                    tracing::debug!(?done, "links refreshed");
                }
                _ => tracing::warn!(
                    "incremental capture without an activity log: sub-issue and dependency changes since the parent are not seen until the next full snapshot"
                ),
            }
        }
        if incremental {
            report.coverage.insert(RecordKind::Issue, Coverage::Changes);
            report
                .coverage
                .insert(RecordKind::Comment, Coverage::Changes);
            match (&opts.known, opts.totals) {
                // A partial capture cannot tell a deletion from what it has not read yet:
                // the capture that completes it reconciles.
                _ if report.partial => {}
                (Some(known), Some(totals)) => {
                    self.reconcile((known, totals), &issues, &comments, &mut report, progress, &out)
                        .await
                        .map_err(|e| self.repo_not_found(e))?;
                }
                _ => tracing::warn!(
                    "incremental capture without the parent's ids or live totals: deletions since the parent are not detected"
                ),
            }
        }
        report.requests = self.client.requests() - requests_before;
        report.not_modified = self.client.not_modified() - not_modified_before;
        report.cursor = Cursor {
            issues_updated: issues.newest.max(parent.issues_updated),
            comments_updated: comments.newest.max(parent.comments_updated),
            etags,
            since_reconcile: 0,
            checkpoint: None,
        };
        Ok(report)
    }

    fn requests(&self) -> u64 {
        self.client.requests()
    }

    async fn activity(
        &self,
        from: crate::attribution::ActivityFrom,
    ) -> Result<Option<crate::attribution::Activity>, TrackerError> {
        self.issue_events(from).await.map(Some)
    }

    fn embedding(&self) -> Option<&dyn Embedding> {
        Some(&embed::IssueEmbeds)
    }
}

#[async_trait]
impl TrackerWriter for GitHubTracker {
    async fn apply(&self, op: &Operation) -> Result<Value, TrackerError> {
        self.apply_op(op).await
    }

    async fn find_applied(&self, op: &Operation) -> Result<Option<Value>, TrackerError> {
        self.find_applied_op(op).await
    }

    fn reader(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn Tracker> {
        self
    }
}
