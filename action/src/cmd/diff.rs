//! `backtrack diff`: field-level differences between two snapshots, or a snapshot and the
//! live tracker, as text, Markdown or JSON.

use std::io::IsTerminal;

use anyhow::{Context as _, Result};
use backtrack::diff::{self, DiffOptions, MarkdownOptions, Side, TextOptions};
use backtrack::record::RecordSet;
use backtrack::snapshot::{fetch_live, Archive};
use backtrack::{Scope, SnapshotEntry};

use super::Outcome;
use crate::cli::{DiffArgs, DiffFormat};
use crate::ctx::{parse_scope, Context};
use crate::progress::CaptureProgress;

/// One resolved side: its records and how to describe it.
async fn load_side(
    ctx: &Context,
    archive: &Archive,
    scope: &Scope,
    reference: &str,
    flag: &str,
) -> Result<(RecordSet, Side)> {
    if reference == "live" {
        let tracker = ctx.tracker(scope)?;
        let progress = CaptureProgress::for_output(ctx.json, ctx.quiet, "reading live state");
        let mut set = fetch_live(tracker, progress, false)
            .await
            .with_context(|| format!("reading the live state of {scope} failed"))?;
        super::comment::drop_reports(&mut set);
        return Ok((set, Side::live(scope)));
    }
    let entry = resolve(archive, scope, reference, flag).await?;
    let manifest = archive.load_manifest(&entry).await?;
    let mut set = archive.load_records(&manifest, false).await?;
    super::comment::drop_reports(&mut set);
    Ok((set, side_of(scope, &entry)))
}

async fn resolve(
    archive: &Archive,
    scope: &Scope,
    reference: &str,
    flag: &str,
) -> Result<SnapshotEntry> {
    archive
        .resolve(Some(scope), reference)
        .await
        .with_context(|| format!("{flag} {reference}"))
}

fn side_of(scope: &Scope, entry: &SnapshotEntry) -> Side {
    Side::snapshot(
        scope,
        entry.id.to_string(),
        entry.name.clone(),
        Some(entry.created_at),
    )
}

pub async fn run(ctx: &Context, args: DiffArgs) -> Result<Outcome> {
    let scope = parse_scope(&args.scope)?;
    let needs_token = args.from == "live" || args.to == "live";
    if needs_token {
        // Anonymous access would work for public repositories, but at 60 requests an hour
        // it fails halfway through any real repository: ask for a token up front.
        if backtrack::tracker::GitHubConfig::from_env()?
            .token
            .is_none()
        {
            anyhow::bail!(
                "comparing with `live` needs GitHub access: set GITHUB_TOKEN (or GH_TOKEN), or compare two snapshots with --from and --to"
            );
        }
    }
    let archive = ctx.archive().await?;
    let (from, from_side, to, to_side) = if args.from != "live" && args.to != "live" {
        // Two stored snapshots: read only the records that differ.
        let a = resolve(&archive, &scope, &args.from, "--from").await?;
        let b = resolve(&archive, &scope, &args.to, "--to").await?;
        let (ma, mb) = (
            archive.load_manifest(&a).await?,
            archive.load_manifest(&b).await?,
        );
        let (from, to) = archive.load_changed_pair(&ma, &mb).await?;
        (from, side_of(&scope, &a), to, side_of(&scope, &b))
    } else {
        let (from, from_side) = load_side(ctx, &archive, &scope, &args.from, "--from").await?;
        let (to, to_side) = load_side(ctx, &archive, &scope, &args.to, "--to").await?;
        (from, from_side, to, to_side)
    };
    let opts = DiffOptions {
        include_prs: !args.no_prs,
        ..DiffOptions::default()
    };
    let d = diff::diff(&from, &to, &opts).with_sides(from_side, to_side);
    // `--json` is the global machine-output switch; it means `--format json` here.
    let format = if ctx.json {
        DiffFormat::Json
    } else {
        args.format
    };
    let rendered = match format {
        DiffFormat::Json => diff::render_json(&d)?,
        DiffFormat::Markdown => {
            let (owner, repo) = scope.github_repo().unwrap_or_default();
            diff::render_markdown(
                &d,
                &MarkdownOptions {
                    issue_url_base: Some(format!("https://github.com/{owner}/{repo}/issues/")),
                    max_chars: args.max_chars,
                    full_diff_command: Some(format!(
                        "backtrack diff {scope} --from {} --to {} --format text",
                        args.from, args.to
                    )),
                    ..MarkdownOptions::default()
                },
            )
        }
        DiffFormat::Text => diff::render_text(
            &d,
            &TextOptions {
                color: args.output.is_none()
                    && std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none(),
                ..TextOptions::default()
            },
        ),
    };
    match &args.output {
        Some(path) => std::fs::write(path, rendered.as_bytes())
            .with_context(|| format!("cannot write the diff to {}", path.display()))?,
        None => super::emit(&rendered)?,
    }
    Ok(if args.exit_code && !d.is_empty() {
        Outcome::Changes
    } else {
        Outcome::Success
    })
}
