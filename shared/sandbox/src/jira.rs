//! The Jira sandbox: a stateful emulator of Jira Cloud (REST v3 with ADF, and v2) or Jira
//! Data Center 9.x (REST v2 with wiki markup), serving one seeded software project.
//!
//! # Starting it
//! ```no_run
//! # async fn demo() -> Result<(), backtrack_sandbox::SandboxError> {
//! use backtrack_sandbox::jira::{Config, Flavor, Sandbox};
//! let sb = Sandbox::start(Config {
//!     flavor: Flavor::DataCenter,
//!     issues: 200,
//!     comments: 800,
//!     ..Config::default()
//! })
//! .await?;
//! let base = sb.base_url(); // e.g. http://127.0.0.1:40123 (no trailing slash)
//! // Cloud: Basic base64("anyone@example.com:sandbox-token");
//! // DC: "Authorization: Bearer sandbox-token" (or Basic "sandbox-admin:sandbox-token").
//! let counts = sb.counts(); // ground truth: issues, epics, subtasks, comments, …
//! sb.shutdown().await;
//! # Ok(()) }
//! ```
//! [`spawn`] is the same as [`Sandbox::start`]. `backtrack sandbox --tracker jira` runs it
//! from the CLI and prints the base URL as its first stdout line.
//!
//! # What it serves
//! Under `/rest/api/2` on both flavours and `/rest/api/3` on Cloud (`/rest/api/latest` = 2): `serverInfo` (`deploymentType` `Cloud` or `DataCenter`, version 9.12 on DC),
//! `myself`, `user`, `user/search`, `user/assignable/search`, `field`, `project`,
//! `project/search`, `project/{key}`, `project/{key}/components`, `project/{key}/versions`,
//! `project/{key}/statuses`, `project/{key}/role`, `groups/picker`, `issuetype`, `status`, `statuscategory`, `priority`,
//! `resolution`, `issueLinkType`, search, issues (GET/PUT/POST/DELETE, `editmeta`,
//! `assignee`, `transitions`), comments (list/get/add/edit/delete, properties),
//! `issueLink`, `component` and `version` CRUD.
//!
//! Search by flavour, as the real ones:
//! - Cloud: `GET|POST /rest/api/{2,3}/search/jql` with `nextPageToken` and `isLast`, no
//!   `total`; `fields` defaults to `id`; `maxResults` 1–5000 (default 50), pages cut at 100
//!   issues unless only `id`/`key` are asked for; `POST /search/approximate-count`. The old
//!   `/search` answers 410 Gone, as it does on Cloud since its removal.
//! - Data Center: `GET|POST /rest/api/2/search` with `startAt`, `maxResults` (default 50,
//!   at most 1000) and `total`; `fields` defaults to `*navigable`.
//!
//! JQL subset: `project`, `key`/`issuekey`/`id` (`=`, `!=`, `in`, `not in`, and `<`, `>`…
//! on keys), `parent`, `"Epic Link"` (and `cf[N]`), `issuetype`/`type`, `status`,
//! `statusCategory`, `priority`, `resolution` (`Unresolved`), `assignee`/`reporter`
//! (`currentUser()`, `EMPTY`), `labels`, `component`, `fixVersion`, `sprint`, `summary ~`,
//! `text ~`, `created`/`updated`/`resolved`/`duedate` against Jira's minute-resolution
//! formats (`"yyyy/MM/dd HH:mm"`, `"yyyy-MM-dd HH:mm"`, dates alone, relative `-5d`, `now()`,
//! `startOfDay()`), `IS [NOT] EMPTY`, `AND`/`OR`/`NOT`/parentheses, and `ORDER BY` any of
//! `key`, `id`, `created`, `updated`, `priority`, `status`, `rank`, `duedate`, `summary`,
//! `issuetype`, `resolved` with `ASC`/`DESC`. A key that does not exist is Jira's 400
//! (`validateQuery` strict) unless `validateQuery=warn|none|false`, which makes it a
//! warning instead.
//!
//! Epics: Cloud's hierarchy (`parent` points at the epic) or the "Epic Link" custom field of
//! company-managed and DC projects ([`EpicStyle`], by default per flavour). Subtasks always
//! hang off `parent`. Custom fields (Story Points, Sprint, Rank, and in the Epic Link style
//! Epic Link and Epic Name) get ids that differ per flavour and per seed: discover them by
//! name through `/field`.
//!
//! Comments embedded in an issue (`fields.comment`) are Jira's page shape (`comments`,
//! `maxResults`, `total`, `startAt`): the first [`CLOUD_EMBEDDED_COMMENTS`] on Cloud, all of
//! them on Data Center. `GET …/comment` pages by `startAt`/`maxResults` (Cloud at most 100 a
//! page; DC all by default).
//!
//! The workflow: To Do → In Progress (11 Start Progress) → In Review (31 Submit for Review)
//! → Done (51 Done, also from In Progress; its screen requires `resolution`), In Review → In
//! Progress (41 Request Changes), In Progress → To Do (21 Stop Progress), Done → Reopened (61
//! Reopen), Reopened → In Progress (11). Entering Done sets `resolution` and
//! `resolutiondate`; leaving it clears them. [`Workflow::Restricted`] drops Reopen: Done is
//! final, and its transitions listing is empty, as Jira shows a final status.
//!
//! Issue entity properties: `GET /issue/{key}/properties`, `GET|PUT|DELETE
//! /issue/{key}/properties/{prop}`, `properties` in `POST /issue`, and `properties=` on
//! `GET /issue/{key}` and search (the issue's `properties` object holds the ones asked for).
//!
//! `updated` moves on every change to an issue: field edits, transitions, comments added,
//! edited or deleted, links added or removed (on both ends). Deleting a component or a
//! version strips it from issues without moving their `updated`.
//!
//! # Sandbox-only routes (never counted in the stats)
//! `GET /_sandbox/stats`, `POST /_sandbox/reset` (reseed, zero the stats) and
//! `POST /_sandbox/clock` with `{"advance_secs": N}` (move time forward, e.g. to make a
//! minute boundary pass without waiting).
//!
//! # Layout
//! - this file: the public API and the route table.
//! - `data`: deterministic seeding; `doc`: ADF and wiki markup; `state`: the store and its
//!   write rules (`state/edit` reads write bodies, `state/catalog` the fixed vocabulary);
//! - `jql`: parsing and evaluating JQL; `render`: Jira-shaped JSON per flavour and version;
//! - `http`: the gate (stats, latency, auth, faults), errors and replies;
//! - `meta`, `search`, `issues`, `comments`, `project`: the handlers.

