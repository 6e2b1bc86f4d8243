//! HTTP plumbing shared by every handler: the request gate (stats, latency, auth, injected
//! faults, the secondary write limit, ETag/304, rate-limit headers), GitHub-shaped errors,
//! JSON replies and `Link` pagination.
//!
//! Order inside the gate matters: faults and the write limit are decided *before* the handler
//! runs, so a failed write never changes state.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::state::{unix_now, State as Store};
use super::Shared;
use crate::meter::Fault;
use crate::server;

pub(crate) const DOCS_URL: &str = "https://docs.github.com/rest";
const JSON_CT: &str = "application/json; charset=utf-8";
const RATE_LIMIT: u64 = 5000;

/// A GitHub-shaped error: `{"message", "errors"?, "documentation_url", "status"}`, the
/// status repeated as a string as GitHub does.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    errors: Vec<Value>,
    retry_after: Option<u64>,
    docs: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: &str) -> ApiError {
        ApiError {
            status,
            message: message.to_owned(),
            errors: Vec::new(),
            retry_after: None,
            docs: None,
        }
    }

    /// The same error, pointing at the documentation of the operation that refused.
    pub(crate) fn with_docs(mut self, url: &'static str) -> ApiError {
        self.docs = Some(url);
        self
    }

    pub(crate) fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "Not Found")
    }

    pub(crate) fn gone(message: &str) -> ApiError {
        ApiError::new(StatusCode::GONE, message)
    }

    pub(crate) fn bad_json() -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "Problems parsing JSON")
    }

    /// 422 with one `{resource, field, code}` entry, like GitHub's validation failures.
    pub(crate) fn validation(resource: &str, field: &str, code: &str) -> ApiError {
        let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
        e.errors
            .push(json!({"resource": resource, "field": field, "code": code}));
        e
    }

    /// 422 naming the value refused (`{"value", "resource", "field", "code": "invalid"}`), as
    /// GitHub does for an assignee it cannot assign.
    pub(crate) fn invalid_value(resource: &str, field: &str, value: &str) -> ApiError {
        let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
        e.errors
            .push(json!({"value": value, "resource": resource, "field": field,
            "code": "invalid"}));
        e
    }

    /// 422 with an `unprocessable` code on the whole `data`, GitHub's answer to a comment
    /// body it refuses ("Body cannot be blank").
    pub(crate) fn unprocessable(resource: &str, message: &str) -> ApiError {
        let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
        e.errors
            .push(json!({"resource": resource, "code": "unprocessable",
            "field": "data", "message": message}));
        e
    }

    /// 422 with a `custom` code and a human message (e.g. body too long).
    pub(crate) fn custom(resource: &str, field: &str, message: &str) -> ApiError {
        let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
        e.errors.push(json!({"resource": resource, "field": field,
            "code": "custom", "message": message}));
        e
    }

    /// The primary limit spent: 403 without `Retry-After` (the `x-ratelimit-*` headers the
    /// gate adds say when it resets), in GitHub's words.
    pub(crate) fn primary_limit(user: usize) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            &format!(
                "API rate limit exceeded for user ID {}. If you reach out to GitHub Support for help, please include the request ID.",
                user + 1
            ),
        )
        .with_docs("https://docs.github.com/rest/overview/rate-limits-for-the-rest-api")
    }

    pub(crate) fn secondary_limit(retry_after: u64) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::FORBIDDEN,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        );
        e.retry_after = Some(retry_after);
        e
    }
}

impl ApiError {
    /// The response, with the error itself attached so the gate can point an error a handler
    /// raised at the documentation of the operation (handlers don't know their route).
    fn render(self) -> Response {
        let mut body = json!({
            "message": &self.message,
            "documentation_url": self.docs.unwrap_or(DOCS_URL),
            "status": self.status.as_str(),
        });
        if !self.errors.is_empty() {
            body["errors"] = Value::Array(self.errors.clone());
        }
        let mut resp = Reply::json(self.status, &body).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp.extensions_mut().insert(self);
        resp
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.render()
    }
}

/// A successful JSON (or empty) answer, with an optional `Link` or `Location` header.
#[derive(Debug)]
pub(crate) struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    link: Option<String>,
    location: Option<String>,
}

