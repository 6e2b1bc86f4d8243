//! The HTTP layer for Jira: reqwest on the rustls + ring stack the rest of backtrack uses,
//! one request at a time per call, with the retry rules Atlassian asks integrators to
//! follow.
//!
//! - `429 Too Many Requests`: wait `Retry-After` seconds (Jira Cloud always sends it; without
//!   it, back off exponentially from a second), up to [`RetryPolicy::max_wait`] per wait.
//! - `5xx` and network errors: exponential backoff with jitter, a bounded number of times.
//! - Everything else is an error value at once: 401 (credentials), 403, 404 (the caller says
//!   what was not found), 400 (Jira's `errorMessages`, e.g. a JQL error).
//!
//! The credential is an `Authorization` header value built once and marked sensitive, so no
//! `Debug` output or log of the request shows it; errors name the variable, never the value.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::config::env;
use crate::sanitize::{has_credentials, quote, redact_url};
use crate::tracker::{RetryPolicy, TrackerError};

const SERVICE: &str = "Jira";

/// How a request proves who it is.
#[derive(Clone)]
pub enum Credentials {
    /// Jira Cloud: the account's email and an API token, as HTTP Basic.
    Basic { email: String, token: String },
    /// Jira Data Center / Server: a personal access token, as `Bearer`.
    Bearer { token: String },
    /// No credentials (anonymous access, where a site allows it).
    None,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { email, .. } => f
                .debug_struct("Basic")
                .field("email", email)
                .field("token", &"<redacted>")
                .finish(),
            Credentials::Bearer { .. } => f
                .debug_struct("Bearer")
                .field("token", &"<redacted>")
                .finish(),
            Credentials::None => f.write_str("None"),
        }
    }
}

impl Credentials {
    /// What kind of credential this is, for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Credentials::Basic { .. } => "a Jira Cloud API token with JIRA_EMAIL (HTTP Basic)",
            Credentials::Bearer { .. } => "a Data Center personal access token (Bearer)",
            Credentials::None => "no credentials",
        }
    }

    fn header(&self) -> Result<Option<HeaderValue>, TrackerError> {
        let value = match self {
            Credentials::Basic { email, token } => {
                let pair =
                    base64::engine::general_purpose::STANDARD.encode(format!("{email}:{token}"));
                format!("Basic {pair}")
            }
            Credentials::Bearer { token } => format!("Bearer {token}"),
            Credentials::None => return Ok(None),
        };
        let mut header = HeaderValue::from_str(&value).map_err(|_| {
            TrackerError::Config(format!(
                "{} or {} holds a character an HTTP header cannot carry; set it again",
                env::JIRA_EMAIL,
                env::JIRA_API_TOKEN
            ))
        })?;
        header.set_sensitive(true);
        Ok(Some(header))
    }
}

/// Checks that a token (or email) can go into a header and looks like one: printable ASCII
/// without spaces. `source` (the variable it came from) is named in the error; the value
/// never is.
pub fn check_secret(value: &str, source: &str) -> Result<(), TrackerError> {
    crate::tracker::check_credential(value, source, "Jira tokens and emails are")
}

/// A response with its body read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    pub fn json(&self, path: &str) -> Result<Value, TrackerError> {
        serde_json::from_slice(&self.body).map_err(|e| TrackerError::Decode {
            service: SERVICE.into(),
            path: path.to_string(),
            detail: e.to_string(),
        })
    }
}

/// The HTTP transport of one Jira tracker.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// The site's base URL without a trailing slash and without credentials
    /// (`https://acme.atlassian.net`, `https://jira.acme.com/jira`).
    base: String,
    auth: Option<HeaderValue>,
    retry: RetryPolicy,
    requests: Arc<AtomicU64>,
    /// The newest `Date` the server sent: its clock, which bounds capture cursors.
    server_date: Arc<Mutex<Option<DateTime<Utc>>>>,
}

