//! `backtrack bench …` (hidden): reproducible performance figures for the README.
//!
//! Each benchmark builds its own data on an in-process sandbox and a temporary store, runs
//! the real `backtrack` binary for the measured step (so start-up, reading the store and
//! rendering count), and prints wall time and peak memory of that step alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use backtrack::catalog::SqliteCatalog;
use backtrack::compare::{compare, DiffSides};
use backtrack::config::{env, CATALOG_FILE};
use backtrack::diff::DiffOptions;
use backtrack::snapshot::Archive;
use backtrack::store::{LocalStore, ObjectInfo, PutOutcome, StoreError};
use backtrack::tracker::{GitHubConfig, GitHubTracker, WritePace};
use backtrack::{ObjectStore, Scope};
use backtrack_sandbox::github::{Sandbox, SandboxOptions};
use bytes::Bytes;
use http::Method;
use serde_json::json;

use super::Outcome;
use crate::cli::{BenchCaptureArgs, BenchCmd, BenchDiffArgs, BenchGitArgs};
use crate::ctx::Context;

pub async fn run(cmd: BenchCmd) -> Result<Outcome> {
    match cmd {
        BenchCmd::Diff(args) => diff(args).await,
        BenchCmd::Jira(args) => super::bench_jira::run(args).await,
        BenchCmd::GitStore(args) => git_store(args).await,
        BenchCmd::Report(args) => super::bench_report::run(args).await,
        BenchCmd::Capture(args) => capture(args).await,
        BenchCmd::Encryption(args) => super::bench_crypt::run(args).await,
    }
}

/// One full snapshot per API of the same sandbox, each into its own store, through the real
/// binary (so peak RSS is the capture's own).
async fn capture(args: BenchCaptureArgs) -> Result<Outcome> {
    let sandbox = capture_sandbox(args.issues, args.comments, args.latency_ms).await?;
    let url = sandbox.base_url();
    let mut rows = Vec::new();
    for api in ["rest", "graphql"] {
        let folder = tempfile::tempdir()?;
        let vars = [
            (env::GITHUB_API_URL, url.as_str()),
            (env::GITHUB_TOKEN, sandbox.token()),
        ];
        let queries_before = graphql_queries(&sandbox.stats());
        let (secs, rss, out) = timed_with(
            &[
                "--json",
                "-q",
                "snapshot",
                "create",
                "github:acme/widgets",
                "--api",
                api,
            ],
            folder.path(),
            &vars,
        )?;
        let report: serde_json::Value =
            serde_json::from_str(&out).context("snapshot create printed no JSON")?;
        // The client counts every request it sends; GitHub charges GraphQL queries to the
        // GraphQL budget (in points), not the REST one.
        let queries = graphql_queries(&sandbox.stats()) - queries_before;
        let row = json!({
            "api": api,
            "requests": report["requests"].as_u64().unwrap_or(0).saturating_sub(queries),
            "graphql_queries": queries,
            "points": report["points"],
            "seconds": (secs * 10.0).round() / 10.0,
            "peak_rss_mb": rss.round(),
            "stored_bytes": report["bytes"]["stored_new"],
            "counts": report["counts"],
        });
        eprintln!("{row}");
        rows.push(row);
    }
    // Dropped, not shut down gracefully: the binaries' pooled connections would hold it.
    drop(sandbox);
    // GitHub keeps two budgets an hour (5,000 REST requests, 5,000 GraphQL points for a
    // token): a capture's cost is its REST requests plus its points, against REST's alone.
    let cost = |row: &serde_json::Value| {
        row["requests"].as_u64().unwrap_or(0) + row["points"].as_u64().unwrap_or(0)
    };
    let rest_cost = rows.first().map(cost).unwrap_or(0).max(1);
    for row in &mut rows {
        let budget = cost(row);
        row["budget"] = json!(budget);
        row["share_of_rest"] =
            json!(((budget as f64 / rest_cost as f64) * 1000.0).round() / 1000.0);
    }
    eprintln!(
        "{} issues, {} comments, {} ms per request:",
        args.issues, args.comments, args.latency_ms
    );
    for row in &rows {
        eprintln!(
            "  {:<8} {:>6} REST requests + {:>5} GraphQL points = {:>6} ({:>5.1}% of REST's budget)  {:>7.1} s  peak RSS {:>5} MB",
            row["api"].as_str().unwrap_or(""),
            row["requests"].as_u64().unwrap_or(0),
            row["points"].as_u64().unwrap_or(0),
            row["budget"].as_u64().unwrap_or(0),
            row["share_of_rest"].as_f64().unwrap_or(0.0) * 100.0,
            row["seconds"].as_f64().unwrap_or(0.0),
            row["peak_rss_mb"].as_f64().unwrap_or(0.0),
        );
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "issues": args.issues, "comments": args.comments, "latency_ms": args.latency_ms,
            "runs": rows,
        }))?
    );
    Ok(Outcome::Success)
}

