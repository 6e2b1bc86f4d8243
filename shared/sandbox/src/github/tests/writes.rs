//! Write semantics over HTTP: label and issue deletion, faults, the write limit, `since`,
//! milestones.

use std::time::Duration;

use serde_json::{json, Value};

use super::{all_pages, call, get, opts, send, start, AUTH, REPO};
use crate::github::SandboxOptions;
use crate::{ServerOptions, WriteLimit};

#[tokio::test]
async fn sandbox_deleting_a_label_strips_it_from_issues() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    let tagged = all_pages(
        addr,
        &format!("{REPO}/issues?state=all&labels=bug&per_page=100"),
    )
    .await;
    assert!(!tagged.is_empty());
    let before = tagged[0]["updated_at"].as_str().unwrap_or("").to_owned();
    let n = tagged[0]["number"].as_u64().unwrap_or(0);
    assert_eq!(
        call(addr, "DELETE", &format!("{REPO}/labels/BUG"), &[AUTH], None)
            .await
            .status,
        204
    );
    assert_eq!(get(addr, &format!("{REPO}/labels/bug")).await.status, 404);
    let issue = get(addr, &format!("{REPO}/issues/{n}")).await.json();
    assert!(issue["labels"]
        .as_array()
        .is_some_and(|ls| ls.iter().all(|l| l["name"] != "bug")));
    // Stripped without touching the issue, as a rename does not either.
    assert_eq!(issue["updated_at"].as_str(), Some(before.as_str()));
    let none = get(addr, &format!("{REPO}/issues?state=all&labels=bug")).await;
    assert_eq!(none.json(), json!([]));
    assert_eq!(sb.snapshot_counts().2, 11);

    // Rename is visible on issues; names with spaces are percent-encoded.
    let r = send(
        addr,
        "PATCH",
        &format!("{REPO}/labels/help%20wanted"),
        json!({"new_name": "help: wanted", "color": "00FF00"}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    // Kept as sent, like GitHub's BADA55.
    assert_eq!(r.json()["color"], "00FF00");
    assert!(r.json()["url"]
        .as_str()
        .is_some_and(|u| u.ends_with("/labels/help%3A%20wanted")));
    let dup = send(
        addr,
        "POST",
        &format!("{REPO}/labels"),
        json!({"name": "Enhancement"}),
    )
    .await;
    assert_eq!(dup.status, 422);
    assert_eq!(dup.json()["errors"][0]["code"], "already_exists");

    // Issue labels: add (creating a missing label), set, remove one, clear.
    let il = format!("{REPO}/issues/2/labels");
    let add = send(addr, "POST", &il, json!({"labels": ["brand-new"]})).await;
    assert!(add
        .json()
        .as_array()
        .is_some_and(|a| a.iter().any(|l| l["name"] == "brand-new")));
    let set = send(addr, "PUT", &il, json!(["question", "wontfix"])).await;
    assert_eq!(set.json().as_array().map(Vec::len), Some(2));
    let rm = call(addr, "DELETE", &format!("{il}/Question"), &[AUTH], None).await;
    assert_eq!(rm.json()[0]["name"], "wontfix");
    assert_eq!(
        call(addr, "DELETE", &format!("{il}/question"), &[AUTH], None)
            .await
            .status,
        404
    );
    assert_eq!(call(addr, "DELETE", &il, &[AUTH], None).await.status, 204);
    assert_eq!(get(addr, &il).await.json(), json!([]));
}

/// Issues list their labels by label id, so editing a label (which keeps its id) changes
/// neither their order nor the issues' `updated_at`.
#[tokio::test]
async fn sandbox_issue_labels_keep_id_order_through_label_edits() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    let ids = |issue: &Value| -> Vec<u64> {
        issue["labels"]
            .as_array()
            .map(|ls| ls.iter().filter_map(|l| l["id"].as_u64()).collect())
            .unwrap_or_default()
    };
    // Applied out of id (and name) order.
    let put = send(
        addr,
        "PUT",
        &format!("{REPO}/issues/3/labels"),
        json!({"labels": ["wontfix", "bug", "question"]}),
    )
    .await;
    assert_eq!(put.status, 200, "{:?}", put.json());
    let before = get(addr, &format!("{REPO}/issues/3")).await.json();
    let order = ids(&before);
    assert_eq!(order.len(), 3);
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    // Rename the first to sort last by name, the last to sort first.
    for (from, to) in [("bug", "zz-bug"), ("wontfix", "aa-wontfix")] {
        let r = send(
            addr,
            "PATCH",
            &format!("{REPO}/labels/{from}"),
            json!({"new_name": to, "color": "123456"}),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.json());
    }
    let after = get(addr, &format!("{REPO}/issues/3")).await.json();
    assert_eq!(ids(&after), order);
    assert_eq!(after["updated_at"], before["updated_at"]);
    assert!(after["labels"].as_array().is_some_and(|ls| ls
        .iter()
        .any(|l| l["name"] == "zz-bug" && l["color"] == "123456")));
}

