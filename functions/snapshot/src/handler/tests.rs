//! The handler in-process, on memory twins and an in-process sandbox, fed recorded payloads:
//! hand-written API Gateway v2 events (`events/`) and GitHub's own webhook examples (npm
//! `@octokit/webhooks-examples`, installed by `tests/run`).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use backtrack_lambda::webhook::sign;
use backtrack_lambda::{Function, FunctionError, Invocation, Limits, Secret};
use backtrack_tests::lambda::{event, http_event, response, set_header, Harness};
use serde_json::{json, Value};

use super::Snapshot;

const POST_SNAPSHOTS: &str = include_str!("../../events/post-snapshots.json");
const POST_INVALID: &str = include_str!("../../events/post-snapshots-invalid.json");
const WEBHOOK: &str = include_str!("../../events/webhook-github.json");
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

/// The function on the harness, with the webhook secret [`SECRET`], invoked with `payload`
/// as the runtime would; the answer as the runtime serializes it.
async fn handle(h: &Harness, payload: Value) -> Result<Value, FunctionError> {
    let function = Snapshot {
        archive: h.archive.clone(),
        trackers: h.trackers.clone(),
        webhook_secret: Some(Secret::new(SECRET)),
        limits: Limits::default(),
    };
    let reply = function
        .handle(event(payload), Invocation::default())
        .await?;
    Ok(serde_json::to_value(reply).unwrap())
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

#[tokio::test]
async fn post_snapshots_takes_a_snapshot() {
    let h = Harness::start("acme", "widgets").await;
    let ev: Value = serde_json::from_str(POST_SNAPSHOTS).unwrap();
    let (status, body) = response(&handle(&h, ev).await.unwrap());
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["scope"], "github:acme/widgets");
    assert_eq!(body["name"], "before-sync");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["counts"]["issues"], 12);
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
    let (status, first) = response(&handle(&h, post(named.clone())).await.unwrap());
    assert_eq!(status, 201, "{first}");
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
    let ev = http_event(POST_SNAPSHOTS, "POST", "/snapshots", Some("{not json"));
    let (status, body) = response(&handle(&h, ev).await.unwrap());
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("body"))
    );

    let ev = http_event(POST_SNAPSHOTS, "GET", "/nowhere", None);
    let (status, body) = response(&handle(&h, ev).await.unwrap());
    assert_eq!(status, 404, "{body}");
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
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["trigger"], "push");
    assert_eq!(body["scope"], "github:Codertocat/Hello-World");

    // A redelivery of the same delivery id does nothing.
    let (status, body) = response(
        &handle(&h, delivery("push", "d-push-1", &push, signed))
            .await
            .unwrap(),
    );
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("duplicate")),
        "{body}"
    );
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
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["trigger"], "merge");
    assert!(body["name"].as_str().unwrap().starts_with("pr-"), "{body}");

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
