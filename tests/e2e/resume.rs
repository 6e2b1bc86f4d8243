//! Issue 19 item 3: a snapshot whose budget runs out stops cleanly as `partial` (never read
//! as completed), and the next run continues from its checkpoint to one completed snapshot
//! equal, blob by blob, to an uninterrupted one — through REST and through GraphQL.

use std::process::Command;
use std::sync::Arc;

use backtrack::catalog::{Catalog, DynamoCatalog};
use backtrack::snapshot::Archive;
use backtrack::store::S3Store;
use serde_json::{json, Value};

use crate::functions::{moto_url, repo_root, runtime, unique, Bundle};
use crate::graphql::{assert_same, snapshot};
use crate::snapshot::{records_text, records_text_in};
use crate::util::{bin, SandboxProc, User, SANDBOX_TOKEN};

#[test]
fn a_snapshot_out_of_budget_ends_partial_and_the_next_run_completes_it() {
    let sandbox = SandboxProc::start(&["--issues", "300", "--comments", "1500", "--seed", "23"]);
    let whole = User::new(&sandbox);
    let reference = snapshot(&whole, &["--api", "rest"]);
    assert_eq!(reference["status"], "completed", "{reference}");
    for api in ["rest", "graphql"] {
        let user = User::new(&sandbox);
        let first = snapshot(&user, &["--api", api, "--max-requests", "5"]);
        assert_eq!(first["status"], "partial", "{api}: {first}");
        let held = |r: &Value, k: &str| r["counts"][k].as_u64().unwrap();
        assert!(
            held(&first, "issues") < held(&reference, "issues")
                || held(&first, "comments") < held(&reference, "comments"),
            "{api}: a budget of 5 requests cannot read 300 issues and 1,500 comments: {first}"
        );
        assert!(first["requests"].as_u64().unwrap() <= 8, "{api}: {first}");

        // Listed as partial; `latest` (the newest completed snapshot) is not it.
        let list = user.run(&["--json", "snapshot", "list"]).ok().json();
        let statuses: Vec<&str> = list
            .as_array()
            .or_else(|| list["snapshots"].as_array())
            .unwrap()
            .iter()
            .map(|e| e["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["partial"], "{api}: {list}");
        let latest = user.run(&["snapshot", "show", "latest"]);
        assert_ne!(
            latest.code, 0,
            "{api}: `latest` must not resolve to a partial snapshot"
        );

        let second = snapshot(&user, &["--api", api]);
        assert_eq!(second["status"], "completed", "{api}: {second}");
        assert_eq!(second["mode"], "incremental", "{api}: {second}");
        assert_eq!(second["parent"], first["id"], "{api}: {second}");
        assert_same((&whole, &reference), (&user, &second), &sandbox.url);
    }
}

const SCOPE: &str = "github:acme/widgets";

/// The snapshot job queue's messages, delivered one per invocation as SQS would; after each,
/// `after` sees the invocation's answer. Returns how many were delivered.
pub(crate) fn deliver_each(
    bundle: &Bundle,
    rt: &tokio::runtime::Runtime,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    mut after: impl FnMut(&Value),
) -> usize {
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("functions/restore/events/sqs-continue.json"))
            .unwrap(),
    )
    .unwrap();
    let mut delivered = 0;
    loop {
        let received = rt
            .block_on(
                sqs.receive_message()
                    .queue_url(queue_url)
                    .max_number_of_messages(1)
                    .wait_time_seconds(1)
                    .send(),
            )
            .unwrap();
        let Some(message) = received.messages.unwrap_or_default().into_iter().next() else {
            return delivered;
        };
        let mut event = template.clone();
        event["Records"][0]["body"] = message.body.clone().unwrap().into();
        event["Records"][0]["messageId"] = message.message_id.clone().unwrap().into();
        let answer = bundle.invoke("snapshot", &event);
        rt.block_on(
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle.unwrap())
                .send(),
        )
        .unwrap();
        delivered += 1;
        after(&answer);
        assert!(delivered < 40, "the queue never empties: {answer}");
    }
}

