//! Issue 18 item 5: the HTTP API under load. The four functions run under the Lambda
//! emulator (`cargo lambda watch`), two instances each as Lambda scales them out, against moto
//! (S3, DynamoDB, SQS) and a sandbox serving four repositories. Client tasks send concurrent
//! snapshot listings, diffs and job-status requests and signed webhook deliveries — every
//! event delivered up to three times at once under one delivery id, some again under a second
//! id — while queue workers play SQS's event source mapping for the snapshot and restore
//! queues, and a restore job runs through the same functions. Afterwards every event has
//! exactly one snapshot in the catalog (none lost, none doubled), the restore job completed,
//! no request failed, and each route's latency is printed (p50, p99, max).
//!
//! The suite runs it for 15 seconds with one queue worker each; `bench/load` runs it for
//! minutes with more clients and workers (`BACKTRACK_LOAD_SECS`, `BACKTRACK_LOAD_CLIENTS`,
//! `BACKTRACK_LOAD_WORKERS`).

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::functions::{
    cargo_lambda, free_port, http_event, moto_url, repo_root, runtime, unique, Proc,
};
use crate::util::{bin, SandboxProc, SANDBOX_TOKEN};

const OWNER: &str = "acme";
/// Repositories webhooks snapshot; the restore job runs on a fourth, `acme/ledger`.
const HOOKED: [&str; 3] = ["widgets", "gizmos", "gadgets"];
const LEDGER: &str = "ledger";
const FUNCTIONS: [&str; 4] = ["snapshot", "diff", "restore", "catalog"];
const INSTANCES: usize = 2;
const SECRET: &str = "load-webhook-secret-9a1e";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The emulator and `instances` processes of each function polling it (as Lambda runs
/// several execution environments of one function side by side), invoked over its Invoke
/// API; the paced tests use it too.
pub(crate) struct Emulator {
    url: String,
    _watch: Proc,
    _functions: Vec<Proc>,
    logs: tempfile::TempDir,
}

impl Emulator {
    pub(crate) fn start(functions: &[&str], instances: usize, env: &[(&str, String)]) -> Emulator {
        let port = free_port();
        let watch = Proc(
            Command::new(cargo_lambda())
                .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1"])
                .args(["-P", &port.to_string()])
                .current_dir(repo_root())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start cargo lambda watch"),
        );
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "cargo lambda watch did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let dir = bin().parent().unwrap().to_path_buf();
        let logs = tempfile::tempdir().unwrap();
        let mut procs = Vec::new();
        for f in functions {
            let name = format!("backtrack-{f}");
            for i in 0..instances {
                let log = |stream: &str| {
                    std::fs::File::create(logs.path().join(format!("{name}.{i}.{stream}.log")))
                        .unwrap()
                };
                let mut cmd = Command::new(dir.join(&name));
                cmd.env(
                    "AWS_LAMBDA_RUNTIME_API",
                    format!("http://127.0.0.1:{port}/.rt/{name}"),
                )
                .env("AWS_LAMBDA_FUNCTION_NAME", &name)
                .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
                .env_remove("GH_TOKEN")
                .stdout(log("stdout"))
                .stderr(log("stderr"));
                for (k, v) in env {
                    cmd.env(k, v);
                }
                procs.push(Proc(cmd.spawn().expect("start a function binary")));
            }
        }
        Emulator {
            url: format!("http://127.0.0.1:{port}"),
            _watch: watch,
            _functions: procs,
            logs,
        }
    }

    /// Invokes `backtrack-<function>` through the emulator's Invoke API (as the AWS SDK and
    /// API Gateway do): the function's answer, or what went wrong (with what the functions
    /// logged). A long timeout: a capture that waits out rate limits takes a while, but a
    /// function that died must not hang the test.
    pub(crate) async fn invoke(&self, function: &str, event: &Value) -> Result<Value, String> {
        let url = format!(
            "{}/2015-03-31/functions/backtrack-{function}/invocations",
            self.url
        );
        let _ = rustls::crypto::ring::default_provider().install_default();
        let reply = reqwest::Client::new()
            .post(&url)
            .timeout(Duration::from_secs(600))
            .json(event)
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}\n{}", self.recent_log()))?;
        let status = reply.status().as_u16();
        let text = reply.text().await.map_err(|e| format!("POST {url}: {e}"))?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status != 200 || answer.get("errorType").is_some() {
            return Err(format!(
                "backtrack-{function} answered {status}: {answer}\n{}",
                self.recent_log()
            ));
        }
        Ok(answer)
    }

    /// An HTTP API request through `function`: status and body.
    async fn http(&self, function: &str, event: &Value) -> Result<(u16, Value), String> {
        let out = self.invoke(function, event).await?;
        let status = out["statusCode"].as_u64().unwrap_or(0) as u16;
        let text = out["body"].as_str().unwrap_or_default();
        Ok((
            status,
            serde_json::from_str(text).unwrap_or(Value::String(text.into())),
        ))
    }

    /// The functions' last 40 log lines (for a failure's message).
    fn recent_log(&self) -> String {
        let lines = self.logged("");
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Every line the functions logged that holds `text`.
    pub(crate) fn logged(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.logs.path()).unwrap() {
            let log = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
            out.extend(log.lines().filter(|l| l.contains(text)).map(str::to_string));
        }
        out
    }
}

