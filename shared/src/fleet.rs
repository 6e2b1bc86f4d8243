//! A whole organisation: `github:ORG/*` lists every repository the credentials can see (at
//! each run, so new repositories join and deleted ones leave), skips archived ones unless
//! asked, and snapshots each repository as its own scope — one catalog entry per
//! repository, exactly as if each had been snapshotted alone — continuing past a repository
//! that fails. The run's [`RunSummary`] says, per scope, its status, requests and duration.
//!
//! The CLI runs the captures itself ([`snapshot_each`], a few at a time); the scheduled
//! function enqueues one job per repository and lets Lambda run them in parallel. Both list
//! with [`Credentials::list`] and summarise with [`RunSummary`], so the rules live here once.

pub mod app;
pub mod runs;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

pub use app::GitHubApp;

use crate::scope::Scope;
use crate::snapshot::{Archive, SnapshotOptions};
use crate::tracker::{GitHubConfig, GitHubTracker, Tracker, TrackerError};

/// How to reach an owner's repositories: a token (a personal or fine-grained token), or a
/// GitHub App whose installation tokens are fetched per organisation.
#[derive(Debug, Clone)]
pub struct Credentials {
    api_url: String,
    /// Which API captures read comments through (`GITHUB_API`), whoever authenticates.
    api: crate::tracker::github::Api,
    auth: Auth,
}

#[derive(Debug, Clone)]
enum Auth {
    Token(Option<String>),
    App(Arc<GitHubApp>),
}

/// What listing an owner found.
#[derive(Debug, Clone, Default)]
pub struct OwnerListing {
    /// The repositories to snapshot, in the order listed.
    pub scopes: Vec<Scope>,
    /// Archived repositories left out (without `include_archived`).
    pub archived_skipped: Vec<Scope>,
    /// Requests the listing took.
    pub requests: u64,
}

impl Credentials {
    /// A GitHub App when `GITHUB_APP_ID` is set (see [`GitHubApp::from_env`]), else
    /// `GITHUB_TOKEN`/`GH_TOKEN`; `GITHUB_API_URL` for both.
    pub fn from_env() -> Result<Self, TrackerError> {
        let base = GitHubConfig::from_env()?;
        let auth = match GitHubApp::from_env(&base.api_url)? {
            Some(app) => Auth::App(Arc::new(app)),
            None => Auth::Token(base.token),
        };
        Ok(Credentials {
            api_url: base.api_url,
            api: base.api,
            auth,
        })
    }

    pub fn token(api_url: &str, token: Option<String>) -> Self {
        Credentials {
            api_url: api_url.to_string(),
            api: Default::default(),
            auth: Auth::Token(token),
        }
    }

    pub fn app(api_url: &str, app: GitHubApp) -> Self {
        Credentials {
            api_url: api_url.to_string(),
            api: Default::default(),
            auth: Auth::App(Arc::new(app)),
        }
    }

    /// The app, when authenticating as one.
    pub fn github_app(&self) -> Option<&GitHubApp> {
        match &self.auth {
            Auth::App(app) => Some(app),
            Auth::Token(_) => None,
        }
    }

    /// The app, shared (its installation and token caches with it).
    pub fn github_app_arc(&self) -> Option<Arc<GitHubApp>> {
        match &self.auth {
            Auth::App(app) => Some(app.clone()),
            Auth::Token(_) => None,
        }
    }

    /// A tracker configuration for a repository of `owner`: the token, or the installation's
    /// tokens, asked for before every request (so a capture outlives any one of them). An
    /// app obtains its first token here, so a refused app fails before anything starts.
    pub async fn config_for(&self, owner: &str) -> Result<GitHubConfig, TrackerError> {
        let mut config = match &self.auth {
            Auth::Token(t) => GitHubConfig::new(self.api_url.clone(), t.clone()),
            Auth::App(app) => {
                app.token_for(owner).await?;
                GitHubConfig::with_token_source(
                    self.api_url.clone(),
                    Arc::new(app::InstallationTokens::new(app.clone(), owner)),
                )
            }
        };
        config.api = self.api;
        Ok(config)
    }