/// Issue 19 item 3 under the Lambda emulator: `POST /snapshots` for a repository whose
/// capture needs several invocations (3 requests each) answers 202 with the job and its
/// reserved snapshot; the snapshot reads `pending`, then `in_progress` after every
/// invocation that stopped at its budget, then `completed` — one completed snapshot, equal
/// record by record to an uninterrupted full one, with the job `completed`.
#[test]
fn a_queued_snapshot_continues_across_invocations_into_one_completed_snapshot() {
    let moto = moto_url();
    let sandbox = SandboxProc::start(&[
        "--issues",
        "150",
        "--comments",
        "500",
        "--seed",
        "29",
        "--latency-ms",
        "0",
    ]);
    let whole = User::new(&sandbox);
    let reference = snapshot(&whole, &["--api", "rest"]);
    assert_eq!(reference["status"], "completed", "{reference}");

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
    let sqs = rt.block_on(async { aws_sdk_sqs::Client::new(&backtrack::aws::load_config().await) });
    let make_queue = |name: String| {
        rt.block_on(sqs.create_queue().queue_name(name).send())
            .unwrap()
            .queue_url
            .unwrap()
    };
    let (restore_queue, snapshot_queue) = (make_queue(unique("q")), make_queue(unique("sq")));
    let bundle = Bundle::start(
        &[
            ("GITHUB_TOKEN", SANDBOX_TOKEN.to_string()),
            ("GITHUB_API_URL", sandbox.url.clone()),
            ("BACKTRACK_QUEUE_URL", restore_queue),
            ("BACKTRACK_SNAPSHOT_QUEUE_URL", snapshot_queue.clone()),
            ("BACKTRACK_MAX_REQUESTS_PER_INVOCATION", "3".into()),
            ("AWS_ENDPOINT_URL", moto),
        ],
        store.clone(),
        catalog.clone(),
    );

    let (status, queued) = bundle.http(
        "snapshot",
        "post-snapshots.json",
        "POST",
        "/snapshots",
        Some(json!({"scope": SCOPE, "name": "nightly"})),
    );
    assert_eq!(status, 202, "{queued}");
    let id = queued["snapshot"].as_str().unwrap().to_string();
    let job = queued["job"].as_str().unwrap().to_string();
    assert_eq!(
        queued["snapshot_url"],
        format!("/snapshots/{id}"),
        "{queued}"
    );
    let shown = |bundle: &Bundle| {
        let (status, entry) = bundle.http(
            "catalog",
            "list-snapshots.json",
            "GET",
            &format!("/snapshots/{id}"),
            None,
        );
        assert_eq!(status, 200, "{entry}");
        entry
    };
    let before = shown(&bundle);
    assert_eq!(before["status"], "pending", "{before}");
    assert_eq!(before["name"], "nightly", "{before}");

    let mut outcomes = Vec::new();
    let mut between = Vec::new();
    let delivered = deliver_each(&bundle, &rt, &sqs, &snapshot_queue, |answer| {
        let outcome = answer["jobs"][0]["outcome"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        if outcome == "continuing" {
            let entry = shown(&bundle);
            between.push(entry["status"].as_str().unwrap().to_string());
            // The CLI's listing agrees.
            let list = Command::new(bin())
                .args(["--store", &store, "--catalog", &catalog, "--json"])
                .args(["snapshot", "list", SCOPE])
                .output()
                .unwrap();
            let list: Value = serde_json::from_slice(&list.stdout).unwrap();
            let rows = list
                .as_array()
                .or_else(|| list["snapshots"].as_array())
                .unwrap();
            let row = rows.iter().find(|r| r["id"] == id.as_str()).unwrap();
            assert_eq!(row["status"], "in_progress", "{list}");
            assert!(
                !rows.iter().any(|r| r["status"] == "completed"),
                "nothing is completed before the last invocation: {list}"
            );
            if between.len() == 2 {
                // As an invocation killed mid-capture leaves it: in progress under a capture
                // lease nobody holds. It reads failed (abandoned), and the next invocation
                // takes it up again.
                rt.block_on(async {
                    let catalog = DynamoCatalog::from_url(&catalog).await.unwrap();
                    let mut entry = catalog.get(&id.parse().unwrap()).await.unwrap().unwrap();
                    entry.lease = Some("01-a-killed-invocations-lease".into());
                    catalog
                        .restart(&entry, &[backtrack::SnapshotStatus::InProgress])
                        .await
                        .unwrap();
                });
                let crashed = shown(&bundle);
                assert_eq!(crashed["status"], "failed", "{crashed}");
                assert!(
                    crashed["error"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("abandoned"),
                    "{crashed}"
                );
            }
        }
        outcomes.push(outcome);
    });
    eprintln!("the capture took {delivered} invocations: {outcomes:?}");
    assert!(
        delivered >= 3,
        "a 3-request budget cannot read it at once: {outcomes:?}"
    );
    assert_eq!(
        outcomes.last().map(String::as_str),
        Some("finished"),
        "{outcomes:?}"
    );
    assert!(
        outcomes[..outcomes.len() - 1]
            .iter()
            .all(|o| o == "continuing"),
        "{outcomes:?}"
    );
    assert!(between.iter().all(|s| s == "in_progress"), "{between:?}");

    let done = shown(&bundle);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["name"], "nightly", "{done}");
    assert_eq!(done["counts"], reference["counts"], "{done}\n{reference}");
    let (status, finished) = bundle.http(
        "restore",
        "get-job.json",
        "GET",
        &format!("/jobs/{job}"),
        None,
    );
    assert_eq!(
        (status, finished["status"].as_str()),
        (200, Some("completed")),
        "{finished}"
    );
    assert_eq!(finished["capture"]["snapshot"], id.as_str(), "{finished}");

    // One completed snapshot; its checkpoints are partial and never read as completed.
    let (_, listed) = bundle.http("catalog", "list-snapshots.json", "GET", "/snapshots", None);
    let rows = listed["snapshots"].as_array().unwrap();
    let completed: Vec<&str> = rows
        .iter()
        .filter(|r| r["status"] == "completed")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(completed, [id.as_str()], "{listed}");
    let partial = rows.iter().filter(|r| r["status"] == "partial").count();
    assert_eq!(
        partial,
        delivered - 1,
        "one checkpoint per cut-short invocation: {listed}"
    );

    // Record by record, what an uninterrupted capture stored.
    let stored = rt.block_on(async {
        let store = S3Store::from_url(&store).await.unwrap();
        let catalog = DynamoCatalog::from_url(&catalog).await.unwrap();
        let archive = Archive::new(Arc::new(store), Arc::new(catalog));
        records_text_in(&archive, &id, &sandbox.url).await
    });
    let expected = records_text(&whole, reference["id"].as_str().unwrap(), &sandbox.url);
    assert_eq!(stored.len(), expected.len());
    for (x, y) in stored.iter().zip(&expected) {
        assert_eq!(
            x, y,
            "the continued capture differs from the uninterrupted one"
        );
    }
    let log = bundle.log("snapshot");
    assert!(
        log.contains("continuing in the next invocation"),
        "each handover is logged: {log}"
    );
}

fn statuses(user: &User) -> Vec<(String, String)> {
    let list = user.run(&["--json", "snapshot", "list", SCOPE]).ok().json();
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Starts `snapshot create` with `extra` and kills it (SIGKILL) once its entry is
/// `in_progress`, as a crash would; waits for its lease to lapse.
fn kill_mid_capture(user: &User, extra: &[&str]) {
    let mut args = vec!["snapshot", "create", SCOPE];
    args.extend_from_slice(extra);
    let mut capture = user
        .command(&args)
        .env("BACKTRACK_LEASE_TTL", "4")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no in-progress entry appeared"
        );
        assert!(
            capture.try_wait().unwrap().is_none(),
            "the capture ended before the kill"
        );
        if statuses(user).iter().any(|(_, s)| s == "in_progress") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    capture.kill().unwrap();
    capture.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(6));
}

