//! Retention and garbage collection through the CLI: `prune` never deletes what a running
//! capture relies on (issue 21 item 1, folder store and S3 + DynamoDB), and `--keep-within`
//! keeps and drops the right snapshots (issue 12).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::aws::AwsUser;
use crate::util::{Run, SandboxProc, User};

const SCOPE: &str = "github:acme/widgets";

/// Big enough that a capture takes a few seconds at 100 ms a request (31 requests), small
/// enough for CI.
const RACE_SANDBOX: [&str; 6] = [
    "--issues",
    "600",
    "--comments",
    "2000",
    "--latency-ms",
    "100",
];
/// Requests the capture has made when the first prune starts: about two thirds of its 31
/// (REST, which reads comments page by page, so the capture lasts long enough to race), so it
/// has re-used many blobs that no manifest references yet (the first 4 MB of records wait for
/// the dictionary, trained about halfway).
const RACE_HEAD_START: u64 = 20;

/// Sets every file under `dir` to have been modified `age` ago (`touch -d '3 hours ago'`).
fn age_files(dir: &Path, age: Duration) -> usize {
    let when = SystemTime::now() - age;
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                std::fs::File::options()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_modified(when)
                    .unwrap();
                n += 1;
            }
        }
    }
    n
}

/// What one race between a capture and a loop of `prune --execute` came to.
struct Race {
    /// Exit codes of the prunes that ran while the capture did.
    prunes: Vec<i32>,
    /// The capture's `--json` report (or its failure).
    capture: Run,
}

