//! The handler in-process, on memory twins and an in-process sandbox, fed recorded payloads:
//! hand-written API Gateway v2 events (`events/`) and GitHub's own webhook examples (npm
//! `@octokit/webhooks-examples`, installed by `tests/run`).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use backtrack::events::AllowList;
use backtrack::snapshot::SnapshotName;
use backtrack_lambda::webhook::sign;
use backtrack_lambda::{FunctionError, Invocation, JobMessage, Limits, Secret};
use backtrack_tests::lambda::{event, http_event, response, set_header, Harness};
use serde_json::{json, Value};

use super::Snapshot;

const POST_SNAPSHOTS: &str = include_str!("../../events/post-snapshots.json");
const POST_INVALID: &str = include_str!("../../events/post-snapshots-invalid.json");
const WEBHOOK: &str = include_str!("../../events/webhook-github.json");
const JIRA_WEBHOOK: &str = include_str!("../../events/webhook-jira.json");
const JIRA_SECRET: &str = "jira-webhook-test-secret";
const SCHEDULE: &str = include_str!("../../events/schedule.json");
const SECRET: &str = "webhook-test-secret";
const EXAMPLES_ENV: &str = "BACKTRACK_WEBHOOK_EXAMPLES";

/// GitHub's webhook examples: `tests/run` installs them and sets the variable; a missing
/// file fails loudly rather than skipping.
fn examples(event: &str) -> Vec<Value> {
    let path = std::env::var(EXAMPLES_ENV).map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
            "../../tests/.cache/npm-webhooks/node_modules/@octokit/webhooks-examples/api.github.com/index.json",
        )
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} ({e}): run tests/run, which installs npm @octokit/webhooks-examples and sets {EXAMPLES_ENV}",
            path.display()
        )
    });
    let all: Vec<Value> = serde_json::from_str(&text).unwrap();
    all.into_iter()
        .find(|e| e["name"] == event)
        .and_then(|e| e["examples"].as_array().cloned())
        .unwrap_or_else(|| panic!("no {event} examples in {}", path.display()))
}

fn push_to_default_branch() -> Value {
    examples("push")
        .into_iter()
        .find(|p| {
            p["ref"].as_str()
                == Some(&format!(
                    "refs/heads/{}",
                    p["repository"]["default_branch"].as_str().unwrap()
                ))
        })
        .unwrap()
}

fn closed_pull_request() -> Value {
    examples("pull_request")
        .into_iter()
        .find(|p| p["action"] == "closed")
        .unwrap()
}

async fn harness() -> Harness {
    // The examples' repository.
    Harness::start("Codertocat", "Hello-World").await
}

/// The function on the harness, with the webhook secret [`SECRET`] and webhooks allowed
/// for the examples' owner and `acme`, invoked with `payload` as the runtime would; the
/// answer as the runtime serializes it.
async fn handle(h: &Harness, payload: Value) -> Result<Value, FunctionError> {
    handle_allowing(h, "Codertocat, acme", payload).await
}

async fn handle_allowing(h: &Harness, allow: &str, payload: Value) -> Result<Value, FunctionError> {
    let function = Snapshot {
        archive: h.archive.clone(),
        trackers: h.trackers.clone(),
        webhook_secret: Some(Secret::new(SECRET)),
        allow: AllowList::parse(allow).unwrap(),
        jira_webhook_secret: Some(Secret::new(JIRA_SECRET)),
        jira_debounce: Default::default(),
        queue: h.queue.clone(),
        limits: Limits::default(),
        github: backtrack::fleet::Credentials::token("http://127.0.0.1:9", None),
    };
    backtrack_lambda::invoke(&function, event(payload), Invocation::default())
        .await
        .map(|reply| serde_json::to_value(reply).unwrap())
}

/// Plays the snapshot job queue: delivers each queued message as an SQS event, until none
/// is left; returns each invocation's answer.
async fn drain(h: &Harness) -> Vec<Value> {
    let mut out = Vec::new();
    while let Some(msg) = h.queue.pop() {
        out.push(handle(h, sqs(&msg)).await.unwrap());
        assert!(out.len() < 20, "the queue never empties: {out:?}");
    }
    out
}

