//! Issue 15: the functions on an encrypted store. An S3 + DynamoDB store made with
//! `backtrack init --encrypt`, its passphrase in Secrets Manager on moto (the template's
//! `PassphraseSecretArn`, `BACKTRACK_PASSPHRASE_ARN`): the snapshot, diff and restore
//! functions work under the Lambda emulator; no S3 object and no DynamoDB item holds a
//! planted title, body, label or comment, the GitHub token or the passphrase; a wrong,
//! unreadable or missing secret stops the cold start with an error saying which, and
//! writes nothing.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use backtrack::store::S3Store;
use backtrack::ObjectStore;
use serde_json::{json, Value};

use super::{bin, moto_url, repo_root, runtime, unique, Bundle};
use crate::encryption::{plaintext_in, plant, title, KDF, PASS, PLANTED};
use crate::util::{SandboxProc, SANDBOX_TOKEN};

const SCOPE: &str = "github:acme/widgets";

/// Every object of the bucket as S3 holds it (below the encryption layer).
fn bucket(rt: &tokio::runtime::Runtime, store: &str) -> BTreeMap<String, Vec<u8>> {
    rt.block_on(async {
        let store: Arc<dyn ObjectStore> = Arc::new(S3Store::from_url(store).await.unwrap());
        let mut out = BTreeMap::new();
        for o in store.list("").await.unwrap() {
            let bytes = store.get(&o.key).await.unwrap();
            out.insert(o.key, bytes.to_vec());
        }
        out
    })
}

/// The strings and bytes of an attribute, however deeply nested.
fn attribute_bytes(value: &AttributeValue, out: &mut Vec<u8>) {
    match value {
        AttributeValue::S(s) | AttributeValue::N(s) => out.extend_from_slice(s.as_bytes()),
        AttributeValue::B(b) => out.extend_from_slice(b.as_ref()),
        AttributeValue::Ss(list) | AttributeValue::Ns(list) => list
            .iter()
            .for_each(|s| out.extend_from_slice(s.as_bytes())),
        AttributeValue::Bs(list) => list.iter().for_each(|b| out.extend_from_slice(b.as_ref())),
        AttributeValue::L(list) => list.iter().for_each(|v| attribute_bytes(v, out)),
        AttributeValue::M(map) => map.iter().for_each(|(k, v)| {
            out.extend_from_slice(k.as_bytes());
            attribute_bytes(v, out);
        }),
        _ => {}
    }
    out.push(0);
}

/// Every item of the table, by its keys, as the bytes of all its attributes.
fn table(rt: &tokio::runtime::Runtime, name: &str) -> BTreeMap<String, Vec<u8>> {
    rt.block_on(async {
        let client = aws_sdk_dynamodb::Client::new(&backtrack::aws::load_config().await);
        let mut out = BTreeMap::new();
        let mut start = None;
        loop {
            let page = client
                .scan()
                .table_name(name)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            for item in page.items() {
                let mut keys: Vec<(&String, &AttributeValue)> = item.iter().collect();
                keys.sort_by(|a, b| a.0.cmp(b.0));
                let mut bytes = Vec::new();
                for (k, v) in keys {
                    bytes.extend_from_slice(k.as_bytes());
                    attribute_bytes(v, &mut bytes);
                }
                let id = format!(
                    "{:?}/{:?}",
                    item.get("pk").or_else(|| item.values().next()),
                    item.get("sk")
                );
                out.insert(id, bytes);
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return out;
            }
        }
    })
}

/// The secrets found in `objects`: the planted strings (raw or zstd-decoded), the GitHub
/// token and the passphrase (raw).
fn secrets_in(objects: &BTreeMap<String, Vec<u8>>) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = plaintext_in(objects)
        .into_iter()
        .map(|(k, n)| (k, n.to_string()))
        .collect();
    for (key, bytes) in objects {
        for needle in [SANDBOX_TOKEN, PASS] {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push((key.clone(), needle.to_string()));
            }
        }
    }
    found
}

