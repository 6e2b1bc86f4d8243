//! Issue 5 acceptance: the S3 object store and the DynamoDB catalog against moto server
//! (started by `tests/run`, which exports `AWS_ENDPOINT_URL` and test credentials).
//!
//! Every test makes its own bucket and table (unique names), so the tests run in parallel on
//! one moto without resets. Library-level tests drive `S3Store`/`DynamoCatalog` directly;
//! the rest run the `backtrack` binary as a user would, against `backtrack sandbox`.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use backtrack::catalog::{DynamoCatalog, TableSetup};
use backtrack::snapshot::Archive;
use backtrack::store::{BucketSetup, S3Store};
use backtrack::{Catalog, ObjectStore, SnapshotStatus};
use serde_json::json;

use crate::faultproxy::{Fault, FaultProxy};
use crate::util::{Run, SandboxProc, User};

const SCOPE: &str = "github:acme/widgets";
const REPO: &str = "/repos/acme/widgets";

/// moto's address, from `tests/run`.
pub(crate) fn moto_url() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "AWS_ENDPOINT_URL is not set: the AWS tests need moto server; run the suite with `tests/run`, which starts it"
        ),
    }
}

/// A fresh, valid bucket or table name.
pub(crate) fn unique(kind: &str) -> String {
    format!(
        "bt-{kind}-{}",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A new bucket and table on moto, created through the library's idempotent set-up.
async fn fresh_backends(prefix: &str) -> (Arc<S3Store>, Arc<DynamoCatalog>) {
    let (bucket, table) = (unique("b"), unique("t"));
    let store = S3Store::from_url(&format!("s3://{bucket}/{prefix}"))
        .await
        .unwrap();
    assert_eq!(store.ensure_bucket().await.unwrap(), BucketSetup::Created);
    let catalog = DynamoCatalog::from_url(&format!("dynamodb://{table}"))
        .await
        .unwrap();
    assert_eq!(catalog.ensure_table().await.unwrap(), TableSetup::Created);
    (Arc::new(store), Arc::new(catalog))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_conformance_object_store_on_s3() {
    let (store, _) = fresh_backends("team/backtrack").await;
    backtrack::conformance::object_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_conformance_catalog_on_dynamodb() {
    let (_, catalog) = fresh_backends("").await;
    backtrack::conformance::catalog(catalog).await;
}

/// The same contract with one item per page: every query and scan must follow
/// `LastEvaluatedKey` to be right.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_conformance_catalog_on_dynamodb_with_one_item_pages() {
    let (_, catalog) = fresh_backends("").await;
    let table = catalog.table().to_string();
    let paged = DynamoCatalog::new(catalog.client().clone(), table).with_page_size(1);
    backtrack::conformance::catalog(Arc::new(paged)).await;
}

fn pending_entry(scope: &backtrack::Scope) -> backtrack::SnapshotEntry {
    let id = backtrack::SnapshotId::new();
    backtrack::SnapshotEntry {
        id,
        scope: scope.clone(),
        name: Some("x".into()),
        trigger: backtrack::Trigger::Manual,
        status: SnapshotStatus::Pending,
        created_at: chrono::Utc::now(),
        finished_at: None,
        counts: backtrack::Counts::default(),
        bytes: Default::default(),
        requests: 0,
        manifest_key: format!("manifests/{}/{id}", scope.slug()),
        parent: None,
        pinned: false,
        expires_at: Some(chrono::Utc::now() + chrono::Duration::days(7)),
        error: None,
        manifest_hash: None,
        lease: None,
    }
}

/// Rows written by one process are found by id alone in another (through the `by-id`
/// index, not the writer's cache), and carry the TTL attribute only while unpinned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_lookup_by_id_from_another_process_and_ttl_follow_pinning() {
    let (_, writer) = fresh_backends("").await;
    let table = writer.table().to_string();
    let scope: backtrack::Scope = "github:acme/ttl".parse().unwrap();
    let entry = pending_entry(&scope);
    writer.create(&entry).await.unwrap();

    let reader = DynamoCatalog::from_url(&format!("dynamodb://{table}"))
        .await
        .unwrap();
    assert_eq!(reader.get(&entry.id).await.unwrap(), Some(entry.clone()));
    let finish = backtrack::catalog::Finish {
        status: SnapshotStatus::Completed,
        finished_at: chrono::Utc::now(),
        counts: backtrack::Counts::default(),
        bytes: Default::default(),
        requests: 3,
        error: None,
        manifest_hash: Some(backtrack::ObjectHash::of(b"manifest")),
    };
    let other = DynamoCatalog::from_url(&format!("dynamodb://{table}"))
        .await
        .unwrap();
    other.finish(&entry.id, &finish).await.unwrap();

    let raw = |catalog: &DynamoCatalog| {
        let client = catalog.client().clone();
        let table = table.clone();
        let key = format!("snap#{}", entry.id);
        let pk = scope.to_string();
        async move {
            client
                .get_item()
                .table_name(table)
                .key("pk", AttributeValue::S(pk))
                .key("sk", AttributeValue::S(key))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
                .unwrap()
        }
    };
    let item = raw(&reader).await;
    let expires = entry.expires_at.unwrap().timestamp().to_string();
    assert_eq!(item.get("ttl"), Some(&AttributeValue::N(expires.clone())));
    assert_eq!(
        item.get("status"),
        Some(&AttributeValue::S("completed".into()))
    );
    DynamoCatalog::from_url(&format!("dynamodb://{table}"))
        .await
        .unwrap()
        .set_pinned(&entry.id, true)
        .await
        .unwrap();
    assert_eq!(
        raw(&reader).await.get("ttl"),
        None,
        "pinned rows never expire"
    );
    reader.set_pinned(&entry.id, false).await.unwrap();
    assert_eq!(
        raw(&reader).await.get("ttl"),
        Some(&AttributeValue::N(expires))
    );

    let ttl = writer
        .client()
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let desc = ttl.time_to_live_description().unwrap();
    assert_eq!(desc.attribute_name(), Some("ttl"));
    // Set-up is idempotent.
    assert_eq!(writer.ensure_table().await.unwrap(), TableSetup::Found);

    let fresh = DynamoCatalog::from_url(&format!("dynamodb://{table}"))
        .await
        .unwrap();
    fresh.delete(&entry.id).await.unwrap();
    assert_eq!(fresh.get(&entry.id).await.unwrap(), None);
}

/// Throttling that outlasts every retry (the SDK's for reads and plain writes, ours for
/// conditional writes) surfaces as a typed, retryable error naming the bucket or table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_throttling_after_retries_is_a_typed_retryable_error() {
    let (store, catalog) = fresh_backends("p").await;
    let proxy = FaultProxy::always(&moto_url(), Fault::Throttle);
    // The environment's AWS_ENDPOINT_URL outranks a shared config's endpoint, so point the
    // service configs themselves at the proxy.
    let config = backtrack::aws::load_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .endpoint_url(&proxy.url)
            .force_path_style(true)
            .build(),
    );
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .endpoint_url(&proxy.url)
            .build(),
    );
    let throttled_store = S3Store::new(s3, store.bucket(), "p");
    let err = throttled_store
        .put("blobs/ab/x", bytes::Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, backtrack::store::StoreError::Throttled { .. }) && err.is_retryable(),
        "{err}"
    );
    assert!(
        err.to_string().contains(store.bucket()) && err.to_string().contains("SlowDown"),
        "{err}"
    );

    let throttled_catalog = DynamoCatalog::new(dynamodb, catalog.table());
    let scope: backtrack::Scope = "github:acme/throttled".parse().unwrap();
    let err = throttled_catalog
        .create(&pending_entry(&scope))
        .await
        .unwrap_err();
    assert!(
        matches!(err, backtrack::catalog::CatalogError::Backend { .. }) && err.is_retryable(),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(catalog.table()) && text.contains("ProvisionedThroughputExceeded"),
        "{text}"
    );
    let err = throttled_catalog.list(Some(&scope)).await.unwrap_err();
    assert!(err.to_string().contains("throttled"), "{err}");
    // Every attempt went through the proxy: retries happened before giving up.
    assert!(
        proxy
            .stats
            .throttled
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 9,
        "{}",
        proxy.stats.summary()
    );
}

