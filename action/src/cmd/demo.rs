//! `backtrack demo`: the guided tour, on a temporary store against an in-process sandbox.
//! Snapshot → a simulated bad bulk edit → diff → rollback preview → execute → verification.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use backtrack::compare::{self, DiffSides, LiveSource};
use backtrack::diff::{self, DiffOptions, TextOptions};
use backtrack::rollback::{
    self, Confirmed, ExecuteOptions, Executed, Executor, Rollback, RollbackOptions, RollbackRequest,
};
use backtrack::snapshot::{SnapshotName, SnapshotOptions};
use backtrack::tracker::{GitHubConfig, GitHubTracker, NoProgress, WritePace};
use backtrack::Scope;
use backtrack_sandbox::github::{Sandbox, SandboxOptions};
use http::Method;
use serde_json::{json, Value};

use super::Outcome;
use crate::cli::DemoArgs;
use crate::ctx::Context;
use crate::progress::CaptureProgress;
use crate::term::Paint;

/// A numbered step of a tour (the GitHub and the Jira demo print alike).
pub(super) fn step(n: u32, title: &str) -> Result<()> {
    outln!("\n{}", Paint::stdout().bold(&format!("── {n}. {title}")));
    Ok(())
}

/// The command a step stands for, as a user would type it.
pub(super) fn command(text: &str) -> Result<()> {
    outln!("{}", Paint::stdout().dim(&format!("$ {text}")));
    Ok(())
}

/// The bad bulk edit: what a runaway sync script and a hasty admin do in a minute.
async fn wreck(tracker: &GitHubTracker) -> Result<Vec<String>> {
    let client = tracker.client();
    let get = |path: String| async move {
        let reply = client.get(&path, None).await?;
        Ok::<Value, anyhow::Error>(reply.json(&path)?)
    };
    let issues = get(tracker.repo_path("/issues?state=open&per_page=100")).await?;
    let issues: Vec<&Value> = issues
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|i| i.get("pull_request").is_none())
                .collect()
        })
        .unwrap_or_default();
    let labels = get(tracker.repo_path("/labels?per_page=100")).await?;
    let comments = get(tracker.repo_path("/issues/comments?per_page=100")).await?;
    let mut done = Vec::new();
    for issue in issues.iter().take(8) {
        let n = issue["number"].as_u64().unwrap_or_default();
        let body = json!({
            "title": format!("[synced] {}", issue["title"].as_str().unwrap_or_default().to_uppercase()),
            "body": "Synced from roadmap.md (content unavailable)",
        });
        client
            .write(
                Method::PATCH,
                &tracker.repo_path(&format!("/issues/{n}")),
                Some(&body),
            )
            .await?;
    }
    done.push("overwrote the titles and descriptions of 8 issues".to_string());
    for issue in issues.iter().skip(8).take(3) {
        let n = issue["number"].as_u64().unwrap_or_default();
        client
            .write(
                Method::PATCH,
                &tracker.repo_path(&format!("/issues/{n}")),
                Some(&json!({"state": "closed", "state_reason": "not_planned"})),
            )
            .await?;
    }
    done.push("closed 3 open issues as not planned".to_string());
    if let Some(name) = labels
        .as_array()
        .and_then(|a| a.first())
        .and_then(|l| l["name"].as_str())
    {
        let path = tracker.repo_path(&format!("/labels/{}", name.replace(' ', "%20")));
        client.write(Method::DELETE, &path, None).await?;
        done.push(format!(
            "deleted the label {name:?} (GitHub removes it from every issue)"
        ));
    }
    let mut deleted = 0;
    for c in comments.as_array().into_iter().flatten().take(3) {
        if let Some(id) = c["id"].as_u64() {
            let path = tracker.repo_path(&format!("/issues/comments/{id}"));
            client.write(Method::DELETE, &path, None).await?;
            deleted += 1;
        }
    }
    done.push(format!("deleted {deleted} comments"));
    Ok(done)
}

