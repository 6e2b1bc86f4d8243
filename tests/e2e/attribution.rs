//! Issue #20 item 3: who changed what. A bot and a human (two tokens, two users of the
//! sandbox over HTTP) change the repository at once; the snapshot after keeps the issue
//! events, the diff says who made each change, and `rollback --by` undoes the bot's work
//! alone — its sub-issue move and dependency included — one write per changed object, while
//! the human's edits stay. The pre-rollback snapshot undoes the rollback.

use serde_json::{json, Value};

use crate::snapshot::records_text;
use crate::util::{http, SandboxProc, User};

const SCOPE: &str = "github:acme/widgets";
const REPO: &str = "/repos/acme/widgets";
const BOT: &str = "bot-token";
const HUMAN: &str = "human-token";

fn as_user(sb: &SandboxProc, token: &str, method: &str, path: &str, body: Value) -> Value {
    let (status, reply) = http(
        &sb.url,
        method,
        &format!("{REPO}{path}"),
        Some(body),
        Some(token),
    );
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {reply}"
    );
    reply
}

fn issue(sb: &SandboxProc, n: u64) -> Value {
    sb.api("GET", &format!("{REPO}/issues/{n}"), None).1
}

fn label_names(v: &Value) -> Vec<String> {
    let mut names: Vec<String> = v["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn rollback_by_the_bot_undoes_its_changes_alone_and_diffs_say_who() {
    let sb = SandboxProc::start(&[
        "--issues",
        "20",
        "--comments",
        "20",
        "--seed",
        "23",
        "--token",
        "bot-token=sync-bot",
        "--token",
        "human-token=alice",
    ]);
    let user = User::new(&sb);
    let id = |n: u64| issue(&sb, n)["id"].clone();
    for name in ["from-bot", "from-human"] {
        as_user(
            &sb,
            HUMAN,
            "POST",
            "/labels",
            json!({"name": name, "color": "ededed"}),
        );
    }
    as_user(
        &sb,
        HUMAN,
        "POST",
        "/issues/1/sub_issues",
        json!({"sub_issue_id": id(5)}),
    );
    as_user(&sb, HUMAN, "PATCH", "/issues/3", json!({"type": "Task"}));
    for n in [8, 11, 12] {
        // Open, as the bot's lock and the human's close need.
        as_user(
            &sb,
            HUMAN,
            "PATCH",
            &format!("/issues/{n}"),
            json!({"state": "open"}),
        );
    }
    let good = user
        .run(&["--json", "snapshot", "create", SCOPE, "--name", "good"])
        .ok()
        .json();
    let before: Vec<Value> = (1..=13).map(|n| issue(&sb, n)).collect();

    // The bot: retypes #2 and #3, moves #5 under #2, adds a dependency, locks #8, labels #10.
    as_user(&sb, BOT, "PATCH", "/issues/2", json!({"type": "Bug"}));
    as_user(&sb, BOT, "PATCH", "/issues/3", json!({"type": "Feature"}));
    as_user(
        &sb,
        BOT,
        "POST",
        "/issues/2/sub_issues",
        json!({"sub_issue_id": id(5), "replace_parent": true}),
    );
    as_user(
        &sb,
        BOT,
        "POST",
        "/issues/6/dependencies/blocked_by",
        json!({"issue_id": id(7)}),
    );
    as_user(
        &sb,
        BOT,
        "PUT",
        "/issues/8/lock",
        json!({"lock_reason": "spam"}),
    );
    as_user(
        &sb,
        BOT,
        "POST",
        "/issues/10/labels",
        json!({"labels": ["from-bot"]}),
    );
    // The human, meanwhile: renames #11, closes #12, rewrites #13's body, labels #10 too.
    as_user(
        &sb,
        HUMAN,
        "PATCH",
        "/issues/11",
        json!({"title": "Renamed by a person"}),
    );
    as_user(
        &sb,
        HUMAN,
        "PATCH",
        "/issues/12",
        json!({"state": "closed"}),
    );
    as_user(
        &sb,
        HUMAN,
        "PATCH",
        "/issues/13",
        json!({"body": "Rewritten by a person"}),
    );
    as_user(
        &sb,
        HUMAN,
        "POST",
        "/issues/10/labels",
        json!({"labels": ["from-human"]}),
    );

    // The snapshot after keeps the events; a full one holds the very same records.
    let after = user
        .run(&["--json", "snapshot", "create", SCOPE, "--name", "after"])
        .ok()
        .json();
    assert_eq!(after["mode"], "incremental", "{after}");
    let full = user
        .run(&["--json", "snapshot", "create", SCOPE, "--full"])
        .ok()
        .json();
    // The logs are read back against their hashes with everything else.
    user.run(&["verify", "--all"]).ok();
    assert_eq!(
        records_text(&user, after["id"].as_str().unwrap(), &sb.url),
        records_text(&user, full["id"].as_str().unwrap(), &sb.url),
        "incremental and full captures differ"
    );

    // Between two snapshots (from the stored log) and against live (one listing), each
    // change names its actor.
    for to in [after["id"].as_str().unwrap(), "live"] {
        let d = user
            .run(&[
                "diff", SCOPE, "--from", "good", "--to", to, "--format", "json",
            ])
            .ok()
            .json();
        assert_eq!(d["schema_version"], 1);
        let changes = d["changes"].as_array().unwrap();
        let by = |issue: u64, field: &str, element: Option<&str>| -> Value {
            let c = changes
                .iter()
                .find(|c| {
                    c["issue"] == issue
                        && c["field"] == field
                        && element.is_none_or(|e| c["after"] == e || c["before"] == e)
                })
                .unwrap_or_else(|| panic!("no {field} change on #{issue} ({to}): {d}"));
            c["attribution"].clone()
        };
        for (issue, field) in [
            (2, "issue_type"),
            (3, "issue_type"),
            (5, "parent"),
            (8, "locked"),
        ] {
            assert_eq!(
                by(issue, field, None)["actors"],
                json!(["sync-bot"]),
                "#{issue} {field}: {d}"
            );
            assert_eq!(by(issue, field, None)["source"], "event");
        }
        assert_eq!(
            by(10, "labels", Some("from-bot"))["actors"],
            json!(["sync-bot"])
        );
        assert_eq!(
            by(10, "labels", Some("from-human"))["actors"],
            json!(["alice"])
        );
        assert_eq!(by(11, "title", None)["actors"], json!(["alice"]));
        assert_eq!(by(12, "state", None)["actors"], json!(["alice"]));
        assert_eq!(by(13, "body", None)["source"], "unattributed");
    }
    let text = user
        .run(&["diff", SCOPE, "--from", "good", "--to", "after"])
        .ok()
        .stdout;
    assert!(text.contains("by @sync-bot at "), "{text}");
    assert!(text.contains("by @alice at "), "{text}");
    let md = user
        .run(&[
            "diff", SCOPE, "--from", "good", "--to", "after", "--format", "markdown",
        ])
        .ok()
        .stdout;
    assert!(md.contains("sync-bot") && md.contains("alice"), "{md}");

    // The preview: the bot's four objects, nothing of the human's; the body edit is named
    // as unattributable.
    let preview = user
        .run(&[
            "--json",
            "rollback",
            SCOPE,
            "--to",
            "good",
            "--by",
            "@Sync-Bot",
        ])
        .ok()
        .json();
    let ops = preview["plan"]["ops"].as_array().unwrap();
    let touched: Vec<u64> = ops
        .iter()
        .map(|o| o["number"].as_u64().unwrap_or(0))
        .collect();
    // Then the links: #5 back under #1, #6 no longer blocked by #7.
    assert_eq!(touched, [2, 3, 8, 10, 5, 6], "{preview}");
    assert_eq!(ops[4]["op"], "set_parent", "{preview}");
    assert_eq!(
        (ops[4]["from"].clone(), ops[4]["to"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(
        (ops[5]["op"].clone(), ops[5]["blocked"].clone()),
        (json!("set_blocked_by"), json!(false))
    );
    let lost = preview["plan"]["irrecoverable"].to_string();
    assert!(!lost.contains("#5"), "{preview}");
    let left: Vec<&str> = preview["plan"]["left_alone"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["what"].as_str())
        .collect();
    assert!(left.contains(&"#13 description"), "{preview}");
    let shown = user
        .run(&["rollback", SCOPE, "--to", "good", "--by", "sync-bot"])
        .ok()
        .stdout;
    assert!(shown.contains("Left alone"), "{shown}");

    let writes = sb.stats()["writes"].as_u64().unwrap();
    let report = user
        .run(&[
            "--json",
            "rollback",
            SCOPE,
            "--to",
            "good",
            "--by",
            "sync-bot",
            "--execute",
            "--yes",
            "--write-interval-ms",
            "0",
        ])
        .ok()
        .json();
    assert_eq!(report["executed"].as_array().unwrap().len(), 6, "{report}");
    assert_eq!(
        sb.stats()["writes"].as_u64().unwrap() - writes,
        6,
        "one write per changed object"
    );
    assert_eq!(report["verification"]["clean"], true, "{report}");
    // #5 is #1's sub-issue again, and #6 blocked by nothing.
    let parent_of = |n: u64| sb.api("GET", &format!("{REPO}/issues/{n}/parent"), None);
    assert_eq!(parent_of(5).1["number"], 1);
    let blockers = |n: u64| {
        sb.api(
            "GET",
            &format!("{REPO}/issues/{n}/dependencies/blocked_by"),
            None,
        )
        .1
        .as_array()
        .unwrap()
        .len()
    };
    assert_eq!(blockers(6), 0);
    // The bot's changes are gone…
    assert_eq!(issue(&sb, 2)["type"], before[1]["type"]);
    assert_eq!(issue(&sb, 3)["type"]["name"], "Task");
    assert_eq!(issue(&sb, 8)["locked"], false);
    assert_eq!(label_names(&issue(&sb, 10)), {
        let mut l = label_names(&before[9]);
        l.push("from-human".into());
        l.sort();
        l
    });
    // …the human's stay.
    assert_eq!(issue(&sb, 11)["title"], "Renamed by a person");
    assert_eq!(issue(&sb, 12)["state"], "closed");
    assert_eq!(issue(&sb, 13)["body"], "Rewritten by a person");

    // Undo: the pre-rollback snapshot puts the bot's work back.
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
    assert_eq!(issue(&sb, 2)["type"]["name"], "Bug");
    assert_eq!(issue(&sb, 8)["locked"], true);
    assert_eq!(parent_of(5).1["number"], 2);
    assert_eq!(blockers(6), 1);
    assert!(label_names(&issue(&sb, 10)).contains(&"from-bot".to_string()));
    assert_eq!(issue(&sb, 11)["title"], "Renamed by a person");
    let _ = good;
}

#[test]
fn by_and_since_are_checked_before_anything_is_read() {
    let sb = SandboxProc::start(&["--issues", "3", "--comments", "0"]);
    let user = User::new(&sb);
    user.run(&["snapshot", "create", SCOPE, "--name", "good"])
        .ok();
    let bad = user.run(&["rollback", SCOPE, "--to", "good", "--by", "not a login"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr.contains("--by") && bad.stderr.contains("not a GitHub login"),
        "{bad:?}"
    );
    let bad = user.run(&["rollback", SCOPE, "--to", "good", "--since", "yesterday"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr.contains("--since") && bad.stderr.contains("RFC 3339"),
        "{bad:?}"
    );
}