mod comments;
mod data;
mod doc;
mod http;
mod issues;
mod jql;
mod meta;
mod project;
mod render;
mod search;
mod state;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::routing::{get, post, put};
use axum::Router;

use self::http::Tokens;
use self::state::State;
use crate::meter::{Meter, SandboxStats};
use crate::server::{self, SandboxError, Server, ServerOptions};

pub use self::state::Counts;

/// The token the sandbox accepts when the options don't say otherwise (Cloud API token and
/// DC personal access token alike).
pub const DEFAULT_TOKEN: &str = "sandbox-token";
/// Environment variable that overrides [`DEFAULT_TOKEN`] in [`Config::default`].
pub const TOKEN_ENV: &str = "BACKTRACK_SANDBOX_TOKEN";
/// The account the default token authenticates as (its DC user name).
pub const DEFAULT_ACCOUNT: &str = "sandbox-admin";
/// How many comments Cloud embeds in an issue's `fields.comment`.
pub const CLOUD_EMBEDDED_COMMENTS: usize = 100;

/// Which Jira the sandbox plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// Jira Cloud: REST v3 (ADF) and v2, enhanced search with page tokens.
    Cloud,
    /// Jira Data Center 9.x: REST v2 only, wiki markup, offset search with totals.
    DataCenter,
}

impl Flavor {
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Cloud => "cloud",
            Flavor::DataCenter => "datacenter",
        }
    }
}

impl std::str::FromStr for Flavor {
    type Err = String;

    fn from_str(s: &str) -> Result<Flavor, String> {
        match s.to_ascii_lowercase().as_str() {
            "cloud" => Ok(Flavor::Cloud),
            "datacenter" | "data-center" | "dc" | "server" => Ok(Flavor::DataCenter),
            _ => Err(format!("unknown Jira flavour {s:?} (cloud or datacenter)")),
        }
    }
}

/// How a project records which epic an issue belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EpicStyle {
    /// Cloud's hierarchy: a story's `parent` is its epic (team-managed projects, and every
    /// Cloud project since the hierarchy unification).
    Parent,
    /// The "Epic Link" custom field (Data Center, and company-managed projects of old).
    EpicLink,
}

