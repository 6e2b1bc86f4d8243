//! `backtrack rollback` and `backtrack restore`: preview by default; with `--execute`,
//! confirm, take a pre-rollback snapshot, check the plan is the one confirmed, apply,
//! verify.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use backtrack::rollback::target::Target;
use backtrack::rollback::{
    self, Confirmed, ExecuteOptions, Executed, Executor, JiraRequest, PlanChange, PlanFingerprint,
    Preview, Rollback, RollbackPlan, RollbackReport, RollbackRequest,
};
use backtrack::snapshot::{Archive, Resolved, SnapshotRef};
use backtrack::tracker::{GitHubConfig, JiraTracker, TrackerWriter, WritePace};
use backtrack::Scope;
use serde_json::json;

use super::snapshot::Need;
use super::{print_json, Outcome};
use crate::cli::{RestoreArgs, RollbackArgs, RollbackFlags};
use crate::ctx::{parse_scope, Context};
use crate::progress::CaptureProgress;
use crate::step::{code, code_block, StepOutputs};

pub async fn run(ctx: &Context, args: RollbackArgs) -> Result<Outcome> {
    let scope = parse_scope(&args.scope)?;
    let archive = ctx.archive().await?;
    let resolved = async {
        archive
            .find(Some(&scope), &SnapshotRef::parse(&args.to)?)
            .await
    }
    .await
    .and_then(Resolved::completed)
    .with_context(|| format!("--to {}", args.to))?;
    rollback_to(ctx, &archive, (Some("--to"), resolved), &args.flags).await
}

