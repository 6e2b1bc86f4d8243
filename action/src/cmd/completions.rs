//! `backtrack completions SHELL`: shell completions generated from the clap definition, so
//! they always match the flags of the binary that prints them.

use anyhow::Result;
use clap::{Command, CommandFactory};

use super::Outcome;
use crate::cli::{Cli, CompletionsArgs};

pub fn run(args: CompletionsArgs) -> Result<Outcome> {
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut shown(&Cli::command()),
        "backtrack",
        &mut script,
    );
    super::emit(&String::from_utf8_lossy(&script))?;
    Ok(Outcome::Success)
}

/// The command as a user sees it: clap_complete offers hidden commands and flags (`bench`,
/// a maintainers' tool) like any other, so they are left out of the tree it is given.
fn shown(full: &Command) -> Command {
    let mut cmd = Command::new(full.get_name().to_owned())
        .args(full.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .subcommands(
            full.get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(shown),
        );
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    if let Some(long_about) = full.get_long_about() {
        cmd = cmd.long_about(long_about.clone());
    }
    if full.is_propagate_version_set() {
        cmd = cmd.propagate_version(true);
    }
    if let Some(version) = full.get_version() {
        cmd = cmd.version(version.to_owned());
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_leave_hidden_commands_out_and_keep_the_rest() {
        let full = Cli::command();
        let shown = shown(&full);
        let names = |c: &Command| {
            c.get_subcommands()
                .map(|s| s.get_name().to_owned())
                .collect::<Vec<_>>()
        };
        assert!(full.find_subcommand("bench").is_some());
        assert!(shown.find_subcommand("bench").is_none());
        let visible: Vec<String> = full
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| s.get_name().to_owned())
            .collect();
        assert_eq!(names(&shown), visible);
        let rollback = shown
            .find_subcommand("rollback")
            .map(|c| c.get_arguments().count());
        let full_rollback = full
            .find_subcommand("rollback")
            .map(|c| c.get_arguments().filter(|a| !a.is_hide_set()).count());
        assert_eq!(rollback, full_rollback);
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut shown.clone(), "backtrack", &mut script);
            let script = String::from_utf8_lossy(&script);
            assert!(!script.contains("bench"), "{shell} completions offer bench");
            assert!(
                script.contains("--execute"),
                "{shell} completions lack --execute"
            );
        }
    }
}
