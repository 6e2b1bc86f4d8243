//! `backtrack man`: the man page (roff) generated from the clap definition. Printed for
//! `man -l -`, or written as one page per command for packaging (the release tarball ships
//! `man/backtrack*.1`).

use anyhow::{Context as _, Result};
use clap::CommandFactory;

use super::Outcome;
use crate::cli::{Cli, ManArgs};

pub fn run(args: ManArgs) -> Result<Outcome> {
    let cmd = Cli::command();
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut page)?;
            super::emit(&String::from_utf8_lossy(&page))?;
        }
    }
    Ok(Outcome::Success)
}
