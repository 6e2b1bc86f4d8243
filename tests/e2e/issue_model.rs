//! Issue #20: GitHub's issue model beyond an issue's own fields — type, sub-issue parent,
//! lock reason, pinned comment, reactions — captured from the issues listing at no extra
//! request (a sub-issue link costs the reads of the two issues it joins), diffed in text,
//! Markdown and JSON, and kept exact by incremental snapshots.

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

fn write(sb: &SandboxProc, method: &str, path: &str, body: Value) -> Value {
    let (status, reply) = sb.api(method, &format!("{REPO}{path}"), Some(body));
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {reply}"
    );
    reply
}

#[test]
fn issue_model_is_captured_diffed_and_incremental_stays_exact() {
    let sb = SandboxProc::start(&["--issues", "30", "--comments", "60", "--seed", "20"]);
    let user = User::new(&sb);
    let first = snapshot(&user, &[]);
    let quiet = snapshot(&user, &[]);

    let id = |n: u64| sb.api("GET", &format!("{REPO}/issues/{n}"), None).1["id"].clone();
    write(&sb, "PATCH", "/issues/3", json!({"type": "Bug"}));
    write(
        &sb,
        "POST",
        "/issues/1/sub_issues",
        json!({"sub_issue_id": id(4)}),
    );
    write(&sb, "PUT", "/issues/5/lock", json!({"lock_reason": "spam"}));
    let (_, comments) = sb.api("GET", &format!("{REPO}/issues/comments?per_page=1"), None);
    let pinned = comments[0]["id"].as_u64().unwrap();
    let pinned_on: u64 = comments[0]["issue_url"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    write(
        &sb,
        "PUT",
        &format!("/issues/comments/{pinned}/pin"),
        json!({}),
    );
    write(
        &sb,
        "POST",
        "/issues/6/reactions",
        json!({"content": "rocket"}),
    );
    // Reactions leave `updated_at` alone on GitHub; the PATCH makes #6 part of the window.
    write(&sb, "PATCH", "/issues/6", json!({"title": "Reacted to"}));

    let second = snapshot(&user, &[]);
    assert_eq!(second["mode"], "incremental", "{second}");
    // Nothing but the listings, and the sub-issue link: on GitHub it moves no `updated_at`,
    // so #1 and #4 (named by the activity log) are read again, with #1's new sub-issue
    // listing — 3 requests, fewer if the listing returned one of them anyway.
    let extra = second["requests"].as_u64().unwrap() - quiet["requests"].as_u64().unwrap();
    assert!((1..=3).contains(&extra), "{second}\n{quiet}");
    let full = snapshot(&user, &["--full"]);
    let a = records_text(&user, second["id"].as_str().unwrap(), &sb.url);
    let b = records_text(&user, full["id"].as_str().unwrap(), &sb.url);
    assert_eq!(a, b, "incremental and full captures differ");

    let from = first["id"].as_str().unwrap();
    let to = second["id"].as_str().unwrap();
    let json_diff = user
        .run(&[
            "diff", SCOPE, "--from", from, "--to", to, "--format", "json",
        ])
        .ok()
        .json();
    assert_eq!(json_diff["schema_version"], 1);
    let changes = json_diff["changes"].as_array().unwrap();
    let change = |issue: u64, field: &str| {
        changes
            .iter()
            .find(|c| c["issue"] == issue && c["field"] == field)
            .unwrap_or_else(|| panic!("no {field} change on #{issue}: {json_diff}"))
            .clone()
    };
    assert_eq!(change(3, "issue_type")["after"], "Bug");
    assert_eq!(change(4, "parent")["after"], "#1");
    assert_eq!(change(5, "lock_reason")["after"], "spam");
    assert_eq!(change(5, "locked")["after"], true);
    assert_eq!(change(pinned_on, "pinned_comment")["after"], pinned);
    assert_eq!(change(6, "reactions")["after"], "rocket ×1");

    let text = user
        .run(&["diff", SCOPE, "--from", from, "--to", to])
        .ok()
        .stdout;
    for needle in [
        "Issue type",
        "+ Bug",
        "Parent",
        "+ #1",
        "Lock reason",
        "+ spam",
    ] {
        assert!(text.contains(needle), "text diff lacks {needle:?}:\n{text}");
    }
    let md = user
        .run(&[
            "diff", SCOPE, "--from", from, "--to", to, "--format", "markdown",
        ])
        .ok()
        .stdout;
    for needle in [
        "issue type",
        "parent",
        "lock reason",
        "pinned comment",
        "+Bug",
        "+#1",
        "+spam",
    ] {
        assert!(md.contains(needle), "Markdown diff lacks {needle:?}:\n{md}");
    }
}

/// Rollback writes the issue type back inside the issue's one PATCH, detaches a sub-issue
/// added since, and its preview names what the issue model holds that it does not restore
/// (reactions).
#[test]
fn rollback_restores_issue_types_and_names_what_it_cannot() {
    let sb = SandboxProc::start(&["--issues", "20", "--comments", "30", "--seed", "21"]);
    let user = User::new(&sb);
    write(&sb, "PATCH", "/issues/2", json!({"type": "Task"}));
    user.run(&["snapshot", "create", SCOPE, "--name", "good"])
        .ok();
    let id = |n: u64| sb.api("GET", &format!("{REPO}/issues/{n}"), None).1["id"].clone();
    write(&sb, "PATCH", "/issues/2", json!({"type": "Bug"}));
    write(&sb, "PATCH", "/issues/3", json!({"type": "Feature"}));
    write(
        &sb,
        "POST",
        "/issues/1/sub_issues",
        json!({"sub_issue_id": id(4)}),
    );
    write(
        &sb,
        "POST",
        "/issues/6/reactions",
        json!({"content": "heart"}),
    );
    write(
        &sb,
        "PUT",
        "/issues/7/lock",
        json!({"lock_reason": "too heated"}),
    );

    let preview = user
        .run(&["--json", "rollback", SCOPE, "--to", "good"])
        .ok()
        .json();
    let ops = preview["plan"]["ops"].as_array().unwrap();
    assert_eq!(
        ops.len(),
        4,
        "a PATCH per retyped issue, an unlock, a detached sub-issue: {preview}"
    );
    let lost: Vec<&str> = preview["plan"]["irrecoverable"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["key"].as_str())
        .collect();
    assert!(
        !lost.contains(&"issue:4") && lost.contains(&"issue:6"),
        "{preview}"
    );
    let text = user.run(&["rollback", SCOPE, "--to", "good"]).ok().stdout;
    assert!(text.contains("type       Bug → Task"), "{text}");
    assert!(text.contains("#7 unlock"), "{text}");
    assert!(text.contains("parent     #1 → no parent"), "{text}");

    let w0 = sb.stats()["writes"].as_u64().unwrap();
    let report = user
        .run(&[
            "--json",
            "rollback",
            SCOPE,
            "--to",
            "good",
            "--execute",
            "--yes",
            "--write-interval-ms",
            "0",
        ])
        .ok()
        .json();
    assert_eq!(report["executed"].as_array().unwrap().len(), 4, "{report}");
    assert_eq!(sb.stats()["writes"].as_u64().unwrap() - w0, 4);
    let (status, _) = sb.api("GET", &format!("{REPO}/issues/4/parent"), None);
    assert_eq!(status, 404, "#4 is a sub-issue again");
    let seven = sb.api("GET", &format!("{REPO}/issues/7"), None).1;
    assert_eq!(
        (seven["locked"].clone(), seven["active_lock_reason"].clone()),
        (json!(false), Value::Null)
    );
    let ty = |n: u64| sb.api("GET", &format!("{REPO}/issues/{n}"), None).1["type"]["name"].clone();
    assert_eq!((ty(2), ty(3)), (json!("Task"), Value::Null));
}
