//! The handler in-process on memory twins and an in-process sandbox.
#![allow(clippy::unwrap_used)]

use backtrack::serverless::testkit::{self, http_event, response};
use backtrack::snapshot::SnapshotOptions;
use backtrack_sandbox::github::{Sandbox, SandboxOptions};
use serde_json::Value;

use super::handle;

const LIST: &str = include_str!("../../events/list-snapshots.json");
const DELETE: &str = include_str!("../../events/delete-snapshot.json");

/// The harness, on an in-process sandbox serving `owner/repo` with a few issues.
type Harness = testkit::Harness<Sandbox>;

async fn start(owner: &str, repo: &str) -> Harness {
    let sandbox = Sandbox::start(SandboxOptions {
        owner: owner.into(),
        repo: repo.into(),
        issues: 12,
        comments: 30,
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let (url, token) = (sandbox.base_url(), sandbox.token().to_owned());
    Harness::new(sandbox, &url, &token)
}

async fn snapshot(h: &Harness) -> String {
    let scope = "github:acme/widgets".parse().unwrap();
    let tracker = h.deps.trackers.tracker(&scope).unwrap();
    let report = h
        .deps
        .archive
        .create_snapshot(tracker, &SnapshotOptions::default())
        .await
        .unwrap();
    report.id.to_string()
}

async fn call(h: &Harness, fixture: &str, method: &str, path: &str) -> (u16, Value) {
    let ev = http_event(fixture, method, path, None);
    response(&handle(&h.deps, ev).await.unwrap())
}

#[tokio::test]
async fn lists_shows_and_deletes_snapshots_refusing_pinned_ones() {
    let h = start("acme", "widgets").await;
    // The recorded event lists one scope.
    let ev: Value = serde_json::from_str(LIST).unwrap();
    let (status, body) = response(&handle(&h.deps, ev).await.unwrap());
    assert_eq!(
        (status, body["snapshots"].as_array().unwrap().len()),
        (200, 0)
    );

    let (a, b) = (snapshot(&h).await, snapshot(&h).await);
    let (status, body) = call(&h, LIST, "GET", "/snapshots?scope=github%3Aacme%2Fwidgets").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = body["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [b.as_str(), a.as_str()], "newest first");
    let (status, body) = call(&h, LIST, "GET", "/snapshots?scope=github%3Aother%2Frepo").await;
    assert_eq!(
        (status, body["snapshots"].as_array().unwrap().len()),
        (200, 0)
    );
    let (status, body) = call(&h, LIST, "GET", "/snapshots?scope=nonsense").await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("scope"))
    );

    let (status, body) = call(&h, LIST, "GET", &format!("/snapshots/{a}")).await;
    assert_eq!((status, body["id"].as_str()), (200, Some(a.as_str())));

    h.deps
        .archive
        .catalog
        .set_pinned(&a.parse().unwrap(), true)
        .await
        .unwrap();
    let (status, body) = call(&h, DELETE, "DELETE", &format!("/snapshots/{a}")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("refused")),
        "{body}"
    );
    let (status, body) = call(&h, DELETE, "DELETE", &format!("/snapshots/{a}?force=maybe")).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("force"))
    );
    let (status, _) = call(&h, DELETE, "DELETE", &format!("/snapshots/{a}?force=true")).await;
    assert_eq!(status, 200);
    let (status, _) = call(&h, DELETE, "DELETE", &format!("/snapshots/{b}")).await;
    assert_eq!(status, 200);
    let (status, _) = call(&h, LIST, "GET", &format!("/snapshots/{b}")).await;
    assert_eq!(status, 404);
    let (status, _) = call(&h, LIST, "GET", "/snapshots/not-an-id").await;
    assert_eq!(status, 400);
    let (status, _) = call(&h, LIST, "PUT", "/snapshots").await;
    assert_eq!(status, 404);
}
