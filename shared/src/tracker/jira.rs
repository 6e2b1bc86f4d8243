//! The Jira tracker: captures a project (`jira:PROJ`) or an epic (`jira:PROJ-123`) from
//! Jira Cloud (REST v3, descriptions in ADF) or Jira Data Center / Server (REST v2, wiki
//! markup), at the request floor.
//!
//! # Flavours
//! The flavour is read from `serverInfo` (`deploymentType`), unless the configuration names
//! it. Credentials follow Atlassian's two schemes: `JIRA_EMAIL` + `JIRA_API_TOKEN` is a Cloud
//! API token sent as HTTP Basic; `JIRA_API_TOKEN` alone is a Data Center personal access
//! token sent as `Bearer`. A credential of one kind used against the other flavour is
//! refused by Jira with a 401, which becomes an error saying which variable to change.
//!
//! # Requests
//! See `capture` for the walks: searches of 100 issues with only the fields a record holds
//! (comments embedded), a comment listing only for issues with more comments than a search
//! embeds, and for incremental captures one search of what changed plus an id-only sweep
//! that finds deleted, moved-out and silently moved-in issues.
//!
//! # Layout
//! - `jira/client.rs`: HTTP, credentials, retries (429 `Retry-After`, 5xx backoff).
//! - `jira/convert.rs`: JSON into records; custom fields found by name through `/field`.
//! - `jira/capture.rs`: the searches, full and incremental, and deletion detection.
//! - `jira/embed.rs`: the components and versions an issue carries copies of, refreshed by
//!   incremental captures when one is renamed or deleted (Jira does not touch the issues).
//! - `jira/fields.rs`: what a diff compares (Jira's [`crate::diff::Schema`]).

mod apply;
mod capture;
pub mod client;
pub mod convert;
mod embed;
pub mod fields;
pub mod workflow;

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::{mpsc, OnceCell};

pub use apply::{attributed, RESTORED_PROPERTY};
pub use client::{Client, Credentials};
pub use workflow::{ContextRequest, RollbackContext};

use crate::config::env;
use crate::record::Record;
use crate::scope::Scope;
use crate::tracker::{
    Embedding, FetchOptions, FetchReport, RetryPolicy, Tracker, TrackerError, WritePace,
};

/// Jira Cloud or Jira Data Center / Server: which REST version, pagination and text format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// REST v3: ADF, `search/jql` with `nextPageToken`.
    Cloud,
    /// REST v2: wiki markup, `search` with `startAt`/`total` (Server 8.x–9.x too).
    DataCenter,
}

impl Flavor {
    /// The REST API root for this flavour.
    pub fn api(self) -> &'static str {
        match self {
            Flavor::Cloud => "/rest/api/3",
            Flavor::DataCenter => "/rest/api/2",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Cloud => "cloud",
            Flavor::DataCenter => "datacenter",
        }
    }

    /// What people call it.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Cloud => "Jira Cloud",
            Flavor::DataCenter => "Jira Data Center",
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Flavor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cloud" => Ok(Flavor::Cloud),
            "datacenter" | "data-center" | "dc" | "server" => Ok(Flavor::DataCenter),
            other => Err(format!(
                "unknown Jira flavour {}; use cloud or datacenter",
                crate::sanitize::quote(other)
            )),
        }
    }
}

/// How to reach a Jira site. `Debug` redacts the token.
#[derive(Debug, Clone)]
pub struct JiraConfig {
    pub base_url: String,
    pub credentials: Credentials,
    /// The flavour, when given (`--jira-flavor`); otherwise read from `serverInfo`.
    pub flavor: Option<Flavor>,
    pub retry: RetryPolicy,
    /// Comment listings (for issues with more comments than a search embeds) in flight at
    /// once.
    pub concurrency: usize,
    /// How rollback paces its writes.
    pub pace: WritePace,
}

impl JiraConfig {
    pub fn new(base_url: impl Into<String>, credentials: Credentials) -> Self {
        JiraConfig {
            base_url: base_url.into(),
            credentials,
            flavor: None,
            retry: RetryPolicy::default(),
            concurrency: 4,
            pace: WritePace::default(),
        }
    }