/// The in-process sandbox a capture benchmark snapshots, seeded and slowed as asked.
pub(super) async fn capture_sandbox(
    issues: u64,
    comments: u64,
    latency_ms: u64,
) -> Result<Sandbox> {
    eprintln!("seeding a sandbox with {issues} issues and {comments} comments ({latency_ms} ms per request)…");
    let mut opts = SandboxOptions {
        issues,
        comments,
        ..SandboxOptions::default()
    };
    opts.server.latency_ms = latency_ms;
    Ok(Sandbox::start(opts).await?)
}

/// `POST /graphql` requests the sandbox has answered.
fn graphql_queries(stats: &backtrack_sandbox::SandboxStats) -> u64 {
    stats
        .by_route
        .iter()
        .filter(|(route, _)| route.starts_with("POST ") && route.ends_with("/graphql"))
        .map(|(_, n)| *n)
        .sum()
}

/// Runs this binary with `args` and extra environment, returning (seconds, peak RSS in MB,
/// stdout).
pub(super) fn timed_with(
    args: &[&str],
    store: &std::path::Path,
    vars: &[(&str, &str)],
) -> Result<(f64, f64, String)> {
    let exe = std::env::current_exe().context("cannot find the backtrack binary")?;
    let rss_file = store.join("peak-rss");
    let started = Instant::now();
    let out = std::process::Command::new(exe)
        .args(args)
        .env(env::STORE, format!("file://{}", store.display()))
        .env(env::PEAK_RSS_FILE, &rss_file)
        .envs(vars.iter().copied())
        .output()?;
    let secs = started.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "`backtrack {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let kb: f64 = std::fs::read_to_string(&rss_file)?
        .trim()
        .parse()
        .unwrap_or(0.0);
    Ok((
        secs,
        kb / 1024.0,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// A benchmark's data: an in-process sandbox seeded with `issues` and `comments`, an archive
/// in a temporary folder, and an unpaced tracker on the sandbox's `github:acme/widgets`.
pub(super) struct Seeded {
    pub sandbox: Sandbox,
    pub folder: tempfile::TempDir,
    pub github: Arc<GitHubTracker>,
    pub archive: Archive,
}

pub(super) async fn seeded(issues: u64, comments: u64) -> Result<Seeded> {
    eprintln!("seeding a sandbox with {issues} issues and {comments} comments…");
    let sandbox = Sandbox::start(SandboxOptions {
        issues,
        comments,
        ..SandboxOptions::default()
    })
    .await?;
    let folder = tempfile::tempdir()?;
    let scope = Scope::github("acme", "widgets")?;
    let mut config = GitHubConfig::new(sandbox.base_url(), Some(sandbox.token().to_string()));
    config.pace = WritePace::unpaced();
    let github = Arc::new(GitHubTracker::new(&scope, &config)?);
    let archive = Context::on_folder(folder.path(), true)
        .create_archive()
        .await?;
    Ok(Seeded {
        sandbox,
        folder,
        github,
        archive,
    })
}

async fn diff(args: BenchDiffArgs) -> Result<Outcome> {
    if !(0.0..=1.0).contains(&args.churn) {
        bail!("--churn must be between 0 and 1");
    }
    let Seeded {
        sandbox,
        folder,
        github,
        archive,
    } = seeded(args.issues, args.comments).await?;
    // Both snapshots through the binary, so the captures' peak RSS (full, then incremental)
    // stands beside the diff's, from the same build.
    let url = sandbox.base_url();
    let vars = [
        (env::GITHUB_API_URL, url.as_str()),
        (env::GITHUB_TOKEN, sandbox.token()),
    ];
    let snapshot = |folder: &std::path::Path| -> Result<(f64, f64, serde_json::Value)> {
        let (secs, rss, out) = timed_with(
            &["--json", "-q", "snapshot", "create", "github:acme/widgets"],
            folder,
            &vars,
        )?;
        let report = serde_json::from_str(&out).context("snapshot create printed no JSON")?;
        Ok((secs, rss, report))
    };
    let (capture_secs, full_rss, a) = snapshot(folder.path())?;
    let changed = ((args.issues as f64) * args.churn).round() as u64;
    eprintln!("snapshot A in {capture_secs:.1}s; changing {changed} issues…");
    let step = (args.issues / changed.max(1)).max(1);
    for k in 0..changed {
        let n = 1 + k * step;
        let body = json!({"title": format!("bench edit {k}"), "body": format!("rewritten body {k}\nline two")});
        github
            .client()
            .write(
                Method::PATCH,
                &github.repo_path(&format!("/issues/{n}")),
                Some(&body),
            )
            .await?;
    }
    let (_, incremental_rss, b) = snapshot(folder.path())?;
    drop(archive);

    let id = |report: &serde_json::Value| report["id"].as_str().unwrap_or_default().to_string();
    let (a_id, b_id) = (id(&a), id(&b));
    // Best time and highest peak RSS over the runs of `diff --from A --to TO`.
    let timed_diff = |to: &str| -> Result<(f64, f64)> {
        let cmd = [
            "diff",
            "github:acme/widgets",
            "--from",
            &a_id,
            "--to",
            to,
            "--format",
            "json",
            "-o",
            "/dev/null",
        ];
        let mut best = (f64::MAX, 0.0f64);
        for _ in 0..args.runs.max(1) {
            let (secs, rss, _) = timed_with(&cmd, folder.path(), &vars)?;
            best = (best.0.min(secs), best.1.max(rss));
        }
        Ok(best)
    };
    let best = timed_diff(&b_id)?;
    // The tracker is as snapshot B left it: the same changes, the live side fetched whole.
    let live = timed_diff("live")?;
    // Dropped, not shut down gracefully: the binaries' pooled connections would hold it.
    drop(sandbox);
    let reads = counted_diff(folder.path(), &a_id, &b_id).await?;
    outln!(
        "diff of two snapshots ({} issues, {} comments, {changed} issues changed):",
        args.issues,
        args.comments
    );
    outln!(
        "  backtrack diff --from A --to B --format json: {:.3} s (best of {}), peak RSS {:.1} MB",
        best.0,
        args.runs.max(1),
        best.1
    );
    outln!(
        "  backtrack diff --from A --to live --format json: {:.3} s (best of {}), peak RSS {:.1} MB",
        live.0,
        args.runs.max(1),
        live.1
    );
    outln!(
        "  store reads of --to B: {} objects, {} of them blobs (records and entry tables), for {} records a side and {} changes",
        reads.objects,
        reads.blobs,
        reads.records,
        reads.changes
    );
    outln!(
        "  captures, for comparison: snapshot A (full) peak RSS {full_rss:.1} MB in {capture_secs:.1} s ({} requests); snapshot B (incremental) peak RSS {incremental_rss:.1} MB",
        a["requests"].as_u64().unwrap_or(0)
    );
    Ok(Outcome::Success)
}

/// What one comparison read from the store.
struct DiffReads {
    objects: u64,
    blobs: u64,
    /// Records in the newer snapshot.
    records: u64,
    changes: usize,
}

/// The comparison `backtrack diff --from A --to B` makes, run in this process over a store
/// that counts its reads: the figure that shows whether a diff reads what changed or
/// everything.
async fn counted_diff(folder: &std::path::Path, from: &str, to: &str) -> Result<DiffReads> {
    let store = Arc::new(CountingStore {
        inner: Arc::new(LocalStore::open(folder)?),
        objects: AtomicU64::new(0),
        blobs: AtomicU64::new(0),
    });
    let catalog = Arc::new(SqliteCatalog::open(&folder.join(CATALOG_FILE))?);
    let archive = Archive::new(store.clone(), catalog);
    let scope = Scope::github("acme", "widgets")?;
    let sides = DiffSides::parse(Some(from), Some(to)).map_err(backtrack::Error::from)?;
    let compared = compare(&archive, &scope, &sides, &DiffOptions::default(), None)
        .await
        .map_err(backtrack::Error::from)?;
    Ok(DiffReads {
        objects: store.objects.load(Ordering::Relaxed),
        blobs: store.blobs.load(Ordering::Relaxed),
        records: compared.to.as_ref().map_or(0, |r| r.entry.counts.total()),
        changes: compared.diff.changes.len(),
    })
}

/// A store that counts the objects read through it (all, and blobs).
#[derive(Debug)]
struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    objects: AtomicU64,
    blobs: AtomicU64,
}

#[async_trait::async_trait]
impl ObjectStore for CountingStore {
    fn location(&self) -> String {
        self.inner.location()
    }

    async fn put(&self, key: &str, bytes: Bytes) -> std::result::Result<PutOutcome, StoreError> {
        self.inner.put(key, bytes).await
    }

    async fn get(&self, key: &str) -> std::result::Result<Bytes, StoreError> {
        self.objects.fetch_add(1, Ordering::Relaxed);
        if key.starts_with(backtrack::keys::BLOBS) {
            self.blobs.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.get(key).await
    }

    async fn exists(&self, key: &str) -> std::result::Result<bool, StoreError> {
        self.inner.exists(key).await
    }

    async fn list(&self, prefix: &str) -> std::result::Result<Vec<ObjectInfo>, StoreError> {
        self.inner.list(prefix).await
    }

    async fn delete(&self, key: &str) -> std::result::Result<(), StoreError> {
        self.inner.delete(key).await
    }
}

/// Requests of one step, by kind, from the sandbox's per-route counters.
#[derive(Debug, Default, Clone, Copy)]
struct Requests {
    tracker: u64,
    git_reads: u64,
    git_writes: u64,
    /// Branch and ref updates (`PATCH`/`POST` of refs): commits published.
    ref_updates: u64,
}

impl Requests {
    fn of(stats: &backtrack_sandbox::SandboxStats) -> Requests {
        let mut r = Requests::default();
        for (route, n) in &stats.by_route {
            let (method, path) = route.split_once(' ').unwrap_or(("", route));
            if !path.contains("/git/") {
                r.tracker += n;
            } else if method == "GET" {
                r.git_reads += n;
            } else {
                r.git_writes += n;
                if path.contains("/git/refs") {
                    r.ref_updates += n;
                }
            }
        }
        r
    }

    fn since(self, before: Requests) -> Requests {
        Requests {
            tracker: self.tracker - before.tracker,
            git_reads: self.git_reads - before.git_reads,
            git_writes: self.git_writes - before.git_writes,
            ref_updates: self.ref_updates - before.ref_updates,
        }
    }
}

/// The request cost of keeping snapshots in a `git://` branch: the real binary against an
/// in-process sandbox (whose per-route counters split tracker reads from Git Data calls), for
/// a full snapshot, an incremental one after `--churn` of the issues changed, a diff of the
/// two, and a listing.
async fn git_store(args: BenchGitArgs) -> Result<Outcome> {
    if !(0.0..=1.0).contains(&args.churn) {
        bail!("--churn must be between 0 and 1");
    }
    eprintln!(
        "seeding a sandbox with {} issues and {} comments…",
        args.issues, args.comments
    );
    let sandbox = Sandbox::start(SandboxOptions {
        issues: args.issues,
        comments: args.comments,
        ..SandboxOptions::default()
    })
    .await?;
    let home = tempfile::tempdir()?;
    let exe = std::env::current_exe().context("cannot find the backtrack binary")?;
    let url = sandbox.base_url();
    let token = sandbox.token().to_string();
    let run = |cli_args: Vec<String>| {
        let (exe, url, token, home) = (
            exe.clone(),
            url.clone(),
            token.clone(),
            home.path().to_path_buf(),
        );
        async move {
            let started = Instant::now();
            let out = tokio::process::Command::new(exe)
                .args(&cli_args)
                .env("HOME", home)
                .env(env::STORE, "git://backtrack-archive?repo=acme/widgets")
                .env_remove(env::CATALOG)
                .env(env::GITHUB_API_URL, url)
                .env(env::GITHUB_TOKEN, token)
                .env(env::GIT_WRITE_INTERVAL_MS, "0")
                .output()
                .await?;
            if !out.status.success() {
                bail!(
                    "`backtrack {}` failed: {}",
                    cli_args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Ok::<_, anyhow::Error>((started.elapsed().as_secs_f64(), out.stdout))
        }
    };
    let scope = "github:acme/widgets".to_string();
    let mut rows = Vec::new();
    let mut measure = |name: &str, before: Requests, secs: f64| {
        let r = Requests::of(&sandbox.stats()).since(before);
        rows.push((name.to_string(), r, secs));
    };

    let before = Requests::of(&sandbox.stats());
    let (secs, out) = run(vec![
        "--json".into(),
        "snapshot".into(),
        "create".into(),
        scope.clone(),
    ])
    .await?;
    measure("full snapshot", before, secs);
    let a: serde_json::Value = serde_json::from_slice(&out)?;

    let scope_obj = Scope::github("acme", "widgets")?;
    let mut config = GitHubConfig::new(sandbox.base_url(), Some(sandbox.token().to_string()));
    config.pace = WritePace::unpaced();
    let github = GitHubTracker::new(&scope_obj, &config)?;
    let changed = ((args.issues as f64) * args.churn).round() as u64;
    let step = (args.issues / changed.max(1)).max(1);
    for k in 0..changed {
        let n = 1 + k * step;
        let body = json!({"title": format!("bench edit {k}")});
        github
            .client()
            .write(
                Method::PATCH,
                &github.repo_path(&format!("/issues/{n}")),
                Some(&body),
            )
            .await?;
    }

    let before = Requests::of(&sandbox.stats());
    let (secs, out) = run(vec![
        "--json".into(),
        "snapshot".into(),
        "create".into(),
        scope.clone(),
    ])
    .await?;
    measure(
        &format!("incremental snapshot ({changed} issues changed)"),
        before,
        secs,
    );
    let b: serde_json::Value = serde_json::from_slice(&out)?;

    let (a_id, b_id) = (
        a["id"].as_str().unwrap_or_default().to_string(),
        b["id"].as_str().unwrap_or_default().to_string(),
    );
    let before = Requests::of(&sandbox.stats());
    let (secs, _) = run(vec![
        "diff".into(),
        scope.clone(),
        "--from".into(),
        a_id,
        "--to".into(),
        b_id,
        "--format".into(),
        "json".into(),
        "-o".into(),
        "/dev/null".into(),
    ])
    .await?;
    measure("diff of the two snapshots", before, secs);

    let before = Requests::of(&sandbox.stats());
    let (secs, _) = run(vec!["snapshot".into(), "list".into(), scope.clone()]).await?;
    measure("snapshot list", before, secs);
    sandbox.shutdown().await;

    outln!(
        "git:// store, {} issues and {} comments (requests counted by the sandbox, per command):",
        args.issues,
        args.comments
    );
    outln!(
        "  {:<44} {:>8} {:>10} {:>10} {:>8} {:>8}",
        "step",
        "tracker",
        "git reads",
        "git writes",
        "commits",
        "seconds"
    );
    for (name, r, secs) in rows {
        outln!(
            "  {:<44} {:>8} {:>10} {:>10} {:>8} {:>8.1}",
            name,
            r.tracker,
            r.git_reads,
            r.git_writes,
            r.ref_updates,
            secs
        );
    }
    outln!(
        "  (commits counts ref updates: the branch's and the lease's; writes are unpaced here, \
         GitHub's pace of 750 ms a write adds about 0.75 s per git write)"
    );
    Ok(Outcome::Success)
}
