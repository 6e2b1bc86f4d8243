//! GitHub App authentication: the app's id and private key make an RS256 JWT (valid ten
//! minutes at most, as GitHub requires), which buys an installation token per organisation
//! (`GET /orgs/{org}/installation`, then `POST /app/installations/{id}/access_tokens`).
//! Tokens are cached per installation and replaced [`REFRESH_MARGIN`] before they expire,
//! so a long run never presents an expired one; each installation has its own rate budget.
//!
//! The key comes from a file (`GITHUB_APP_PRIVATE_KEY_FILE`) or its text
//! (`GITHUB_APP_PRIVATE_KEY`, what the functions read from Secrets Manager). Neither the key,
//! the JWT nor a token is ever logged or shown: `Debug` redacts them and errors name the
//! variables, never their values.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use http::Method;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use tokio::sync::Mutex;

use crate::tracker::github::{Client, RetryPolicy, TokenSource, WritePace};
use crate::tracker::TrackerError;

/// The app's numeric id.
pub const GITHUB_APP_ID: &str = "GITHUB_APP_ID";
/// The app's private key, PEM text.
pub const GITHUB_APP_PRIVATE_KEY: &str = "GITHUB_APP_PRIVATE_KEY";
/// A file holding the app's private key (the `.pem` GitHub lets you download).
pub const GITHUB_APP_PRIVATE_KEY_FILE: &str = "GITHUB_APP_PRIVATE_KEY_FILE";
/// Pins the installation instead of looking it up per organisation.
pub const GITHUB_APP_INSTALLATION_ID: &str = "GITHUB_APP_INSTALLATION_ID";

/// How long before its expiry a cached installation token is replaced (see `Cached::fresh`).
pub const REFRESH_MARGIN: Duration = Duration::minutes(5);
/// The JWT's lifetime: GitHub refuses more than ten minutes; a minute of margin for clocks.
const JWT_SECS: i64 = 540;
/// `iat` is back-dated this much, as GitHub recommends against clock drift.
const JWT_BACKDATE_SECS: i64 = 60;

#[derive(Clone)]
struct Cached {
    token: String,
    expires_at: DateTime<Utc>,
    obtained_at: DateTime<Utc>,
}

impl Cached {
    /// Fresh enough to hand out: more than [`REFRESH_MARGIN`] left, or a quarter of its
    /// lifetime for tokens that live shorter than four margins (GitHub Enterprise settings,
    /// the sandbox's `--app-token-ttl`).
    fn fresh(&self, now: DateTime<Utc>) -> bool {
        let margin = REFRESH_MARGIN.min((self.expires_at - self.obtained_at) / 4);
        self.expires_at - now > margin
    }
}

/// A GitHub App's credentials and its installation tokens.
pub struct GitHubApp {
    api_url: String,
    app_id: u64,
    key: EncodingKey,
    pinned: Option<u64>,
    /// Lower-case owner → installation id.
    installations: Mutex<HashMap<String, u64>>,
    /// Installation id → its current token. One lock for lookups and refreshes, so parallel
    /// captures that need a new token wait for one exchange instead of making one each.
    tokens: Mutex<HashMap<u64, Cached>>,
    /// Requests made to the app endpoints (JWT-authenticated).
    requests: AtomicU64,
    /// Installation tokens obtained.
    exchanges: AtomicU64,
}

impl fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubApp")
            .field("api_url", &crate::sanitize::redact_url(&self.api_url))
            .field("app_id", &self.app_id)
            .field("key", &"<redacted>")
            .field("pinned", &self.pinned)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

impl GitHubApp {
    /// An app from its id and PEM private key (PKCS#1 as GitHub issues it, or PKCS#8).
    pub fn new(
        api_url: &str,
        app_id: u64,
        private_key_pem: &str,
        pinned: Option<u64>,
    ) -> Result<Self, TrackerError> {
        let key = EncodingKey::from_rsa_pem(private_key_pem.as_bytes()).map_err(|_| {
            TrackerError::Config(format!(
                "the GitHub App's private key is not an RSA private key in PEM form \
                 (-----BEGIN RSA PRIVATE KEY-----); check {GITHUB_APP_PRIVATE_KEY_FILE} or \
                 {GITHUB_APP_PRIVATE_KEY}"
            ))
        })?;
        let app = GitHubApp {
            api_url: api_url.trim_end_matches('/').to_string(),
            app_id,
            key,
            pinned,
            installations: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            exchanges: AtomicU64::new(0),
        };
        // A key that cannot sign fails here, not halfway through a run.
        app.jwt()?;
        Ok(app)
    }

