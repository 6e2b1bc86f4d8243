//! `backtrack completions SHELL`: shell completions generated from the clap definition, so
//! they always match the flags of the binary that prints them.

use anyhow::Result;
use clap::CommandFactory;

use super::Outcome;
use crate::cli::{Cli, CompletionsArgs};

pub fn run(args: CompletionsArgs) -> Result<Outcome> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "backtrack", &mut script);
    super::emit(&String::from_utf8_lossy(&script))?;
    Ok(Outcome::Success)
}