fn sqs(msg: &JobMessage) -> Value {
    json!({"Records": [{"messageId": "m-1", "eventSource": "aws:sqs",
        "body": serde_json::to_string(msg).unwrap(), "attributes": {"ApproximateReceiveCount": "1"}}]})
}

/// A webhook delivery as API Gateway passes it on: `body` signed with `secret` (or not).
fn delivery(event: &str, id: &str, body: &str, signature: Option<String>) -> Value {
    let mut ev = http_event(WEBHOOK, "POST", "/webhooks/github", Some(body));
    set_header(&mut ev, "x-github-event", Some(event));
    set_header(&mut ev, "x-github-delivery", Some(id));
    set_header(&mut ev, "x-hub-signature-256", signature.as_deref());
    ev
}

async fn snapshots(h: &Harness) -> usize {
    h.archive.raw_catalog().list(None).await.unwrap().len()
}

/// The library's rule: a first snapshot (size unknown) is queued, 202 with the job; once
/// the scope is known to be small, the request waits for its capture, 201.
#[tokio::test]
async fn post_snapshots_queues_a_first_snapshot_and_takes_a_small_one_at_once() {
    let h = Harness::start("acme", "widgets").await;
    let ev: Value = serde_json::from_str(POST_SNAPSHOTS).unwrap();
    let (status, body) = response(&handle(&h, ev.clone()).await.unwrap());
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "queued");
    let job = body["job"].as_str().unwrap().to_string();
    assert_eq!(body["status_url"], format!("/jobs/{job}"));
    // Its snapshot is reserved at once: pending, named, nothing captured.
    let reserved: backtrack::SnapshotId = body["snapshot"].as_str().unwrap().parse().unwrap();
    assert_eq!(body["snapshot_url"], format!("/snapshots/{reserved}"));
    assert_eq!(snapshots(&h).await, 1);
    let entry = h.archive.entry(&reserved).await.unwrap().unwrap();
    assert_eq!(entry.status.as_str(), "pending");
    assert_eq!(entry.name.as_deref(), Some("before-sync"));
    let ran = drain(&h).await;
    assert_eq!(ran[0]["jobs"][0]["outcome"], "finished", "{ran:?}");
    let row = h.archive.job(&job.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(row.status.as_str(), "completed");
    let taken = row.capture.unwrap().snapshot.unwrap();
    assert_eq!(
        taken, reserved,
        "the job completes the snapshot it reserved"
    );
    let entry = h.archive.entry(&taken).await.unwrap().unwrap();
    assert_eq!(entry.status.as_str(), "completed");
    assert_eq!(entry.name.as_deref(), Some("before-sync"));
    assert_eq!(entry.counts.issues, 12);

    let mut again = ev;
    again["body"] = json!(json!({"scope": "github:acme/widgets"}).to_string());
    let (status, body) = response(&handle(&h, again).await.unwrap());
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["scope"], "github:acme/widgets");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["counts"]["issues"], 12);
    assert!(h.queue.is_empty());
}