    /// The app from `GITHUB_APP_ID` with `GITHUB_APP_PRIVATE_KEY_FILE` or
    /// `GITHUB_APP_PRIVATE_KEY` (and optionally `GITHUB_APP_INSTALLATION_ID`); `None` when
    /// `GITHUB_APP_ID` is unset.
    pub fn from_env(api_url: &str) -> Result<Option<Self>, TrackerError> {
        let var = |k: &str| {
            std::env::var(k)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let Some(id) = var(GITHUB_APP_ID) else {
            return Ok(None);
        };
        let app_id = id.parse::<u64>().map_err(|_| {
            TrackerError::Config(format!(
                "{GITHUB_APP_ID} must be the app's numeric id (its settings page shows it)"
            ))
        })?;
        let pem = match (
            var(GITHUB_APP_PRIVATE_KEY_FILE),
            var(GITHUB_APP_PRIVATE_KEY),
        ) {
            (Some(path), _) => std::fs::read_to_string(&path).map_err(|e| {
                TrackerError::Config(format!(
                    "cannot read {GITHUB_APP_PRIVATE_KEY_FILE} ({path}): {e}"
                ))
            })?,
            (None, Some(pem)) => pem,
            (None, None) => {
                return Err(TrackerError::Config(format!(
                    "{GITHUB_APP_ID} is set but the app's private key is not: set \
                     {GITHUB_APP_PRIVATE_KEY_FILE} to the .pem file (or {GITHUB_APP_PRIVATE_KEY} \
                     to its text)"
                )))
            }
        };
        let pinned = match var(GITHUB_APP_INSTALLATION_ID) {
            None => None,
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                TrackerError::Config(format!(
                    "{GITHUB_APP_INSTALLATION_ID} must be a numeric installation id"
                ))
            })?),
        };
        GitHubApp::new(api_url, app_id, &pem, pinned).map(Some)
    }

    pub fn app_id(&self) -> u64 {
        self.app_id
    }

    /// Requests made with the app's JWT (installation look-ups and token exchanges).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Installation tokens obtained so far.
    pub fn exchanges(&self) -> u64 {
        self.exchanges.load(Ordering::Relaxed)
    }

    /// A fresh JWT for the app endpoints.
    fn jwt(&self) -> Result<String, TrackerError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            iat: now - JWT_BACKDATE_SECS,
            exp: now + JWT_SECS,
            iss: self.app_id.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| TrackerError::Config(format!("cannot sign the GitHub App's JWT: {e}")))
    }

    fn client(&self) -> Result<Client, TrackerError> {
        Client::new(
            &self.api_url,
            Some(&self.jwt()?),
            RetryPolicy::default(),
            WritePace::unpaced(),
        )
    }

    /// Says what to fix when GitHub refuses the app.
    fn explain(&self, e: TrackerError, owner: &str) -> TrackerError {
        match e {
            TrackerError::Unauthorized { .. } => TrackerError::Config(format!(
                "GitHub refused the JWT of app {} (HTTP 401): check {GITHUB_APP_ID} and that the \
                 private key is this app's (and that this machine's clock is right)",
                self.app_id
            )),
            TrackerError::NotFound { .. } => TrackerError::Config(format!(
                "GitHub App {} is not installed on {owner}: install it on the organisation \
                 (or the repository), or set {GITHUB_APP_INSTALLATION_ID}",
                self.app_id
            )),
            other => other,
        }
    }

    /// The installation on `owner` (an organisation, else a user account).
    pub async fn installation_for(&self, owner: &str) -> Result<u64, TrackerError> {
        self.installation(&Installed::Owner(owner)).await
    }

    /// The installation that covers `owner/repo` (`GET /repos/{owner}/{repo}/installation`:
    /// an app installed on the organisation, on the user, or on selected repositories).
    pub async fn installation_for_repo(
        &self,
        owner: &str,
        repo: &str,
    ) -> Result<u64, TrackerError> {
        self.installation(&Installed::Repo(owner, repo)).await
    }

    async fn installation(&self, on: &Installed<'_>) -> Result<u64, TrackerError> {
        if let Some(id) = self.pinned {
            return Ok(id);
        }
        let name = on.to_string();
        let key = name.to_ascii_lowercase();
        let mut known = self.installations.lock().await;
        if let Some(id) = known.get(&key) {
            return Ok(*id);
        }
        let client = self.client()?;
        let mut found = None;
        let paths = match on {
            Installed::Owner(owner) => vec![
                format!("/orgs/{owner}/installation"),
                format!("/users/{owner}/installation"),
            ],
            Installed::Repo(owner, repo) => vec![format!("/repos/{owner}/{repo}/installation")],
        };
        for path in paths {
            self.requests.fetch_add(1, Ordering::Relaxed);
            match client.get(&path, None).await {
                Ok(reply) => {
                    found = Some(reply.json(&path)?);
                    break;
                }
                Err(TrackerError::NotFound { .. }) => continue,
                Err(e) => return Err(self.explain(e, &name)),
            }
        }
        let installation = found.ok_or_else(|| {
            self.explain(
                TrackerError::NotFound {
                    service: "GitHub".into(),
                    what: format!("the installation on {name}"),
                },
                &name,
            )
        })?;
        let id = installation
            .get("id")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| TrackerError::Decode {
                service: "GitHub".into(),
                path: format!("the installation of {name}"),
                detail: "no numeric `id`".into(),
            })?;
        known.insert(key, id);
        Ok(id)
    }

    /// A token of the installation on `owner` that is not about to expire.
    pub async fn token_for(&self, owner: &str) -> Result<String, TrackerError> {
        self.token_replacing(&Installed::Owner(owner), None).await
    }

    /// Like [`GitHubApp::token_for`], but a cached token equal to `rejected` (GitHub answered
    /// it 401) is never handed out again; one replaced already by another caller is.
    async fn token_replacing(
        &self,
        on: &Installed<'_>,
        rejected: Option<&str>,
    ) -> Result<String, TrackerError> {
        let installation = self.installation(on).await?;
        let owner = on.to_string();
        let owner = owner.as_str();
        let mut tokens = self.tokens.lock().await;
        if let Some(c) = tokens.get(&installation) {
            if c.fresh(Utc::now()) && Some(c.token.as_str()) != rejected {
                return Ok(c.token.clone());
            }
        }
        let obtained_at = Utc::now();
        let path = format!("/app/installations/{installation}/access_tokens");
        self.requests.fetch_add(1, Ordering::Relaxed);
        let reply = self
            .client()?
            .write(Method::POST, &path, Some(&serde_json::json!({})))
            .await
            .map_err(|e| self.explain(e, owner))?;
        let v = reply.json(&path)?;
        let decode = |detail: &str| TrackerError::Decode {
            service: "GitHub".into(),
            path: path.clone(),
            detail: detail.into(),
        };
        let token = v
            .get("token")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| decode("no `token`"))?
            .to_string();
        crate::tracker::github::check_token(&token, "the installation token")?;
        let expires_at = v
            .get("expires_at")
            .and_then(serde_json::Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .ok_or_else(|| decode("no `expires_at` timestamp"))?
            .with_timezone(&Utc);
        self.exchanges.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(installation, %expires_at, "obtained an installation token");
        tokens.insert(
            installation,
            Cached {
                token: token.clone(),
                expires_at,
                obtained_at,
            },
        );
        Ok(token)
    }
}

