//! Issue #20: sub-issue order and dependencies, end to end over HTTP. A repository with two
//! parents and three dependencies is snapshotted, then damaged (a reorder, a move to another
//! parent, a removed sub-issue, a dependency added and one removed: writes that move no
//! `updated_at` on GitHub). The incremental snapshot still equals a full one record by record
//! (the activity log names the issues to read again); the diff shows the changes; rollback
//! plans one write per changed link plus the fewest reorders, is killed part-way and resumed
//! without an extra link, leaves every link and order as the snapshot has them, and its
//! pre-rollback snapshot undoes it.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::snapshot::records_text;
use crate::util::{SandboxProc, User};

const SCOPE: &str = "github:acme/widgets";
const REPO: &str = "/repos/acme/widgets";

fn write(sb: &SandboxProc, method: &str, path: &str, body: Value) -> Value {
    let (status, reply) = sb.api(method, &format!("{REPO}{path}"), Some(body));
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {reply}"
    );
    reply
}

fn id(sb: &SandboxProc, n: u64) -> u64 {
    sb.api("GET", &format!("{REPO}/issues/{n}"), None).1["id"]
        .as_u64()
        .unwrap()
}

fn numbers(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_u64().unwrap())
        .collect()
}

/// Every link the test touches, as the sandbox serves it over HTTP.
#[derive(Debug, PartialEq)]
struct Links {
    order: Vec<(u64, Vec<u64>)>,
    parents: Vec<(u64, Option<u64>)>,
    blocked_by: Vec<(u64, Vec<u64>)>,
}

fn links(sb: &SandboxProc) -> Links {
    let list = |path: String| numbers(&sb.api("GET", &format!("{REPO}{path}"), None).1);
    Links {
        order: [1, 10]
            .into_iter()
            .map(|p| (p, list(format!("/issues/{p}/sub_issues"))))
            .collect(),
        parents: [2, 3, 4, 5, 11, 12]
            .into_iter()
            .map(|c| {
                let (status, parent) = sb.api("GET", &format!("{REPO}/issues/{c}/parent"), None);
                (
                    c,
                    (status == 200).then(|| parent["number"].as_u64().unwrap()),
                )
            })
            .collect(),
        // A set: GitHub lists blockers in the order they were added.
        blocked_by: [20, 23, 25]
            .into_iter()
            .map(|n| {
                let mut blockers = list(format!("/issues/{n}/dependencies/blocked_by"));
                blockers.sort_unstable();
                (n, blockers)
            })
            .collect(),
    }
}

fn snapshot(user: &User, extra: &[&str]) -> Value {
    let mut args = vec!["--json", "snapshot", "create", SCOPE];
    args.extend_from_slice(extra);
    user.run(&args).ok().json()
}

/// An incremental snapshot now and a full one hold the same records.
fn assert_incremental_is_full(user: &User, sb: &SandboxProc) -> Value {
    let inc = snapshot(user, &[]);
    assert_eq!(inc["mode"], "incremental", "{inc}");
    let full = snapshot(user, &["--full"]);
    assert_eq!(
        records_text(user, inc["id"].as_str().unwrap(), &sb.url),
        records_text(user, full["id"].as_str().unwrap(), &sb.url),
        "incremental and full captures differ"
    );
    inc
}

fn writes(sb: &SandboxProc) -> u64 {
    sb.stats()["writes"].as_u64().unwrap()
}