impl Reply {
    pub(crate) fn json(status: StatusCode, v: &Value) -> Reply {
        Reply {
            status,
            body: serde_json::to_vec(v).unwrap_or_default(),
            link: None,
            location: None,
        }
    }

    pub(crate) fn ok(v: &Value) -> Reply {
        Reply::json(StatusCode::OK, v)
    }

    /// 201 with `Location:` the new object's API URL, as GitHub answers a create.
    pub(crate) fn created(v: &Value) -> Reply {
        let mut r = Reply::json(StatusCode::CREATED, v);
        r.location = v.get("url").and_then(Value::as_str).map(str::to_owned);
        r
    }

    pub(crate) fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: Vec::new(),
            link: None,
            location: None,
        }
    }

    pub(crate) fn with_link(mut self, link: Option<String>) -> Reply {
        self.link = link;
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let empty = self.body.is_empty();
        let mut resp = (self.status, self.body).into_response();
        let h = resp.headers_mut();
        if empty {
            h.remove(header::CONTENT_TYPE);
        } else {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CT));
        }
        if let Some(v) = self.link.and_then(|l| HeaderValue::from_str(&l).ok()) {
            h.insert(header::LINK, v);
        }
        if let Some(v) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            h.insert(header::LOCATION, v);
        }
        resp
    }
}

/// Per-request context the gate hands to handlers.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// Scheme + host (+ any path of the public URL), without `/api/v3`: the web base.
    pub origin: String,
    /// API base: `origin`, plus `/api/v3` if the request came in under that prefix.
    pub api: String,
    /// The request path, for `Link` headers.
    pub path: String,
}

/// Query parameters in request order, looked up leniently like GitHub does.
#[derive(Debug)]
pub(crate) struct Params(pub Vec<(String, String)>);

impl Params {
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `page` (from 1) and `per_page` (default 30, capped at 100).
    pub(crate) fn page(&self) -> Paging {
        let num = |k: &str| self.get(k).and_then(|v| v.trim().parse::<usize>().ok());
        let per_page = match num("per_page") {
            None | Some(0) => 30,
            Some(n) => n.min(100),
        };
        let page = num("page").filter(|&p| p > 0).unwrap_or(1);
        Paging { page, per_page }
    }

    /// `direction`, defaulting to `default_desc`.
    pub(crate) fn desc(&self, default_desc: bool) -> bool {
        match self.get("direction") {
            Some("asc") => false,
            Some("desc") => true,
            _ => default_desc,
        }
    }

    /// `since` as unix seconds; 422 if present but not ISO 8601.
    pub(crate) fn since(&self) -> Result<Option<i64>, ApiError> {
        match self.get("since").filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.timestamp()))
                .map_err(|_| ApiError::validation("Issue", "since", "invalid")),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Paging {
    pub page: usize,
    pub per_page: usize,
}

impl Paging {
    pub(crate) fn offset(self) -> usize {
        (self.page - 1).saturating_mul(self.per_page)
    }

    /// Takes this page out of an iterator, counting the rest for the `last` link.
    pub(crate) fn take<T>(self, it: impl Iterator<Item = T>) -> (Vec<T>, usize) {
        let (start, end) = (self.offset(), self.offset().saturating_add(self.per_page));
        let mut items = Vec::with_capacity(self.per_page);
        let mut total = 0;
        for x in it {
            if total >= start && total < end {
                items.push(x);
            }
            total += 1;
        }
        (items, total)
    }

    /// GitHub's absolute `Link` header (`prev`, `next`, `last`, `first`), or none for a
    /// single page.
    pub(crate) fn link(self, ctx: &Ctx, q: &Params, total: usize) -> Option<String> {
        let last = total.div_ceil(self.per_page).max(1);
        if self.page == 1 && last == 1 {
            return None;
        }
        let url = |page: usize| {
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in q.0.iter().filter(|(k, _)| k != "page") {
                s.append_pair(k, v);
            }
            s.append_pair("page", &page.to_string());
            format!("<{}{}?{}>", ctx.origin, ctx.path, s.finish())
        };
        let mut parts = Vec::new();
        if self.page > 1 {
            parts.push(format!("{}; rel=\"prev\"", url((self.page - 1).min(last))));
        }
        if self.page < last {
            parts.push(format!("{}; rel=\"next\"", url(self.page + 1)));
            parts.push(format!("{}; rel=\"last\"", url(last)));
        }
        if self.page > 1 {
            parts.push(format!("{}; rel=\"first\"", url(1)));
        }
        Some(parts.join(", "))
    }
}

