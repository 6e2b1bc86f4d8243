//! Test plumbing: find the built binary, start the sandbox the way a user does, run CLI
//! commands in an isolated store, and talk HTTP to the sandbox as "another client".

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub use backtrack_tests::http::SANDBOX_TOKEN;

/// The `backtrack` binary under test (`BACKTRACK_BIN`, else the workspace's debug build).
pub fn bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BACKTRACK_BIN") {
        return PathBuf::from(p);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/backtrack");
    assert!(
        p.exists(),
        "{} is missing: run the suite with `tests/run` (it builds the binary first), or `cargo build` before `cargo test`",
        p.display()
    );
    p
}

/// A `backtrack sandbox` child process; killed on drop.
pub struct SandboxProc {
    child: Child,
    pub url: String,
}

impl SandboxProc {
    pub fn start(args: &[&str]) -> SandboxProc {
        let mut child = Command::new(bin())
            .arg("sandbox")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn backtrack sandbox");
        let stdout = child.stdout.take().expect("sandbox stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the sandbox URL");
        let url = line.trim().to_string();
        assert!(
            url.starts_with("http://"),
            "sandbox printed {line:?} as its first line"
        );
        SandboxProc { child, url }
    }

    /// `GET /_sandbox/stats`.
    pub fn stats(&self) -> Value {
        let (status, body) = http(&self.url, "GET", "/_sandbox/stats", None, None);
        assert_eq!(status, 200, "stats: {body}");
        body
    }

    /// A REST call as another client would make it (authenticated with the sandbox token).
    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        http(&self.url, method, path, body, Some(SANDBOX_TOKEN))
    }

    /// Every element of a paginated listing, following page numbers. Retries pages the
    /// sandbox fails on purpose (`--fault-rate`).
    pub fn list_all(&self, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for page in 1.. {
            let sep = if path.contains('?') { '&' } else { '?' };
            let target = format!("{path}{sep}per_page=100&page={page}");
            let mut attempt = 0;
            let body = loop {
                let (status, body) = self.api("GET", &target, None);
                if status == 200 {
                    break body;
                }
                attempt += 1;
                assert!(attempt < 30 && status >= 403, "{target}: {status} {body}");
                // A limited or faulty sandbox: come back later, not at once.
                std::thread::sleep(std::time::Duration::from_millis(250 * attempt));
            };
            let items = body.as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                break;
            }
            out.extend(items);
        }
        out
    }
}

impl Drop for SandboxProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A REST call to `base` (the sandbox or any loopback API): status and JSON body, from a
/// real HTTP client independent of the code under test.
pub use backtrack_tests::http::request_blocking as http;

/// The result of one CLI run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "command failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A user with their own store folder, pointed at a sandbox.
pub struct User {
    pub home: tempfile::TempDir,
    pub api_url: String,
    pub token: String,
}

impl User {
    pub fn new(sandbox: &SandboxProc) -> User {
        User {
            home: tempfile::tempdir().expect("temp dir"),
            api_url: sandbox.url.clone(),
            token: SANDBOX_TOKEN.to_string(),
        }
    }

    pub fn store(&self) -> PathBuf {
        self.home.path().join("store")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env("HOME", self.home.path())
            .env(
                "BACKTRACK_STORE",
                format!("file://{}", self.store().display()),
            )
            .env_remove("BACKTRACK_CATALOG")
            .env("GITHUB_API_URL", &self.api_url)
            .env("GITHUB_TOKEN", &self.token)
            .env_remove("GH_TOKEN")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("run backtrack");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }
}

/// Fails a proptest case with a message unless `cond` holds (the model tests' assert).
macro_rules! check {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(proptest::test_runner::TestCaseError::fail(format!($($arg)+)));
        }
    };
}
pub(crate) use check;

/// A model test's runner for `cases` cases (unless `PROPTEST_CASES` says otherwise), seeded
/// for CI (unless `PROPTEST_RNG_SEED` says otherwise), that keeps failing seeds in
/// `tests/proptest-regressions/` beside `source_file` (the caller's `file!()`).
pub fn model_runner(cases: u32, source_file: &'static str) -> proptest::test_runner::TestRunner {
    use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestRunner};
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    TestRunner::new(Config {
        cases: env("PROPTEST_CASES").map_or(cases, |n| n as u32),
        rng_seed: RngSeed::Fixed(env("PROPTEST_RNG_SEED").unwrap_or(18)),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        source_file: Some(source_file),
        // Each shrink step is a whole case (about a second): enough to get to a short script.
        max_shrink_iters: 300,
        max_global_rejects: 0,
        ..Config::default()
    })
}

/// Kills `child` (a paced rollback) once `written()` reaches `k`, or when it ends on its own,
/// or after a minute; then reaps it. Returns the writes it made: `k`, or more when a loaded
/// machine let it write on before the kill landed (what a test must reason from).
pub fn kill_after_writes(child: &mut Child, k: u64, written: impl Fn() -> u64) -> u64 {
    let started = std::time::Instant::now();
    while written() < k
        && child.try_wait().ok().flatten().is_none()
        && started.elapsed() < std::time::Duration::from_secs(60)
    {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
    written()
}

/// What a model run covered, printed at its end (a property that held over empty plans
/// proves nothing).
#[derive(Default)]
pub struct Tally {
    cases: std::cell::Cell<u64>,
    ops: std::cell::Cell<u64>,
    losses: std::cell::Cell<u64>,
    empty: std::cell::Cell<u64>,
    killed_mid_run: std::cell::Cell<u64>,
}

impl Tally {
    pub fn add(&self, ops: u64, losses: u64, killed_mid_run: bool) {
        let bump = |c: &std::cell::Cell<u64>, n: u64| c.set(c.get() + n);
        bump(&self.cases, 1);
        bump(&self.ops, ops);
        bump(&self.losses, losses);
        bump(&self.empty, u64::from(ops == 0));
        bump(&self.killed_mid_run, u64::from(killed_mid_run));
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} cases, {} operations planned and verified, {} losses named, {} empty plans, {} kills mid-run",
            self.cases.get(),
            self.ops.get(),
            self.losses.get(),
            self.empty.get(),
            self.killed_mid_run.get()
        )
    }
}

/// Starts `capture` (a `snapshot create`), kills it with SIGKILL, as a crash would, once
/// `under_way` says its entry is in progress, then waits `lapse` (its lease's TTL and a
/// margin) so the next run sees it abandoned.
pub fn kill_under_way(
    mut capture: Command,
    under_way: impl Fn() -> bool,
    lapse: std::time::Duration,
) {
    let mut child = capture
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the capture");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no in-progress entry appeared"
        );
        assert!(
            child.try_wait().expect("poll the capture").is_none(),
            "the capture ended before the kill"
        );
        if under_way() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().expect("kill the capture");
    child.wait().expect("reap the capture");
    std::thread::sleep(lapse);
}

/// `snapshot list --json` as (id, status) pairs, oldest first.
pub fn id_statuses(list: &serde_json::Value) -> Vec<(String, String)> {
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