/// Which workflow the project's issues follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Workflow {
    /// Every status reaches every other, some only in several hops (see the module docs).
    #[default]
    Full,
    /// Done is final: the same workflow without Reopen, as projects that close resolved
    /// work for good have it. An issue in Done offers no transition, so no other status is
    /// reachable from there.
    Restricted,
}

impl std::str::FromStr for Workflow {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(Workflow::Full),
            "restricted" => Ok(Workflow::Restricted),
            _ => Err(format!("unknown workflow {s:?} (full or restricted)")),
        }
    }
}

/// How to start a [`Sandbox`]. Build with `Config { issues: 10, ..Config::default() }`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address, public URL, latency, faults and the write limit.
    pub server: ServerOptions,
    pub flavor: Flavor,
    /// The project key (2–10 upper-case letters and digits, starting with a letter).
    pub project: String,
    /// Seeded issues, epics and subtasks included.
    pub issues: u64,
    /// Seeded comments, skewed so a few issues carry more than Cloud embeds.
    pub comments: u64,
    /// Epics among the issues (`None`: about one in 25, at least one).
    pub epics: Option<u64>,
    /// Seed of the deterministic data (and of the fault sequence, and the custom field ids).
    pub seed: u64,
    /// `None`: [`EpicStyle::Parent`] on Cloud, [`EpicStyle::EpicLink`] on Data Center.
    pub epic_style: Option<EpicStyle>,
    /// The default token, authenticating as [`DEFAULT_ACCOUNT`].
    pub token: String,
    /// More tokens, each authenticating as its own account.
    pub tokens: Vec<TokenAccount>,
    /// The workflow ([`Workflow::Full`] unless asked).
    pub workflow: Workflow,
    /// The project's roles (`None`: Administrators, Developers, Users).
    pub roles: Option<Vec<String>>,
    /// The site's groups (`None`: jira-administrators, jira-software-users, developers).
    pub groups: Option<Vec<String>>,
}

/// A token the sandbox accepts besides the default one, and who it authenticates as: a
/// seeded account (`alice`, `bob`…, by DC user name) or a new one with that name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAccount {
    pub token: String,
    pub account: String,
}

impl Default for Config {
    fn default() -> Self {
        let token = std::env::var(TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_TOKEN.to_owned());
        Config {
            server: ServerOptions::default(),
            flavor: Flavor::Cloud,
            project: "PROJ".into(),
            issues: 120,
            comments: 600,
            epics: None,
            seed: 42,
            epic_style: None,
            token,
            tokens: Vec::new(),
            workflow: Workflow::Full,
            roles: None,
            groups: None,
        }
    }
}

impl Config {
    pub fn epic_style(&self) -> EpicStyle {
        self.epic_style.unwrap_or(match self.flavor {
            Flavor::Cloud => EpicStyle::Parent,
            Flavor::DataCenter => EpicStyle::EpicLink,
        })
    }

    fn validate(&self) -> Result<(), SandboxError> {
        let bad = |m: String| Err(SandboxError::Options(m));
        let key_ok = self.project.len() >= 2
            && self.project.len() <= 10
            && self.project.starts_with(|c: char| c.is_ascii_uppercase())
            && self
                .project
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !key_ok {
            return bad(format!(
                "{:?} is not a Jira project key (2–10 upper-case letters and digits, starting \
                 with a letter, e.g. PROJ)",
                self.project
            ));
        }
        if let Some(e) = self.epics {
            if e > self.issues {
                return bad(format!(
                    "{e} epics cannot fit in {} issues (epics are issues too)",
                    self.issues
                ));
            }
        }
        let token_ok = |t: &str| !t.is_empty() && !t.chars().any(char::is_whitespace);
        if !token_ok(&self.token) {
            return bad("the token must not be empty or contain spaces".into());
        }
        let mut seen = vec![self.token.as_str()];
        for t in &self.tokens {
            if !token_ok(&t.token) {
                return bad(format!(
                    "the token for {:?} must not be empty or contain spaces",
                    t.account
                ));
            }
            if seen.contains(&t.token.as_str()) {
                return bad(format!(
                    "the token for {:?} is given twice; each token is one account",
                    t.account
                ));
            }
            seen.push(&t.token);
            let name_ok = !t.account.is_empty()
                && t.account.len() <= 64
                && t.account
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !name_ok {
                return bad(format!(
                    "{:?} is not an account name (letters, digits, - _ .)",
                    t.account
                ));
            }
        }
        Ok(())
    }
}