    /// `JIRA_BASE_URL`, `JIRA_EMAIL` + `JIRA_API_TOKEN` (Cloud) or `JIRA_API_TOKEN` alone
    /// (Data Center), and `BACKTRACK_JIRA_FLAVOR`. A variable that is set but unusable is an
    /// error naming the variable, never its value.
    pub fn from_env() -> Result<Self, TrackerError> {
        Self::from_settings(|k| match std::env::var(k) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(TrackerError::Config(format!(
                "{k} is not valid UTF-8; set it again"
            ))),
        })
    }

    /// The same rules as [`JiraConfig::from_env`] over settings looked up by variable name
    /// (the functions take the token from Secrets Manager and the rest from the
    /// environment): one place decides what a Jira site's settings must be.
    pub fn from_settings(
        lookup: impl Fn(&str) -> Result<Option<String>, TrackerError>,
    ) -> Result<Self, TrackerError> {
        let read =
            |k: &str| lookup(k).map(|v| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()));
        let base_url = read(env::JIRA_BASE_URL)?.ok_or_else(|| {
            TrackerError::Config(format!(
                "{} is not set: set it to your Jira site, e.g. https://acme.atlassian.net",
                env::JIRA_BASE_URL
            ))
        })?;
        let email = read(env::JIRA_EMAIL)?;
        let token = read(env::JIRA_API_TOKEN)?;
        let credentials = match (email, token) {
            (Some(email), Some(token)) => {
                client::check_secret(&email, env::JIRA_EMAIL)?;
                client::check_secret(&token, env::JIRA_API_TOKEN)?;
                Credentials::Basic { email, token }
            }
            (None, Some(token)) => {
                client::check_secret(&token, env::JIRA_API_TOKEN)?;
                Credentials::Bearer { token }
            }
            (Some(_), None) => {
                return Err(TrackerError::Config(format!(
                    "{} is set but {} is not: Jira Cloud needs both (an API token from \
                     id.atlassian.com); Data Center needs only a personal access token in {}",
                    env::JIRA_EMAIL,
                    env::JIRA_API_TOKEN,
                    env::JIRA_API_TOKEN
                )))
            }
            (None, None) => Credentials::None,
        };
        let flavor = read(env::JIRA_FLAVOR)?
            .map(|f| {
                f.parse::<Flavor>()
                    .map_err(|e| TrackerError::Config(format!("{}: {e}", env::JIRA_FLAVOR)))
            })
            .transpose()?;
        Ok(JiraConfig {
            flavor,
            ..JiraConfig::new(base_url, credentials)
        })
    }
}

/// What the site told backtrack about itself.
#[derive(Debug, Clone, Copy)]
struct Site {
    flavor: Flavor,
}

/// One Jira project or epic as a [`Tracker`].
#[derive(Debug)]
pub struct JiraTracker {
    scope: Scope,
    /// The project key, upper case (the epic's project for an epic scope).
    project: String,
    /// The epic's key, for an epic scope.
    epic: Option<String>,
    client: Client,
    credentials: Credentials,
    flavor: Option<Flavor>,
    concurrency: usize,
    site: OnceCell<Site>,
    /// The site's custom field ids, read once by the writer.
    custom: OnceCell<convert::CustomFields>,
    /// What rollback learned of the workflows.
    workflows: tokio::sync::Mutex<workflow::Workflows>,
    pace: WritePace,
    writes: tokio::sync::Mutex<apply::WriteLog>,
    /// Issues recreated by rollbacks, as far as seen: original id → recreation's key.
    recreated: tokio::sync::Mutex<std::collections::BTreeMap<u64, String>>,
}

impl JiraTracker {
    pub fn new(scope: &Scope, config: &JiraConfig) -> Result<Self, TrackerError> {
        let project = scope
            .jira_project_key()
            .ok_or_else(|| TrackerError::Config(format!("{scope} is not a Jira scope")))?;
        let client = Client::new(&config.base_url, &config.credentials, config.retry.clone())?;
        Ok(JiraTracker {
            scope: scope.clone(),
            project,
            epic: scope.jira_epic_key(),
            client,
            credentials: config.credentials.clone(),
            flavor: config.flavor,
            concurrency: config.concurrency.max(1),
            site: OnceCell::new(),
            custom: OnceCell::new(),
            workflows: Default::default(),
            pace: config.pace.clone(),
            writes: Default::default(),
            recreated: Default::default(),
        })
    }

