//! Issue 4 acceptance: rollback in place against the sandbox, through the CLI.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::{SandboxProc, User};

const SCOPE: &str = "github:acme/widgets";
const REPO: &str = "/repos/acme/widgets";
const FAST: [&str; 2] = ["--write-interval-ms", "0"];

fn writes(sandbox: &SandboxProc) -> u64 {
    sandbox.stats()["writes"].as_u64().unwrap()
}

fn enc(name: &str) -> String {
    name.replace('%', "%25")
        .replace(' ', "%20")
        .replace('/', "%2F")
        .replace(':', "%3A")
}

/// Wrecks the repository the way a bad sync script and a careless admin would: many fields
/// on many issues, a deleted label and milestone, deleted and edited comments, issues closed
/// and reopened. Returns how many writes it made.
fn chaos(sandbox: &SandboxProc) -> usize {
    let issues = sandbox.list_all(&format!("{REPO}/issues?state=all"));
    let plain: Vec<&Value> = issues
        .iter()
        .filter(|i| i.get("pull_request").is_none())
        .collect();
    let mut n = 0;
    let mut ok = |(status, body): (u16, Value)| {
        assert!((200..300).contains(&status), "{status}: {body}");
        n += 1;
    };
    for i in plain.iter().take(12) {
        ok(sandbox.api(
            "PATCH",
            &format!("{REPO}/issues/{}", i["number"]),
            Some(json!({"title": format!("[SYNC] {}", i["number"]), "body": "overwritten"})),
        ));
    }
    for i in plain
        .iter()
        .filter(|i| i["state"] == "open")
        .skip(12)
        .take(4)
    {
        ok(sandbox.api(
            "PATCH",
            &format!("{REPO}/issues/{}", i["number"]),
            Some(json!({"state": "closed", "state_reason": "not_planned"})),
        ));
    }
    for i in plain.iter().filter(|i| i["state"] == "closed").take(3) {
        ok(sandbox.api(
            "PATCH",
            &format!("{REPO}/issues/{}", i["number"]),
            Some(json!({"state": "open"})),
        ));
    }
    for i in plain.iter().skip(20).take(4) {
        ok(sandbox.api(
            "PATCH",
            &format!("{REPO}/issues/{}", i["number"]),
            Some(json!({"labels": [], "assignees": []})),
        ));
    }
    let labels = sandbox.list_all(&format!("{REPO}/labels"));
    let used = labels
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .find(|name| {
            issues.iter().any(|i| {
                i["labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|l| l["name"] == name.as_str())
            })
        })
        .unwrap();
    ok(sandbox.api("DELETE", &format!("{REPO}/labels/{}", enc(&used)), None));
    let milestones = sandbox.list_all(&format!("{REPO}/milestones?state=all"));
    let m = milestones
        .iter()
        .find(|m| {
            issues
                .iter()
                .any(|i| i["milestone"]["number"] == m["number"])
        })
        .unwrap();
    ok(sandbox.api(
        "DELETE",
        &format!("{REPO}/milestones/{}", m["number"]),
        None,
    ));
    let comments = sandbox.list_all(&format!("{REPO}/issues/comments"));
    for c in comments.iter().take(4) {
        ok(sandbox.api(
            "DELETE",
            &format!("{REPO}/issues/comments/{}", c["id"]),
            None,
        ));
    }
    for c in comments.iter().skip(4).take(4) {
        ok(sandbox.api(
            "PATCH",
            &format!("{REPO}/issues/comments/{}", c["id"]),
            Some(json!({"body": "edited by a bot"})),
        ));
    }
    n
}

/// The restorable state of the repository as another client sees it.
fn restorable_state(sandbox: &SandboxProc) -> Value {
    let mut issues: Vec<Value> = sandbox
        .list_all(&format!("{REPO}/issues?state=all"))
        .into_iter()
        .map(|i| {
            let mut labels: Vec<String> = i["labels"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap().to_string()).collect();
            labels.sort();
            let mut assignees: Vec<String> = i["assignees"].as_array().unwrap().iter().map(|a| a["login"].as_str().unwrap().to_string()).collect();
            assignees.sort();
            let reason = if i["state"] == "closed" { i["state_reason"].clone() } else { Value::Null };
            json!({"number": i["number"], "title": i["title"], "body": i["body"].as_str().unwrap_or(""), "state": i["state"],
                   "state_reason": reason, "labels": labels, "assignees": assignees, "milestone": i["milestone"]["title"]})
        })
        .collect();
    issues.sort_by_key(|i| i["number"].as_u64());
    let mut labels: Vec<Value> = sandbox
        .list_all(&format!("{REPO}/labels"))
        .into_iter()
        .map(|l| json!({"name": l["name"], "color": l["color"], "description": l["description"].as_str().unwrap_or("")}))
        .collect();
    labels.sort_by_key(|l| l["name"].as_str().map(str::to_string));
    let mut milestones: Vec<Value> = sandbox
        .list_all(&format!("{REPO}/milestones?state=all"))
        .into_iter()
        .map(|m| json!({"title": m["title"], "state": m["state"], "description": m["description"].as_str().unwrap_or(""),
                        "due_on": m["due_on"].as_str().map(|d| d[..10].to_string())}))
        .collect();
    milestones.sort_by_key(|m| m["title"].as_str().map(str::to_string));
    // Comments by (issue, text without the restoration framing).
    let mut comments: Vec<(u64, String)> = sandbox
        .list_all(&format!("{REPO}/issues/comments"))
        .into_iter()
        .map(|c| {
            let issue = c["issue_url"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let body = c["body"].as_str().unwrap().to_string();
            let body = match body.split_once("._\n\n") {
                Some((head, rest)) if head.starts_with("> _Restored by backtrack") => rest
                    .rsplit_once("\n\n<!-- backtrack:restored-comment:")
                    .map(|(b, _)| b.to_string())
                    .unwrap_or(body.clone()),
                _ => body,
            };
            (issue, body)
        })
        .collect();
    comments.sort();
    json!({"issues": issues, "labels": labels, "milestones": milestones, "comments": comments})
}

/// How many live comments carry each restoration marker (a duplicate shows as 2+).
fn restored_copies(sandbox: &SandboxProc) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for c in sandbox.list_all(&format!("{REPO}/issues/comments")) {
        if let Some((_, tail)) = c["body"]
            .as_str()
            .unwrap()
            .rsplit_once("<!-- backtrack:restored-comment:")
        {
            *out.entry(tail.to_string()).or_insert(0) += 1;
        }
    }
    out
}

#[test]
fn rollback_restores_every_field_with_one_write_per_planned_operation() {
    let sandbox = SandboxProc::start(&["--issues", "80", "--comments", "300", "--seed", "5"]);
    let user = User::new(&sandbox);
    let before = restorable_state(&sandbox);
    user.run(&["snapshot", "create", SCOPE, "--name", "good"])
        .ok();
    chaos(&sandbox);
    assert_ne!(restorable_state(&sandbox), before);

    // The preview writes nothing and names what cannot be restored.
    let w0 = writes(&sandbox);
    let preview = user
        .run(&["--json", "rollback", SCOPE, "--to", "good"])
        .ok()
        .json();
    assert_eq!(preview["executed"], false);
    let planned = preview["plan"]["ops"].as_array().unwrap().len();
    assert!(planned >= 20, "{preview}");
    let irrecoverable = preview["plan"]["irrecoverable"].as_array().unwrap();
    assert_eq!(
        irrecoverable
            .iter()
            .filter(|i| i["key"].as_str().unwrap().starts_with("comment:"))
            .count(),
        4
    );
    assert!(irrecoverable
        .iter()
        .any(|i| i["key"].as_str().unwrap().starts_with("milestone:")));
    assert_eq!(writes(&sandbox), w0, "a preview must not write");
    let text = user.run(&["rollback", SCOPE, "--to", "good"]).ok().stdout;
    assert!(
        text.contains("Cannot be restored") && text.contains("--execute"),
        "{text}"
    );

    // Without a terminal, --execute needs --yes.
    let refused = user.run(&["rollback", SCOPE, "--to", "good", "--execute"]);
    assert_eq!(refused.code, 3, "{refused:?}");
    assert_eq!(writes(&sandbox), w0);

    let report = user
        .run(&[
            "--json",
            "rollback",
            SCOPE,
            "--to",
            "good",
            "--execute",
            "--yes",
            FAST[0],
            FAST[1],
        ])
        .ok()
        .json();
    assert_eq!(report["verification"]["clean"], true, "{report}");
    assert_eq!(report["executed"].as_array().unwrap().len(), planned);
    assert_eq!(
        writes(&sandbox) - w0,
        planned as u64,
        "one write per planned operation, no redundant writes"
    );
    assert!(report["undo"]
        .as_str()
        .unwrap()
        .starts_with("backtrack restore "));
    assert_eq!(
        restorable_state(&sandbox),
        before,
        "every restorable field equals the snapshot again"
    );

    // The pre-rollback snapshot exists and undoes the rollback.
    let pre = report["pre_rollback_snapshot"].as_str().unwrap();
    let shown = user.run(&["--json", "snapshot", "show", pre]).ok().json();
    assert_eq!(shown["trigger"], "pre-rollback");
    let again = user
        .run(&["--json", "rollback", SCOPE, "--to", "good"])
        .ok()
        .json();
    assert_eq!(again["plan"]["ops"].as_array().unwrap().len(), 0, "{again}");
}

#[test]
fn bad_rollback_input_is_rejected_before_any_write() {
    let sandbox = SandboxProc::start(&["--issues", "20", "--comments", "40"]);
    let user = User::new(&sandbox);
    user.run(&["snapshot", "create", SCOPE, "--name", "good"])
        .ok();
    chaos_light(&sandbox);
    let w0 = writes(&sandbox);
    for (args, needle) in [
        (vec!["--to", "nope"], "nope"),
        (vec!["--to", "good", "--only", "12,99999"], "#99999"),
        (vec!["--to", "good", "--only", "abc"], "abc"),
        (vec!["--to", "good", "--fields", "title,colour"], "colour"),
    ] {
        let mut full = vec!["rollback", SCOPE];
        full.extend(args);
        full.extend(["--execute", "--yes"]);
        let run = user.run(&full);
        assert_eq!(run.code, 2, "{full:?}: {run:?}");
        assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.contains(needle), "{}", run.stderr);
    }
    assert_eq!(writes(&sandbox), w0, "nothing written");
}

