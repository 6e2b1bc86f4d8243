//! The functions' configuration, read once per cold start from the environment that the SAM
//! template sets. The variables' names live in [`backtrack::config::env`], with the CLI's.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use backtrack::catalog::DynamoCatalog;
use backtrack::config::env::var;
use backtrack::config::{CatalogUrl, StoreUrl};
use backtrack::error::Error;
use backtrack::events::jira::Debounce;
use backtrack::fleet::{app, Credentials, GitHubApp};
use backtrack::scope::Scope;
use backtrack::scope::TrackerKind;
use backtrack::snapshot::Archive;
use backtrack::store::S3Store;
use backtrack::tracker::{
    GitHubConfig, GitHubTracker, JiraConfig, JiraTracker, Tracker, TrackerWriter, WritePace,
};

use super::queue::{JobQueue, SqsQueue};
use super::secrets::{self, Secret};

pub use backtrack::config::env::{
    CATALOG as ENV_CATALOG, FUNCTION_TIMEOUT_SECS as ENV_FUNCTION_TIMEOUT,
    GITHUB_API_URLS as ENV_API_URLS, GITHUB_TOKEN as ENV_GITHUB_TOKEN, MAX_OPS as ENV_MAX_OPS,
    MAX_REQUESTS as ENV_MAX_REQUESTS, QUEUE_URL as ENV_QUEUE_URL,
    REQUEST_WINDOW_SECS as ENV_REQUEST_WINDOW, SCHEDULED_SCOPES as ENV_SCHEDULED_SCOPES,
    SNAPSHOT_QUEUE_URL as ENV_SNAPSHOT_QUEUE_URL, STORE as ENV_STORE,
    WEBHOOK_ALLOW as ENV_WEBHOOK_ALLOW, WEBHOOK_SECRET as ENV_WEBHOOK_SECRET,
    WRITE_INTERVAL_MS as ENV_WRITE_INTERVAL_MS,
};
pub use backtrack::config::env::{
    JIRA_API_TOKEN as ENV_JIRA_API_TOKEN, JIRA_BASE_URL as ENV_JIRA_BASE_URL,
    JIRA_WEBHOOK_DEBOUNCE_SECS as ENV_JIRA_DEBOUNCE,
    JIRA_WEBHOOK_SECRET as ENV_JIRA_WEBHOOK_SECRET,
};
use backtrack::events::AllowList;

/// Makes the tracker of a scope. Production: [`GitHubTrackers`]; tests may point scopes at
/// sandboxes or fakes.
pub trait TrackerFactory: Send + Sync + Debug {
    /// A reader, for snapshots and diffs.
    fn tracker(&self, scope: &Scope) -> Result<Arc<dyn Tracker>, Error> {
        Ok(self.writer(scope)?.reader())
    }

    /// A reader that can also write, for restores.
    fn writer(&self, scope: &Scope) -> Result<Arc<dyn TrackerWriter>, Error>;
}

/// GitHub trackers sharing one configuration, with optional per-owner API URLs.
#[derive(Debug, Clone)]
pub struct GitHubTrackers {
    pub config: GitHubConfig,
    /// `owner` or `owner/repo` (lowercase) → API URL.
    pub api_urls: BTreeMap<String, String>,
}

impl GitHubTrackers {
    pub fn new(config: GitHubConfig) -> Self {
        GitHubTrackers {
            config,
            api_urls: BTreeMap::new(),
        }
    }

    /// Parses [`ENV_API_URLS`].
    pub fn parse_api_urls(text: &str) -> Result<BTreeMap<String, String>, String> {
        let map: BTreeMap<String, String> = serde_json::from_str(text).map_err(|e| {
            format!("{ENV_API_URLS} must be a JSON object of owner or owner/repo to URL ({e})")
        })?;
        for url in map.values() {
            url::Url::parse(url)
                .map_err(|e| format!("{ENV_API_URLS}: {url:?} is not a URL ({e})"))?;
        }
        Ok(map
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect())
    }
}

