//! `backtrack demo`: the guided tour, on a temporary store against an in-process sandbox.

use anyhow::{Context as _, Result};
use backtrack::sandbox::{Sandbox, SandboxOptions};
use backtrack::snapshot::SnapshotOptions;
use backtrack::tracker::{GitHubConfig, WritePace};
use backtrack::Scope;

use super::Outcome;
use crate::cli::DemoArgs;
use crate::ctx::Context;
use crate::progress::CaptureProgress;

fn step(n: u32, title: &str) {
    println!("\n\x1b[1m── {n}. {title}\x1b[0m");
}

pub async fn run(args: DemoArgs) -> Result<Outcome> {
    let sandbox = Sandbox::start(SandboxOptions {
        issues: args.issues,
        comments: args.comments,
        ..SandboxOptions::default()
    })
    .await
    .context("cannot start the demo sandbox")?;
    let folder = tempfile::Builder::new()
        .prefix("backtrack-demo-")
        .tempdir()
        .context("cannot create a temporary folder for the demo store")?;
    let ctx = Context::on_folder(folder.path(), false);
    let scope = Scope::github("acme", "widgets")?;
    let mut config = GitHubConfig::new(sandbox.base_url(), Some(sandbox.token().to_string()));
    config.pace = WritePace::unpaced();

    println!("backtrack demo — snapshots, diffs and rollback for issue trackers");
    println!(
        "A sandbox GitHub is serving {scope} at {}",
        sandbox.base_url()
    );
    println!(
        "The demo store is a temporary folder: {}",
        folder.path().display()
    );

    step(1, "Take a snapshot");
    println!("$ backtrack snapshot create {scope} --name before-sync");
    let archive = ctx.archive()?;
    let tracker = ctx.tracker_with(&scope, config)?;
    let report = archive
        .create_snapshot(
            tracker,
            &SnapshotOptions {
                name: Some("before-sync".into()),
                progress: CaptureProgress::for_output(false, false, "capturing"),
                ..SnapshotOptions::default()
            },
        )
        .await?;
    println!("{report}");
    let floor = report.counts.issues.div_ceil(100) + report.counts.comments.div_ceil(100) + 2;
    println!(
        "It took {} requests — about one per 100 records, never one per issue (floor {floor}).",
        report.requests
    );

    step(2, "List snapshots");
    println!("$ backtrack snapshot list");
    super::snapshot::run(
        &ctx,
        crate::cli::SnapshotCmd::List(crate::cli::ListArgs { scope: None }),
    )
    .await?;

    println!(
        "\nDone. Run `backtrack sandbox` to rehearse against your own emulator, then point \
         GITHUB_API_URL at it."
    );
    sandbox.shutdown().await;
    Ok(Outcome::Success)
}