/// 404 unless `{owner}/{repo}` names the sandbox's repository (case-insensitive, like GitHub).
pub(crate) fn check_repo(st: &Store, owner: &str, repo: &str) -> Result<(), ApiError> {
    if st.owner.eq_ignore_ascii_case(owner) && st.repo.eq_ignore_ascii_case(repo) {
        Ok(())
    } else {
        Err(ApiError::not_found())
    }
}

/// Parses a JSON request body; an empty body is `{}`.
pub(crate) fn parse_body(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes).map_err(|_| ApiError::bad_json())
}

/// Fallback for unknown paths and unsupported methods (GitHub says 404 for both).
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// GitHub's primary rate limit (`x-ratelimit-*`, `GET /rate_limit`), behind its own mutex
/// (see [`Shared`]).
#[derive(Debug)]
pub(crate) struct RateWindow {
    used: u64,
    reset: i64,
    limit: u64,
    window_secs: i64,
    /// Refuse once spent (`--rate-limit`), instead of starting a new window.
    enforced: bool,
}

impl RateWindow {
    /// GitHub's 5,000 an hour, reported and never enforced.
    pub(crate) fn new() -> RateWindow {
        RateWindow {
            used: 0,
            reset: unix_now() + 3600,
            limit: RATE_LIMIT,
            window_secs: 3600,
            enforced: false,
        }
    }

    /// A limit that refuses requests once spent, until its window resets.
    pub(crate) fn enforcing(limit: super::PrimaryLimit) -> RateWindow {
        let window_secs = i64::try_from(limit.window.as_secs().max(1)).unwrap_or(i64::MAX);
        RateWindow {
            used: 0,
            reset: unix_now().saturating_add(window_secs),
            limit: limit.requests.max(1),
            window_secs,
            enforced: true,
        }
    }

    /// Counts a request against the primary limit. Unenforced, the window restarts instead
    /// of reaching zero: the sandbox never refuses for the primary limit.
    fn spend(&mut self) {
        self.spend_points(1);
    }

    /// Counts `points` (a GraphQL query's cost; 1 for a REST request), restarting the window
    /// like [`RateWindow::spend`].
    pub(crate) fn spend_points(&mut self, points: u64) {
        let now = unix_now();
        if now >= self.reset || (!self.enforced && self.used + points >= self.limit) {
            self.used = 0;
            self.reset = now.saturating_add(self.window_secs);
        }
        self.used = if self.enforced {
            (self.used + points).min(self.limit)
        } else {
            self.used + points.min(self.limit - 1)
        };
    }

    /// When an enforced limit is spent: the Unix time its window resets.
    pub(crate) fn spent(&mut self) -> Option<i64> {
        let now = unix_now();
        if now >= self.reset {
            self.used = 0;
            self.reset = now.saturating_add(self.window_secs);
        }
        (self.enforced && self.used >= self.limit).then_some(self.reset)
    }

    /// `(limit, remaining, used, reset)` of the core resource.
    pub(crate) fn rate(&self) -> (u64, u64, u64, i64) {
        (self.limit, self.limit - self.used, self.used, self.reset)
    }
}

/// How GitHub answers an injected fault: 5xx bodies as its front end sends them, and the
/// secondary rate limit as a 403 with `retry-after`.
fn fault_error(f: Fault) -> ApiError {
    match f {
        Fault::ServerError => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"),
        Fault::BadGateway => ApiError::new(StatusCode::BAD_GATEWAY, "Server Error"),
        Fault::Unavailable => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        Fault::RateLimited { retry_after } => ApiError::secondary_limit(retry_after),
    }
}

