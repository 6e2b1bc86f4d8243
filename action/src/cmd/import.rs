//! `backtrack import`: an archive file into the store, previewed unless `--execute`.

use anyhow::Result;
use backtrack::portable::{self, ImportOptions, OnDuplicate};

use super::{print_json, Outcome};
use crate::cli::{self, ImportArgs};
use crate::ctx::Context;

pub fn policy(flag: cli::OnDuplicate) -> OnDuplicate {
    match flag {
        cli::OnDuplicate::Error => OnDuplicate::Error,
        cli::OnDuplicate::Skip => OnDuplicate::Skip,
        cli::OnDuplicate::Overwrite => OnDuplicate::Overwrite,
    }
}

pub async fn run(ctx: &Context, args: ImportArgs) -> Result<Outcome> {
    // A plain store opens even with a passphrase given: an encrypted archive makes a new
    // store encrypted with its key (the library refuses the other cases).
    let archive = ctx.create_archive_either().await?;
    let opts = ImportOptions {
        on_duplicate: policy(args.on_duplicate),
        execute: args.execute,
        lease: ctx.lease()?,
        secrets: ctx.secrets()?,
    };
    let report = portable::import_file(&archive, &args.file, &opts).await?;
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
