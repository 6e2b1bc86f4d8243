//! `backtrack rollback` and `backtrack restore`: preview by default; with `--execute`,
//! confirm, take a pre-rollback snapshot, apply, verify.

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use backtrack::rollback::{self, ExecuteOptions, Field, RollbackOptions, RollbackReport};
use backtrack::snapshot::Archive;
use backtrack::tracker::{GitHubConfig, WritePace};
use backtrack::{Scope, SnapshotEntry};
use serde_json::json;

use super::{print_json, Outcome};
use crate::cli::{RestoreArgs, RollbackArgs, RollbackFlags};
use crate::ctx::{parse_scope, Context};
use crate::progress::CaptureProgress;

pub async fn run(ctx: &Context, args: RollbackArgs) -> Result<Outcome> {
    let scope = parse_scope(&args.scope)?;
    let archive = ctx.archive().await?;
    let entry = archive
        .resolve(Some(&scope), &args.to)
        .await
        .with_context(|| format!("--to {}", args.to))?;
    rollback_to(ctx, &archive, entry, &args.flags).await
}

pub async fn restore(ctx: &Context, args: RestoreArgs) -> Result<Outcome> {
    let archive = ctx.archive().await?;
    let entry = archive.resolve(None, &args.reference).await?;
    rollback_to(ctx, &archive, entry, &args.flags).await
}

/// Parses `--only 12,#15` into issue numbers, checking each exists in the snapshot.
fn parse_only(
    keys: &[String],
    target: &backtrack::record::RecordSet,
) -> Result<Option<BTreeSet<u64>>> {
    if keys.is_empty() {
        return Ok(None);
    }
    let mut out = BTreeSet::new();
    let mut missing = Vec::new();
    for key in keys {
        let k = key.trim().trim_start_matches('#');
        if k.is_empty() {
            continue;
        }
        let n: u64 = k.parse().map_err(|_| {
            anyhow::anyhow!(
                "--only {} is not an issue number (expected e.g. 12,15,#20)",
                backtrack::sanitize::quote(key)
            )
        })?;
        if !target.issues.contains_key(&n) {
            missing.push(format!("#{n}"));
        }
        out.insert(n);
    }
    if !missing.is_empty() {
        bail!(
            "--only names issues that are not in the snapshot: {}; check the numbers, or pick another snapshot with --to",
            missing.join(", ")
        );
    }
    Ok(Some(out))
}

fn parse_fields(fields: &[String]) -> Result<Option<BTreeSet<Field>>> {
    if fields.is_empty() {
        return Ok(None);
    }
    let parsed = fields
        .iter()
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            f.parse::<Field>()
                .map_err(|e| anyhow::anyhow!("--fields: {e}"))
        })
        .collect::<Result<BTreeSet<_>>>()?;
    Ok(Some(parsed))
}

fn confirm(question: &str) -> Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn tracker_for(
    ctx: &Context,
    scope: &Scope,
    flags: &RollbackFlags,
) -> Result<Arc<dyn backtrack::Tracker>> {
    let mut config = GitHubConfig::from_env()?;
    config.pace = WritePace {
        min_interval: Duration::from_millis(flags.write_interval_ms),
        per_hour: flags.writes_per_hour,
    };
    ctx.tracker_with(scope, config)
}

pub async fn rollback_to(
    ctx: &Context,
    archive: &Archive,
    entry: SnapshotEntry,
    flags: &RollbackFlags,
) -> Result<Outcome> {
    let manifest = archive.load_manifest(&entry).await?;
    let target = archive.load_records(&manifest, true).await?;
    let mut options = RollbackOptions::new(entry.created_at);
    options.only = parse_only(&flags.only, &target)?;
    options.fields = parse_fields(&flags.fields)?;
    options.close_new_issues = flags.close_new_issues;
    options.delete_new_comments = flags.delete_new_comments;
    let tracker = tracker_for(ctx, &entry.scope, flags)?;
    let progress = CaptureProgress::for_output(ctx.json, ctx.quiet, "reading live state");

    let plan =
        rollback::execute::preview(tracker.clone(), &entry, &target, &options, progress.clone())
            .await?;
    if !flags.execute {
        if ctx.json {
            print_json(&json!({"executed": false, "plan": plan}))?;
        } else {
            super::emit(&plan.to_string())?;
            if !plan.is_empty() {
                println!(
                    "\nThis was a preview; nothing was written. Apply it with --execute (a pre-rollback snapshot is taken first)."
                );
            }
        }
        return Ok(Outcome::Success);
    }
    if !ctx.json && !ctx.quiet {
        super::emit(&plan.to_string())?;
    }
    if plan.is_empty() && !has_open_job(archive, &entry).await? {
        if ctx.json {
            print_json(&json!({"executed": false, "plan": plan}))?;
        } else {
            println!("Nothing to do.");
        }
        return Ok(Outcome::Success);
    }
    if !flags.yes {
        if !std::io::stdin().is_terminal() {
            return Err(backtrack::Error::Refused(
                "refusing to execute without confirmation: pass --yes (no terminal to ask on)"
                    .into(),
            )
            .into());
        }
        let question = format!(
            "Apply {} write(s) to {}? A pre-rollback snapshot is taken first.",
            plan.ops.len(),
            entry.scope
        );
        if !confirm(&question)? {
            return Err(
                backtrack::Error::Refused("rollback declined; nothing was written".into()).into(),
            );
        }
    }
    let show_ops = !ctx.json && !ctx.quiet && std::io::stderr().is_terminal();
    let exec = ExecuteOptions {
        holder: whoami(),
        capture_progress: progress,
        on_op: show_ops.then(|| {
            Arc::new(
                |op: &backtrack::rollback::PlannedOp, done: usize, total: usize| {
                    let first = op.op.to_string();
                    let first = first.lines().next().unwrap_or_default().to_string();
                    eprintln!("  [{done}/{total}] {first}");
                },
            ) as rollback::execute::OpProgress
        }),
        ..ExecuteOptions::default()
    };
    let report = rollback::execute(archive, tracker, &entry, &target, &options, &exec).await?;
    if ctx.json {
        print_json(&report)?;
    } else if !ctx.quiet {
        print_report(&report);
    }
    Ok(Outcome::Success)
}

async fn has_open_job(archive: &Archive, entry: &SnapshotEntry) -> Result<bool> {
    Ok(archive
        .catalog
        .list_jobs(&entry.scope)
        .await?
        .iter()
        .any(|j| !j.status.is_finished() && j.target == entry.id))
}

fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "someone".into())
}

fn print_report(r: &RollbackReport) {
    println!();
    if r.resumed {
        println!(
            "Resumed job {} ({} operation(s) were already done).",
            r.job, r.already_done
        );
    }
    println!(
        "Applied {} write(s). Pre-rollback snapshot: {}",
        r.executed.len(),
        r.pre_rollback_snapshot
    );
    if r.verification.clean {
        println!("Verification: clean — every restorable field matches the snapshot.");
    } else {
        println!(
            "Verification: {} difference(s) remain (re-run the same command to retry them):",
            r.verification.residual.len()
        );
        for op in &r.verification.residual {
            println!("  - {}", op.op);
        }
    }
    if !r.verification.irrecoverable.is_empty() {
        println!(
            "Not restorable ({}): see the plan above.",
            r.verification.irrecoverable.len()
        );
    }
    println!("Undo this rollback with: {}", r.undo);
}