    /// Every repository of `owner` these credentials can see: an app's installation lists
    /// its repositories (`/installation/repositories`); a token lists the organisation's
    /// (`/orgs/{owner}/repos`), or a user's (`/users/{owner}/repos`) when `owner` is no
    /// organisation. Disabled repositories cannot be read and are left out.
    pub async fn list(
        &self,
        owner: &str,
        include_archived: bool,
    ) -> Result<OwnerListing, TrackerError> {
        let config = self.config_for(owner).await?;
        let client = crate::tracker::github::Client::new(
            &config.api_url,
            config.token.as_deref(),
            config.retry.clone(),
            config.pace.clone(),
        )?
        .with_token_source(config.token_source.clone());
        let firsts: Vec<String> = match &self.auth {
            Auth::App(_) => vec!["/installation/repositories?per_page=100".into()],
            Auth::Token(_) => vec![
                format!("/orgs/{owner}/repos?type=all&sort=full_name&direction=asc&per_page=100"),
                format!(
                    "/users/{owner}/repos?type=owner&sort=full_name&direction=asc&per_page=100"
                ),
            ],
        };
        let mut listing = OwnerListing::default();
        let mut found = false;
        for first in firsts {
            let mut next = Some(first);
            let mut items = Vec::new();
            let mut missing = false;
            while let Some(target) = next {
                let reply = match client.get(&target, None).await {
                    Ok(r) => r,
                    Err(TrackerError::NotFound { .. }) if items.is_empty() => {
                        missing = true;
                        break;
                    }
                    Err(e) => return Err(e),
                };
                let v = reply.json(&target)?;
                let page = match v {
                    serde_json::Value::Array(a) => a,
                    serde_json::Value::Object(mut o) => match o.remove("repositories") {
                        Some(serde_json::Value::Array(a)) => a,
                        _ => Vec::new(),
                    },
                    _ => Vec::new(),
                };
                items.extend(page);
                next = reply.next_link();
            }
            if missing {
                continue;
            }
            found = true;
            for repo in items {
                let login = repo
                    .pointer("/owner/login")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                let name = repo
                    .get("name")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                // An installation may span one account only, but say so, never assume.
                if !login.eq_ignore_ascii_case(owner) {
                    continue;
                }
                let flag = |k: &str| repo.get(k).and_then(serde_json::Value::as_bool) == Some(true);
                if flag("disabled") {
                    continue;
                }
                let scope = Scope::github(login, name).map_err(|e| TrackerError::Decode {
                    service: "GitHub".into(),
                    path: format!("/orgs/{owner}/repos"),
                    detail: e.to_string(),
                })?;
                if flag("archived") && !include_archived {
                    listing.archived_skipped.push(scope);
                } else {
                    listing.scopes.push(scope);
                }
            }
            break;
        }
        listing.requests = client.requests();
        if !found {
            return Err(TrackerError::NotFound {
                service: "GitHub".into(),
                what: format!("the organisation or user {owner}"),
            });
        }
        listing.scopes.sort();
        listing.archived_skipped.sort();
        Ok(listing)
    }
}

/// How one scope of a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Completed,
    Failed,
    /// Archived and left out.
    Skipped,
    /// Handed to the job queue; its own entry will say how it ended.
    Queued,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Skipped => "skipped (archived)",
            RunStatus::Queued => "queued",
        })
    }
}

/// One scope of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScopeRun {
    pub scope: Scope,
    pub status: RunStatus,
    /// The snapshot taken, when it completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// The queued job that captures it (runs of the scheduled function).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// API requests the capture made.
    pub requests: u64,
    pub duration_ms: u64,
    /// Why it failed (one line, no credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A run over every repository of an owner: what the CLI prints, the catalog keeps (see
/// [`runs`]) and the logs carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run's id (a ULID: ids sort by start).
    #[serde(default)]
    pub id: String,
    /// `github:ORG/*`.
    pub selection: String,
    pub started_at: DateTime<Utc>,
    /// When its last repository ended; `None` while queued jobs run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// From the start to the last repository's end (so far, while it runs).
    pub duration_ms: u64,
    /// Requests spent listing the repositories (and obtaining tokens).
    pub listing_requests: u64,
    pub scopes: Vec<ScopeRun>,
}

impl RunSummary {
    /// A run of `selection` starting now, with a new id and no scopes yet.
    pub fn start(selection: impl Into<String>, started_at: DateTime<Utc>) -> Self {
        RunSummary {
            id: runs::new_id(),
            selection: selection.into(),
            started_at,
            finished_at: None,
            duration_ms: 0,
            listing_requests: 0,
            scopes: Vec::new(),
        }
    }

