//! `backtrack verify`: proves the archive is intact by re-hashing everything reachable, and
//! names every snapshot that can no longer be restored whole. Exit code 2 when anything is
//! damaged (as for any error), 0 otherwise.

use anyhow::{bail, Result};
use backtrack::snapshot::VerifyOptions;
use backtrack::Scope;

use super::{print_json, Outcome};
use crate::cli::VerifyArgs;
use crate::ctx::Context;

pub async fn run(ctx: &Context, args: VerifyArgs) -> Result<Outcome> {
    let archive = ctx.archive().await?;
    let entries = match (&args.target, args.all) {
        (None, true) => archive.catalog.list(None).await?,
        (None, false) => bail!("say what to verify: a snapshot reference, a scope, or --all"),
        (Some(t), _) => match t.parse::<Scope>() {
            Ok(scope) => archive.catalog.list(Some(&scope)).await?,
            Err(_) if !t.contains(':') => vec![archive.resolve(None, t).await?],
            Err(e) => return Err(e.into()),
        },
    };
    let opts = VerifyOptions {
        record_hashes: args.record_hashes,
    };
    let report = archive.verify_with(&entries, opts).await?;
    if ctx.json {
        print_json(&report)?;
    } else if !ctx.quiet || !report.is_ok() {
        println!("{report}");
    }
    if !report.is_ok() {
        bail!(
            "{} damaged object(s): {} of {} snapshot(s) cannot be restored whole; take a fresh full snapshot (`backtrack snapshot create SCOPE --full`) and see the README's Integrity section",
            report.damaged.len(),
            report.unrestorable.len(),
            report.snapshots
        );
    }
    Ok(Outcome::Success)
}
