//! `backtrack demo` as a user runs it: the guided tour on its own in-process sandbox (from
//! backtrack-sandbox) and a temporary store, from snapshot to a verified rollback.

use std::process::{Command, Stdio};

use crate::util::bin;

#[test]
fn demo_tour_rolls_back_and_verifies_clean() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["demo", "--issues", "30", "--comments", "90"])
        .env("HOME", home.path())
        .env_remove("BACKTRACK_SANDBOX_TOKEN")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_API_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run backtrack demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(stdout.contains("Verification clean"), "{stdout}");
    // The tour's own sandbox counted the wreck and the rollback as writes.
    let writes = stdout
        .lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("The sandbox counted ")?;
            let (_, after) = rest.split_once(" requests, ")?;
            after.split_whitespace().next()?.parse::<u64>().ok()
        })
        .unwrap_or_else(|| panic!("no request count in:\n{stdout}"));
    assert!(writes > 0, "{stdout}");
    assert!(stdout.contains("GITHUB_TOKEN=sandbox-token"), "{stdout}");
}

#[test]
fn demo_tour_on_a_jira_epic_shows_the_sync_in_the_diff() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args([
            "demo",
            "--tracker",
            "jira",
            "--issues",
            "60",
            "--comments",
            "200",
        ])
        .env("HOME", home.path())
        .env_remove("BACKTRACK_SANDBOX_TOKEN")
        .env_remove("JIRA_BASE_URL")
        .env_remove("JIRA_API_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run backtrack demo --tracker jira");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    // The sync's rewritten descriptions and new subtasks are in the diff.
    assert!(stdout.contains("+ Synced from PROJ-"), "{stdout}");
    assert!(stdout.contains("Subtasks"), "{stdout}");
    assert!(stdout.contains("3 added"), "{stdout}");
    // The second snapshot is incremental and stores little.
    assert!(stdout.contains("capture:  incremental"), "{stdout}");
    assert!(stdout.contains("JIRA_API_TOKEN=sandbox-token"), "{stdout}");
}