/// State shared by every request handler. As in the GitHub sandbox: the store behind a std
/// `RwLock` (short synchronous sections, reads dominate), the meter behind its own mutex.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) opts: Config,
    pub(crate) local_addr: SocketAddr,
    pub(crate) tokens: Tokens,
    state: RwLock<State>,
    meter: Mutex<Meter>,
}

impl Shared {
    pub(crate) fn flavor(&self) -> Flavor {
        self.opts.flavor
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn meter(&self) -> MutexGuard<'_, Meter> {
        self.meter.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reseeds the store and zeroes the stats. The clock keeps running forward.
    pub(crate) fn reset(&self) {
        let mut fresh = data::seed(&self.opts);
        // Token accounts the seed lacks are added in the same order as at start, so the
        // token map's indexes stay valid.
        add_token_accounts(&self.opts, &mut fresh);
        {
            let mut st = self.write();
            let (clock, offset) = (st.clock, st.offset);
            *st = fresh;
            st.clock = st.clock.max(clock);
            st.offset = offset;
        }
        self.meter().reset_stats();
    }
}

/// A running Jira sandbox. Dropping it stops the server (like [`Sandbox::shutdown`], without
/// waiting).
#[derive(Debug)]
pub struct Sandbox {
    shared: Arc<Shared>,
    server: Server,
}

/// Starts a sandbox: the same as [`Sandbox::start`].
pub async fn spawn(config: Config) -> Result<Sandbox, SandboxError> {
    Sandbox::start(config).await
}

impl Sandbox {
    /// Seeds the data, binds `config.server.addr` and serves on the current tokio runtime.
    pub async fn start(config: Config) -> Result<Sandbox, SandboxError> {
        config.validate()?;
        let bound = server::bind(&config.server).await?;
        let seed_opts = config.clone();
        let mut state = tokio::task::spawn_blocking(move || data::seed(&seed_opts))
            .await
            .map_err(|e| SandboxError::Seed(e.to_string()))?;
        let tokens = add_token_accounts(&config, &mut state);
        let shared = Arc::new(Shared {
            tokens,
            meter: Mutex::new(Meter::new(&config.server, config.seed)),
            state: RwLock::new(state),
            local_addr: bound.local_addr,
            opts: config,
        });
        let server = Server::spawn(bound, router(shared.clone()));
        Ok(Sandbox { shared, server })
    }

