//! The handler in-process on memory twins and an in-process sandbox.
#![allow(clippy::unwrap_used)]

use backtrack::serverless::testkit::{self, http_event, response, set_header};
use backtrack::snapshot::SnapshotOptions;
use backtrack_sandbox::github::{Sandbox, SandboxOptions};
use serde_json::{json, Value};

use super::handle;

const GET_DIFF: &str = include_str!("../../events/get-diff-live.json");

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

async fn get(h: &Harness, path: &str, accept: Option<&str>) -> (u16, Value) {
    let mut ev = http_event(GET_DIFF, "GET", path, None);
    set_header(&mut ev, "accept", accept);
    response(&handle(&h.deps, ev).await.unwrap())
}

#[tokio::test]
async fn diffs_against_live_and_between_snapshots_as_json_or_markdown() {
    let h = start("acme", "widgets").await;
    let first = snapshot(&h).await;
    let (status, _) = h
        .api(
            "PATCH",
            "/repos/acme/widgets/issues/3",
            Some(json!({"title": "Wrecked by a script"})),
        )
        .await;
    assert_eq!(status, 200);

    let (status, body) = get(&h, &format!("/snapshots/{first}/diff/live"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["schema_version"], 1);
    assert_eq!(body["to"]["kind"], "live");
    assert_eq!(body["summary"]["issues_changed"], 1, "{body}");
    assert_eq!(body["changes"][0]["after"], "Wrecked by a script");

    let second = snapshot(&h).await;
    let (status, body) = get(&h, &format!("/snapshots/{first}/diff/{second}"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["to"]["id"], second.as_str());
    assert_eq!(body["summary"]["total"], 1, "{body}");

    let (status, body) = get(
        &h,
        &format!("/snapshots/{first}/diff/{second}"),
        Some("text/markdown"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body.as_str().unwrap().contains("Wrecked by a script"),
        "{body}"
    );
}

#[tokio::test]
async fn bad_ids_unknown_snapshots_and_routes() {
    let h = start("acme", "widgets").await;
    let (status, body) = get(&h, "/snapshots/nope/diff/live", None).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("id")),
        "{body}"
    );
    let id = snapshot(&h).await;
    let (status, body) = get(&h, &format!("/snapshots/{id}/diff/nope"), None).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("other")),
        "{body}"
    );
    let (status, _) = get(&h, "/snapshots/01JH0000000000000000000000/diff/live", None).await;
    assert_eq!(status, 404);
    let (status, _) = get(&h, &format!("/snapshots/{id}/patch/live"), None).await;
    assert_eq!(status, 404);
}
