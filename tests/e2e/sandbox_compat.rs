//! Clients we did not write, against the sandbox: PyGithub (`tests/py/pygithub_compat.py`),
//! python-github-backup behind a TLS terminator (`tests/py/github_backup_compat.py`) and
//! GitHub's official OpenAPI description (`tests/py/openapi_validate.py`).
//!
//! PyGithub drives `backtrack sandbox` started as a user starts it (with extra `--token`
//! users); the other two run against an in-process sandbox on an ephemeral port. The scripts
//! run under `$BACKTRACK_TEST_PYTHON`, which the project's test runner always sets (a venv
//! with PyGithub and jsonschema). Missing prerequisites fail the test loudly instead of
//! skipping it.

use std::path::PathBuf;
use std::process::Output;

use backtrack_sandbox::github::{Sandbox, SandboxOptions};
use backtrack_sandbox::ServerOptions;
use serde_json::Value;

use crate::util::{bin, http, SandboxProc, SANDBOX_TOKEN};

const OPENAPI_ENV: &str = "BACKTRACK_OPENAPI_JSON";
const REPLAY_ENV: &str = "BACKTRACK_PYGITHUB_REPLAY";
const PYTHON_ENV: &str = "BACKTRACK_TEST_PYTHON";

fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

fn python() -> String {
    match std::env::var(PYTHON_ENV) {
        Ok(p) if !p.trim().is_empty() => p,
        _ => panic!(
            "{PYTHON_ENV} is not set: run the project's test command, which creates .venv with \
             PyGithub and jsonschema and sets {PYTHON_ENV} (or set it to such a python yourself)"
        ),
    }
}

fn openapi_json() -> PathBuf {
    let path = std::env::var(OPENAPI_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            repo_root().join(
                "tests/.cache/npm/node_modules/@octokit/openapi/generated/api.github.com.json",
            )
        });
    assert!(
        path.exists(),
        "GitHub's OpenAPI description not found at {}: run the project's test command (it \
         installs npm @octokit/openapi into tests/.cache/npm) or set {OPENAPI_ENV}",
        path.display()
    );
    path
}

async fn start() -> Sandbox {
    let opts = SandboxOptions {
        issues: 150,
        comments: 700,
        seed: 7,
        token: "compat-token".into(),
        ..SandboxOptions::default()
    };
    Sandbox::start(opts).await.expect("sandbox starts")
}