#[test]
fn sub_issue_order_and_dependencies_are_captured_diffed_and_rolled_back() {
    let sb = SandboxProc::start(&["--issues", "30", "--comments", "20", "--seed", "31"]);
    let user = User::new(&sb);
    for c in [2, 3, 4, 5] {
        write(
            &sb,
            "POST",
            "/issues/1/sub_issues",
            json!({"sub_issue_id": id(&sb, c)}),
        );
    }
    for c in [11, 12] {
        write(
            &sb,
            "POST",
            "/issues/10/sub_issues",
            json!({"sub_issue_id": id(&sb, c)}),
        );
    }
    for (n, b) in [(20, 21), (20, 22), (23, 24)] {
        write(
            &sb,
            "POST",
            &format!("/issues/{n}/dependencies/blocked_by"),
            json!({"issue_id": id(&sb, b)}),
        );
    }
    let good_links = links(&sb);
    let good = snapshot(&user, &["--name", "good"]);
    let quiet = snapshot(&user, &[]);
    assert_eq!(quiet["mode"], "incremental", "{quiet}");

    // GitHub refuses to take a sub-issue from its parent without `replace_parent`.
    let (status, refused) = sb.api(
        "POST",
        &format!("{REPO}/issues/10/sub_issues"),
        Some(json!({"sub_issue_id": id(&sb, 3)})),
    );
    assert_eq!(status, 422, "{refused}");
    // A reorder names exactly one anchor.
    let (status, refused) = sb.api(
        "PATCH",
        &format!("{REPO}/issues/1/sub_issues/priority"),
        Some(json!({"sub_issue_id": id(&sb, 5), "after_id": id(&sb, 2), "before_id": id(&sb, 3)})),
    );
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("not both")),
        "{refused}"
    );

    // Damage: none of these writes moves an issue's `updated_at`.
    let updated =
        |n: u64| sb.api("GET", &format!("{REPO}/issues/{n}"), None).1["updated_at"].clone();
    let before_updated: Vec<Value> = [1, 3, 10, 12, 20, 25].map(updated).to_vec();
    write(
        &sb,
        "PATCH",
        "/issues/1/sub_issues/priority",
        json!({"sub_issue_id": id(&sb, 5), "before_id": id(&sb, 2)}),
    );
    write(
        &sb,
        "POST",
        "/issues/10/sub_issues",
        json!({"sub_issue_id": id(&sb, 3), "replace_parent": true}),
    );
    write(
        &sb,
        "DELETE",
        "/issues/10/sub_issue",
        json!({"sub_issue_id": id(&sb, 12)}),
    );
    write(
        &sb,
        "POST",
        "/issues/25/dependencies/blocked_by",
        json!({"issue_id": id(&sb, 26)}),
    );
    let (status, _) = sb.api(
        "DELETE",
        &format!("{REPO}/issues/20/dependencies/blocked_by/{}", id(&sb, 21)),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        [1, 3, 10, 12, 20, 25].map(updated).to_vec(),
        before_updated,
        "link writes moved updated_at"
    );
    let damaged_links = links(&sb);
    assert_eq!(damaged_links.order, [(1, vec![5, 2, 4]), (10, vec![11, 3])]);

    // Incremental == full, though no issue was updated: the log says which to read again.
    let after = assert_incremental_is_full(&user, &sb);
    // The links cost their reads only: at most #1, #3, #10, #12, #20, #21, #25 and #26 read
    // again (8 issues, fewer when the listing's overlap returned some anyway) and the
    // sub-issue and blocker listings of those that have some (#1, #10, #20, #25), where a
    // quiet snapshot checks the order of the two parents (2).
    let extra = after["requests"].as_u64().unwrap() - quiet["requests"].as_u64().unwrap();
    assert!(
        (1..=8 + 4 - 2).contains(&extra),
        "{extra}: {after}\n{quiet}"
    );

    // The diff, in all three formats.
    let from = good["id"].as_str().unwrap();
    let to = after["id"].as_str().unwrap();
    let d = user
        .run(&[
            "diff", SCOPE, "--from", from, "--to", to, "--format", "json",
        ])
        .ok()
        .json();
    assert_eq!(d["schema_version"], 1);
    let changes = d["changes"].as_array().unwrap();
    let change = |issue: u64, field: &str| {
        changes
            .iter()
            .filter(|c| c["issue"] == issue && c["field"] == field)
            .cloned()
            .collect::<Vec<Value>>()
    };
    assert_eq!(change(1, "sub_issues")[0]["before"], "#2, #3, #4, #5");
    assert_eq!(change(1, "sub_issues")[0]["after"], "#5, #2, #4");
    assert_eq!(change(10, "sub_issues")[0]["after"], "#11, #3");
    assert_eq!(change(3, "parent")[0]["after"], "#10");
    assert_eq!(change(12, "parent")[0]["after"], Value::Null);
    assert_eq!(change(20, "blocked_by")[0]["before"], "#21");
    assert_eq!(change(20, "blocked_by")[0]["op"], "removed");
    assert_eq!(change(25, "blocked_by")[0]["after"], "#26");
    let text = user
        .run(&["diff", SCOPE, "--from", from, "--to", to])
        .ok()
        .stdout;
    for needle in ["Sub-issues", "#5, #2, #4", "Blocked by", "#26"] {
        assert!(text.contains(needle), "text diff lacks {needle:?}:\n{text}");
    }
    let md = user
        .run(&[
            "diff", SCOPE, "--from", from, "--to", to, "--format", "markdown",
        ])
        .ok()
        .stdout;
    for needle in ["sub-issues", "blocked by", "#26"] {
        assert!(md.contains(needle), "Markdown diff lacks {needle:?}:\n{md}");
    }

    // The preview names each link write; nothing is "not restored yet".
    let preview = user
        .run(&["--json", "rollback", SCOPE, "--to", "good"])
        .ok()
        .json();
    let ops = preview["plan"]["ops"].as_array().unwrap().clone();
    let kinds: Vec<(String, u64)> = ops
        .iter()
        .map(|o| {
            (
                o["op"].as_str().unwrap().to_string(),
                o["number"].as_u64().unwrap(),
            )
        })
        .collect();
    // #3 back under #1 (appended last), #12 back under #10; #1's order [5, 2, 4, 3] mended
    // into [2, 3, 4, 5] with two moves; one write per dependency.
    assert_eq!(
        kinds,
        [
            ("set_parent".to_string(), 3),
            ("set_parent".to_string(), 12),
            ("reorder_sub_issue".to_string(), 1),
            ("reorder_sub_issue".to_string(), 1),
            ("set_blocked_by".to_string(), 20),
            ("set_blocked_by".to_string(), 25),
        ],
        "{preview}"
    );
    let lost = preview["plan"]["irrecoverable"].to_string();
    assert!(!lost.contains("parent"), "{preview}");
    let shown = user.run(&["rollback", SCOPE, "--to", "good"]).ok().stdout;
    for needle in [
        "parent     #10 → #1",
        "parent     no parent → #10",
        "sub-issue order: move",
        "#20 again blocked by #21",
        "#25 no longer blocked by #26",
    ] {
        assert!(shown.contains(needle), "preview lacks {needle:?}:\n{shown}");
    }
    assert!(!shown.contains("not restored yet"), "{shown}");

    // Executed, killed after 3 writes, resumed.
    let planned = ops.len() as u64;
    let w0 = writes(&sb);
    let execute = [
        "--json",
        "rollback",
        SCOPE,
        "--to",
        "good",
        "--execute",
        "--yes",
    ];
    let mut child = user
        .command(&[&execute[..], &["--write-interval-ms", "300"]].concat())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while writes(&sb) - w0 < 3
        && child.try_wait().ok().flatten().is_none()
        && started.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
    let killed_at = writes(&sb) - w0;
    assert!(killed_at < planned, "killed after {killed_at} of {planned}");
    let report = user
        .run(&[&execute[..], &["--write-interval-ms", "0"]].concat())
        .ok()
        .json();
    assert_eq!(report["verification"]["clean"], true, "{report}");
    // A link write that landed without its journal entry is found, not sent again; only a
    // reorder (idempotent) may be repeated.
    let done = writes(&sb) - w0;
    assert!(
        done == planned || done == planned + 1,
        "{done} writes for {planned} operations (killed after {killed_at})"
    );
    assert_eq!(links(&sb), good_links, "links differ from the snapshot");
    let again = user
        .run(&["--json", "rollback", SCOPE, "--to", "good"])
        .ok()
        .json();
    assert_eq!(again["plan"]["ops"], json!([]), "{again}");

    // Undo: the pre-rollback snapshot brings the damage back, links and order included.
    let pre = report["pre_rollback_snapshot"].as_str().unwrap();
    user.run(&[
        "restore",
        pre,
        "--execute",
        "--yes",
        "--write-interval-ms",
        "0",
    ])
    .ok();
    assert_eq!(
        links(&sb),
        damaged_links,
        "undo did not bring the damage back"
    );
    assert_incremental_is_full(&user, &sb);
}