/// A route broken on purpose (`POST /_sandbox/faults`), answered with GitHub's body for the
/// status: its front end's for 5xx, the API's for refusals.
fn route_fault(status: StatusCode) -> ApiError {
    let message = match status.as_u16() {
        500 | 502 => "Server Error",
        503 => "Service Unavailable",
        403 => "Resource not accessible by integration",
        404 => "Not Found",
        410 => "Issues are disabled for this repo",
        _ => status.canonical_reason().unwrap_or("Error"),
    };
    ApiError::new(status, message)
}

enum Auth {
    Anonymous,
    /// The user (an index into `State::users`) the token authenticates as.
    User(usize),
    Invalid,
}

/// Accepts `token X`, `Bearer X` and Basic auth with X as user (`X:x-oauth-basic`) or
/// password, for any X in `tokens`.
fn authenticate(headers: &HeaderMap, tokens: &HashMap<String, usize>) -> Auth {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Auth::Anonymous;
    };
    let Some((scheme, cred)) = value.to_str().ok().and_then(|v| v.trim().split_once(' ')) else {
        return Auth::Invalid;
    };
    let cred = cred.trim();
    let user = match scheme.to_ascii_lowercase().as_str() {
        "token" | "bearer" => tokens.get(cred).copied(),
        "basic" => base64::engine::general_purpose::STANDARD
            .decode(cred)
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|pair| {
                let (u, p) = pair.split_once(':')?;
                tokens.get(u).or_else(|| tokens.get(p)).copied()
            }),
        _ => None,
    };
    user.map_or(Auth::Invalid, Auth::User)
}

/// Who a request acts as: the user its token authenticates as. Handlers of writes take it;
/// the gate has already refused anonymous writes, so a missing actor is a 401 all the same.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Actor(pub usize);

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Actor, ApiError> {
        parts
            .extensions
            .get::<Actor>()
            .copied()
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "Requires authentication"))
    }
}

fn is_write(m: &Method) -> bool {
    matches!(
        *m,
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    )
}

/// The web origin clients see: the public URL (minus any `/api/v3`), else the `Host` header.
fn origin(sb: &Shared, headers: &HeaderMap) -> String {
    let o = server::origin(sb.opts.server.public_url.as_deref(), sb.local_addr, headers);
    match o.strip_suffix("/api/v3") {
        Some(web) => web.to_owned(),
        None => o,
    }
}

