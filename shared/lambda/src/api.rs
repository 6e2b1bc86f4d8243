//! HTTP API plumbing: API Gateway v2 events in, JSON (or Markdown) answers out.
//!
//! Every failure becomes an [`ApiError`] with one JSON shape,
//! `{"error": {"code", "message", "field"?, "job"?, "retryable"}}`, and is logged once as a
//! structured line with `retryable` explicit, so alarms can tell "try again" from "fix it".

use std::collections::HashMap;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine as _;
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde::Serialize;
use serde_json::{json, Value};

use backtrack::catalog::CatalogError;
use backtrack::error::Error;
use backtrack::rollback::job::job_of_lock;
use backtrack::tracker::TrackerError;

/// The longest error message answered or logged, in characters: request input echoed in it
/// is cut to [`QUOTE_MAX_CHARS`](backtrack::sanitize::QUOTE_MAX_CHARS) characters each, and
/// the whole message to this (a 5 MiB scope answers a few hundred bytes, and logs as many).
pub const MESSAGE_MAX_CHARS: usize = 1_000;

/// One HTTP request, independent of the event format it came in.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    pub method: String,
    /// The path without the stage prefix, e.g. `/snapshots/01J…/diff/live`.
    pub path: String,
    pub query: HashMap<String, String>,
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
    /// The raw body bytes (webhook signatures are over these exact bytes).
    pub body: Vec<u8>,
}

impl ApiRequest {
    /// From an API Gateway HTTP API (payload 2.0) event.
    pub fn from_apigw(event: &ApiGatewayV2httpRequest) -> Result<Self, ApiError> {
        let body = match &event.body {
            None => Vec::new(),
            Some(b) if event.is_base64_encoded => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| ApiError::bad_request("body", "is not valid base64"))?,
            Some(b) => b.as_bytes().to_vec(),
        };
        let headers = event
            .headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().ok()?.to_string(),
                ))
            })
            .collect();
        let query = match &event.raw_query_string {
            Some(raw) if !raw.is_empty() => parse_query(raw),
            _ => query_pairs(&event.query_string_parameters),
        };
        let path = event
            .raw_path
            .clone()
            .or_else(|| event.request_context.http.path.clone())
            .unwrap_or_else(|| "/".into());
        // A named stage prefixes the raw path (`/prod/snapshots`); routes do not include it.
        let path = match event.request_context.stage.as_deref() {
            Some(stage) if stage != "$default" => path
                .strip_prefix(&format!("/{stage}"))
                .filter(|rest| rest.is_empty() || rest.starts_with('/'))
                .map(|rest| {
                    if rest.is_empty() {
                        "/".to_string()
                    } else {
                        rest.to_string()
                    }
                })
                .unwrap_or(path),
            _ => path,
        };
        Ok(ApiRequest {
            method: event
                .request_context
                .http
                .method
                .as_str()
                .to_ascii_uppercase(),
            path,
            query,
            headers,
            body,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The body as a JSON object with no field outside `fields` (an empty body is `{}`):
    /// an unknown field, a misspelt one (`Execute`, `close_new_issue`) included, is a 400
    /// naming it rather than an option silently dropped.
    pub fn json_fields(&self, fields: &[&str]) -> Result<serde_json::Map<String, Value>, ApiError> {
        let body = self.json_body()?;
        check_fields("body", body.keys().map(String::as_str), fields)?;
        Ok(body)
    }

    /// The query parameters, refusing any outside `fields` (as [`ApiRequest::json_fields`]).
    pub fn query_fields(&self, fields: &[&str]) -> Result<&HashMap<String, String>, ApiError> {
        check_fields("query", self.query.keys().map(String::as_str), fields)?;
        Ok(&self.query)
    }

    /// The body as a JSON object; an empty body is `{}`.
    pub fn json_body(&self) -> Result<serde_json::Map<String, Value>, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Map::new());
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ApiError::bad_request("body", "must be a JSON object")),
            Err(e) => Err(ApiError::bad_request(
                "body",
                format!("is not valid JSON ({e})"),
            )),
        }
    }

    /// Whether the client asked for Markdown rather than JSON.
    pub fn wants_markdown(&self) -> bool {
        self.header("accept")
            .is_some_and(|a| a.contains("text/markdown"))
    }
}