/// Starts the snapshot function binary as Lambda's cold start would, with `env`; returns its
/// exit status and what it printed, once it exits (it must, within a minute).
fn cold_start(env: &[(&str, String)]) -> (Option<i32>, String) {
    let dir = bin().parent().unwrap().to_path_buf();
    let mut cmd = Command::new(dir.join("backtrack-snapshot"));
    cmd.env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("AWS_LAMBDA_FUNCTION_NAME", "backtrack-snapshot")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env_remove("BACKTRACK_PASSPHRASE")
        .env_remove("BACKTRACK_PASSPHRASE_ARN")
        .env_remove("GH_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the function kept running with a bad passphrase secret");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn functions_on_an_encrypted_store_snapshot_diff_and_restore_and_leak_nothing() {
    let moto = moto_url();
    let a = SandboxProc::start(&["--issues", "10", "--comments", "20", "--seed", "41"]);
    let number = plant(&a);
    let (bucket_name, table_name, queue_name) = (unique("b"), unique("t"), unique("q"));
    let store = format!("s3://{bucket_name}/backtrack");
    let catalog = format!("dynamodb://{table_name}");
    let mut args = vec![
        "--store",
        &store,
        "--catalog",
        &catalog,
        "init",
        "--encrypt",
    ];
    args.extend(KDF);
    let init = Command::new(bin())
        .args(&args)
        .env("BACKTRACK_PASSPHRASE", PASS)
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
    // The passphrase as the template passes it: a Secrets Manager secret (key/value JSON,
    // as the console writes it), named by its ARN.
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let secret = |value: String| {
        rt.block_on(
            secrets
                .create_secret()
                .name(unique("passphrase"))
                .secret_string(value)
                .send(),
        )
        .unwrap()
        .arn
        .unwrap()
    };
    let good = secret(json!({ "passphrase": PASS }).to_string());
    let wrong = secret("not the passphrase".to_string());
    let env = vec![
        ("GITHUB_TOKEN", SANDBOX_TOKEN.to_string()),
        ("GITHUB_API_URL", a.url.clone()),
        ("BACKTRACK_QUEUE_URL", queue.clone()),
        ("BACKTRACK_SNAPSHOT_QUEUE_URL", snapshot_queue),
        ("BACKTRACK_SCHEDULED_SCOPES", json!([SCOPE]).to_string()),
        ("BACKTRACK_MAX_OPS_PER_INVOCATION", "2".into()),
        ("BACKTRACK_WRITE_INTERVAL_MS", "0".into()),
        ("AWS_ENDPOINT_URL", moto),
        ("RUST_LOG", "trace".into()),
    ];
    // A wrong secret, one that cannot be read, and none at all: each cold start stops with
    // its own error (and never the passphrase), and nothing is written.
    let objects = bucket(&rt, &store);
    let items = table(&rt, &table_name);
    let mut refused_env = env.clone();
    refused_env.push(("BACKTRACK_STORE", store.clone()));
    refused_env.push(("BACKTRACK_CATALOG", catalog.clone()));
    let missing = wrong.replace("passphrase", "no-such-secret");
    let cases = [
        (Some(wrong.clone()), "the passphrase does not open"),
        (Some(missing), "cannot be read"),
        (None, "set the template's PassphraseSecretArn"),
    ];
    for (arn, says) in cases {
        let mut env = refused_env.clone();
        if let Some(arn) = &arn {
            env.push(("BACKTRACK_PASSPHRASE_ARN", arn.clone()));
        }
        let (code, printed) = cold_start(&env);
        assert_ne!(code, Some(0), "{printed}");
        assert!(printed.contains(says), "{arn:?}: {printed}");
        assert!(
            printed.contains("BACKTRACK_"),
            "names the setting: {printed}"
        );
        if let Some(arn) = &arn {
            assert!(
                printed.contains(arn.as_str()),
                "names the secret: {printed}"
            );
        }
        assert!(!printed.contains(PASS), "the passphrase leaked: {printed}");
    }
    assert_eq!(
        bucket(&rt, &store),
        objects,
        "a refused cold start wrote to S3"
    );
    // No item added or changed (moto may drop an item whose TTL passed meanwhile).
    let after = table(&rt, &table_name);
    let changed: Vec<(&String, String)> = after
        .iter()
        .filter(|(k, v)| items.get(*k) != Some(*v))
        .map(|(k, v)| (k, String::from_utf8_lossy(v).replace('\0', " | ")))
        .collect();
    assert!(
        changed.is_empty() && after.len() == items.len(),
        "a refused cold start wrote to DynamoDB: {changed:?}"
    );

    let mut with_secret = env.clone();
    with_secret.push(("BACKTRACK_PASSPHRASE_ARN", good));
    let bundle = Bundle::start(&with_secret, store.clone(), catalog.clone());

    // Snapshot.
    let mut schedule: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("functions/snapshot/events/schedule.json"))
            .unwrap(),
    )
    .unwrap();
    schedule["detail"] = json!({ "scopes": [SCOPE] });
    let out = bundle.invoke("snapshot", &schedule);
    assert_eq!(out["snapshots"][0]["status"], "completed", "{out}");
    let id = out["snapshots"][0]["snapshot"]
        .as_str()
        .unwrap()
        .to_string();

    // Someone wrecks the planted issue: the diff function reads through the encryption.
    let (status, _) = a.api(
        "PATCH",
        &format!("/repos/acme/widgets/issues/{number}"),
        Some(json!({"title": PLANTED[4], "body": "overwritten"})),
    );
    assert_eq!(status, 200);
    let (status, diff) = bundle.http(
        "diff",
        "get-diff-live.json",
        "GET",
        &format!("/snapshots/{id}/diff/live"),
        None,
    );
    assert_eq!(status, 200, "{diff}");
    assert_eq!(diff["summary"]["issues_changed"], 1, "{diff}");
    let text = diff.to_string();
    for needle in [PLANTED[0], PLANTED[1], PLANTED[4]] {
        assert!(text.contains(needle), "the diff lacks {needle}: {diff}");
    }

    // Restore: preview, a job confirmed by its fingerprint, slices from the queue.
    let restore = |body: Value| {
        bundle.http(
            "restore",
            "post-restore.json",
            "POST",
            &format!("/snapshots/{id}/restore"),
            Some(body),
        )
    };
    let (status, preview) = restore(json!({}));
    assert_eq!(status, 200, "{preview}");
    let ops = preview["plan"]["ops"].as_array().unwrap().len();
    assert!(ops >= 1, "{preview}");
    let (status, started) = restore(json!({"execute": true, "plan": preview["fingerprint"]}));
    assert_eq!(status, 202, "{started}");
    let job = started["job"]["id"].as_str().unwrap().to_string();
    let slices = bundle.drain(&rt, &sqs, &queue, "restore");
    assert!(!slices.is_empty());
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
    assert_eq!(title(&a, number), PLANTED[0], "restored");
    let (status, clean) = bundle.http(
        "diff",
        "get-diff-live.json",
        "GET",
        &format!("/snapshots/{id}/diff/live"),
        None,
    );
    assert_eq!(status, 200, "{clean}");
    assert_eq!(clean["summary"]["total"], 0, "{clean}");
    // Nothing secret in the functions' logs, at trace level (the SDK's too).
    for (what, text) in [
        ("the passphrase", PASS),
        ("the GitHub token", SANDBOX_TOKEN),
    ] {
        assert_eq!(
            bundle.found(text),
            Vec::<String>::new(),
            "{what} reached the logs"
        );
    }
    drop(bundle);

    // What the backends hold: S3 objects sealed, none holding a secret; DynamoDB items
    // neither (the scan reads them: it finds the scope and the snapshot id).
    let objects = bucket(&rt, &store);
    assert!(objects.len() > 20, "{} objects", objects.len());
    let unsealed: Vec<&String> = objects
        .iter()
        .filter(|(k, b)| !b.starts_with(b"BTE1") && *k != "encryption" && !k.starts_with("keys/"))
        .map(|(k, _)| k)
        .collect();
    assert!(unsealed.is_empty(), "unsealed objects: {unsealed:?}");
    assert!(
        objects.keys().any(|k| k.starts_with("jobs/")),
        "the restore job's plan is in the store"
    );
    let leaks = secrets_in(&objects);
    assert!(leaks.is_empty(), "secrets on S3: {leaks:?}");
    let items = table(&rt, &table_name);
    let all: Vec<u8> = items.values().flatten().copied().collect();
    for seen in ["acme/widgets", id.as_str(), job.as_str()] {
        assert!(
            all.windows(seen.len()).any(|w| w == seen.as_bytes()),
            "the scan of {} items misses {seen}",
            items.len()
        );
    }
    let leaks = secrets_in(&items);
    assert!(leaks.is_empty(), "secrets in DynamoDB: {leaks:?}");
    eprintln!(
        "encrypted store under the emulator: {} S3 objects, {} DynamoDB items, no plaintext",
        objects.len(),
        items.len()
    );
}