/// A job that finds its scope held waits: its message comes back after a delay, and the
/// job stays queued until the scope is free.
#[tokio::test]
async fn a_queued_snapshot_waits_for_a_held_scope() {
    let h = Harness::start("acme", "widgets").await;
    let ev: Value = serde_json::from_str(POST_SNAPSHOTS).unwrap();
    let (status, body) = response(&handle(&h, ev).await.unwrap());
    assert_eq!(status, 202, "{body}");
    let job: backtrack::JobId = body["job"].as_str().unwrap().parse().unwrap();
    let scope: backtrack::Scope = "github:acme/widgets".parse().unwrap();
    let lock = backtrack::catalog::LockInfo::new(
        &scope,
        "a CLI rollback",
        std::time::Duration::from_secs(600),
    );
    h.archive.raw_catalog().lock(&lock).await.unwrap();
    let msg = h.queue.pop().unwrap();
    let out = handle(&h, sqs(&msg)).await.unwrap();
    assert_eq!(out["jobs"][0]["outcome"], "waiting", "{out}");
    assert!(out["jobs"][0]["holder"]
        .as_str()
        .unwrap()
        .contains("a CLI rollback"));
    let (again, delay) = h.queue.pop_delayed().unwrap();
    assert_eq!((again.job, delay.as_secs()), (job, 30));
    assert_eq!(
        h.archive.job(&job).await.unwrap().unwrap().status.as_str(),
        "queued"
    );
    h.archive
        .raw_catalog()
        .unlock(&scope, &lock.token)
        .await
        .unwrap();
    let out = handle(&h, sqs(&again)).await.unwrap();
    assert_eq!(out["jobs"][0]["outcome"], "finished", "{out}");
    assert_eq!(snapshots(&h).await, 1);
    // The job released the scope's lock it captured under.
    assert!(h
        .archive
        .raw_catalog()
        .current_lock(&scope)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_reused_name_is_refused_unless_forced() {
    let h = Harness::start("acme", "widgets").await;
    let post = |body: Value| {
        http_event(
            POST_SNAPSHOTS,
            "POST",
            "/snapshots",
            Some(&body.to_string()),
        )
    };
    let named = json!({"scope": "github:acme/widgets", "name": "é".repeat(100)});
    let (status, queued) = response(&handle(&h, post(named.clone())).await.unwrap());
    assert_eq!(status, 202, "{queued}");
    drain(&h).await;
    let first = h.archive.entries(None).await.unwrap()[0].clone();
    let first = json!({"id": first.id});
    let (status, body) = response(&handle(&h, post(named.clone())).await.unwrap());
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "refused");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(first["id"].as_str().unwrap()), "{message}");
    assert_eq!(snapshots(&h).await, 1);
    let mut forced = named;
    forced["force"] = json!(true);
    let (status, body) = response(&handle(&h, post(forced)).await.unwrap());
    assert_eq!(status, 201, "{body}");
    assert_eq!(snapshots(&h).await, 2);
}

#[tokio::test]
async fn invalid_requests_name_the_field() {
    let h = Harness::start("acme", "widgets").await;
    let ev: Value = serde_json::from_str(POST_INVALID).unwrap();
    let (status, body) = response(&handle(&h, ev).await.unwrap());
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "scope");
    assert_eq!(body["error"]["retryable"], false);

    for (payload, field) in [
        (json!({"scope": "gitlab:x/y"}), "scope"),
        (json!({"scope": 7}), "scope"),
        (
            json!({"scope": "github:acme/widgets", "name": "latest"}),
            "name",
        ),
        (json!({"scope": "github:acme/widgets", "name": 3}), "name"),
        // The CLI's rules, from the same library type.
        (
            json!({"scope": "github:acme/widgets", "name": "a\u{202e}b"}),
            "name",
        ),
        (
            json!({"scope": "github:acme/widgets", "name": "01m8p5p6gd"}),
            "name",
        ),
        (
            json!({"scope": "github:acme/widgets", "name": "é".repeat(101)}),
            "name",
        ),
        (
            json!({"scope": "github:acme/widgets", "name": "x", "force": "yes"}),
            "force",
        ),
        // Unknown fields are refused naming them, not dropped.
        (json!({"scope": "github:acme/widgets", "Name": "x"}), "Name"),
        (
            json!({"scope": "github:acme/widgets", "forse": true}),
            "forse",
        ),
    ] {
        let ev = http_event(
            POST_SNAPSHOTS,
            "POST",
            "/snapshots",
            Some(&payload.to_string()),
        );
        let (status, body) = response(&handle(&h, ev).await.unwrap());
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (400, Some(field)),
            "{payload}: {body}"
        );
    }
    // A 5 MiB scope is refused in a short answer (echoed input is capped).
    let huge = json!({"scope": format!("github:acme/{}", "w x ".repeat(5 << 18))});
    let ev = http_event(
        POST_SNAPSHOTS,
        "POST",
        "/snapshots",
        Some(&huge.to_string()),
    );
    let out = handle(&h, ev).await.unwrap();
    let (status, body) = response(&out);
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("scope"))
    );
    assert!(out["body"].as_str().unwrap().len() < 2_048, "{body}");
    let ev = http_event(POST_SNAPSHOTS, "POST", "/snapshots", Some("{not json"));
    let (status, body) = response(&handle(&h, ev).await.unwrap());
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("body"))
    );

    let ev = http_event(POST_SNAPSHOTS, "GET", "/nowhere", None);
    let (status, body) = response(&handle(&h, ev).await.unwrap());
    assert_eq!(status, 404, "{body}");

    // A wrong method on a known path: 405 naming the methods the API has there.
    let ev = http_event(POST_SNAPSHOTS, "PUT", "/snapshots", Some("{}"));
    let out = handle(&h, ev).await.unwrap();
    assert_eq!(out["headers"]["allow"], "GET, POST", "{out}");
    let (status, body) = response(&out);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );

    // A repository that does not exist (or the token cannot see): 404 saying so, no job.
    let ev = http_event(
        POST_SNAPSHOTS,
        "POST",
        "/snapshots",
        Some(&json!({"scope": "github:acme/nope"}).to_string()),
    );
    let (status, body) = response(&handle(&h, ev).await.unwrap());
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("acme/nope"),
        "{body}"
    );
    assert!(h.queue.is_empty());
    assert_eq!(snapshots(&h).await, 0);
}

