//! The GitHub sandbox: a stateful, GitHub-REST-compatible HTTP emulator.
//!
//! It serves one seeded repository at `/` and under `/api/v3/` (the Enterprise form).
//!
//! # Layout
//! - this file: the public API ([`Sandbox`], [`SandboxOptions`]) and the route table.
//! - `data`: deterministic seeding from [`SandboxOptions::seed`].
//! - `state`: the store, its indexes and the write semantics (label deletion strips issues,
//!   comment counts, milestone counters, the monotonic clock).
//! - `render`: GitHub-shaped JSON for each object (validated against GitHub's OpenAPI).
//! - `schema`: the shape check every write body passes first, refused in GitHub's words
//!   (`Invalid request.` …); `state` then refuses bad values (`Validation Failed`).
//! - `pacific`: milestone due dates, kept as midnight Pacific time as GitHub keeps them.
//! - `http`: the request gate (auth: one user per token; stats, latency, faults and the write
//!   limit from [`crate::meter`]; ETag/304, rate-limit headers), errors (each pointing at its
//!   operation's documentation, as GitHub's do), replies (201 with `Location`) and
//!   pagination.
//! - `meta`, `issues`, `comments`, `labels`, `milestones`: the handlers.
//! - `git`: the Git Data API (blobs, trees, commits, refs) over the repository's own object
//!   database (`git::db`), with GitHub's fast-forward rule on ref updates.
//!
//! # Sandbox-only extensions
//! - `DELETE /repos/{owner}/{repo}/issues/{number}` deletes an issue (GitHub only deletes
//!   issues through GraphQL); afterwards the issue answers 410 like a deleted GitHub issue.
//! - `GET /_sandbox/stats`, `POST /_sandbox/reset` and `POST /_sandbox/clock` (moves time
//!   forward to simulate days passing); none is counted in the stats.
//! - `GET /_sandbox/git` (ref updates made and refused as not fast-forward) and `POST
//!   /_sandbox/git/hold` `{"branch", "updates", "timeout_ms"}`: the next `updates` updates of
//!   that branch wait for each other, then proceed one by one — two writers that built on
//!   the same tip are made to race, deterministically.
//! - `POST /_sandbox/faults` `{"route": "GET /repos/{owner}/{repo}/issues/events", "status":
//!   503}` makes every request to one route (the template, as `/_sandbox/stats` counts it)
//!   answer that status with GitHub's body for it, until `"status": null` or a reset; `GET
//!   /_sandbox/faults` lists them. A test breaks one listing and keeps the rest working.

mod activity;
mod app;
mod comments;
mod data;
mod fleet;
mod git;
mod graphql;
mod http;
mod issues;
mod labels;
mod meta;
mod milestones;
mod pacific;
mod relations;
mod render;
mod schema;
mod state;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;

pub use self::app::AppOptions;
use self::http::RateWindow;
use self::state::State;
use crate::meter::{Meter, SandboxStats};
use crate::server::{self, SandboxError, Server, ServerOptions};

/// Environment variable that overrides the default token in [`SandboxOptions::default`].
pub const TOKEN_ENV: &str = "BACKTRACK_SANDBOX_TOKEN";
/// The token the sandbox accepts when neither the options nor [`TOKEN_ENV`] say otherwise.
pub const DEFAULT_TOKEN: &str = "sandbox-token";

