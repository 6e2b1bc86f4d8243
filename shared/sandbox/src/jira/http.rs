//! The HTTP side every Jira handler shares: the request gate (stats, latency, credentials,
//! faults), errors in Jira's shapes, replies, and query and body reading.
//!
//! Order in the gate: `/_sandbox` routes pass untouched; every other request is counted, then
//! delayed by the configured latency, then authenticated, then maybe failed by an injected
//! fault (before any state is touched), then handled.
//!
//! Credentials, per flavour, as the real ones take them:
//! - Cloud: Basic `email:api-token` (any email, a known token). A bearer is not an API token
//!   there: Cloud's edge answers 403 `{"error": "Failed to parse Connect Session Auth
//!   Token"}`. A rejected Basic pair and a missing credential get Cloud's 401 line.
//! - Data Center: `Bearer <personal access token>`, or Basic `username:password` where the
//!   password of a token's account is the token itself. A Cloud-style `email:token` pair names
//!   no DC user and gets the 401.
//! - `serverInfo` answers anonymous callers on both, as Jira does.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::{Flavor, Shared};
use crate::meter::Fault;
use crate::server;

/// What Jira puts on its JSON bodies (no space, upper-case charset).
pub(crate) const JSON_CT: &str = "application/json;charset=UTF-8";
const PROBLEM_CT: &str = "application/problem+json;charset=UTF-8";
/// Cloud's answer to a request without a credential it resolves.
pub(crate) const CLOUD_UNAUTHENTICATED: &str =
    "Client must be authenticated to access this resource.";
const DC_UNAUTHENTICATED: &str =
    "You are not authenticated. Authentication required to perform this operation.";

#[derive(Debug, Clone, PartialEq)]
enum ErrBody {
    /// `{"errorMessages": [...], "errors": {...}}`.
    Jira {
        messages: Vec<String>,
        errors: BTreeMap<String, String>,
    },
    /// `{"errorMessages": [...]}` alone (Jira's answer to a body it cannot read).
    MessagesOnly(Vec<String>),
    /// Any other body, with its content type.
    Raw(String, &'static str),
}

/// An error answered in Jira's shape. It rides in the response's extensions too, so the gate
/// can see what a handler refused.
#[derive(Debug, Clone)]
pub(crate) struct JiraError {
    pub status: StatusCode,
    body: ErrBody,
    headers: Vec<(&'static str, String)>,
}

impl JiraError {
    pub(crate) fn new(status: StatusCode, message: &str) -> JiraError {
        JiraError {
            status,
            body: ErrBody::Jira {
                messages: vec![message.to_owned()],
                errors: BTreeMap::new(),
            },
            headers: Vec::new(),
        }
    }

    pub(crate) fn bad_request(message: &str) -> JiraError {
        JiraError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: &str) -> JiraError {
        JiraError::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn issue_not_found() -> JiraError {
        JiraError::not_found("Issue does not exist or you do not have permission to see it.")
    }

    pub(crate) fn project_not_found(key: &str) -> JiraError {
        JiraError::not_found(&format!("No project could be found with key '{key}'."))
    }

    pub(crate) fn comment_not_found(id: u64) -> JiraError {
        JiraError::not_found(&format!("Can not find a comment for the id: {id}."))
    }

    /// A 400 naming each bad field.
    pub(crate) fn fields(errors: BTreeMap<String, String>) -> JiraError {
        JiraError {
            status: StatusCode::BAD_REQUEST,
            body: ErrBody::Jira {
                messages: Vec::new(),
                errors,
            },
            headers: Vec::new(),
        }
    }

    pub(crate) fn field(name: &str, message: &str) -> JiraError {
        JiraError::fields(BTreeMap::from([(name.to_owned(), message.to_owned())]))
    }

    /// The 400 for a body Jira cannot read (`errorMessages` alone).
    pub(crate) fn unreadable(message: &str) -> JiraError {
        JiraError {
            status: StatusCode::BAD_REQUEST,
            body: ErrBody::MessagesOnly(vec![message.to_owned()]),
            headers: Vec::new(),
        }
    }

    /// Jira's RFC 7807 answers (unknown endpoint, unconvertible parameter, wrong method).
    pub(crate) fn problem(status: StatusCode, detail: &str, instance: &str) -> JiraError {
        let body = json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": detail,
            "instance": instance,
        });
        JiraError {
            status,
            body: ErrBody::Raw(body.to_string(), PROBLEM_CT),
            headers: Vec::new(),
        }
    }

