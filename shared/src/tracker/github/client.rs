//! The HTTP layer for GitHub: one request at a time through octocrab's transport, with the
//! retry, rate-limit and pacing rules GitHub asks integrators to follow.
//!
//! octocrab supplies the connection pool, TLS, auth header and base-URI handling; this module
//! works on raw responses because the rules need the status and headers (`Retry-After`,
//! `x-ratelimit-*`, `ETag`, `Link`) that octocrab's typed calls hide.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, IF_NONE_MATCH};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::sanitize::{has_credentials, quote, redact_url};
use crate::tracker::TrackerError;

const SERVICE: &str = "GitHub";
const TOKEN_ENV: &str = crate::config::env::GITHUB_TOKEN;
const URL_ENV: &str = crate::config::env::GITHUB_API_URL;

/// How hard to retry before giving up.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request for 5xx and network errors (the first try included).
    pub max_attempts: u32,
    /// First backoff; doubles per attempt, with jitter.
    pub base_delay: Duration,
    /// Longest single wait honoured for `Retry-After` or a rate-limit reset; longer waits
    /// fail with `RateLimited` so a CI job does not hang for an hour.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(250),
            max_wait: Duration::from_secs(15 * 60),
        }
    }
}

/// Spacing of content-creating writes. GitHub documents a secondary limit of 80 content
/// writes per minute and 500 per hour; the defaults stay just inside both.
#[derive(Debug, Clone)]
pub struct WritePace {
    /// Minimum gap between two writes.
    pub min_interval: Duration,
    /// At most this many writes in any rolling hour (0 = no hourly cap).
    pub per_hour: u32,
}

impl Default for WritePace {
    fn default() -> Self {
        WritePace {
            min_interval: Duration::from_millis(750),
            per_hour: 500,
        }
    }
}

impl WritePace {
    /// The least time `writes` writes take at this pace (the first goes at once), for
    /// telling a user up front: with GitHub's 500 an hour, 1,000 writes take over an hour
    /// however fast the tracker answers. The hourly cap counts a rolling hour, as
    /// [`Client`] keeps it: each write waits an hour after the one `per_hour` before it.
    pub fn least_time_for(&self, writes: u64) -> Duration {
        let Some(last) = writes.checked_sub(1) else {
            return Duration::ZERO;
        };
        let spaced = self
            .min_interval
            .saturating_mul(u32::try_from(last).unwrap_or(u32::MAX));
        if self.per_hour == 0 {
            return spaced;
        }
        let per_hour = u64::from(self.per_hour);
        let (hours, within) = (last / per_hour, last % per_hour);
        let capped = Duration::from_secs(3600)
            .saturating_mul(u32::try_from(hours).unwrap_or(u32::MAX))
            .saturating_add(
                self.min_interval
                    .saturating_mul(u32::try_from(within).unwrap_or(u32::MAX)),
            );
        spaced.max(capped)
    }

    /// No pacing at all: for the sandbox and tests.
    pub fn unpaced() -> Self {
        WritePace {
            min_interval: Duration::ZERO,
            per_hour: 0,
        }
    }
}

/// A response with its body read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `rel="next"` URL of a paginated listing.
    pub fn next_link(&self) -> Option<String> {
        parse_next_link(self.header("link")?)
    }

    /// The page number of the `rel="last"` URL: with `per_page=1`, the size of the listing.
    pub fn last_page(&self) -> Option<u64> {
        let url = parse_link(self.header("link")?, "last")?;
        let query = url.split_once('?')?.1;
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix("page="))
            .and_then(|n| n.parse().ok())
    }

    pub fn json(&self, path: &str) -> Result<serde_json::Value, TrackerError> {
        serde_json::from_slice(&self.body).map_err(|e| TrackerError::Decode {
            service: SERVICE.into(),
            path: path.to_string(),
            detail: e.to_string(),
        })
    }
}

/// Extracts the `next` target from an RFC 8288 `Link` header.
pub fn parse_next_link(link: &str) -> Option<String> {
    parse_link(link, "next")
}

