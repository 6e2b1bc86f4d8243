//! `backtrack repair --reindex`: rebuilds a lost catalog's entries from the store's manifests
//! (the way out named when a catalog is missing beside manifests). The only command besides
//! `init` and `snapshot create` that may create a catalog: it exists to replace one.

use anyhow::{bail, Result};
use backtrack::repair;

use super::{print_json, Outcome};
use crate::cli::RepairArgs;
use crate::ctx::Context;

pub async fn run(ctx: &Context, args: RepairArgs) -> Result<Outcome> {
    if !args.reindex {
        bail!("say what to repair: --reindex rebuilds the catalog's entries from the store's manifests");
    }
    let archive = ctx.reindex_archive().await?;
    let report = repair::reindex(&archive).await?;
    if ctx.json {
        print_json(&report)?;
    } else if !ctx.quiet {
        outln!("{report}");
    }
    Ok(Outcome::Success)
}