/// The middleware every request passes through; see the module docs for the order.
pub(crate) async fn gate(State(sb): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/_sandbox/") {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let route = match req.extensions().get::<MatchedPath>() {
        Some(m) => {
            let r = m.as_str();
            let r = r
                .strip_prefix("/api/v3")
                .or_else(|| r.strip_prefix("/api").filter(|r| *r == "/graphql"))
                .unwrap_or(r);
            if r.is_empty() { "/" } else { r }.to_owned()
        }
        None => "*".to_owned(),
    };
    // A GraphQL query is a read: it spends points (charged by its handler), not the write
    // limit, and an anonymous one is refused by the handler in GraphQL's words.
    let graphql = route == "/graphql";
    let write = is_write(&method) && !graphql;
    // What a retry of this very request repeats (see `SandboxStats::early_retries`).
    let request_key = format!("{method} {}", req.uri());
    let seq = sb
        .meter()
        .record(method.as_str(), format!("{method} {route}"), write);
    if sb.opts.server.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(sb.opts.server.latency_ms)).await;
    }

    let prefixed = path == "/api/v3" || path.starts_with("/api/v3/") || path == "/api/graphql";
    let origin = origin(&sb, req.headers());
    let ctx = Ctx {
        api: if prefixed {
            format!("{origin}/api/v3")
        } else {
            origin.clone()
        },
        origin,
        path,
    };
    let conditional = (method == Method::GET || method == Method::HEAD)
        .then(|| req.headers().get(header::IF_NONE_MATCH).cloned())
        .flatten();

    let verdict = match authenticate(req.headers(), &sb.tokens) {
        Auth::Invalid => Err(ApiError::new(StatusCode::UNAUTHORIZED, "Bad credentials")),
        Auth::Anonymous if write || route == "/user" => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Requires authentication",
        )),
        Auth::Anonymous => Ok(None),
        Auth::User(u) => Ok(Some(Actor(u))),
    }
    .and_then(|actor| {
        let broken = sb.route_faults().get(&format!("{method} {route}")).copied();
        if let Some(status) = broken {
            return Err(route_fault(status));
        }
        let now = Instant::now();
        // REST's primary limit, once spent (`--rate-limit`), refuses before anything else;
        // GraphQL queries spend points of their own.
        let spent = if graphql { None } else { sb.rate().spent() };
        let mut meter = sb.meter();
        if let Some(reset) = spent {
            meter.arrived(write, &request_key, now);
            // Due when the window resets, to the instant (the header rounds to seconds).
            let wait =
                std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(reset).unwrap_or(0));
            let wait = wait
                .duration_since(std::time::SystemTime::now())
                .unwrap_or(Duration::ZERO);
            meter.refused(write, &request_key, now + wait);
            return Err(ApiError::primary_limit(actor.map_or(0, |a| a.0)));
        }
        meter.admit(write, &request_key, now).map_err(fault_error)?;
        Ok(actor)
    });
    let resp = match verdict {
        Err(e) => e.into_response(),
        Ok(actor) => {
            req.extensions_mut().insert(ctx);
            if let Some(actor) = actor {
                req.extensions_mut().insert(actor);
            }
            let resp = next.run(req).await;
            // An operation's own refusals point at its documentation, as on GitHub.
            match (
                resp.extensions().get::<ApiError>(),
                super::docs_url(&method, &route),
            ) {
                (Some(e), Some(url)) if e.docs.is_none() => e.clone().with_docs(url).render(),
                _ => resp,
            }
        }
    };
    let (resp, body_len) = with_etag(resp, conditional).await;
    let not_modified = resp.status() == StatusCode::NOT_MODIFIED;
    sb.meter().answered(body_len, not_modified);
    let (limit, remaining, used, reset) = if graphql {
        sb.graphql_rate().rate()
    } else {
        let mut rate = sb.rate();
        // Conditional hits are free on GitHub, so they don't spend the primary limit.
        if !not_modified {
            rate.spend();
        }
        rate.rate()
    };
    let mut resp = decorate(resp, seq, [limit, remaining, used], reset);
    if graphql {
        resp.headers_mut()
            .insert("x-ratelimit-resource", HeaderValue::from_static("graphql"));
    }
    resp
}

/// Adds a weak ETag to successful GETs and answers 304 when `If-None-Match` matches. Also
/// returns the length of the 200 body sent (0 for anything else), for the stats.
async fn with_etag(resp: Response, if_none_match: Option<HeaderValue>) -> (Response, u64) {
    if resp.status() != StatusCode::OK {
        return (resp, 0);
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        let err = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Server Error");
        return (err.into_response(), 0);
    };
    let digest = Sha256::digest(&bytes);
    let tag = format!("W/\"{}\"", hex::encode(&digest[..16]));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        parts.headers.insert(header::ETAG, v);
    }
    let matched = if_none_match
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t.trim_start_matches("W/") == tag.trim_start_matches("W/")
            })
        });
    if matched {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_TYPE);
        parts.headers.remove(header::CONTENT_LENGTH);
        return (Response::from_parts(parts, Body::empty()), 0);
    }
    let len = bytes.len() as u64;
    (Response::from_parts(parts, Body::from(bytes)), len)
}

fn decorate(
    mut resp: Response,
    seq: u64,
    [limit, remaining, used]: [u64; 3],
    reset: i64,
) -> Response {
    let h = resp.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("x-ratelimit-used", HeaderValue::from(used));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    let id = format!(
        "{:04X}:{:04X}:{:06X}:{:06X}:{:08X}",
        seq & 0xffff,
        (seq >> 16) & 0xffff,
        seq.wrapping_mul(2_654_435_761) & 0xff_ffff,
        seq.wrapping_mul(40_503) & 0xff_ffff,
        reset & 0xffff_ffff
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-github-request-id", v);
    }
    h.insert(
        "x-github-media-type",
        HeaderValue::from_static("github.v3; format=json"),
    );
    h.insert(
        "x-github-api-version-selected",
        HeaderValue::from_static("2022-11-28"),
    );
    resp
}