/// A user of the CLI whose archive lives in a fresh S3 bucket and DynamoDB table.
pub(crate) struct AwsUser {
    user: User,
    pub(crate) store: String,
    pub(crate) catalog: String,
    endpoint: String,
}

impl AwsUser {
    pub(crate) fn new(sandbox: &SandboxProc) -> AwsUser {
        let user = AwsUser {
            user: User::new(sandbox),
            store: format!("s3://{}/archive", unique("b")),
            catalog: format!("dynamodb://{}", unique("t")),
            endpoint: moto_url(),
        };
        let init = user.run(&["init"]).ok();
        assert!(init.stdout.contains("created"), "{init:?}");
        user
    }

    /// The same archive reached through another endpoint (the fault proxy).
    fn via(&self, endpoint: &str) -> AwsUser {
        AwsUser {
            user: User {
                home: tempfile::tempdir().unwrap(),
                api_url: self.user.api_url.clone(),
                token: self.user.token.clone(),
            },
            store: self.store.clone(),
            catalog: self.catalog.clone(),
            endpoint: endpoint.to_string(),
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.user.command(args);
        cmd.env("BACKTRACK_STORE", &self.store)
            .env("BACKTRACK_CATALOG", &self.catalog)
            .env("AWS_ENDPOINT_URL", &self.endpoint);
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }

    /// The archive as the library sees it, straight on moto.
    pub(crate) async fn archive(&self) -> Archive {
        let store = S3Store::from_url(&self.store).await.unwrap();
        let catalog = DynamoCatalog::from_url(&self.catalog).await.unwrap();
        Archive::new(Arc::new(store), Arc::new(catalog))
    }
}

fn assert_one_line_error(run: &Run, needles: &[&str]) {
    assert_eq!(run.code, 2, "expected exit 2: {run:?}");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr: {}",
        run.stderr
    );
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "{:?} should mention {needle:?}",
            lines[0]
        );
    }
}

