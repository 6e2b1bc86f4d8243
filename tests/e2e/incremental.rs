//! Issue 8: incremental snapshots list only what changed, merge it into the parent, and
//! notice deletions — proven by comparing each incremental snapshot with a full one taken
//! right after it, record by record.

use serde_json::{json, Value};

use crate::snapshot::records_text;
use crate::util::{SandboxProc, User};

const SCOPE: &str = "github:acme/widgets";
const REPO: &str = "/repos/acme/widgets";

fn snapshot(user: &User, extra: &[&str]) -> Value {
    let mut args = vec!["--json", "snapshot", "create", SCOPE];
    args.extend_from_slice(extra);
    user.run(&args).ok().json()
}

fn id(report: &Value) -> &str {
    report["id"].as_str().unwrap()
}

/// The ids of one issue's comments, in creation order.
fn comment_ids(sandbox: &SandboxProc, issue: u64) -> Vec<u64> {
    sandbox
        .list_all(&format!("{REPO}/issues/{issue}/comments"))
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect()
}

fn call(sandbox: &SandboxProc, method: &str, path: &str, body: Option<Value>) {
    // Retries what `--fault-rate` injects (5xx, secondary-limit 403/429), as any client must.
    for attempt in 0..30 {
        let (status, reply) = sandbox.api(method, path, body.clone());
        if (200..300).contains(&status) || (attempt > 0 && method == "DELETE" && status == 404) {
            return;
        }
        assert!(
            status >= 500 || status == 403 || status == 429,
            "{method} {path}: {status} {reply}"
        );
    }
    panic!("{method} {path}: still failing after 30 attempts");
}

/// Asserts the incremental snapshot holds exactly what a full capture of the same state
/// holds, then drops the full one so the next incremental builds on the incremental.
fn assert_same_as_full(user: &User, sandbox: &SandboxProc, incremental: &Value) {
    let full = snapshot(user, &["--full"]);
    assert_eq!(full["mode"], "full", "{full}");
    assert_eq!(
        incremental["counts"], full["counts"],
        "{incremental}\n{full}"
    );
    let a = records_text(user, id(incremental), &sandbox.url);
    let b = records_text(user, id(&full), &sandbox.url);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "incremental and full captures differ");
    }
    user.run(&["snapshot", "delete", id(&full), "--force"]).ok();
}

#[test]
fn incremental_snapshots_merge_changes_and_detect_deletions() {
    let sandbox = SandboxProc::start(&["--issues", "450", "--comments", "1800", "--seed", "11"]);
    let user = User::new(&sandbox);

    let full = snapshot(&user, &[]);
    assert_eq!(full["mode"], "full", "{full}");

    // Nothing changed: two count probes, two 304 revalidations, two empty windows.
    let quiet = snapshot(&user, &[]);
    assert_eq!(quiet["mode"], "incremental", "{quiet}");
    assert_eq!(quiet["deleted"], 0);
    assert_eq!(quiet["not_modified"], 2, "{quiet}");
    assert!(quiet["requests"].as_u64().unwrap() <= 6, "{quiet}");
    assert_eq!(quiet["blobs_written"], 0, "{quiet}");

    // Edits, a new comment, deletions in the first page, the middle and the very end of
    // the creation order (an open and a closed issue), and a deleted label.
    call(
        &sandbox,
        "PATCH",
        &format!("{REPO}/issues/3"),
        Some(json!({"title": "renamed"})),
    );
    call(
        &sandbox,
        "PATCH",
        &format!("{REPO}/issues/200"),
        Some(json!({"state": "closed"})),
    );
    call(
        &sandbox,
        "POST",
        &format!("{REPO}/issues/9/comments"),
        Some(json!({"body": "new"})),
    );
    let on_12 = comment_ids(&sandbox, 12);
    let on_300 = comment_ids(&sandbox, 300);
    assert!(
        !on_12.is_empty() && on_300.len() >= 2,
        "seed has comments on #12 and #300"
    );
    call(
        &sandbox,
        "DELETE",
        &format!("{REPO}/issues/comments/{}", on_12[0]),
        None,
    );
    call(
        &sandbox,
        "DELETE",
        &format!("{REPO}/issues/comments/{}", on_300[1]),
        None,
    );
    let edit = on_300[0];
    call(
        &sandbox,
        "PATCH",
        &format!("{REPO}/issues/comments/{edit}"),
        Some(json!({"body": "edited"})),
    );
    call(
        &sandbox,
        "PATCH",
        &format!("{REPO}/issues/150"),
        Some(json!({"state": "closed"})),
    );
    let deleted_issues = [2u64, 150, 301, 450];
    let mut orphaned = 0;
    for n in deleted_issues {
        orphaned += comment_ids(&sandbox, n).len() as u64;
        call(&sandbox, "DELETE", &format!("{REPO}/issues/{n}"), None);
    }
    let label = sandbox.list_all(&format!("{REPO}/labels"))[0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        &sandbox,
        "DELETE",
        &format!("{REPO}/labels/{}", label.replace(' ', "%20")),
        None,
    );

    let before = sandbox.stats()["total"].as_u64().unwrap();
    let inc = snapshot(&user, &[]);
    let spent = sandbox.stats()["total"].as_u64().unwrap() - before;
    assert_eq!(inc["mode"], "incremental", "{inc}");
    assert_eq!(inc["requests"].as_u64().unwrap(), spent);
    assert_eq!(
        inc["deleted"].as_u64().unwrap(),
        deleted_issues.len() as u64 + orphaned + 2,
        "4 issues, their comments and 2 more comments: {inc}"
    );
    // Far below a full capture (450 issues + 1800 comments need 23+ pages), deletions
    // included: a binary search per gap, not a re-listing.
    eprintln!(
        "incremental with deletions: {spent} requests, {} deleted",
        inc["deleted"]
    );
    assert!(spent <= 40, "{spent} requests: {inc}");
    assert_same_as_full(&user, &sandbox, &inc);

    // The diff between the full and the incremental snapshot names every deletion.
    let diff = user
        .run(&[
            "--json",
            "diff",
            SCOPE,
            "--from",
            id(&full),
            "--to",
            id(&inc),
            "--format",
            "json",
        ])
        .ok()
        .json();
    let text = diff.to_string();
    for n in deleted_issues {
        assert!(
            text.contains(&format!("\"number\":{n}")),
            "issue #{n} missing from {diff}"
        );
    }
    for c in [on_12[0], on_300[1]] {
        assert!(
            text.contains(&c.to_string()),
            "comment {c} missing from the diff"
        );
    }

    // The incremental snapshot equals the live state.
    user.run(&[
        "diff",
        SCOPE,
        "--from",
        "latest",
        "--to",
        "live",
        "--exit-code",
    ])
    .ok();
}