#[tokio::test]
async fn webhooks_snapshot_pushes_to_the_default_branch_and_merged_prs_once() {
    let h = harness().await;
    let push = push_to_default_branch().to_string();
    let signed = Some(sign(SECRET.as_bytes(), push.as_bytes()));
    let out = handle(&h, delivery("push", "d-push-1", &push, signed.clone()))
        .await
        .unwrap();
    let (status, body) = response(&out);
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "queued");
    assert_eq!(body["scope"], "github:Codertocat/Hello-World");
    assert_eq!(
        h.sandbox.stats().total,
        0,
        "the answer comes before any GitHub request"
    );
    drain(&h).await;
    let taken = h.archive.entries(None).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].trigger.to_string(), "push");
    assert!(
        taken[0].name.as_deref().unwrap().starts_with("push-"),
        "{:?}",
        taken[0].name
    );

    // A redelivery of the same delivery id does nothing; nor does the same signed body
    // replayed under a new delivery id (the id is not covered by the signature).
    for (id, of) in [("d-push-1", "delivery"), ("d-push-2", "event")] {
        let (status, body) = response(
            &handle(&h, delivery("push", id, &push, signed.clone()))
                .await
                .unwrap(),
        );
        assert_eq!(
            (status, body["status"].as_str(), body["of"].as_str()),
            (200, Some("duplicate"), Some(of)),
            "{body}"
        );
    }
    assert!(h.queue.is_empty());
    assert_eq!(snapshots(&h).await, 1);

    // Closed without merge: acknowledged, ignored.
    let closed = closed_pull_request();
    let text = closed.to_string();
    let sig = Some(sign(SECRET.as_bytes(), text.as_bytes()));
    let (status, body) = response(
        &handle(&h, delivery("pull_request", "d-pr-1", &text, sig))
            .await
            .unwrap(),
    );
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("ignored")),
        "{body}"
    );
    assert_eq!(snapshots(&h).await, 1);

    // The same pull request, merged.
    let mut merged = closed;
    merged["pull_request"]["merged"] = json!(true);
    let text = merged.to_string();
    let sig = Some(sign(SECRET.as_bytes(), text.as_bytes()));
    let (status, body) = response(
        &handle(&h, delivery("pull_request", "d-pr-2", &text, sig))
            .await
            .unwrap(),
    );
    assert_eq!(status, 202, "{body}");
    assert!(body["name"].as_str().unwrap().starts_with("pr-"), "{body}");
    drain(&h).await;
    assert_eq!(
        h.archive.entries(None).await.unwrap()[0]
            .trigger
            .to_string(),
        "merge"
    );

    // A tag push and other events: ignored.
    let tag = examples("push")
        .into_iter()
        .find(|p| p["ref"].as_str().unwrap().starts_with("refs/tags/"))
        .unwrap()
        .to_string();
    let sig = Some(sign(SECRET.as_bytes(), tag.as_bytes()));
    let (status, _) = response(
        &handle(&h, delivery("push", "d-tag", &tag, sig))
            .await
            .unwrap(),
    );
    assert_eq!(status, 202);
    let ping = r#"{"zen":"Design for failure.","hook_id":1}"#;
    let sig = Some(sign(SECRET.as_bytes(), ping.as_bytes()));
    let (status, _) = response(
        &handle(&h, delivery("ping", "d-ping", ping, sig))
            .await
            .unwrap(),
    );
    assert_eq!(status, 202);
    assert_eq!(snapshots(&h).await, 2);
}

