//! Issue 18 item 3: limits kept, not disabled. Rollbacks with the default pacing (no
//! `--write-interval-ms`) against a sandbox that enforces GitHub's secondary write limit:
//! the achieved rate sits just under the limit, no limit error reaches the user, and when
//! the sandbox refuses writes (`Retry-After`) the client waits as told, which the sandbox's
//! own counters show (`rate_limited`, `early_retries`).
//!
//! The suite runs a short version (about 50 writes, under a minute); `bench/paced` runs a
//! few hundred at 80 a minute (minutes of wall time).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::rollback::restorable_state;
use crate::util::{SandboxProc, User};

const SCOPE: &str = "github:acme/widgets";
const REPO: &str = "/repos/acme/widgets";

fn stat(sandbox: &SandboxProc, key: &str) -> u64 {
    sandbox.stats()[key].as_u64().unwrap_or(0)
}

fn enc(name: &str) -> String {
    name.replace(' ', "%20").replace(':', "%3A")
}

/// Deletes the `labels` most used labels and every milestone: few writes of damage, one
/// restoring write per definition and per issue that carried one.
fn strip_definitions(sandbox: &SandboxProc, labels: usize) {
    let issues = sandbox.list_all(&format!("{REPO}/issues?state=all"));
    let mut uses: Vec<(usize, String)> = sandbox
        .list_all(&format!("{REPO}/labels"))
        .iter()
        .filter_map(|l| l["name"].as_str().map(str::to_string))
        .map(|name| {
            let n = issues
                .iter()
                .filter(|i| {
                    i["labels"]
                        .as_array()
                        .is_some_and(|ls| ls.iter().any(|l| l["name"] == name.as_str()))
                })
                .count();
            (n, name)
        })
        .collect();
    uses.sort();
    for (_, name) in uses.iter().rev().take(labels) {
        let (s, body) = sandbox.api("DELETE", &format!("{REPO}/labels/{}", enc(name)), None);
        assert_eq!(s, 204, "{body}");
    }
    for m in sandbox.list_all(&format!("{REPO}/milestones?state=all")) {
        let (s, body) = sandbox.api(
            "DELETE",
            &format!("{REPO}/milestones/{}", m["number"]),
            None,
        );
        assert_eq!(s, 204, "{body}");
    }
}