/// Latencies by route, and what went wrong.
#[derive(Default)]
struct Tally {
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    failures: Vec<String>,
}

impl Tally {
    fn add(&mut self, route: &'static str, took: Duration) {
        self.latencies.entry(route).or_default().push(took);
    }
}

/// The `q` quantile of sorted latencies, in milliseconds.
fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// What the client tasks share.
struct Load {
    emulator: Emulator,
    /// Two snapshots of each repository (scheduled one after the other, the second after
    /// a change): what diffs compare, with each other and with the live repository.
    pairs: Vec<(String, String)>,
    /// Job ids to ask about: the restore job, then every job a webhook queued.
    jobs: Mutex<Vec<String>>,
    tally: Mutex<Tally>,
    /// Per webhook event: the snapshot name it asks for, and the jobs its deliveries queued.
    events: Mutex<BTreeMap<u64, (String, Vec<String>)>>,
    next_event: AtomicU64,
    deliveries: AtomicU64,
    duplicates: AtomicU64,
    nonce: String,
}

impl Load {
    async fn timed(&self, function: &str, route: &'static str, event: Value) -> Option<Value> {
        let started = Instant::now();
        let outcome = self.emulator.http(function, &event).await;
        let took = started.elapsed();
        let mut tally = self.tally.lock().unwrap();
        tally.add(route, took);
        match outcome {
            Ok((200, body)) | Ok((202, body)) => Some(body),
            Ok((status, body)) => {
                tally.failures.push(format!("{route}: {status} {body}"));
                None
            }
            Err(e) => {
                tally.failures.push(format!("{route}: {e}"));
                None
            }
        }
    }

    async fn list(&self, i: u64) {
        let path = match i % 3 {
            0 => "/snapshots".to_string(),
            n => format!(
                "/snapshots?scope=github:{OWNER}/{}",
                HOOKED[n as usize % HOOKED.len()]
            ),
        };
        let event = http_event("catalog", "list-snapshots.json", "GET", &path, None);
        if let Some(body) = self.timed("catalog", "GET /snapshots", event).await {
            if !body["snapshots"].is_array() {
                self.fail(format!("GET {path}: no snapshots array: {body}"));
            }
        }
    }

    async fn diff(&self, i: u64) {
        let (base, next) = &self.pairs[i as usize % self.pairs.len()];
        let other = if i.is_multiple_of(2) {
            "live"
        } else {
            next.as_str()
        };
        let path = format!("/snapshots/{base}/diff/{other}");
        let event = http_event("diff", "get-diff-live.json", "GET", &path, None);
        if let Some(body) = self.timed("diff", "GET /snapshots/{id}/diff", event).await {
            if body["schema_version"] != 1 {
                self.fail(format!("GET {path}: {body}"));
            }
        }
    }