pub async fn restore(ctx: &Context, args: RestoreArgs) -> Result<Outcome> {
    let archive = ctx.archive().await?;
    let resolved = super::snapshot::find(&archive, &args.reference, Need::Completed).await?;
    let into = args
        .into
        .as_deref()
        .map(|s| parse_scope(s).context("--into"))
        .transpose()?;
    rollback_to_scope(ctx, &archive, (None, resolved), &args.flags, into).await
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

fn writer_for(
    ctx: &Context,
    scope: &Scope,
    flags: &RollbackFlags,
) -> Result<Arc<dyn TrackerWriter>> {
    let pace = pace_of(flags);
    if scope.tracker() == backtrack::scope::TrackerKind::Jira {
        let mut config = ctx.jira_config()?;
        config.pace = pace;
        return Ok(Arc::new(JiraTracker::new(scope, &config)?));
    }
    let mut config = GitHubConfig::from_env()?;
    config.pace = pace;
    ctx.writer_with(scope, config)
}

fn pace_of(flags: &RollbackFlags) -> WritePace {
    WritePace {
        min_interval: Duration::from_millis(flags.write_interval_ms),
        per_hour: flags.writes_per_hour,
    }
}

/// Prints a preview (text, or JSON with `executed: false`), with the least time its
/// remaining writes take at the write pace.
fn print_preview(
    ctx: &Context,
    preview: &Preview,
    resolved: &Resolved,
    flags: &RollbackFlags,
) -> Result<()> {
    let least = pace_of(flags).least_time_for(preview.remaining() as u64);
    if ctx.json {
        return print_json(&json!({
            "executed": false,
            "fingerprint": preview.fingerprint,
            "plan": preview.plan,
            "resuming": preview.resuming,
            "resolved": resolved,
            "least_write_seconds": least.as_secs_f64().ceil() as u64,
        }));
    }
    super::emit(&preview.plan.to_string())?;
    if least >= Duration::from_secs(60) {
        let cap = match flags.writes_per_hour {
            0 => String::new(),
            n => format!(", at most {n} an hour"),
        };
        outln!(
            "\nAt the write pace ({} ms apart{cap}: --write-interval-ms, --writes-per-hour), its {} write(s) take at least {}.",
            flags.write_interval_ms,
            preview.remaining(),
            backtrack::units::about_duration(least)
        );
    }
    if let Some(r) = &preview.resuming {
        outln!(
            "\nAn interrupted rollback with these options is pending (job {}): {} of its {} write(s) are done; --execute resumes it.",
            r.job,
            r.done.len(),
            preview.plan.ops.len()
        );
    }
    Ok(())
}

pub async fn rollback_to(
    ctx: &Context,
    archive: &Archive,
    resolved: (Option<&str>, Resolved),
    flags: &RollbackFlags,
) -> Result<Outcome> {
    rollback_to_scope(ctx, archive, resolved, flags, None).await
}

/// Rolls back in place, or with `into` copies the snapshot into that other scope.
async fn rollback_to_scope(
    ctx: &Context,
    archive: &Archive,
    (flag, resolved): (Option<&str>, Resolved),
    flags: &RollbackFlags,
    into: Option<Scope>,
) -> Result<Outcome> {
    let entry = resolved.entry.clone();
    let request = RollbackRequest {
        only: flags.only.clone(),
        fields: flags.fields.clone(),
        close_new_issues: flags.close_new_issues,
        delete_new_comments: flags.delete_new_comments,
        by: flags.by.clone(),
        since: flags.since.clone(),
    };
    let jira = JiraRequest {
        delete_new_subtasks: flags.delete_new_subtasks,
        delete_new_issues: flags.delete_new_issues,
        recreate_deleted: flags.recreate_deleted,
    };
    let (target, options) =
        backtrack::rollback::prepare(archive, &entry, &request, &jira, into.as_ref()).await?;
    let options =
        options.map_err(|e| anyhow::anyhow!("--{}: {}", e.field.replace('_', "-"), e.message))?;
    let given: Option<PlanFingerprint> = flags
        .plan
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: String| anyhow::anyhow!("--plan: {e}"))?;
    // Said once the options are valid, so a refused command prints one line: its error.
    super::note_resolved(ctx, flag, &resolved);
    let scope = options.destination().unwrap_or(&entry.scope).clone();
    let tracker = writer_for(ctx, &scope, flags)?;
    let progress = CaptureProgress::for_output(ctx.json, ctx.quiet, "reading live state");
    let wanted = Rollback {
        target: &entry,
        records: &target,
        options: &options,
    };
    // Kept by fingerprint, so that `--execute --plan FINGERPRINT` can say what changed.
    let mut preview = rollback::preview(
        archive,
        tracker.clone().reader(),
        &wanted,
        progress.clone(),
        Executor::Process,
    )
    .await?;
    if !flags.execute {
        print_preview(ctx, &preview, &resolved, flags)?;
        if !ctx.json && !preview.is_empty() {
            outln!(
                "\nThis was a preview; nothing was written. Apply it with --execute (a pre-rollback snapshot is taken first)."
            );
        }
        if let Some(step) = &ctx.step {
            step.set("changes", if preview.is_empty() { "false" } else { "true" })?;
            step.summary(&format!(
                "### backtrack: rollback preview for {} → {}\n\nNothing was written. Apply it with `--execute` (in the Action: `execute: true` and `to:` this snapshot).\n\n{}",
                code(&scope.to_string()),
                code(&resolved_label(&resolved)),
                code_block(&preview.plan.to_string())
            ))?;
        }
        return Ok(Outcome::Success);
    }
    if !ctx.json && !ctx.quiet {
        print_preview(ctx, &preview, &resolved, flags)?;
    }
    if preview.is_empty() {
        if ctx.json {
            print_preview(ctx, &preview, &resolved, flags)?;
        } else {
            outln!("Nothing to do.");
        }
        if let Some(step) = &ctx.step {
            step.set("changes", "false")?;
            step.summary(&format!(
                "### ✅ backtrack: {} already matches {}\n\nNothing to do; nothing was written.\n",
                code(&scope.to_string()),
                code(&resolved_label(&resolved)),
            ))?;
        }
        return Ok(Outcome::Success);
    }
    // What the user confirmed: the plan named by --plan, else the preview just shown.
    let mut confirmed: (PlanFingerprint, Option<RollbackPlan>) = match given.clone() {
        Some(fp) if fp != preview.fingerprint => {
            let previewed = rollback::kept_preview(archive, &scope, &fp).await?;
            if flags.replan {
                (fp, previewed)
            } else {
                let change = match &previewed {
                    Some(p) => PlanChange::between(p, &preview.plan),
                    None => PlanChange::unknown(fp, &preview.plan),
                };
                ask_again(ctx, flags, &scope, change, &preview.plan)?;
                (preview.fingerprint.clone(), Some(preview.plan.clone()))
            }
        }
        _ => (preview.fingerprint.clone(), Some(preview.plan.clone())),
    };
    if !flags.yes && given.is_none() {
        if !std::io::stdin().is_terminal() {
            return Err(backtrack::Error::Refused(
                "refusing to execute without confirmation: pass --yes (no terminal to ask on)"
                    .into(),
            )
            .into());
        }
        let question = format!(
            "Apply {} write(s) to {}? A pre-rollback snapshot is taken first.",
            preview.remaining(),
            scope
        );
        if !confirm(&question)? {
            return Err(
                backtrack::Error::Refused("rollback declined; nothing was written".into()).into(),
            );
        }
    }
    // The engine reads the target again once its pre-rollback snapshot is taken: the
    // preview's copy is let go, so the capture and the target never share memory.
    let deferred = Target::deferred();
    let wanted = Rollback {
        target: &entry,
        records: &deferred,
        options: &options,
    };
    drop(target);
    loop {
        let replanned: Arc<Mutex<Option<PlanChange>>> = Arc::default();
        let exec = execute_options(ctx, flags, &confirmed, &replanned, progress.clone());
        let expected = if flags.replan {
            Confirmed::Replan
        } else {
            Confirmed::Plan(confirmed.0.clone())
        };
        let executed =
            rollback::execute(archive, tracker.clone(), &wanted, &expected, &exec).await?;
        let plan = match executed {
            Executed::Done(report) => {
                let replanned = replanned.lock().ok().and_then(|mut r| r.take());
                if ctx.json {
                    let mut out = serde_json::to_value(&report)?;
                    out["replanned"] = json!(replanned);
                    out["resolved"] = json!(resolved);
                    print_json(&out)?;
                } else if !ctx.quiet {
                    super::emit(&report_text(&report))?;
                }
                if let Some(step) = &ctx.step {
                    step_report(step, &report, &resolved)?;
                }
                return Ok(Outcome::Success);
            }
            Executed::Changed(plan) => plan,
        };
        let change = match &confirmed.1 {
            Some(previewed) => PlanChange::between(previewed, &plan),
            None => PlanChange::unknown(confirmed.0.clone(), &plan),
        };
        ask_again(ctx, flags, &scope, change, &plan)?;
        preview = Preview::new(*plan);
        confirmed = (preview.fingerprint.clone(), Some(preview.plan.clone()));
    }
}