#[test]
fn reconciliation_runs_every_nth_snapshot_and_after_a_sandbox_clock_jump() {
    let sandbox = SandboxProc::start(&["--issues", "120", "--comments", "300"]);
    let user = User::new(&sandbox);
    assert_eq!(snapshot(&user, &[])["mode"], "full");
    assert_eq!(
        snapshot(&user, &["--reconcile-every", "2"])["mode"],
        "incremental"
    );
    assert_eq!(
        snapshot(&user, &["--reconcile-every", "2"])["mode"],
        "incremental"
    );
    assert_eq!(snapshot(&user, &["--reconcile-every", "2"])["mode"], "full");

    // A simulated day later, a change lands past the overlap window and is still seen.
    let (status, now) = sandbox.api(
        "POST",
        "/_sandbox/clock",
        Some(json!({"advance_secs": 86_400})),
    );
    assert_eq!(status, 200, "{now}");
    call(
        &sandbox,
        "PATCH",
        &format!("{REPO}/issues/7"),
        Some(json!({"body": "a day later"})),
    );
    let inc = snapshot(&user, &[]);
    assert_eq!(inc["mode"], "incremental");
    assert_same_as_full(&user, &sandbox, &inc);
    let (status, _) = sandbox.api("POST", "/_sandbox/clock", Some(json!({"advance_secs": -1})));
    assert_eq!(status, 422, "the clock only moves forward");
}

#[test]
fn incremental_snapshots_stay_exact_under_injected_faults() {
    // 10% of API requests fail (5xx, secondary limits): retries must not turn into missed
    // changes or false deletions.
    let sandbox = SandboxProc::start(&[
        "--issues",
        "300",
        "--comments",
        "1200",
        "--seed",
        "3",
        "--fault-rate",
        "0.1",
    ]);
    let user = User::new(&sandbox);
    assert_eq!(snapshot(&user, &[])["mode"], "full");
    let on_5 = comment_ids(&sandbox, 5);
    call(
        &sandbox,
        "PATCH",
        &format!("{REPO}/issues/8"),
        Some(json!({"title": "faulty day"})),
    );
    if let Some(c) = on_5.first() {
        call(
            &sandbox,
            "DELETE",
            &format!("{REPO}/issues/comments/{c}"),
            None,
        );
    }
    call(&sandbox, "DELETE", &format!("{REPO}/issues/123"), None);
    let inc = snapshot(&user, &[]);
    assert_eq!(inc["mode"], "incremental", "{inc}");
    assert!(
        inc["deleted"].as_u64().unwrap() > u64::from(!on_5.is_empty()),
        "{inc}"
    );
    assert_same_as_full(&user, &sandbox, &inc);
}
