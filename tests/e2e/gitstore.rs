//! The git store (`--store git://BRANCH`) against the sandbox's Git Data API over HTTP: the
//! backend contract suites, objects too big for one blob, truncated tree listings, a clone of
//! the branch read as an archive, two captures racing on one branch, and captures killed
//! mid-write.

use std::sync::Arc;

use backtrack::config::GitTarget;
use backtrack::git::{GitArchive, GitOptions};
use backtrack::tracker::WritePace;
use backtrack::{Catalog, ObjectStore};
use backtrack_sandbox::github::{Sandbox, SandboxOptions};

use crate::util::SandboxProc;

fn target(branch: &str) -> GitTarget {
    GitTarget {
        owner: "acme".into(),
        repo: "widgets".into(),
        branch: branch.into(),
    }
}

fn archive_on(api_url: &str, token: &str, branch: &str) -> GitArchive {
    GitArchive::open(
        &target(branch),
        &GitOptions {
            api_url: api_url.to_string(),
            token: Some(token.to_string()),
            pace: WritePace::unpaced(),
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gitstore_conformance_object_store() {
    let sandbox = SandboxProc::start(&["--issues", "1", "--comments", "0"]);
    let git = archive_on(
        &sandbox.url,
        crate::util::SANDBOX_TOKEN,
        "conformance-store",
    );
    let store: Arc<dyn ObjectStore> = git.store.clone();
    backtrack::conformance::object_store(store).await;
    let (commits, races) = git.commits();
    eprintln!(
        "object store suite: {} requests, {commits} commits, {races} races lost",
        git.requests()
    );
    // 1,100 listed objects and a dozen more: group commit keeps this far below one commit
    // per put.
    assert!(commits < 400, "{commits} commits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gitstore_conformance_catalog() {
    let sandbox = SandboxProc::start(&["--issues", "1", "--comments", "0"]);
    let git = archive_on(
        &sandbox.url,
        crate::util::SANDBOX_TOKEN,
        "conformance-catalog",
    );
    let catalog: Arc<dyn Catalog> = git.catalog.clone();
    backtrack::conformance::catalog(catalog).await;
    eprintln!("catalog suite: {} requests", git.requests());
}

/// Objects over the part size are stored in parts and read back whole; a tree listing that
/// GitHub truncates is walked folder by folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gitstore_parts_and_truncated_listings() {
    let sandbox = Sandbox::start(SandboxOptions {
        issues: 1,
        comments: 0,
        git_tree_limit: 40,
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let git = archive_on(&sandbox.base_url(), sandbox.token(), "parts");
    let store = backtrack::store::GitStore::new(git.store.branch().clone()).with_part_size(1000);
    let big: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
    assert_eq!(
        store
            .put("manifests/x/big", big.clone().into())
            .await
            .unwrap(),
        backtrack::store::PutOutcome::Written
    );
    assert_eq!(
        store.get("manifests/x/big").await.unwrap().as_ref(),
        &big[..]
    );
    let listed = store.list("manifests/").await.unwrap();
    assert_eq!(listed.len(), 1, "parts are not objects: {listed:?}");
    assert_eq!(listed[0].size, big.len() as u64);
    for i in 0..120 {
        store
            .put_deferred(
                &format!("blobs/{:02x}/{i:04}", i % 7),
                vec![i as u8; 10].into(),
            )
            .await
            .unwrap();
    }
    store.flush().await.unwrap();
    // A fresh process: nothing cached, and the recursive listing comes back truncated.
    let cold = archive_on(&sandbox.base_url(), sandbox.token(), "parts");
    let listed = cold.store.list("blobs/").await.unwrap();
    assert_eq!(listed.len(), 120);
    assert!(listed.iter().all(|o| o.size == 10));
    assert_eq!(
        cold.store.get("manifests/x/big").await.unwrap().as_ref(),
        &big[..]
    );
    cold.store.delete("manifests/x/big").await.unwrap();
    assert!(
        !store.exists("manifests/x/big").await.unwrap(),
        "exists reads the tip"
    );
    sandbox.shutdown().await;
}

/// The CLI on `git://backtrack-archive` of the sandbox's repository.
struct GitUser {
    home: tempfile::TempDir,
    url: String,
    store: String,
    /// `GITHUB_REPOSITORY`, as in a workflow (unset: the repository comes from the scope).
    repository: Option<&'static str>,
}

impl GitUser {
    fn new(sandbox: &SandboxProc) -> GitUser {
        GitUser {
            home: tempfile::tempdir().unwrap(),
            url: sandbox.url.clone(),
            store: "git://backtrack-archive".into(),
            repository: Some("acme/widgets"),
        }
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(crate::util::bin());
        cmd.args(args)
            .env("HOME", self.home.path())
            .env("BACKTRACK_STORE", &self.store)
            .env_remove("BACKTRACK_CATALOG")
            .env_remove("GITHUB_REPOSITORY")
            .env("GITHUB_API_URL", &self.url)
            .env("GITHUB_TOKEN", crate::util::SANDBOX_TOKEN)
            .env("BACKTRACK_GIT_WRITE_INTERVAL_MS", "0")
            .env_remove("GH_TOKEN")
            .stdin(std::process::Stdio::null());
        if let Some(repo) = self.repository {
            cmd.env("GITHUB_REPOSITORY", repo);
        }
        cmd
    }

    fn run(&self, args: &[&str]) -> crate::util::Run {
        let out = self.command(args).output().unwrap();
        crate::util::Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }
}

const SCOPE: &str = "github:acme/widgets";
const REPO: &str = "/repos/acme/widgets";

/// The branch's tip: `(commit, tree, parents)`.
fn tip(sandbox: &SandboxProc, branch: &str) -> (String, String, usize) {
    let (status, r) = sandbox.api("GET", &format!("{REPO}/git/ref/heads/{branch}"), None);
    assert_eq!(status, 200, "{r}");
    let commit = r["object"]["sha"].as_str().unwrap().to_string();
    let (_, c) = sandbox.api("GET", &format!("{REPO}/git/commits/{commit}"), None);
    let tree = c["tree"]["sha"].as_str().unwrap().to_string();
    (commit, tree, c["parents"].as_array().unwrap().len())
}

/// Writes the files of `tree` into `dir` as `git checkout` would (executable bit included),
/// reading them through the API.
fn checkout(sandbox: &SandboxProc, tree: &str, dir: &std::path::Path) {
    use base64::Engine as _;
    let (status, listing) =
        sandbox.api("GET", &format!("{REPO}/git/trees/{tree}?recursive=1"), None);
    assert_eq!(status, 200);
    assert_eq!(listing["truncated"], false);
    for e in listing["tree"].as_array().unwrap() {
        if e["type"] != "blob" {
            continue;
        }
        let path = dir.join(e["path"].as_str().unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let (_, blob) = sandbox.api(
            "GET",
            &format!("{REPO}/git/blobs/{}", e["sha"].as_str().unwrap()),
            None,
        );
        let flat: String = blob["content"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(flat)
            .unwrap();
        std::fs::write(&path, bytes).unwrap();
        if e["mode"] == "100755" {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

fn git_in(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=e2e",
            "-c",
            "user.email=e2e@example.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn gitstore_cli_snapshots_diff_prune_and_a_clone_of_the_branch() {
    let sandbox = SandboxProc::start(&["--issues", "40", "--comments", "80"]);
    // As on a laptop: the repository comes from the command's scope.
    let mut user = GitUser::new(&sandbox);
    user.repository = None;
    let unknown = user.run(&["verify", "--all"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("set GITHUB_REPOSITORY=OWNER/REPO"),
        "{}",
        unknown.stderr
    );
    // Reading an archive that does not exist says how to make one.
    let none = user.run(&["snapshot", "list", SCOPE]);
    assert_eq!(none.code, 2, "{none:?}");
    assert!(
        none.stderr.contains("does not exist yet"),
        "{}",
        none.stderr
    );

    let first = user
        .run(&["--json", "snapshot", "create", SCOPE])
        .ok()
        .json();
    let a = first["id"].as_str().unwrap().to_string();
    assert_eq!(first["counts"]["issues"], 40);
    let (status, body) = sandbox.api(
        "PATCH",
        &format!("{REPO}/issues/3"),
        Some(serde_json::json!({"title": "Renamed between the snapshots"})),
    );
    assert_eq!(status, 200, "{body}");
    let second = user
        .run(&["--json", "snapshot", "create", SCOPE, "--name", "second"])
        .ok()
        .json();
    let b = second["id"].as_str().unwrap().to_string();
    assert_eq!(second["mode"], "incremental");

    let list = user.run(&["snapshot", "list", SCOPE]).ok();
    assert!(
        list.stdout.contains(&a) && list.stdout.contains(&b),
        "{}",
        list.stdout
    );
    assert!(
        list.stdout
            .contains("git://backtrack-archive on acme/widgets:"),
        "the branch's size: {}",
        list.stdout
    );
    let diff = user.run(&["diff", SCOPE, "--from", &a, "--to", &b]).ok();
    assert!(
        diff.stdout.contains("Renamed between the snapshots"),
        "{}",
        diff.stdout
    );
    user.run(&["verify", SCOPE]).ok();

    // The branch, checked out as files, is the same tree git would make of them, and reads
    // as an archive — read-only.
    let (_, tree, _) = tip(&sandbox, "backtrack-archive");
    let clone = tempfile::tempdir().unwrap();
    checkout(&sandbox, &tree, clone.path());
    git_in(clone.path(), &["init", "-q"]);
    git_in(clone.path(), &["add", "-A"]);
    assert_eq!(
        git_in(clone.path(), &["write-tree"]),
        tree,
        "a checkout is the branch's tree"
    );
    let mut reader = GitUser::new(&sandbox);
    reader.store = format!("file://{}", clone.path().display());
    let listed = reader
        .run(&["--json", "snapshot", "list", SCOPE])
        .ok()
        .json();
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    let diff = reader
        .run(&["diff", SCOPE, "--from", &a, "--to", "second"])
        .ok();
    assert!(diff.stdout.contains("Renamed between the snapshots"));
    reader.run(&["verify", "--all"]).ok();
    let refused = reader.run(&["snapshot", "create", SCOPE]);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("read-only"), "{}", refused.stderr);

    // Prune drops the older snapshot and replaces the branch's history with one commit.
    let pruned = user
        .run(&[
            "prune",
            SCOPE,
            "--keep-last",
            "1",
            "--grace",
            "0s",
            "--execute",
        ])
        .ok();
    assert!(
        pruned.stdout.contains("replaced by one commit"),
        "{}",
        pruned.stdout
    );
    let (_, _, parents) = tip(&sandbox, "backtrack-archive");
    assert_eq!(parents, 0, "the branch is one orphan commit");
    let left = user.run(&["--json", "snapshot", "list", SCOPE]).ok().json();
    assert_eq!(left.as_array().map(Vec::len), Some(1));
    assert_eq!(left[0]["id"], b.as_str());
    user.run(&["verify", SCOPE]).ok();
    let third = user
        .run(&["--json", "snapshot", "create", SCOPE])
        .ok()
        .json();
    assert_eq!(third["status"], "completed");
}

/// Two captures of one repository racing on one branch both land: the sandbox holds their
/// first branch updates until both have built on the same tip, so one of them must lose the
/// fast-forward and decide again.
#[test]
fn gitstore_racing_snapshots_both_land() {
    let sandbox = SandboxProc::start(&["--issues", "60", "--comments", "120"]);
    let user = GitUser::new(&sandbox);
    user.run(&["init"]).ok();
    let (status, body) = crate::util::http(
        &sandbox.url,
        "POST",
        "/_sandbox/git/hold",
        Some(serde_json::json!({"branch": "backtrack-archive", "updates": 2, "timeout_ms": 20000})),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let racers: Vec<std::process::Child> = (0..2)
        .map(|_| {
            user.command(&["--json", "snapshot", "create", SCOPE])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut ids = Vec::new();
    for racer in racers {
        let out = racer.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["status"], "completed");
        ids.push(report["id"].as_str().unwrap().to_string());
    }
    let (_, git) = crate::util::http(&sandbox.url, "GET", "/_sandbox/git", None, None);
    assert_eq!(git["held"], 2, "{git}");
    assert!(
        git["not_fast_forward"].as_u64() >= Some(1),
        "no race happened: {git}"
    );
    let list = user.run(&["--json", "snapshot", "list", SCOPE]).ok().json();
    let listed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["status"] == "completed")
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    for id in &ids {
        assert!(listed.contains(&id.as_str()), "{id} was lost: {list}");
    }
    user.run(&["verify", "--all"]).ok();
}

/// kill -9 at every phase of a capture (after the 1st, 2nd… ref update it makes) never leaves
/// a completed entry without its objects, and the next capture completes.
#[test]
fn gitstore_kill_9_mid_write_leaves_no_completed_entry_without_its_objects() {
    let sandbox =
        SandboxProc::start(&["--issues", "120", "--comments", "300", "--latency-ms", "15"]);
    let user = GitUser::new(&sandbox);
    user.run(&["init"]).ok();
    let updates = |sandbox: &SandboxProc| {
        crate::util::http(&sandbox.url, "GET", "/_sandbox/git", None, None).1["ref_updates"]
            .as_u64()
            .unwrap_or(0)
    };
    let mut killed_at = Vec::new();
    for k in 1..=6u64 {
        let before = updates(&sandbox);
        let mut child = user
            .command(&["snapshot", "create", SCOPE])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        let finished = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if updates(&sandbox) >= before + k || started.elapsed().as_secs() > 60 {
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        };
        if finished.is_none() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            killed_at.push(k);
        }
        // Whatever was cut short: every completed snapshot has all its objects.
        user.run(&["verify", "--all"]).ok();
    }
    assert!(
        killed_at.len() >= 4,
        "the capture finished before most kills: {killed_at:?}"
    );
    let last = user
        .run(&["--json", "snapshot", "create", SCOPE])
        .ok()
        .json();
    assert_eq!(last["status"], "completed");
    user.run(&["verify", "--all"]).ok();
    let list = user.run(&["--json", "snapshot", "list", SCOPE]).ok().json();
    let entries = list.as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["status"] != "completed"),
        "the killed captures show as not completed: {list}"
    );
    eprintln!(
        "killed after ref updates {killed_at:?}; {} entries",
        entries.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitstore_on_an_empty_repository_says_what_to_do() {
    let sandbox = Sandbox::start(SandboxOptions {
        issues: 1,
        comments: 0,
        empty_repository: true,
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let git = archive_on(&sandbox.base_url(), sandbox.token(), "backtrack-archive");
    let err = git.ensure().await.unwrap_err().to_string();
    assert!(
        err.contains("no commits yet") && err.contains("push a first commit"),
        "{err}"
    );
    sandbox.shutdown().await;
}

/// A squash in progress (its `rewrite.json` marker on the tip) holds every writer off until
/// it is gone or expired; the first writer after an expired marker removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitstore_writers_wait_for_a_history_rewrite() {
    use backtrack_tests::http::request;
    let sandbox = Sandbox::start(SandboxOptions {
        issues: 1,
        comments: 0,
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let (base, token) = (sandbox.base_url(), sandbox.token().to_string());
    let git = archive_on(&base, &token, "archive");
    git.store
        .put("a", bytes::Bytes::from_static(b"a"))
        .await
        .unwrap();

    // Another process starts a squash: its marker expires in 3 s.
    let call = |method: &'static str, path: String, body: serde_json::Value| {
        let (base, token) = (base.clone(), token.clone());
        async move {
            request(
                &base,
                method,
                &format!("{REPO}{path}"),
                Some(body),
                Some(&token),
            )
            .await
        }
    };
    let (_, tip) = request(
        &base,
        "GET",
        &format!("{REPO}/git/ref/heads/archive"),
        None,
        Some(&token),
    )
    .await;
    let parent = tip["object"]["sha"].as_str().unwrap().to_string();
    let expires = (chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc3339();
    let marker =
        serde_json::json!({"holder": "prune elsewhere", "expires_at": expires}).to_string();
    let (_, tree) = call(
        "POST",
        "/git/trees".into(),
        serde_json::json!({"base_tree": parent, "tree": [{"path": "rewrite.json", "mode": "100644", "type": "blob", "content": marker}]}),
    )
    .await;
    let (_, commit) = call(
        "POST",
        "/git/commits".into(),
        serde_json::json!({"message": "marker", "tree": tree["sha"], "parents": [parent]}),
    )
    .await;
    let (status, _) = call(
        "PATCH",
        "/git/refs/heads/archive".into(),
        serde_json::json!({"sha": commit["sha"]}),
    )
    .await;
    assert_eq!(status, 200);

    let started = std::time::Instant::now();
    git.store
        .put("b", bytes::Bytes::from_static(b"b"))
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(2),
        "the writer did not wait: {waited:?}"
    );
    let (status, _) = request(
        &base,
        "GET",
        &format!("{REPO}/git/trees/archive"),
        None,
        Some(&token),
    )
    .await;
    assert_eq!(status, 200);
    let cold = archive_on(&base, &token, "archive");
    assert!(cold.store.exists("b").await.unwrap());
    let (_, listing) = request(
        &base,
        "GET",
        &format!("{REPO}/git/trees/archive"),
        None,
        Some(&token),
    )
    .await;
    let names: Vec<&str> = listing["tree"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"rewrite.json"),
        "the expired marker is removed: {names:?}"
    );
    sandbox.shutdown().await;
}

// Issue 15: an encrypted archive branch, in a file of its own.
mod encrypted;
