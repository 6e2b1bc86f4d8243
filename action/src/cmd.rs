//! One module per subcommand, each with the same shape: `run(ctx, args) -> Result<Outcome>`.

pub mod comment;
pub mod demo;
pub mod diff;
pub mod rollback;
pub mod sandbox;
pub mod snapshot;

/// How a command ended, for `main` to turn into an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// `diff --exit-code` found changes.
    Changes,
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