/// Issue 22 item 2: outside the allow-list, a signed delivery is acknowledged and ignored
/// before any GitHub request or catalog write, with the same answer for a repository the
/// token can read and one it cannot.
#[tokio::test]
async fn deliveries_outside_the_allow_list_are_ignored_alike_without_a_request() {
    let h = harness().await;
    let readable = push_to_default_branch();
    let mut unreadable = readable.clone();
    unreadable["repository"]["full_name"] = json!("Codertocat/No-Such-Repo");
    let mut answers = Vec::new();
    for (i, payload) in [readable, unreadable].into_iter().enumerate() {
        let text = payload.to_string();
        let sig = Some(sign(SECRET.as_bytes(), text.as_bytes()));
        let out = handle_allowing(&h, "acme", delivery("push", &format!("d-{i}"), &text, sig))
            .await
            .unwrap();
        let (status, body) = response(&out);
        assert_eq!(
            (status, body["status"].as_str()),
            (202, Some("ignored")),
            "{body}"
        );
        answers.push(
            body["reason"]
                .as_str()
                .unwrap()
                .replace("No-Such-Repo", "Hello-World"),
        );
    }
    assert_eq!(
        answers[0], answers[1],
        "the answers tell the repositories apart"
    );
    assert!(answers[0].contains("allow-list"), "{}", answers[0]);
    assert_eq!(h.sandbox.stats().total, 0, "no GitHub request");
    assert!(h.queue.is_empty());
    assert_eq!(snapshots(&h).await, 0);
    // Nothing was claimed either: the same deliveries for an allowed repository proceed.
    let text = push_to_default_branch().to_string();
    let sig = Some(sign(SECRET.as_bytes(), text.as_bytes()));
    let (status, _) = response(
        &handle(&h, delivery("push", "d-0", &text, sig))
            .await
            .unwrap(),
    );
    assert_eq!(status, 202);
    assert_eq!(h.queue.len(), 1);
}

/// Issue 22 item 4: a push whose `after` is not ASCII gets a valid short name.
#[tokio::test]
async fn a_hostile_after_gets_a_valid_short_name() {
    let h = harness().await;
    let mut push = push_to_default_branch();
    push["after"] = json!(format!("é\n\u{7}\u{202e}{}", "ü".repeat(100_000)));
    let text = push.to_string();
    let sig = Some(sign(SECRET.as_bytes(), text.as_bytes()));
    let (status, body) = response(
        &handle(&h, delivery("push", "d-x", &text, sig))
            .await
            .unwrap(),
    );
    assert_eq!(status, 202, "{body}");
    drain(&h).await;
    let name = h.archive.entries(None).await.unwrap()[0]
        .name
        .clone()
        .unwrap();
    assert!(SnapshotName::parse(&name).is_ok(), "{name:?}");
    assert!(name.len() <= 12 && name.is_ascii(), "{name:?}");
}