/// Refuses the first of `given` that is not in `known`, naming it (cut like any echoed
/// input) and listing what is accepted; a different case of a known field is pointed out.
fn check_fields<'a>(
    place: &str,
    given: impl Iterator<Item = &'a str>,
    known: &[&str],
) -> Result<(), ApiError> {
    let mut unknown: Vec<&str> = given.filter(|g| !known.contains(g)).collect();
    unknown.sort_unstable();
    let Some(first) = unknown.first() else {
        return Ok(());
    };
    let hint = match known.iter().find(|k| k.eq_ignore_ascii_case(first)) {
        Some(k) => format!(" (did you mean {k:?}? field names are lowercase)"),
        None => String::new(),
    };
    let accepted = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    Err(ApiError::bad_request(
        backtrack::sanitize::shorten(first, backtrack::sanitize::QUOTE_MAX_CHARS),
        format!(
            "unknown {place} field {}{hint}; accepted: {accepted}",
            backtrack::sanitize::quote(first)
        ),
    ))
}

/// The parsed query parameters, a key's last value winning. Not through `QueryMap::iter`,
/// which panics on a key holding no value (`{"a": []}`: API Gateway never sends it, a direct
/// invocation can; found by the `api_event` fuzz target). Its serialized form has no such
/// trap.
fn query_pairs(map: &aws_lambda_events::query_map::QueryMap) -> HashMap<String, String> {
    match serde_json::to_value(map) {
        Ok(Value::Object(keys)) => keys
            .into_iter()
            .filter_map(|(k, values)| {
                let last = values.as_array()?.last()?.as_str()?.to_string();
                Some((k, last))
            })
            .collect(),
        _ => HashMap::new(),
    }
}

/// `a=1&b=x%20y` into a map (the last value of a repeated key wins).
fn parse_query(raw: &str) -> HashMap<String, String> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

/// Which function serves a route of the HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    Snapshot,
    Diff,
    Restore,
    Catalog,
}

/// A route of the HTTP API, as the SAM template declares it.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub pattern: &'static str,
    pub by: Served,
}

/// Every route of the HTTP API, in one place: each function dispatches from it, and a wrong
/// method on a known path answers 405 with the methods the API has there (whichever
/// function serves them). `infra/template.yaml` declares the same routes (a test compares).
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        pattern: "/snapshots",
        by: Served::Catalog,
    },
    Route {
        method: "POST",
        pattern: "/snapshots",
        by: Served::Snapshot,
    },
    Route {
        method: "GET",
        pattern: "/snapshots/{id}",
        by: Served::Catalog,
    },
    Route {
        method: "DELETE",
        pattern: "/snapshots/{id}",
        by: Served::Catalog,
    },
    Route {
        method: "GET",
        pattern: "/snapshots/{id}/diff/{other}",
        by: Served::Diff,
    },
    Route {
        method: "POST",
        pattern: "/snapshots/{id}/restore",
        by: Served::Restore,
    },
    Route {
        method: "GET",
        pattern: "/jobs/{id}",
        by: Served::Restore,
    },
    Route {
        method: "GET",
        pattern: "/runs",
        by: Served::Catalog,
    },
    Route {
        method: "GET",
        pattern: "/runs/{id}",
        by: Served::Catalog,
    },
    Route {
        method: "POST",
        pattern: "/webhooks/github",
        by: Served::Snapshot,
    },
    Route {
        method: "POST",
        pattern: "/webhooks/jira",
        by: Served::Snapshot,
    },
];

/// The route of [`ROUTES`] that `req` asks for, with its path parameters, if `function`
/// serves it: 404 for an unknown path, 405 with `Allow` for a method the API has not on
/// that path, and 404 (naming the function that serves it) for a route of another function
/// (a misrouted deployment).
pub fn dispatch(req: &ApiRequest, function: Served) -> Result<(&'static str, Vec<&str>), ApiError> {
    let mut allowed: Vec<&str> = Vec::new();
    for r in ROUTES {
        let Some(params) = route(r.pattern, &req.path) else {
            continue;
        };
        if r.method != req.method {
            allowed.push(r.method);
            continue;
        }
        if r.by != function {
            return Err(ApiError::NotFound(format!(
                "{} {} is served by the {:?} function, not this one",
                req.method, r.pattern, r.by
            )));
        }
        return Ok((r.pattern, params));
    }
    if allowed.is_empty() {
        return Err(no_route(req));
    }
    allowed.sort_unstable();
    allowed.dedup();
    Err(ApiError::MethodNotAllowed {
        method: backtrack::sanitize::shorten(&req.method, 16).into_owned(),
        allow: allowed.join(", "),
    })
}