impl Client {
    pub fn new(
        base: &str,
        credentials: &Credentials,
        retry: RetryPolicy,
    ) -> Result<Self, TrackerError> {
        let shown = || quote(&redact_url(base));
        let mut parsed = url::Url::parse(base.trim().trim_end_matches('/')).map_err(|e| {
            TrackerError::Config(format!(
                "{}={} is not a valid URL ({e}); use e.g. https://acme.atlassian.net",
                env::JIRA_BASE_URL,
                shown()
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(TrackerError::Config(format!(
                "{}={} must be an http(s) URL",
                env::JIRA_BASE_URL,
                shown()
            )));
        }
        if has_credentials(base) {
            tracing::warn!(
                "{} carries credentials (user:password@); backtrack does not send them and \
                 leaves them out of every message: use JIRA_EMAIL and JIRA_API_TOKEN instead",
                env::JIRA_BASE_URL
            );
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
        }
        parsed.set_query(None);
        parsed.set_fragment(None);
        let base = parsed.as_str().trim_end_matches('/').to_string();
        let tls = tls_config()?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| {
                TrackerError::Config(format!("cannot build the HTTP client: {}", root_cause(&e)))
            })?;
        Ok(Client {
            http,
            base,
            auth: credentials.header()?,
            retry,
            requests: Arc::new(AtomicU64::new(0)),
            server_date: Arc::new(Mutex::new(None)),
        })
    }

    /// The site's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The server's clock as of its newest response, if it sent a `Date`.
    pub fn server_date(&self) -> Option<DateTime<Utc>> {
        self.server_date.lock().ok().and_then(|d| *d)
    }

    /// A GET of a path under the base URL (`/rest/api/3/…`): its JSON.
    pub async fn get(&self, path: &str) -> Result<Value, TrackerError> {
        let reply = self.send(Method::GET, path, None, true).await?;
        reply.json(path)
    }

    /// Like [`Client::get`], with a 404 as `None`.
    pub async fn get_opt(&self, path: &str) -> Result<Option<Value>, TrackerError> {
        match self.get(path).await {
            Ok(v) => Ok(Some(v)),
            Err(TrackerError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A POST with a JSON body (searches): its JSON.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, TrackerError> {
        let reply = self.send(Method::POST, path, Some(body), true).await?;
        reply.json(path)
    }

    /// Any other request (`PUT`, `DELETE`, a `POST` that is not a search), with the same
    /// retry rules; its JSON, `null` for an empty answer.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, TrackerError> {
        let reply = self.send(method, path, body, true).await?;
        if reply.body.is_empty() {
            return Ok(Value::Null);
        }
        reply.json(path)
    }

    /// A write that must not be sent twice (a creation): a 5xx or a lost connection may
    /// come after Jira applied it, so those are returned for the caller to look for the
    /// effect before trying again. A 429 is still waited out and retried (Jira refuses
    /// before it applies anything).
    pub async fn request_unrepeated(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, TrackerError> {
        let reply = self.send(method, path, body, false).await?;
        if reply.body.is_empty() {
            return Ok(Value::Null);
        }
        reply.json(path)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        repeat_ambiguous: bool,
    ) -> Result<Reply, TrackerError> {
        let url = format!("{}{}", self.base, path);
        let shown = path;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let reply = match self.send_once(&method, &url, body).await {
                Ok(reply) => reply,
                Err(detail) => {
                    if repeat_ambiguous && attempt < self.retry.max_attempts.min(4) {
                        let delay = self.backoff(attempt);
                        tracing::info!(path = %shown, %detail, ?delay, "network error; retrying");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(TrackerError::Unreachable {
                        service: SERVICE.into(),
                        url: self.base.clone(),
                        env: env::JIRA_BASE_URL,
                        detail,
                    });
                }
            };
            self.note_date(&reply.headers);
            if reply.status.is_success() {
                return Ok(reply);
            }
            let delay = self.classify(&method, shown, reply, attempt, repeat_ambiguous)?;
            if delay >= Duration::from_secs(10) {
                tracing::warn!(path = %shown, ?delay, "Jira asked to slow down; waiting");
            } else {
                tracing::info!(path = %shown, ?delay, "retrying");
            }
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        let mut request = self
            .http
            .request(method.clone(), url)
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, concat!("backtrack/", env!("CARGO_PKG_VERSION")));
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
            request = request.header(CONTENT_TYPE, "application/json").body(bytes);
        }
        let response = request.send().await.map_err(|e| root_cause(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| root_cause(&e))?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    fn note_date(&self, headers: &HeaderMap) {
        let date = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .map(|d| d.with_timezone(&Utc));
        if let (Some(date), Ok(mut slot)) = (date, self.server_date.lock()) {
            *slot = Some(slot.map_or(date, |d| d.max(date)));
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(10));
        // Jitter keeps concurrent listings from retrying in lockstep.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        (exp + Duration::from_millis(u64::from(nanos % 100))).min(Duration::from_secs(30))
    }

    /// What a non-success reply means: how long to wait before retrying, or an error.
    fn classify(
        &self,
        method: &Method,
        path: &str,
        reply: Reply,
        attempt: u32,
        repeat_ambiguous: bool,
    ) -> Result<Duration, TrackerError> {
        let status = reply.status;
        let retry_after = reply
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait =
                retry_after.unwrap_or_else(|| self.backoff(attempt).max(Duration::from_secs(1)));
            if wait > self.retry.max_wait || attempt >= self.retry.max_attempts * 2 {
                return Err(TrackerError::RateLimited {
                    service: SERVICE.into(),
                    reset: format!("in {}s", wait.as_secs()),
                });
            }
            return Ok(wait);
        }
        if status.is_server_error() && repeat_ambiguous && attempt < self.retry.max_attempts {
            return Ok(retry_after
                .unwrap_or_else(|| self.backoff(attempt))
                .min(self.retry.max_wait));
        }
        let message = error_message(&reply);
        Err(match status {
            StatusCode::UNAUTHORIZED => TrackerError::Unauthorized {
                service: SERVICE.into(),
                env: env::JIRA_API_TOKEN,
            },
            StatusCode::FORBIDDEN => TrackerError::Forbidden {
                service: SERVICE.into(),
                what: path.to_string(),
                message,
                needs: if method == Method::GET || path.contains("/search") {
                    "the Browse Projects permission on the project"
                } else {
                    "permission to edit the project's issues"
                },
            },
            StatusCode::NOT_FOUND => TrackerError::NotFound {
                service: SERVICE.into(),
                what: path.to_string(),
            },
            _ => TrackerError::Http {
                service: SERVICE.into(),
                method: method.to_string(),
                path: path.to_string(),
                status: status.as_u16(),
                message,
            },
        })
    }
}

/// TLS for the Jira client: rustls with ring (the provider the rest of the build uses) and
/// the platform's trust store.
fn tls_config() -> Result<rustls::ClientConfig, TrackerError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let failed = |e: rustls::Error| TrackerError::Config(format!("cannot set up TLS: {e}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(failed)?
        .with_platform_verifier()
        .map_err(failed)?
        .with_no_client_auth())
}

/// Jira's error body (`errorMessages` and `errors`), or an excerpt of whatever came back;
/// cut to 300 characters.
fn error_message(reply: &Reply) -> String {
    let parsed = serde_json::from_slice::<Value>(&reply.body).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        let mut parts: Vec<String> = v
            .get("errorMessages")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(errors) = v.get("errors").and_then(Value::as_object) {
            parts.extend(
                errors
                    .iter()
                    .map(|(k, m)| format!("{k}: {}", m.as_str().unwrap_or(&m.to_string()))),
            );
        }
        if let Some(m) = v.get("message").and_then(Value::as_str) {
            parts.push(m.to_string());
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    });
    let message = from_json.unwrap_or_else(|| String::from_utf8_lossy(&reply.body).into_owned());
    crate::sanitize::shorten(&message, 300).into_owned()
}

/// The innermost error message (the useful part of a connection failure).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn credentials_never_show_in_debug_output() {
        let basic = Credentials::Basic {
            email: "a@example.com".into(),
            token: "s3cret-token".into(),
        };
        let shown = format!("{basic:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        let header = basic.header().unwrap().unwrap();
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains("Basic"));
        let bearer = Credentials::Bearer {
            token: "pat-s3cret".into(),
        };
        assert!(!format!("{bearer:?}").contains("s3cret"));
    }

    #[test]
    fn secrets_with_stray_characters_are_refused_by_name() {
        assert!(check_secret("ATATT3xFfGF0abc=", "JIRA_API_TOKEN").is_ok());
        let e = check_secret("abc def", "JIRA_API_TOKEN")
            .unwrap_err()
            .to_string();
        assert!(e.contains("JIRA_API_TOKEN") && e.contains("a space"), "{e}");
        assert!(!e.contains("abc"), "{e}");
    }

    #[test]
    fn jira_error_bodies_are_read() {
        let reply = Reply {
            status: StatusCode::BAD_REQUEST,
            headers: HeaderMap::new(),
            body: bytes::Bytes::from_static(
                br#"{"errorMessages":["The value 'NOPE' does not exist for the field 'project'."],"errors":{}}"#,
            ),
        };
        assert_eq!(
            error_message(&reply),
            "The value 'NOPE' does not exist for the field 'project'."
        );
    }

    #[test]
    fn base_urls_lose_credentials_and_trailing_slashes() {
        let c = Client::new(
            "https://user:pw@jira.example.com/jira/",
            &Credentials::None,
            RetryPolicy::default(),
        )
        .unwrap();
        assert_eq!(c.base(), "https://jira.example.com/jira");
        let e = Client::new("ftp://x", &Credentials::None, RetryPolicy::default()).unwrap_err();
        assert!(e.to_string().contains("JIRA_BASE_URL"), "{e}");
    }
}