    /// The site's base URL, without trailing slash (the public URL if one was set).
    pub fn base_url(&self) -> String {
        self.server.base_url().to_owned()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub fn flavor(&self) -> Flavor {
        self.shared.opts.flavor
    }

    /// The default token.
    pub fn token(&self) -> &str {
        &self.shared.opts.token
    }

    pub fn project_key(&self) -> &str {
        &self.shared.opts.project
    }

    /// The same counters as `GET /_sandbox/stats`.
    pub fn stats(&self) -> SandboxStats {
        self.shared.meter().stats().clone()
    }

    /// Ground truth for tests: what the project holds now.
    pub fn counts(&self) -> Counts {
        self.shared.read().counts()
    }

    /// The `customfield_…` id of a custom field by its name (`Story Points`, `Sprint`,
    /// `Rank`, `Epic Link`, `Epic Name`), as `/field` lists it; `None` if this sandbox has
    /// no such field.
    pub fn custom_field_id(&self, name: &str) -> Option<String> {
        let st = self.shared.read();
        render::custom_fields(&st)
            .into_iter()
            .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
            .map(|(id, _, _)| id)
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

/// Adds the accounts of extra tokens that the seed lacks; returns token → account index.
fn add_token_accounts(config: &Config, st: &mut State) -> Tokens {
    let mut tokens = Tokens::new();
    if let Some(admin) = st.user_by_name(DEFAULT_ACCOUNT) {
        tokens.insert(config.token.clone(), admin);
    }
    for t in &config.tokens {
        let idx = match st.user_by_name(&t.account) {
            Some(i) => i,
            None => {
                let u = data::new_user(st, &t.account, config.seed);
                st.add_user(u)
            }
        };
        tokens.insert(t.token.clone(), idx);
    }
    tokens
}

fn router(shared: Arc<Shared>) -> Router {
    let cloud = shared.flavor() == Flavor::Cloud;
    // `latest` is v2 on both (clients such as PyPI `jira` use it for a few calls).
    let versions: &[&str] = if cloud {
        &["2", "3", "latest"]
    } else {
        &["2", "latest"]
    };
    let mut app = Router::new();
    for v in versions {
        let r = |path: &str| format!("/rest/api/{v}{path}");
        app = app
            .route(&r("/serverInfo"), get(meta::server_info))
            .route(&r("/myself"), get(meta::myself))
            .route(&r("/user"), get(meta::user))
            .route(&r("/user/search"), get(meta::user_search))
            .route(&r("/user/assignable/search"), get(meta::user_search))
            .route(&r("/field"), get(meta::fields))
            .route(&r("/issuetype"), get(meta::issue_types))
            .route(&r("/issuetype/{id}"), get(meta::issue_type))
            .route(&r("/status"), get(meta::statuses))
            .route(&r("/status/{id}"), get(meta::status))
            .route(&r("/statuscategory"), get(meta::status_categories))
            .route(&r("/priority"), get(meta::priorities))
            .route(&r("/resolution"), get(meta::resolutions))
            .route(&r("/issueLinkType"), get(meta::link_types))
            .route(&r("/project"), get(project::list))
            .route(&r("/project/search"), get(project::search))
            .route(&r("/project/{key}"), get(project::get_one))
            .route(&r("/project/{key}/components"), get(project::components))
            .route(&r("/project/{key}/versions"), get(project::versions))
            .route(&r("/project/{key}/version"), get(project::versions_page))
            .route(&r("/project/{key}/statuses"), get(project::statuses))
            .route(&r("/project/{key}/role"), get(project::roles))
            .route(&r("/groups/picker"), get(meta::groups_picker))
            .route(&r("/component"), post(project::create_component))
            .route(
                &r("/component/{id}"),
                get(project::component)
                    .put(project::update_component)
                    .delete(project::delete_component),
            )
            .route(&r("/version"), post(project::create_version))
            .route(
                &r("/version/{id}"),
                get(project::version)
                    .put(project::update_version)
                    .delete(project::delete_version),
            )
            .route(
                &r("/version/{id}/removeAndSwap"),
                post(project::remove_and_swap),
            )
            .route(&r("/issue"), post(issues::create))
            .route(&r("/issue/createmeta"), get(issues::createmeta))
            .route(
                &r("/issue/createmeta/{project}/issuetypes"),
                get(issues::createmeta_types),
            )
            .route(
                &r("/issue/createmeta/{project}/issuetypes/{type}"),
                get(issues::createmeta_fields),
            )
            .route(
                &r("/issue/{key}"),
                get(issues::get_one)
                    .put(issues::edit)
                    .delete(issues::delete),
            )
            .route(&r("/issue/{key}/editmeta"), get(issues::editmeta))
            .route(&r("/issue/{key}/properties"), get(issues::property_keys))
            .route(
                &r("/issue/{key}/properties/{prop}"),
                get(issues::property)
                    .put(issues::set_property)
                    .delete(issues::delete_property),
            )
            .route(&r("/issue/{key}/assignee"), put(issues::assign))
            .route(
                &r("/issue/{key}/transitions"),
                get(issues::transitions).post(issues::do_transition),
            )
            .route(
                &r("/issue/{key}/comment"),
                get(comments::list).post(comments::create),
            )
            .route(
                &r("/issue/{key}/comment/{id}"),
                get(comments::get_one)
                    .put(comments::update)
                    .delete(comments::delete),
            )
            .route(&r("/comment/list"), post(comments::by_ids))
            .route(&r("/comment/{id}/properties"), get(comments::property_keys))
            .route(
                &r("/comment/{id}/properties/{prop}"),
                get(comments::property)
                    .put(comments::set_property)
                    .delete(comments::delete_property),
            )
            .route(&r("/issueLink"), post(issues::link))
            .route(
                &r("/issueLink/{id}"),
                get(issues::get_link).delete(issues::unlink),
            );
        if cloud {
            app = app
                .route(&r("/search"), get(search::removed).post(search::removed))
                .route(
                    &r("/search/jql"),
                    get(search::jql_get).post(search::jql_post),
                )
                .route(
                    &r("/search/approximate-count"),
                    post(search::approximate_count),
                );
        } else {
            app = app.route(
                &r("/search"),
                get(search::offset_get).post(search::offset_post),
            );
        }
    }
    app.route("/_sandbox/stats", get(meta::sandbox_stats))
        .route("/_sandbox/reset", post(meta::sandbox_reset))
        .route("/_sandbox/clock", post(meta::sandbox_clock))
        .fallback(http::no_endpoint)
        .method_not_allowed_fallback(http::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            http::gate,
        ))
        .with_state(shared)
}