    /// `running` until every repository ended, then `failed` when one failed, else
    /// `completed`.
    pub fn status(&self) -> &'static str {
        match (self.finished_at, self.failed()) {
            (None, _) => "running",
            (Some(_), 0) => "completed",
            (Some(_), _) => "failed",
        }
    }

    pub fn count(&self, status: RunStatus) -> usize {
        self.scopes.iter().filter(|s| s.status == status).count()
    }

    pub fn failed(&self) -> usize {
        self.count(RunStatus::Failed)
    }

    /// Requests of the whole run.
    pub fn requests(&self) -> u64 {
        self.listing_requests + self.scopes.iter().map(|s| s.requests).sum::<u64>()
    }
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let width = self
            .scopes
            .iter()
            .map(|s| s.scope.to_string().len())
            .max()
            .unwrap_or(5)
            .max(5);
        let queued = self.count(RunStatus::Queued);
        writeln!(
            f,
            "{}: {} repositories — {} completed, {} failed, {} skipped{}; {} requests in {:.1} s",
            self.selection,
            self.scopes.len(),
            self.count(RunStatus::Completed),
            self.failed(),
            self.count(RunStatus::Skipped),
            if queued > 0 {
                format!(", {queued} still running")
            } else {
                String::new()
            },
            self.requests(),
            self.duration_ms as f64 / 1000.0
        )?;
        writeln!(
            f,
            "{:width$}  {:18}  {:>8}  {:>9}  snapshot / error",
            "scope", "status", "requests", "duration"
        )?;
        for s in &self.scopes {
            let what = match (&s.snapshot, &s.error) {
                (_, Some(e)) => e.as_str(),
                (Some(id), None) => id.as_str(),
                (None, None) => "",
            };
            writeln!(
                f,
                "{:width$}  {:18}  {:>8}  {:>8.1}s  {}",
                s.scope.to_string(),
                s.status.to_string(),
                s.requests,
                s.duration_ms as f64 / 1000.0,
                crate::sanitize::visible(what)
            )?;
        }
        Ok(())
    }
}

/// The summary's lines for skipped (archived) repositories.
pub fn skipped(listing: &OwnerListing) -> Vec<ScopeRun> {
    listing
        .archived_skipped
        .iter()
        .map(|scope| ScopeRun {
            scope: scope.clone(),
            status: RunStatus::Skipped,
            snapshot: None,
            job: None,
            requests: 0,
            duration_ms: 0,
            error: None,
        })
        .collect()
}

/// Snapshots each scope as its own snapshot, `concurrency` at a time, every one to the end
/// whatever the others do; results in the order of `scopes`.
pub async fn snapshot_each(
    archive: &Archive,
    credentials: &Credentials,
    scopes: &[Scope],
    concurrency: usize,
    options: impl Fn(&Scope) -> SnapshotOptions,
) -> Vec<ScopeRun> {
    let runs = scopes.iter().map(|scope| {
        let opts = options(scope);
        async move { snapshot_one(archive, credentials, scope, &opts).await }
    });
    stream::iter(runs)
        .buffered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
}

/// One scope of a run: its capture, timed and counted, a failure kept as a line.
pub async fn snapshot_one(
    archive: &Archive,
    credentials: &Credentials,
    scope: &Scope,
    opts: &SnapshotOptions,
) -> ScopeRun {
    let started = Instant::now();
    let mut requests = 0;
    let result = async {
        let (owner, _) = scope.github_repo().ok_or_else(|| {
            crate::Error::from(TrackerError::Config(format!(
                "{scope} is not a GitHub scope"
            )))
        })?;
        let config = credentials.config_for(owner).await?;
        let tracker = Arc::new(GitHubTracker::new(scope, &config)?);
        let as_tracker: Arc<dyn Tracker> = tracker.clone();
        let outcome = archive.create_snapshot(as_tracker, opts).await;
        requests = tracker.client().requests();
        outcome
    }
    .await;
    let duration_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(report) => ScopeRun {
            scope: scope.clone(),
            status: RunStatus::Completed,
            snapshot: Some(report.id.to_string()),
            job: None,
            requests: report.requests,
            duration_ms,
            error: None,
        },
        Err(e) => ScopeRun {
            scope: scope.clone(),
            status: RunStatus::Failed,
            snapshot: None,
            job: None,
            requests,
            duration_ms,
            error: Some(crate::sanitize::error_line(&format!("{e:#}"))),
        },
    }
}
