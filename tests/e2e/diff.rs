//! Issue 3 acceptance: changes made by another client through the sandbox's REST API show up
//! in `diff --format json` with the right before/after values, and nothing else does.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::util::{SandboxProc, User};

const SCOPE: &str = "github:acme/widgets";
const REPO: &str = "/repos/acme/widgets";

fn find<'a>(changes: &'a [Value], kind: &str, key: &str, field: &str) -> &'a Value {
    changes
        .iter()
        .find(|c| c["kind"] == kind && c["key"] == key && c["field"] == field)
        .unwrap_or_else(|| {
            panic!(
                "no {kind} {key} {field} change in {}",
                serde_json::to_string_pretty(changes).unwrap()
            )
        })
}

fn names(issue: &Value) -> Vec<String> {
    issue["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_kind_of_change_appears_with_before_and_after_and_nothing_else() {
    let sandbox = SandboxProc::start(&["--issues", "60", "--comments", "200", "--seed", "3"]);
    let user = User::new(&sandbox);
    user.run(&["snapshot", "create", SCOPE, "--name", "base"])
        .ok();

    let issues = sandbox.list_all(&format!("{REPO}/issues?state=all"));
    let plain: Vec<&Value> = issues
        .iter()
        .filter(|i| i.get("pull_request").is_none())
        .collect();
    let open: Vec<&Value> = plain
        .iter()
        .copied()
        .filter(|i| i["state"] == "open")
        .collect();
    let labels: Vec<String> = sandbox
        .list_all(&format!("{REPO}/labels"))
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();

    // The label to delete: one that some issue carries.
    let doomed = labels
        .iter()
        .find(|l| issues.iter().any(|i| names(i).contains(l)))
        .unwrap()
        .clone();
    let lost: BTreeSet<u64> = issues
        .iter()
        .filter(|i| names(i).contains(&doomed))
        .map(|i| i["number"].as_u64().unwrap())
        .collect();

    let a = open[0];
    let b = open[1];
    let c = plain
        .iter()
        .find(|i| {
            i["number"] != a["number"]
                && i["number"] != b["number"]
                && names(i).len() < labels.len() - 1
        })
        .unwrap();
    let d = plain
        .iter()
        .find(|i| {
            names(i).iter().any(|l| *l != doomed)
                && i["number"] != c["number"]
                && i["number"] != a["number"]
                && i["number"] != b["number"]
        })
        .unwrap();
    let (na, nb, nc, nd) = (
        a["number"].as_u64().unwrap(),
        b["number"].as_u64().unwrap(),
        c["number"].as_u64().unwrap(),
        d["number"].as_u64().unwrap(),
    );
    let add = labels
        .iter()
        .find(|l| **l != doomed && !names(c).contains(l))
        .unwrap()
        .clone();
    let remove = names(d).into_iter().find(|l| *l != doomed).unwrap();

    let comments = sandbox.list_all(&format!("{REPO}/issues/comments"));
    let edited = &comments[0];
    let deleted = &comments[1];

    let ok =
        |(status, body): (u16, Value)| assert!((200..300).contains(&status), "{status}: {body}");
    ok(sandbox.api(
        "PATCH",
        &format!("{REPO}/issues/{na}"),
        Some(json!({"title": "Overwritten by sync", "body": "nothing left"})),
    ));
    ok(sandbox.api(
        "PATCH",
        &format!("{REPO}/issues/{nb}"),
        Some(json!({"state": "closed", "state_reason": "not_planned"})),
    ));
    ok(sandbox.api(
        "POST",
        &format!("{REPO}/issues/{nc}/labels"),
        Some(json!({"labels": [add]})),
    ));
    ok(sandbox.api(
        "DELETE",
        &format!("{REPO}/issues/{nd}/labels/{}", remove.replace(' ', "%20")),
        None,
    ));
    ok(sandbox.api(
        "DELETE",
        &format!("{REPO}/labels/{}", doomed.replace(' ', "%20")),
        None,
    ));
    ok(sandbox.api(
        "PATCH",
        &format!("{REPO}/issues/comments/{}", edited["id"]),
        Some(json!({"body": "edited by a bot"})),
    ));
    ok(sandbox.api(
        "DELETE",
        &format!("{REPO}/issues/comments/{}", deleted["id"]),
        None,
    ));
    let (status, created) = sandbox.api(
        "POST",
        &format!("{REPO}/issues"),
        Some(json!({"title": "Brand new", "body": "hello"})),
    );
    assert_eq!(status, 201, "{created}");
    let new_number = created["number"].as_u64().unwrap();

    let run = user.run(&["diff", SCOPE, "--format", "json"]).ok();
    let diff = run.json();
    let changes = diff["changes"].as_array().unwrap();

    let t = find(changes, "issue", &na.to_string(), "title");
    assert_eq!(t["before"], a["title"]);
    assert_eq!(t["after"], "Overwritten by sync");
    let body = find(changes, "issue", &na.to_string(), "body");
    assert_eq!(body["after"], "nothing left");
    assert_eq!(body["before"], a["body"].clone());
    let st = find(changes, "issue", &nb.to_string(), "state");
    assert_eq!(
        (st["before"].as_str(), st["after"].as_str()),
        (Some("open"), Some("closed"))
    );
    let sr = find(changes, "issue", &nb.to_string(), "state_reason");
    assert_eq!(sr["after"], "not_planned");
    let added = find(changes, "issue", &nc.to_string(), "labels");
    assert_eq!(
        (added["op"].as_str(), added["after"].as_str()),
        (Some("added"), Some(add.as_str()))
    );
    let removed = find(changes, "issue", &nd.to_string(), "labels");
    assert_eq!(
        (removed["op"].as_str(), removed["before"].as_str()),
        (Some("removed"), Some(remove.as_str()))
    );
    let label = find(changes, "label", &doomed, "*");
    assert_eq!(label["op"], "removed");
    let folded: BTreeSet<u64> = label["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(folded, lost, "issues that lost the deleted label");
    let ce = find(changes, "comment", &edited["id"].to_string(), "body");
    assert_eq!(
        (ce["before"].clone(), ce["after"].as_str()),
        (edited["body"].clone(), Some("edited by a bot"))
    );
    let cd = find(changes, "comment", &deleted["id"].to_string(), "*");
    assert_eq!(cd["op"], "removed");
    let ni = find(changes, "issue", &new_number.to_string(), "*");
    assert_eq!(ni["op"], "added");
    assert_eq!(
        changes.len(),
        10,
        "nothing else: {}",
        serde_json::to_string_pretty(changes).unwrap()
    );
    assert_eq!(diff["summary"]["total"], 10);
    assert_eq!(diff["summary"]["labels_removed"], 1);
    assert_eq!(diff["summary"]["comments_deleted"], 1);
    assert_eq!(diff["summary"]["issues_added"], 1);
    assert_eq!(diff["from"]["name"], "base");
    assert_eq!(diff["to"]["kind"], "live");

    // The other renderers run on the same value.
    let text = user.run(&["diff", SCOPE]).ok().stdout;
    assert!(
        text.contains("Overwritten by sync") && text.contains(&doomed),
        "{text}"
    );
    let md = user
        .run(&["diff", SCOPE, "--format", "markdown"])
        .ok()
        .stdout;
    assert!(md.contains("<details>") && md.contains("```diff"), "{md}");
    assert!(md.chars().count() <= 65_000);

    // --exit-code: 1 with changes, 0 without.
    assert_eq!(user.run(&["diff", SCOPE, "--exit-code"]).code, 1);
    user.run(&["snapshot", "create", SCOPE, "--name", "after"])
        .ok();
    assert_eq!(
        user.run(&["diff", SCOPE, "--from", "after", "--exit-code"])
            .code,
        0
    );

    // Snapshot to snapshot needs no network: stop the sandbox and point at nothing.
    drop(sandbox);
    let mut offline = user;
    offline.api_url = "http://127.0.0.1:9".into();
    offline.token = String::new();
    let stored = offline
        .run(&[
            "diff", SCOPE, "--from", "base", "--to", "after", "--format", "json",
        ])
        .ok()
        .json();
    assert_eq!(stored["summary"]["total"], 10);
    assert_eq!(stored["to"]["name"], "after");
}

#[test]
fn bad_references_are_one_line_errors() {
    let sandbox = SandboxProc::start(&["--issues", "5", "--comments", "5"]);
    let mut user = User::new(&sandbox);
    let first = user
        .run(&["--json", "snapshot", "create", SCOPE])
        .ok()
        .json();
    user.run(&["--json", "snapshot", "create", SCOPE]).ok();

    let unknown = user.run(&["diff", SCOPE, "--from", "no-such-snapshot"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert_eq!(
        unknown.stderr.trim().lines().count(),
        1,
        "{}",
        unknown.stderr
    );
    assert!(unknown.stderr.contains("no-such-snapshot"));

    // Two snapshots taken a moment apart share the time prefix of their ids.
    let prefix = &first["id"].as_str().unwrap()[..6];
    let ambiguous = user.run(&["diff", SCOPE, "--from", prefix]);
    assert_eq!(ambiguous.code, 2, "{ambiguous:?}");
    assert!(
        ambiguous.stderr.contains("ambiguous"),
        "{}",
        ambiguous.stderr
    );
    assert_eq!(ambiguous.stderr.trim().lines().count(), 1);

    user.token = String::new();
    let no_token = user.run(&["diff", SCOPE]);
    assert_eq!(no_token.code, 2, "{no_token:?}");
    assert!(
        no_token.stderr.contains("GITHUB_TOKEN"),
        "{}",
        no_token.stderr
    );
    assert_eq!(no_token.stderr.trim().lines().count(), 1);
}