/// What an installation is looked up by: an account, or one repository of it.
enum Installed<'a> {
    Owner(&'a str),
    Repo(&'a str, &'a str),
}

impl fmt::Display for Installed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Installed::Owner(owner) => f.write_str(owner),
            Installed::Repo(owner, repo) => write!(f, "{owner}/{repo}"),
        }
    }
}

/// The installation tokens of one owner, or of the installation covering one repository,
/// as a [`TokenSource`]: what a capture authenticates with, asked before each request, so
/// a capture that outlives a token goes on with the next one.
#[derive(Debug, Clone)]
pub struct InstallationTokens {
    app: Arc<GitHubApp>,
    owner: String,
    repo: Option<String>,
}

impl InstallationTokens {
    /// The installation on `owner` (what an organisation's listing and its jobs use).
    pub fn new(app: Arc<GitHubApp>, owner: &str) -> Self {
        InstallationTokens {
            app,
            owner: owner.to_string(),
            repo: None,
        }
    }

    /// The installation covering `owner/repo`: a single-repository scope, found even when
    /// the app is installed on selected repositories only.
    pub fn for_repo(app: Arc<GitHubApp>, owner: &str, repo: &str) -> Self {
        InstallationTokens {
            app,
            owner: owner.to_string(),
            repo: Some(repo.to_string()),
        }
    }

    fn installed(&self) -> Installed<'_> {
        match &self.repo {
            Some(repo) => Installed::Repo(&self.owner, repo),
            None => Installed::Owner(&self.owner),
        }
    }
}

#[async_trait::async_trait]
impl TokenSource for InstallationTokens {
    async fn token(&self) -> Result<String, TrackerError> {
        self.app.token_replacing(&self.installed(), None).await
    }

    async fn replace(&self, rejected: &str) -> Result<String, TrackerError> {
        self.app
            .token_replacing(&self.installed(), Some(rejected))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_replaced_before_they_expire() {
        let at = Utc::now();
        let hour = Cached {
            token: String::new(),
            obtained_at: at,
            expires_at: at + Duration::hours(1),
        };
        assert!(hour.fresh(at + Duration::minutes(54)));
        assert!(
            !hour.fresh(at + Duration::minutes(56)),
            "5 minutes of margin"
        );
        let short = Cached {
            token: String::new(),
            obtained_at: at,
            expires_at: at + Duration::seconds(40),
        };
        assert!(short.fresh(at + Duration::seconds(29)));
        assert!(
            !short.fresh(at + Duration::seconds(31)),
            "a quarter of 40 s"
        );
    }

    #[test]
    fn a_bad_key_is_refused_without_echoing_it() {
        let e = GitHubApp::new(
            "http://127.0.0.1:1",
            7,
            "-----BEGIN RSA PRIVATE KEY-----\nsecretstuff\n-----END RSA PRIVATE KEY-----\n",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(GITHUB_APP_PRIVATE_KEY_FILE), "{e}");
        assert!(!e.contains("secretstuff"), "{e}");
    }
}
