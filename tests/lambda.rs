//! The functions' in-process tests: handlers on in-memory twins, with trackers pointed at an
//! in-process sandbox, and recorded API Gateway events edited for one case. The e2e tests
//! edit the same recorded events for the functions under the Lambda emulator.

use std::sync::Arc;

use backtrack::catalog::MemoryCatalog;
use backtrack::snapshot::{Archive, SnapshotOptions};
use backtrack::store::MemoryStore;
use backtrack::tracker::{GitHubConfig, WritePace};
use backtrack_lambda::{GitHubTrackers, Limits, MemoryQueue, TrackerFactory};
use backtrack_sandbox::github::{Sandbox, SandboxOptions};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// What the functions are built from in tests: memory twins of the store, catalog and queue,
/// and trackers pointed at an in-process sandbox (unpaced).
#[derive(Debug)]
pub struct Harness {
    pub archive: Archive,
    pub trackers: Arc<dyn TrackerFactory>,
    pub queue: Arc<MemoryQueue>,
    /// The functions' limits (tests lower `max_ops` to force several slices).
    pub limits: Limits,
    pub sandbox: Sandbox,
}

impl Harness {
    /// A sandbox serving `owner/repo` with 12 issues and 30 comments.
    pub async fn start(owner: &str, repo: &str) -> Harness {
        let sandbox = Sandbox::start(SandboxOptions {
            owner: owner.into(),
            repo: repo.into(),
            issues: 12,
            comments: 30,
            ..SandboxOptions::default()
        })
        .await
        .unwrap_or_else(|e| panic!("cannot start the sandbox: {e}"));
        let mut config = GitHubConfig::new(sandbox.base_url(), Some(sandbox.token().to_string()));
        config.pace = WritePace::unpaced();
        Harness {
            archive: Archive::new(Arc::new(MemoryStore::new()), Arc::new(MemoryCatalog::new())),
            trackers: Arc::new(GitHubTrackers::new(config)),
            queue: Arc::new(MemoryQueue::new()),
            limits: Limits::default(),
            sandbox,
        }
    }

    /// Takes a snapshot of `scope` (`github:OWNER/REPO`); returns its id.
    pub async fn snapshot(&self, scope: &str) -> String {
        let scope = scope.parse().unwrap();
        let tracker = self.trackers.tracker(&scope).unwrap();
        let report = self
            .archive
            .create_snapshot(tracker, &SnapshotOptions::default())
            .await
            .unwrap();
        report.id.to_string()
    }

    /// A REST call to the sandbox as another client would make it (to damage issues).
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        crate::http::request(
            &self.sandbox.base_url(),
            method,
            path,
            body,
            Some(self.sandbox.token()),
        )
        .await
    }
}

/// A recorded event (JSON text) with its request line, body and headers replaced: the
/// fixture keeps API Gateway's envelope, the test supplies what the case is about.
pub fn http_event(fixture: &str, method: &str, path: &str, body: Option<&str>) -> Value {
    let mut event: Value =
        serde_json::from_str(fixture).unwrap_or_else(|e| panic!("the fixture is not JSON: {e}"));
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    event["rawPath"] = path.into();
    event["rawQueryString"] = query.into();
    event["requestContext"]["http"]["method"] = method.into();
    event["requestContext"]["http"]["path"] = path.into();
    event["routeKey"] = format!("{method} {path}").into();
    let obj = event.as_object_mut().unwrap();
    obj.remove("queryStringParameters");
    obj.remove("pathParameters");
    match body {
        Some(b) => obj.insert("body".into(), b.into()),
        None => obj.remove("body"),
    };
    event
}

/// Sets (or, with `None`, removes) a header of an HTTP event.
pub fn set_header(event: &mut Value, name: &str, value: Option<&str>) {
    let headers = event["headers"].as_object_mut().unwrap();
    match value {
        Some(v) => headers.insert(name.to_ascii_lowercase(), v.into()),
        None => headers.remove(&name.to_ascii_lowercase()),
    };
}

/// An event as the runtime hands it to a function: `payload` deserialized into its type.
pub fn event<E: DeserializeOwned>(payload: Value) -> E {
    serde_json::from_value(payload).unwrap_or_else(|e| panic!("not the function's event: {e}"))
}

/// Status and body (parsed as JSON when it is) of an API Gateway response, typed or as the
/// runtime serialized it.
pub fn response(out: &impl Serialize) -> (u16, Value) {
    let out = serde_json::to_value(out).unwrap();
    let status = out["statusCode"].as_u64().unwrap_or(0) as u16;
    let text = out["body"].as_str().unwrap_or_default();
    let body = serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()));
    (status, body)
}
