//! Issue 2 acceptance: snapshots of the sandbox through the CLI.

use backtrack::catalog::SqliteCatalog;
use backtrack::snapshot::Archive;
use backtrack::store::LocalStore;
use serde_json::Value;
use std::sync::Arc;

use crate::util::{SandboxProc, User};

const SCOPE: &str = "github:acme/widgets";

fn floor(issues: u64, comments: u64, labels: u64, milestones: u64) -> u64 {
    issues.div_ceil(100)
        + comments.div_ceil(100)
        + labels.div_ceil(100).max(1)
        + milestones.div_ceil(100).max(1)
}

#[test]
fn snapshot_counts_match_the_sandbox_and_stay_near_the_request_floor() {
    let sandbox = SandboxProc::start(&["--issues", "1000", "--comments", "5000", "--seed", "7"]);
    let user = User::new(&sandbox);
    let before = sandbox.stats()["total"].as_u64().unwrap();

    let report = user
        .run(&["--json", "snapshot", "create", SCOPE, "--name", "first"])
        .ok()
        .json();
    let after = sandbox.stats()["total"].as_u64().unwrap();

    // Ground truth, read independently of backtrack's client.
    let labels = sandbox.list_all("/repos/acme/widgets/labels").len() as u64;
    let milestones = sandbox
        .list_all("/repos/acme/widgets/milestones?state=all")
        .len() as u64;
    let counts = &report["counts"];
    assert_eq!(counts["issues"], 1000, "{report}");
    assert_eq!(counts["comments"], 5000, "{report}");
    assert_eq!(counts["labels"], labels);
    assert_eq!(counts["milestones"], milestones);
    for field in [
        "id",
        "scope",
        "name",
        "trigger",
        "status",
        "created_at",
        "requests",
    ] {
        assert!(report.get(field).is_some(), "missing {field} in {report}");
    }
    assert_eq!(report["status"], "completed");
    assert_eq!(report["trigger"], "manual");
    assert_eq!(report["scope"], SCOPE);

    let requests = report["requests"].as_u64().unwrap();
    let floor = floor(1000, 5000, labels, milestones);
    assert!(
        requests as f64 <= 1.1 * floor as f64,
        "{requests} requests for a floor of {floor}"
    );
    assert_eq!(
        requests,
        after - before,
        "backtrack's count must match the sandbox's"
    );

    // A second identical snapshot stores only its manifest.
    let first_new = report["bytes"]["stored_new"].as_u64().unwrap();
    let second = user
        .run(&["--json", "snapshot", "create", SCOPE])
        .ok()
        .json();
    let second_new = second["bytes"]["stored_new"].as_u64().unwrap();
    assert_eq!(second["blobs_written"], 0, "{second}");
    assert!(
        second_new < 1_000 && second_new * 1_000 < first_new,
        "second snapshot stored {second_new} new bytes vs {first_new} for the first"
    );
    assert_eq!(second["bytes"]["logical"], report["bytes"]["logical"]);
    assert_eq!(second["parent"], report["id"]);

    // list / show / delete round trip.
    let list = user.run(&["--json", "snapshot", "list", SCOPE]).ok().json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            second["id"].as_str().unwrap(),
            report["id"].as_str().unwrap()
        ],
        "newest first"
    );
    let shown = user
        .run(&["--json", "snapshot", "show", "first"])
        .ok()
        .json();
    assert_eq!(shown["id"], report["id"]);
    assert_eq!(
        shown["manifest"]["records"].as_u64().unwrap(),
        6000 + labels + milestones
    );
    let table = user.run(&["snapshot", "list"]).ok().stdout;
    assert!(
        table.contains("first") && table.contains("completed"),
        "{table}"
    );

    user.run(&["snapshot", "pin", "first"]).ok();
    let refused = user.run(&["snapshot", "delete", "first"]);
    assert_eq!(
        refused.code, 3,
        "pinned delete must be refused: {refused:?}"
    );
    assert!(refused.stderr.contains("pinned"), "{}", refused.stderr);
    user.run(&["snapshot", "delete", "first", "--force"]).ok();
    let list = user.run(&["--json", "snapshot", "list"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

/// Loads every record of a snapshot as JSON text with the sandbox's base URL replaced, so
/// captures of two sandboxes on different ports compare equal when their content is.
pub fn records_text(user: &User, id: &str, base_url: &str) -> Vec<String> {
    records_text_at(&user.store(), id, base_url)
}

/// [`records_text`] of the store at `store`.
pub fn records_text_at(store: &std::path::Path, id: &str, base_url: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let catalog = Arc::new(SqliteCatalog::open(&store.join("catalog.sqlite")).unwrap());
        let store = Arc::new(LocalStore::open(store.to_path_buf()).unwrap());
        records_text_in(&Archive::new(store, catalog), id, base_url).await
    })
}