/// How to start a [`Sandbox`]. Build with `SandboxOptions { issues: 10, ..Default::default() }`.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Address, public URL, latency, faults and the write limit.
    pub server: ServerOptions,
    /// Owner (an organisation) of the one repository served.
    pub owner: String,
    /// Name of the one repository served.
    pub repo: String,
    /// Number of seeded issues (about 10% are pull requests).
    pub issues: u64,
    /// Number of seeded issue comments, skewed so a few issues have more than 100.
    pub comments: u64,
    /// Seed of the deterministic data generator (and of the fault sequence).
    pub seed: u64,
    /// The default token, which authenticates as `sandbox-admin`. Default:
    /// `$BACKTRACK_SANDBOX_TOKEN` or `sandbox-token`.
    pub token: String,
    /// More tokens, each authenticating as its own user (one user per token, as on GitHub).
    pub tokens: Vec<TokenUser>,
    /// A repository without commits: the Git Data API answers 409 (`Git Repository is
    /// empty.`), as GitHub does. Otherwise `main` holds one commit with a README.
    pub empty_repository: bool,
    /// Entries a tree listing returns before it says `truncated` (GitHub: 100,000; lower it
    /// to exercise clients' fallback to listing one subtree at a time).
    pub git_tree_limit: usize,
    /// Serve `POST /graphql`; without it the endpoint answers 404, as on an Enterprise
    /// server without the GraphQL API.
    pub graphql: bool,
    /// More repositories of the same owner, served beside `repo`, each seeded like it with
    /// its own seed (`seed + 1`, `seed + 2`…): `GET /orgs/{owner}/repos` lists them all.
    pub more_repos: Vec<String>,
    /// Served repositories (names) that are archived: listed with `"archived": true`,
    /// read-only (writes answer 403 as on GitHub).
    pub archived: Vec<String>,
    /// A GitHub App installed on the owner: JWTs signed by its key get installation tokens.
    pub app: Option<AppOptions>,
    /// Enforce REST's primary rate limit (the `core` resource) with this budget and window:
    /// once spent, requests are refused with 403, `x-ratelimit-remaining: 0` and the reset
    /// time, as on GitHub. `None`: GitHub's 5,000 an hour is reported, never enforced.
    pub rate_limit: Option<PrimaryLimit>,
}

/// A primary rate limit: `requests` per `window` (GitHub: 5,000 an hour for a user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrimaryLimit {
    pub requests: u64,
    pub window: Duration,
}

/// A token the sandbox accepts besides the default one, and who it authenticates as.
///
/// A login the seed already has (`alice`, `bob`…) is that user; any other login becomes a new
/// user with no association to the repository. A login ending in `[bot]` is a GitHub App's
/// bot (`"type": "Bot"`), and its token behaves like an installation token: `GET /user`
/// answers 403 "Resource not accessible by integration", as it does for the `GITHUB_TOKEN` of
/// GitHub Actions (`github-actions[bot]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUser {
    pub token: String,
    pub login: String,
}

/// The login the default token authenticates as.
pub const DEFAULT_LOGIN: &str = "sandbox-admin";

impl Default for SandboxOptions {
    fn default() -> Self {
        let token = std::env::var(TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_TOKEN.to_owned());
        SandboxOptions {
            server: ServerOptions::default(),
            owner: "acme".into(),
            repo: "widgets".into(),
            issues: 120,
            comments: 600,
            seed: 42,
            token,
            tokens: Vec::new(),
            empty_repository: false,
            git_tree_limit: 100_000,
            graphql: true,
            more_repos: Vec::new(),
            archived: Vec::new(),
            app: None,
            rate_limit: None,
        }
    }
}

/// State shared by every request handler.
///
/// The store sits behind a `std::sync::RwLock`, not tokio's: every critical section is short
/// and synchronous (no `.await` while holding it), reads dominate, and std's lock is cheaper.
/// The meter (stats, write window, fault RNG) and the primary rate-limit window have their
/// own mutexes so counting never waits behind a long read of the store.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) opts: SandboxOptions,
    pub(crate) local_addr: SocketAddr,
    /// Token → the user it authenticates as (an index into `State::users`, which reseeding
    /// keeps stable).
    pub(crate) tokens: HashMap<String, usize>,
    state: RwLock<State>,
    meter: Mutex<Meter>,
    rate: Mutex<RateWindow>,
    /// GraphQL's own budget, in points (GitHub keeps it apart from the REST one).
    graphql_rate: Mutex<RateWindow>,
    /// Git ref-update counters and the test hold on branch updates (`/_sandbox/git`).
    pub(crate) git: git::Control,
    /// Routes broken on purpose (`/_sandbox/faults`): `GET /repos/{owner}/{repo}/…` → the
    /// status every request to it answers until cleared.
    pub(crate) route_faults: Mutex<BTreeMap<String, StatusCode>>,
}

