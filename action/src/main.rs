//! The `backtrack` command. `main` owns the exit code and prints errors once, on one line,
//! with their context; everything below returns `Result`.

mod cli;
mod cmd;
mod ctx;
mod progress;

use std::process::ExitCode;

use backtrack::catalog::CatalogError;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};
use crate::cmd::Outcome;
use crate::ctx::Context;

/// Exit codes (part of the CLI contract).
const EXIT_CHANGES: u8 = 1;
const EXIT_ERROR: u8 = 2;
const EXIT_REFUSED: u8 = 3;

fn init_logging(quiet: bool, verbose: u8) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info,backtrack=info",
        (false, _) => "debug",
    };
    let filter =
        EnvFilter::try_from_env("BACKTRACK_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

/// Whether an error is a refusal (exit 3) rather than a failure (exit 2).
fn is_refusal(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<backtrack::Error>()
            .is_some_and(backtrack::Error::is_refusal)
            || matches!(
                cause.downcast_ref::<CatalogError>(),
                Some(CatalogError::Locked(_))
            )
    })
}

async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let ctx = Context::new(&cli.global);
    match cli.command {
        Command::Init => cmd::init::run(&ctx).await,
        Command::Snapshot(cmd) => cmd::snapshot::run(&ctx, cmd).await,
        Command::Diff(args) => cmd::diff::run(&ctx, args).await,
        Command::Rollback(args) => cmd::rollback::run(&ctx, args).await,
        Command::Restore(args) => cmd::rollback::restore(&ctx, args).await,
        Command::Comment(cmd) => cmd::comment::run(&ctx, cmd).await,
        Command::Prune(args) => cmd::prune::run(&ctx, args).await,
        Command::Verify(args) => cmd::verify::run(&ctx, args).await,
        Command::Repair(args) => cmd::repair::run(&ctx, args).await,
        Command::Bench(cmd) => cmd::bench::run(cmd).await,
        Command::Sandbox(args) => cmd::sandbox::run(args).await,
        Command::Demo(args) => cmd::demo::run(args).await,
    }
}

/// For benchmarks: writes this process's peak resident memory (kB, from /proc) to the file
/// named by `BACKTRACK_PEAK_RSS_FILE`. Costs nothing when the variable is unset.
fn report_peak_rss() {
    let Some(path) = std::env::var_os("BACKTRACK_PEAK_RSS_FILE") else {
        return;
    };
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .map(|v| v.trim().trim_end_matches("kB").trim().to_string())
        })
        .unwrap_or_default();
    let _ = std::fs::write(path, peak);
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.quiet, cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let result = runtime.block_on(run(cli));
    report_peak_rss();
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Changes) => ExitCode::from(EXIT_CHANGES),
        Err(err) => {
            // `{:#}` joins the context chain on one line: "snapshot of X failed: cause".
            eprintln!("error: {err:#}");
            ExitCode::from(if is_refusal(&err) {
                EXIT_REFUSED
            } else {
                EXIT_ERROR
            })
        }
    }
}