    fn raw(status: StatusCode, body: String, ct: &'static str) -> JiraError {
        JiraError {
            status,
            body: ErrBody::Raw(body, ct),
            headers: Vec::new(),
        }
    }

    fn with_header(mut self, name: &'static str, value: String) -> JiraError {
        self.headers.push((name, value));
        self
    }

    /// The messages and field errors, for tests and logs.
    #[cfg(test)]
    pub(crate) fn describe(&self) -> String {
        match &self.body {
            ErrBody::Jira { messages, errors } => format!("{messages:?} {errors:?}"),
            ErrBody::MessagesOnly(m) => format!("{m:?}"),
            ErrBody::Raw(b, _) => b.clone(),
        }
    }
}

impl IntoResponse for JiraError {
    fn into_response(self) -> Response {
        let (body, ct) = match &self.body {
            ErrBody::Jira { messages, errors } => (
                json!({"errorMessages": messages, "errors": errors}).to_string(),
                JSON_CT,
            ),
            ErrBody::MessagesOnly(m) => (json!({ "errorMessages": m }).to_string(), JSON_CT),
            ErrBody::Raw(b, ct) => (b.clone(), *ct),
        };
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        for (name, value) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(*name, v);
            }
        }
        resp.extensions_mut().insert(self);
        resp
    }
}

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Reply {
    status: StatusCode,
    body: Option<Vec<u8>>,
}

impl Reply {
    pub(crate) fn ok(v: &Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: Some(v.to_string().into_bytes()),
        }
    }

    pub(crate) fn created(v: &Value) -> Reply {
        Reply {
            status: StatusCode::CREATED,
            body: Some(v.to_string().into_bytes()),
        }
    }

    /// 201 without a body (`POST /issueLink`).
    pub(crate) fn created_empty() -> Reply {
        Reply {
            status: StatusCode::CREATED,
            body: None,
        }
    }

    pub(crate) fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self.body {
            Some(b) => {
                let mut resp = (self.status, b).into_response();
                resp.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CT));
                resp
            }
            None => self.status.into_response(),
        }
    }
}

/// Which REST version a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    V2,
    V3,
}

/// Per-request context the gate hands to handlers.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// Scheme + host (+ any path of the public URL): the site's base URL.
    pub origin: String,
    pub api: Api,
    /// The request path, for RFC 7807 `instance`s.
    pub path: String,
}

impl Ctx {
    pub(crate) fn v3(&self) -> bool {
        self.api == Api::V3
    }

    /// `{origin}/rest/api/{2|3}`.
    pub(crate) fn rest(&self) -> String {
        format!(
            "{}/rest/api/{}",
            self.origin,
            if self.v3() { "3" } else { "2" }
        )
    }
}

/// Who a request acts as (an index into `State::users`). The gate has refused anonymous
/// calls everywhere but `serverInfo`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Actor(pub usize);

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = JiraError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Actor, JiraError> {
        parts
            .extensions
            .get::<Actor>()
            .copied()
            .ok_or_else(|| JiraError::new(StatusCode::UNAUTHORIZED, DC_UNAUTHENTICATED))
    }
}

/// Query parameters in request order.
#[derive(Debug)]
pub(crate) struct Params(pub Vec<(String, String)>);

impl Params {
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable parameter, comma lists split (`fields=a,b&fields=c`).
    pub(crate) fn list(&self, key: &str) -> Option<Vec<String>> {
        let vals: Vec<String> = self
            .0
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(','))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        self.0.iter().any(|(k, _)| k == key).then_some(vals)
    }

    /// An integer parameter; Jira's RFC 7807 400 when it is not one.
    pub(crate) fn int(&self, key: &str, ctx: &Ctx) -> Result<Option<i64>, JiraError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
                JiraError::problem(
                    StatusCode::BAD_REQUEST,
                    &format!("Failed to convert '{key}' with value: '{v}'"),
                    &ctx.path,
                )
            }),
        }
    }

    pub(crate) fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// Parses a JSON object body, refused in Jira's words.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JiraError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(JiraError::unreadable(
            "No content to map to Object due to end of input",
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(JiraError::unreadable(
            "Invalid request payload. Refer to the REST API documentation and try again.",
        )),
        Err(_) => Err(JiraError::unreadable(
            "There was an error parsing JSON. Check that your request body is valid.",
        )),
    }
}