#[test]
fn aws_cli_end_to_end_snapshot_list_show_diff_rollback_delete() {
    let sandbox = SandboxProc::start(&["--issues", "40", "--comments", "120", "--seed", "9"]);
    let user = AwsUser::new(&sandbox);
    // `init` again finds what it made.
    let again = user.run(&["--json", "init"]).ok().json();
    let actions: Vec<&str> = again["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["found", "found"], "{again}");

    let snap = user
        .run(&["--json", "snapshot", "create", SCOPE, "--name", "good"])
        .ok()
        .json();
    assert_eq!(snap["status"], "completed", "{snap}");
    let id = snap["id"].as_str().unwrap().to_string();
    assert!(snap["counts"]["issues"].as_u64().unwrap() >= 40, "{snap}");

    let list = user.run(&["--json", "snapshot", "list", SCOPE]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    let shown = user
        .run(&["--json", "snapshot", "show", "good"])
        .ok()
        .json();
    assert_eq!(shown["id"], id.as_str(), "{shown}");
    assert!(
        shown["manifest"]["records"].as_u64().unwrap() > 100,
        "{shown}"
    );

    // No change yet.
    let same = user.run(&["diff", SCOPE, "--exit-code"]);
    assert_eq!(same.code, 0, "{same:?}");
    // Someone retitles an issue.
    let issue = &sandbox.list_all(&format!("{REPO}/issues?state=all"))[0];
    let number = issue["number"].as_u64().unwrap();
    let title = issue["title"].as_str().unwrap().to_string();
    let (status, _) = sandbox.api(
        "PATCH",
        &format!("{REPO}/issues/{number}"),
        Some(json!({"title": "[SYNC] wrecked"})),
    );
    assert_eq!(status, 200);
    let changed = user.run(&["diff", SCOPE, "--format", "json", "--exit-code"]);
    assert_eq!(changed.code, 1, "{changed:?}");
    assert!(
        changed.stdout.contains("[SYNC] wrecked"),
        "{}",
        changed.stdout
    );

    let report = user
        .run(&[
            "--json",
            "rollback",
            SCOPE,
            "--to",
            "good",
            "--execute",
            "--yes",
            "--write-interval-ms",
            "0",
        ])
        .ok()
        .json();
    assert_eq!(report["verification"]["clean"], true, "{report}");
    let (_, now) = sandbox.api("GET", &format!("{REPO}/issues/{number}"), None);
    assert_eq!(now["title"].as_str(), Some(title.as_str()));
    let pre = report["pre_rollback_snapshot"]
        .as_str()
        .unwrap()
        .to_string();
    let same = user.run(&["diff", SCOPE, "--from", "good", "--exit-code"]);
    assert_eq!(same.code, 0, "after the rollback nothing differs: {same:?}");

    // Two snapshots now; delete the pre-rollback one.
    let list = user.run(&["--json", "snapshot", "list"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    user.run(&["snapshot", "delete", &pre]).ok();
    let list = user.run(&["--json", "snapshot", "list"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], id.as_str());
    let rt = runtime();
    rt.block_on(async {
        let archive = user.archive().await;
        let manifests = archive.raw_store().list("manifests/").await.unwrap();
        assert_eq!(
            manifests.len(),
            1,
            "the deleted snapshot's manifest is gone"
        );
        assert!(manifests[0].key.ends_with(&id));
        // The rollback's job and journal live in the table too.
        let scope: backtrack::Scope = SCOPE.parse().unwrap();
        let jobs = archive.raw_catalog().list_jobs(&scope).await.unwrap();
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        assert!(jobs[0].status.is_finished());
        let journal = archive.raw_catalog().journal(&jobs[0].id).await.unwrap();
        assert_eq!(journal.len() as u64, jobs[0].total_ops);
        assert!(archive
            .raw_catalog()
            .current_lock(&scope)
            .await
            .unwrap()
            .is_none());
    });
    let verify = user.run(&["--json", "verify", "--all"]).ok().json();
    assert_eq!(verify["problems"], json!([]), "{verify}");
}

#[test]
fn aws_wrong_bucket_missing_table_and_bad_credentials_are_one_line_errors() {
    let sandbox = SandboxProc::start(&["--issues", "5", "--comments", "5"]);
    let user = AwsUser::new(&sandbox);
    let table = user.catalog.trim_start_matches("dynamodb://").to_string();

    let mut wrong_bucket = user.via(&user.endpoint);
    wrong_bucket.store = "s3://no-such-bucket-bt/x".into();
    let run = wrong_bucket.run(&["snapshot", "create", SCOPE]);
    assert_one_line_error(&run, &["no-such-bucket-bt", "backtrack init"]);

    let mut missing_table = user.via(&user.endpoint);
    missing_table.catalog = "dynamodb://no-such-table-bt".into();
    let run = missing_table.run(&["snapshot", "list"]);
    assert_one_line_error(
        &run,
        &[
            "no-such-table-bt",
            "backtrack init --catalog dynamodb://no-such-table-bt",
        ],
    );

    let run = {
        let out = user
            .command(&["snapshot", "list"])
            .env_remove("BACKTRACK_CATALOG")
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    };
    assert_one_line_error(&run, &["--catalog dynamodb://TABLE"]);

    // No credentials anywhere.
    let out = user
        .command(&["snapshot", "list"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_PROFILE", "backtrack-no-such-profile")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    };
    assert_one_line_error(
        &run,
        &["no AWS credentials", "AWS_PROFILE", "AWS_ACCESS_KEY_ID"],
    );

    // Wrong keys, against a moto that checks them.
    let authed = AuthMoto::start();
    let mut bad_keys = user.via(&authed.url);
    bad_keys.store = format!("s3://{}/x", unique("b"));
    let out = bad_keys
        .command(&["snapshot", "create", SCOPE])
        .env("AWS_ACCESS_KEY_ID", "not-a-real-access-key")
        .env("AWS_SECRET_ACCESS_KEY", "wrong")
        .output()
        .unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    };
    // The bucket check is a HEAD, whose 403 carries no error code.
    assert_one_line_error(&run, &["403", "AWS_ACCESS_KEY_ID"]);
    let out = bad_keys
        .command(&["snapshot", "list"])
        // An existing folder: stores are no longer created by commands that only read.
        .env(
            "BACKTRACK_STORE",
            format!("file://{}", bad_keys.user.home.path().display()),
        )
        .env("BACKTRACK_CATALOG", format!("dynamodb://{table}"))
        .env("AWS_ACCESS_KEY_ID", "not-a-real-access-key")
        .env("AWS_SECRET_ACCESS_KEY", "wrong")
        .output()
        .unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    };
    assert_one_line_error(&run, &["403", "AWS_ACCESS_KEY_ID"]);
}

/// A second moto server with authentication on (`INITIAL_NO_AUTH_ACTION_COUNT=0`): unknown
/// access keys are refused as AWS refuses them. Killed on drop.
struct AuthMoto {
    child: std::process::Child,
    url: String,
}

impl AuthMoto {
    fn start() -> AuthMoto {
        let moto = std::env::var("BACKTRACK_TEST_MOTO")
            .unwrap_or_else(|_| format!("{}/../.venv/bin/moto_server", env!("CARGO_MANIFEST_DIR")));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {moto}: {e}"));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto with auth did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        AuthMoto { child, url }
    }
}

impl Drop for AuthMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn aws_corrupted_object_fails_the_hash_check() {
    let sandbox = SandboxProc::start(&["--issues", "15", "--comments", "30"]);
    let user = AwsUser::new(&sandbox);
    let snap = user
        .run(&["--json", "snapshot", "create", SCOPE])
        .ok()
        .json();
    let id = snap["id"].as_str().unwrap().to_string();
    let rt = runtime();
    rt.block_on(async {
        let archive = user.archive().await;
        let entry = archive.resolve(None, &id).await.unwrap();
        let manifest = archive.load_manifest(&entry).await.unwrap();
        archive.load_records(&manifest, false).await.unwrap();

        // Overwrite one blob in S3 with other (valid zstd) bytes, behind the store's back.
        let victim = manifest.entries[0].blob.key();
        let (bucket, prefix) = user
            .store
            .trim_start_matches("s3://")
            .split_once('/')
            .unwrap();
        let config = backtrack::aws::load_config().await;
        backtrack::aws::s3_client(&config)
            .put_object()
            .bucket(bucket)
            .key(format!("{prefix}/{victim}"))
            .body(backtrack::blob::compress(b"{\"tampered\":true}").into())
            .send()
            .await
            .unwrap();
        let err = archive.load_records(&manifest, false).await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(
                err,
                backtrack::Error::Blob(backtrack::blob::BlobError::Corrupt { .. })
            ),
            "{text}"
        );
        assert!(text.contains(&victim) && text.contains("corrupt"), "{text}");
    });
    let bad = user.run(&["verify", SCOPE]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stdout.contains(&id), "{}", bad.stdout);
}

/// Every completed catalog entry's manifest and all its blobs exist and hash right.
async fn assert_completed_snapshots_are_whole(archive: &Archive) -> usize {
    let mut completed = 0;
    for entry in archive.raw_catalog().list(None).await.unwrap() {
        if entry.status != SnapshotStatus::Completed {
            continue;
        }
        completed += 1;
        let manifest = archive.load_manifest(&entry).await.unwrap_or_else(|e| {
            panic!(
                "completed snapshot {} has no readable manifest: {e}",
                entry.id
            )
        });
        archive
            .load_records(&manifest, false)
            .await
            .unwrap_or_else(|e| panic!("completed snapshot {} misses data: {e}", entry.id));
        assert_eq!(manifest.counts(), entry.counts, "{}", entry.id);
    }
    completed
}

/// The set of (record key, blob) pairs of a snapshot: equal sets mean equal content.
async fn content(archive: &Archive, id: &str) -> BTreeSet<(String, String)> {
    let entry = archive.resolve(None, id).await.unwrap();
    let manifest = archive.load_manifest(&entry).await.unwrap();
    manifest
        .entries
        .iter()
        .map(|e| (format!("{:?}:{}", e.kind, e.id), e.blob.to_hex()))
        .collect()
}

#[test]
fn aws_snapshot_under_faults_completes_identically_or_fails_cleanly() {
    let sandbox = SandboxProc::start(&["--issues", "120", "--comments", "400", "--seed", "21"]);
    let clean = AwsUser::new(&sandbox);
    let reference = clean
        .run(&["--json", "snapshot", "create", SCOPE])
        .ok()
        .json();
    let reference_id = reference["id"].as_str().unwrap().to_string();

    let faulty_backend = AwsUser::new(&sandbox);
    let proxy = FaultProxy::start(&moto_url(), 0.10, 0x5eed);
    let faulty = faulty_backend.via(&proxy.url);
    let mut outcomes = Vec::new();
    let mut completed_id = None;
    for _attempt in 0..4 {
        let run = faulty.run(&["--json", "snapshot", "create", SCOPE]);
        if run.code == 0 {
            completed_id = Some(run.json()["id"].as_str().unwrap().to_string());
            outcomes.push("completed".to_string());
            break;
        }
        // A clean failure: one line, exit 2, nothing half-done visible.
        assert_eq!(run.code, 2, "{run:?}");
        let lines: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(lines.len(), 1, "{}", run.stderr);
        outcomes.push(lines[0].to_string());
    }
    let stats = proxy.stats.summary();
    assert!(
        proxy.stats.faults() >= 5,
        "too few faults injected: {stats}"
    );
    let completed_id = completed_id.unwrap_or_else(|| {
        panic!("no snapshot completed in 4 runs under 10% faults: {outcomes:?}; {stats}")
    });
    drop(proxy);
    eprintln!("fault run: {outcomes:?}; {stats}");

    let rt = runtime();
    rt.block_on(async {
        let reference_archive = clean.archive().await;
        let faulty_archive = faulty_backend.archive().await;
        assert_eq!(
            content(&reference_archive, &reference_id).await,
            content(&faulty_archive, &completed_id).await,
            "the snapshot taken under faults holds exactly the clean snapshot's records"
        );
        assert!(assert_completed_snapshots_are_whole(&faulty_archive).await >= 1);
    });
}

#[test]
fn aws_killed_snapshots_never_leave_a_completed_entry_without_its_data() {
    const TRIALS: usize = 20;
    let sandbox = SandboxProc::start(&["--issues", "60", "--comments", "200", "--seed", "33"]);
    let user = AwsUser::new(&sandbox);

    // Every trial has new content to write (blobs, manifest), not just a capture to redo.
    let issues = sandbox.list_all(&format!("{REPO}/issues?state=all"));
    let mut trial_no = 0u64;
    let mut change_some_issues = || {
        trial_no += 1;
        for issue in issues.iter().take(10) {
            let (status, body) = sandbox.api(
                "PATCH",
                &format!("{REPO}/issues/{}", issue["number"]),
                Some(json!({"body": format!("edited in trial {trial_no}")})),
            );
            assert_eq!(status, 200, "{body}");
        }
    };

    // How long a snapshot with new content takes, to spread the kills over its whole life.
    // Full captures: they write every blob, the window this test is about (an incremental
    // one of this small repository is over in a few requests).
    user.run(&["snapshot", "create", SCOPE]).ok();
    change_some_issues();
    let started = Instant::now();
    user.run(&["snapshot", "create", SCOPE, "--full"]).ok();
    let typical = started.elapsed();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut killed_midway = 0;
    for _ in 0..TRIALS {
        change_some_issues();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = typical.mul_f64((seed % 1000) as f64 / 1000.0 * 1.1);
        let mut child = user
            .command(&["snapshot", "create", SCOPE, "--full"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            killed_midway += 1;
        }
        // SIGKILL: no destructor, no "mark failed", exactly like a crashed runner.
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        killed_midway >= TRIALS / 4,
        "only {killed_midway} of {TRIALS} kills hit a running snapshot"
    );

    let rt = runtime();
    rt.block_on(async {
        let archive = user.archive().await;
        let entries = archive.raw_catalog().list(None).await.unwrap();
        let open = entries
            .iter()
            .filter(|e| {
                matches!(
                    e.status,
                    SnapshotStatus::Pending | SnapshotStatus::InProgress
                )
            })
            .count();
        assert!(
            open >= 1,
            "some kills must have left captures open (in progress): {entries:?}"
        );
        assert_completed_snapshots_are_whole(&archive).await;
    });
    // The next snapshot succeeds, and is whole.
    let next = user
        .run(&["--json", "snapshot", "create", SCOPE])
        .ok()
        .json();
    assert_eq!(next["status"], "completed");
    rt.block_on(async {
        let archive = user.archive().await;
        assert!(assert_completed_snapshots_are_whole(&archive).await >= 2);
    });
}

/// Moves a catalog item to partition `pk`, as the layout before scope keys had it.
async fn move_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    (pk, sk): (&str, &str),
    to_pk: &str,
) {
    let item = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let mut moved = item.clone();
    moved.insert("pk".into(), AttributeValue::S(to_pk.into()));
    client
        .put_item()
        .table_name(table)
        .set_item(Some(moved))
        .send()
        .await
        .unwrap();
    client
        .delete_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .send()
        .await
        .unwrap();
}

/// Issue 21 item 10 on DynamoDB: a table written before scope keys (snapshots, jobs and the
/// lock of `github:ACME/Widgets` and `github:acme/widgets` in two partitions, no layout
/// version) is migrated by the first command that opens it: one history listed under either
/// spelling, each row keeping its display form, one lock, and the items moved.
#[test]
fn aws_a_table_with_case_variant_partitions_migrates_to_one_history_and_one_lock() {
    let sandbox = SandboxProc::start(&["--issues", "5", "--comments", "5"]);
    let user = AwsUser::new(&sandbox);
    let table = user.catalog.trim_start_matches("dynamodb://").to_string();
    let typed: backtrack::Scope = "github:ACME/Widgets".parse().unwrap();
    let lower: backtrack::Scope = SCOPE.parse().unwrap();
    let rt = runtime();
    let (older, newer, lock) = rt.block_on(async {
        let catalog = DynamoCatalog::from_url(&user.catalog).await.unwrap();
        let mut a = pending_entry(&typed);
        a.name = Some("typed".into());
        let b = pending_entry(&lower);
        let (older, newer) = if a.id < b.id { (a, b) } else { (b, a) };
        catalog.create(&older).await.unwrap();
        catalog.create(&newer).await.unwrap();
        let lock = backtrack::catalog::LockInfo::new(&typed, "rollback", Duration::from_secs(1800));
        catalog.lock(&lock).await.unwrap();
        // Back to the old layout: rows partitioned by the scope as typed, no version.
        let client = catalog.client();
        for entry in [&older, &newer]
            .into_iter()
            .filter(|e| e.scope.to_string() != SCOPE)
        {
            move_item(
                client,
                &table,
                (SCOPE, &format!("snap#{}", entry.id)),
                &entry.scope.to_string(),
            )
            .await;
        }
        move_item(client, &table, (SCOPE, "lock"), "github:ACME/Widgets").await;
        client
            .delete_item()
            .table_name(&table)
            .key("pk", AttributeValue::S("cell#layout".into()))
            .key("sk", AttributeValue::S("cell".into()))
            .send()
            .await
            .unwrap();
        (older, newer, lock)
    });

    // The first command migrates; both spellings then see one history.
    for spelling in ["github:acme/widgets", "github:ACME/Widgets"] {
        let listed = user
            .run(&["--json", "snapshot", "list", spelling])
            .ok()
            .json();
        let ids: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [newer.id.to_string(), older.id.to_string()],
            "{spelling}: {listed}"
        );
        let shown: BTreeSet<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["scope"].as_str().unwrap())
            .collect();
        assert_eq!(
            shown,
            ["github:ACME/Widgets", "github:acme/widgets"]
                .into_iter()
                .collect(),
            "display forms are kept"
        );
    }
    // One lock: a snapshot of the other spelling is refused while it is held.
    let refused = user.run(&["snapshot", "create", SCOPE]);
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(
        refused.stderr.contains("locked by rollback"),
        "{}",
        refused.stderr
    );
    rt.block_on(async {
        let catalog = DynamoCatalog::from_url(&user.catalog).await.unwrap();
        let client = catalog.client();
        let partition = |pk: &str| {
            let client = client.clone();
            let (table, pk) = (table.clone(), pk.to_string());
            async move {
                client
                    .query()
                    .table_name(table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", AttributeValue::S(pk))
                    .consistent_read(true)
                    .send()
                    .await
                    .unwrap()
                    .items
                    .unwrap_or_default()
                    .len()
            }
        };
        assert_eq!(partition("github:ACME/Widgets").await, 0, "items moved");
        assert_eq!(partition(SCOPE).await, 3, "two snapshots and the lock");
        let held = catalog.current_lock(&lower).await.unwrap().unwrap();
        assert_eq!(held.token, lock.token);
        // Migrated once: the layout version is recorded, a second open reads only it.
        assert_eq!(catalog.prepare().await.unwrap(), 0);
    });
}

/// Issue 21 item 13 on S3 + DynamoDB: a catalog table deleted beside a bucket full of
/// manifests is an error naming `repair --reindex` (and `init` will not paper over it with an
/// empty table); the reindex makes the table again and refills it.
#[test]
fn aws_a_lost_table_is_rebuilt_from_the_manifests_by_reindex() {
    let sandbox = SandboxProc::start(&["--issues", "10", "--comments", "20", "--seed", "13"]);
    let user = AwsUser::new(&sandbox);
    let first = user
        .run(&["--json", "snapshot", "create", SCOPE, "--name", "kept"])
        .ok()
        .json();
    user.run(&["snapshot", "create", SCOPE]).ok();
    let table = user.catalog.trim_start_matches("dynamodb://").to_string();
    runtime().block_on(async {
        let catalog = DynamoCatalog::from_url(&user.catalog).await.unwrap();
        catalog
            .client()
            .delete_table()
            .table_name(&table)
            .send()
            .await
            .unwrap();
    });
    for args in [vec!["snapshot", "list"], vec!["init"]] {
        let run = user.run(&args);
        assert_one_line_error(&run, &["repair --reindex", "2 snapshot manifest(s)"]);
    }
    let repaired = user.run(&["--json", "repair", "--reindex"]).ok().json();
    assert_eq!(repaired["added"].as_array().unwrap().len(), 2, "{repaired}");
    let listed = user.run(&["--json", "snapshot", "list", SCOPE]).ok().json();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1]["id"], first["id"]);
    assert_eq!(listed[1]["name"], "kept");
    user.run(&["verify", "--all"]).ok();
}