/// The fallback: 404 naming what was asked (cut like any echoed input).
pub fn no_route(request: &ApiRequest) -> ApiError {
    ApiError::NotFound(format!(
        "no route for {} {}",
        backtrack::sanitize::shorten(&request.method, 16),
        backtrack::sanitize::quote(&request.path)
    ))
}

/// Matches `path` against a pattern like `/snapshots/{id}/diff/{other}`; returns the values of
/// the `{…}` segments in order.
pub fn route<'a>(pattern: &str, path: &'a str) -> Option<Vec<&'a str>> {
    let mut params = Vec::new();
    let mut want = pattern.trim_matches('/').split('/');
    let mut got = path
        .trim_end_matches('/')
        .trim_start_matches('/')
        .split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') && !g.is_empty() => {
                params.push(g)
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// Headers besides `Content-Type` (`Allow` on a 405).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiResponse {
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        let body = serde_json::to_string(value).unwrap_or_else(|e| {
            json!({"error": {"code": "internal", "message": format!("cannot encode the answer: {e}"), "retryable": false}}).to_string()
        });
        ApiResponse {
            status,
            content_type: "application/json",
            body,
            headers: Vec::new(),
        }
    }

    pub fn markdown(body: String) -> Self {
        ApiResponse {
            status: 200,
            content_type: "text/markdown; charset=utf-8",
            body,
            headers: Vec::new(),
        }
    }

    /// The body parsed as JSON (tests, and callers that relay it).
    pub fn body_json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn into_apigw(self) -> ApiGatewayV2httpResponse {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        for (name, value) in &self.headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(*name, value);
            }
        }
        let mut out = ApiGatewayV2httpResponse::default();
        out.status_code = i64::from(self.status);
        out.headers = headers;
        out.body = Some(Body::Text(self.body));
        out.is_base64_encoded = false;
        out
    }
}

impl From<Result<ApiResponse, ApiError>> for ApiResponse {
    fn from(result: Result<ApiResponse, ApiError>) -> Self {
        match result {
            Ok(r) => r,
            Err(e) => e.log_and_respond(),
        }
    }
}

/// Why a request failed, as the API says it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// A request field is missing or invalid.
    #[error("{field}: {message}")]
    BadRequest { field: String, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    /// A known path, another method: `allow` lists the API's methods there.
    #[error("{method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed { method: String, allow: String },
    /// The scope is busy (a restore job, or another holder of its lock).
    #[error("{message}")]
    Conflict {
        message: String,
        job: Option<String>,
    },
    /// Refused by a safety rule (a pinned snapshot).
    #[error("{0}")]
    Refused(String),
    /// A snapshot an unfinished restore job needs (`job`) cannot be deleted.
    #[error("{message}")]
    InUse { message: String, job: String },
    /// A restore's plan is not the one the request confirmed: `change` is the
    /// [`PlanChange`](crate::rollback::PlanChange) (fingerprints, operations added and
    /// dropped).
    #[error("{message}")]
    PlanChanged { message: String, change: Value },
    /// Something failed on our side or a backend's; `retryable` says whether to try again.
    #[error("{message}")]
    Internal { message: String, retryable: bool },
}