/// Runs a script without blocking the runtime the sandbox is served on.
async fn run(script: &str, args: &[String]) -> Output {
    let path = repo_root().join("tests/py").join(script);
    let out = tokio::process::Command::new(python())
        .arg(&path)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {} under ${PYTHON_ENV}: {e}", path.display()));
    eprintln!(
        "--- {script} stdout ---\n{}\n--- {script} stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A script's JSON summary: its last JSON line.
fn summary(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("a JSON summary line")
}

/// Reads a script's JSON summary and checks its counts are the sandbox's own.
fn assert_same_counts(sb: &Sandbox, out: &Output) -> Value {
    let summary = summary(out);
    let (issues, comments, labels, milestones) = sb.snapshot_counts();
    assert_eq!(summary["issues"], issues);
    assert_eq!(summary["comments"], comments);
    assert_eq!(summary["labels"], labels);
    assert_eq!(summary["milestones"], milestones);
    summary
}

/// PyGithub against `backtrack sandbox` started the way a user starts it, with a second
/// user's token and a github-actions[bot] token: reads, then every write and its refusals.
#[tokio::test]
async fn sandbox_compat_pygithub() {
    let sb = SandboxProc::start(&[
        "--issues",
        "150",
        "--comments",
        "700",
        "--seed",
        "7",
        "--token",
        "pygithub-other=mallory",
        "--token",
        "pygithub-bot=github-actions[bot]",
    ]);
    let seen = |path: &str| sb.list_all(path).len() as u64;
    let counts = (
        seen("/repos/acme/widgets/issues?state=all"),
        seen("/repos/acme/widgets/issues/comments"),
        seen("/repos/acme/widgets/labels"),
        seen("/repos/acme/widgets/milestones?state=all"),
    );
    let writes_before = sb.stats()["writes"].as_u64().unwrap_or(0);
    let out = run(
        "pygithub_compat.py",
        &[
            sb.url.clone(),
            SANDBOX_TOKEN.to_owned(),
            "--other".into(),
            "pygithub-other".into(),
            "--bot".into(),
            "pygithub-bot".into(),
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "pygithub_compat.py failed: {:?}",
        out.status
    );
    let summary = summary(&out);
    assert_eq!(
        (
            &summary["issues"],
            &summary["comments"],
            &summary["labels"],
            &summary["milestones"]
        ),
        (
            &counts.0.into(),
            &counts.1.into(),
            &counts.2.into(),
            &counts.3.into()
        )
    );
    assert!(summary["longest_thread"].as_u64() > Some(100));
    let stats = sb.stats();
    assert!(
        stats["not_modified"].as_u64() >= Some(1),
        "PyGithub's conditional refresh got a 304"
    );
    // Every write PyGithub made reached the sandbox exactly once, refused ones included.
    let writes = stats["writes"].as_u64().unwrap_or(0) - writes_before;
    assert_eq!(Some(writes), summary["writes"].as_u64(), "{stats}");
    assert!(writes >= 40, "the write scenarios ran: {writes}");
}

/// The issue routes GitHub serves that PyGithub's recordings exercise and the sandbox once
/// answered 404 (issue #20): each must be replayed, and agree.
const REPLAYED_ROUTES: &[&str] = &[
    "GET /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
    "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
    "DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions/{reaction_id}",
    "GET /repos/{owner}/{repo}/issues/events",
    "GET /repos/{owner}/{repo}/issues/events/{event_id}",
    "POST /repos/{owner}/{repo}/issues/{issue_number}/assignees",
    "DELETE /repos/{owner}/{repo}/issues/{issue_number}/assignees",
    "GET /repos/{owner}/{repo}/issues/{issue_number}/dependencies/blocked_by",
    "POST /repos/{owner}/{repo}/issues/{issue_number}/dependencies/blocked_by",
    "DELETE /repos/{owner}/{repo}/issues/{issue_number}/dependencies/blocked_by/{issue_id}",
    "GET /repos/{owner}/{repo}/issues/{issue_number}/events",
    "PUT /repos/{owner}/{repo}/issues/{issue_number}/lock",
    "DELETE /repos/{owner}/{repo}/issues/{issue_number}/lock",
    "GET /repos/{owner}/{repo}/issues/{issue_number}/reactions",
    "POST /repos/{owner}/{repo}/issues/{issue_number}/reactions",
    "DELETE /repos/{owner}/{repo}/issues/{issue_number}/reactions/{reaction_id}",
    "DELETE /repos/{owner}/{repo}/issues/{issue_number}/sub_issue",
    "GET /repos/{owner}/{repo}/issues/{issue_number}/sub_issues",
    "POST /repos/{owner}/{repo}/issues/{issue_number}/sub_issues",
    "PATCH /repos/{owner}/{repo}/issues/{issue_number}/sub_issues/priority",
    "GET /repos/{owner}/{repo}/issues/{issue_number}/timeline",
    "GET /repos/{owner}/{repo}/milestones/{milestone_number}/labels",
];

/// Real GitHub traffic, recorded by PyGithub's own tests (its sdist's `tests/ReplayData`),
/// replayed against `backtrack sandbox`: every status GitHub answered must come back the
/// same, and no issue route GitHub served may answer 404.
#[tokio::test]
async fn sandbox_compat_pygithub_replay() {
    let replay = std::env::var(REPLAY_ENV).unwrap_or_else(|_| {
        panic!(
            "{REPLAY_ENV} is not set: run the project's test command, which unpacks PyGithub's \
             recorded traffic from its sdist into tests/.cache"
        )
    });
    let sb = SandboxProc::start(&["--issues", "150", "--comments", "700", "--seed", "7"]);
    let out = run(
        "pygithub_replay.py",
        &[replay, sb.url.clone(), SANDBOX_TOKEN.to_owned()],
    )
    .await;
    let summary = summary(&out);
    assert_eq!(summary["mismatches"], 0, "{summary}");
    assert_eq!(summary["answered_404"], 0, "{summary}");
    assert!(
        out.status.success(),
        "pygithub_replay.py failed: {:?}",
        out.status
    );
    assert!(summary["tests"].as_u64() >= Some(100), "{summary}");
    assert!(summary["exchanges"].as_u64() >= Some(380), "{summary}");
    assert_eq!(summary["agreed"], summary["exchanges"]);
    let routes: Vec<&str> = summary["routes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for r in REPLAYED_ROUTES {
        assert!(routes.contains(r), "{r} was not replayed: {routes:?}");
    }
}

#[tokio::test]
async fn sandbox_compat_openapi() {
    let sb = start().await;
    let spec = openapi_json().display().to_string();
    let out = run(
        "openapi_validate.py",
        &[sb.base_url(), sb.token().to_owned(), spec],
    )
    .await;
    assert!(
        out.status.success(),
        "openapi_validate.py failed: {:?}",
        out.status
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn sandbox_compat_python_github_backup() {
    // github-backup only speaks https://HOST/api/v3: the sandbox announces the TLS
    // terminator's address as its public URL, so every Link header points through it.
    let tls_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let opts = SandboxOptions {
        issues: 80,
        comments: 300,
        seed: 5,
        token: "compat-token".into(),
        server: ServerOptions {
            public_url: Some(format!("https://127.0.0.1:{tls_port}/")),
            ..ServerOptions::default()
        },
        ..SandboxOptions::default()
    };
    let sb = Sandbox::start(opts).await.expect("sandbox starts");
    let work = tempfile::tempdir().unwrap();
    let out = run(
        "github_backup_compat.py",
        &[
            format!("http://{}", sb.local_addr()),
            tls_port.to_string(),
            sb.token().to_owned(),
            work.path().display().to_string(),
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "github_backup_compat.py failed: {:?}",
        out.status
    );
    let summary = assert_same_counts(&sb, &out);
    // A thread longer than a page: github-backup followed `Link` through the terminator.
    assert!(summary["longest_thread"].as_u64() > Some(100));
    sb.shutdown().await;
}

/// `backtrack sandbox --token TOKEN=LOGIN`: each token is its own user over HTTP, a bot's
/// token answers `GET /user` like the `GITHUB_TOKEN` of Actions, and a malformed flag is
/// refused without echoing the value.
#[test]
fn sandbox_cli_tokens_are_users() {
    let sb = SandboxProc::start(&[
        "--issues",
        "6",
        "--comments",
        "10",
        "--token",
        "hostile-token=mallory",
        "--token",
        "gha-token=github-actions[bot]",
    ]);
    let (status, me) = http(&sb.url, "GET", "/user", None, Some("hostile-token"));
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["login"], "mallory");
    let (status, me) = http(&sb.url, "GET", "/user", None, Some(SANDBOX_TOKEN));
    assert_eq!((status, me["login"].clone()), (200, "sandbox-admin".into()));
    let (status, body) = http(&sb.url, "GET", "/user", None, Some("gha-token"));
    assert_eq!(status, 403);
    assert_eq!(body["message"], "Resource not accessible by integration");
    assert_eq!(body["status"], "403");
    let (status, c) = http(
        &sb.url,
        "POST",
        "/repos/acme/widgets/issues/1/comments",
        Some(serde_json::json!({"body": "from a workflow"})),
        Some("gha-token"),
    );
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["user"]["login"], "github-actions[bot]");
    assert_eq!(c["user"]["type"], "Bot");

    let out = std::process::Command::new(bin())
        .args(["sandbox", "--token", "secret-value-without-login"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("TOKEN=LOGIN"), "{stderr}");
    assert!(!stderr.contains("secret-value"), "{stderr}");
}
