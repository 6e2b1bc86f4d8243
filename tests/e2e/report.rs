//! Issue 16: `backtrack report` writes one self-contained page that a real browser renders
//! offline, with the diff's counts, working filters, search, expansion and keyboard, and no
//! way for tracker text to run. Reports are made from sandbox data (GitHub and Jira) as a
//! user makes them, then opened in headless Chromium (Debian's, driven by playwright-core
//! through tests/browser/report.mjs) with every request but the file blocked; any console
//! error fails. Screenshots stay under target/report-e2e/ for review.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::jira::{Flavor, JiraUser, Site};
use crate::util::{Run, SandboxProc, User};

const SCOPE: &str = "github:acme/widgets";
const REPO: &str = "/repos/acme/widgets";
/// A title that would run script if the page ever used it as markup.
const HOSTILE: &str =
    "<img src=x onerror=\"window.__xss=1\"></script><script>window.__xss=2</script>";

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/report-e2e");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Opens `html` in headless Chromium and checks it against `diff` (its JSON); the figures
/// the browser script measured.
fn in_browser(html: &Path, diff: &Path, name: &str, extra: &[&str]) -> Value {
    let modules = std::env::var("BACKTRACK_PLAYWRIGHT").expect(
        "BACKTRACK_PLAYWRIGHT is unset: run the report tests through tests/run, which installs Chromium and playwright-core",
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser/report.mjs");
    // Kept beside the screenshots, for review.
    std::fs::copy(html, shots().join(format!("{name}.html"))).unwrap();
    std::fs::copy(diff, shots().join(format!("{name}.json"))).unwrap();
    let out = Command::new("node")
        .arg(&script)
        .args(["--html", &html.display().to_string()])
        .args(["--diff", &diff.display().to_string()])
        .args(["--shots", &shots().display().to_string()])
        .args(["--name", name])
        .args(extra)
        .env("BACKTRACK_PLAYWRIGHT", modules)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "the browser script printed no result:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(
        out.status.success() && result["ok"] == true,
        "{name}: the page failed in the browser: {}",
        serde_json::to_string_pretty(&result["failures"]).unwrap()
    );
    result["figures"].clone()
}

/// Reports `scope` from `base` to live with `--plan`, in `dir`: the page's plan has the
/// operations `rollback` previews, the browser finds them read-only, and opening it writes
/// nothing to the tracker (`writes` reads the sandbox's write counter). The plan's length.
fn plan_report_is_the_preview(
    run: &dyn Fn(&[&str]) -> Run,
    writes: &dyn Fn() -> Value,
    scope: &str,
    dir: &Path,
    name: &str,
) -> usize {
    let planned = dir.join(format!("{name}-plan.html"));
    let live_diff = dir.join(format!("{name}-live.json"));
    let report = run(&[
        "--json",
        "report",
        scope,
        "--from",
        "base",
        "--to",
        "live",
        "--plan",
        "-o",
        planned.to_str().unwrap(),
    ])
    .ok()
    .json();
    let preview = run(&["--json", "rollback", scope, "--to", "base"])
        .ok()
        .json();
    let ops = preview["plan"]["ops"].as_array().unwrap().len();
    assert_eq!(report["plan_ops"], ops, "{preview}");
    run(&[
        "diff",
        scope,
        "--from",
        "base",
        "--to",
        "live",
        "--format",
        "json",
        "-o",
        live_diff.to_str().unwrap(),
    ])
    .ok();
    let writes_before = writes();
    in_browser(
        &planned,
        &live_diff,
        &format!("{name}-plan"),
        &["--hostile", HOSTILE, "--plan-ops", &ops.to_string()],
    );
    assert_eq!(writes(), writes_before, "a report wrote to the tracker");
    ops
}