/// Extracts the target of relation `rel` from an RFC 8288 `Link` header.
pub fn parse_link(link: &str, rel: &str) -> Option<String> {
    let quoted = format!("rel=\"{rel}\"");
    let bare = format!("rel={rel}");
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim() == quoted || p.trim() == bare);
        is_next.then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

/// Checks that a token can go into an HTTP header, and looks like a token at all. `source`
/// (the variable or secret it came from) is named in the error; the token never is.
///
/// GitHub's tokens are printable ASCII without spaces. A control character would make the
/// HTTP layer refuse (or, in octocrab's builder, panic on) the `Authorization` header; a
/// space or a non-ASCII character (a typographic quote pasted with the token) would only be
/// answered by a 401 later.
pub fn check_token(token: &str, source: &str) -> Result<(), TrackerError> {
    crate::tracker::check_credential(token, source, "a GitHub token is")
}

/// Where a client gets a token that changes during its life: a GitHub App's installation
/// tokens live an hour (minutes on some servers), and a capture of a large repository lives
/// longer. The client asks before every request, so it never presents a token the source
/// knows to be expiring; a 401 all the same (a clock off, a token revoked) makes it ask for
/// a replacement once, for that request only.
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync + std::fmt::Debug {
    /// A token that is not about to expire.
    async fn token(&self) -> Result<String, TrackerError>;
    /// `rejected` was answered 401: a token other than it (a new one, unless another caller
    /// already replaced it).
    async fn replace(&self, rejected: &str) -> Result<String, TrackerError>;
}

/// The shared GitHub transport of one tracker.
#[derive(Debug, Clone)]
pub struct Client {
    octo: Octocrab,
    /// Asked for the token before each request, when the token changes (see [`TokenSource`]);
    /// otherwise the fixed token, if any, is in `octo`.
    tokens: Option<Arc<dyn TokenSource>>,
    /// The API root as configured, without a trailing slash (`https://api.github.com`,
    /// `https://ghe.example/api/v3`) and without credentials (see [`Client::new`]).
    api_url: String,
    retry: RetryPolicy,
    pace: WritePace,
    requests: Arc<AtomicU64>,
    not_modified: Arc<AtomicU64>,
    writes: Arc<Mutex<WriteLog>>,
    /// Until when a rate limit holds every request of this client (and its clones): GitHub
    /// asks for no request at all before a limit's `Retry-After` or reset, not only no
    /// retry of the refused one, so parallel listings wait together.
    held_until: Arc<std::sync::Mutex<Option<Instant>>>,
}

#[derive(Debug, Default)]
struct WriteLog {
    last: Option<Instant>,
    /// Times of the writes in the last hour, oldest first.
    hour: std::collections::VecDeque<Instant>,
}

