//! Issue 15: the restore function's `into` end to end under the Lambda emulator. A snapshot
//! of one repository is copied into another, empty one through the API (preview, then a job
//! confirmed by its fingerprint) and the job queue, a few operations per invocation; one
//! slice is killed mid-write (the function process dies, as a Lambda runtime crash) and its
//! message redelivered the way SQS would, after the dead slice's claim lapsed. Read back
//! with PyGithub: every issue, label, milestone and comment is there once, with its
//! attribution, and the sandbox counted no duplicate write.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use backtrack::catalog::Claim;
use backtrack::{Catalog, JobId};
use serde_json::{json, Value};

use super::{bin, delete, moto_url, receive, repo_root, runtime, unique, Bundle};
use crate::restore_into::{assert_copied, markers, prepare_source, read_back, DEST, SOURCE};
use crate::util::{SandboxProc, SANDBOX_TOKEN};

/// Operations per invocation: the copy needs several slices.
const MAX_OPS: usize = 8;

fn writes(sandbox: &SandboxProc) -> u64 {
    sandbox.stats()["writes"].as_u64().unwrap()
}

#[test]
fn restore_function_copies_into_an_empty_repository_and_a_crashed_slice_resumes_without_duplicates()
{
    let moto = moto_url();
    let a = SandboxProc::start(&["--issues", "14", "--comments", "36", "--seed", "31"]);
    // Latency on the destination, so a slice lasts long enough to be killed in the middle.
    let b = SandboxProc::start(&[
        "--repo",
        "acme/other",
        "--issues",
        "0",
        "--comments",
        "0",
        "--latency-ms",
        "25",
    ]);
    prepare_source(&a);
    let source = read_back(&a, "acme/widgets");

    let (bucket, table, queue_name) = (unique("b"), unique("t"), unique("q"));
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
    let queue = rt
        .block_on(sqs.create_queue().queue_name(&queue_name).send())
        .unwrap()
        .queue_url
        .unwrap();
    let snapshot_queue = rt
        .block_on(sqs.create_queue().queue_name(unique("sq")).send())
        .unwrap()
        .queue_url
        .unwrap();
    // The destination repository has its own API URL: the job's tracker must reach it, and
    // only it (the source is never written).
    let env = vec![
        ("GITHUB_TOKEN", SANDBOX_TOKEN.to_string()),
        ("GITHUB_API_URL", a.url.clone()),
        (
            "BACKTRACK_GITHUB_API_URLS",
            json!({"acme/other": b.url}).to_string(),
        ),
        ("BACKTRACK_QUEUE_URL", queue.clone()),
        ("BACKTRACK_SNAPSHOT_QUEUE_URL", snapshot_queue),
        ("BACKTRACK_MAX_OPS_PER_INVOCATION", MAX_OPS.to_string()),
        ("BACKTRACK_WRITE_INTERVAL_MS", "0".into()),
        ("AWS_ENDPOINT_URL", moto),
        ("RUST_LOG", "info".into()),
    ];
    let bundle = Bundle::start(&env, store.clone(), catalog.clone());

    // The snapshot through the API's scheduled event, as the schedule takes it.
    let mut schedule: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("functions/snapshot/events/schedule.json"))
            .unwrap(),
    )
    .unwrap();
    schedule["detail"] = json!({ "scopes": [SOURCE] });
    let out = bundle.invoke("snapshot", &schedule);
    assert_eq!(out["snapshots"][0]["status"], "completed", "{out}");
    let id = out["snapshots"][0]["snapshot"]
        .as_str()
        .unwrap()
        .to_string();
    let restore = |bundle: &Bundle, body: Value| {
        bundle.http(
            "restore",
            "post-restore.json",
            "POST",
            &format!("/snapshots/{id}/restore"),
            Some(body),
        )
    };

    // The preview: a copy plan, nothing written to either repository.
    let (wa, wb) = (writes(&a), writes(&b));
    let (status, preview) = restore(&bundle, json!({ "into": DEST }));
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["executed"], false);
    let ops = preview["plan"]["ops"].as_array().unwrap().len() as u64;
    let issues = source["issues"].as_array().unwrap();
    let comments: usize = issues
        .iter()
        .map(|i| i["comments"].as_array().unwrap().len())
        .sum();
    let closed = issues.iter().filter(|i| i["state"] == "closed").count();
    // A label and a milestone the destination lacks, every issue, comment and close, and
    // the one sub-issue link.
    assert_eq!(
        ops as usize,
        2 + issues.len() + comments + closed + 1,
        "{}",
        preview["plan"]
    );
    let lost: Vec<&str> = preview["plan"]["irrecoverable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(&lost[..3], ["numbers", "authors", "dates"], "{lost:?}");
    assert_eq!((writes(&a), writes(&b)), (wa, wb), "the preview wrote");

    // The job, confirmed by the preview's fingerprint.
    let (status, started) = restore(
        &bundle,
        json!({"into": DEST, "execute": true, "plan": preview["fingerprint"]}),
    );
    assert_eq!(status, 202, "{started}");
    let job = started["job"]["id"].as_str().unwrap().to_string();
    assert_eq!(started["job"]["scope"], DEST, "{started}");

    // First slice: as the queue delivers it.
    let first = receive(&rt, &sqs, &queue).expect("the job's first message");
    assert_eq!(first.count, 1);
    let out = bundle.invoke("restore", &first.event);
    assert_eq!(out["slices"][0]["outcome"], "continue", "{out}");
    delete(&rt, &sqs, &queue, &first.receipt);
    let after_first = writes(&b);
    assert!(after_first > wb, "the first slice wrote nothing");

    // Second slice: the function process is killed after a few of its writes landed.
    let second = receive(&rt, &sqs, &queue).expect("the job's second message");
    let mut invoke = bundle.start_invoke("restore", &second.event);
    let started = Instant::now();
    while writes(&b) < after_first + 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the second slice never wrote"
        );
        assert!(
            invoke.0.try_wait().unwrap().is_none(),
            "the second slice finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut bundle = bundle;
    bundle.kill("restore");
    let at_crash = writes(&b);
    drop(invoke);
    assert!(
        at_crash < after_first + MAX_OPS as u64,
        "the kill landed after the slice's last write ({at_crash} writes)"
    );
    // The dead runtime's emulator goes with it; a new cold start serves what follows.
    drop(bundle);
    let dupes: Vec<_> = markers(&b).into_iter().filter(|(_, n)| *n > 1).collect();
    assert!(dupes.is_empty(), "the crashed slice duplicated {dupes:?}");

    // SQS redelivers the message after its visibility timeout (960 s in the template), which
    // outlasts the dead slice's claim (its deadline plus 90 s). The emulator's deadline is
    // far away, so rather than wait for the claim to expire the test ends it as its expiry
    // would (released with the dead slice's own token, read from the table), checks that
    // nothing else holds it, then makes the message visible again.
    let catalog_client = rt
        .block_on(backtrack::catalog::DynamoCatalog::from_url(&catalog))
        .unwrap();
    let key = backtrack::rollback::job::slice_claim_key(&job.parse::<JobId>().unwrap());
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = catalog.trim_start_matches("dynamodb://").to_string();
    let scanned = rt
        .block_on(dynamo.scan().table_name(&table).send())
        .unwrap();
    let held: Vec<String> = scanned
        .items()
        .iter()
        .filter(|item| {
            item.values()
                .any(|v| v.as_s().is_ok_and(|s| s.contains(&key)))
        })
        .filter_map(|item| item.get("token").and_then(|t| t.as_s().ok()).cloned())
        .collect();
    assert_eq!(held.len(), 1, "the dead slice holds its claim: {held:?}");
    rt.block_on(catalog_client.release_claim(&key, &held[0]))
        .unwrap();
    let probe = Claim::new(key.clone(), Duration::from_secs(5));
    assert!(rt.block_on(catalog_client.claim(&probe)).unwrap());
    rt.block_on(catalog_client.release_claim(&probe.key, &probe.token))
        .unwrap();
    eprintln!(
        "crashed slice: {} writes before the kill",
        at_crash - after_first
    );
    rt.block_on(
        sqs.change_message_visibility()
            .queue_url(&queue)
            .receipt_handle(&second.receipt)
            .visibility_timeout(0)
            .send(),
    )
    .unwrap();

    let bundle = Bundle::start(&env, store, catalog);
    let mut slices = 0;
    let mut redelivered = false;
    while let Some(message) = receive(&rt, &sqs, &queue) {
        if message.count > 1 {
            redelivered = true;
        }
        let out = bundle.invoke("restore", &message.event);
        assert_ne!(out["slices"][0]["outcome"], "busy", "{out}");
        delete(&rt, &sqs, &queue, &message.receipt);
        slices += 1;
        assert!(slices < 30, "the job never finished: {out}");
    }
    assert!(
        redelivered,
        "the crashed slice's message was not redelivered"
    );
    let (status, done) = bundle.http(
        "restore",
        "get-job.json",
        "GET",
        &format!("/jobs/{job}"),
        None,
    );
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        done["status"],
        "completed",
        "{done}\n{}",
        bundle.log("restore")
    );
    assert_eq!(done["done_ops"], ops, "{done}");
    assert_eq!(done["error"], Value::Null, "{done}");

    // Nothing twice: one marker per copied issue and comment, and at most the one write
    // the crash interrupted made again (an idempotent close or link; a creation is found by
    // its marker instead).
    let found = markers(&b);
    assert!(found.values().all(|n| *n == 1), "duplicated: {found:?}");
    assert_eq!(found.len(), issues.len() + comments, "{found:?}");
    let total = writes(&b) - wb;
    assert!(
        total == ops || total == ops + 1,
        "{total} writes for {ops} operations"
    );
    assert_eq!(writes(&a), wa, "the source repository was written");

    // Read back by another client: every issue, label, milestone and comment, attributed.
    let after = read_back(&b, "acme/other");
    let moved: BTreeMap<u64, u64> = after["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let body = i["body"].as_str().unwrap();
            let at = body.rfind("github:acme/widgets#").unwrap() + "github:acme/widgets#".len();
            let n: u64 = body[at..].split(' ').next().unwrap().parse().unwrap();
            (n, i["number"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(moved.len(), issues.len());
    assert_eq!(assert_copied(&source, &after, &moved), comments);
    eprintln!(
        "restore into under the emulator: {} issues, {comments} comments, {ops} operations, {total} writes, {slices} slices after the crash",
        issues.len()
    );
}