    /// The HTTP client, for diagnostics and counting.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The site's flavour: as configured, else read once from `serverInfo`.
    pub async fn flavor(&self) -> Result<Flavor, TrackerError> {
        self.site().await.map(|s| s.flavor)
    }

    async fn site(&self) -> Result<Site, TrackerError> {
        self.site
            .get_or_try_init(|| async {
                if let Some(flavor) = self.flavor {
                    return Ok(Site { flavor });
                }
                match self.client.get("/rest/api/2/serverInfo").await {
                    Ok(info) => Ok(Site {
                        flavor: flavor_of(&info),
                    }),
                    Err(TrackerError::Unauthorized { .. }) => {
                        Err(self.credentials_refused(self.anonymous_flavor().await))
                    }
                    // Jira Cloud's edge answers a Bearer token it cannot parse with 403.
                    Err(e @ TrackerError::Forbidden { .. })
                        if matches!(self.credentials, Credentials::Bearer { .. }) =>
                    {
                        match self.anonymous_flavor().await {
                            Some(Flavor::Cloud) => {
                                Err(self.credentials_refused(Some(Flavor::Cloud)))
                            }
                            _ => Err(e),
                        }
                    }
                    Err(TrackerError::NotFound { .. }) => Err(TrackerError::Config(format!(
                        "{} does not answer like a Jira site (no /rest/api/2/serverInfo); check {}",
                        crate::sanitize::redact_url(self.client.base()),
                        env::JIRA_BASE_URL
                    ))),
                    Err(e) => Err(e),
                }
            })
            .await
            .copied()
    }

    /// The flavour as an anonymous request learns it: only to say why credentials were
    /// refused.
    async fn anonymous_flavor(&self) -> Option<Flavor> {
        let anonymous = Client::new(
            self.client.base(),
            &Credentials::None,
            RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
        )
        .ok()?;
        anonymous
            .get("/rest/api/2/serverInfo")
            .await
            .ok()
            .map(|info| flavor_of(&info))
    }

    /// The error for a 401: which credential was sent, to which flavour, and what to set.
    fn credentials_refused(&self, flavor: Option<Flavor>) -> TrackerError {
        let site = crate::sanitize::redact_url(self.client.base()).into_owned();
        let message = match (flavor, &self.credentials) {
            (Some(Flavor::DataCenter), Credentials::Basic { .. }) => format!(
                "Jira Data Center at {site} rejected the credentials (HTTP 401): {} is set, so \
                 {} was sent as a Jira Cloud API token (HTTP Basic with the email); Data Center \
                 takes a personal access token: unset {} and put the token in {}",
                env::JIRA_EMAIL,
                env::JIRA_API_TOKEN,
                env::JIRA_EMAIL,
                env::JIRA_API_TOKEN
            ),
            (Some(Flavor::Cloud), Credentials::Bearer { .. }) => format!(
                "Jira Cloud at {site} rejected the credentials: {} is not set, so {} \
                 was sent as a Data Center personal access token (Bearer); Jira Cloud takes an \
                 API token with the account's email: set {} too",
                env::JIRA_EMAIL,
                env::JIRA_API_TOKEN,
                env::JIRA_EMAIL
            ),
            (_, Credentials::None) => format!(
                "Jira at {site} needs credentials (HTTP 401): set {} (and {} on Jira Cloud)",
                env::JIRA_API_TOKEN,
                env::JIRA_EMAIL
            ),
            (flavor, sent) => format!(
                "{} at {site} rejected the credentials (HTTP 401; backtrack sent {}): check {} \
                 (and {} on Jira Cloud) and retry",
                flavor.map_or("Jira", Flavor::name),
                sent.describe(),
                env::JIRA_API_TOKEN,
                env::JIRA_EMAIL
            ),
        };
        TrackerError::Credentials(message)
    }

