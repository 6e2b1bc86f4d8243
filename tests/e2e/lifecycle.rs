//! Issue 21, the lifecycle items, through the CLI against the sandbox: case variants of a
//! repository share one lock and one history (10), `snapshot delete` removes data before the
//! index (11), read-only commands create nothing and a lost catalog is rebuilt with
//! `repair --reindex` (13), a killed capture turns `failed` once its lease expires (14), and a
//! read-only populated store can still be listed (15).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{Run, SandboxProc, User};

const SCOPE: &str = "github:acme/widgets";
const REPO: &str = "/repos/acme/widgets";

fn run_of(out: std::process::Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Runs `cmd` so that file permissions bind it: as root (CI containers), without the
/// capabilities that let root write into a read-only folder.
fn unprivileged(cmd: &Command) -> Command {
    if !is_root() {
        let mut same = Command::new(cmd.get_program());
        same.args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => same.env(k, v),
                None => same.env_remove(k),
            };
        }
        return same;
    }
    let mut wrapped = Command::new("setpriv");
    wrapped
        .arg("--inh-caps=-dac_override,-dac_read_search")
        .arg("--bounding-set=-dac_override,-dac_read_search")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    wrapped.stdin(Stdio::null());
    wrapped
}

fn run_unprivileged(user: &User, args: &[&str]) -> Run {
    run_of(unprivileged(&user.command(args)).output().unwrap())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Every folder under `root` (and `root`) made read-only or writable again.
#[cfg(unix)]
fn set_tree_writable(root: &Path, writable: bool) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        set_mode(&dir, if writable { 0o755 } else { 0o555 });
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                set_mode(&path, if writable { 0o644 } else { 0o444 });
            }
        }
    }
}

fn list(user: &User, scope: Option<&str>) -> Vec<Value> {
    let mut args = vec!["--json", "snapshot", "list"];
    args.extend(scope);
    user.run(&args).ok().json().as_array().unwrap().clone()
}

fn create(user: &User, scope: &str, name: Option<&str>) -> Value {
    let mut args = vec!["--json", "snapshot", "create", scope];
    if let Some(name) = name {
        args.extend(["--name", name]);
    }
    user.run(&args).ok().json()
}

