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
/// on many issues, a deleted label and milestone, renamed labels (two of them swapped) and a
/// retitled milestone, deleted and edited comments, issues closed and reopened. Returns how many writes it made.
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
    // Two labels swap names (through a third name, as GitHub needs), another is renamed.
    let others: Vec<String> = labels
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .filter(|name| *name != used)
        .take(3)
        .collect();
    for (from, to) in [
        (&others[0], "swapping"),
        (&others[1], others[0].as_str()),
        (&"swapping".to_string(), others[1].as_str()),
        (&others[2], "renamed by a script"),
    ] {
        ok(sandbox.api(
            "PATCH",
            &format!("{REPO}/labels/{}", enc(from)),
            Some(json!({"new_name": to})),
        ));
    }
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
    if let Some(other) = milestones.iter().find(|o| o["number"] != m["number"]) {
        ok(sandbox.api(
            "PATCH",
            &format!("{REPO}/milestones/{}", other["number"]),
            Some(json!({"title": "retitled by a script"})),
        ));
    }
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
pub(crate) fn restorable_state(sandbox: &SandboxProc) -> Value {
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
pub(crate) fn restored_copies(sandbox: &SandboxProc) -> HashMap<String, usize> {
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
    let (sandbox, user, before) = scene(&["--issues", "80", "--comments", "300", "--seed", "5"]);
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
    let (sandbox, user, _) = scene(&["--issues", "20", "--comments", "40"]);
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
    let (sandbox, user, before) = scene(&["--issues", "20", "--comments", "40"]);
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
    let (sandbox, user, _) = scene(&["--issues", "40", "--comments", "80", "--latency-ms", "40"]);
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
    let (sandbox, user, before) = scene(&[
        "--issues",
        "40",
        "--comments",
        "100",
        "--seed",
        "13",
        "--fault-rate",
        "0.1",
    ]);
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

/// A sandbox started with `args`, its user, and the restorable state when the user took the
/// snapshot named `good`.
fn scene(args: &[&str]) -> (SandboxProc, User, Value) {
    let sandbox = SandboxProc::start(args);
    let user = User::new(&sandbox);
    let before = restorable_state(&sandbox);
    user.run(&["snapshot", "create", SCOPE, "--name", "good"])
        .ok();
    (sandbox, user, before)
}

/// The most used value of `key` over the repository's issues, and how many issues have it.
fn most_used(sandbox: &SandboxProc, key: impl Fn(&Value) -> Vec<String>) -> (String, usize) {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for i in sandbox.list_all(&format!("{REPO}/issues?state=all")) {
        for k in key(&i) {
            *counts.entry(k).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(k, c)| (*c, k.clone()))
        .unwrap()
}

/// One write another client makes; it must succeed.
fn edit(sandbox: &SandboxProc, path: &str, body: Value) {
    let (status, reply) = sandbox.api("PATCH", &format!("{REPO}{path}"), Some(body));
    assert_eq!(status, 200, "PATCH {path}: {reply}");
}

/// Runs `rollback --execute --yes` to `good` and returns the JSON report.
fn execute(user: &User, extra: &[&str]) -> Value {
    let mut args = vec![
        "--json",
        "rollback",
        SCOPE,
        "--to",
        "good",
        "--execute",
        "--yes",
    ];
    args.extend(FAST);
    args.extend(extra);
    user.run(&args).ok().json()
}

/// Snapshots a 120-issue repository, lets `damage` rename one definition that many issues
/// carry (it returns the path it edited and how many issues carry it), and checks that the
/// rollback restores everything with exactly one write, of kind `op`.
fn one_write_restores(seed: &str, damage: impl FnOnce(&SandboxProc) -> (String, usize), op: &str) {
    let (sandbox, user, before) = scene(&["--issues", "120", "--comments", "60", "--seed", seed]);
    let (what, carriers) = damage(&sandbox);
    assert!(carriers >= 5, "{what} is on {carriers} issues only");

    let w0 = writes(&sandbox);
    let report = execute(&user, &[]);
    eprintln!(
        "{what}, on {carriers} issues: restored with {} write(s)",
        writes(&sandbox) - w0
    );
    assert_eq!(writes(&sandbox) - w0, 1, "one write: {report}");
    assert_eq!(report["executed"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["plan"]["ops"][0]["op"], op, "{report}");
    assert_eq!(report["verification"]["clean"], true, "{report}");
    assert_eq!(restorable_state(&sandbox), before);
}

#[test]
fn a_label_renamed_on_many_issues_is_restored_with_one_write() {
    one_write_restores(
        "21",
        |sandbox| {
            let (label, carriers) = most_used(sandbox, |i| {
                i["labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["name"].as_str().unwrap().to_string())
                    .collect()
            });
            let path = format!("/labels/{}", enc(&label));
            edit(
                sandbox,
                &path,
                json!({"new_name": "renamed by a script", "color": "000000"}),
            );
            (path, carriers)
        },
        "update_label",
    );
}

#[test]
fn a_retitled_milestone_is_restored_with_one_write() {
    one_write_restores(
        "22",
        |sandbox| {
            let (number, carriers) = most_used(sandbox, |i| {
                i["milestone"]["number"]
                    .as_u64()
                    .map(|n| n.to_string())
                    .into_iter()
                    .collect()
            });
            let path = format!("/milestones/{number}");
            edit(
                sandbox,
                &path,
                json!({"title": "Retitled by a script", "description": "changed"}),
            );
            (path, carriers)
        },
        "update_milestone",
    );
}

/// Once confirmed, a plan is the plan: when the tracker moves between the preview and the
/// execution, nothing is written and the difference is shown; `--replan` runs the new plan
/// and says how it differs.
#[test]
fn a_plan_that_moved_after_the_preview_is_refused_or_replanned() {
    let (sandbox, user, before) = scene(&["--issues", "20", "--comments", "40"]);
    chaos_light(&sandbox);
    let preview = user
        .run(&["--json", "rollback", SCOPE, "--to", "good"])
        .ok()
        .json();
    let fingerprint = preview["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(preview["plan"]["ops"].as_array().unwrap().len(), 1);

    // Someone edits issue 2 after the preview was confirmed.
    edit(
        &sandbox,
        "/issues/2",
        json!({"title": "moved after the preview"}),
    );
    let w0 = writes(&sandbox);
    let mut args = vec![
        "rollback",
        SCOPE,
        "--to",
        "good",
        "--execute",
        "--yes",
        "--plan",
    ];
    args.push(fingerprint.as_str());
    args.extend(FAST);
    let refused = user.run(&args);
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(
        refused.stderr.contains("1 operation(s) added, 0 dropped")
            && refused.stderr.contains("+ #2")
            && refused.stderr.contains("moved after the preview")
            && refused.stderr.contains("--replan"),
        "{}",
        refused.stderr
    );
    assert_eq!(writes(&sandbox), w0, "nothing written");

    // The same, as JSON for scripts.
    let mut json_args = vec!["--json"];
    json_args.extend(&args);
    let refused = user.run(&json_args);
    assert_eq!(refused.code, 3, "{refused:?}");
    let out = refused.json();
    assert_eq!(out["executed"], false);
    assert_eq!(
        out["plan_changed"]["added"].as_array().unwrap().len(),
        1,
        "{out}"
    );
    assert_eq!(out["plan_changed"]["confirmed"], fingerprint.as_str());
    assert_eq!(writes(&sandbox), w0, "nothing written");

    // --replan runs the plan as it is now, and says how it differs.
    let mut replan = json_args.clone();
    replan.push("--replan");
    let run = user.run(&replan).ok();
    let report = run.json();
    assert!(
        run.stderr.contains("1 operation(s) added, 0 dropped") && run.stderr.contains("--replan"),
        "{}",
        run.stderr
    );
    assert_eq!(
        report["replanned"]["added"].as_array().unwrap().len(),
        1,
        "{report}"
    );
    assert_eq!(
        report["replanned"]["dropped"].as_array().unwrap().len(),
        0,
        "{report}"
    );
    assert_eq!(report["verification"]["clean"], true, "{report}");
    assert_eq!(writes(&sandbox) - w0, 2);
    assert_eq!(restorable_state(&sandbox), before);
}

/// A `backtrack` run on a pseudo-terminal (util-linux `script`), for the questions the CLI
/// only asks a person.
struct Terminal {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Terminal {
    fn start(user: &User, args: &[&str]) -> Terminal {
        let line = std::iter::once(crate::util::bin().display().to_string())
            .chain(args.iter().map(|a| a.to_string()))
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let mut script = std::process::Command::new("script");
        // The same environment as the user's other commands.
        for (k, v) in user.command(&[]).get_envs() {
            match v {
                Some(v) => script.env(k, v),
                None => script.env_remove(k),
            };
        }
        let mut child = script
            .args(["-q", "-e", "-f", "-c", &line, "/dev/null"])
            .env("TERM", "dumb")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run `script` (util-linux)");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Terminal { child, stdin, seen }
    }

    /// Waits until the output shows `needle`; returns the output so far.
    fn expect(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let seen = self.seen.lock().unwrap().clone();
            if seen.contains(needle) {
                return seen;
            }
            assert!(Instant::now() < deadline, "never saw {needle:?}:\n{seen}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answer(&mut self, text: &str) {
        use std::io::Write;
        self.stdin
            .write_all(format!("{text}\n").as_bytes())
            .unwrap();
        self.stdin.flush().unwrap();
    }

    fn exit_code(mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "did not exit:\n{}",
                self.seen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn interactive_confirmation_asks_again_when_the_plan_moved() {
    let (sandbox, user, before) = scene(&["--issues", "20", "--comments", "40"]);
    chaos_light(&sandbox);
    let args = [
        "rollback",
        SCOPE,
        "--to",
        "good",
        "--execute",
        FAST[0],
        FAST[1],
    ];

    // Declining the changed plan writes nothing.
    let mut term = Terminal::start(&user, &args);
    term.expect("Apply 1 write(s)");
    edit(
        &sandbox,
        "/issues/2",
        json!({"title": "moved while the question was open"}),
    );
    let w0 = writes(&sandbox);
    term.answer("y");
    let seen = term.expect("Apply the new plan (2 write(s))");
    assert!(
        seen.contains("1 operation(s) added, 0 dropped") && seen.contains("+ #2"),
        "{seen}"
    );
    term.answer("n");
    assert_eq!(term.exit_code(), 3);
    assert_eq!(writes(&sandbox), w0, "nothing written");

    // Accepting it runs the new plan, from a new pre-rollback snapshot.
    let mut term = Terminal::start(&user, &args);
    term.expect("Apply 2 write(s)");
    edit(&sandbox, "/issues/3", json!({"body": "moved again"}));
    let w1 = writes(&sandbox);
    term.answer("y");
    term.expect("Apply the new plan (3 write(s))");
    term.answer("y");
    let seen = term.expect("Undo this rollback with");
    assert!(seen.contains("Verification: clean"), "{seen}");
    assert_eq!(term.exit_code(), 0);
    assert_eq!(writes(&sandbox) - w1, 3);
    assert_eq!(restorable_state(&sandbox), before);
}

/// Undoing a rollback (`restore <pre-rollback>`) brings back the damaged state, field by
/// field. Definitions the rollback recreated stay (a rollback never deletes a label or a
/// milestone), carried by no issue.
#[test]
fn undo_returns_the_damaged_state_field_by_field() {
    let (sandbox, user, _) = scene(&["--issues", "60", "--comments", "200", "--seed", "7"]);
    chaos(&sandbox);
    let damaged = restorable_state(&sandbox);
    let report = execute(&user, &[]);
    assert_eq!(report["verification"]["clean"], true, "{report}");
    assert_ne!(restorable_state(&sandbox), damaged);
    let pre = report["pre_rollback_snapshot"].as_str().unwrap();
    assert_eq!(report["undo"], format!("backtrack restore {pre}"));

    let mut args = vec![
        "--json",
        "restore",
        pre,
        "--execute",
        "--yes",
        "--delete-new-comments",
    ];
    args.extend(FAST);
    let undo = user.run(&args).ok().json();
    assert_eq!(undo["verification"]["clean"], true, "{undo}");
    let after = restorable_state(&sandbox);
    assert_eq!(after["issues"], damaged["issues"], "issues, field by field");
    assert_eq!(after["comments"], damaged["comments"], "comments");
    for kind in ["labels", "milestones"] {
        let had = damaged[kind].as_array().unwrap();
        let has = after[kind].as_array().unwrap();
        assert!(
            had.iter().all(|d| has.contains(d)),
            "{kind}: {had:?} vs {has:?}"
        );
        // Only the one the chaos deleted and the rollback recreated is extra.
        assert_eq!(has.len(), had.len() + 1, "{kind}: {has:?}");
    }
}

/// Issue 21 item 2, for plans: a job's stored plan is checked against the hash its job
/// records before it is used. A plan re-encoded with one value changed (well-formed, so only
/// its hash tells) stops the resumed run with the damage named and nothing written, and
/// closes the job so the next run plans afresh and converges; a plan whose hash the job never
/// recorded (the process died between the two writes) is adopted only because it is the plan
/// its pre-rollback snapshot gives again.
#[test]
fn an_interrupted_rollbacks_plan_is_checked_before_it_is_resumed() {
    let sandbox = SandboxProc::start(&["--issues", "20", "--comments", "40", "--seed", "4"]);
    let user = User::new(&sandbox);
    user.run(&["snapshot", "create", SCOPE, "--name", "good"])
        .ok();
    let before = restorable_state(&sandbox);
    let slow = [
        "rollback",
        SCOPE,
        "--to",
        "good",
        "--execute",
        "--yes",
        "--write-interval-ms",
        "400",
    ];
    let fast = [
        "--json",
        "rollback",
        SCOPE,
        "--to",
        "good",
        "--execute",
        "--yes",
        FAST[0],
        FAST[1],
    ];
    let catalog = || rusqlite::Connection::open(user.store().join("catalog.sqlite")).unwrap();
    // The unfinished job whose plan is stored and sealed: (id, plan key).
    let sealed_job = || -> Option<(String, String)> {
        catalog()
            .query_row(
                "SELECT id, json_extract(extra, '$.plan_key') FROM jobs \
                 WHERE status IN ('queued', 'running') AND json_extract(extra, '$.plan_hash') IS NOT NULL",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok()
    };
    // Damages the tracker, then starts a rollback and stops it once its plan is sealed.
    let interrupted = || -> (String, String) {
        assert!(chaos(&sandbox) > 5);
        let mut child = user
            .command(&slow)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let found = loop {
            if let Some(found) = sealed_job() {
                break found;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "the rollback finished before its plan was seen"
            );
            assert!(std::time::Instant::now() < deadline, "no sealed plan");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let _ = child.kill();
        let _ = child.wait();
        found
    };
    let replace = |path: &std::path::Path, bytes: &[u8]| {
        let staged = path.with_extension("test");
        std::fs::write(&staged, bytes).unwrap();
        std::fs::rename(&staged, path).unwrap();
    };

    let (job, plan_key) = interrupted();
    let plan_path = user.store().join(&plan_key);
    let intact = std::fs::read(&plan_path).unwrap();
    let text = String::from_utf8(backtrack::blob::decompress(&plan_key, &intact).unwrap()).unwrap();
    assert!(text.contains("\"to\":\""), "{text}");
    let altered = text.replacen("\"to\":\"", "\"to\":\"[altered] ", 1);
    replace(&plan_path, &backtrack::blob::compress(altered.as_bytes()));
    let writes_before = writes(&sandbox);
    let refused = user.run(&slow);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains(&plan_key)
            && refused.stderr.contains("hash")
            && refused.stderr.contains("run the command again"),
        "the damaged plan is named, with the way out: {}",
        refused.stderr
    );
    assert_eq!(writes(&sandbox), writes_before, "nothing written");
    let status: String = catalog()
        .query_row("SELECT status FROM jobs WHERE id = ?1", [&job], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(status, "failed");
    // The way out works: a new job plans afresh from the live state and converges.
    let again = user.run(&fast);
    assert_eq!(again.code, 0, "{again:?}");
    let report = again.json();
    assert_eq!(report["resumed"], false, "{report}");
    assert_eq!(report["verification"]["clean"], true, "{report}");
    assert_eq!(restorable_state(&sandbox), before);

    // Interrupted again; the job's plan hash is dropped, as if the process died between
    // storing the plan and recording it. Planned again from the same pre-rollback snapshot it
    // is the same plan, so it stands, its hash is recorded, and the rollback converges.
    let (job, _) = interrupted();
    let changed = catalog()
        .execute(
            "UPDATE jobs SET extra = json_remove(extra, '$.plan_hash') WHERE id = ?1",
            [job.as_str()],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let resumed = user.run(&fast);
    assert_eq!(resumed.code, 0, "{resumed:?}");
    let report = resumed.json();
    assert_eq!(report["resumed"], true, "{report}");
    assert_eq!(report["verification"]["clean"], true, "{report}");
    assert_eq!(restorable_state(&sandbox), before);
    let recorded: Option<String> = catalog()
        .query_row(
            "SELECT json_extract(extra, '$.plan_hash') FROM jobs WHERE id = ?1",
            [&job],
            |r| r.get(0),
        )
        .unwrap();
    assert!(recorded.is_some(), "the adopted plan's hash is recorded");
}