/// [`records_text`] of snapshot `id` in `archive`, wherever it is stored.
pub async fn records_text_in(archive: &Archive, id: &str, base_url: &str) -> Vec<String> {
    {
        let entry = archive.resolve(None, id).await.unwrap();
        let manifest = archive.load_manifest(&entry).await.unwrap();
        let set = archive.load_records(&manifest, true).await.unwrap();
        let mut out: Vec<String> = Vec::new();
        let host = base_url.trim_start_matches("http://");
        for v in set
            .labels
            .values()
            .map(|r| serde_json::to_value(r).unwrap())
            .chain(
                set.milestones
                    .values()
                    .map(|r| serde_json::to_value(r).unwrap()),
            )
            .chain(
                set.issues
                    .values()
                    .map(|r| serde_json::to_value(r).unwrap()),
            )
            .chain(
                set.comments
                    .values()
                    .map(|r| serde_json::to_value(r).unwrap()),
            )
            .chain(
                set.components
                    .values()
                    .map(|r| serde_json::to_value(r).unwrap()),
            )
            .chain(
                set.versions
                    .values()
                    .map(|r| serde_json::to_value(r).unwrap()),
            )
            .chain(
                set.jira_issues
                    .values()
                    .map(|r| serde_json::to_value(r).unwrap()),
            )
            .chain(
                set.jira_comments
                    .values()
                    .map(|r| serde_json::to_value(r).unwrap()),
            )
        {
            out.push(v.to_string().replace(host, "HOST"));
        }
        out
    }
}

#[test]
fn snapshot_under_injected_faults_completes_with_identical_content() {
    let args = ["--issues", "300", "--comments", "1500", "--seed", "11"];
    let clean = SandboxProc::start(&args);
    let mut faulty_args = args.to_vec();
    faulty_args.extend(["--fault-rate", "0.1"]);
    let faulty = SandboxProc::start(&faulty_args);

    let a = User::new(&clean);
    let b = User::new(&faulty);
    let ra = a.run(&["--json", "snapshot", "create", SCOPE]).ok().json();
    let rb = b.run(&["--json", "snapshot", "create", SCOPE]).ok().json();
    assert_eq!(ra["counts"], rb["counts"]);
    assert_eq!(ra["bytes"]["logical"].as_u64().map(|_| ()), Some(()));
    let stats = faulty.stats();
    assert!(
        rb["requests"].as_u64().unwrap() > ra["requests"].as_u64().unwrap(),
        "faults must have caused retries: {rb} vs {ra}; stats {stats}"
    );
    let ta = records_text(&a, ra["id"].as_str().unwrap(), &clean.url);
    let tb = records_text(&b, rb["id"].as_str().unwrap(), &faulty.url);
    assert_eq!(ta.len(), tb.len());
    for (x, y) in ta.iter().zip(&tb) {
        assert_eq!(x, y);
    }
}

