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
            _ => event
                .query_string_parameters
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
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
        }
    }

    pub fn markdown(body: String) -> Self {
        ApiResponse {
            status: 200,
            content_type: "text/markdown; charset=utf-8",
            body,
        }
    }

    /// The body parsed as JSON (tests, and callers that relay it).
    pub fn body_json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn into_apigw(self) -> ApiGatewayV2httpResponse {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
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
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The scope is busy (a restore job, or another holder of its lock).
    #[error("{message}")]
    Conflict {
        message: String,
        job: Option<String>,
    },
    /// Refused by a safety rule (a pinned snapshot).
    #[error("{0}")]
    Refused(String),
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
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Conflict { .. } | ApiError::Refused(_) | ApiError::PlanChanged { .. } => 409,
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
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict { .. } => "scope_busy",
            ApiError::Refused(_) => "refused",
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

    pub fn body(&self) -> Value {
        let mut error = json!({
            "code": self.code(),
            // Messages may quote request input and tracker text: shortened and made safe
            // for whatever terminal or page shows them.
            "message": backtrack::sanitize::error_line(&self.to_string()),
            "retryable": self.retryable(),
        });
        match self {
            ApiError::BadRequest { field, .. } => error["field"] = json!(field),
            ApiError::Conflict { job: Some(job), .. } => error["job"] = json!(job),
            ApiError::PlanChanged { change, .. } => error["plan_change"] = change.clone(),
            _ => {}
        }
        json!({ "error": error })
    }

    /// Logs the error as one structured line and turns it into the answer.
    pub fn log_and_respond(&self) -> ApiResponse {
        let status = self.status();
        if status >= 500 {
            tracing::error!(status, code = self.code(), retryable = self.retryable(), error = %self, "request failed");
        } else {
            tracing::warn!(status, code = self.code(), retryable = self.retryable(), error = %self, "request refused");
        }
        ApiResponse::json(status, &self.body())
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
