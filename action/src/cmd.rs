//! One module per subcommand, each with the same shape: `run(ctx, args) -> Result<Outcome>`.

/// `println!` for command output: a closed pipe (`backtrack … | head`) ends the output
/// quietly instead of panicking, and any other write error is returned. Used where the
/// enclosing function returns `anyhow::Result`.
macro_rules! outln {
    () => {
        $crate::cmd::write_out("\n")?
    };
    ($($arg:tt)*) => {
        $crate::cmd::write_out(&format!("{}\n", format_args!($($arg)*)))?
    };
}

/// `print!` for command output, with [`outln!`]'s handling of a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cmd::write_out(&format!($($arg)*))?
    };
}

pub mod bench;
pub mod bench_crypt;
pub mod bench_jira;
pub mod bench_report;
pub mod comment;
pub mod completions;
pub mod copy;
pub mod demo;
pub mod demo_jira;
pub mod diff;
pub mod export;
pub mod import;
pub mod init;
pub mod key;
pub mod man;
pub mod prune;
pub mod repair;
pub mod report;
pub mod rollback;
pub mod sandbox;
pub mod snapshot;
pub mod verify;

/// How a command ended, for `main` to turn into an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// `diff --exit-code` found changes.
    Changes,
}

/// Writes `text` to stdout, ending with a newline. A closed pipe (`backtrack … | head`) is
/// not an error: the reader has what it wanted.
pub fn emit(text: &str) -> anyhow::Result<()> {
    if text.ends_with('\n') {
        write_out(text)
    } else {
        write_out(&format!("{text}\n"))
    }
}

/// Writes `text` to stdout as it is. A closed pipe is not an error (see [`emit`]).
pub fn write_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Prints `value` as pretty JSON on stdout, with control and bidirectional characters in
/// strings escaped (the same JSON, inert if it lands on a terminal).
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    emit(&backtrack::sanitize::json_pretty(value)?)
}

/// Says on stderr which snapshot a reference resolved to, for people; `--json` output carries
/// the same as its `resolved` field instead. `flag` names where the reference was given
/// (`--to`), if not in the command's first argument.
pub fn note_resolved(
    ctx: &crate::ctx::Context,
    flag: Option<&str>,
    resolved: &backtrack::snapshot::Resolved,
) {
    if ctx.json || ctx.quiet {
        return;
    }
    match flag {
        Some(flag) => eprintln!("{flag} {resolved}"),
        None => eprintln!("{resolved}"),
    }
}

/// A command's `--json` output with the `resolved` field added (see [`note_resolved`]).
#[derive(Debug, serde::Serialize)]
pub struct WithResolved<'a, T: serde::Serialize> {
    pub resolved: &'a backtrack::snapshot::Resolved,
    #[serde(flatten)]
    pub output: &'a T,
}