fn label_names(issue: &Value) -> Vec<String> {
    issue["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn github_report_renders_the_diff_offline_with_filters_keyboard_and_no_script_from_tracker_text() {
    let sandbox = SandboxProc::start(&["--issues", "60", "--comments", "200", "--seed", "5"]);
    let user = User::new(&sandbox);
    user.run(&["snapshot", "create", SCOPE, "--name", "base"])
        .ok();

    let issues: Vec<Value> = sandbox
        .list_all(&format!("{REPO}/issues?state=all"))
        .into_iter()
        .filter(|i| i.get("pull_request").is_none())
        .collect();
    let open: Vec<&Value> = issues.iter().filter(|i| i["state"] == "open").collect();
    let n = |i: &Value| i["number"].as_u64().unwrap();
    let (hostile, edited, closed, labelled) = (open[0], open[1], open[2], open[3]);
    sandbox.api(
        "PATCH",
        &format!("{REPO}/issues/{}", n(hostile)),
        Some(json!({"title": HOSTILE, "body": "<script>window.__xss=3</script>\n[x](javascript:window.__xss=4)"})),
    );
    sandbox.api(
        "PATCH",
        &format!("{REPO}/issues/{}", n(edited)),
        Some(json!({"body": "Steps:\n1. open the app\n2. log in\n3. it crashes\n\nExpected: no crash"})),
    );
    sandbox.api(
        "PATCH",
        &format!("{REPO}/issues/{}", n(closed)),
        Some(json!({"state": "closed", "state_reason": "not_planned"})),
    );
    let all_labels: Vec<String> = sandbox
        .list_all(&format!("{REPO}/labels"))
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    let new_label = all_labels
        .iter()
        .find(|l| !label_names(labelled).contains(l))
        .unwrap();
    sandbox.api(
        "POST",
        &format!("{REPO}/issues/{}/labels", n(labelled)),
        Some(json!({"labels": [new_label]})),
    );
    sandbox.api(
        "POST",
        &format!("{REPO}/issues/{}/comments", n(edited)),
        Some(json!({"body": "A comment with </script> in it"})),
    );
    let comments = sandbox.list_all(&format!("{REPO}/issues/comments"));
    let (c1, c2) = (&comments[0], &comments[1]);
    sandbox.api(
        "PATCH",
        &format!("{REPO}/issues/comments/{}", c1["id"]),
        Some(json!({"body": "Edited by a bot"})),
    );
    sandbox.api(
        "DELETE",
        &format!("{REPO}/issues/comments/{}", c2["id"]),
        None,
    );
    sandbox.api(
        "POST",
        &format!("{REPO}/issues"),
        Some(json!({"title": "Filed after the snapshot", "body": "new"})),
    );
    // A deleted label: a definition change that folds the issues that lost it.
    let doomed = all_labels
        .iter()
        .find(|l| *l != new_label && issues.iter().any(|i| label_names(i).contains(l)))
        .unwrap();
    sandbox.api("DELETE", &format!("{REPO}/labels/{doomed}"), None);
    user.run(&["snapshot", "create", SCOPE, "--name", "after"])
        .ok();

    let dir = user.home.path();
    let html = dir.join("report.html");
    let diff = dir.join("diff.json");
    let run = user
        .run(&[
            "--json",
            "report",
            SCOPE,
            "--from",
            "base",
            "--to",
            "after",
            "-o",
            html.to_str().unwrap(),
        ])
        .ok()
        .json();
    user.run(&[
        "diff",
        SCOPE,
        "--from",
        "base",
        "--to",
        "after",
        "--format",
        "json",
        "-o",
        diff.to_str().unwrap(),
    ])
    .ok();
    let d: Value = serde_json::from_str(&std::fs::read_to_string(&diff).unwrap()).unwrap();
    assert_eq!(run["changes"], d["summary"]["total"]);
    assert_eq!(run["snapshots"], 2);
    for key in [
        "issues_added",
        "issues_changed",
        "comments_added",
        "comments_edited",
        "comments_deleted",
        "labels_removed",
    ] {
        assert!(
            d["summary"][key].as_u64().unwrap() >= 1,
            "{key}: {}",
            d["summary"]
        );
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        !page.contains(HOSTILE),
        "the hostile title is in the page unescaped"
    );
    assert_eq!(
        page.matches("<script").count(),
        2,
        "the page's only script elements are its data and its own code"
    );
    let figures = in_browser(&html, &diff, "github", &["--hostile", HOSTILE]);
    // Its two snapshots, seconds apart, are two markers that do not overlap (checked in
    // the browser).
    assert_eq!(figures["timeline_markers"], 2, "{figures}");
    assert_eq!(figures["blocked"], 0);
    assert_eq!(figures["console_errors"], 0);

    // Against live, with the plan back to base: the same page with the plan read-only.
    plan_report_is_the_preview(
        &|args| user.run(args),
        &|| sandbox.stats()["writes"].clone(),
        SCOPE,
        dir,
        "github",
    );
}

#[test]
fn report_refuses_bad_input_before_reading_anything() {
    let sandbox = SandboxProc::start(&["--issues", "5", "--comments", "5"]);
    let user = User::new(&sandbox);
    user.run(&["snapshot", "create", SCOPE, "--name", "base"])
        .ok();
    let out = user.home.path().join("r.html");
    let out = out.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["report", SCOPE, "--since", "soon", "-o", out],
            "--since soon",
        ),
        (
            vec![
                "report", SCOPE, "--from", "live", "--to", "base", "--plan", "-o", out,
            ],
            "--plan",
        ),
        (
            vec!["report", SCOPE, "--from", "nope", "-o", out],
            "--from nope",
        ),
        (
            vec!["report", SCOPE, "-o", "/no/such/folder/r.html"],
            "does not exist",
        ),
    ] {
        let run = user.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
        assert!(!Path::new(out).exists(), "{args:?} wrote a report");
    }
}

