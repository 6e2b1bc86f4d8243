//! `backtrack bench …` (hidden): reproducible performance figures for the README.
//!
//! Each benchmark builds its own data on an in-process sandbox and a temporary store, runs
//! the real `backtrack` binary for the measured step (so start-up, reading the store and
//! rendering count), and prints wall time and peak memory of that step alone.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use backtrack::config::env;
use backtrack::snapshot::SnapshotOptions;
use backtrack::tracker::{GitHubConfig, GitHubTracker, WritePace};
use backtrack::Scope;
use backtrack_sandbox::github::{Sandbox, SandboxOptions};
use http::Method;
use serde_json::json;

use super::Outcome;
use crate::cli::{BenchCmd, BenchDiffArgs};
use crate::ctx::Context;

pub async fn run(cmd: BenchCmd) -> Result<Outcome> {
    match cmd {
        BenchCmd::Diff(args) => diff(args).await,
        BenchCmd::Jira(args) => super::bench_jira::run(args).await,
    }
}

/// Runs this binary with `args`, returning (seconds, peak RSS in MB).
fn timed_self(args: &[&str], store: &std::path::Path) -> Result<(f64, f64)> {
    timed_with(args, store, &[]).map(|(secs, rss, _)| (secs, rss))
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

async fn diff(args: BenchDiffArgs) -> Result<Outcome> {
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
    let folder = tempfile::tempdir()?;
    let ctx = Context::on_folder(folder.path(), true);
    let scope = Scope::github("acme", "widgets")?;
    let mut config = GitHubConfig::new(sandbox.base_url(), Some(sandbox.token().to_string()));
    config.pace = WritePace::unpaced();
    let github = Arc::new(GitHubTracker::new(&scope, &config)?);
    let archive = ctx.create_archive().await?;

    let t = Instant::now();
    let a = archive
        .create_snapshot(github.clone(), &SnapshotOptions::default())
        .await?;
    let capture_secs = t.elapsed().as_secs_f64();
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
    let b = archive
        .create_snapshot(github.clone(), &SnapshotOptions::default())
        .await?;
    sandbox.shutdown().await;

    let (a_id, b_id) = (a.id.to_string(), b.id.to_string());
    let cmd = [
        "diff",
        "github:acme/widgets",
        "--from",
        &a_id,
        "--to",
        &b_id,
        "--format",
        "json",
        "-o",
        "/dev/null",
    ];
    let mut best = (f64::MAX, 0.0f64);
    for _ in 0..args.runs.max(1) {
        let (secs, rss) = timed_self(&cmd, folder.path())?;
        best = (best.0.min(secs), best.1.max(rss));
    }
    println!(
        "diff of two snapshots ({} issues, {} comments, {changed} issues changed):",
        args.issues, args.comments
    );
    println!(
        "  backtrack diff --from A --to B --format json: {:.3} s (best of {}), peak RSS {:.1} MB",
        best.0,
        args.runs.max(1),
        best.1
    );
    println!(
        "  (capture of snapshot A took {capture_secs:.1} s, {} requests)",
        a.requests
    );
    Ok(Outcome::Success)
}
