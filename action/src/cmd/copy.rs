//! `backtrack copy`: snapshots from the store into another store and catalog. Runs again
//! after an interruption pick up where it stopped (snapshots already there are skipped).

use anyhow::Result;
use backtrack::portable::{self, ImportOptions};

use super::{print_json, Outcome};
use crate::cli::CopyArgs;
use crate::ctx::Context;

pub async fn run(ctx: &Context, args: CopyArgs) -> Result<Outcome> {
    // Secrets go to whichever side is encrypted; neither being encrypted is refused below.
    let source = ctx.archive_either().await?;
    let entries = super::export::selection(&args.select)?
        .select(&source)
        .await?;
    let dest = ctx
        .elsewhere(&args.to_store, args.to_catalog.as_deref())
        .create_archive()
        .await?;
    if !ctx.secrets()?.is_empty() && !source.is_encrypted() && !dest.is_encrypted() {
        return Err(backtrack::crypt::CryptError::NotEncrypted {
            store: dest.store_location(),
        }
        .into());
    }
    source.check_plaintext_out(dest.is_encrypted(), args.decrypt, "the destination store")?;
    let opts = ImportOptions {
        on_duplicate: super::import::policy(args.on_duplicate),
        execute: !args.dry_run,
        lease: ctx.lease()?,
        ..ImportOptions::default()
    };
    let report = portable::copy(&source, &dest, &entries, &opts).await?;
    if ctx.json {
        print_json(&report)?;
    } else if !ctx.quiet {
        outln!("{report}");
    }
    match report.refusal() {
        Some(refusal) => Err(refusal.into()),
        None => Ok(Outcome::Success),
    }
}
