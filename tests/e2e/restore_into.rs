//! Issue 15 item 4 acceptance: `restore REF --into SCOPE` copies a snapshot into another
//! repository, through the CLI, against two GitHub sandboxes started the way a user starts
//! them (one repository each), read back with PyGithub.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};

use crate::util::{Run, SandboxProc, User};

pub(crate) const SOURCE: &str = "github:acme/widgets";
pub(crate) const DEST: &str = "github:acme/other";
const FAST: [&str; 2] = ["--write-interval-ms", "0"];

fn writes(sandbox: &SandboxProc) -> u64 {
    sandbox.stats()["writes"].as_u64().unwrap()
}

/// `backtrack ARGS` with `user`'s store, against the sandbox at `url`.
fn run_at(user: &User, url: &str, args: &[&str]) -> Run {
    let out = user
        .command(args)
        .env("GITHUB_API_URL", url)
        .output()
        .expect("run backtrack");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

fn restore_args(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["--json", "restore", "good", "--into", DEST]
        .map(String::from)
        .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// What PyGithub reads of `repo` (see tests/py/pygithub_read.py).
pub(crate) fn read_back(sandbox: &SandboxProc, repo: &str) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("py/pygithub_read.py");
    let out = Command::new(crate::jira::python())
        .arg(&script)
        .args([&sandbox.url, crate::util::SANDBOX_TOKEN, repo])
        .output()
        .expect("run pygithub_read.py");
    assert!(
        out.status.success(),
        "pygithub_read.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("pygithub_read.py prints JSON")
}

/// A copy's text without what the restore added: the attribution line and the marker.
pub(crate) fn original_text(copy: &str) -> String {
    let (attribution, rest) = copy.split_once("\n\n").expect("an attribution line");
    assert!(
        attribution.starts_with("> _Migrated by backtrack from github:acme/widgets#"),
        "{attribution:?}"
    );
    if rest.starts_with("<!-- backtrack:migrated-from ") {
        return String::new();
    }
    let (text, marker) = rest.rsplit_once("\n\n").expect("a marker");
    assert!(
        marker.starts_with("<!-- backtrack:migrated-from github:acme/widgets#"),
        "{marker:?}"
    );
    text.to_string()
}

/// Prepares the source repository: a label and a milestone the destination lacks, carried
/// by an issue, and a sub-issue link; returns nothing, the snapshot sees it all.
pub(crate) fn prepare_source(a: &SandboxProc) {
    let repo = "/repos/acme/widgets";
    let (s, _) = a.api(
        "POST",
        &format!("{repo}/labels"),
        Some(json!({"name": "migrate-me", "color": "123456", "description": "only in A"})),
    );
    assert_eq!(s, 201);
    let (s, m) = a.api(
        "POST",
        &format!("{repo}/milestones"),
        Some(json!({"title": "Only in A", "description": "moves along"})),
    );
    assert_eq!(s, 201, "{m}");
    let plain: Vec<Value> = a
        .list_all(&format!("{repo}/issues?state=all&direction=asc"))
        .into_iter()
        .filter(|i| i.get("pull_request").is_none())
        .collect();
    let (parent, child) = (&plain[0], &plain[1]);
    let (s, r) = a.api(
        "PATCH",
        &format!("{repo}/issues/{}", parent["number"]),
        Some(json!({"labels": ["migrate-me", "bug"], "milestone": m["number"]})),
    );
    assert_eq!(s, 200, "{r}");
    let (s, r) = a.api(
        "POST",
        &format!("{repo}/issues/{}/sub_issues", parent["number"]),
        Some(json!({"sub_issue_id": child["id"]})),
    );
    assert!((200..300).contains(&s), "{r}");
}

/// Checks that `dest` holds a faithful copy of every issue in `source` (both as PyGithub
/// reads them) under `moved` (old → new), and returns how many comments were compared.
pub(crate) fn assert_copied(source: &Value, dest: &Value, moved: &BTreeMap<u64, u64>) -> usize {
    let by_number: HashMap<u64, &Value> = dest["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["number"].as_u64().unwrap(), i))
        .collect();
    let mut comments = 0;
    for original in source["issues"].as_array().unwrap() {
        let n = original["number"].as_u64().unwrap();
        let new = moved
            .get(&n)
            .unwrap_or_else(|| panic!("#{n} was not copied"));
        let copy = by_number[new];
        for field in ["title", "labels", "milestone", "state", "state_reason"] {
            assert_eq!(copy[field], original[field], "#{n} → #{new}: {field}");
        }
        assert_eq!(
            original_text(copy["body"].as_str().unwrap()),
            original["body"].as_str().unwrap(),
            "#{n} → #{new}: body"
        );
        let parent = original["parent"].as_u64().map(|p| moved[&p]);
        assert_eq!(copy["parent"].as_u64(), parent, "#{n} → #{new}: parent");
        let want: Vec<&str> = original["comments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let got: Vec<String> = copy["comments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| original_text(c.as_str().unwrap()))
            .collect();
        assert_eq!(got, want, "#{n} → #{new}: comments");
        comments += want.len();
    }
    for (name, label) in source["labels"].as_object().unwrap() {
        let copy = dest["labels"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .unwrap_or_else(|| panic!("label {name} missing"));
        if name == "migrate-me" {
            assert_eq!(copy.1, label);
        }
    }
    for title in source["milestones"].as_object().unwrap().keys() {
        assert!(dest["milestones"].get(title).is_some(), "milestone {title}");
    }
    comments
}

fn mapping(report: &Value) -> BTreeMap<u64, u64> {
    report["moved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let n = |k: &str| {
                m[k].as_str()
                    .unwrap()
                    .trim_start_matches('#')
                    .parse()
                    .unwrap()
            };
            (n("from"), n("to"))
        })
        .collect()
}

/// Every marker the destination holds, with how many issues or comments carry it.
pub(crate) fn markers(b: &SandboxProc) -> HashMap<String, usize> {
    let mut out: HashMap<String, usize> = HashMap::new();
    let issues = b.list_all("/repos/acme/other/issues?state=all");
    let comments = b.list_all("/repos/acme/other/issues/comments");
    for body in issues
        .iter()
        .chain(&comments)
        .filter_map(|x| x["body"].as_str())
    {
        if let Some(at) = body.rfind("<!-- backtrack:migrated-from ") {
            *out.entry(body[at..].to_string()).or_default() += 1;
        }
    }
    out
}

#[test]
fn restore_into_another_repository_copies_everything_once() {
    let a = SandboxProc::start(&["--issues", "24", "--comments", "70", "--seed", "15"]);
    let b = SandboxProc::start(&[
        "--repo",
        "acme/other",
        "--issues",
        "2",
        "--comments",
        "3",
        "--seed",
        "4",
    ]);
    prepare_source(&a);
    let user = User::new(&a);
    user.run(&["snapshot", "create", SOURCE, "--name", "good"])
        .ok();
    let source = read_back(&a, "acme/widgets");
    let before = read_back(&b, "acme/other");
    let own: Vec<Value> = before["issues"].as_array().unwrap().clone();

    // A cross-kind destination is refused before anything is read or written.
    let refused = run_at(&user, &b.url, &["restore", "good", "--into", "jira:PROJ"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("same tracker kind"),
        "{}",
        refused.stderr
    );
    let refused = run_at(
        &user,
        &b.url,
        &["restore", "good", "--into", DEST, "--only", "3"],
    );
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("--only"), "{}", refused.stderr);

    // The preview writes nothing and names the losses and the destination's own issues.
    let w0 = writes(&b);
    let preview = run_at(&user, &b.url, &strs(&restore_args(&[]))).ok().json();
    assert_eq!(preview["executed"], false);
    let ops = preview["plan"]["ops"].as_array().unwrap().len() as u64;
    let plain = source["issues"].as_array().unwrap().len();
    let comments: usize = source["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["comments"].as_array().unwrap().len())
        .sum();
    let closed = source["issues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["state"] == "closed")
        .count();
    // One label and one milestone to create (the others exist by name), every issue, every
    // comment, every close, one sub-issue link.
    assert_eq!(
        ops as usize,
        2 + plain + comments + closed + 1,
        "{}",
        preview["plan"]
    );
    let lost: Vec<&str> = preview["plan"]["irrecoverable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(&lost[..3], ["numbers", "authors", "dates"]);
    assert!(lost.iter().any(|k| k.starts_with("issue:")), "{lost:?}");
    let notes = preview["plan"]["notes"].to_string();
    assert!(notes.contains("already holds 2 issue(s)"), "{notes}");
    let text = run_at(&user, &b.url, &["restore", "good", "--into", DEST]).ok();
    assert!(text.stdout.contains("Lost in the copy"), "{}", text.stdout);
    assert!(text.stdout.contains("copied into github:acme/other"));
    assert_eq!(writes(&b), w0, "the preview wrote");

    // Execute: one write per planned operation, verified clean, mapping printed.
    let started = Instant::now();
    let report = run_at(
        &user,
        &b.url,
        &strs(&restore_args(&["--execute", "--yes", FAST[0], FAST[1]])),
    )
    .ok()
    .json();
    let took = started.elapsed();
    assert_eq!(report["verification"]["clean"], true, "{report}");
    assert_eq!(
        writes(&b) - w0,
        ops,
        "writes counted by the sandbox vs the plan"
    );
    let moved = mapping(&report);
    assert_eq!(moved.len(), plain);
    let after = read_back(&b, "acme/other");
    let compared = assert_copied(&source, &after, &moved);
    assert_eq!(compared, comments);
    // The destination's own issues are untouched.
    for o in &own {
        let now = after["issues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["number"] == o["number"])
            .unwrap();
        assert_eq!(now, o);
    }
    eprintln!("restore --into: {plain} issues, {comments} comments, {ops} writes in {took:?}");

    // Running it again creates nothing: the destination says what was copied.
    let w1 = writes(&b);
    let again = run_at(
        &user,
        &b.url,
        &strs(&restore_args(&["--execute", "--yes", FAST[0], FAST[1]])),
    )
    .ok()
    .json();
    assert_eq!(again["executed"], false, "{again}");
    assert_eq!(again["plan"]["ops"].as_array().unwrap().len(), 0);
    assert_eq!(writes(&b), w1);
    assert!(markers(&b).values().all(|n| *n == 1));
}

#[test]
fn a_killed_restore_into_resumes_without_duplicates() {
    let a = SandboxProc::start(&["--issues", "14", "--comments", "40", "--seed", "21"]);
    let b = SandboxProc::start(&[
        "--repo",
        "acme/other",
        "--issues",
        "0",
        "--comments",
        "0",
        "--latency-ms",
        "3",
    ]);
    prepare_source(&a);
    let source = read_back(&a, "acme/widgets");
    let trials: u64 = std::env::var("BACKTRACK_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(|n: u64| n.clamp(1, 8))
        .unwrap_or(6);
    let execute = restore_args(&["--execute", "--yes", FAST[0], FAST[1]]);
    let reset = |s: &SandboxProc| {
        let (code, _) = crate::util::http(&s.url, "POST", "/_sandbox/reset", None, None);
        assert!((200..300).contains(&code));
    };
    // How long one uninterrupted restore takes, so the kills spread over a whole run.
    let full_run = {
        let user = User::new(&a);
        user.run(&["snapshot", "create", SOURCE, "--name", "good"])
            .ok();
        let started = Instant::now();
        run_at(&user, &b.url, &strs(&execute)).ok();
        started.elapsed()
    };
    // Every issue and comment of the source, copied once: a run that left fewer markers had
    // not finished.
    let total = markers(&b).len();
    let mut killed_mid_run = 0;
    let mut held_while_unfinished = 0;
    for trial in 0..trials {
        reset(&b);
        let user = User::new(&a);
        user.run(&["snapshot", "create", SOURCE, "--name", "good"])
            .ok();
        let mut child = user
            .command(&strs(&execute))
            .env("GITHUB_API_URL", &b.url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let delay = full_run.mul_f64((trial * 7919 % 23 + 2) as f64 / 26.0);
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        let copied = markers(&b);
        let dupes: Vec<_> = copied.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            dupes.is_empty(),
            "trial {trial}: the killed run duplicated {dupes:?}"
        );
        // Once the killed run wrote, and while it had copies left to make, its job exists (in
        // the destination's scope) unfinished, and its source snapshot is held: deleting it
        // from the source is refused, naming the job.
        if !copied.is_empty() && copied.len() < total {
            let refused = user.run(&["snapshot", "delete", "good", "--force"]);
            assert_eq!(refused.code, 3, "trial {trial}: {refused:?}");
            assert!(
                refused.stderr.contains("restore job") && refused.stderr.contains("target"),
                "trial {trial}: {refused:?}"
            );
            held_while_unfinished += 1;
        }
        // Re-running the same command converges, creating nothing twice.
        let rerun = run_at(&user, &b.url, &strs(&execute));
        assert_eq!(rerun.code, 0, "trial {trial}: {rerun:?}");
        let report = rerun.json();
        if report["executed"] != false {
            assert_eq!(
                report["verification"]["clean"], true,
                "trial {trial}: {report}"
            );
        }
        let dupes: Vec<_> = markers(&b).into_iter().filter(|(_, n)| *n > 1).collect();
        assert!(dupes.is_empty(), "trial {trial}: duplicated {dupes:?}");
        // The mapping, read from the destination's markers.
        let after = read_back(&b, "acme/other");
        let moved: BTreeMap<u64, u64> = after["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let body = i["body"].as_str().unwrap();
                let at = body.rfind("github:acme/widgets#").unwrap() + "github:acme/widgets#".len();
                let n: u64 = body[at..].split(' ').next().unwrap().parse().unwrap();
                (n, i["number"].as_u64().unwrap())
            })
            .collect();
        assert_eq!(moved.len(), after["issues"].as_array().unwrap().len());
        assert_copied(&source, &after, &moved);
    }
    eprintln!(
        "restore --into kill trials: {killed_mid_run}/{trials} killed mid-run, {held_while_unfinished} with the source snapshot held (an uninterrupted run: {full_run:?})"
    );
    assert!(
        held_while_unfinished > 0,
        "no killed run had written, so the source's hold went unchecked"
    );
    assert!(
        killed_mid_run * 2 >= trials,
        "only {killed_mid_run}/{trials} kills landed mid-run"
    );
}