pub async fn run(args: DemoArgs) -> Result<Outcome> {
    if args.tracker == crate::cli::SandboxTracker::Jira {
        return super::demo_jira::run(args).await;
    }
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
    let github = Arc::new(GitHubTracker::new(&scope, &config)?);
    let tracker: Arc<dyn backtrack::Tracker> = github.clone();

    outln!(
        "{} — snapshots, diffs and in-place rollback for GitHub Issues",
        Paint::stdout().bold("backtrack demo")
    );
    outln!(
        "A sandbox GitHub serves {scope} ({} issues, {} comments) at {}",
        args.issues,
        args.comments,
        sandbox.base_url()
    );
    outln!(
        "The demo store is a temporary folder: {}",
        folder.path().display()
    );

    step(1, "Take a snapshot")?;
    command(&format!(
        "backtrack snapshot create {scope} --name before-sync"
    ))?;
    let archive = ctx.create_archive().await?;
    let report = archive
        .create_snapshot(
            tracker.clone(),
            &SnapshotOptions {
                name: Some(SnapshotName::parse("before-sync")?),
                progress: CaptureProgress::for_output(false, false, "capturing"),
                ..SnapshotOptions::default()
            },
        )
        .await?;
    outln!("{report}");
    outln!(
        "Repo-wide listings, 100 per page: {} requests for {} records, never one per issue.",
        report.requests,
        report.counts.total()
    );

    step(2, "A sync script goes wrong")?;
    for line in wreck(&github).await? {
        outln!("  ✗ {line}");
    }

    step(3, "See what changed")?;
    command(&format!("backtrack diff {scope}"))?;
    let compared = compare::compare(
        &archive,
        &scope,
        &DiffSides::parse(Some("before-sync"), Some("live"))?,
        &DiffOptions::default(),
        Some(&LiveSource {
            tracker: tracker.clone(),
            progress: Arc::new(NoProgress),
        }),
    )
    .await
    .map_err(backtrack::Error::from)?;
    let d = &compared.diff;
    let entry = archive.resolve(Some(&scope), "before-sync").await?;
    let target = backtrack::rollback::load_target(&archive, &entry).await?;
    let text = diff::render_text(
        d,
        &TextOptions {
            color: Paint::stdout().on,
            ..TextOptions::default()
        },
    );
    // The full diff is long; the tour shows its opening and its summary.
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() > 60 {
        for l in &lines[..40] {
            outln!("{l}");
        }
        outln!("  … {} more lines …", lines.len() - 52);
        for l in &lines[lines.len() - 12..] {
            outln!("{l}");
        }
    } else {
        out!("{text}");
    }

    step(4, "Preview the rollback (writes nothing)")?;
    command(&format!("backtrack rollback {scope} --to before-sync"))?;
    let options = RollbackOptions::validate(&RollbackRequest::default(), &entry, &target.records)?;
    let request = Rollback {
        target: &entry,
        records: &target,
        options: &options,
    };
    let preview = rollback::preview(
        &archive,
        tracker.clone(),
        &request,
        Arc::new(NoProgress),
        Executor::Process,
    )
    .await?;
    out!("{}", preview.plan);

    step(5, "Execute it")?;
    command(&format!(
        "backtrack rollback {scope} --to before-sync --execute --yes"
    ))?;
    let executed = rollback::execute(
        &archive,
        github.clone(),
        &request,
        &Confirmed::Plan(preview.fingerprint.clone()),
        &ExecuteOptions {
            holder: "demo".into(),
            ..ExecuteOptions::default()
        },
    )
    .await?;
    let Executed::Done(result) = executed else {
        anyhow::bail!("the demo repository changed between the preview and the rollback");
    };
    outln!(
        "Took pre-rollback snapshot {}, applied {} writes (one per planned operation).",
        result.pre_rollback_snapshot,
        result.executed.len()
    );

    step(6, "Verify")?;
    if result.verification.clean {
        outln!(
            "{} live state matches the snapshot in every restorable field.",
            Paint::stdout().green("✓ Verification clean:")
        );
    } else {
        outln!(
            "✗ {} difference(s) remain: {:?}",
            result.verification.residual.len(),
            result.verification.residual
        );
    }
    outln!(
        "  {} thing(s) could not be restored and were named before execution (deleted comments come back with an attribution line).",
        result.verification.irrecoverable.len()
    );
    outln!("  Undo the rollback itself with: {}", result.undo);
    let stats = sandbox.stats();
    outln!(
        "  The sandbox counted {} requests, {} of them writes.",
        stats.total,
        stats.writes
    );

    outln!(
        "\nDone. Rehearse on your own: `backtrack sandbox` prints a URL; export GITHUB_API_URL to it \
         and GITHUB_TOKEN={}, then use the same commands.",
        sandbox.token()
    );
    sandbox.shutdown().await;
    if !result.verification.clean {
        anyhow::bail!("the demo rollback did not verify clean; please report this");
    }
    Ok(Outcome::Success)
}
