//! Issue 19 item 4 under the Lambda emulator, and installation-token refresh during a long
//! capture. A schedule for `github:acme/*` on a sandbox serving 20 repositories, with the
//! snapshot function authenticating as a GitHub App (its key in Secrets Manager on moto):
//! the function fans out one job per repository through the snapshot queue, the test plays
//! the queue's event source mapping, and every job runs in its own invocation. One
//! repository made to fail fails only its own job; the run's record (in DynamoDB, read
//! through the catalog function and the CLI) and its one summary log line say so.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};

use crate::fleet::{app_key, break_repository};
use crate::functions::{delete, moto_url, receive, repo_root, runtime, unique, Bundle, Stack};
use crate::util::{bin, SandboxProc, User, SANDBOX_TOKEN};

const REPOS: usize = 20;
const APP_ID: &str = "4242";

fn with_status(run: &Value, status: &str) -> BTreeSet<String> {
    run["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .filter(|s| s["status"] == status)
        .map(|s| s["scope"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The `run summary` lines of a function's log (JSON lines on stdout).
fn summary_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "run summary")
        .collect()
}

#[test]
fn fanout_under_cargo_lambda_snapshots_every_repository_as_a_github_app() {
    let moto = moto_url();
    let dir = tempfile::tempdir().unwrap();
    let key = app_key(dir.path(), "app.pem");
    let sandbox = SandboxProc::start(&[
        "--org-repos",
        "acme:20",
        "--issues",
        "6",
        "--comments",
        "12",
        "--app-key",
        key.to_str().unwrap(),
        "--app-id",
        APP_ID,
        // Tokens shorter than the run: the jobs go on with fresh ones.
        "--app-token-ttl",
        "8",
    ]);
    break_repository(&sandbox, "acme/repo-07", Some(451));

    let (bucket, table) = (unique("b"), unique("t"));
    let store = format!("s3://{bucket}/backtrack");
    let catalog = format!("dynamodb://{table}");
    let init = Command::new(bin())
        .args(["--store", &store, "--catalog", &catalog, "init"])
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let rt = runtime();
    let sdk = rt.block_on(backtrack::aws::load_config());
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let snapshot_queue = rt
        .block_on(sqs.create_queue().queue_name(unique("sq")).send())
        .unwrap()
        .queue_url
        .unwrap();
    let restore_queue = rt
        .block_on(sqs.create_queue().queue_name(unique("q")).send())
        .unwrap()
        .queue_url
        .unwrap();
    // The app's private key as the template has it: a Secrets Manager secret (the PEM text).
    let pem = std::fs::read_to_string(&key).unwrap();
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let key_arn = rt
        .block_on(
            secrets
                .create_secret()
                .name(unique("app-key"))
                .secret_string(&pem)
                .send(),
        )
        .unwrap()
        .arn
        .unwrap();
    let bundle = Bundle::start(
        &[
            ("GITHUB_API_URL", sandbox.url.clone()),
            ("GITHUB_APP_ID", APP_ID.into()),
            ("GITHUB_APP_PRIVATE_KEY_ARN", key_arn),
            ("BACKTRACK_QUEUE_URL", restore_queue),
            ("BACKTRACK_SNAPSHOT_QUEUE_URL", snapshot_queue.clone()),
            ("AWS_ENDPOINT_URL", moto),
            // The level at which every raw event and request would be logged: still no token.
            ("RUST_LOG", "trace".into()),
        ],
        store.clone(),
        catalog.clone(),
    );
    let issued_before = sandbox.stats()["installation_tokens_issued"]
        .as_u64()
        .unwrap();

    // The schedule fans out: one queued job per repository, nothing captured yet.
    let mut schedule: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("functions/snapshot/events/schedule.json"))
            .unwrap(),
    )
    .unwrap();
    schedule["detail"] = json!({"scopes": ["github:acme/*"]});
    let started = Instant::now();
    let out = bundle.invoke("snapshot", &schedule);
    let fanned = out["snapshots"].as_array().unwrap();
    assert_eq!(fanned.len(), REPOS, "{out}");
    assert!(fanned.iter().all(|s| s["status"] == "queued"), "{out}");
    let (status, runs) = bundle.http("catalog", "list-snapshots.json", "GET", "/runs", None);
    assert_eq!(status, 200, "{runs}");
    let run_id = runs["runs"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(runs["runs"][0]["selection"], "github:acme/*");
    assert_eq!(
        with_status(&runs["runs"][0], "queued").len(),
        REPOS,
        "{runs}"
    );
    assert!(summary_lines(&bundle.log("snapshot")).is_empty());

    // The queue runs the jobs, one invocation each; the broken repository fails alone.
    let ran = bundle.drain_at_most(&rt, &sqs, &snapshot_queue, "snapshot", REPOS);
    let elapsed = started.elapsed();
    assert_eq!(ran.len(), REPOS, "{ran:?}");
    let outcomes: Vec<&str> = ran
        .iter()
        .map(|a| a["jobs"][0]["job"]["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|s| **s == "completed").count(),
        REPOS - 1,
        "{ran:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|s| **s == "failed").count(),
        1,
        "{ran:?}"
    );

    // The run's record, through the catalog API: finished, per repository, with totals.
    let (status, run) = bundle.http(
        "catalog",
        "list-snapshots.json",
        "GET",
        &format!("/runs/{run_id}"),
        None,
    );
    assert_eq!(status, 200, "{run}");
    assert!(run["finished_at"].is_string(), "{run}");
    assert_eq!(with_status(&run, "completed").len(), REPOS - 1, "{run}");
    assert_eq!(
        with_status(&run, "failed"),
        BTreeSet::from(["github:acme/repo-07".to_owned()])
    );
    for line in run["scopes"].as_array().unwrap() {
        assert!(line["job"].is_string(), "{line}");
        if line["status"] == "completed" {
            assert!(line["requests"].as_u64().unwrap() >= 4, "{line}");
            assert!(line["snapshot"].is_string(), "{line}");
        } else {
            assert!(line["error"].as_str().unwrap().contains("451"), "{line}");
        }
    }
    let (status, filtered) = bundle.http(
        "catalog",
        "list-snapshots.json",
        "GET",
        "/runs?selection=github:beta/*",
        None,
    );
    assert_eq!(
        (status, filtered["runs"].as_array().unwrap().len()),
        (200, 0)
    );
    let (status, bad) = bundle.http(
        "catalog",
        "list-snapshots.json",
        "GET",
        "/runs?limit=0",
        None,
    );
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (400, Some("limit")),
        "{bad}"
    );
    let (status, _) = bundle.http(
        "catalog",
        "list-snapshots.json",
        "GET",
        "/runs/01jnosuchrun0000000000000x",
        None,
    );
    assert_eq!(status, 404);

    // Logged once, as one structured line, by the job that finished the run.
    let lines = summary_lines(&bundle.log("snapshot"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0]["fields"];
    assert_eq!(line["run_id"], run_id.as_str(), "{line}");
    assert_eq!(
        (line["completed"].as_u64(), line["failed"].as_u64()),
        (Some(19), Some(1)),
        "{line}"
    );
    let logged: Value = serde_json::from_str(line["run"].as_str().unwrap()).unwrap();
    assert_eq!(logged["scopes"], run["scopes"]);

    // One snapshot per repository, each of its own repository.
    let (status, listed) = bundle.http("catalog", "list-snapshots.json", "GET", "/snapshots", None);
    assert_eq!(status, 200, "{listed}");
    let completed: BTreeSet<String> = listed["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "completed")
        .map(|s| s["scope"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(completed, with_status(&run, "completed"));
    let repo_03 = listed["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scope"] == "github:acme/repo-03")
        .unwrap();
    assert_eq!(repo_03["counts"]["issues"], 6, "{repo_03}");

    // The CLI reads the same record from DynamoDB.
    let cli = Command::new(bin())
        .args([
            "--store",
            &store,
            "--catalog",
            &catalog,
            "--json",
            "snapshot",
            "runs",
        ])
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let cli_runs: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(cli_runs[0]["id"], run_id.as_str());
    assert_eq!(cli_runs[0]["scopes"], run["scopes"]);

    // Repaired: the next schedule takes all 20, a second run record.
    break_repository(&sandbox, "acme/repo-07", None);
    bundle.invoke("snapshot", &schedule);
    let ran = bundle.drain_at_most(&rt, &sqs, &snapshot_queue, "snapshot", REPOS);
    assert_eq!(ran.len(), REPOS);
    let (_, runs) = bundle.http("catalog", "list-snapshots.json", "GET", "/runs", None);
    assert_eq!(runs["runs"].as_array().unwrap().len(), 2, "{runs}");
    assert_eq!(runs["runs"][1]["id"], run_id.as_str(), "newest first");
    assert_eq!(
        with_status(&runs["runs"][0], "completed").len(),
        REPOS,
        "{runs}"
    );
    assert_eq!(summary_lines(&bundle.log("snapshot")).len(), 2);

    // Tokens: several, each refreshed before it expired (no request was refused for one),
    // and none of them nor the key in any function's output.
    let stats = sandbox.stats();
    let issued = stats["installation_tokens_issued"].as_u64().unwrap() - issued_before;
    eprintln!(
        "fan-out: 2 runs of {REPOS} jobs in {:.1} s (first run {:.1} s), {issued} installation tokens",
        started.elapsed().as_secs_f64(),
        elapsed.as_secs_f64()
    );
    assert!(issued >= 1, "{stats}");
    assert_eq!(stats["expired_token_refusals"], 0, "{stats}");
    let pem_body = pem.lines().nth(1).unwrap();
    assert!(
        bundle.found("ghs_").is_empty(),
        "{:?}",
        bundle.found("ghs_")
    );
    assert!(bundle.found(pem_body).is_empty());
    assert!(bundle.found("-----BEGIN").is_empty());
}

/// A capture that outlives its installation token goes on with the next one: the client asks
/// the app for the token before every request, so no request presents an expired one.
#[test]
fn fanout_capture_outlasting_its_installation_token_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let key = app_key(dir.path(), "app.pem");
    let sandbox = SandboxProc::start(&[
        "--org-repos",
        "acme:1",
        "--issues",
        "1200",
        "--comments",
        "1200",
        "--latency-ms",
        "500",
        "--app-key",
        key.to_str().unwrap(),
        "--app-id",
        APP_ID,
        "--app-token-ttl",
        "8",
    ]);
    let user = User::new(&sandbox);
    let out = user
        .command(&[
            "--json",
            "snapshot",
            "create",
            "github:acme/*",
            "--jobs",
            "1",
        ])
        .env_remove("GITHUB_TOKEN")
        .env("GITHUB_APP_ID", APP_ID)
        .env("GITHUB_APP_PRIVATE_KEY_FILE", &key)
        .env("GITHUB_API", "rest")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let run: Value = serde_json::from_str(&stdout).unwrap();
    let line = &run["scopes"][0];
    assert_eq!(line["status"], "completed", "{run}");
    let duration = line["duration_ms"].as_u64().unwrap();
    assert!(
        duration > 8_500,
        "the capture must outlive an 8 s token: {duration} ms"
    );
    let stats = sandbox.stats();
    let used = stats["installation_tokens_used"].as_u64().unwrap();
    eprintln!(
        "one capture of {duration} ms, {} requests, {used} installation tokens used",
        line["requests"]
    );
    assert!(used >= 2, "{stats}");
    assert_eq!(
        stats["expired_token_refusals"], 0,
        "no request met a 401: {stats}"
    );
    // The snapshot is whole: every issue and comment of the repository.
    let listed = user
        .run(&["--json", "snapshot", "list", "github:acme/repo-01"])
        .ok()
        .json();
    assert_eq!(listed[0]["counts"]["issues"], 1200, "{listed}");
    assert_eq!(listed[0]["counts"]["comments"], 1200, "{listed}");
    // The CLI's own run is in the catalog too.
    let runs = user.run(&["--json", "snapshot", "runs"]).ok().json();
    assert_eq!(runs[0]["id"], run["id"]);
    assert_eq!(runs[0]["scopes"][0]["status"], "completed");
    assert!(!stdout.contains("ghs_") && !stderr.contains("ghs_"));
}

/// Issue 19: a job whose queue message goes to the dead-letter queue must not leave its
/// run's line `queued` for ever. The snapshot queue here delivers a message once
/// (`maxReceiveCount` 1, read by the function from the queue's redrive policy); one
/// repository answers 503 to everything, so its only attempt fails (retryably) on its last
/// delivery: the job is failed and its run line recorded `failed` before the invocation's
/// failure sends the message on to the dead-letter queue, where the alarm sees it.
#[test]
fn fanout_job_sent_to_the_dead_letter_queue_reads_failed_in_its_run() {
    let sandbox =
        SandboxProc::start(&["--org-repos", "acme:3", "--issues", "4", "--comments", "8"]);
    break_repository(&sandbox, "acme/repo-02", Some(503));
    let mut stack = Stack::new();
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let dead = stack.queue("dlq", &[]);
    let dead_arn = stack
        .rt
        .block_on(
            stack
                .sqs
                .get_queue_attributes()
                .queue_url(&dead)
                .attribute_names(A::QueueArn)
                .send(),
        )
        .unwrap()
        .attributes
        .unwrap()[&A::QueueArn]
        .clone();
    stack.snapshot_queue = stack.queue(
        "sq",
        &[
            (A::VisibilityTimeout, "2".into()),
            (
                A::RedrivePolicy,
                json!({"deadLetterTargetArn": dead_arn, "maxReceiveCount": "1"}).to_string(),
            ),
        ],
    );
    let (rt, sqs) = (&stack.rt, &stack.sqs);
    let snapshot_queue = stack.snapshot_queue.clone();
    let bundle = stack.bundle(&[
        ("GITHUB_TOKEN", SANDBOX_TOKEN.into()),
        ("GITHUB_API_URL", sandbox.url.clone()),
    ]);
    let mut schedule: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("functions/snapshot/events/schedule.json"))
            .unwrap(),
    )
    .unwrap();
    schedule["detail"] = json!({"scopes": ["github:acme/*"]});
    let out = bundle.invoke("snapshot", &schedule);
    assert_eq!(out["snapshots"].as_array().unwrap().len(), 3, "{out}");
    let (_, runs) = bundle.http("catalog", "list-snapshots.json", "GET", "/runs", None);
    let run_id = runs["runs"][0]["id"].as_str().unwrap().to_owned();

    // The queue's event source mapping: a failed invocation leaves its message, which the
    // queue, past its one delivery, moves to the dead-letter queue.
    let mut failed = Vec::new();
    let mut ok = 0;
    let started = Instant::now();
    let dead_count = || {
        rt.block_on(
            sqs.get_queue_attributes()
                .queue_url(&dead)
                .attribute_names(A::ApproximateNumberOfMessages)
                .send(),
        )
        .unwrap()
        .attributes
        .unwrap()[&A::ApproximateNumberOfMessages]
            .parse::<u32>()
            .unwrap()
    };
    while dead_count() == 0 || ok + failed.len() < 3 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(180),
            "{ok} completed, {failed:?}"
        );
        let Some(message) = receive(rt, sqs, &snapshot_queue) else {
            continue;
        };
        assert_eq!(message.count, 1, "delivered once at most");
        match bundle.try_invoke("snapshot", &message.event) {
            Ok(_) => {
                delete(rt, sqs, &snapshot_queue, &message.receipt);
                ok += 1;
            }
            Err(e) => failed.push(e),
        }
    }
    assert_eq!((ok, failed.len()), (2, 1), "{failed:?}");
    assert_eq!(dead_count(), 1);

    // Its run says so: finished, the broken repository failed and why.
    let (status, run) = bundle.http(
        "catalog",
        "list-snapshots.json",
        "GET",
        &format!("/runs/{run_id}"),
        None,
    );
    assert_eq!(status, 200, "{run}");
    assert_eq!(with_status(&run, "queued").len(), 0, "{run}");
    assert!(run["finished_at"].is_string(), "{run}");
    assert_eq!(
        with_status(&run, "failed"),
        BTreeSet::from(["github:acme/repo-02".to_owned()]),
        "{run}"
    );
    let line = run["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["status"] == "failed")
        .unwrap();
    let error = line["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("last delivery (1 of 1)") && error.contains("503"),
        "{line}"
    );
    let job = line["job"].as_str().unwrap();
    let (_, job) = bundle.http(
        "restore",
        "get-job.json",
        "GET",
        &format!("/jobs/{job}"),
        None,
    );
    assert_eq!(job["status"], "failed", "{job}");
    let lines = summary_lines(&bundle.log("snapshot"));
    assert_eq!(
        lines.len(),
        1,
        "the run's summary is logged once: {lines:?}"
    );
    assert_eq!(lines[0]["fields"]["failed"], 1, "{lines:?}");
}