/// Item 10: `github:ACME/Widgets` and `github:acme/widgets` are one repository — one history
/// (the second capture builds on the first, and both list under either spelling, shown in
/// the form first typed) and one lock (a snapshot is refused while a rollback of the other
/// spelling runs).
#[test]
fn case_variants_of_a_repository_share_one_lock_and_one_history() {
    let sandbox = SandboxProc::start(&["--issues", "30", "--comments", "60", "--seed", "10"]);
    let user = User::new(&sandbox);
    let first = create(&user, "github:ACME/Widgets", Some("typed"));
    assert_eq!(first["scope"], "github:ACME/Widgets");
    let second = create(&user, SCOPE, None);
    assert_eq!(second["parent"], first["id"], "one history: {second}");
    assert_eq!(second["mode"], "incremental", "{second}");
    assert_eq!(
        second["scope"], "github:ACME/Widgets",
        "the form first typed is kept"
    );
    for spelling in ["github:acme/widgets", "github:Acme/WIDGETS"] {
        let entries = list(&user, Some(spelling));
        assert_eq!(entries.len(), 2, "{spelling}: {entries:?}");
    }
    let latest = user
        .run(&["--json", "snapshot", "show", "typed"])
        .ok()
        .json();
    assert_eq!(latest["scope"], "github:ACME/Widgets");

    // Damage ten issues, then roll back through one spelling with slow writes while a
    // snapshot of the other spelling is attempted.
    let issues = sandbox.list_all(&format!("{REPO}/issues?state=all"));
    for issue in issues.iter().take(10) {
        let number = issue["number"].as_u64().unwrap();
        let (status, _) = sandbox.api(
            "PATCH",
            &format!("{REPO}/issues/{number}"),
            Some(serde_json::json!({"title": format!("[wrecked] {number}")})),
        );
        assert_eq!(status, 200);
    }
    let mut rollback = user
        .command(&[
            "rollback",
            "github:ACME/Widgets",
            "--to",
            "typed",
            "--execute",
            "--yes",
            "--write-interval-ms",
            "400",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the rollback has started writing (it holds the lock by then).
    let writes_before = sandbox.stats()["writes"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sandbox.stats()["writes"].as_u64().unwrap() == writes_before {
        assert!(Instant::now() < deadline, "the rollback never wrote");
        assert!(
            rollback.try_wait().unwrap().is_none(),
            "the rollback ended early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let refused = user.run(&["snapshot", "create", SCOPE]);
    let out = rollback.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "rollback: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        refused.code, 3,
        "a snapshot of another spelling must be refused while the rollback holds the lock: {refused:?}"
    );
    assert!(
        refused.stderr.contains("locked by rollback"),
        "{}",
        refused.stderr
    );
}

/// Item 11: when the manifest cannot be removed, the entry stays listed as `deleting` (it
/// neither vanishes nor stays `completed`), and running the delete again finishes it.
#[cfg(unix)]
#[test]
fn a_delete_that_cannot_remove_the_manifest_leaves_a_deleting_entry_and_a_retry_finishes() {
    let sandbox = SandboxProc::start(&["--issues", "10", "--comments", "20"]);
    let user = User::new(&sandbox);
    let snap = create(&user, SCOPE, Some("doomed"));
    let id = snap["id"].as_str().unwrap().to_string();
    let manifests = user.store().join("manifests");
    set_tree_writable(&manifests, false);
    let failed = run_unprivileged(&user, &["snapshot", "delete", "doomed"]);
    set_tree_writable(&manifests, true);
    assert_eq!(failed.code, 2, "{failed:?}");
    assert!(
        failed.stderr.contains("deleting") && failed.stderr.contains(&id),
        "the error says the entry is marked deleting and how to finish: {}",
        failed.stderr
    );
    let entries = list(&user, Some(SCOPE));
    assert_eq!(entries.len(), 1, "the snapshot has not left the list");
    assert_eq!(entries[0]["status"], "deleting");
    // Readers no longer use it.
    let latest = user.run(&["diff", SCOPE, "--from", "latest"]);
    assert_ne!(latest.code, 0, "a deleting snapshot is not `latest`");

    let retried = user.run(&["--json", "snapshot", "delete", &id]).ok().json();
    assert_eq!(retried["deleted"], id.as_str());
    assert!(list(&user, Some(SCOPE)).is_empty());
    let key = format!("{}/github--acme--widgets/{id}", manifests.display());
    assert!(!Path::new(&key).exists(), "the manifest is gone: {key}");
}

/// Item 13: commands that only read create nothing; a lost catalog beside manifests is an
/// error naming `backtrack repair --reindex`, which rebuilds it (and `snapshot create` does
/// not paper over it with an empty one).
#[test]
fn read_only_commands_create_nothing_and_a_lost_catalog_is_rebuilt_by_reindex() {
    let sandbox = SandboxProc::start(&["--issues", "20", "--comments", "40", "--seed", "11"]);
    let user = User::new(&sandbox);

    let typo = user.home.path().join("typo/a/b");
    let store_flag = format!("file://{}", typo.display());
    for args in [
        vec!["snapshot", "list"],
        vec!["verify", "--all"],
        vec!["prune", SCOPE, "--execute"],
        vec!["diff", SCOPE],
    ] {
        let mut full = vec!["--store", store_flag.as_str()];
        full.extend(args.iter());
        let run = user.run(&full);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains("does not exist") && run.stderr.contains("backtrack init"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!typo.exists(), "{args:?} created {}", typo.display());
    }

    let first = create(&user, SCOPE, Some("before-sync"));
    let second = create(&user, SCOPE, None);
    let catalog = user.store().join("catalog.sqlite");
    std::fs::remove_file(&catalog).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", catalog.display()));
    }
    for args in [
        vec!["snapshot", "list"],
        vec!["verify", "--all"],
        vec!["snapshot", "create", SCOPE],
    ] {
        let run = user.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains("backtrack repair --reindex")
                && run.stderr.contains("2 snapshot manifest(s)"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!catalog.exists(), "{args:?} recreated an empty catalog");
    }

    let repaired = user.run(&["--json", "repair", "--reindex"]).ok().json();
    assert_eq!(repaired["manifests"], 2, "{repaired}");
    assert_eq!(repaired["added"].as_array().unwrap().len(), 2, "{repaired}");
    assert!(
        repaired["not_recovered"].as_str().unwrap().contains("pins"),
        "{repaired}"
    );
    let entries = list(&user, Some(SCOPE));
    let ids: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            second["id"].as_str().unwrap(),
            first["id"].as_str().unwrap()
        ]
    );
    assert_eq!(entries[1]["name"], "before-sync");
    assert_eq!(entries[0]["parent"], first["id"]);
    assert!(entries.iter().all(|e| e["status"] == "completed"));
    user.run(&["verify", "--all"]).ok();
    let diff = user.run(&["diff", SCOPE, "--from", "before-sync", "--to", "latest"]);
    assert_eq!(diff.code, 0, "{diff:?}");
    // And the history continues on the rebuilt catalog.
    let third = create(&user, SCOPE, None);
    assert_eq!(third["parent"], second["id"], "{third}");

    // A manifest the catalog does not know (a catalog that lost entries, or an empty one
    // recreated beside the store as older versions did): `verify --all` names it instead of
    // reporting everything fine.
    let orphan = user
        .store()
        .join("manifests/github--acme--widgets")
        .join(ulid::Ulid::new().to_string().to_ascii_lowercase());
    std::fs::copy(
        user.store()
            .join("manifests/github--acme--widgets")
            .join(first["id"].as_str().unwrap()),
        &orphan,
    )
    .unwrap();
    let verify = user.run(&["verify", "--all"]);
    assert_eq!(verify.code, 2, "{verify:?}");
    assert!(
        verify.stdout.contains("has no catalog entry")
            && verify.stdout.contains("repair --reindex"),
        "{}",
        verify.stdout
    );
}

/// Item 15: a populated store that cannot be written (a read-only folder, an archive
/// mounted read-only) can still be listed, shown and verified; writing commands say why
/// they cannot.
#[cfg(unix)]
#[test]
fn a_read_only_populated_store_can_be_listed_and_verified() {
    let sandbox = SandboxProc::start(&["--issues", "15", "--comments", "30"]);
    let user = User::new(&sandbox);
    create(&user, SCOPE, Some("kept"));
    create(&user, SCOPE, None);
    set_tree_writable(&user.store(), false);
    let listed = run_unprivileged(&user, &["--json", "snapshot", "list", SCOPE]);
    let shown = run_unprivileged(&user, &["snapshot", "show", "kept"]);
    let verified = run_unprivileged(&user, &["verify", "--all"]);
    let snapshot = run_unprivileged(&user, &["snapshot", "create", SCOPE]);
    set_tree_writable(&user.store(), true);
    assert_eq!(listed.code, 0, "{listed:?}");
    assert_eq!(listed.json().as_array().unwrap().len(), 2);
    assert_eq!(shown.code, 0, "{shown:?}");
    assert_eq!(verified.code, 0, "{verified:?}");
    assert_eq!(snapshot.code, 2, "{snapshot:?}");
    assert!(
        snapshot.stderr.contains("read-only") || snapshot.stderr.contains("permission"),
        "{}",
        snapshot.stderr
    );
}

/// Item 14: a capture killed by a signal leaves a `pending` entry only while its lease
/// lasts; then `snapshot list` says `failed (abandoned)`, `verify` says it skipped it and
/// why, the next capture records it failed, and prune drops it.
#[test]
fn a_killed_capture_turns_failed_when_its_lease_expires() {
    let sandbox = SandboxProc::start(&[
        "--issues",
        "300",
        "--comments",
        "900",
        "--latency-ms",
        "100",
    ]);
    let user = User::new(&sandbox);
    user.run(&["init"]).ok();
    const TTL: &str = "4";
    let mut capture = user
        .command(&["snapshot", "create", SCOPE, "--name", "killed"])
        .env("BACKTRACK_LEASE_TTL", TTL)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once its entry exists.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "no in-progress entry appeared");
        assert!(
            capture.try_wait().unwrap().is_none(),
            "the capture ended before the kill"
        );
        if list(&user, Some(SCOPE))
            .iter()
            .any(|e| e["status"] == "in_progress")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGKILL: nothing runs after it, exactly like a crashed machine.
    capture.kill().unwrap();
    capture.wait().unwrap();
    let during = list(&user, Some(SCOPE));
    assert_eq!(
        during[0]["status"], "in_progress",
        "its lease is still live"
    );

    std::thread::sleep(Duration::from_secs(6));
    let after = list(&user, Some(SCOPE));
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["status"], "failed", "{after:?}");
    assert!(
        after[0]["error"].as_str().unwrap().contains("abandoned"),
        "{after:?}"
    );
    let table = user.run(&["snapshot", "list", SCOPE]).ok();
    assert!(
        table.stdout.contains("failed (abandoned)"),
        "{}",
        table.stdout
    );
    let verify = user.run(&["verify", SCOPE]).ok();
    assert!(
        verify.stdout.contains("skipped") && verify.stdout.contains("abandoned"),
        "verify names what it skipped and why: {}",
        verify.stdout
    );

    let preview = user.run(&["--json", "prune", SCOPE]).ok().json();
    let dropped = preview["plan"]["drop"].as_array().unwrap();
    assert_eq!(dropped.len(), 1, "{preview}");
    assert!(
        dropped[0]["reason"].as_str().unwrap().contains("abandoned"),
        "{preview}"
    );
    user.run(&["prune", SCOPE, "--execute"]).ok();
    assert!(list(&user, Some(SCOPE)).is_empty());
}