/// The plan changed since it was confirmed: shows how, and on a terminal without `--yes`
/// asks whether to run `plan` instead; otherwise (or when declined) refuses, exit 3.
fn ask_again(
    ctx: &Context,
    flags: &RollbackFlags,
    scope: &Scope,
    change: PlanChange,
    plan: &RollbackPlan,
) -> Result<()> {
    if flags.yes || !std::io::stdin().is_terminal() {
        if ctx.json {
            print_json(
                &json!({"executed": false, "plan_changed": change, "fingerprint": plan.fingerprint(), "plan": plan}),
            )?;
        }
        return Err(anyhow::Error::new(backtrack::Error::PlanChanged(Box::new(change)))
            .context("refusing to execute: the tracker moved since the plan was confirmed and nothing was written; review the new preview, or pass --replan to run it"));
    }
    eprintln!("\nThe tracker moved since the preview: {change}\n");
    super::emit(&plan.to_string())?;
    let question = format!(
        "The plan changed. Apply the new plan ({} write(s)) to {}? A new pre-rollback snapshot is taken first.",
        plan.ops.len(),
        scope
    );
    if !confirm(&question)? {
        return Err(backtrack::Error::Refused(
            "rollback declined after the plan changed; nothing was written".into(),
        )
        .into());
    }
    Ok(())
}

/// How the CLI runs the engine: progress lines on a terminal, and with `--replan` a note
/// (kept for the report) of how the plan differs from the preview.
fn execute_options(
    ctx: &Context,
    flags: &RollbackFlags,
    confirmed: &(PlanFingerprint, Option<RollbackPlan>),
    replanned: &Arc<Mutex<Option<PlanChange>>>,
    progress: Arc<dyn backtrack::tracker::Progress>,
) -> ExecuteOptions {
    let show_ops = !ctx.json && !ctx.quiet && std::io::stderr().is_terminal();
    let on_plan = flags.replan.then(|| {
        let confirmed = confirmed.clone();
        let replanned = replanned.clone();
        let quiet = ctx.quiet;
        Arc::new(move |plan: &RollbackPlan| {
            if plan.fingerprint() == confirmed.0 {
                return;
            }
            let change = match &confirmed.1 {
                Some(previewed) => PlanChange::between(previewed, plan),
                None => PlanChange::unknown(confirmed.0.clone(), plan),
            };
            if !quiet {
                eprintln!(
                    "The plan changed since the preview ({}); executing the new plan of {} write(s) (--replan).",
                    change.summary(),
                    plan.ops.len()
                );
            }
            if let Ok(mut slot) = replanned.lock() {
                *slot = Some(change);
            }
        }) as rollback::PlanProgress
    });
    ExecuteOptions {
        holder: whoami(),
        capture_progress: progress,
        on_plan,
        on_op: show_ops.then(|| {
            Arc::new(
                |op: &backtrack::rollback::PlannedOp, done: usize, total: usize| {
                    let first = op.op.to_string();
                    let first = first.lines().next().unwrap_or_default().to_string();
                    eprintln!("  [{done}/{total}] {first}");
                },
            ) as rollback::OpProgress
        }),
    }
}

fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "someone".into())
}

/// What people read after an executed rollback (and the job summary's code block).
fn report_text(r: &RollbackReport) -> String {
    use std::fmt::Write as _;
    let mut t = String::from("\n");
    if r.resumed {
        let _ = writeln!(
            t,
            "Resumed job {} ({} operation(s) were already done).",
            r.job, r.already_done
        );
    }
    let _ = writeln!(
        t,
        "Applied {} write(s). Pre-rollback snapshot: {}",
        r.executed.len(),
        r.pre_rollback_snapshot
    );
    let _ = writeln!(t, "Plan executed: {}", r.fingerprint);
    if !r.moved.is_empty() {
        let _ = writeln!(t, "Copies (old → new), {} issue(s):", r.moved.len());
        for m in &r.moved {
            let _ = writeln!(t, "  {} → {}", m.from, m.to);
        }
    }
    if r.verification.clean {
        let _ = writeln!(
            t,
            "Verification: clean — every restorable field matches the snapshot."
        );
    } else {
        let _ = writeln!(
            t,
            "Verification: {} difference(s) remain (re-run the same command to retry them):",
            r.verification.residual.len()
        );
        for op in &r.verification.residual {
            let _ = writeln!(t, "  - {}", op.op);
        }
    }
    let copy = r.plan.options.destination().is_some();
    if !r.verification.irrecoverable.is_empty() {
        let _ = writeln!(
            t,
            "{} ({}): see the plan above.",
            if copy {
                "Lost in the copy"
            } else {
                "Not restorable"
            },
            r.verification.irrecoverable.len()
        );
    }
    if !r.recreated.is_empty() {
        let _ = writeln!(t, "Recreated under new keys ({}):", r.recreated.len());
        for (old, new) in &r.recreated {
            let _ = writeln!(
                t,
                "  {} → {}",
                backtrack::sanitize::visible(old),
                backtrack::sanitize::visible(new)
            );
        }
    }
    let _ = write!(
        t,
        "Undo this {} with: {}",
        if copy { "restore" } else { "rollback" },
        r.undo
    );
    if !r.recreated.is_empty() {
        // Undo restores the pre-rollback snapshot, which has no recreations: they are new
        // there, and new issues are only deleted when asked.
        let _ = write!(
            t,
            "\n  (the undo leaves the recreated issues in place and names them; add \
             --delete-new-issues --delete-new-subtasks to it to delete them too)"
        );
    }
    t
}

/// The snapshot a rollback went to, for the summary: its id, and its name if it has one.
fn resolved_label(resolved: &Resolved) -> String {
    match &resolved.name {
        Some(name) => format!("{} ({})", resolved.id, backtrack::sanitize::visible(name)),
        None => resolved.id.to_string(),
    }
}

/// `--github-output` after an executed rollback: whether anything was written, the
/// pre-rollback snapshot (the way back), and the report in the job summary.
fn step_report(step: &StepOutputs, r: &RollbackReport, resolved: &Resolved) -> Result<()> {
    let wrote = !r.executed.is_empty() || r.already_done > 0;
    step.set("changes", if wrote { "true" } else { "false" })?;
    step.set("snapshot-id", &r.pre_rollback_snapshot.to_string())?;
    let outcome = if r.verification.clean {
        "✅ backtrack: rolled back"
    } else {
        "⚠️ backtrack: rolled back, with differences left,"
    };
    step.summary(&format!(
        "### {outcome} {} to {}\n\nPre-rollback snapshot {}: undo with {}.\n\n{}",
        code(&resolved.scope.to_string()),
        code(&resolved_label(resolved)),
        code(&r.pre_rollback_snapshot.to_string()),
        code(&r.undo),
        code_block(&format!("{}{}", r.plan, report_text(r)))
    ))
}
