//! The functions' configuration, read once per cold start from the environment that the SAM
//! template sets. Variable names are constants here so the template, the README and the tests
//! quote one spelling.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use crate::catalog::DynamoCatalog;
use crate::error::Error;
use crate::scope::Scope;
use crate::snapshot::Archive;
use crate::store::S3Store;
use crate::tracker::{GitHubConfig, GitHubTracker, Tracker, WritePace};

use super::queue::{JobQueue, SqsQueue};
use super::secrets::{self, Secret};

/// `s3://BUCKET/PREFIX`: the object store.
pub const ENV_STORE: &str = "BACKTRACK_STORE";
/// `dynamodb://TABLE`: the catalog.
pub const ENV_CATALOG: &str = "BACKTRACK_CATALOG";
/// The restore job queue's URL (`restore` only).
pub const ENV_QUEUE_URL: &str = "BACKTRACK_QUEUE_URL";
/// Operations one restore invocation applies at most before handing over to the next.
pub const ENV_MAX_OPS: &str = "BACKTRACK_MAX_OPS_PER_INVOCATION";
/// Milliseconds between two GitHub writes (default 750: GitHub's secondary limits).
pub const ENV_WRITE_INTERVAL_MS: &str = "BACKTRACK_WRITE_INTERVAL_MS";
/// JSON object mapping an owner (`acme`) or repository (`acme/widgets`) to the API URL of
/// the GitHub that hosts it, for organisations with GitHub Enterprise next to github.com.
pub const ENV_API_URLS: &str = "BACKTRACK_GITHUB_API_URLS";
/// The webhook secret (or `BACKTRACK_WEBHOOK_SECRET_ARN`, a Secrets Manager ARN).
pub const ENV_WEBHOOK_SECRET: &str = "BACKTRACK_WEBHOOK_SECRET";
/// The GitHub token (or `GITHUB_TOKEN_ARN`, a Secrets Manager ARN).
pub const ENV_GITHUB_TOKEN: &str = "GITHUB_TOKEN";

/// Makes the tracker of a scope. Production: [`GitHubTrackers`]; tests may point scopes at
/// sandboxes or fakes.
pub trait TrackerFactory: Send + Sync + Debug {
    fn tracker(&self, scope: &Scope) -> Result<Arc<dyn Tracker>, Error>;
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
    fn tracker(&self, scope: &Scope) -> Result<Arc<dyn Tracker>, Error> {
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

/// Limits of one invocation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// [`ENV_MAX_OPS`]; `None`: only the deadline bounds a slice.
    pub max_ops: Option<usize>,
    /// Kept free before the invocation's deadline for verification and bookkeeping.
    pub deadline_margin: Duration,
    /// A restore job's scope lock lasts this long past its last renewal.
    pub lock_ttl: Duration,
    /// How long a handled webhook delivery id is remembered (GitHub redelivers for days).
    pub delivery_ttl: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_ops: None,
            deadline_margin: Duration::from_secs(60),
            lock_ttl: Duration::from_secs(20 * 60),
            delivery_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// What a handler works with: built once per cold start by [`Deps::from_env`], or by tests
/// from in-memory twins.
#[derive(Debug, Clone)]
pub struct Deps {
    pub archive: Archive,
    pub trackers: Arc<dyn TrackerFactory>,
    /// The restore job queue (`restore` only).
    pub queue: Option<Arc<dyn JobQueue>>,
    pub webhook_secret: Option<Secret>,
    pub limits: Limits,
}

impl Deps {
    pub fn new(archive: Archive, trackers: Arc<dyn TrackerFactory>) -> Self {
        Deps {
            archive,
            trackers,
            queue: None,
            webhook_secret: None,
            limits: Limits::default(),
        }
    }
}

/// A missing or malformed setting; names the variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A required variable.
pub fn required(name: &str) -> Result<String, ConfigError> {
    var(name).ok_or_else(|| ConfigError(format!("{name} is not set")))
}

impl Deps {
    /// Reads the environment, resolves secrets and opens S3 and DynamoDB (no request is made
    /// to them here: a cold start stays short).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let sdk = crate::aws::load_config().await;
        let store_url = required(ENV_STORE)?;
        let catalog_url = required(ENV_CATALOG)?;
        let store = S3Store::from_url(&store_url)
            .await
            .map_err(|e| ConfigError(format!("{ENV_STORE}: {e}")))?;
        let catalog = DynamoCatalog::from_url(&catalog_url)
            .await
            .map_err(|e| ConfigError(format!("{ENV_CATALOG}: {e}")))?;
        let token = secrets::from_env(ENV_GITHUB_TOKEN, &sdk)
            .await
            .map_err(|e| ConfigError(e.to_string()))?;
        let webhook_secret = secrets::from_env(ENV_WEBHOOK_SECRET, &sdk)
            .await
            .map_err(|e| ConfigError(e.to_string()))?;
        let mut github = GitHubConfig::from_env().map_err(|e| ConfigError(e.to_string()))?;
        github.token = match token {
            Some(t) => {
                crate::tracker::github::check_token(t.expose(), ENV_GITHUB_TOKEN)
                    .map_err(|e| ConfigError(e.to_string()))?;
                Some(t.expose().to_string())
            }
            None => None,
        };
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
        }
        let mut trackers = GitHubTrackers::new(github);
        if let Some(text) = var(ENV_API_URLS) {
            trackers.api_urls = GitHubTrackers::parse_api_urls(&text).map_err(ConfigError)?;
        }
        let mut limits = Limits::default();
        if let Some(n) = var(ENV_MAX_OPS) {
            let n: usize =
                n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ConfigError(format!("{ENV_MAX_OPS} must be a positive number"))
                })?;
            limits.max_ops = Some(n);
        }
        let queue =
            var(ENV_QUEUE_URL).map(|url| Arc::new(SqsQueue::new(&sdk, url)) as Arc<dyn JobQueue>);
        Ok(Deps {
            archive: Archive::new(Arc::new(store), Arc::new(catalog)),
            trackers: Arc::new(trackers),
            queue,
            webhook_secret,
            limits,
        })
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
}
