//! `backtrack report`: the snapshot timeline and a diff as one self-contained HTML file,
//! with the rollback plan back to `--from` when asked. Comparing, charting, planning and
//! rendering are `backtrack::report`'s; this only reads flags, credentials and writes the file.

use anyhow::{Context as _, Result};
use backtrack::compare::{CompareError, DiffSide, DiffSides, LiveSource};
use backtrack::config::env;
use backtrack::diff::DiffOptions;
use backtrack::report::{self, ReportOptions};
use backtrack::units::parse_duration;
use serde_json::json;

use super::{print_json, Outcome};
use crate::cli::ReportArgs;
use crate::ctx::{parse_scope, Context};
use crate::progress::CaptureProgress;

pub async fn run(ctx: &Context, args: ReportArgs) -> Result<Outcome> {
    let scope = parse_scope(&args.scope)?;
    let sides =
        DiffSides::parse(Some(&args.from), Some(&args.to)).map_err(backtrack::Error::from)?;
    let since = match &args.since {
        Some(text) => {
            let window =
                parse_duration(text).map_err(|e| anyhow::anyhow!("--since {text}: {e}"))?;
            let window = chrono::Duration::from_std(window)
                .map_err(|_| anyhow::anyhow!("--since {text}: too long"))?;
            Some(chrono::Utc::now() - window)
        }
        None => None,
    };
    let plan_target = match (&sides.from, args.plan) {
        (_, false) => None,
        (DiffSide::Snapshot(reference), true) => Some(reference.clone()),
        (DiffSide::Live, true) => anyhow::bail!(
            "--plan shows the rollback back to --from, which is `live`: name a snapshot with --from"
        ),
    };
    // Checked before anything is read: a report that cannot be written is no report.
    if let Some(parent) = args.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        anyhow::ensure!(
            parent.is_dir(),
            "-o {}: the folder {} does not exist",
            args.output.display(),
            parent.display()
        );
    }
    let needs_tracker = sides.needs_live() || args.plan;
    if needs_tracker
        && scope.tracker() == backtrack::scope::TrackerKind::GitHub
        && !backtrack::tracker::GitHubConfig::from_env()?
            .with_app_from_env()?
            .has_credentials()
    {
        anyhow::bail!(
            "reading the live tracker (`live` or --plan) needs GitHub access: set {} (or {}), or compare two snapshots with --from and --to and leave --plan out",
            env::GITHUB_TOKEN,
            env::GH_TOKEN
        );
    }
    let live = if sides.needs_live() {
        Some(LiveSource {
            tracker: ctx.tracker(&scope)?,
            progress: CaptureProgress::for_output(ctx.json, ctx.quiet, "reading live state"),
        })
    } else {
        None
    };
    let archive = ctx.archive().await?;
    let plan = if let Some(reference) = &plan_target {
        let target = archive
            .find(Some(&scope), reference)
            .await
            .and_then(backtrack::snapshot::Resolved::completed)
            .with_context(|| format!("--from {reference}"))?;
        let progress = CaptureProgress::for_output(ctx.json, ctx.quiet, "planning the rollback");
        Some(report::rollback_plan(&archive, &target, ctx.tracker(&scope)?, progress).await?)
    } else {
        None
    };
    let options = ReportOptions {
        diff: DiffOptions {
            include_prs: !args.no_prs,
            ..DiffOptions::default()
        },
        since,
    };
    let generated = match report::generate(
        &archive,
        &scope,
        &sides,
        &options,
        live.as_ref(),
        plan.as_ref(),
    )
    .await
    {
        Ok(g) => g,
        Err(CompareError::Other(e)) => {
            return Err(anyhow::Error::from(*e).context(format!("reporting on {scope} failed")))
        }
        Err(e) => return Err(backtrack::Error::from(e).into()),
    };
    for (which, resolved) in generated.comparison.resolved() {
        super::note_resolved(ctx, Some(&which.to_string()), resolved);
    }
    std::fs::write(&args.output, generated.html.as_bytes())
        .with_context(|| format!("cannot write the report to {}", args.output.display()))?;
    let diff = &generated.comparison.diff;
    let path = args.output.display().to_string();
    if let Some(step) = &ctx.step {
        step.set("report-file", &path)?;
        step.set("changes", if diff.is_empty() { "false" } else { "true" })?;
    }
    if ctx.json {
        print_json(&json!({
            "file": path,
            "bytes": generated.html.len(),
            "changes": diff.summary.total,
            "summary": diff.summary,
            "snapshots": generated.timeline.points.len(),
            "plan_ops": plan.as_ref().map(|p| p.ops.len()),
        }))?;
    } else if !ctx.quiet {
        eprintln!(
            "Wrote {path} ({}): {} change(s), {} snapshot(s) on the timeline{}.",
            backtrack::units::human_bytes(generated.html.len() as u64),
            diff.summary.total,
            generated.timeline.points.len(),
            plan.as_ref()
                .map(|p| format!(", a rollback plan of {} write(s)", p.ops.len()))
                .unwrap_or_default()
        );
    }
    Ok(Outcome::Success)
}