#[tokio::test]
async fn forged_webhooks_are_refused_without_work() {
    let h = harness().await;
    let push = push_to_default_branch().to_string();
    let altered = push.replacen("Codertocat", "Mallory", 1);
    let cases = [
        (
            "wrong secret",
            push.clone(),
            Some(sign(b"not-the-secret", push.as_bytes())),
        ),
        ("no signature", push.clone(), None),
        (
            "body altered after signing",
            altered,
            Some(sign(SECRET.as_bytes(), push.as_bytes())),
        ),
        ("malformed", push.clone(), Some("sha256=zz".into())),
    ];
    for (i, (case, body, sig)) in cases.into_iter().enumerate() {
        let out = handle(&h, delivery("push", &format!("forged-{i}"), &body, sig))
            .await
            .unwrap();
        let (status, body) = response(&out);
        assert_eq!(status, 401, "{case}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{case}");
    }
    assert_eq!(snapshots(&h).await, 0, "no forged delivery took a snapshot");
    assert_eq!(
        h.sandbox.stats().total,
        0,
        "no forged delivery reached GitHub"
    );
}

#[tokio::test]
async fn a_schedule_snapshots_every_scope_and_applies_retention() {
    let h = harness().await;
    let mut ev: Value = serde_json::from_str(SCHEDULE).unwrap();
    ev["detail"]["scopes"] = json!(["github:Codertocat/Hello-World"]);
    ev["detail"]["retention"] = json!({"keep_last": 1});
    handle(&h, ev.clone()).await.unwrap();
    let out = handle(&h, ev).await.unwrap();
    assert_eq!(out["snapshots"][0]["status"], "completed", "{out}");
    assert_eq!(out["snapshots"][0]["pruned"]["snapshots"], 1, "{out}");
    let kept = h.archive.raw_catalog().list(None).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].trigger.to_string(), "schedule");

    // A schedule's constant input (no EventBridge envelope) works the same; a bad one fails
    // naming the field, without retry.
    let out = handle(&h, json!({"scopes": ["github:Codertocat/Hello-World"]}))
        .await
        .unwrap();
    assert_eq!(out["snapshots"][0]["status"], "completed");
    let err = handle(&h, json!({"scopes": []})).await.unwrap_err();
    assert!(
        err.message.starts_with("scopes:") && !err.retryable,
        "{err}"
    );
}

#[tokio::test]
async fn a_retention_span_that_would_overflow_is_refused_not_a_panic() {
    let h = harness().await;
    for days in [u64::MAX, 36_601] {
        let err = handle(
            &h,
            json!({"scopes": ["github:Codertocat/Hello-World"],
                   "retention": {"keep_within_days": days}}),
        )
        .await
        .unwrap_err();
        assert!(
            err.message.contains("keep_within_days") && !err.retryable,
            "{err}"
        );
    }
}

/// A Jira delivery as API Gateway passes it on: `body` signed with `secret` (or not), with
/// Jira Cloud's delivery id when given.
fn jira_delivery(body: &Value, id: Option<&str>, signature: Option<String>) -> Value {
    let body = body.to_string();
    let mut ev = http_event(JIRA_WEBHOOK, "POST", "/webhooks/jira", Some(&body));
    set_header(&mut ev, "x-atlassian-webhook-identifier", id);
    set_header(&mut ev, "x-hub-signature", signature.as_deref());
    ev
}

fn jira_issue_updated(key: &str) -> Value {
    json!({"timestamp": 1_764_528_000_000_u64, "webhookEvent": "jira:issue_updated",
           "issue_event_type_name": "issue_generic",
           "issue": {"id": "10001", "key": key,
                     "fields": {"project": {"key": "PROJ"}, "summary": "Rewritten"}}})
}