#[test]
fn jira_report_renders_the_diff_offline() {
    let site = Site::start(
        Flavor::Cloud,
        &["--issues", "40", "--comments", "120", "--seed", "7"],
    );
    let user = JiraUser::new(&site);
    user.snapshot("jira:PROJ", &["--name", "base"]);
    let api = "/rest/api/2";
    let keys: Vec<String> = site
        .search("project = PROJ ORDER BY key ASC", &["summary"])
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect();
    site.call(
        "PUT",
        &format!("{api}/issue/{}", keys[1]),
        Some(json!({"fields": {"summary": HOSTILE, "description": "Rewritten\n* by a sync", "labels": ["synced"]}})),
    );
    site.call(
        "POST",
        &format!("{api}/issue/{}/comment", keys[2]),
        Some(json!({"body": "A new comment"})),
    );
    user.snapshot("jira:PROJ", &["--name", "after"]);

    let dir = user.home.path();
    let html = dir.join("jira.html");
    let diff = dir.join("jira.json");
    let run = user
        .run(&[
            "--json",
            "report",
            "jira:PROJ",
            "--from",
            "base",
            "--to",
            "after",
            "-o",
            html.to_str().unwrap(),
        ])
        .ok()
        .json();
    user.run(&[
        "diff",
        "jira:PROJ",
        "--from",
        "base",
        "--to",
        "after",
        "--format",
        "json",
        "-o",
        diff.to_str().unwrap(),
    ])
    .ok();
    let d: Value = serde_json::from_str(&std::fs::read_to_string(&diff).unwrap()).unwrap();
    assert_eq!(run["changes"], d["summary"]["total"]);
    assert!(d["summary"]["comments_added"].as_u64().unwrap() >= 1);
    let figures = in_browser(&html, &diff, "jira", &["--hostile", HOSTILE]);
    assert_eq!(figures["blocked"], 0);

    // The plan back to base, read-only: the same operations `rollback` previews, no write.
    let ops = plan_report_is_the_preview(
        &|args| user.run(args),
        &|| site.stats()["writes"].clone(),
        "jira:PROJ",
        dir,
        "jira",
    );
    assert!(ops >= 1, "the rewritten issue plans a write");
}