impl Shared {
    /// A poisoned lock only means a handler panicked mid-request; the store's invariants are
    /// restored by every write before it can panic, so keep serving.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn meter(&self) -> MutexGuard<'_, Meter> {
        self.meter.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn rate(&self) -> MutexGuard<'_, RateWindow> {
        self.rate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn graphql_rate(&self) -> MutexGuard<'_, RateWindow> {
        self.graphql_rate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Reseeds the store and zeroes the stats (`POST /_sandbox/reset`). The clock keeps
    /// running forward so timestamps never go back.
    pub(crate) fn reset(&self) {
        let fresh = data::seed(&self.opts);
        {
            let mut st = self.write();
            let (clock, archived) = (st.clock, st.archived);
            *st = fresh;
            st.clock = st.clock.max(clock);
            st.archived = archived;
        }
        self.meter().reset_stats();
        self.route_faults().clear();
    }

    pub(crate) fn route_faults(&self) -> MutexGuard<'_, BTreeMap<String, StatusCode>> {
        self.route_faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running sandbox server. Dropping it stops the server (like [`Sandbox::shutdown`], without
/// waiting).
#[derive(Debug)]
pub struct Sandbox {
    /// The first repository's sandbox.
    shared: Arc<Shared>,
    /// The front, when several repositories or an app are served.
    fleet: Option<Arc<fleet::Fleet>>,
    server: Server,
}

impl Sandbox {
    /// Seeds the data, binds `opts.server.addr` and spawns the server on the current tokio
    /// runtime.
    pub async fn start(opts: SandboxOptions) -> Result<Sandbox, SandboxError> {
        validate(&opts)?;
        let app = opts.app.as_ref().map(app::App::new).transpose()?;
        let bound = server::bind(&opts.server).await?;
        let names: Vec<String> = std::iter::once(opts.repo.clone())
            .chain(opts.more_repos.iter().cloned())
            .collect();
        // What an installation token stands for inside each repository's sandbox.
        let bot_token = format!("sandbox-bot-{:032x}", rand::random::<u128>());
        let mut served = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let mut repo_opts = opts.clone();
            repo_opts.repo = name.clone();
            repo_opts.seed = opts.seed.wrapping_add(i as u64);
            repo_opts.more_repos.clear();
            if let Some(app) = &app {
                repo_opts.tokens.push(TokenUser {
                    token: bot_token.clone(),
                    login: app.bot_login(),
                });
            }
            let archived = opts.archived.iter().any(|a| a.eq_ignore_ascii_case(name));
            // Seeding 10k issues takes a moment: keep it off the async worker threads.
            let seed_opts = repo_opts.clone();
            let mut state = tokio::task::spawn_blocking(move || data::seed(&seed_opts))
                .await
                .map_err(|e| SandboxError::Seed(e.to_string()))?;
            state.archived = archived;
            let tokens = token_users(&repo_opts, &state)?;
            let shared = Arc::new(Shared {
                tokens,
                meter: Mutex::new(Meter::new(&repo_opts.server, repo_opts.seed)),
                rate: Mutex::new(match repo_opts.rate_limit {
                    Some(limit) => RateWindow::enforcing(limit),
                    None => RateWindow::new(),
                }),
                graphql_rate: Mutex::new(RateWindow::new()),
                git: git::Control::default(),
                route_faults: Mutex::default(),
                state: RwLock::new(state),
                local_addr: bound.local_addr,
                opts: repo_opts,
            });
            served.push(fleet::Served::new(shared, archived));
        }
        let shared = served[0].shared.clone();
        if served.len() == 1 && app.is_none() && opts.archived.is_empty() {
            let server = Server::spawn(bound, router(shared.clone()));
            return Ok(Sandbox {
                shared,
                fleet: None,
                server,
            });
        }
        let fleet = Arc::new(fleet::Fleet::new(
            opts.owner.clone(),
            served,
            app,
            bot_token,
        ));
        let server = Server::spawn(bound, fleet::router(fleet.clone()));
        Ok(Sandbox {
            shared,
            fleet: Some(fleet),
            server,
        })
    }

    /// Base URL of the API, without trailing slash (the public URL if one was set).
    pub fn base_url(&self) -> String {
        self.server.base_url().to_owned()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The same counters as `GET /_sandbox/stats` (every repository's, added up).
    pub fn stats(&self) -> SandboxStats {
        match &self.fleet {
            Some(fleet) => fleet.stats(),
            None => self.shared.meter().stats().clone(),
        }
    }

    /// `OWNER/NAME` of every repository served, the first one first.
    pub fn repositories(&self) -> Vec<String> {
        match &self.fleet {
            Some(fleet) => fleet
                .repos
                .iter()
                .map(|r| format!("{}/{}", fleet.owner, r.shared.opts.repo))
                .collect(),
            None => vec![format!(
                "{}/{}",
                self.shared.opts.owner, self.shared.opts.repo
            )],
        }
    }

    /// The id of the app's installation on the owner, when an app is served.
    pub fn app_installation_id(&self) -> Option<u64> {
        self.fleet
            .as_ref()
            .and_then(|f| f.app.as_ref())
            .map(|a| a.installation_id)
    }

    /// The default token (`token X`, `Bearer X` or Basic auth), authenticating as
    /// [`DEFAULT_LOGIN`].
    pub fn token(&self) -> &str {
        &self.shared.opts.token
    }

    /// Ground truth for tests: live (non-deleted) `(issues, comments, labels, milestones)` of
    /// the first repository. Issues include pull requests, as the issues API lists them.
    pub fn snapshot_counts(&self) -> (u64, u64, u64, u64) {
        self.shared.read().counts()
    }

    /// Stops accepting connections and waits (at most 5 s) for in-flight requests.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }

    /// Serves until SIGINT (Ctrl-C) or SIGTERM, then shuts down. For the CLI.
    pub async fn serve_until_ctrl_c(self) {
        self.server.serve_until_signal().await;
    }
}

fn validate(opts: &SandboxOptions) -> Result<(), SandboxError> {
    let bad = |m: &str| Err(SandboxError::Options(m.to_owned()));
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if !name_ok(&opts.owner) || !name_ok(&opts.repo) {
        return bad("owner and repo must be non-empty GitHub names (letters, digits, - _ .)");
    }
    let mut names = vec![opts.repo.as_str()];
    for name in &opts.more_repos {
        if !name_ok(name) {
            return bad(&format!(
                "{name:?} is not a GitHub repository name (letters, digits, - _ .)"
            ));
        }
        if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return bad(&format!("the repository {name:?} is given twice"));
        }
        names.push(name);
    }
    if let Some(a) = opts
        .archived
        .iter()
        .find(|a| !names.iter().any(|n| n.eq_ignore_ascii_case(a)))
    {
        return bad(&format!(
            "{a:?} is archived but not among the repositories served"
        ));
    }
    if let Some(app) = &opts.app {
        if !login_ok(&app.slug) {
            return bad(&format!(
                "{:?} is not an app slug (letters, digits and single hyphens)",
                app.slug
            ));
        }
    }
    let token_ok = |t: &str| !t.is_empty() && !t.chars().any(char::is_whitespace);
    if !token_ok(&opts.token) {
        return bad("the token must not be empty or contain spaces");
    }
    let mut seen = vec![opts.token.as_str()];
    for t in &opts.tokens {
        if !token_ok(&t.token) {
            return bad(&format!(
                "the token for {:?} must not be empty or contain spaces",
                t.login
            ));
        }
        if seen.contains(&t.token.as_str()) {
            return bad(&format!(
                "the token for {:?} is given twice; each token is one user",
                t.login
            ));
        }
        seen.push(&t.token);
        if !login_ok(&t.login) {
            return bad(&format!(
                "{:?} is not a GitHub login (letters, digits and single hyphens, at most 39, \
                 optionally ending in [bot])",
                t.login
            ));
        }
        if t.login.eq_ignore_ascii_case(&opts.owner) {
            return bad(&format!(
                "{:?} is the organisation that owns the repository, which cannot hold a token",
                t.login
            ));
        }
    }
    Ok(())
}

/// GitHub's login rules: alphanumerics and single hyphens, not at either end, at most 39
/// characters; a GitHub App's bot adds `[bot]`.
fn login_ok(login: &str) -> bool {
    let name = login.strip_suffix("[bot]").unwrap_or(login);
    !name.is_empty()
        && name.len() <= 39
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

/// Which user each token authenticates as, in the seeded store.
fn token_users(opts: &SandboxOptions, st: &State) -> Result<HashMap<String, usize>, SandboxError> {
    let find = |login: &str| {
        st.user_by_login(login)
            .ok_or_else(|| SandboxError::Seed(format!("the seed has no user {login:?}")))
    };
    let mut map = HashMap::new();
    map.insert(opts.token.clone(), find(DEFAULT_LOGIN)?);
    for t in &opts.tokens {
        map.insert(t.token.clone(), find(&t.login)?);
    }
    Ok(map)
}

/// The documentation page of each operation, which GitHub names in the errors it answers
/// (`documentation_url`); from the `externalDocs` of GitHub's OpenAPI description.
const DOCS: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/",
        "https://docs.github.com/rest/meta/meta#github-api-root",
    ),
    (
        "GET",
        "/user",
        "https://docs.github.com/rest/users/users#get-the-authenticated-user",
    ),
    (
        "GET",
        "/users/{login}",
        "https://docs.github.com/rest/users/users#get-a-user",
    ),
    (
        "GET",
        "/rate_limit",
        "https://docs.github.com/rest/rate-limit/rate-limit#get-rate-limit-status-for-the-authenticated-user",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}",
        "https://docs.github.com/rest/repos/repos#get-a-repository",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/issues",
        "https://docs.github.com/rest/issues/issues#list-repository-issues",
    ),
    (
        "POST",
        "/repos/{owner}/{repo}/issues",
        "https://docs.github.com/rest/issues/issues#create-an-issue",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/issues/{number}",
        "https://docs.github.com/rest/issues/issues#get-an-issue",
    ),
    (
        "PATCH",
        "/repos/{owner}/{repo}/issues/{number}",
        "https://docs.github.com/rest/issues/issues#update-an-issue",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/issues/comments",
        "https://docs.github.com/rest/issues/comments#list-issue-comments-for-a-repository",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/issues/comments/{id}",
        "https://docs.github.com/rest/issues/comments#get-an-issue-comment",
    ),
    (
        "PATCH",
        "/repos/{owner}/{repo}/issues/comments/{id}",
        "https://docs.github.com/rest/issues/comments#update-an-issue-comment",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/issues/comments/{id}",
        "https://docs.github.com/rest/issues/comments#delete-an-issue-comment",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/issues/{number}/comments",
        "https://docs.github.com/rest/issues/comments#list-issue-comments",
    ),
    (
        "POST",
        "/repos/{owner}/{repo}/issues/{number}/comments",
        "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/issues/{number}/labels",
        "https://docs.github.com/rest/issues/labels#list-labels-for-an-issue",
    ),
    (
        "POST",
        "/repos/{owner}/{repo}/issues/{number}/labels",
        "https://docs.github.com/rest/issues/labels#add-labels-to-an-issue",
    ),
    (
        "PUT",
        "/repos/{owner}/{repo}/issues/{number}/labels",
        "https://docs.github.com/rest/issues/labels#set-labels-for-an-issue",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/issues/{number}/labels",
        "https://docs.github.com/rest/issues/labels#remove-all-labels-from-an-issue",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/issues/{number}/labels/{name}",
        "https://docs.github.com/rest/issues/labels#remove-a-label-from-an-issue",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/labels",
        "https://docs.github.com/rest/issues/labels#list-labels-for-a-repository",
    ),
    (
        "POST",
        "/repos/{owner}/{repo}/labels",
        "https://docs.github.com/rest/issues/labels#create-a-label",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/labels/{name}",
        "https://docs.github.com/rest/issues/labels#get-a-label",
    ),
    (
        "PATCH",
        "/repos/{owner}/{repo}/labels/{name}",
        "https://docs.github.com/rest/issues/labels#update-a-label",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/labels/{name}",
        "https://docs.github.com/rest/issues/labels#delete-a-label",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/milestones",
        "https://docs.github.com/rest/issues/milestones#list-milestones",
    ),
    (
        "POST",
        "/repos/{owner}/{repo}/milestones",
        "https://docs.github.com/rest/issues/milestones#create-a-milestone",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/milestones/{number}",
        "https://docs.github.com/rest/issues/milestones#get-a-milestone",
    ),
    (
        "PATCH",
        "/repos/{owner}/{repo}/milestones/{number}",
        "https://docs.github.com/rest/issues/milestones#update-a-milestone",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/milestones/{number}",
        "https://docs.github.com/rest/issues/milestones#delete-a-milestone",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/issues/events",
        "https://docs.github.com/rest/issues/events#list-issue-events-for-a-repository",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/issues/events/{id}",
        "https://docs.github.com/rest/issues/events#get-an-issue-event",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/issues/{number}/events",
        "https://docs.github.com/rest/issues/events#list-issue-events",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/issues/{number}/timeline",
        "https://docs.github.com/rest/issues/timeline#list-timeline-events-for-an-issue",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/issues/{number}/reactions",
        "https://docs.github.com/rest/reactions/reactions#list-reactions-for-an-issue",
    ),
    (
        "POST",
        "/repos/{owner}/{repo}/issues/{number}/reactions",
        "https://docs.github.com/rest/reactions/reactions#create-reaction-for-an-issue",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/issues/{number}/reactions/{reaction}",
        "https://docs.github.com/rest/reactions/reactions#delete-an-issue-reaction",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/issues/comments/{id}/reactions",
        "https://docs.github.com/rest/reactions/reactions#list-reactions-for-an-issue-comment",
    ),
    (
        "POST",
        "/repos/{owner}/{repo}/issues/comments/{id}/reactions",
        "https://docs.github.com/rest/reactions/reactions#create-reaction-for-an-issue-comment",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/issues/comments/{id}/reactions/{reaction}",
        "https://docs.github.com/rest/reactions/reactions#delete-an-issue-comment-reaction",
    ),
    (
        "PUT",
        "/repos/{owner}/{repo}/issues/comments/{id}/pin",
        "https://docs.github.com/rest/issues/comments#pin-an-issue-comment",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/issues/comments/{id}/pin",
        "https://docs.github.com/rest/issues/comments#unpin-an-issue-comment",
    ),
    (
        "POST",
        "/repos/{owner}/{repo}/issues/{number}/assignees",
        "https://docs.github.com/rest/issues/assignees#add-assignees-to-an-issue",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/issues/{number}/assignees",
        "https://docs.github.com/rest/reference/issues#remove-assignees-from-an-issue",
    ),
    (
        "PUT",
        "/repos/{owner}/{repo}/issues/{number}/lock",
        "https://docs.github.com/rest/issues/issues#lock-an-issue",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/issues/{number}/lock",
        "https://docs.github.com/rest/issues/issues#unlock-an-issue",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/issues/{number}/sub_issues",
        "https://docs.github.com/rest/issues/sub-issues#list-sub-issues",
    ),
    (
        "POST",
        "/repos/{owner}/{repo}/issues/{number}/sub_issues",
        "https://docs.github.com/rest/issues/sub-issues#add-sub-issue",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/issues/{number}/sub_issue",
        "https://docs.github.com/rest/issues/sub-issues#remove-sub-issue",
    ),
    (
        "PATCH",
        "/repos/{owner}/{repo}/issues/{number}/sub_issues/priority",
        "https://docs.github.com/rest/issues/sub-issues#reprioritize-sub-issue",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/issues/{number}/parent",
        "https://docs.github.com/rest/issues/sub-issues#get-parent-issue",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/issues/{number}/dependencies/blocked_by",
        "https://docs.github.com/rest/issues/issue-dependencies#list-dependencies-an-issue-is-blocked-by",
    ),
    (
        "POST",
        "/repos/{owner}/{repo}/issues/{number}/dependencies/blocked_by",
        "https://docs.github.com/rest/issues/issue-dependencies#add-a-dependency-an-issue-is-blocked-by",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/issues/{number}/dependencies/blocked_by/{issue_id}",
        "https://docs.github.com/rest/issues/issue-dependencies#remove-dependency-an-issue-is-blocked-by",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/issues/{number}/dependencies/blocking",
        "https://docs.github.com/rest/issues/issue-dependencies#list-dependencies-an-issue-is-blocking",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/issue-types",
        "https://docs.github.com/rest/repos/issue-types#list-issue-types-for-a-repository",
    ),
    (
        "GET",
        "/orgs/{org}/issue-types",
        "https://docs.github.com/rest/orgs/issue-types#list-issue-types-for-an-organization",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/milestones/{number}/labels",
        "https://docs.github.com/rest/issues/labels#list-labels-for-issues-in-a-milestone",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/git/ref/{*ref}",
        "https://docs.github.com/rest/git/refs#get-a-reference",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/git/matching-refs/{*ref}",
        "https://docs.github.com/rest/git/refs#list-matching-references",
    ),
    (
        "POST",
        "/repos/{owner}/{repo}/git/refs",
        "https://docs.github.com/rest/git/refs#create-a-reference",
    ),
    (
        "PATCH",
        "/repos/{owner}/{repo}/git/refs/{*ref}",
        "https://docs.github.com/rest/git/refs#update-a-reference",
    ),
    (
        "DELETE",
        "/repos/{owner}/{repo}/git/refs/{*ref}",
        "https://docs.github.com/rest/git/refs#delete-a-reference",
    ),
    (
        "POST",
        "/repos/{owner}/{repo}/git/blobs",
        "https://docs.github.com/rest/git/blobs#create-a-blob",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/git/blobs/{sha}",
        "https://docs.github.com/rest/git/blobs#get-a-blob",
    ),
    (
        "POST",
        "/repos/{owner}/{repo}/git/trees",
        "https://docs.github.com/rest/git/trees#create-a-tree",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/git/trees/{*tree}",
        "https://docs.github.com/rest/git/trees#get-a-tree",
    ),
    (
        "POST",
        "/repos/{owner}/{repo}/git/commits",
        "https://docs.github.com/rest/git/commits#create-a-commit",
    ),
    (
        "GET",
        "/repos/{owner}/{repo}/git/commits/{sha}",
        "https://docs.github.com/rest/git/commits#get-a-commit-object",
    ),
];