impl TrackerFactory for GitHubTrackers {
    fn writer(&self, scope: &Scope) -> Result<Arc<dyn TrackerWriter>, Error> {
        if scope.github_repo().is_none() {
            return Err(Error::Invalid(format!(
                "{scope}: this deployment has no Jira site; set the template's JiraBaseUrl and \
                 JiraApiTokenSecretArn parameters ({ENV_JIRA_BASE_URL}, {ENV_JIRA_API_TOKEN}_ARN)"
            )));
        }
        let mut config = self.config.clone();
        if let Some((owner, repo)) = scope.github_repo() {
            let full = format!("{owner}/{repo}").to_ascii_lowercase();
            if let Some(url) = self
                .api_urls
                .get(&full)
                .or_else(|| self.api_urls.get(&owner.to_ascii_lowercase()))
            {
                config.api_url = url.clone();
            }
        }
        Ok(Arc::new(GitHubTracker::new(scope, &config)?))
    }
}

/// The trackers of a deployment: GitHub for `github:` scopes, and the one Jira site (when
/// configured) for `jira:` scopes.
#[derive(Debug, Clone)]
pub struct Trackers {
    pub github: GitHubTrackers,
    /// `None`: `jira:` scopes are refused, naming the settings to add.
    pub jira: Option<JiraConfig>,
}

impl Trackers {
    fn jira(&self, scope: &Scope) -> Result<Option<JiraTracker>, Error> {
        if scope.tracker() != TrackerKind::Jira {
            return Ok(None);
        }
        match &self.jira {
            Some(config) => Ok(Some(JiraTracker::new(scope, config)?)),
            None => self.github.writer(scope).map(|_| None),
        }
    }
}

impl TrackerFactory for Trackers {
    fn tracker(&self, scope: &Scope) -> Result<Arc<dyn Tracker>, Error> {
        match self.jira(scope)? {
            Some(jira) => Ok(Arc::new(jira)),
            None => self.github.tracker(scope),
        }
    }

    fn writer(&self, scope: &Scope) -> Result<Arc<dyn TrackerWriter>, Error> {
        match self.jira(scope)? {
            Some(jira) => Ok(Arc::new(jira)),
            None => self.github.writer(scope),
        }
    }
}

/// Limits of one invocation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// [`ENV_MAX_OPS`]; `None`: only the deadline bounds a slice.
    pub max_ops: Option<usize>,
    /// [`ENV_MAX_REQUESTS`]: tracker requests one invocation of a snapshot job may make
    /// before it stops `partial` and continues in the next; `None`: only the deadline.
    pub max_requests: Option<u64>,
    /// Kept free before the invocation's deadline for verification and bookkeeping.
    pub deadline_margin: Duration,
    /// [`ENV_REQUEST_WINDOW`]: how long a capture within `POST /snapshots` may read.
    pub request_window: Duration,
    /// How long a handled webhook delivery id is remembered (GitHub redelivers for days).
    pub delivery_ttl: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_ops: None,
            max_requests: None,
            deadline_margin: Duration::from_secs(60),
            request_window: backtrack::snapshot::job::REQUEST_WINDOW,
            delivery_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// The longest rate-limit reset a capture in a function sleeps through
/// ([`Env::capture_trackers`]); later ones are handed to a later invocation.
pub const CAPTURE_MAX_WAIT: Duration = Duration::from_secs(20);

/// The invocation's length when the runtime gives no usable deadline
/// ([`ENV_FUNCTION_TIMEOUT`]); `None` when unset (the deadline stays unknown).
pub fn fallback_timeout() -> Result<Option<Duration>, ConfigError> {
    match var(ENV_FUNCTION_TIMEOUT) {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=900).contains(s))
            .map(|s| Some(Duration::from_secs(s)))
            .ok_or_else(|| {
                ConfigError(format!(
                    "{ENV_FUNCTION_TIMEOUT} must be the function's timeout in whole seconds, \
                     1 to 900 (it was {text:?})"
                ))
            }),
    }
}