/// Issue 14 item 7: Jira's `X-Hub-Signature` is checked before anything else (401 and
/// nothing done when missing, malformed or wrong, or signed for GitHub's header); a signed
/// flood of deliveries for one project queues one delayed snapshot per allowed scope and
/// window; a retried delivery is a duplicate.
#[tokio::test]
async fn jira_webhooks_are_verified_and_debounced_per_scope() {
    let h = harness().await;
    let allow = "jira:PROJ, jira:PROJ-1, jira:OTHER";
    let body = jira_issue_updated("PROJ-7");
    let signed = sign(JIRA_SECRET.as_bytes(), body.to_string().as_bytes());
    for (why, ev) in [
        ("missing", jira_delivery(&body, Some("d-0"), None)),
        (
            "wrong secret",
            jira_delivery(
                &body,
                Some("d-0"),
                Some(sign(b"guess", body.to_string().as_bytes())),
            ),
        ),
        (
            "malformed",
            jira_delivery(&body, Some("d-0"), Some("sha256=zz".into())),
        ),
        (
            "another body",
            jira_delivery(
                &jira_issue_updated("PROJ-8"),
                Some("d-0"),
                Some(signed.clone()),
            ),
        ),
    ] {
        let (status, answer) = response(&handle_allowing(&h, allow, ev).await.unwrap());
        assert_eq!(status, 401, "{why}: {answer}");
        assert!(
            answer.to_string().contains("X-Hub-Signature"),
            "{why}: {answer}"
        );
    }
    // GitHub's header on Jira's route is not Jira's signature.
    let mut github_style = jira_delivery(&body, Some("d-0"), None);
    set_header(&mut github_style, "x-hub-signature-256", Some(&signed));
    let (status, _) = response(&handle_allowing(&h, allow, github_style).await.unwrap());
    assert_eq!(status, 401);
    assert!(h.queue.is_empty(), "a refused delivery queued something");
    assert!(h.archive.raw_catalog().list(None).await.unwrap().is_empty());

    // Signed: one delayed job for each allowed scope of the project.
    let (status, answer) = response(
        &handle_allowing(
            &h,
            allow,
            jira_delivery(&body, Some("d-1"), Some(signed.clone())),
        )
        .await
        .unwrap(),
    );
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "queued", "{answer}");
    let scopes: Vec<&str> = answer["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scope"].as_str().unwrap())
        .collect();
    assert_eq!(scopes, ["jira:PROJ", "jira:PROJ-1"], "{answer}");
    assert_eq!(h.queue.len(), 2);

    // The same delivery again (Jira's retry): a duplicate. Another delivery of the window
    // (the minute-long default): debounced, nothing more queued.
    let (status, again) = response(
        &handle_allowing(
            &h,
            allow,
            jira_delivery(&body, Some("d-1"), Some(signed.clone())),
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        (status, again["of"].as_str()),
        (200, Some("delivery")),
        "{again}"
    );
    let other = jira_issue_updated("PROJ-9");
    let other_signed = sign(JIRA_SECRET.as_bytes(), other.to_string().as_bytes());
    let (status, later) = response(
        &handle_allowing(&h, allow, jira_delivery(&other, None, Some(other_signed)))
            .await
            .unwrap(),
    );
    if later["status"] == "queued" {
        // The window closed between the two deliveries: a new window, new jobs.
        assert_eq!(h.queue.len(), 4, "{later}");
    } else {
        assert_eq!(
            (status, later["status"].as_str()),
            (202, Some("debounced")),
            "{later}"
        );
        assert_eq!(h.queue.len(), 2);
    }
    let (first, delay) = h.queue.pop_delayed().unwrap();
    assert!(
        delay > std::time::Duration::ZERO && delay <= std::time::Duration::from_secs(60),
        "{delay:?}"
    );
    let job = h.archive.job(&first.job).await.unwrap().unwrap();
    let capture = job.capture.unwrap();
    assert_eq!(capture.trigger.as_str(), "webhook");
    assert_eq!(capture.name.as_deref(), Some("jira-PROJ-7-updated"));

    // Outside the allow-list: acknowledged, ignored.
    let foreign = json!({"webhookEvent": "jira:issue_created",
                         "issue": {"key": "MINE-1", "fields": {"project": {"key": "MINE"}}}});
    let foreign_signed = sign(JIRA_SECRET.as_bytes(), foreign.to_string().as_bytes());
    let (status, ignored) = response(
        &handle_allowing(
            &h,
            allow,
            jira_delivery(&foreign, Some("d-9"), Some(foreign_signed)),
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        (status, ignored["status"].as_str()),
        (202, Some("ignored")),
        "{ignored}"
    );
}