/// Issue 19 acceptance: a kill -9 during a partial capture, and during the run that continues
/// one, leaves no completed entry (each killed capture reads `failed (abandoned)`, its
/// checkpoint stays `partial`), `verify` finds nothing damaged, and the next run completes
/// the snapshot, equal to an uninterrupted one.
#[test]
fn a_kill_during_a_partial_capture_or_its_continuation_leaves_no_completed_entry() {
    let sandbox = SandboxProc::start(&[
        "--issues",
        "300",
        "--comments",
        "1500",
        "--seed",
        "31",
        "--latency-ms",
        "60",
    ]);
    let whole = User::new(&sandbox);
    let reference = snapshot(&whole, &["--api", "rest"]);
    let user = User::new(&sandbox);
    user.run(&["init"]).ok();

    // Killed while capturing within a budget: nothing is completed, nothing is partial yet.
    kill_mid_capture(&user, &["--api", "rest", "--max-requests", "30"]);
    let after = statuses(&user);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].1, "failed", "{after:?}");

    let first = snapshot(&user, &["--api", "rest", "--max-requests", "4"]);
    assert_eq!(first["status"], "partial", "{first}");

    // Killed while continuing the checkpoint.
    kill_mid_capture(&user, &["--api", "rest"]);
    let after = statuses(&user);
    assert!(
        !after.iter().any(|(_, s)| s == "completed"),
        "no completed entry without its data: {after:?}"
    );
    assert_eq!(
        after.iter().filter(|(_, s)| s == "failed").count(),
        2,
        "{after:?}"
    );
    assert!(
        after
            .iter()
            .any(|(id, s)| s == "partial" && id == first["id"].as_str().unwrap()),
        "the checkpoint stays: {after:?}"
    );
    let verify = user.run(&["verify", SCOPE]);
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
    // Nothing reads a non-completed snapshot as completed.
    for id in after.iter().map(|(id, _)| id.as_str()) {
        let diff = user.run(&["diff", SCOPE, "--from", id]);
        assert_ne!(diff.code, 0, "diff of {id} must refuse");
        assert!(
            diff.stderr.contains("not completed"),
            "the refusal says why: {}",
            diff.stderr
        );
        let rollback = user.run(&["rollback", SCOPE, "--to", id]);
        assert_ne!(rollback.code, 0, "rollback to {id} must refuse");
        assert!(
            rollback.stderr.contains("not completed"),
            "the refusal says why: {}",
            rollback.stderr
        );
    }

    let done = snapshot(&user, &["--api", "rest"]);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["parent"], first["id"],
        "it continues the checkpoint: {done}"
    );
    assert_same((&whole, &reference), (&user, &done), &sandbox.url);
    let verify = user.run(&["verify", SCOPE]);
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
}