/// Like [`parse_object`], but an empty body is an empty object (optional bodies).
pub(crate) fn parse_optional(bytes: &[u8]) -> Result<Map<String, Value>, JiraError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(Map::new())
    } else {
        parse_object(bytes)
    }
}

/// Fallback for paths no route serves: Jira's RFC 7807 404 under `/rest`, its dead-link page
/// elsewhere.
pub(crate) async fn no_endpoint(method: Method, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if path == "/rest" || path.starts_with("/rest/") {
        JiraError::problem(
            StatusCode::NOT_FOUND,
            &format!("No endpoint {method} {path}."),
            &path,
        )
        .into_response()
    } else {
        JiraError::raw(
            StatusCode::NOT_FOUND,
            "<!DOCTYPE html><html><head><title>Oops, you&#39;ve found a dead link. - Jira</title>\
             </head><body><p>Oops, you've found a dead link.</p></body></html>"
                .to_owned(),
            "text/html;charset=utf-8",
        )
        .into_response()
    }
}

/// A method the route does not take: Jira's RFC 7807 405.
pub(crate) async fn method_not_allowed(method: Method, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    JiraError::problem(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("Method '{method}' is not supported."),
        &path,
    )
    .into_response()
}

enum Auth {
    Anonymous,
    User(usize),
    /// A credential was given and rejected.
    Rejected,
    /// A bearer on Cloud, which its edge cannot read.
    CloudBearer,
}

fn authenticate(headers: &HeaderMap, sb: &Shared) -> Auth {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Auth::Anonymous;
    };
    let Some((scheme, cred)) = value.to_str().ok().and_then(|v| v.trim().split_once(' ')) else {
        return Auth::Rejected;
    };
    let cred = cred.trim();
    let cloud = sb.flavor() == Flavor::Cloud;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" if cloud => Auth::CloudBearer,
        "bearer" => sb
            .tokens
            .get(cred)
            .copied()
            .map_or(Auth::Rejected, Auth::User),
        "basic" => {
            let pair = base64::engine::general_purpose::STANDARD
                .decode(cred)
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok());
            let Some((user, secret)) = pair.as_deref().and_then(|p| p.split_once(':')) else {
                return Auth::Rejected;
            };
            let Some(&account) = sb.tokens.get(secret) else {
                return Auth::Rejected;
            };
            if cloud {
                // Any email goes with a known API token, as the brief of the sandbox says;
                // an empty one is not an email.
                if user.is_empty() {
                    Auth::Rejected
                } else {
                    Auth::User(account)
                }
            } else {
                let st = sb.read();
                let named = st
                    .users
                    .get(account)
                    .is_some_and(|u| u.name.eq_ignore_ascii_case(user) || u.key == user);
                if named {
                    Auth::User(account)
                } else {
                    Auth::Rejected
                }
            }
        }
        _ => Auth::Rejected,
    }
}

fn unauthenticated(sb: &Shared, origin: &str, rejected: bool, headers: &HeaderMap) -> JiraError {
    let e = if sb.flavor() == Flavor::Cloud {
        // Cloud's 401 is this one line; the media type follows `Accept`.
        let json_wanted = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("application/json"));
        let ct = if json_wanted {
            JSON_CT
        } else {
            "text/plain;charset=UTF-8"
        };
        let realm: String = url::form_urlencoded::byte_serialize(origin.as_bytes()).collect();
        JiraError::raw(
            StatusCode::UNAUTHORIZED,
            CLOUD_UNAUTHENTICATED.to_owned(),
            ct,
        )
        .with_header("www-authenticate", format!("OAuth realm=\"{realm}\""))
    } else {
        JiraError::new(StatusCode::UNAUTHORIZED, DC_UNAUTHENTICATED)
            .with_header("www-authenticate", "Basic realm=\"protected-area\"".into())
    };
    if rejected {
        e.with_header("x-seraph-loginreason", "AUTHENTICATED_FAILED".into())
    } else {
        e
    }
}