/// Issue 19: `GITHUB_APP_ID` applies to single-repository scopes too, not only to
/// `github:ORG/*`: with the app's key and no token, the CLI and the snapshot function
/// (a queued first capture, then one taken within the request, and a live diff) read
/// `github:acme/repo-02` as the installation that covers it (`GET
/// /repos/{owner}/{repo}/installation`), every request with an installation token.
#[test]
fn a_single_repository_scope_authenticates_as_the_github_app() {
    let dir = tempfile::tempdir().unwrap();
    let key = app_key(dir.path(), "app.pem");
    let sandbox = SandboxProc::start(&[
        "--org-repos",
        "acme:2",
        "--issues",
        "5",
        "--comments",
        "10",
        "--app-key",
        key.to_str().unwrap(),
        "--app-id",
        APP_ID,
    ]);
    // Installation tokens issued, and those that authenticated a request.
    let issued = || {
        let stats = sandbox.stats();
        (
            stats["installation_tokens_issued"].as_u64().unwrap(),
            stats["installation_tokens_used"].as_u64().unwrap(),
        )
    };
    let lookups = || {
        sandbox.stats()["by_route"]["GET /repos/{owner}/{repo}/installation"]
            .as_u64()
            .unwrap_or(0)
    };
    let scope = "github:acme/repo-02";

    // The CLI: no token at all, the app's key file.
    let user = User::new(&sandbox);
    let before = issued();
    let out = user
        .command(&["--json", "snapshot", "create", scope])
        .env_remove("GITHUB_TOKEN")
        .env("GITHUB_APP_ID", APP_ID)
        .env("GITHUB_APP_PRIVATE_KEY_FILE", &key)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let taken: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(taken["status"], "completed", "{taken}");
    assert_eq!(taken["counts"]["issues"], 5, "{taken}");
    let after = issued();
    assert!(
        after.0 > before.0 && after.1 > before.1,
        "the capture read with an installation token: {before:?} → {after:?}"
    );
    assert_eq!(
        lookups(),
        1,
        "the repository's installation: {}",
        sandbox.stats()
    );
    assert!(!stdout.contains("ghs_"));
    // A live diff needs credentials: the app is credentials.
    let diff = user
        .command(&["diff", scope, "--from", "latest", "--to", "live"])
        .env_remove("GITHUB_TOKEN")
        .env("GITHUB_APP_ID", APP_ID)
        .env("GITHUB_APP_PRIVATE_KEY_FILE", &key)
        .output()
        .unwrap();
    assert!(
        diff.status.success(),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );

    // The snapshot function: the key in Secrets Manager, no GITHUB_TOKEN.
    let stack = Stack::new();
    let (rt, sqs) = (&stack.rt, &stack.sqs);
    let snapshot_queue = stack.snapshot_queue.clone();
    let pem = std::fs::read_to_string(&key).unwrap();
    let key_arn = rt
        .block_on(
            aws_sdk_secretsmanager::Client::new(&rt.block_on(backtrack::aws::load_config()))
                .create_secret()
                .name(unique("app-key"))
                .secret_string(&pem)
                .send(),
        )
        .unwrap()
        .arn
        .unwrap();
    let bundle = stack.bundle(&[
        ("GITHUB_API_URL", sandbox.url.clone()),
        ("GITHUB_APP_ID", APP_ID.into()),
        ("GITHUB_APP_PRIVATE_KEY_ARN", key_arn),
    ]);
    // The first capture of the scope is queued (its size is unknown), run by the queue.
    let before = issued();
    let looked_up = lookups();
    let (status, queued) = bundle.http(
        "snapshot",
        "post-snapshots.json",
        "POST",
        "/snapshots",
        Some(json!({"scope": scope})),
    );
    assert_eq!(status, 202, "{queued}");
    let ran = bundle.drain_at_most(rt, sqs, &snapshot_queue, "snapshot", 3);
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(ran[0]["jobs"][0]["job"]["status"], "completed", "{ran:?}");
    // The next one is small enough to take within the request.
    let (status, now) = bundle.http(
        "snapshot",
        "post-snapshots.json",
        "POST",
        "/snapshots",
        Some(json!({"scope": scope})),
    );
    assert_eq!(status, 201, "{now}");
    assert_eq!(now["status"], "completed", "{now}");
    assert_eq!(now["counts"]["issues"], 5, "{now}");
    let after = issued();
    assert!(
        after.0 > before.0 && after.1 > before.1,
        "the function read with an installation token: {before:?} → {after:?}"
    );
    assert_eq!(
        lookups() - looked_up,
        1,
        "the function looks the repository's installation up once"
    );
    assert!(
        bundle.found("ghs_").is_empty(),
        "{:?}",
        bundle.found("ghs_")
    );
    assert!(bundle.found("-----BEGIN").is_empty());
}