/// Item 14, continued: the next capture of the scope records an abandoned entry as failed in
/// the catalog itself (readers of the raw catalog see it too).
#[test]
fn the_next_capture_records_an_abandoned_one_as_failed() {
    let sandbox = SandboxProc::start(&[
        "--issues",
        "300",
        "--comments",
        "900",
        "--latency-ms",
        "100",
    ]);
    let user = User::new(&sandbox);
    let mut capture = user
        .command(&["snapshot", "create", SCOPE])
        .env("BACKTRACK_LEASE_TTL", "4")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !user.store().join("catalog.sqlite").exists()
        || !list(&user, Some(SCOPE))
            .iter()
            .any(|e| e["status"] == "in_progress")
    {
        assert!(Instant::now() < deadline, "no in-progress entry appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    capture.kill().unwrap();
    capture.wait().unwrap();
    std::thread::sleep(Duration::from_secs(6));
    let next = create(&user, SCOPE, None);
    assert_eq!(next["status"], "completed");
    assert_eq!(
        next["parent"],
        Value::Null,
        "an abandoned capture is no parent"
    );
    let catalog =
        backtrack::catalog::SqliteCatalog::open(&user.store().join("catalog.sqlite")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stored = rt
        .block_on(backtrack::Catalog::list(&catalog, None))
        .unwrap();
    let abandoned = stored
        .iter()
        .find(|e| e.id.to_string() != next["id"])
        .unwrap();
    assert_eq!(abandoned.status, backtrack::SnapshotStatus::Failed);
    assert_eq!(
        abandoned.error.as_deref(),
        Some(backtrack::snapshot::ABANDONED)
    );
}