impl ApiError {
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Conflict { .. }
            | ApiError::Refused(_)
            | ApiError::InUse { .. }
            | ApiError::PlanChanged { .. } => 409,
            ApiError::Internal {
                retryable: true, ..
            } => 503,
            ApiError::Internal { .. } => 500,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "invalid_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Conflict { .. } => "scope_busy",
            ApiError::Refused(_) => "refused",
            ApiError::InUse { .. } => "snapshot_in_use",
            ApiError::PlanChanged { .. } => "plan_changed",
            ApiError::Internal { .. } => "internal",
        }
    }

    pub fn retryable(&self) -> bool {
        matches!(
            self,
            ApiError::Conflict { .. }
                | ApiError::Internal {
                    retryable: true,
                    ..
                }
        )
    }

    /// The message as answered and logged: request input and tracker text in it shortened
    /// (each quoted value to [`QUOTE_MAX_CHARS`](backtrack::sanitize::QUOTE_MAX_CHARS)
    /// characters, and the whole to [`MESSAGE_MAX_CHARS`]) and made safe for whatever
    /// terminal or page shows them.
    pub fn message(&self) -> String {
        let line = backtrack::sanitize::error_line(&self.to_string());
        backtrack::sanitize::shorten(&line, MESSAGE_MAX_CHARS).into_owned()
    }

    pub fn body(&self) -> Value {
        let mut error = json!({
            "code": self.code(),
            "message": self.message(),
            "retryable": self.retryable(),
        });
        match self {
            ApiError::BadRequest { field, .. } => error["field"] = json!(field),
            ApiError::Conflict { job: Some(job), .. } | ApiError::InUse { job, .. } => {
                error["job"] = json!(job)
            }
            ApiError::PlanChanged { change, .. } => error["plan_change"] = change.clone(),
            _ => {}
        }
        json!({ "error": error })
    }

    /// Logs the error as one structured line (the message as answered: never longer) and
    /// turns it into the answer.
    pub fn log_and_respond(&self) -> ApiResponse {
        let status = self.status();
        let message = self.message();
        if status >= 500 {
            tracing::error!(status, code = self.code(), retryable = self.retryable(), error = %message, "request failed");
        } else {
            tracing::warn!(status, code = self.code(), retryable = self.retryable(), error = %message, "request refused");
        }
        let mut response = ApiResponse::json(status, &self.body());
        if let ApiError::MethodNotAllowed { allow, .. } = self {
            response.headers.push(("allow", allow.clone()));
        }
        response
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Catalog(CatalogError::Locked(lock)) => {
                let job = job_of_lock(&lock).map(|j| j.to_string());
                ApiError::Conflict {
                    message: format!(
                        "{} is busy: {} holds it until {}",
                        lock.scope,
                        lock.holder,
                        lock.expires_at.format("%Y-%m-%dT%H:%M:%SZ")
                    ),
                    job,
                }
            }
            Error::Catalog(CatalogError::NotFound { what, .. }) => {
                ApiError::NotFound(format!("{what} not found"))
            }
            Error::Invalid(message) => ApiError::bad_request("request", message),
            Error::Refused(message) => ApiError::Refused(message),
            Error::InUse(needed) => ApiError::InUse {
                job: needed.job.to_string(),
                message: needed.to_string(),
            },
            // The repository does not exist, or the token cannot see it (GitHub answers 404
            // for both): the caller's to fix, never an internal error.
            Error::Tracker(e @ TrackerError::NotFound { .. }) => ApiError::NotFound(e.to_string()),
            Error::PlanChanged(change) => ApiError::PlanChanged {
                message: format!(
                    "the plan changed since the preview ({}); nothing was done: preview again and confirm the new plan, or send \"replan\": true",
                    change.summary()
                ),
                change: serde_json::to_value(&change).unwrap_or(Value::Null),
            },
            Error::Scope(e) => ApiError::bad_request("scope", e.to_string()),
            other => ApiError::Internal {
                retryable: other.is_retryable(),
                message: other.to_string(),
            },
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        Error::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_segments_and_capture_parameters() {
        assert_eq!(
            route("/snapshots/{id}/diff/{other}", "/snapshots/abc/diff/live"),
            Some(vec!["abc", "live"])
        );
        assert_eq!(route("/snapshots", "/snapshots/"), Some(vec![]));
        assert_eq!(route("/snapshots/{id}", "/snapshots/"), None);
        assert_eq!(route("/snapshots/{id}", "/snapshots/a/b"), None);
        assert_eq!(route("/jobs/{id}", "/snapshots/a"), None);
    }

    fn request(method: &str, path: &str, body: &str) -> ApiRequest {
        ApiRequest {
            method: method.into(),
            path: path.into(),
            body: body.as_bytes().to_vec(),
            ..ApiRequest::default()
        }
    }

    #[test]
    fn a_wrong_method_on_a_known_path_is_405_with_the_apis_methods() {
        let e = dispatch(&request("DELETE", "/snapshots", ""), Served::Snapshot).unwrap_err();
        assert_eq!(e.status(), 405);
        let answer = e.log_and_respond();
        assert_eq!(answer.headers, [("allow", "GET, POST".to_string())]);
        let apigw = answer.into_apigw();
        assert_eq!(apigw.headers["allow"], "GET, POST");
        let e = dispatch(&request("PUT", "/jobs/x", ""), Served::Restore).unwrap_err();
        assert_eq!(e.status(), 405);
        assert!(e.to_string().contains("allowed: GET"), "{e}");
        assert_eq!(
            dispatch(&request("GET", "/nowhere", ""), Served::Catalog)
                .unwrap_err()
                .status(),
            404
        );
        let diff = request("GET", "/snapshots/a/diff/live", "");
        let (pattern, params) = dispatch(&diff, Served::Diff).unwrap();
        assert_eq!(
            (pattern, params),
            ("/snapshots/{id}/diff/{other}", vec!["a", "live"])
        );
        // Another function's route, sent here by a misrouted deployment.
        let e = dispatch(&request("GET", "/snapshots", ""), Served::Snapshot).unwrap_err();
        assert_eq!(e.status(), 404);
        assert!(e.to_string().contains("Catalog"), "{e}");
    }

    /// The routes every function dispatches from are the ones the SAM template declares,
    /// each on the function that serves it.
    #[test]
    fn routes_match_the_sam_template() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml");
        let template = std::fs::read_to_string(path).unwrap();
        let mut declared = Vec::new();
        let (mut resource, mut method) = (String::new(), None::<String>);
        for line in template.lines() {
            if line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':')
            {
                resource = line.trim().trim_end_matches(':').to_string();
            }
            let t = line.trim();
            if let Some(m) = t.strip_prefix("Method: ") {
                method = Some(m.to_string());
            } else if let (Some(p), Some(m)) = (t.strip_prefix("Path: "), method.take()) {
                declared.push((resource.clone(), m, p.to_string()));
            }
        }
        let mut ours: Vec<(String, String, String)> = ROUTES
            .iter()
            .map(|r| {
                (
                    format!("{:?}Function", r.by),
                    r.method.to_string(),
                    r.pattern.to_string(),
                )
            })
            .collect();
        declared.sort();
        ours.sort();
        assert_eq!(declared, ours);
    }

    #[test]
    fn unknown_fields_are_refused_naming_them() {
        let req = request("POST", "/x", r#"{"scope": "a", "Execute": true}"#);
        let e = req.json_fields(&["scope", "execute"]).unwrap_err();
        assert_eq!(e.status(), 400);
        assert_eq!(e.body()["error"]["field"], "Execute");
        let message = e.body()["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains("did you mean \"execute\""), "{message}");
        assert!(req.json_fields(&["scope", "Execute"]).is_ok());
        assert!(request("POST", "/x", "").json_fields(&[]).is_ok());
        let long = format!(r#"{{"{}": 1}}"#, "k".repeat(100_000));
        let e = request("POST", "/x", &long).json_fields(&[]).unwrap_err();
        assert!(e.body().to_string().len() < 1_000, "{}", e.body());
        let mut q = request("GET", "/x", "");
        q.query.insert("forse".into(), "true".into());
        assert_eq!(
            q.query_fields(&["force"]).unwrap_err().body()["error"]["field"],
            "forse"
        );
    }

    /// A 5 MiB input is answered and logged in at most [`MESSAGE_MAX_CHARS`] characters.
    #[test]
    fn echoed_input_is_capped() {
        let huge = "github:acme/".to_string() + &"w x ".repeat(5 << 18);
        let e = ApiError::bad_request("scope", format!("invalid scope {huge:?}: no"));
        let body = e.body().to_string();
        assert!(body.len() < 2 * MESSAGE_MAX_CHARS + 200, "{}", body.len());
        assert!(e.message().chars().count() <= MESSAGE_MAX_CHARS + 1);
        let e = ApiError::Internal {
            message: format!("spaced out: {huge}"),
            retryable: false,
        };
        assert!(e.message().chars().count() <= MESSAGE_MAX_CHARS + 1);
    }

    #[test]
    fn queries_are_decoded() {
        let q = parse_query("scope=github%3Aacme%2Fwidgets&force=true&x=a+b");
        assert_eq!(q["scope"], "github:acme/widgets");
        assert_eq!(q["force"], "true");
        assert_eq!(q["x"], "a b");
    }

    #[test]
    fn errors_name_the_field_and_retryability() {
        let e = ApiError::bad_request("scope", "is required");
        assert_eq!(e.status(), 400);
        assert_eq!(e.body()["error"]["field"], "scope");
        assert_eq!(e.body()["error"]["retryable"], false);
        let e = ApiError::Internal {
            message: "throttled".into(),
            retryable: true,
        };
        assert_eq!(e.status(), 503);
        assert_eq!(e.body()["error"]["retryable"], true);
    }
}
