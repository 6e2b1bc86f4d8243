//! `backtrack diff`: field-level differences between two snapshots, or a snapshot and the
//! live tracker, as text, Markdown or JSON. Sides, report filtering and the Markdown options
//! come from `backtrack::compare` and `backtrack::diff`, which the diff function shares.

use anyhow::{Context as _, Result};
use backtrack::compare::{self, CompareError, DiffSides, LiveSource};
use backtrack::config::env;
use backtrack::diff::{self, DiffOptions, MarkdownOptions, TextOptions};

use super::Outcome;
use crate::cli::{DiffArgs, DiffFormat};
use crate::ctx::{parse_scope, Context};
use crate::progress::CaptureProgress;

pub async fn run(ctx: &Context, args: DiffArgs) -> Result<Outcome> {
    let scope = parse_scope(&args.scope)?;
    let sides =
        DiffSides::parse(Some(&args.from), Some(&args.to)).map_err(backtrack::Error::from)?;
    // `--json` is the global machine-output switch; it means `--format json` here.
    let format = if ctx.json {
        DiffFormat::Json
    } else {
        args.format
    };
    // Checked before anything is read, so a bad flag costs nothing.
    let max_chars = (format == DiffFormat::Markdown).then_some(args.max_chars);
    let live = if sides.needs_live() {
        // Anonymous access would work for public repositories, but at 60 requests an hour
        // it fails halfway through any real repository: ask for a token up front.
        if scope.tracker() == backtrack::scope::TrackerKind::GitHub
            && !backtrack::tracker::GitHubConfig::from_env()?
                .with_app_from_env()?
                .has_credentials()
        {
            anyhow::bail!(
                "comparing with `live` needs GitHub access: set {} (or {}), or compare two snapshots with --from and --to",
                env::GITHUB_TOKEN,
                env::GH_TOKEN
            );
        }
        Some(LiveSource {
            tracker: ctx.tracker(&scope)?,
            progress: CaptureProgress::for_output(ctx.json, ctx.quiet, "reading live state"),
        })
    } else {
        None
    };
    let archive = ctx.archive().await?;
    let opts = DiffOptions {
        include_prs: !args.no_prs,
        ..DiffOptions::default()
    };
    let compared = match compare::compare(&archive, &scope, &sides, &opts, live.as_ref()).await {
        Ok(c) => c,
        Err(CompareError::Other(e)) => {
            return Err(anyhow::Error::from(*e).context(format!("comparing {scope} failed")))
        }
        // A side that does not resolve says which, and why.
        Err(e) => return Err(backtrack::Error::from(e).into()),
    };
    for warning in &compared.warnings {
        eprintln!("warning: {}", backtrack::sanitize::error_line(warning));
    }
    for (which, resolved) in compared.resolved() {
        super::note_resolved(ctx, Some(&which.to_string()), resolved);
    }
    if let Some(path) = &args.report {
        let (html, _) =
            backtrack::report::for_comparison(&archive, &scope, &compared, None, None).await?;
        std::fs::write(path, html.as_bytes())
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
        if let Some(step) = &ctx.step {
            step.set("report-file", &path.display().to_string())?;
        }
    }
    let d = &compared.diff;
    let rendered = match format {
        DiffFormat::Json => diff::render_json(d)?,
        DiffFormat::Markdown => {
            diff::render_markdown(d, &MarkdownOptions::for_diff(&scope, d, max_chars)?)
        }
        DiffFormat::Text => diff::render_text(
            d,
            &TextOptions {
                color: args.output.is_none() && crate::term::stdout_color(),
                ..TextOptions::default()
            },
        ),
    };
    match &args.output {
        Some(path) => std::fs::write(path, rendered.as_bytes())
            .with_context(|| format!("cannot write the diff to {}", path.display()))?,
        None => super::emit(&rendered)?,
    }
    if let Some(step) = &ctx.step {
        step.set("changes", if d.is_empty() { "false" } else { "true" })?;
        if let (DiffFormat::Markdown, Some(path)) = (format, &args.output) {
            step.set("diff-markdown-file", &path.display().to_string())?;
        }
        // Markdown brings its own heading; the other formats go in a code block.
        let body = match format {
            DiffFormat::Markdown => rendered.clone(),
            _ => crate::step::code_block(&rendered),
        };
        step.summary(&format!(
            "**backtrack diff** of {}\n\n{body}\n",
            crate::step::code(&scope.to_string())
        ))?;
    }
    Ok(if args.exit_code && !d.is_empty() {
        Outcome::Changes
    } else {
        Outcome::Success
    })
}