#[tokio::test]
async fn sandbox_deleted_issue_answers_410() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    let before = sb.snapshot_counts();
    let comments = get(addr, &format!("{REPO}/issues/5")).await.json()["comments"]
        .as_u64()
        .unwrap_or(0);
    let d = call(addr, "DELETE", &format!("{REPO}/issues/5"), &[AUTH], None).await;
    assert_eq!(d.status, 204);
    let g = get(addr, &format!("{REPO}/issues/5")).await;
    assert_eq!(g.status, 410);
    assert_eq!(g.json()["message"], "This issue was deleted");
    assert_eq!(
        get(addr, &format!("{REPO}/issues/5/comments")).await.status,
        410
    );
    assert_eq!(get(addr, &format!("{REPO}/issues/999")).await.status, 404);
    let after = sb.snapshot_counts();
    assert_eq!(after.0, before.0 - 1);
    assert_eq!(after.1, before.1 - comments);
}

#[tokio::test]
async fn sandbox_faults_never_change_state() {
    let sb = start(SandboxOptions {
        server: ServerOptions {
            fault_rate: 1.0,
            ..ServerOptions::default()
        },
        ..opts()
    })
    .await;
    let addr = sb.local_addr();
    let before = sb.snapshot_counts();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let r = send(
            addr,
            "POST",
            &format!("{REPO}/issues/1/comments"),
            json!({"body": "x"}),
        )
        .await;
        seen.insert(r.status);
        if r.status == 403 {
            assert_eq!(r.header("retry-after"), Some("1"));
        }
    }
    assert_eq!(sb.snapshot_counts(), before);
    assert!(
        seen.iter().all(|s| [500, 502, 503, 403].contains(s)),
        "{seen:?}"
    );
    assert!(seen.len() >= 3, "a mix of faults: {seen:?}");
    assert_eq!(get(addr, "/_sandbox/stats").await.status, 200);
    sb.shutdown().await;

    // Half the writes fail; exactly the successful ones are applied.
    let sb = start(SandboxOptions {
        server: ServerOptions {
            fault_rate: 0.5,
            ..ServerOptions::default()
        },
        ..opts()
    })
    .await;
    let addr = sb.local_addr();
    let mut ok = 0;
    for _ in 0..40 {
        let r = send(
            addr,
            "POST",
            &format!("{REPO}/issues/1/comments"),
            json!({"body": "y"}),
        )
        .await;
        if r.status == 201 {
            ok += 1;
        }
    }
    assert!(ok > 5 && ok < 35, "{ok}");
    assert_eq!(sb.snapshot_counts().1, 600 + ok);
}

