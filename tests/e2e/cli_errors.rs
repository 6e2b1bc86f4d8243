//! Bad input: each a one-line error naming the problem and the fix, exit code 2, and
//! nothing written.

use crate::util::{SandboxProc, User};

fn assert_one_line_error(run: &crate::util::Run, needle: &str) {
    assert_eq!(run.code, 2, "expected exit 2: {run:?}");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr, got: {}",
        run.stderr
    );
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    assert!(
        lines[0].contains(needle),
        "{:?} should mention {needle:?}",
        lines[0]
    );
}

fn assert_nothing_written(user: &User) {
    let list = user.run(&["--json", "snapshot", "list"]);
    if list.code == 0 {
        assert_eq!(
            list.json(),
            serde_json::json!([]),
            "a failed command left a catalog entry"
        );
    }
    let blobs = user.store().join("blobs");
    assert!(
        !blobs.exists() || std::fs::read_dir(&blobs).unwrap().next().is_none(),
        "blobs were written"
    );
}

#[test]
fn unknown_scope_form() {
    let sandbox = SandboxProc::start(&["--issues", "5", "--comments", "5"]);
    let user = User::new(&sandbox);
    for bad in ["acme/widgets", "gitlab:acme/widgets", "github:acme"] {
        let run = user.run(&["snapshot", "create", bad]);
        assert_one_line_error(&run, "github:OWNER/REPO");
    }
    assert_nothing_written(&user);
}

#[test]
fn unreachable_api() {
    let sandbox = SandboxProc::start(&["--issues", "5", "--comments", "5"]);
    let mut user = User::new(&sandbox);
    // A port nothing listens on: bind one, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    user.api_url = format!("http://127.0.0.1:{port}");
    let run = user.run(&["snapshot", "create", "github:acme/widgets"]);
    assert_one_line_error(&run, "cannot reach GitHub");
    assert!(run.stderr.contains("GITHUB_API_URL"), "{}", run.stderr);
    assert_nothing_written(&user);
}

#[test]
fn rejected_token() {
    let sandbox = SandboxProc::start(&["--issues", "5", "--comments", "5"]);
    let mut user = User::new(&sandbox);
    user.token = "not-the-right-token".into();
    let run = user.run(&["snapshot", "create", "github:acme/widgets"]);
    assert_one_line_error(&run, "GITHUB_TOKEN");
    assert!(!run.stderr.contains("not-the-right-token"));
    assert_nothing_written(&user);
}

#[test]
fn missing_repository() {
    let sandbox = SandboxProc::start(&["--issues", "5", "--comments", "5"]);
    let user = User::new(&sandbox);
    let run = user.run(&["snapshot", "create", "github:acme/nope"]);
    assert_one_line_error(&run, "acme/nope");
    assert_nothing_written(&user);
}

#[test]
fn unusable_store_folder() {
    let sandbox = SandboxProc::start(&["--issues", "5", "--comments", "5"]);
    let user = User::new(&sandbox);
    // A store "folder" below a regular file can never be created, even by root (permission
    // bits do not stop root, so this is the portable way to make the folder unusable).
    let file = user.home.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let store = format!("file://{}/store", file.display());
    let run = user.run(&[
        "--store",
        &store,
        "snapshot",
        "create",
        "github:acme/widgets",
    ]);
    assert_one_line_error(&run, "store");
    assert!(
        run.stderr.contains(&file.display().to_string()),
        "{}",
        run.stderr
    );
}

#[test]
fn unknown_snapshot_reference() {
    let sandbox = SandboxProc::start(&["--issues", "5", "--comments", "5"]);
    let user = User::new(&sandbox);
    // An archive that exists (a missing one is its own error, naming `backtrack init`).
    user.run(&["init"]).ok();
    let run = user.run(&["snapshot", "show", "nothing-by-that-name"]);
    assert_one_line_error(&run, "snapshot list");
}