/// The documentation URL of the operation at `route` (a route template, without `/api/v3`).
pub(crate) fn docs_url(method: &axum::http::Method, route: &str) -> Option<&'static str> {
    DOCS.iter()
        .find(|(m, r, _)| *m == method.as_str() && *r == route)
        .map(|(_, _, url)| *url)
}

/// The route table, registered twice: at `/` and under `/api/v3` (GitHub Enterprise form).
/// Registering instead of nesting keeps the full path visible to the gate, which needs the
/// prefix to build absolute `Link` URLs.
fn router(shared: Arc<Shared>) -> Router {
    let mut app = Router::new();
    for p in ["", "/api/v3"] {
        let r = |path: &str| format!("{p}{path}");
        let repo = |path: &str| format!("{p}/repos/{{owner}}/{{repo}}{path}");
        app = app
            .route(&r("/"), get(meta::root))
            .route(&r("/user"), get(meta::user))
            .route(&r("/users/{login}"), get(meta::user_by_login))
            .route(&r("/rate_limit"), get(meta::rate_limit))
            .route(&repo(""), get(meta::repository))
            .route(&repo("/issues"), get(issues::list).post(issues::create))
            .route(
                &repo("/issues/{number}"),
                get(issues::get_one)
                    .patch(issues::update)
                    .delete(issues::delete),
            )
            .route(&repo("/issues/comments"), get(comments::list_repo))
            .route(
                &repo("/issues/comments/{id}"),
                get(comments::get_one)
                    .patch(comments::update)
                    .delete(comments::delete),
            )
            .route(
                &repo("/issues/{number}/comments"),
                get(comments::list_issue).post(comments::create),
            )
            .route(
                &repo("/issues/{number}/labels"),
                get(labels::issue_list)
                    .post(labels::issue_add)
                    .put(labels::issue_set)
                    .delete(labels::issue_clear),
            )
            .route(
                &repo("/issues/{number}/labels/{name}"),
                axum::routing::delete(labels::issue_remove),
            )
            .route(&repo("/issues/events"), get(activity::repo_events))
            .route(&repo("/issues/events/{id}"), get(activity::event))
            .route(
                &repo("/issues/{number}/events"),
                get(activity::issue_events),
            )
            .route(&repo("/issues/{number}/timeline"), get(activity::timeline))
            .route(
                &repo("/issues/{number}/reactions"),
                get(activity::issue_reactions).post(activity::issue_react),
            )
            .route(
                &repo("/issues/{number}/reactions/{reaction}"),
                axum::routing::delete(activity::issue_unreact),
            )
            .route(
                &repo("/issues/comments/{id}/reactions"),
                get(activity::comment_reactions).post(activity::comment_react),
            )
            .route(
                &repo("/issues/comments/{id}/reactions/{reaction}"),
                axum::routing::delete(activity::comment_unreact),
            )
            .route(
                &repo("/issues/comments/{id}/pin"),
                axum::routing::put(activity::pin).delete(activity::unpin),
            )
            .route(
                &repo("/issues/{number}/assignees"),
                post(relations::assignees_add).delete(relations::assignees_remove),
            )
            .route(
                &repo("/issues/{number}/lock"),
                axum::routing::put(relations::lock).delete(relations::unlock),
            )
            .route(
                &repo("/issues/{number}/sub_issues"),
                get(relations::sub_issues).post(relations::sub_issue_add),
            )
            .route(
                &repo("/issues/{number}/sub_issue"),
                axum::routing::delete(relations::sub_issue_remove),
            )
            .route(
                &repo("/issues/{number}/sub_issues/priority"),
                axum::routing::patch(relations::sub_issue_priority),
            )
            .route(&repo("/issues/{number}/parent"), get(relations::parent))
            .route(
                &repo("/issues/{number}/dependencies/blocked_by"),
                get(relations::blocked_by).post(relations::blocked_by_add),
            )
            .route(
                &repo("/issues/{number}/dependencies/blocked_by/{issue_id}"),
                axum::routing::delete(relations::blocked_by_remove),
            )
            .route(
                &repo("/issues/{number}/dependencies/blocking"),
                get(relations::blocking),
            )
            .route(&repo("/issue-types"), get(relations::repo_issue_types))
            .route(
                &r("/orgs/{org}/issue-types"),
                get(relations::org_issue_types),
            )
            .route(
                &repo("/milestones/{number}/labels"),
                get(relations::milestone_labels),
            )
            .route(&repo("/labels"), get(labels::list).post(labels::create))
            .route(
                &repo("/labels/{name}"),
                get(labels::get_one)
                    .patch(labels::update)
                    .delete(labels::delete),
            )
            .route(
                &repo("/milestones"),
                get(milestones::list).post(milestones::create),
            )
            .route(
                &repo("/milestones/{number}"),
                get(milestones::get_one)
                    .patch(milestones::update)
                    .delete(milestones::delete),
            )
            .route(&repo("/git/ref/{*ref}"), get(git::get_ref))
            .route(&repo("/git/matching-refs/{*ref}"), get(git::matching_refs))
            .route(&repo("/git/refs"), post(git::create_ref))
            .route(
                &repo("/git/refs/{*ref}"),
                axum::routing::patch(git::update_ref).delete(git::delete_ref),
            )
            .route(&repo("/git/blobs"), post(git::create_blob))
            .route(&repo("/git/blobs/{sha}"), get(git::get_blob))
            .route(&repo("/git/trees"), post(git::create_tree))
            .route(&repo("/git/trees/{*tree}"), get(git::get_tree))
            .route(&repo("/git/commits"), post(git::create_commit))
            .route(&repo("/git/commits/{sha}"), get(git::get_commit));
    }
    // Enterprise clients call the root both with and without the trailing slash.
    app = app
        .route("/api/v3", get(meta::root))
        .route("/graphql", post(graphql::query))
        .route("/api/graphql", post(graphql::query));
    app.route("/_sandbox/stats", get(meta::sandbox_stats))
        .route("/_sandbox/reset", post(meta::sandbox_reset))
        .route("/_sandbox/clock", post(meta::sandbox_clock))
        .route("/_sandbox/git", get(git::sandbox_stats))
        .route("/_sandbox/git/hold", post(git::sandbox_hold))
        .route(
            "/_sandbox/faults",
            get(meta::route_faults).post(meta::set_route_fault),
        )
        .fallback(http::not_found)
        // GitHub answers an unsupported method with 404, not 405.
        .method_not_allowed_fallback(http::not_found)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            http::gate,
        ))
        .with_state(shared)
}