/// A missing or malformed setting; names the variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Where the function's passphrase was read from, for an error that it does not open the
/// store: the variable, and the secret's ARN (never the value).
fn passphrase_source() -> String {
    let inline = backtrack::crypt::ENV_PASSPHRASE;
    if var(inline).is_some() {
        return inline.to_string();
    }
    let arn_var = format!("{inline}{}", backtrack::config::env::ARN_SUFFIX);
    match var(&arn_var) {
        Some(arn) => format!("{arn_var}, secret {arn}"),
        None => arn_var,
    }
}

/// A required variable.
pub fn required(name: &str) -> Result<String, ConfigError> {
    var(name).ok_or_else(|| ConfigError(format!("{name} is not set")))
}

/// The function's environment, read once per cold start: each function takes from it the
/// clients it needs and nothing else. Few requests are sent here (a cold start stays
/// short): secrets given as ARNs, read once, and one read of the catalog's layout version.
#[derive(Debug, Clone)]
pub struct Env {
    sdk: aws_config::SdkConfig,
}

impl Env {
    pub async fn load() -> Self {
        Env {
            sdk: backtrack::aws::load_config().await,
        }
    }

    /// The archive: `BACKTRACK_STORE` (S3) and `BACKTRACK_CATALOG` (DynamoDB), both
    /// required; a function has no folder that outlives it.
    pub async fn archive(&self) -> Result<Archive, ConfigError> {
        let store = match StoreUrl::parse(&required(ENV_STORE)?, ENV_STORE) {
            Ok(StoreUrl::S3(s3)) => S3Store::open(&s3).await,
            Ok(StoreUrl::File(_)) => {
                return Err(ConfigError(format!(
                "{ENV_STORE} must be s3://BUCKET/PREFIX: a function has no folder that outlives it"
            )))
            }
            Ok(StoreUrl::Git(_)) => {
                return Err(ConfigError(format!(
                "{ENV_STORE} must be s3://BUCKET/PREFIX: git:// stores are for the CLI and the Action"
            )))
            }
            Err(e) => return Err(ConfigError(e.to_string())),
        };
        let catalog = match CatalogUrl::parse(&required(ENV_CATALOG)?, ENV_CATALOG) {
            Ok(CatalogUrl::Dynamo(table)) => {
                let catalog = DynamoCatalog::open(&table).await;
                // One consistent read per cold start; migrates a table written by an older
                // layout (scope keys) the first time a new version runs against it.
                catalog
                    .prepare()
                    .await
                    .map_err(|e| ConfigError(format!("{ENV_CATALOG}: {e}")))?;
                catalog
            }
            Ok(CatalogUrl::Sqlite(_)) => {
                return Err(ConfigError(format!(
                "{ENV_CATALOG} must be dynamodb://TABLE: a function has no folder that outlives it"
            )))
            }
            Ok(CatalogUrl::Git(_)) => {
                return Err(ConfigError(format!(
                "{ENV_CATALOG} must be dynamodb://TABLE: git:// catalogs are for the CLI and the Action"
            )))
            }
            Err(e) => return Err(ConfigError(e.to_string())),
        };
        // An encrypted store opens with its passphrase (`BACKTRACK_PASSPHRASE`, or
        // `BACKTRACK_PASSPHRASE_ARN` in Secrets Manager); a plain one without.
        let secrets = match secrets::from_env(backtrack::crypt::ENV_PASSPHRASE, &self.sdk)
            .await
            .map_err(|e| ConfigError(e.to_string()))?
        {
            Some(p) => backtrack::crypt::Secrets::with_passphrase(p.expose().as_bytes())
                .map_err(|e| ConfigError(e.to_string()))?,
            None => backtrack::crypt::Secrets::none(),
        };
        let store = backtrack::crypt::open(Arc::new(store), &secrets, false)
            .await
            .map_err(|e| match e {
                // The CLI's advice (a flag, a variable) is not how a function gets it.
                backtrack::crypt::CryptError::Locked { store } => ConfigError(format!(
                    "{ENV_STORE}: store {store} is encrypted, and no passphrase was given: set \
                     the template's PassphraseSecretArn ({}{}) to the Secrets Manager secret \
                     holding it",
                    backtrack::crypt::ENV_PASSPHRASE,
                    backtrack::config::env::ARN_SUFFIX
                )),
                e @ backtrack::crypt::CryptError::WrongPassphrase { .. } => ConfigError(format!(
                    "{ENV_STORE}: {e} (the passphrase came from {})",
                    passphrase_source()
                )),
                e => ConfigError(format!("{ENV_STORE}: {e}")),
            })?;
        Ok(Archive::new(store, Arc::new(catalog)))
    }