fn chaos_light(sandbox: &SandboxProc) {
    let (status, body) = sandbox.api(
        "PATCH",
        &format!("{REPO}/issues/1"),
        Some(json!({"title": "changed"})),
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn only_and_fields_limit_what_is_restored() {
    let sandbox = SandboxProc::start(&["--issues", "20", "--comments", "40"]);
    let user = User::new(&sandbox);
    let before = restorable_state(&sandbox);
    user.run(&["snapshot", "create", SCOPE, "--name", "good"])
        .ok();
    for n in [1, 2] {
        let (s, b) = sandbox.api(
            "PATCH",
            &format!("{REPO}/issues/{n}"),
            Some(json!({"title": "wrecked", "body": "wrecked"})),
        );
        assert_eq!(s, 200, "{b}");
    }
    let w0 = writes(&sandbox);
    let r = user
        .run(&[
            "--json",
            "rollback",
            SCOPE,
            "--to",
            "good",
            "--only",
            "#1",
            "--fields",
            "title",
            "--execute",
            "--yes",
            FAST[0],
            FAST[1],
        ])
        .ok()
        .json();
    assert_eq!(r["executed"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(writes(&sandbox) - w0, 1);
    let (_, one) = sandbox.api("GET", &format!("{REPO}/issues/1"), None);
    let (_, two) = sandbox.api("GET", &format!("{REPO}/issues/2"), None);
    assert_eq!(one["title"], before["issues"][0]["title"]);
    assert_eq!(
        one["body"], "wrecked",
        "--fields title leaves the body alone"
    );
    assert_eq!(two["title"], "wrecked", "--only #1 leaves #2 alone");
}

#[test]
fn a_second_rollback_of_the_same_scope_is_refused_while_one_runs() {
    let sandbox = SandboxProc::start(&["--issues", "40", "--comments", "80", "--latency-ms", "40"]);
    let user = User::new(&sandbox);
    user.run(&["snapshot", "create", SCOPE, "--name", "good"])
        .ok();
    chaos(&sandbox);
    let w0 = writes(&sandbox);
    let mut first = user
        .command(&[
            "rollback",
            SCOPE,
            "--to",
            "good",
            "--execute",
            "--yes",
            FAST[0],
            FAST[1],
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while writes(&sandbox) == w0 {
        assert!(
            Instant::now() < deadline,
            "the first rollback never started writing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = user.run(&[
        "rollback",
        SCOPE,
        "--to",
        "good",
        "--execute",
        "--yes",
        FAST[0],
        FAST[1],
    ]);
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first rollback finished too early for this test"
    );
    assert_eq!(second.code, 3, "{second:?}");
    assert!(
        second.stderr.contains("locked by rollback by"),
        "{}",
        second.stderr
    );
    assert!(second.stderr.contains("pid"), "{}", second.stderr);
    // Snapshots are refused too while the rollback holds the scope.
    let snap = user.run(&["snapshot", "create", SCOPE]);
    assert_eq!(snap.code, 3, "{snap:?}");
    assert!(first.wait().unwrap().success());
}

#[test]
fn killed_rollbacks_resume_and_converge_without_duplicates() {
    let sandbox = SandboxProc::start(&[
        "--issues",
        "30",
        "--comments",
        "90",
        "--seed",
        "9",
        "--latency-ms",
        "3",
    ]);
    let trials: u64 = std::env::var("BACKTRACK_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    // How long one uninterrupted rollback takes here, so the kills spread over a whole run
    // however fast or loaded the machine is (fixed delays missed most runs on a quiet one).
    let full_run = {
        let (s, _) = crate::util::http(&sandbox.url, "POST", "/_sandbox/reset", None, None);
        assert!((200..300).contains(&s));
        let user = User::new(&sandbox);
        user.run(&["snapshot", "create", SCOPE, "--name", "good"])
            .ok();
        chaos(&sandbox);
        let started = std::time::Instant::now();
        user.run(&[
            "rollback",
            SCOPE,
            "--to",
            "good",
            "--execute",
            "--yes",
            FAST[0],
            FAST[1],
        ])
        .ok();
        started.elapsed()
    };
    let mut killed_mid_run = 0;
    for trial in 0..trials {
        let (s, _) = crate::util::http(&sandbox.url, "POST", "/_sandbox/reset", None, None);
        assert!((200..300).contains(&s));
        let before = restorable_state(&sandbox);
        let user = User::new(&sandbox);
        user.run(&["snapshot", "create", SCOPE, "--name", "good"])
            .ok();
        chaos(&sandbox);
        let args = [
            "rollback",
            SCOPE,
            "--to",
            "good",
            "--execute",
            "--yes",
            FAST[0],
            FAST[1],
        ];
        let mut child = user
            .command(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kill over the whole run: preview, pre-rollback snapshot, writes, verify.
        let delay = full_run.mul_f64((trial * 7919 % 23) as f64 / 23.0);
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        // Re-running the same command converges.
        let run = user.run(&[
            "--json",
            "rollback",
            SCOPE,
            "--to",
            "good",
            "--execute",
            "--yes",
            FAST[0],
            FAST[1],
        ]);
        if run.code == 0 && !run.stdout.contains("\"executed\": false") {
            assert_eq!(
                run.json()["verification"]["clean"],
                true,
                "trial {trial}: {}",
                run.stdout
            );
        } else {
            assert_eq!(run.code, 0, "trial {trial}: {run:?}");
        }
        assert_eq!(
            restorable_state(&sandbox),
            before,
            "trial {trial} did not converge"
        );
        let dupes: Vec<_> = restored_copies(&sandbox)
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .collect();
        assert!(
            dupes.is_empty(),
            "trial {trial}: duplicated comments {dupes:?}"
        );
    }
    assert!(
        killed_mid_run * 4 >= trials,
        "only {killed_mid_run}/{trials} kills landed mid-run"
    );
}

#[test]
fn rollback_under_injected_faults_still_converges() {
    // 10% of requests fail with a 5xx or a secondary-limit 403 + Retry-After, before any
    // state changes: the writes are retried, and the repository ends up restored.
    let sandbox = SandboxProc::start(&[
        "--issues",
        "40",
        "--comments",
        "100",
        "--seed",
        "13",
        "--fault-rate",
        "0.1",
    ]);
    let user = User::new(&sandbox);
    let before = restorable_state(&sandbox);
    user.run(&["snapshot", "create", SCOPE, "--name", "good"])
        .ok();
    chaos_retrying(&sandbox);
    let report = user
        .run(&[
            "--json",
            "rollback",
            SCOPE,
            "--to",
            "good",
            "--execute",
            "--yes",
            FAST[0],
            FAST[1],
        ])
        .ok()
        .json();
    assert_eq!(report["verification"]["clean"], true, "{report}");
    assert_eq!(restorable_state(&sandbox), before);
    assert!(restored_copies(&sandbox).values().all(|n| *n == 1));
}

/// `chaos`, but tolerant of the sandbox's injected faults (retries each call).
fn chaos_retrying(sandbox: &SandboxProc) {
    for n in 1..=10 {
        retry(
            sandbox,
            "PATCH",
            &format!("{REPO}/issues/{n}"),
            Some(json!({"title": format!("[SYNC] {n}"), "body": "overwritten"})),
        );
    }
    let comments = loop {
        let (s, body) = sandbox.api("GET", &format!("{REPO}/issues/comments?per_page=5"), None);
        if s == 200 {
            break body;
        }
    };
    for c in comments.as_array().unwrap().iter().take(3) {
        retry(
            sandbox,
            "DELETE",
            &format!("{REPO}/issues/comments/{}", c["id"]),
            None,
        );
    }
}

/// One REST call, repeated until the sandbox's injected faults let it through.
fn retry(sandbox: &SandboxProc, method: &str, path: &str, body: Option<Value>) {
    for _ in 0..50 {
        let (s, _) = sandbox.api(method, path, body.clone());
        if (200..300).contains(&s) {
            return;
        }
    }
    panic!("{method} {path} kept failing");
}
