//! One module per subcommand, each with the same shape: `run(ctx, args) -> Result<Outcome>`.

pub mod bench;
pub mod comment;
pub mod demo;
pub mod diff;
pub mod init;
pub mod prune;
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
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let result = out
        .write_all(text.as_bytes())
        .and_then(|()| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|()| out.flush());
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Prints `value` as pretty JSON on stdout, with control and bidirectional characters in
/// strings escaped (the same JSON, inert if it lands on a terminal).
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    emit(&backtrack::sanitize::json_pretty(value)?)
}