/// The reproduction: M1 is taken and deleted (its blobs stay, referenced by no
/// manifest), `age` makes them all old enough to collect, then a capture starts and prune
/// runs in a loop until it ends. The capture re-uses M1's blobs, which no manifest references
/// until it finishes.
fn race(
    sandbox: &SandboxProc,
    run: &dyn Fn(&[&str]) -> Run,
    command: &dyn Fn(&[&str]) -> Command,
    age: &dyn Fn(),
    grace: &str,
) -> Race {
    run(&["snapshot", "create", SCOPE, "--name", "M1"]).ok();
    run(&["snapshot", "delete", "M1"]).ok();
    age();
    let before = sandbox.stats()["total"].as_u64().unwrap();
    let mut child = command(&["--json", "snapshot", "create", SCOPE, "--api", "rest"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let the capture get going (and re-use blobs) before the first prune.
    let deadline = Instant::now() + Duration::from_secs(180);
    while sandbox.stats()["total"].as_u64().unwrap() < before + RACE_HEAD_START {
        assert!(Instant::now() < deadline, "the capture made no requests");
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut prunes = Vec::new();
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the capture did not end");
        let prune = run(&[
            "prune",
            SCOPE,
            "--keep-last",
            "1",
            "--grace",
            grace,
            "--execute",
        ]);
        assert!(
            matches!(prune.code, 0 | 3),
            "prune may succeed or be refused, never fail: {prune:?}"
        );
        prunes.push(prune.code);
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    Race {
        prunes,
        capture: Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        },
    }
}

/// The acceptance rule: the snapshot is either complete and verified, or not `completed`;
/// and once the capture is over, GC runs and leaves every completed snapshot whole.
fn assert_no_silent_loss(run: &dyn Fn(&[&str]) -> Run, race: &Race, grace: &str) {
    assert!(
        !race.prunes.is_empty(),
        "no prune ran while the capture did: the race was not exercised"
    );
    eprintln!("prune exit codes during the capture: {:?}", race.prunes);
    let completed =
        race.capture.code == 0 && race.capture.json()["status"].as_str() == Some("completed");
    if completed {
        let verify = run(&["verify", "--all"]);
        assert_eq!(
            verify.code,
            0,
            "the capture finished `completed` but its blobs are gone (prune exit codes {:?}):\n{}",
            race.prunes,
            verify.stdout.lines().take(3).collect::<Vec<_>>().join("\n")
                + &format!("\n… {}", verify.stderr.trim())
        );
    } else {
        let list = run(&["--json", "snapshot", "list", SCOPE]).ok().json();
        let statuses: Vec<&Value> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["status"])
            .collect();
        assert!(
            !statuses.iter().any(|s| s.as_str() == Some("completed")),
            "a failed capture left a completed entry: {list}"
        );
    }
    // How: the prunes that overlapped the capture were refused (the store was in use); the
    // last one may start after the capture released its lease, before its process exited.
    assert!(
        race.prunes.contains(&3),
        "no prune was kept out while the capture ran: {:?}",
        race.prunes
    );
    // After the capture, GC is free to run, and still loses nothing.
    run(&[
        "prune",
        SCOPE,
        "--keep-last",
        "1",
        "--grace",
        grace,
        "--execute",
    ])
    .ok();
    run(&["verify", "--all"]).ok();
}

#[test]
fn prune_never_deletes_blobs_a_running_capture_relies_on() {
    let sandbox = SandboxProc::start(&RACE_SANDBOX);
    let user = User::new(&sandbox);
    let blobs = user.store().join("blobs");
    let race = race(
        &sandbox,
        &|args| user.run(args),
        &|args| user.command(args),
        &|| {
            age_files(&blobs, Duration::from_secs(3 * 3600));
        },
        "1h",
    );
    assert_no_silent_loss(&|args| user.run(args), &race, "1h");
}

#[test]
fn aws_prune_never_deletes_blobs_a_running_capture_relies_on() {
    let sandbox = SandboxProc::start(&RACE_SANDBOX);
    let user = AwsUser::new(&sandbox);
    // S3 keeps its own modification times, so no grace period stands in for the aging.
    let race = race(
        &sandbox,
        &|args| user.run(args),
        &|args| user.command(args),
        &|| {},
        "0s",
    );
    assert_no_silent_loss(&|args| user.run(args), &race, "0s");
}

/// Moves a snapshot's creation time `age` into the past, in the catalog file (as if it had
/// been taken then).
fn age_snapshot(user: &User, id: &str, age: chrono::Duration) {
    // Consistently, as an archive kept that long holds it: the catalog entry's creation time,
    // and the manifest header's, whose hash the entry records (verify cross-checks both).
    let when = chrono::Utc::now() - age;
    let key = backtrack::keys::manifest(&SCOPE.parse().unwrap(), &id.parse().unwrap());
    let path = user.store().join(&key);
    let stored = std::fs::read(&path).unwrap();
    let mut header: Value =
        serde_json::from_slice(&backtrack::blob::decompress(&key, &stored).unwrap()).unwrap();
    header["created_at"] = serde_json::to_value(when).unwrap();
    let rewritten = backtrack::blob::compress(&backtrack::blob::canonical_json(&header).unwrap());
    // Stored objects are read-only: replace the file, as the store's own writes do.
    let staged = path.with_extension("aged");
    std::fs::write(&staged, &rewritten).unwrap();
    std::fs::rename(&staged, &path).unwrap();
    let hash = backtrack::id::ObjectHash::of(&rewritten).to_string();
    let when = when.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let conn = rusqlite::Connection::open(user.store().join("catalog.sqlite")).unwrap();
    let changed = conn
        .execute(
            "UPDATE snapshots SET created_at = ?1, manifest_hash = ?2 WHERE id = ?3",
            [when.as_str(), hash.as_str(), id],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

/// Issue 12: `--keep-within` keeps every completed snapshot younger than the duration on top
/// of `--keep-last`, drops the others, and retention that would keep nothing is refused.
#[test]
fn prune_keep_within_keeps_and_drops_the_right_snapshots() {
    let sandbox = SandboxProc::start(&["--issues", "10", "--comments", "20"]);
    let user = User::new(&sandbox);
    let mut ids = Vec::new();
    for days in [10, 5, 2, 0] {
        let snap = user
            .run(&["--json", "snapshot", "create", SCOPE])
            .ok()
            .json();
        let id = snap["id"].as_str().unwrap().to_string();
        if days > 0 {
            age_snapshot(&user, &id, chrono::Duration::days(days));
        }
        ids.push(id);
    }
    let ids_of = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x["id"].as_str().unwrap().to_string())
            })
            .collect()
    };

    let preview = user
        .run(&[
            "--json",
            "prune",
            SCOPE,
            "--keep-last",
            "1",
            "--keep-within",
            "3d",
        ])
        .ok()
        .json();
    assert_eq!(preview["executed"], false);
    let mut kept = ids_of(&preview["plan"]["keep"]);
    kept.sort();
    let mut dropped = ids_of(&preview["plan"]["drop"]);
    dropped.sort();
    assert_eq!(kept, [ids[2].clone(), ids[3].clone()], "{preview}");
    assert_eq!(dropped, [ids[0].clone(), ids[1].clone()], "{preview}");
    assert!(
        preview["plan"]["drop"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("older than 3d"),
        "{preview}"
    );

    // Age alone: keep-last 0 keeps what is within 6 days.
    let by_age = user
        .run(&[
            "--json",
            "prune",
            SCOPE,
            "--keep-last",
            "0",
            "--keep-within",
            "6d",
        ])
        .ok()
        .json();
    assert_eq!(
        by_age["plan"]["drop"].as_array().unwrap().len(),
        1,
        "{by_age}"
    );
    assert_eq!(by_age["plan"]["drop"][0]["id"], ids[0].as_str());

    user.run(&[
        "prune",
        SCOPE,
        "--keep-last",
        "1",
        "--keep-within",
        "3d",
        "--execute",
    ])
    .ok();
    let listed = user.run(&["--json", "snapshot", "list", SCOPE]).ok().json();
    let mut left = ids_of(&listed);
    left.sort();
    assert_eq!(left, [ids[2].clone(), ids[3].clone()]);
    user.run(&["verify", "--all"]).ok();

    // Retention that keeps nothing, and durations that are not durations, are refused
    // before anything is read.
    let nothing = user.run(&["prune", SCOPE, "--keep-last", "0", "--execute"]);
    assert_eq!(nothing.code, 2, "{nothing:?}");
    assert!(
        nothing.stderr.contains("keeps no snapshot"),
        "{}",
        nothing.stderr
    );
    let bad = user.run(&["prune", SCOPE, "--keep-within", "3 fortnights"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr.contains("--keep-within") && bad.stderr.contains("30d"),
        "{}",
        bad.stderr
    );
    assert_eq!(
        ids_of(&user.run(&["--json", "snapshot", "list", SCOPE]).ok().json()).len(),
        2,
        "nothing was dropped by the refused runs"
    );
}