#[tokio::test]
async fn sandbox_write_limit_answers_403_with_retry_after() {
    let sb = start(SandboxOptions {
        server: ServerOptions {
            write_limit: Some(WriteLimit {
                max_writes: 3,
                per: Duration::from_secs(60),
                retry_after_secs: 7,
            }),
            ..ServerOptions::default()
        },
        ..opts()
    })
    .await;
    let addr = sb.local_addr();
    for k in 0..3 {
        let r = send(
            addr,
            "PATCH",
            &format!("{REPO}/issues/{}", k + 1),
            json!({"title": "t"}),
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let r = send(
        addr,
        "PATCH",
        &format!("{REPO}/issues/9"),
        json!({"title": "t"}),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert!(r.json()["message"]
        .as_str()
        .is_some_and(|m| m.contains("secondary rate limit")));
    assert_ne!(
        get(addr, &format!("{REPO}/issues/9")).await.json()["title"],
        "t"
    );
    assert_eq!(get(addr, &format!("{REPO}/issues/9")).await.status, 200);
}

#[tokio::test]
async fn sandbox_since_filters_and_updates() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    let p = send(
        addr,
        "PATCH",
        &format!("{REPO}/issues/3"),
        json!({"state": "closed", "state_reason": "not_planned", "labels": ["bug"],
               "assignees": ["alice"], "milestone": 2}),
    )
    .await;
    assert_eq!(p.status, 200, "{:?}", p.json());
    let issue = p.json();
    assert_eq!(issue["state_reason"], "not_planned");
    assert_eq!(issue["assignee"]["login"], "alice");
    assert_eq!(issue["milestone"]["number"], 2);
    let since = issue["updated_at"].as_str().unwrap_or("").to_owned();
    let hits = get(addr, &format!("{REPO}/issues?state=all&since={since}"))
        .await
        .json();
    let hits = hits.as_array().cloned().unwrap_or_default();
    assert_eq!(hits.len(), 1, "only the issue just written is that recent");
    assert_eq!(hits[0]["number"], 3);
    // A second write gets a strictly later timestamp, even within the same second.
    let c = send(
        addr,
        "POST",
        &format!("{REPO}/issues/4/comments"),
        json!({"body": "new"}),
    )
    .await;
    assert_eq!(c.status, 201);
    assert!(c.json()["created_at"].as_str() > Some(since.as_str()));
    let later = get(addr, &format!("{REPO}/issues/comments?since={since}"))
        .await
        .json();
    assert_eq!(later.as_array().map(Vec::len), Some(1));
    let i4 = get(addr, &format!("{REPO}/issues/4")).await.json();
    assert_eq!(i4["updated_at"], c.json()["created_at"]);
    let updated = get(
        addr,
        &format!("{REPO}/issues?state=all&sort=updated&per_page=2"),
    )
    .await
    .json();
    assert_eq!(updated[0]["number"], 4);
    assert_eq!(updated[1]["number"], 3);
    // Reopen, null milestone, comment edit/delete and the body limit.
    let r = send(
        addr,
        "PATCH",
        &format!("{REPO}/issues/3"),
        json!({"state": "open", "milestone": null}),
    )
    .await;
    assert_eq!(r.json()["state_reason"], "reopened");
    assert!(r.json()["milestone"].is_null() && r.json()["closed_at"].is_null());
    let id = c.json()["id"].as_u64().unwrap_or(0);
    let e = send(
        addr,
        "PATCH",
        &format!("{REPO}/issues/comments/{id}"),
        json!({"body": "edited"}),
    )
    .await;
    assert_eq!(e.json()["body"], "edited");
    // 262,144 bytes is the real limit (the message says 65536 characters).
    let at_limit = send(
        addr,
        "PATCH",
        &format!("{REPO}/issues/comments/{id}"),
        json!({"body": "🌈".repeat(65536)}),
    )
    .await;
    assert_eq!(at_limit.status, 200);
    let long = "x".repeat(262_145);
    let too_long = send(
        addr,
        "PATCH",
        &format!("{REPO}/issues/comments/{id}"),
        json!({"body": long}),
    )
    .await;
    assert_eq!(too_long.status, 422);
    let count = i4["comments"].as_u64().unwrap_or(0);
    assert_eq!(
        call(
            addr,
            "DELETE",
            &format!("{REPO}/issues/comments/{id}"),
            &[AUTH],
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        get(addr, &format!("{REPO}/issues/4")).await.json()["comments"].as_u64(),
        Some(count - 1)
    );
    let bad = get(addr, &format!("{REPO}/issues?since=yesterday")).await;
    assert_eq!(bad.status, 422);
    let missing = send(
        addr,
        "POST",
        &format!("{REPO}/issues"),
        json!({"body": "no title"}),
    )
    .await;
    assert_eq!(missing.status, 422);
    assert_eq!(
        missing.json()["message"],
        "Invalid request.\n\n\"title\" wasn't supplied."
    );
    let blank = send(
        addr,
        "POST",
        &format!("{REPO}/issues"),
        json!({"title": " "}),
    )
    .await;
    assert_eq!(blank.status, 422);
    assert_eq!(blank.json()["errors"][0]["field"], "title");
    assert_eq!(blank.json()["errors"][0]["code"], "missing_field");
}

#[tokio::test]
async fn sandbox_milestones() {
    let sb = start(opts()).await;
    let addr = sb.local_addr();
    let open = get(addr, &format!("{REPO}/milestones")).await.json();
    let all = get(addr, &format!("{REPO}/milestones?state=all"))
        .await
        .json();
    assert!(open.as_array().map(Vec::len) < all.as_array().map(Vec::len));
    let m2 = get(addr, &format!("{REPO}/milestones/2")).await.json();
    let in_m2 = all_pages(
        addr,
        &format!("{REPO}/issues?state=all&milestone=2&per_page=100"),
    )
    .await;
    let counted =
        m2["open_issues"].as_u64().unwrap_or(0) + m2["closed_issues"].as_u64().unwrap_or(0);
    assert_eq!(counted, in_m2.len() as u64);
    let created = send(
        addr,
        "POST",
        &format!("{REPO}/milestones"),
        json!({"title": "v3.0", "due_on": "2030-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["number"], 6);
    let closed = send(
        addr,
        "PATCH",
        &format!("{REPO}/milestones/6"),
        json!({"state": "closed"}),
    )
    .await;
    assert!(!closed.json()["closed_at"].is_null());
    assert_eq!(
        call(
            addr,
            "DELETE",
            &format!("{REPO}/milestones/2"),
            &[AUTH],
            None
        )
        .await
        .status,
        204
    );
    assert!(!in_m2.is_empty());
    for before in &in_m2 {
        let now = get(addr, &format!("{REPO}/issues/{}", before["number"]))
            .await
            .json();
        assert!(now["milestone"].is_null());
        assert_eq!(now["updated_at"], before["updated_at"], "not bumped");
    }
    assert_eq!(get(addr, &format!("{REPO}/milestones/2")).await.status, 404);
    assert_eq!(sb.snapshot_counts().3, 5);
}

#[tokio::test]
async fn sandbox_latency_delays_api_requests_only() {
    let sb = start(SandboxOptions {
        server: ServerOptions {
            latency_ms: 150,
            ..ServerOptions::default()
        },
        ..opts()
    })
    .await;
    let addr = sb.local_addr();
    let t = std::time::Instant::now();
    assert_eq!(get(addr, &format!("{REPO}/issues/1")).await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    let t = std::time::Instant::now();
    assert_eq!(get(addr, "/_sandbox/stats").await.status, 200);
    assert!(t.elapsed() < Duration::from_millis(150));
}