impl Client {
    pub fn new(
        api_url: &str,
        token: Option<&str>,
        retry: RetryPolicy,
        pace: WritePace,
    ) -> Result<Self, TrackerError> {
        if let Some(token) = token {
            check_token(token, "the GitHub token")?;
        }
        // Every message quotes the URL redacted and shortened.
        let shown = || quote(&redact_url(api_url));
        let mut parsed = url::Url::parse(api_url.trim_end_matches('/')).map_err(|e| {
            TrackerError::Config(format!(
                "{URL_ENV}={} is not a valid URL ({e}); use e.g. https://api.github.com",
                shown()
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(TrackerError::Config(format!(
                "{URL_ENV}={} must be an http(s) URL",
                shown()
            )));
        }
        // Credentials in the URL are never sent (the token is) and never kept: the URL goes
        // into request URIs, which the HTTP stack logs at debug level, and into errors.
        if has_credentials(api_url) {
            tracing::warn!(
                "{URL_ENV} carries credentials (user:password@); backtrack does not send them \
                 and leaves them out of every message: put the token in GITHUB_TOKEN instead"
            );
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
        }
        let api_url = parsed.as_str().trim_end_matches('/').to_string();
        let mut builder = Octocrab::builder()
            .base_uri(api_url.as_str())
            .map_err(|e| {
                TrackerError::Config(format!("{URL_ENV}={}: {e}", quote(&redact_url(&api_url))))
            })?
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(60)))
            .add_header(
                HeaderName::from_static("user-agent"),
                format!("backtrack/{}", env!("CARGO_PKG_VERSION")),
            )
            .add_header(
                HeaderName::from_static("x-github-api-version"),
                "2022-11-28".to_string(),
            );
        if let Some(token) = token {
            builder = builder.personal_token(token.to_string());
        }
        let octo = builder.build().map_err(|e| {
            TrackerError::Config(format!("cannot build the HTTP client: {}", root_cause(&e)))
        })?;
        Ok(Client {
            octo,
            tokens: None,
            api_url,
            retry,
            pace,
            requests: Arc::new(AtomicU64::new(0)),
            not_modified: Arc::new(AtomicU64::new(0)),
            writes: Arc::new(Mutex::new(WriteLog::default())),
            held_until: Arc::new(std::sync::Mutex::new(None)),
        })
    }

    /// The same client, authenticating each request with a token from `source` (build it
    /// without a fixed token).
    pub fn with_token_source(mut self, source: Option<Arc<dyn TokenSource>>) -> Self {
        self.tokens = source;
        self
    }

    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn not_modified(&self) -> u64 {
        self.not_modified.load(Ordering::Relaxed)
    }

    /// A GET of an API path (`/repos/…`) or an absolute URL from a `Link` header, with an
    /// optional `If-None-Match`. Returns 2xx and 304 replies; everything else is an error
    /// after the retry rules ran.
    pub async fn get(&self, target: &str, etag: Option<&str>) -> Result<Reply, TrackerError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        if let Some(etag) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
            headers.insert(IF_NONE_MATCH, etag);
        }
        self.send(Method::GET, target, headers, None).await
    }

    /// A GraphQL query (a read: not paced like writes) to the absolute `endpoint`.
    pub async fn post_graphql(
        &self,
        endpoint: &str,
        body: &serde_json::Value,
    ) -> Result<Reply, TrackerError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        self.send(Method::POST, endpoint, headers, Some(body)).await
    }

    /// A write (POST/PATCH/PUT/DELETE) with a JSON body, paced and serialized.
    pub async fn write(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, TrackerError> {
        // Holding the lock across the request keeps writes strictly serial, as GitHub asks.
        let mut log = self.writes.lock().await;
        self.wait_for_pace(&mut log).await;
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        let result = self.send(method, path, headers, body).await;
        let now = Instant::now();
        log.last = Some(now);
        log.hour.push_back(now);
        result
    }

    async fn wait_for_pace(&self, log: &mut WriteLog) {
        let now = Instant::now();
        if let Some(last) = log.last {
            let ready = last + self.pace.min_interval;
            if ready > now {
                tokio::time::sleep_until(ready).await;
            }
        }
        if self.pace.per_hour > 0 {
            let hour = Duration::from_secs(3600);
            while log.hour.front().is_some_and(|t| t.elapsed() >= hour) {
                log.hour.pop_front();
            }
            if log.hour.len() >= self.pace.per_hour as usize {
                if let Some(oldest) = log.hour.front() {
                    tracing::info!("hourly write budget used; waiting for it to refill");
                    tokio::time::sleep_until(*oldest + hour).await;
                }
            }
        }
    }

    fn uri_for(&self, target: &str) -> String {
        if target.starts_with("http://") || target.starts_with("https://") {
            target.to_string()
        } else {
            format!("{}{}", self.api_url, target)
        }
    }

    async fn send(
        &self,
        method: Method,
        target: &str,
        headers: HeaderMap,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, TrackerError> {
        let uri = self.uri_for(target);
        let path = display_path(&uri);
        let mut attempt: u32 = 0;
        // The token this request presents, and whether it was already replaced after a 401.
        let mut token = match &self.tokens {
            Some(source) => Some(source.token().await?),
            None => None,
        };
        let mut replaced = false;
        let mut just_replaced = false;
        loop {
            attempt += 1;
            self.wait_while_held().await;
            // Asked again before each retry too: a wait for a rate limit may outlast it.
            if let (Some(source), true, false) = (&self.tokens, attempt > 1, just_replaced) {
                token = Some(source.token().await?);
            }
            just_replaced = false;
            let mut headers = headers.clone();
            if let Some(t) = &token {
                let mut value = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
                    TrackerError::Config("the installation token is not a valid header".into())
                })?;
                value.set_sensitive(true);
                headers.insert(http::header::AUTHORIZATION, value);
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let outcome = self.send_once(&method, &uri, &headers, body).await;
            let reply = match outcome {
                Ok(reply) => reply,
                Err(detail) => {
                    if attempt < self.retry.max_attempts.min(4) {
                        let delay = self.backoff(attempt);
                        tracing::info!(%path, %detail, ?delay, "network error; retrying");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(TrackerError::Unreachable {
                        service: SERVICE.into(),
                        url: self.api_url.clone(),
                        env: URL_ENV,
                        detail,
                    });
                }
            };
            let status = reply.status;
            if status.is_success() || status == StatusCode::NOT_MODIFIED {
                if status == StatusCode::NOT_MODIFIED {
                    self.not_modified.fetch_add(1, Ordering::Relaxed);
                }
                return Ok(reply);
            }
            if let (StatusCode::UNAUTHORIZED, Some(source), Some(rejected), false) =
                (status, &self.tokens, &token, replaced)
            {
                // Once per request: a second 401 with a brand-new token is a real refusal.
                tracing::info!(%path, "token refused (HTTP 401); asking for a new one");
                token = Some(source.replace(rejected).await?);
                replaced = true;
                just_replaced = true;
                continue;
            }
            match self.classify(&method, &path, reply, attempt)? {
                // Long waits are rate limits people should know about (with the time they
                // end); short ones are routine retries.
                Retry::Limited(delay) => {
                    self.hold(delay);
                    if delay >= Duration::from_secs(10) {
                        let until = wait_end(delay);
                        tracing::warn!(%path, status = status.as_u16(), %until, ?delay, "rate limited; waiting until {until} to continue");
                    } else {
                        tracing::info!(%path, status = status.as_u16(), ?delay, "rate limited; retrying after the wait asked for");
                    }
                }
                Retry::After(delay) => {
                    if delay >= Duration::from_secs(10) {
                        let until = wait_end(delay);
                        tracing::warn!(%path, status = status.as_u16(), %until, ?delay, "rate limited; waiting until {until} to continue");
                    } else {
                        tracing::info!(%path, status = status.as_u16(), ?delay, "retrying");
                    }
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Holds every request of this client for `delay` from now (a later hold wins).
    fn hold(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut held = self
            .held_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.is_none_or(|t| t < until) {
            *held = Some(until);
        }
    }

    /// Waits out a rate limit another request of this client was given.
    async fn wait_while_held(&self) {
        loop {
            let until = *self
                .held_until
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        uri: &str,
        headers: &HeaderMap,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, String> {
        let mut builder = http::Request::builder().method(method.clone()).uri(uri);
        for (k, v) in headers {
            builder = builder.header(k, v);
        }
        let request = self
            .octo
            .build_request(builder, body)
            .map_err(|e| root_cause(&e))?;
        let response = self
            .octo
            .execute(request)
            .await
            .map_err(|e| root_cause(&e))?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| root_cause(&e))?.to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(10));
        // Jitter keeps parallel listings from retrying in lockstep.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let jitter = Duration::from_millis(u64::from(nanos % 100));
        (exp + jitter).min(Duration::from_secs(30))
    }

    /// Decides what a non-success reply means: wait and retry, or a typed error.
    fn classify(
        &self,
        method: &Method,
        path: &str,
        reply: Reply,
        attempt: u32,
    ) -> Result<Retry, TrackerError> {
        let status = reply.status;
        let message = error_message(&reply);
        let retry_after = reply
            .header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let remaining = reply
            .header("x-ratelimit-remaining")
            .and_then(|v| v.parse::<u64>().ok());
        let reset = reply
            .header("x-ratelimit-reset")
            .and_then(|v| v.parse::<i64>().ok());

        let limited = status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::FORBIDDEN
                && (retry_after.is_some()
                    || remaining == Some(0)
                    || message.to_ascii_lowercase().contains("rate limit")));
        if limited {
            // Order as GitHub documents: Retry-After first, then the primary reset time,
            // then at least a minute for a secondary limit without either.
            let wait = if let Some(after) = retry_after {
                after
            } else if let (Some(0), Some(reset)) = (remaining, reset) {
                let now = chrono::Utc::now().timestamp();
                let secs = u64::try_from(reset.saturating_sub(now)).unwrap_or(0);
                Duration::from_secs(secs.saturating_add(1))
            } else {
                self.backoff(attempt).max(Duration::from_secs(60))
            };
            if wait > self.retry.max_wait || attempt >= self.retry.max_attempts * 2 {
                let reset_at = reset
                    .and_then(|r| chrono::DateTime::from_timestamp(r, 0))
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| format!("in {}s", wait.as_secs()));
                return Err(TrackerError::RateLimited {
                    service: SERVICE.into(),
                    reset: reset_at,
                });
            }
            return Ok(Retry::Limited(wait));
        }
        if status.is_server_error() && attempt < self.retry.max_attempts {
            // A server that asks for an absurd wait gets no more than the longest we honour.
            return Ok(Retry::After(
                retry_after
                    .unwrap_or_else(|| self.backoff(attempt))
                    .min(self.retry.max_wait),
            ));
        }
        Err(match status {
            StatusCode::UNAUTHORIZED => TrackerError::Unauthorized {
                service: SERVICE.into(),
                env: TOKEN_ENV,
            },
            StatusCode::FORBIDDEN => TrackerError::Forbidden {
                service: SERVICE.into(),
                what: path.to_string(),
                message,
                needs: if method == Method::GET {
                    "read access to the repository's issues"
                } else {
                    "write access to the repository's issues (issues: write)"
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

enum Retry {
    /// A rate limit: every request of the client waits this long.
    Limited(Duration),
    /// A transient failure: this request retries after this long.
    After(Duration),
}

/// The `message` of a GitHub error body, or an excerpt of whatever came back; either cut to
/// 300 characters (a server may echo a whole request body back).
fn error_message(reply: &Reply) -> String {
    let message = serde_json::from_slice::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&reply.body).into_owned());
    crate::sanitize::shorten(&message, 300).into_owned()
}

/// Path and query of a URL, for messages (never the host's credentials, never a token).
fn display_path(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(u) => match u.query() {
            Some(q) => format!("{}?{}", u.path(), q),
            None => u.path().to_string(),
        },
        Err(_) => uri.to_string(),
    }
}

/// The innermost error message: hyper's outer layers say "client error (Connect)", the
/// useful part ("Connection refused (os error 111)") is at the bottom of the chain.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// When a wait of `delay` from now ends, as people read it in a progress line.
fn wait_end(delay: Duration) -> String {
    let until = chrono::Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
    until.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out `first`, then `next` once asked to replace a refused token.
    #[derive(Debug)]
    struct Tokens {
        first: &'static str,
        next: &'static str,
        asked: AtomicU64,
        replaced: AtomicU64,
    }

    #[async_trait::async_trait]
    impl TokenSource for Tokens {
        async fn token(&self) -> Result<String, TrackerError> {
            self.asked.fetch_add(1, Ordering::Relaxed);
            Ok(if self.replaced.load(Ordering::Relaxed) > 0 {
                self.next
            } else {
                self.first
            }
            .to_string())
        }
        async fn replace(&self, rejected: &str) -> Result<String, TrackerError> {
            assert_eq!(rejected, self.first);
            self.replaced.fetch_add(1, Ordering::Relaxed);
            Ok(self.next.to_string())
        }
    }

    /// A one-route HTTP server on loopback: 200 for `Bearer good`, 401 otherwise; counts the
    /// requests and keeps the `Authorization` headers it saw.
    fn server() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut auth = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("authorization: ") {
                        auth = v.trim().to_string();
                    }
                }
                let ok = auth == "bearer good";
                log.lock().unwrap().push(auth);
                let (status, body) = if ok {
                    ("200 OK", "{}")
                } else {
                    ("401 Unauthorized", r#"{"message":"Bad credentials"}"#)
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, seen)
    }

    fn client(url: &str, tokens: Arc<Tokens>) -> Client {
        Client::new(url, None, RetryPolicy::default(), WritePace::unpaced())
            .unwrap()
            .with_token_source(Some(tokens))
    }

    /// A token refused with 401 is replaced once and the request goes through; the next
    /// request asks the source again and presents the new one.
    #[tokio::test]
    async fn a_refused_token_is_replaced_once_and_the_request_repeated() {
        let (url, seen) = server();
        let tokens = Arc::new(Tokens {
            first: "stale",
            next: "good",
            asked: AtomicU64::new(0),
            replaced: AtomicU64::new(0),
        });
        let c = client(&url, tokens.clone());
        assert_eq!(c.get("/a", None).await.unwrap().status, StatusCode::OK);
        assert_eq!(c.get("/b", None).await.unwrap().status, StatusCode::OK);
        assert_eq!(
            *seen.lock().unwrap(),
            ["bearer stale", "bearer good", "bearer good"]
        );
        assert_eq!(tokens.replaced.load(Ordering::Relaxed), 1);
        assert_eq!(tokens.asked.load(Ordering::Relaxed), 2, "once per request");
    }

    /// A new token refused too is a real refusal: one replacement, never a loop.
    #[tokio::test]
    async fn a_replacement_refused_too_fails_without_looping() {
        let (url, seen) = server();
        let tokens = Arc::new(Tokens {
            first: "stale",
            next: "also-bad",
            asked: AtomicU64::new(0),
            replaced: AtomicU64::new(0),
        });
        let e = client(&url, tokens.clone())
            .get("/a", None)
            .await
            .unwrap_err();
        assert!(matches!(e, TrackerError::Unauthorized { .. }), "{e}");
        assert_eq!(seen.lock().unwrap().len(), 2);
        assert_eq!(tokens.replaced.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn parses_next_link() {
        let link = r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=9>; rel="last""#;
        assert_eq!(
            parse_next_link(link).as_deref(),
            Some("https://api.github.com/repositories/1/issues?page=2")
        );
        assert_eq!(parse_next_link(r#"<https://x/y?page=1>; rel="prev""#), None);
    }

    #[test]
    fn last_page_counts_a_per_page_1_listing() {
        let reply = |link: Option<&str>| {
            let mut headers = HeaderMap::new();
            if let Some(l) = link {
                headers.insert("link", HeaderValue::from_str(l).unwrap());
            }
            Reply {
                status: StatusCode::OK,
                headers,
                body: Bytes::from_static(b"[]"),
            }
        };
        let link = r#"<https://h/api/v3/repositories/1/issues?state=all&per_page=1&page=2>; rel="next", <https://h/api/v3/repositories/1/issues?state=all&per_page=1&page=4312>; rel=last"#;
        assert_eq!(reply(Some(link)).last_page(), Some(4312));
        assert_eq!(reply(None).last_page(), None);
        assert_eq!(
            reply(Some(r#"<https://h/x?page=1>; rel="prev""#)).last_page(),
            None
        );
    }

    #[test]
    fn display_path_drops_host() {
        assert_eq!(
            display_path("https://user:pw@api.github.com/repos/a/b/issues?page=2"),
            "/repos/a/b/issues?page=2"
        );
    }

    #[test]
    fn the_least_time_of_paced_writes_counts_the_hourly_cap() {
        let github = WritePace::default();
        assert_eq!(github.least_time_for(0), Duration::ZERO);
        assert_eq!(github.least_time_for(1), Duration::ZERO);
        assert_eq!(github.least_time_for(100), Duration::from_millis(99 * 750));
        // 500 in the first hour's first 374 s, the 501st an hour after the first.
        assert_eq!(github.least_time_for(500), Duration::from_millis(499 * 750));
        assert_eq!(github.least_time_for(501), Duration::from_secs(3600));
        assert_eq!(
            github.least_time_for(1000),
            Duration::from_secs(3600) + Duration::from_millis(499 * 750)
        );
        // Spacing alone wins when it is slower than the cap.
        let slow = WritePace {
            min_interval: Duration::from_secs(10),
            per_hour: 500,
        };
        assert_eq!(slow.least_time_for(501), Duration::from_secs(5000));
        assert_eq!(WritePace::unpaced().least_time_for(10_000), Duration::ZERO);
        let huge = github.least_time_for(u64::MAX);
        assert!(huge > Duration::from_secs(3600 * 24 * 365), "{huge:?}");
    }
}