/// How Jira answers an injected fault: a 500 in its envelope, the edge's 502/503, and a
/// 429 with `Retry-After` and Cloud's rate-limit headers.
fn fault_error(f: Fault) -> JiraError {
    match f {
        Fault::ServerError => {
            JiraError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
        }
        Fault::BadGateway => JiraError::raw(
            StatusCode::BAD_GATEWAY,
            "<html><body><h1>502 Bad Gateway</h1></body></html>".into(),
            "text/html",
        ),
        Fault::Unavailable => JiraError::raw(
            StatusCode::SERVICE_UNAVAILABLE,
            "<html><body><h1>503 Service Unavailable</h1></body></html>".into(),
            "text/html",
        ),
        Fault::RateLimited { retry_after } => {
            let reset = chrono::Utc::now() + chrono::Duration::seconds(retry_after as i64);
            JiraError::new(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded.")
                .with_header("retry-after", retry_after.to_string())
                .with_header("x-ratelimit-limit", "350".into())
                .with_header("x-ratelimit-remaining", "0".into())
                .with_header(
                    "x-ratelimit-reset",
                    reset.format("%Y-%m-%dT%H:%MZ").to_string(),
                )
                .with_header("ratelimit-reason", "jira-burst-based".into())
        }
    }
}

fn is_write(m: &Method) -> bool {
    matches!(
        *m,
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    )
}

/// Searches are POSTs that read: Jira's own rate limiting counts them as reads, and so do the
/// sandbox's write stats.
fn reads_by_post(route: &str) -> bool {
    route.ends_with("/search")
        || route.ends_with("/search/jql")
        || route.ends_with("/search/approximate-count")
        || route.ends_with("/comment/list")
}

/// The middleware every request passes through; see the module docs for the order.
pub(crate) async fn gate(State(sb): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/_sandbox/") {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "*".to_owned(), |m| m.as_str().to_owned());
    let write = is_write(&method) && !reads_by_post(&route);
    // What a retry of this very request repeats (see `SandboxStats::early_retries`).
    let request_key = format!("{method} {}", req.uri());
    let seq = sb
        .meter()
        .record(method.as_str(), format!("{method} {route}"), write);
    let latency = sb.opts.server.latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let origin = server::origin(
        sb.opts.server.public_url.as_deref(),
        sb.local_addr,
        req.headers(),
    );
    let api = if path.starts_with("/rest/api/3/") {
        Api::V3
    } else {
        Api::V2
    };
    let anonymous_ok = route.ends_with("/serverInfo") || route == "*";
    let verdict = match authenticate(req.headers(), &sb) {
        Auth::CloudBearer => Err(JiraError::raw(
            StatusCode::FORBIDDEN,
            json!({"error": "Failed to parse Connect Session Auth Token"}).to_string(),
            "application/json",
        )),
        Auth::Rejected => Err(unauthenticated(&sb, &origin, true, req.headers())),
        Auth::Anonymous if anonymous_ok => Ok(None),
        Auth::Anonymous => Err(unauthenticated(&sb, &origin, false, req.headers())),
        Auth::User(u) => Ok(Some(Actor(u))),
    }
    .and_then(|actor| {
        sb.meter()
            .admit(write, &request_key, Instant::now())
            .map_err(fault_error)?;
        Ok(actor)
    });
    let mut resp = match verdict {
        Err(e) => e.into_response(),
        Ok(actor) => {
            req.extensions_mut().insert(Ctx { origin, api, path });
            if let Some(actor) = actor {
                req.extensions_mut().insert(actor);
            }
            next.run(req).await
        }
    };
    if resp.status() == StatusCode::OK {
        let len = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let len = match len {
            Some(n) => n,
            None => {
                let (parts, body) = resp.into_parts();
                match axum::body::to_bytes(body, usize::MAX).await {
                    Ok(bytes) => {
                        let n = bytes.len() as u64;
                        resp = Response::from_parts(parts, Body::from(bytes));
                        n
                    }
                    Err(_) => {
                        return JiraError::new(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "Internal server error",
                        )
                        .into_response()
                    }
                }
            }
        };
        sb.meter().answered(len, false);
    }
    decorate(&mut resp, seq, &sb);
    resp
}

fn decorate(resp: &mut Response, seq: u64, sb: &Shared) {
    let h = resp.headers_mut();
    let id = format!("{}x{}x1", seq.wrapping_mul(7919) % 1440, seq);
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-arequestid", v);
    }
    if sb.flavor() == Flavor::Cloud {
        let trace = format!("{:032x}", (seq as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        if let Ok(v) = HeaderValue::from_str(&trace) {
            h.insert("atl-traceid", v);
        }
    }
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
}

/// Token → the account (an index into `State::users`) it authenticates as.
pub(crate) type Tokens = HashMap<String, usize>;
