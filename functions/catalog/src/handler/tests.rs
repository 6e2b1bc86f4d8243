//! The handler in-process on memory twins and an in-process sandbox.
#![allow(clippy::unwrap_used)]

use backtrack_lambda::{Function, Invocation};
use backtrack_tests::lambda::{event, http_event, response, Harness};
use serde_json::Value;

use super::Catalog;

const LIST: &str = include_str!("../../events/list-snapshots.json");
const DELETE: &str = include_str!("../../events/delete-snapshot.json");
const SCOPE: &str = "github:acme/widgets";

async fn handle(h: &Harness, payload: Value) -> (u16, Value) {
    let function = Catalog {
        archive: h.archive.clone(),
    };
    let reply = function.handle(event(payload), Invocation::default()).await;
    response(&reply.unwrap())
}

async fn call(h: &Harness, fixture: &str, method: &str, path: &str) -> (u16, Value) {
    handle(h, http_event(fixture, method, path, None)).await
}

#[tokio::test]
async fn lists_shows_and_deletes_snapshots_refusing_pinned_ones() {
    let h = Harness::start("acme", "widgets").await;
    // The recorded event lists one scope.
    let (status, body) = handle(&h, serde_json::from_str(LIST).unwrap()).await;
    assert_eq!(
        (status, body["snapshots"].as_array().unwrap().len()),
        (200, 0)
    );

    let (a, b) = (h.snapshot(SCOPE).await, h.snapshot(SCOPE).await);
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

    h.archive
        .raw_catalog()
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
    let (status, body) = call(&h, LIST, "PUT", "/snapshots").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let (status, body) = call(&h, LIST, "GET", "/snapshots?scope=x&sort=asc").await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("sort")),
        "{body}"
    );
}

/// Issue 22 item 5: the target of an unfinished restore job is refused naming the job,
/// even with `force`; once the job is finished it can go.
#[tokio::test]
async fn a_snapshot_a_restore_job_needs_is_not_deleted() {
    use backtrack::catalog::{JobEntry, JobKind, JobStatus};
    let h = Harness::start("acme", "widgets").await;
    let a = h.snapshot(SCOPE).await;
    let now = chrono::Utc::now();
    let job = JobEntry {
        id: backtrack::JobId::new(),
        scope: SCOPE.parse().unwrap(),
        kind: JobKind::Restore,
        target: Some(a.parse().unwrap()),
        capture: None,
        resume_key: "k".into(),
        plan_key: "p".into(),
        plan_hash: None,
        request_hash: None,
        status: JobStatus::Running,
        pre_snapshot: None,
        total_ops: 3,
        created_at: now,
        updated_at: now,
        error: None,
    };
    let catalog = h.archive.raw_catalog();
    catalog.create_job(&job).await.unwrap();
    for path in [
        format!("/snapshots/{a}"),
        format!("/snapshots/{a}?force=true"),
    ] {
        let (status, body) = call(&h, DELETE, "DELETE", &path).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "snapshot_in_use", "{body}");
        assert_eq!(body["error"]["job"], job.id.to_string(), "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("target"),
            "{body}"
        );
    }
    let mut done = job.clone();
    done.status = JobStatus::Completed;
    catalog.update_job(&done, JobStatus::Running).await.unwrap();
    let (status, body) = call(&h, DELETE, "DELETE", &format!("/snapshots/{a}")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn other_events_are_not_http_requests() {
    let e = serde_json::from_value::<<Catalog as Function>::Event>(
        serde_json::json!({"Records": [{"body": "{}"}]}),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("API Gateway HTTP API"), "{e}");
}
