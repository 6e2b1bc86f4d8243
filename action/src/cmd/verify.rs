//! `backtrack verify`: proves the archive is intact by re-hashing everything reachable.

use anyhow::{bail, Result};
use backtrack::Scope;

use super::{print_json, Outcome};
use crate::cli::VerifyArgs;
use crate::ctx::Context;

pub async fn run(ctx: &Context, args: VerifyArgs) -> Result<Outcome> {
    let archive = ctx.archive()?;
    let entries = match (&args.target, args.all) {
        (None, true) => archive.catalog.list(None).await?,
        (None, false) => bail!("say what to verify: a snapshot reference, a scope, or --all"),
        (Some(t), _) => match t.parse::<Scope>() {
            Ok(scope) => archive.catalog.list(Some(&scope)).await?,
            Err(_) if !t.contains(':') => vec![archive.resolve(None, t).await?],
            Err(e) => return Err(e.into()),
        },
    };
    let report = archive.verify(&entries).await?;
    if ctx.json {
        print_json(&report)?;
    } else if !ctx.quiet || !report.is_ok() {
        println!("{report}");
    }
    if !report.is_ok() {
        bail!(
            "{} problem(s) found in the archive; the snapshots named above cannot be fully restored",
            report.problems.len()
        );
    }
    Ok(Outcome::Success)
}