#[test]
fn the_token_never_reaches_output_logs_or_the_archive() {
    let sandbox = SandboxProc::start(&["--issues", "50", "--comments", "100"]);
    let user = User::new(&sandbox);
    let run = user
        .run(&["-vv", "--json", "snapshot", "create", SCOPE])
        .ok();
    assert!(!run.stdout.contains(&user.token) && !run.stderr.contains(&user.token));
    // Every stored byte, decompressed, is free of the token.
    for entry in walk(&user.store()) {
        let bytes = std::fs::read(&entry).unwrap();
        let plain = zstd_decode(&bytes).unwrap_or(bytes);
        let text = String::from_utf8_lossy(&plain);
        assert!(
            !text.contains(&user.token),
            "token found in {}",
            entry.display()
        );
    }
    let _: Value = run.json();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn zstd_decode(bytes: &[u8]) -> Option<Vec<u8>> {
    backtrack::blob::decompress("x", bytes).ok()
}

#[test]
fn verify_rehashes_everything_and_names_corrupt_snapshots() {
    let sandbox = SandboxProc::start(&["--issues", "30", "--comments", "60"]);
    let user = User::new(&sandbox);
    let snap = user
        .run(&["--json", "snapshot", "create", SCOPE])
        .ok()
        .json();
    let ok = user.run(&["--json", "verify", "--all"]).ok().json();
    assert_eq!(ok["snapshots"], 1);
    assert!(ok["blobs"].as_u64().unwrap() >= 90, "{ok}");
    assert_eq!(ok["problems"], serde_json::json!([]));

    // Corrupt one blob: replace it with a valid zstd frame of other content.
    let blob = walk(&user.store().join("blobs"))
        .into_iter()
        .next()
        .unwrap();
    std::fs::write(&blob, backtrack::blob::compress(b"{\"tampered\":true}")).unwrap();
    let bad = user.run(&["verify", SCOPE]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stdout.contains(snap["id"].as_str().unwrap()),
        "{}",
        bad.stdout
    );
    assert!(bad.stdout.contains("hashes to"), "{}", bad.stdout);
}

#[test]
fn prune_keeps_the_newest_and_collects_unreferenced_blobs() {
    let sandbox = SandboxProc::start(&["--issues", "20", "--comments", "40"]);
    let user = User::new(&sandbox);
    let mut ids = Vec::new();
    for round in 0..3 {
        let (s, b) = sandbox.api(
            "PATCH",
            "/repos/acme/widgets/issues/1",
            Some(serde_json::json!({"title": format!("round {round}")})),
        );
        assert_eq!(s, 200, "{b}");
        ids.push(
            user.run(&["--json", "snapshot", "create", SCOPE])
                .ok()
                .json()["id"]
                .clone(),
        );
    }
    user.run(&["snapshot", "pin", ids[0].as_str().unwrap()])
        .ok();
    let blobs_before = walk(&user.store().join("blobs")).len();

    let preview = user
        .run(&[
            "--json",
            "prune",
            SCOPE,
            "--keep-last",
            "1",
            "--grace",
            "0s",
        ])
        .ok()
        .json();
    assert_eq!(preview["executed"], false);
    let dropped: Vec<&Value> = preview["plan"]["drop"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["id"])
        .collect();
    assert_eq!(dropped, [&ids[1]], "the pinned oldest and the newest stay");
    // Issue #1 as it was in round 1 exists only in the dropped snapshot, and so does its
    // activity log (who changed what since its parent). Round 1's entry table stays: round
    // 2's table is a delta on it.
    assert_eq!(
        preview["plan"]["blobs"].as_array().unwrap().len(),
        2,
        "{preview}"
    );
    assert_eq!(
        walk(&user.store().join("blobs")).len(),
        blobs_before,
        "a preview deletes nothing"
    );

    user.run(&[
        "prune",
        SCOPE,
        "--keep-last",
        "1",
        "--grace",
        "0s",
        "--execute",
    ])
    .ok();
    let list = user.run(&["--json", "snapshot", "list", SCOPE]).ok().json();
    let left: Vec<&Value> = list.as_array().unwrap().iter().map(|e| &e["id"]).collect();
    assert_eq!(left, [&ids[2], &ids[0]]);
    assert_eq!(walk(&user.store().join("blobs")).len(), blobs_before - 2);
    user.run(&["verify", "--all"]).ok();
}

/// A full capture holds at most a run of manifest entries and writes each full run to disk,
/// sorted, then merges the runs (issue 19, flat memory). The real binary with a run of 100
/// entries (2,400+ records: 25 runs) stores the very records, blob for blob, that a capture
/// holding them all in memory stores from the same sandbox; the runs leave nothing in
/// `TMPDIR`; `verify` finds every blob. Where the runs cannot go, the capture fails saying
/// where and what to do, and no snapshot reads completed.
#[test]
fn a_capture_that_spills_its_entries_to_disk_stores_the_same_records() {
    let sandbox = SandboxProc::start(&["--issues", "400", "--comments", "2000", "--seed", "23"]);
    let held = User::new(&sandbox);
    let spilled = User::new(&sandbox);
    let held_report = crate::graphql::snapshot(&held, &[]);

    let runs_dir = tempfile::tempdir().unwrap();
    let mut cmd = spilled.command(&["--json", "snapshot", "create", SCOPE]);
    cmd.env("BACKTRACK_CAPTURE_RUN_ENTRIES", "100")
        .env("TMPDIR", runs_dir.path());
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spilled_report: Value = serde_json::from_slice(&out.stdout).unwrap();
    // 400 issues and 2,000 comments alone are 24 runs of 100.
    assert_eq!(spilled_report["counts"]["issues"], 400, "{spilled_report}");
    assert_eq!(
        spilled_report["counts"]["comments"], 2000,
        "{spilled_report}"
    );
    crate::graphql::assert_same(
        (&held, &held_report),
        (&spilled, &spilled_report),
        &sandbox.url,
    );
    let left: Vec<_> = std::fs::read_dir(runs_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "the runs left files behind: {left:?}");
    spilled.run(&["verify", "--all"]).ok();

    // The runs go to TMPDIR: one that does not exist fails the capture, naming it.
    let missing = runs_dir.path().join("no-such-folder");
    let mut cmd = spilled.command(&["--json", "snapshot", "create", SCOPE, "--full"]);
    cmd.env("BACKTRACK_CAPTURE_RUN_ENTRIES", "100")
        .env("TMPDIR", &missing);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a capture without its runs' folder succeeded"
    );
    assert!(
        stderr.contains("no-such-folder") && stderr.contains("TMPDIR"),
        "{stderr}"
    );
    // A run size that is not a number is refused before anything is read.
    let before = sandbox.stats()["total"].as_u64().unwrap();
    let mut cmd = spilled.command(&["--json", "snapshot", "create", SCOPE, "--full"]);
    cmd.env("BACKTRACK_CAPTURE_RUN_ENTRIES", "lots");
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("BACKTRACK_CAPTURE_RUN_ENTRIES") && stderr.contains("lots"),
        "{stderr}"
    );
    assert_eq!(
        sandbox.stats()["total"].as_u64().unwrap(),
        before,
        "a refused run size read nothing from the tracker"
    );
    let list = spilled
        .run(&["--json", "snapshot", "list", SCOPE])
        .ok()
        .json();
    let completed = crate::util::id_statuses(&list)
        .iter()
        .filter(|(_, status)| status == "completed")
        .count();
    assert_eq!(completed, 1, "only the first capture completed: {list}");
}
