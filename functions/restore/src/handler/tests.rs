//! The handler in-process on memory twins and an in-process sandbox; the test plays the queue
//! (pops continuation messages and delivers them as SQS events).
#![allow(clippy::unwrap_used)]

use backtrack::serverless::testkit::{self, http_event, response};
use backtrack::serverless::JobMessage;
use backtrack::snapshot::SnapshotOptions;
use backtrack_sandbox::github::{Sandbox, SandboxOptions};
use serde_json::{json, Value};

use super::handle;

const POST_RESTORE: &str = include_str!("../../events/post-restore.json");
const GET_JOB: &str = include_str!("../../events/get-job.json");
const SQS: &str = include_str!("../../events/sqs-continue.json");

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

/// Overwrites titles and bodies of issues 1–5 and deletes a comment.
async fn chaos(h: &Harness) {
    for n in 1..=5 {
        let (status, body) = h
            .api(
                "PATCH",
                &format!("/repos/acme/widgets/issues/{n}"),
                Some(json!({"title": format!("[SYNC] {n}"), "body": "overwritten"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, comments) = h
        .api(
            "GET",
            "/repos/acme/widgets/issues/comments?per_page=1",
            None,
        )
        .await;
    let id = &comments[0]["id"];
    let (status, _) = h
        .api(
            "DELETE",
            &format!("/repos/acme/widgets/issues/comments/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
}

async fn post(h: &Harness, id: &str, body: Value) -> (u16, Value) {
    let ev = http_event(
        POST_RESTORE,
        "POST",
        &format!("/snapshots/{id}/restore"),
        Some(&body.to_string()),
    );
    response(&handle(&h.deps, ev, None).await.unwrap())
}

async fn job(h: &Harness, id: &str) -> Value {
    let ev = http_event(GET_JOB, "GET", &format!("/jobs/{id}"), None);
    let (status, body) = response(&handle(&h.deps, ev, None).await.unwrap());
    assert_eq!(status, 200, "{body}");
    body
}

/// Delivers `msg` as the recorded SQS event would carry it.
async fn deliver(h: &Harness, msg: &JobMessage, receive_count: u32) -> Value {
    let mut ev: Value = serde_json::from_str(SQS).unwrap();
    ev["Records"][0]["body"] = serde_json::to_string(msg).unwrap().into();
    ev["Records"][0]["attributes"]["ApproximateReceiveCount"] = receive_count.to_string().into();
    handle(&h.deps, ev, None).await.unwrap()
}

#[tokio::test]
async fn preview_by_default_then_a_job_in_slices_that_never_repeats_a_write() {
    let mut h = start("acme", "widgets").await;
    h.deps.limits.max_ops = Some(2);
    let id = snapshot(&h).await;
    chaos(&h).await;

    let writes = h.sandbox.stats().writes;
    let (status, body) = post(&h, &id, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["executed"], false);
    let planned = body["plan"]["ops"].as_array().unwrap().len();
    assert_eq!(planned, 6, "{body}");
    assert_eq!(h.sandbox.stats().writes, writes, "a preview writes nothing");

    let (status, body) = post(&h, &id, json!({"execute": true})).await;
    assert_eq!(status, 202, "{body}");
    let job_id = body["job"]["id"].as_str().unwrap().to_string();
    assert_eq!(body["job"]["status"], "queued");

    // While the job holds the scope, another restore is refused naming it.
    let (status, body) = post(&h, &id, json!({"execute": true})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["job"], job_id.as_str());

    let mut slices = 0;
    while let Some(msg) = h.queue.pop() {
        let out = deliver(&h, &msg, 1).await;
        slices += 1;
        if slices == 2 {
            // A duplicated delivery of a message already handled: nothing is written twice.
            deliver(&h, &msg, 2).await;
            while h.queue.len() > 1 {
                h.queue.pop();
            }
        }
        assert!(slices < 20, "the job never finished: {out}");
        if slices == 1 {
            assert_eq!(job(&h, &job_id).await["status"], "running");
        }
    }
    assert!(
        slices >= 3,
        "6 operations at 2 per slice take at least 3 slices, took {slices}"
    );
    let status = job(&h, &job_id).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["error"], Value::Null, "{status}");
    assert_eq!(status["done_ops"], 6);
    assert_eq!(
        h.sandbox.stats().writes - writes,
        6,
        "exactly one write per planned operation"
    );

    // Restored: the plan is empty now, and the scope is free again.
    let (status, body) = post(&h, &id, json!({"execute": false})).await;
    assert_eq!(status, 200);
    assert_eq!(body["plan"]["ops"].as_array().unwrap().len(), 0, "{body}");
    assert!(h
        .deps
        .archive
        .catalog
        .current_lock(&"github:acme/widgets".parse().unwrap())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn invalid_restores_name_the_field() {
    let h = start("acme", "widgets").await;
    let id = snapshot(&h).await;
    for (body, field) in [
        (json!({"execute": "yes"}), "execute"),
        (json!({"only": "12"}), "only"),
        (json!({"fields": ["colour"]}), "fields"),
        (json!({"close_new_issues": 1}), "close_new_issues"),
    ] {
        let (status, out) = post(&h, &id, body.clone()).await;
        assert_eq!(
            (status, out["error"]["field"].as_str()),
            (400, Some(field)),
            "{body}: {out}"
        );
    }
    let (status, out) = post(&h, "not-an-id", json!({})).await;
    assert_eq!((status, out["error"]["field"].as_str()), (400, Some("id")));
    let (status, _) = post(&h, "01JH0000000000000000000000", json!({})).await;
    assert_eq!(status, 404);
    let ev = http_event(GET_JOB, "GET", "/jobs/01JH0000000000000000000000", None);
    assert_eq!(response(&handle(&h.deps, ev, None).await.unwrap()).0, 404);
    let ev = http_event(GET_JOB, "DELETE", "/jobs/01JH0000000000000000000000", None);
    assert_eq!(response(&handle(&h.deps, ev, None).await.unwrap()).0, 404);
    // An unreadable queue message is dropped, not retried forever.
    let mut ev: Value = serde_json::from_str(SQS).unwrap();
    ev["Records"][0]["body"] = "garbage".into();
    assert!(handle(&h.deps, ev, None).await.is_ok());
}
