//! `backtrack export`: selected snapshots into one portable archive file (or stdout).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use backtrack::portable::{self, parse_time, Selection};

use super::{print_json, Outcome};
use crate::cli::{ExportArgs, SelectArgs};
use crate::ctx::{parse_scope, Context};

/// The flags as the library's selection.
pub fn selection(args: &SelectArgs) -> Result<Selection> {
    let time = |flag: &str, t: &Option<String>| -> Result<_> {
        t.as_deref()
            .map(|t| parse_time(t).map_err(|e| anyhow::anyhow!("{flag}: {e}")))
            .transpose()
    };
    Ok(Selection {
        refs: args.refs.clone(),
        scopes: args
            .scopes
            .iter()
            .map(|s| parse_scope(s))
            .collect::<Result<_>>()?,
        since: time("--since", &args.since)?,
        until: time("--until", &args.until)?,
        name: args.name.clone(),
        only_completed: args.only_completed,
    })
}

pub async fn run(ctx: &Context, args: ExportArgs) -> Result<Outcome> {
    let archive = ctx.archive().await?;
    let entries = selection(&args.select)?.select(&archive).await?;
    let report = if args.output == "-" {
        let out = std::io::BufWriter::new(std::io::stdout().lock());
        let (mut out, report) =
            portable::export(&archive, &entries, "stdout", out, args.decrypt).await?;
        out.flush().context("flushing stdout")?;
        report
    } else {
        // Written beside the destination and renamed into place, so a failed export never
        // leaves a file that looks like an archive.
        let path = PathBuf::from(&args.output);
        let partial = PathBuf::from(format!("{}.partial-{}", args.output, std::process::id()));
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let written = async {
            let (out, report) = portable::export(
                &archive,
                &entries,
                &path.display().to_string(),
                std::io::BufWriter::new(file),
                args.decrypt,
            )
            .await?;
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&partial, &path)
                .with_context(|| format!("cannot move the archive into {}", path.display()))?;
            anyhow::Ok(report)
        }
        .await;
        if written.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        written?
    };
    // With `-o -`, stdout carries the archive: the report goes to stderr.
    if args.output == "-" {
        if !ctx.quiet {
            eprintln!("{report}");
        }
    } else if ctx.json {
        print_json(&report)?;
    } else if !ctx.quiet {
        outln!("{report}");
    }
    Ok(Outcome::Success)
}
