//! `backtrack bench report` (hidden): the size and generation time of `backtrack report` on
//! a large repository, for the README. Builds its data on an in-process sandbox (10,000
//! issues by default): snapshot A, then `--churn` of the issues edited (title and body: two
//! changes each) for snapshot B, then more issues edited until A→C holds `--changes`
//! changes, for snapshot C. Writes `report-churn.html` (A→B) and `report-changes.html`
//! (A→C) into `--out`; `bench/report` then measures their first paint in headless Chromium.

use anyhow::{bail, Result};
use backtrack::snapshot::SnapshotOptions;
use http::Method;
use serde_json::json;

use super::bench::{seeded, timed_with, Seeded};
use super::Outcome;
use crate::cli::BenchReportArgs;

pub async fn run(args: BenchReportArgs) -> Result<Outcome> {
    if !(0.0..=1.0).contains(&args.churn) {
        bail!("--churn must be between 0 and 1");
    }
    let churned = ((args.issues as f64) * args.churn).round() as u64;
    let edited = (args.changes as u64).div_ceil(2);
    if edited > args.issues || churned > edited {
        bail!(
            "--changes {} needs {edited} edited issues: between the churn's {churned} and --issues {}",
            args.changes,
            args.issues
        );
    }
    std::fs::create_dir_all(&args.out)?;
    let Seeded {
        sandbox,
        folder,
        github,
        archive,
    } = seeded(args.issues, args.comments).await?;
    let edit = |from: u64, to: u64| {
        let github = github.clone();
        async move {
            for n in from..to {
                let body = json!({
                    "title": format!("bench edit of #{n}"),
                    "body": format!("rewritten body of #{n}\nline two\nline three"),
                });
                github
                    .client()
                    .write(
                        Method::PATCH,
                        &github.repo_path(&format!("/issues/{n}")),
                        Some(&body),
                    )
                    .await?;
            }
            anyhow::Ok(())
        }
    };
    let a = archive
        .create_snapshot(github.clone(), &SnapshotOptions::default())
        .await?;
    eprintln!("snapshot A; editing {churned} issues…");
    edit(1, 1 + churned).await?;
    let b = archive
        .create_snapshot(github.clone(), &SnapshotOptions::default())
        .await?;
    eprintln!("snapshot B; editing {} more issues…", edited - churned);
    edit(1 + churned, 1 + edited).await?;
    let c = archive
        .create_snapshot(github.clone(), &SnapshotOptions::default())
        .await?;
    sandbox.shutdown().await;

    outln!(
        "backtrack report on {} issues, {} comments (3 snapshots):",
        args.issues,
        args.comments
    );
    for (name, to, what) in [
        (
            "report-churn.html",
            &b,
            format!("{:.1}% churn", args.churn * 100.0),
        ),
        (
            "report-changes.html",
            &c,
            format!("{} changes", args.changes),
        ),
    ] {
        let path = args.out.join(name);
        let path_text = path.display().to_string();
        let (a_id, to_id) = (a.id.to_string(), to.id.to_string());
        let cmd = [
            "--json",
            "report",
            "github:acme/widgets",
            "--from",
            &a_id,
            "--to",
            &to_id,
            "-o",
            &path_text,
        ];
        let (secs, rss, stdout) = timed_with(&cmd, folder.path(), &[])?;
        let out: serde_json::Value = serde_json::from_str(&stdout)?;
        outln!(
            "  {what}: {} changes, {} bytes ({:.2} MB), written in {secs:.2} s, peak RSS {rss:.0} MB → {path_text}",
            out["changes"],
            out["bytes"],
            out["bytes"].as_f64().unwrap_or(0.0) / 1e6,
        );
    }
    Ok(Outcome::Success)
}