    async fn job_status(&self, i: u64) {
        let job = {
            let jobs = self.jobs.lock().unwrap();
            jobs[i as usize % jobs.len()].clone()
        };
        let path = format!("/jobs/{job}");
        let event = http_event("restore", "get-job.json", "GET", &path, None);
        if let Some(body) = self.timed("restore", "GET /jobs/{id}", event).await {
            if body["id"] != job.as_str() {
                self.fail(format!("GET {path}: {body}"));
            }
        }
    }

    /// One push event, delivered 1–3 times at once under one delivery id, and every fourth
    /// event once more under a second id (a replay): exactly one delivery queues a job.
    async fn webhook(&self) {
        let k = self.next_event.fetch_add(1, Ordering::Relaxed);
        let repo = HOOKED[k as usize % HOOKED.len()];
        // The snapshot is named after the commit's first seven characters: one per event.
        let after = format!("{k:07x}{}", &"c0ffee".repeat(6)[..33]);
        let name = format!("push-{}", &after[..7]);
        let payload = json!({
            "ref": "refs/heads/main", "after": after, "before": "0".repeat(40), "deleted": false,
            "head_commit": {"id": after, "message": format!("load event {k}")},
            "repository": {"full_name": format!("{OWNER}/{repo}"), "default_branch": "main"},
        });
        self.events
            .lock()
            .unwrap()
            .insert(k, (name.clone(), Vec::new()));
        let copies = 1 + k % 3;
        let mut deliveries: Vec<String> = (0..copies)
            .map(|_| format!("load-{}-{k}", self.nonce))
            .collect();
        if k.is_multiple_of(4) {
            deliveries.push(format!("load-{}-{k}-replay", self.nonce));
        }
        let sends = deliveries
            .iter()
            .map(|delivery| self.deliver(k, delivery, &payload));
        futures::future::join_all(sends).await;
    }

    async fn deliver(&self, k: u64, delivery: &str, payload: &Value) {
        let body = payload.to_string();
        let mut event = http_event(
            "snapshot",
            "webhook-github.json",
            "POST",
            "/webhooks/github",
            None,
        );
        event["body"] = body.clone().into();
        event["headers"]["x-github-event"] = "push".into();
        event["headers"]["x-github-delivery"] = delivery.into();
        event["headers"]["x-hub-signature-256"] =
            backtrack_lambda::webhook::sign(SECRET.as_bytes(), body.as_bytes()).into();
        self.deliveries.fetch_add(1, Ordering::Relaxed);
        let Some(answer) = self.timed("snapshot", "POST /webhooks/github", event).await else {
            return;
        };
        match answer["status"].as_str() {
            Some("queued") => {
                let job = answer["job"].as_str().unwrap_or_default().to_string();
                self.jobs.lock().unwrap().push(job.clone());
                if let Some((_, jobs)) = self.events.lock().unwrap().get_mut(&k) {
                    jobs.push(job);
                }
            }
            Some("duplicate") => {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            _ => self.fail(format!("webhook {delivery}: {answer}")),
        }
    }

    fn fail(&self, what: String) {
        self.tally.lock().unwrap().failures.push(what);
    }
}

/// Plays SQS's event source mapping for `queue_url`: each message is one invocation of
/// `function`, deleted when it succeeded (a failed one comes back after its visibility
/// timeout, as on AWS). Runs until `stop` is set and the queue holds nothing, not even a
/// delayed message (a job waiting for a busy scope) or one in flight.
async fn worker(
    emulator: &Emulator,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    function: &str,
    stop: &AtomicBool,
    invocations: &AtomicU64,
    failures: &Mutex<Vec<String>>,
) {
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("functions/restore/events/sqs-continue.json"))
            .unwrap(),
    )
    .unwrap();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(1)
            .wait_time_seconds(1)
            .send()
            .await;
        let message = match received {
            Ok(r) => r.messages.unwrap_or_default().into_iter().next(),
            Err(e) => {
                failures
                    .lock()
                    .unwrap()
                    .push(format!("receive from {function}'s queue: {e}"));
                None
            }
        };
        let Some(message) = message else {
            if stop.load(Ordering::Relaxed) && queue_empty(sqs, queue_url).await {
                return;
            }
            continue;
        };
        let mut event = template.clone();
        event["Records"][0]["body"] = message.body.clone().unwrap_or_default().into();
        event["Records"][0]["messageId"] = message.message_id.clone().unwrap_or_default().into();
        invocations.fetch_add(1, Ordering::Relaxed);
        match emulator.invoke(function, &event).await {
            Ok(_) => {
                if let Some(handle) = message.receipt_handle {
                    let _ = sqs
                        .delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await;
                }
            }
            Err(e) => failures.lock().unwrap().push(e),
        }
    }
}