    /// Turns a 401 (or Jira Cloud's 403 for a token sent as Bearer) into the error that says
    /// what to change.
    async fn explain(&self, e: TrackerError) -> TrackerError {
        let flavor = self.site.get().map(|s| s.flavor);
        match e {
            TrackerError::Unauthorized { .. } => self.credentials_refused(flavor),
            TrackerError::Forbidden { .. }
                if flavor == Some(Flavor::Cloud)
                    && matches!(self.credentials, Credentials::Bearer { .. }) =>
            {
                self.credentials_refused(flavor)
            }
            other => other,
        }
    }

    /// `GET` of an API path (`/project/…`) under the site's REST root.
    async fn api_get(&self, rest: &str) -> Result<Value, TrackerError> {
        let flavor = self.flavor().await?;
        self.client.get(&format!("{}{rest}", flavor.api())).await
    }

    /// Whether an issue's type is an epic: Cloud's hierarchy says level 1; elsewhere the
    /// type is called Epic.
    fn is_epic(issue: &Value) -> bool {
        let t = issue.get("fields").and_then(|f| f.get("issuetype"));
        match t
            .and_then(|t| t.get("hierarchyLevel"))
            .and_then(Value::as_i64)
        {
            Some(level) => level == 1,
            None => t
                .and_then(|t| t.get("name"))
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case("epic")),
        }
    }

    async fn check_scope(&self) -> Result<(), TrackerError> {
        match &self.epic {
            None => {
                let path = format!("/project/{}", self.project);
                self.api_get(&path).await.map_err(|e| match e {
                    TrackerError::NotFound { service, .. } => TrackerError::NotFound {
                        service,
                        what: format!("project {}", self.project),
                    },
                    other => other,
                })?;
            }
            Some(epic) => {
                let path = format!("/issue/{epic}?fields=issuetype,project,summary");
                let issue = self.api_get(&path).await.map_err(|e| match e {
                    TrackerError::NotFound { service, .. } => TrackerError::NotFound {
                        service,
                        what: format!("epic {epic}"),
                    },
                    other => other,
                })?;
                if !Self::is_epic(&issue) {
                    let kind = issue
                        .get("fields")
                        .and_then(|f| f.get("issuetype"))
                        .and_then(|t| t.get("name"))
                        .and_then(Value::as_str)
                        .unwrap_or("not an epic");
                    return Err(TrackerError::Scope(format!(
                        "{epic} is a {}, not an epic: a jira:KEY-123 scope names an epic (its \
                         children and their subtasks); use jira:{} for the whole project",
                        crate::sanitize::quote(kind).trim_matches('"'),
                        self.project
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Cloud when `serverInfo` says so; Server and Data Center otherwise.
fn flavor_of(info: &Value) -> Flavor {
    match info.get("deploymentType").and_then(Value::as_str) {
        Some(t) if t.eq_ignore_ascii_case("cloud") => Flavor::Cloud,
        _ => Flavor::DataCenter,
    }
}

#[async_trait]
impl Tracker for JiraTracker {
    fn scope(&self) -> &Scope {
        &self.scope
    }

    async fn check(&self) -> Result<(), TrackerError> {
        self.site().await?;
        match self.check_scope().await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.explain(e).await),
        }
    }

    async fn fetch(
        &self,
        opts: &FetchOptions,
        out: mpsc::Sender<Record>,
    ) -> Result<FetchReport, TrackerError> {
        match self.capture(opts, out).await {
            Ok(report) => Ok(report),
            Err(e) => Err(self.explain(e).await),
        }
    }

    fn requests(&self) -> u64 {
        self.client.requests()
    }

    fn embedding(&self) -> Option<&dyn Embedding> {
        Some(&embed::IssueEmbeds)
    }

    async fn rollback_context(
        &self,
        ask: &ContextRequest,
    ) -> Result<RollbackContext, TrackerError> {
        if ask.is_empty() {
            return Ok(RollbackContext::default());
        }
        match self.context(ask).await {
            Ok(cx) => Ok(cx),
            Err(e) => Err(self.explain(e).await),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn flavours_parse_and_are_read_from_server_info() {
        assert_eq!("Cloud".parse::<Flavor>(), Ok(Flavor::Cloud));
        assert_eq!("datacenter".parse::<Flavor>(), Ok(Flavor::DataCenter));
        assert_eq!("server".parse::<Flavor>(), Ok(Flavor::DataCenter));
        assert!("onprem".parse::<Flavor>().is_err());
        assert_eq!(
            flavor_of(&json!({"deploymentType": "Cloud"})),
            Flavor::Cloud
        );
        assert_eq!(
            flavor_of(&json!({"deploymentType": "Server"})),
            Flavor::DataCenter
        );
        assert_eq!(
            flavor_of(&json!({"deploymentType": "DataCenter"})),
            Flavor::DataCenter
        );
    }

    /// The functions read the token from Secrets Manager and the rest from the environment:
    /// the same rules as the CLI's, whatever the source, and no value in any message.
    #[test]
    fn settings_from_any_source_follow_one_rule() {
        let from = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            JiraConfig::from_settings(move |k| {
                Ok(pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
            })
        };
        let cloud = from(&[
            (env::JIRA_BASE_URL, " https://acme.atlassian.net "),
            (env::JIRA_EMAIL, "bot@acme.com"),
            (env::JIRA_API_TOKEN, "tok-123"),
            (env::JIRA_FLAVOR, "cloud"),
        ])
        .unwrap();
        assert_eq!(cloud.base_url, "https://acme.atlassian.net");
        assert!(matches!(cloud.credentials, Credentials::Basic { .. }));
        assert_eq!(cloud.flavor, Some(Flavor::Cloud));
        let dc = from(&[
            (env::JIRA_BASE_URL, "https://jira.acme.com"),
            (env::JIRA_API_TOKEN, "pat-456"),
            (env::JIRA_EMAIL, "  "),
        ])
        .unwrap();
        assert!(matches!(dc.credentials, Credentials::Bearer { .. }));
        assert_eq!(dc.flavor, None);
        for (pairs, names) in [
            (vec![(env::JIRA_API_TOKEN, "t")], env::JIRA_BASE_URL),
            (
                vec![(env::JIRA_BASE_URL, "https://x"), (env::JIRA_EMAIL, "a@b")],
                env::JIRA_API_TOKEN,
            ),
            (
                vec![
                    (env::JIRA_BASE_URL, "https://x"),
                    (env::JIRA_API_TOKEN, "to ken-secret"),
                ],
                env::JIRA_API_TOKEN,
            ),
            (
                vec![
                    (env::JIRA_BASE_URL, "https://x"),
                    (env::JIRA_FLAVOR, "onprem"),
                ],
                env::JIRA_FLAVOR,
            ),
        ] {
            let e = from(&pairs).unwrap_err().to_string();
            assert!(e.contains(names) && !e.contains("secret"), "{e}");
        }
    }

    #[test]
    fn epics_are_recognised_on_both_flavours() {
        let cloud = json!({"fields": {"issuetype": {"name": "Epic", "hierarchyLevel": 1}}});
        let story = json!({"fields": {"issuetype": {"name": "Story", "hierarchyLevel": 0}}});
        let dc = json!({"fields": {"issuetype": {"name": "Epic"}}});
        assert!(JiraTracker::is_epic(&cloud));
        assert!(!JiraTracker::is_epic(&story));
        assert!(JiraTracker::is_epic(&dc));
    }

    #[test]
    fn refused_credentials_say_which_variable_to_change() {
        let scope: Scope = "jira:PROJ".parse().unwrap();
        let tracker = |credentials| {
            JiraTracker::new(
                &scope,
                &JiraConfig::new("https://jira.example.com", credentials),
            )
            .unwrap()
        };
        let basic = tracker(Credentials::Basic {
            email: "a@example.com".into(),
            token: "secret-cloud-token".into(),
        });
        let e = basic
            .credentials_refused(Some(Flavor::DataCenter))
            .to_string();
        assert!(
            e.contains("unset JIRA_EMAIL") && !e.contains("secret"),
            "{e}"
        );
        let bearer = tracker(Credentials::Bearer {
            token: "secret-pat".into(),
        });
        let e = bearer.credentials_refused(Some(Flavor::Cloud)).to_string();
        assert!(
            e.contains("set JIRA_EMAIL too") && !e.contains("secret"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }
}