/// Runs `rollback --execute --yes` with the default pacing, watching the sandbox's write
/// counter: the report, and when the first and the last planned write landed.
fn paced_rollback(sandbox: &SandboxProc, user: &User, planned: u64) -> (Value, Duration) {
    let w0 = stat(sandbox, "writes");
    let child = user
        .command(&[
            "--json",
            "rollback",
            SCOPE,
            "--to",
            "good",
            "--execute",
            "--yes",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = None;
    let mut last = None;
    let started = Instant::now();
    while last.is_none() && started.elapsed() < Duration::from_secs(1200) {
        let done = stat(sandbox, "writes") - w0;
        let now = Instant::now();
        if done >= 1 && first.is_none() {
            first = Some(now);
        }
        if done >= planned {
            last = Some(now);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rollback failed: {stderr}");
    assert!(
        !stderr.to_lowercase().contains("secondary rate limit"),
        "a limit error reached the user: {stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    (report, last.unwrap() - first.unwrap())
}

/// The rate (writes a minute) a run of `writes` writes spread over `span` achieved.
fn per_minute(writes: u64, span: Duration) -> f64 {
    (writes - 1) as f64 * 60.0 / span.as_secs_f64()
}

/// A rollback of `labels` deleted labels and every milestone, paced by default, against
/// `--writes-per-minute limit`: returns the writes made and the rate achieved.
pub(crate) fn paced_rollback_at(issues: &str, labels: usize, limit: u32) -> (u64, f64) {
    let limit_arg = limit.to_string();
    let sandbox = SandboxProc::start(&[
        "--issues",
        issues,
        "--comments",
        "20",
        "--seed",
        "3",
        "--writes-per-minute",
        &limit_arg,
    ]);
    let user = User::new(&sandbox);
    let before = restorable_state(&sandbox);
    user.run(&["snapshot", "create", SCOPE, "--name", "good"])
        .ok();
    let damaged_at = Instant::now();
    let damage_writes = stat(&sandbox, "writes");
    strip_definitions(&sandbox, labels);
    let damage_writes = stat(&sandbox, "writes") - damage_writes;
    let preview = user
        .run(&["--json", "rollback", SCOPE, "--to", "good"])
        .ok()
        .json();
    let planned = preview["plan"]["ops"].as_array().unwrap().len() as u64;
    // Said up front: the least time the writes take at the pace (750 ms apart by default).
    let least = preview["least_write_seconds"].as_u64().unwrap();
    assert_eq!(least, ((planned - 1) * 3).div_ceil(4), "{preview}");
    let slower = user
        .run(&[
            "rollback",
            SCOPE,
            "--to",
            "good",
            "--write-interval-ms",
            "2000",
        ])
        .ok();
    let minutes = ((planned - 1) * 2).div_ceil(60);
    assert!(
        slower.stdout.contains(&format!(
            "(2000 ms apart, at most 500 an hour: --write-interval-ms, --writes-per-hour), its {planned} write(s) take at least {minutes} min."
        )),
        "{}",
        slower.stdout
    );
    // The damage's writes count against the limit's one-minute window too: when they and
    // the rollback's would not fit in one, let them leave it first.
    if damage_writes + planned > u64::from(limit) {
        std::thread::sleep(Duration::from_secs(61).saturating_sub(damaged_at.elapsed()));
    }
    let limited_before = stat(&sandbox, "rate_limited");
    let w0 = stat(&sandbox, "writes");
    let (report, span) = paced_rollback(&sandbox, &user, planned);
    assert_eq!(report["verification"]["clean"], true, "{report}");
    assert_eq!(
        stat(&sandbox, "writes") - w0,
        planned,
        "one write per operation"
    );
    assert_eq!(
        stat(&sandbox, "rate_limited"),
        limited_before,
        "the default pacing stays under the limit: the sandbox refused none"
    );
    assert_eq!(restorable_state(&sandbox), before);
    // The estimate is a floor the run keeps to.
    assert!(
        span.as_secs_f64() + 1.0 >= least as f64,
        "{planned} writes in {:.1} s, under the {least} s said up front",
        span.as_secs_f64()
    );
    let rate = per_minute(planned, span);
    eprintln!(
        "paced rollback: {planned} writes in {:.1} s = {rate:.1}/min against a limit of {limit}/min",
        span.as_secs_f64()
    );
    (planned, rate)
}

#[test]
fn paced_rollback_runs_just_under_the_write_limit_with_the_default_pacing() {
    // GitHub's documented secondary limit is 80 content writes a minute; the default pacing
    // (750 ms) is built for it. About 50 writes, under a minute of wall time, in the suite;
    // `bench/paced` sets BACKTRACK_PACED_ISSUES for a few hundred.
    let issues = std::env::var("BACKTRACK_PACED_ISSUES").unwrap_or_else(|_| "60".into());
    let (writes, rate) = paced_rollback_at(&issues, 4, 80);
    assert!(
        writes >= 40,
        "only {writes} writes: too few to measure a rate"
    );
    assert!(
        (72.0..=80.0).contains(&rate),
        "{rate:.1} writes a minute: not within 10% under the limit of 80"
    );
}

#[test]
fn refused_writes_are_retried_after_their_retry_after_and_never_reach_the_user() {
    // One write in ten, and one request in ten of every kind, is refused or fails: secondary
    // limits (Retry-After: 1) and 5xx. The default pacing, no flag turned off.
    let sandbox = SandboxProc::start(&[
        "--issues",
        "30",
        "--comments",
        "20",
        "--seed",
        "11",
        "--fault-rate",
        "0.1",
        "--writes-per-minute",
        "80",
    ]);
    let user = User::new(&sandbox);
    let before = restorable_state(&sandbox);
    let snap = user.run(&["snapshot", "create", SCOPE, "--name", "good"]);
    assert_eq!(snap.code, 0, "{snap:?}");
    for i in 1..=24u64 {
        retry(
            &sandbox,
            "PATCH",
            &format!("{REPO}/issues/{i}"),
            json!({"title": format!("[SYNC] {i}")}),
        );
    }
    let limited_before = stat(&sandbox, "rate_limited");
    let early_before = stat(&sandbox, "early_retries");
    let run = user.run(&[
        "--json",
        "rollback",
        SCOPE,
        "--to",
        "good",
        "--execute",
        "--yes",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        !run.stderr.to_lowercase().contains("secondary rate limit"),
        "{}",
        run.stderr
    );
    let report = run.json();
    assert_eq!(report["verification"]["clean"], true, "{report}");
    let refused = stat(&sandbox, "rate_limited") - limited_before;
    let early = stat(&sandbox, "early_retries") - early_before;
    eprintln!("faulty sandbox: {refused} writes refused with Retry-After, {early} retried early");
    assert!(
        refused >= 1,
        "the sandbox refused no write: nothing was proven"
    );
    assert_eq!(
        early, 0,
        "a write came back before its Retry-After had passed"
    );
    assert_eq!(restorable_state(&sandbox), before);
}

/// A write another client makes, retried through the injected faults.
fn retry(sandbox: &SandboxProc, method: &str, path: &str, body: Value) {
    for _ in 0..50 {
        let (s, _) = sandbox.api(method, path, Some(body.clone()));
        if (200..300).contains(&s) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1100));
    }
    panic!("{method} {path} kept failing");
}

/// The snapshot function as Lambda runs it (under the emulator), on its schedule, against a
/// sandbox that limits it both ways GitHub does: REST's primary limit, small enough to run
/// out several times in one capture (403, `x-ratelimit-remaining: 0`, a reset a few seconds
/// away), and injected secondary limits (403 with `Retry-After`) among 5xx faults. The
/// snapshot completes with every record, no limit error reaches the caller, and the
/// sandbox's counters show each refusal waited out: refused requests, none early.
#[test]
fn the_snapshot_function_waits_out_rate_limits_and_their_resets_under_the_emulator() {
    use crate::functions::{moto_url, repo_root, runtime, unique};
    use crate::load::Emulator;
    use crate::util::{bin, SANDBOX_TOKEN};

    let sandbox = SandboxProc::start(&[
        "--issues",
        "40",
        "--comments",
        "60",
        "--seed",
        "5",
        "--fault-rate",
        "0.15",
        // One REST request per 2 s window: a capture of a few pages runs out several times.
        "--rate-limit",
        "1",
        "--rate-limit-window",
        "2",
    ]);
    let (bucket, table) = (unique("pb"), unique("pt"));
    let store = format!("s3://{bucket}/backtrack");
    let catalog = format!("dynamodb://{table}");
    let init = std::process::Command::new(bin())
        .args(["--store", &store, "--catalog", &catalog, "init"])
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    // The function needs its job queue even when it captures within the invocation.
    let rt = runtime();
    let sqs = rt.block_on(async { aws_sdk_sqs::Client::new(&backtrack::aws::load_config().await) });
    let queue = rt
        .block_on(sqs.create_queue().queue_name(unique("pq")).send())
        .unwrap()
        .queue_url
        .unwrap();
    let emulator = Emulator::start(
        &["snapshot"],
        1,
        &[
            ("BACKTRACK_SNAPSHOT_QUEUE_URL", queue),
            ("GITHUB_TOKEN", SANDBOX_TOKEN.to_string()),
            ("GITHUB_API_URL", sandbox.url.clone()),
            ("BACKTRACK_STORE", store),
            ("BACKTRACK_CATALOG", catalog),
            ("BACKTRACK_SCHEDULED_SCOPES", json!([SCOPE]).to_string()),
            ("AWS_ENDPOINT_URL", moto_url()),
            ("RUST_LOG", "info".into()),
        ],
    );
    let mut schedule: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("functions/snapshot/events/schedule.json"))
            .unwrap(),
    )
    .unwrap();
    schedule["detail"] = json!({ "scopes": [SCOPE] });
    let before = sandbox.stats();
    let started = Instant::now();
    let answer = rt
        .block_on(emulator.invoke("snapshot", &schedule))
        .unwrap_or_else(|e| panic!("the scheduled snapshot failed: {e}"));
    let took = started.elapsed();
    // Counted before this test's own reads below, which the limits hold up too.
    let after = sandbox.stats();
    let taken = &answer["snapshots"][0];
    assert_eq!(taken["status"], "completed", "{answer}");
    assert!(
        !answer.to_string().to_lowercase().contains("rate limit"),
        "a limit error reached the caller: {answer}"
    );
    // Every record: the issues (pull requests included), comments, labels and milestones
    // the sandbox serves, read by another client after the fact.
    let expected = sandbox.list_all(&format!("{REPO}/issues?state=all")).len()
        + sandbox.list_all(&format!("{REPO}/issues/comments")).len()
        + sandbox.list_all(&format!("{REPO}/labels")).len()
        + sandbox
            .list_all(&format!("{REPO}/milestones?state=all"))
            .len();
    assert_eq!(taken["items"].as_u64(), Some(expected as u64), "{answer}");
    let delta = |key: &str| after[key].as_u64().unwrap_or(0) - before[key].as_u64().unwrap_or(0);
    let (refused, early, requests) = (
        delta("rate_limited"),
        delta("early_retries"),
        delta("total"),
    );
    let waits = emulator.logged("rate limited; retrying after the wait asked for");
    eprintln!(
        "snapshot function under limits: {requests} requests, {refused} refused with a rate \
         limit, {early} early retries, {} waits logged, {:.1} s",
        waits.len(),
        took.as_secs_f64()
    );
    assert!(
        refused >= 3,
        "the sandbox refused {refused} requests: the limits were not exercised"
    );
    assert_eq!(
        early, 0,
        "a refused request came back before it was told to"
    );
    assert!(
        waits.len() as u64 >= refused,
        "{} waits logged for {refused} refusals",
        waits.len()
    );
}