    /// How to list and read a whole organisation (`github:ORG/*`): the GitHub App when
    /// `GITHUB_APP_ID` is set (its key from `GITHUB_APP_PRIVATE_KEY` or its `_ARN`, a Secrets
    /// Manager secret), else the token the trackers use.
    pub async fn github_credentials(&self) -> Result<Credentials, ConfigError> {
        let api_url = GitHubConfig::from_env()
            .map_err(|e| ConfigError(e.to_string()))?
            .api_url;
        let Some(id) = var(app::GITHUB_APP_ID) else {
            let token = secrets::from_env(ENV_GITHUB_TOKEN, &self.sdk)
                .await
                .map_err(|e| ConfigError(e.to_string()))?;
            return Ok(Credentials::token(
                &api_url,
                token.map(|t| t.expose().to_string()),
            ));
        };
        let id: u64 = id.trim().parse().map_err(|_| {
            ConfigError(format!(
                "{} must be the GitHub App's numeric id",
                app::GITHUB_APP_ID
            ))
        })?;
        let key = secrets::from_env(app::GITHUB_APP_PRIVATE_KEY, &self.sdk)
            .await
            .map_err(|e| ConfigError(e.to_string()))?
            .ok_or_else(|| {
                ConfigError(format!(
                    "{} is set but the app's private key is not: set {}_ARN to the Secrets \
                     Manager secret holding it",
                    app::GITHUB_APP_ID,
                    app::GITHUB_APP_PRIVATE_KEY
                ))
            })?;
        let pinned = match var(app::GITHUB_APP_INSTALLATION_ID) {
            None => None,
            Some(v) => Some(v.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "{} must be a numeric installation id",
                    app::GITHUB_APP_INSTALLATION_ID
                ))
            })?),
        };
        let app = GitHubApp::new(&api_url, id, key.expose(), pinned)
            .map_err(|e| ConfigError(e.to_string()))?;
        Ok(Credentials::app(&api_url, app))
    }

    /// GitHub trackers: the token (`GITHUB_TOKEN` or its `_ARN`), the API URL, per-owner
    /// API URLs ([`ENV_API_URLS`]) and the write pace ([`ENV_WRITE_INTERVAL_MS`]).
    pub async fn trackers(&self) -> Result<Arc<dyn TrackerFactory>, ConfigError> {
        self.trackers_waiting(None).await
    }

    /// GitHub trackers for captures: like [`Env::trackers`], but a rate-limit reset further
    /// off than [`CAPTURE_MAX_WAIT`] stops the capture `partial` instead of sleeping through
    /// the invocation; the snapshot job hands the rest to a later invocation, sent for the
    /// reset ([`backtrack::snapshot::job`]).
    pub async fn capture_trackers(&self) -> Result<Arc<dyn TrackerFactory>, ConfigError> {
        self.trackers_waiting(Some(CAPTURE_MAX_WAIT)).await
    }

    async fn trackers_waiting(
        &self,
        max_wait: Option<Duration>,
    ) -> Result<Arc<dyn TrackerFactory>, ConfigError> {
        let token = secrets::from_env(ENV_GITHUB_TOKEN, &self.sdk)
            .await
            .map_err(|e| ConfigError(e.to_string()))?;
        let mut github = GitHubConfig::from_env().map_err(|e| ConfigError(e.to_string()))?;
        if let Some(wait) = max_wait {
            github.retry.max_wait = wait;
        }
        github.token = match token {
            Some(t) => {
                backtrack::tracker::github::check_token(t.expose(), ENV_GITHUB_TOKEN)
                    .map_err(|e| ConfigError(e.to_string()))?;
                Some(t.expose().to_string())
            }
            None => None,
        };
        // The same gap between writes for Jira as for GitHub when it is set: Jira Cloud's
        // budget is larger, so the GitHub default stays well under it.
        let mut pace = None;
        if let Some(ms) = var(ENV_WRITE_INTERVAL_MS) {
            let ms: u64 = ms.parse().map_err(|_| {
                ConfigError(format!(
                    "{ENV_WRITE_INTERVAL_MS} must be a number of milliseconds"
                ))
            })?;
            github.pace = WritePace {
                min_interval: Duration::from_millis(ms),
                ..WritePace::default()
            };
            pace = Some(github.pace.clone());
        }
        // GITHUB_APP_ID applies to every GitHub scope, single repositories included: each
        // tracker authenticates as the installation covering its repository.
        if var(app::GITHUB_APP_ID).is_some() {
            github.app = self.github_credentials().await?.github_app_arc();
        }
        let mut trackers = GitHubTrackers::new(github);
        if let Some(text) = var(ENV_API_URLS) {
            trackers.api_urls = GitHubTrackers::parse_api_urls(&text).map_err(ConfigError)?;
        }
        let mut jira = self.jira().await?;
        if let (Some(jira), Some(pace)) = (&mut jira, pace) {
            jira.pace = pace;
        }
        Ok(Arc::new(Trackers {
            github: trackers,
            jira,
        }))
    }

    /// The Jira site, when [`ENV_JIRA_BASE_URL`] is set: its settings read by the library's
    /// one rule ([`JiraConfig::from_settings`]), with the token (`JIRA_API_TOKEN` or its
    /// `_ARN`) from Secrets Manager.
    async fn jira(&self) -> Result<Option<JiraConfig>, ConfigError> {
        if var(ENV_JIRA_BASE_URL).is_none() {
            return Ok(None);
        }
        let token = secrets::from_env(ENV_JIRA_API_TOKEN, &self.sdk)
            .await
            .map_err(|e| ConfigError(e.to_string()))?;
        JiraConfig::from_settings(|name| {
            Ok(if name == ENV_JIRA_API_TOKEN {
                token.as_ref().map(|t| t.expose().to_string())
            } else {
                var(name)
            })
        })
        .map(Some)
        .map_err(|e| ConfigError(e.to_string()))
    }

    /// The Jira webhook secret (`BACKTRACK_JIRA_WEBHOOK_SECRET` or its `_ARN`), if set.
    pub async fn jira_webhook_secret(&self) -> Result<Option<Secret>, ConfigError> {
        secrets::from_env(ENV_JIRA_WEBHOOK_SECRET, &self.sdk)
            .await
            .map_err(|e| ConfigError(e.to_string()))
    }

    /// The Jira webhooks' debounce window ([`ENV_JIRA_DEBOUNCE`], default one minute).
    pub fn jira_debounce(&self) -> Result<Debounce, ConfigError> {
        match var(ENV_JIRA_DEBOUNCE) {
            Some(text) => Debounce::from_secs_text(&text, ENV_JIRA_DEBOUNCE).map_err(ConfigError),
            None => Ok(Debounce::DEFAULT),
        }
    }

    /// The webhook secret (`BACKTRACK_WEBHOOK_SECRET` or its `_ARN`), if set.
    pub async fn webhook_secret(&self) -> Result<Option<Secret>, ConfigError> {
        secrets::from_env(ENV_WEBHOOK_SECRET, &self.sdk)
            .await
            .map_err(|e| ConfigError(e.to_string()))
    }

    /// The restore job queue (`BACKTRACK_QUEUE_URL`, required).
    pub fn queue(&self) -> Result<Arc<dyn JobQueue>, ConfigError> {
        Ok(Arc::new(SqsQueue::new(&self.sdk, required(ENV_QUEUE_URL)?)))
    }

    /// The snapshot job queue (`BACKTRACK_SNAPSHOT_QUEUE_URL`, required).
    pub fn snapshot_queue(&self) -> Result<Arc<dyn JobQueue>, ConfigError> {
        Ok(Arc::new(SqsQueue::new(
            &self.sdk,
            required(ENV_SNAPSHOT_QUEUE_URL)?,
        )))
    }

    /// The repositories webhooks may snapshot ([`ENV_WEBHOOK_ALLOW`], or the owners of
    /// [`ENV_SCHEDULED_SCOPES`]; see [`AllowList::for_webhooks`]). Logged once, so a
    /// deployment that allows nothing says so at its first start.
    pub fn webhook_allow_list(&self) -> Result<AllowList, ConfigError> {
        let list = AllowList::for_webhooks(
            var(ENV_WEBHOOK_ALLOW).as_deref(),
            var(ENV_SCHEDULED_SCOPES).as_deref(),
        )
        .map_err(|e| ConfigError(format!("{ENV_WEBHOOK_ALLOW} / {ENV_SCHEDULED_SCOPES}: {e}")))?;
        if list.is_empty() {
            tracing::warn!("no repository is allowed for webhooks ({ENV_WEBHOOK_ALLOW} and {ENV_SCHEDULED_SCOPES} are unset): every delivery is ignored");
        } else {
            tracing::info!(allowed = %list, "webhooks may snapshot these owners and repositories");
        }
        Ok(list)
    }

    /// The invocation limits ([`ENV_MAX_OPS`]; the rest are fixed).
    pub fn limits(&self) -> Result<Limits, ConfigError> {
        let mut limits = Limits::default();
        if let Some(n) = var(ENV_MAX_OPS) {
            let n: usize =
                n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ConfigError(format!("{ENV_MAX_OPS} must be a positive number"))
                })?;
            limits.max_ops = Some(n);
        }
        if let Some(n) = var(ENV_MAX_REQUESTS) {
            let n: u64 = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                ConfigError(format!("{ENV_MAX_REQUESTS} must be a positive number"))
            })?;
            limits.max_requests = Some(n);
        }
        if let Some(n) = var(ENV_REQUEST_WINDOW) {
            let secs: u64 = n
                .trim()
                .parse()
                .ok()
                .filter(|s| (1..=25).contains(s))
                .ok_or_else(|| {
                    ConfigError(format!(
                        "{ENV_REQUEST_WINDOW} must be whole seconds, 1 to 25 (API Gateway answers 504 after 29; it was {n:?})"
                    ))
                })?;
            limits.request_window = Duration::from_secs(secs);
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_route_by_repository_then_owner() {
        let mut t = GitHubTrackers::new(GitHubConfig::new("https://api.github.com", None));
        t.api_urls = GitHubTrackers::parse_api_urls(
            r#"{"Acme": "http://127.0.0.1:1", "acme/special": "http://127.0.0.1:2"}"#,
        )
        .unwrap();
        assert_eq!(t.api_urls["acme"], "http://127.0.0.1:1");
        assert!(GitHubTrackers::parse_api_urls(r#"{"acme": "not a url"}"#).is_err());
        assert!(GitHubTrackers::parse_api_urls("[]").is_err());
    }

    #[tokio::test]
    async fn jira_scopes_go_to_the_deployments_jira_site_or_are_refused_naming_it() {
        let github = GitHubTrackers::new(GitHubConfig::new("https://api.github.com", None));
        let jira: Scope = "jira:PROJ-12".parse().unwrap();
        let without = Trackers {
            github: github.clone(),
            jira: None,
        };
        let e = without.tracker(&jira).unwrap_err().to_string();
        assert!(
            e.contains("JiraBaseUrl") && e.contains("JIRA_BASE_URL"),
            "{e}"
        );
        let with = Trackers {
            github,
            jira: Some(JiraConfig::new(
                "https://jira.example.com",
                backtrack::tracker::jira::Credentials::Bearer { token: "t".into() },
            )),
        };
        assert_eq!(with.tracker(&jira).unwrap().scope(), &jira);
        assert_eq!(with.writer(&jira).unwrap().scope(), &jira);
        let repo: Scope = "github:acme/widgets".parse().unwrap();
        assert_eq!(with.writer(&repo).unwrap().scope(), &repo);
    }
}