/// Whether `queue_url` holds no message at all: none visible, in flight or delayed.
async fn queue_empty(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> bool {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let Ok(reply) = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(A::All)
        .send()
        .await
    else {
        return false;
    };
    let attributes = reply.attributes.unwrap_or_default();
    [
        A::ApproximateNumberOfMessages,
        A::ApproximateNumberOfMessagesNotVisible,
        A::ApproximateNumberOfMessagesDelayed,
    ]
    .iter()
    .all(|a| attributes.get(a).is_some_and(|n| n == "0"))
}

#[test]
fn the_http_api_under_concurrent_load_loses_and_doubles_no_snapshot() {
    let secs = env_number("BACKTRACK_LOAD_SECS", 15);
    let clients = env_number("BACKTRACK_LOAD_CLIENTS", 6);
    let workers = env_number("BACKTRACK_LOAD_WORKERS", 1).max(1);
    let moto = moto_url();
    let mut args = vec!["--issues", "12", "--comments", "24"];
    let repos: Vec<String> = HOOKED
        .iter()
        .chain([&LEDGER])
        .map(|r| format!("{OWNER}/{r}"))
        .collect();
    for r in &repos {
        args.extend(["--repo", r.as_str()]);
    }
    let sandbox = SandboxProc::start(&args);
    let (bucket, table) = (unique("lb"), unique("lt"));
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
    let queue = |name: String| {
        rt.block_on(
            sqs.create_queue()
                .queue_name(name)
                .attributes(
                    aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                    "20",
                )
                .send(),
        )
        .unwrap()
        .queue_url
        .unwrap()
    };
    let (restore_queue, snapshot_queue) = (queue(unique("lq")), queue(unique("lsq")));
    let scopes: Vec<String> = repos.iter().map(|r| format!("github:{r}")).collect();
    let emulator = Emulator::start(
        &FUNCTIONS,
        INSTANCES,
        &[
            ("GITHUB_TOKEN", SANDBOX_TOKEN.to_string()),
            ("GITHUB_API_URL", sandbox.url.clone()),
            ("BACKTRACK_STORE", store),
            ("BACKTRACK_CATALOG", catalog),
            ("BACKTRACK_QUEUE_URL", restore_queue.clone()),
            ("BACKTRACK_SNAPSHOT_QUEUE_URL", snapshot_queue.clone()),
            ("BACKTRACK_SCHEDULED_SCOPES", json!(scopes).to_string()),
            ("BACKTRACK_MAX_OPS_PER_INVOCATION", "2".into()),
            ("BACKTRACK_WRITE_INTERVAL_MS", "0".into()),
            ("BACKTRACK_WEBHOOK_SECRET", SECRET.into()),
            ("AWS_ENDPOINT_URL", moto),
            ("RUST_LOG", "info".into()),
        ],
    );

    // Two scheduled snapshots of every repository, an issue retitled in between: what the
    // diffs compare.
    let mut schedule: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("functions/snapshot/events/schedule.json"))
            .unwrap(),
    )
    .unwrap();
    schedule["detail"] = json!({ "scopes": scopes });
    let scheduled = || -> Vec<String> {
        let taken = rt
            .block_on(emulator.invoke("snapshot", &schedule))
            .unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<String> = taken["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                assert_eq!(s["status"], "completed", "{taken}");
                s["snapshot"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(ids.len(), repos.len(), "{taken}");
        ids
    };
    let bases = scheduled();
    for r in &repos {
        let (s, body) = sandbox.api(
            "PATCH",
            &format!("/repos/{r}/issues/4"),
            Some(json!({"title": "retitled between the schedules"})),
        );
        assert_eq!(s, 200, "{body}");
    }
    let pairs: Vec<(String, String)> = bases.iter().cloned().zip(scheduled()).collect();

    // A restore job on the ledger, to run beside the load: three issues retitled, previewed,
    // confirmed.
    for n in 1..=3 {
        let (s, body) = sandbox.api(
            "PATCH",
            &format!("/repos/{OWNER}/{LEDGER}/issues/{n}"),
            Some(json!({"title": format!("[LOAD] {n}")})),
        );
        assert_eq!(s, 200, "{body}");
    }
    let ledger_base = pairs[repos.len() - 1].1.clone();
    let restore_path = format!("/snapshots/{ledger_base}/restore");
    let restore = |body: Value| {
        let event = http_event(
            "restore",
            "post-restore.json",
            "POST",
            &restore_path,
            Some(body),
        );
        rt.block_on(emulator.http("restore", &event))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (status, preview) = restore(json!({"execute": false}));
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        preview["plan"]["ops"].as_array().unwrap().len(),
        3,
        "{preview}"
    );
    let (status, started) = restore(json!({"execute": true, "plan": preview["fingerprint"]}));
    assert_eq!(status, 202, "{started}");
    let restore_job = started["job"]["id"].as_str().unwrap().to_string();

    let load = Arc::new(Load {
        emulator,
        pairs,
        jobs: Mutex::new(vec![restore_job.clone()]),
        tally: Mutex::new(Tally::default()),
        events: Mutex::new(BTreeMap::new()),
        next_event: AtomicU64::new(0),
        deliveries: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        nonce: ulid::Ulid::new().to_string().to_ascii_lowercase()[20..].to_string(),
    });
    let stop = AtomicBool::new(false);
    let invocations = AtomicU64::new(0);
    let worker_failures = Mutex::new(Vec::new());
    let requests = AtomicU64::new(0);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    rt.block_on(async {
        let clients = (0..clients).map(|c| {
            let load = Arc::clone(&load);
            let requests = &requests;
            async move {
                let mut i = c;
                while Instant::now() < deadline {
                    match i % 10 {
                        0..=2 => load.list(i / 10).await,
                        3 | 4 => load.diff(i / 10).await,
                        5..=7 => load.job_status(i).await,
                        _ => load.webhook().await,
                    }
                    requests.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            }
        });
        let run_workers = (0..workers).flat_map(|_| {
            [
                worker(
                    &load.emulator,
                    &sqs,
                    &snapshot_queue,
                    "snapshot",
                    &stop,
                    &invocations,
                    &worker_failures,
                ),
                worker(
                    &load.emulator,
                    &sqs,
                    &restore_queue,
                    "restore",
                    &stop,
                    &invocations,
                    &worker_failures,
                ),
            ]
        });
        let stopper = async {
            futures::future::join_all(clients).await;
            stop.store(true, Ordering::Relaxed);
        };
        futures::join!(stopper, futures::future::join_all(run_workers));
    });
    let loaded = deadline.duration_since(started).as_secs_f64();
    let drained = started.elapsed().as_secs_f64() - loaded;

    // Every job finished; each event has one job and one snapshot; the catalog holds exactly
    // those (none lost, none doubled).
    let tally = std::mem::take(&mut *load.tally.lock().unwrap());
    let events = std::mem::take(&mut *load.events.lock().unwrap());
    let mut problems = tally.failures.clone();
    problems.extend(worker_failures.into_inner().unwrap());
    let status_of = |job: &str| {
        let event = http_event(
            "restore",
            "get-job.json",
            "GET",
            &format!("/jobs/{job}"),
            None,
        );
        let (status, body) = rt
            .block_on(load.emulator.http("restore", &event))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, 200, "{body}");
        body
    };
    let mut expected_names = BTreeSet::new();
    let mut taken_ids = BTreeSet::new();
    for (k, (name, jobs)) in &events {
        if jobs.len() != 1 {
            problems.push(format!(
                "event {k} ({name}) queued {} jobs: {jobs:?}",
                jobs.len()
            ));
            continue;
        }
        let job = status_of(&jobs[0]);
        match (job["status"].as_str(), job["capture"]["snapshot"].as_str()) {
            (Some("completed"), Some(id)) => {
                taken_ids.insert(id.to_string());
            }
            _ => problems.push(format!("event {k} ({name}): job not completed: {job}")),
        }
        expected_names.insert(name.clone());
    }
    let restored = status_of(&restore_job);
    if restored["status"] != "completed" {
        problems.push(format!("the restore job did not complete: {restored}"));
    }
    let list = http_event("catalog", "list-snapshots.json", "GET", "/snapshots", None);
    let (status, listing) = rt
        .block_on(load.emulator.http("catalog", &list))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 200, "{listing}");
    let pushed: Vec<&Value> = listing["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["trigger"] == "push")
        .collect();
    let catalog_ids: BTreeSet<String> = pushed
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect();
    let mut names: Vec<String> = pushed
        .iter()
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    let distinct_names: BTreeSet<String> = names.iter().cloned().collect();
    let lost: Vec<&String> = expected_names.difference(&distinct_names).collect();
    let doubled = names.len() - distinct_names.len();
    let unexpected: Vec<&String> = distinct_names.difference(&expected_names).collect();

    let total: usize = tally.latencies.values().map(Vec::len).sum();
    eprintln!(
        "load: {loaded:.0} s of load, {clients} clients, {INSTANCES} instances per function, \
         {workers} queue worker(s) per queue: {total} API requests ({:.1}/s), {} queue \
         invocations; drained in {drained:.1} s",
        total as f64 / loaded,
        invocations.load(Ordering::Relaxed)
    );
    for (route, latencies) in &tally.latencies {
        let mut sorted = latencies.clone();
        sorted.sort();
        eprintln!(
            "load: {route:<24} {:>6} requests  p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
            sorted.len(),
            quantile(&sorted, 0.5),
            quantile(&sorted, 0.99),
            quantile(&sorted, 1.0),
        );
    }
    eprintln!(
        "load: webhooks: {} events, {} deliveries, {} answered as duplicates; snapshots: {} \
         taken, {} lost, {doubled} doubled, {} unexpected; restore job {}; {} failures",
        events.len(),
        load.deliveries.load(Ordering::Relaxed),
        load.duplicates.load(Ordering::Relaxed),
        catalog_ids.len(),
        lost.len(),
        unexpected.len(),
        restored["status"],
        problems.len(),
    );
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        lost.is_empty() && unexpected.is_empty() && doubled == 0,
        "lost {lost:?}, unexpected {unexpected:?}, {doubled} doubled: {names:?}"
    );
    assert_eq!(
        catalog_ids, taken_ids,
        "the catalog holds the jobs' snapshots"
    );
    assert_eq!(
        load.deliveries.load(Ordering::Relaxed),
        events.len() as u64 + load.duplicates.load(Ordering::Relaxed),
        "every delivery but one per event is answered as a duplicate"
    );
    assert!(
        events.len() >= 3 && tally.latencies.len() == 4,
        "too little load to prove anything: {} events, routes {:?}",
        events.len(),
        tally.latencies.keys().collect::<Vec<_>>()
    );
    let errors = load.emulator.logged("\"level\":\"ERROR\"");
    assert!(
        errors.is_empty(),
        "the functions logged errors: {errors:#?}"
    );
    let (s, issue) = sandbox.api("GET", &format!("/repos/{OWNER}/{LEDGER}/issues/1"), None);
    assert_eq!(s, 200);
    assert!(
        !issue["title"]
            .as_str()
            .unwrap_or_default()
            .starts_with("[LOAD]"),
        "the restore job did not restore the ledger: {issue}"
    );
}
