//! Test plumbing for the functions' in-process tests (feature `testkit`): handler
//! dependencies on in-memory twins with trackers pointed at a GitHub-compatible server the
//! test started (the sandbox, from `backtrack-sandbox`, which this crate does not depend on),
//! and recorded event payloads edited for one case.

use std::sync::Arc;

use serde_json::Value;

use crate::catalog::MemoryCatalog;
use crate::snapshot::Archive;
use crate::store::MemoryStore;
use crate::tracker::{GitHubConfig, WritePace};

use super::{Deps, GitHubTrackers, MemoryQueue};

/// Handler dependencies on memory twins, with trackers pointed at a GitHub-compatible server.
/// `S` is that server (kept alive as long as the harness, and reachable for its counters).
#[derive(Debug)]
pub struct Harness<S> {
    pub deps: Deps,
    pub sandbox: S,
    pub queue: Arc<MemoryQueue>,
    api_url: String,
    token: String,
}

impl<S> Harness<S> {
    /// Deps on memory twins whose trackers talk to `api_url` (an `http://` loopback server,
    /// unpaced) with `token`.
    pub fn new(sandbox: S, api_url: &str, token: &str) -> Harness<S> {
        let mut config = GitHubConfig::new(api_url.to_owned(), Some(token.to_owned()));
        config.pace = WritePace::unpaced();
        let archive = Archive::new(Arc::new(MemoryStore::new()), Arc::new(MemoryCatalog::new()));
        let queue = Arc::new(MemoryQueue::new());
        let mut deps = Deps::new(archive, Arc::new(GitHubTrackers::new(config)));
        deps.queue = Some(queue.clone());
        Harness {
            deps,
            sandbox,
            queue,
            api_url: api_url.to_owned(),
            token: token.to_owned(),
        }
    }
}

/// A recorded event (JSON text) with its request line, body and headers replaced: the
/// fixture keeps API Gateway's envelope, the test supplies what the case is about.
pub fn http_event(fixture: &str, method: &str, path: &str, body: Option<&str>) -> Value {
    let mut event: Value = match serde_json::from_str(fixture) {
        Ok(v) => v,
        Err(e) => panic!("fixture is not JSON: {e}"),
    };
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    event["rawPath"] = path.into();
    event["rawQueryString"] = query.into();
    event["requestContext"]["http"]["method"] = method.into();
    event["requestContext"]["http"]["path"] = path.into();
    event["routeKey"] = format!("{method} {path}").into();
    if let Some(obj) = event.as_object_mut() {
        obj.remove("queryStringParameters");
        obj.remove("pathParameters");
        match body {
            Some(b) => {
                obj.insert("body".into(), b.into());
            }
            None => {
                obj.remove("body");
            }
        }
    }
    event
}

/// Sets (or, with `None`, removes) a header of an HTTP event.
pub fn set_header(event: &mut Value, name: &str, value: Option<&str>) {
    if let Some(headers) = event["headers"].as_object_mut() {
        match value {
            Some(v) => {
                headers.insert(name.to_ascii_lowercase(), v.into());
            }
            None => {
                headers.remove(&name.to_ascii_lowercase());
            }
        }
    }
}

/// Status and body (parsed as JSON when it is) of an API Gateway response.
pub fn response(out: &Value) -> (u16, Value) {
    let status = out["statusCode"].as_u64().unwrap_or(0) as u16;
    let text = out["body"].as_str().unwrap_or_default();
    let body = serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()));
    (status, body)
}

impl<S> Harness<S> {
    /// A REST call to the sandbox as another client would make it (to damage issues).
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = match self.api_url.strip_prefix("http://") {
            Some(a) => a.trim_end_matches('/').to_owned(),
            None => panic!("the harness talks plain HTTP, not {}", self.api_url),
        };
        let mut stream = match tokio::net::TcpStream::connect(&addr).await {
            Ok(s) => s,
            Err(e) => panic!("connect to the sandbox: {e}"),
        };
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: testkit\r\nAuthorization: token {}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{payload}",
            self.token,
            payload.len()
        );
        let mut raw = Vec::new();
        if let Err(e) = async {
            stream.write_all(request.as_bytes()).await?;
            stream.read_to_end(&mut raw).await
        }
        .await
        {
            panic!("{method} {path}: {e}");
        }
        let text = String::from_utf8_lossy(&raw);
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(rest)
        } else {
            rest.to_string()
        };
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
