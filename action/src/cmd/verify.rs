//! `backtrack verify`: proves the archive is intact by re-hashing everything reachable, and
//! names every snapshot that can no longer be restored whole. Exit code 2 when anything is
//! damaged (as for any error), 0 otherwise.

use anyhow::{bail, Result};
use backtrack::repair;
use backtrack::snapshot::VerifyOptions;
use backtrack::Scope;

use super::{print_json, Outcome};
use crate::cli::VerifyArgs;
use crate::ctx::Context;

pub async fn run(ctx: &Context, args: VerifyArgs) -> Result<Outcome> {
    let archive = ctx.archive().await?;
    let mut resolved = None;
    let entries = match (&args.target, args.all) {
        (None, true) => archive.entries(None).await?,
        (None, false) => bail!("say what to verify: a snapshot reference, a scope, or --all"),
        (Some(t), _) => match t.parse::<Scope>() {
            Ok(scope) => archive.entries(Some(&scope)).await?,
            Err(_) if !t.contains(':') => {
                let r = super::snapshot::find(&archive, t, super::snapshot::Need::Any).await?;
                super::note_resolved(ctx, None, &r);
                let entry = r.entry.clone();
                resolved = Some(r);
                vec![archive.standing(entry).await?]
            }
            Err(e) => return Err(e.into()),
        },
    };
    let opts = VerifyOptions {
        record_hashes: args.record_hashes,
    };
    let mut report = archive.verify_with(&entries, opts).await?;
    if args.all {
        // Everything means the store too: manifests the catalog does not know are snapshots
        // no command can restore.
        report.unindexed = repair::unindexed_manifests(&archive).await?;
    }
    if ctx.json {
        match &resolved {
            Some(resolved) => print_json(&super::WithResolved {
                resolved,
                output: &report,
            })?,
            None => print_json(&report)?,
        }
    } else if !ctx.quiet || !report.is_ok() {
        outln!("{report}");
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
