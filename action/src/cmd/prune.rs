//! `backtrack prune`: retention plus blob garbage collection; a preview unless `--execute`.
//! The rules, the locking and the store-wide exclusion live in `backtrack::prune`.

use anyhow::{Context as _, Result};
use backtrack::prune::{self, PruneOptions, Retention};
use backtrack::units::parse_duration;

use super::{print_json, Outcome};
use crate::cli::PruneArgs;
use crate::ctx::{parse_scope, Context};

pub async fn run(ctx: &Context, args: PruneArgs) -> Result<Outcome> {
    let scope = parse_scope(&args.scope)?;
    let keep_within = args
        .keep_within
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(anyhow::Error::msg)
        .context("--keep-within")?;
    let opts = PruneOptions {
        grace: parse_duration(&args.grace)
            .map_err(anyhow::Error::msg)
            .context("--grace")?,
        lease: ctx.lease()?,
        ..PruneOptions::new(Retention::new(args.keep_last, keep_within)?)
    };
    let archive = ctx.archive().await?;
    let report = prune::run(&archive, &scope, &opts, args.execute, "prune").await?;
    if ctx.json {
        print_json(&report)?;
    } else {
        outln!("{}", report.plan);
        if let Some(note) = &report.compacted {
            outln!("{note}");
        }
        let plan = &report.plan;
        if !report.executed && (!plan.drop.is_empty() || !plan.blobs.is_empty()) {
            outln!("This was a preview; run again with --execute to delete.");
        }
    }
    Ok(Outcome::Success)
}
