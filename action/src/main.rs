//! The `backtrack` command. `main` owns the exit code and prints errors once, on one line,
//! with their context; everything below returns `Result`.

mod cli;
mod cmd;
mod ctx;
mod progress;
mod step;
mod term;

use std::process::ExitCode;

use backtrack::catalog::CatalogError;
use backtrack::config::env;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};
use crate::cmd::Outcome;
use crate::ctx::Context;

/// Exit codes (part of the CLI contract).
const EXIT_CHANGES: u8 = 1;
const EXIT_ERROR: u8 = 2;
const EXIT_REFUSED: u8 = 3;

/// Log filter: `BACKTRACK_LOG`, else `RUST_LOG` (tracing's `EnvFilter` syntax, e.g.
/// `backtrack=debug,hyper=info`), else the level `-q`/`-v` ask for. A variable that is set but
/// not a valid filter is said on stderr, not silently ignored.
fn init_logging(quiet: bool, verbose: u8) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info,backtrack=info",
        (false, _) => "debug",
    };
    let mut problem = None;
    let mut filter = None;
    for var in [env::LOG, env::RUST_LOG] {
        match std::env::var(var) {
            Ok(v) if v.trim().is_empty() => continue,
            Ok(v) => match EnvFilter::builder().parse(&v) {
                Ok(f) => {
                    filter = Some(f);
                    break;
                }
                Err(e) => {
                    problem = Some(format!(
                        "warning: {var}={} is not a log filter ({e}); using {default:?}",
                        backtrack::sanitize::quote(&v)
                    ));
                    break;
                }
            },
            Err(std::env::VarError::NotPresent) => continue,
            Err(std::env::VarError::NotUnicode(_)) => {
                problem = Some(format!(
                    "warning: {var} is not valid UTF-8; using the log level {default:?}"
                ));
                break;
            }
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter.unwrap_or_else(|| EnvFilter::new(default)))
        .with_writer(std::io::stderr)
        .with_ansi(term::stderr_color())
        .with_target(false)
        .init();
    if let Some(p) = problem {
        eprintln!("{}", backtrack::sanitize::error_line(&p));
    }
}

/// Parses the command line. clap's own errors quote the offending argument whole, so a
/// 10,000-character value is shortened in them (with its length) like in every other error.
fn parse_cli() -> Result<Cli, ExitCode> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e) if !e.use_stderr() => {
            // --help and --version: printed on stdout, exit 0.
            let _ = e.print();
            Err(ExitCode::SUCCESS)
        }
        Err(e) => {
            let mut text = e.render().to_string();
            for (_, value) in e.context() {
                let values: Vec<&str> = match value {
                    clap::error::ContextValue::String(v) => vec![v.as_str()],
                    clap::error::ContextValue::Strings(vs) => {
                        vs.iter().map(String::as_str).collect()
                    }
                    _ => Vec::new(),
                };
                for v in values {
                    if v.chars().count() > backtrack::sanitize::QUOTE_MAX_CHARS {
                        let head: String = v
                            .chars()
                            .take(backtrack::sanitize::QUOTE_MAX_CHARS)
                            .collect();
                        let short = format!(
                            "{head}… ({} characters)",
                            backtrack::units::thousands(v.chars().count())
                        );
                        text = text.replace(v, &short);
                    }
                }
            }
            let text: Vec<String> = text
                .lines()
                .map(|l| backtrack::sanitize::visible(l).into_owned())
                .collect();
            eprintln!("{}", text.join("\n"));
            Err(ExitCode::from(EXIT_ERROR))
        }
    }
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
    let mut ctx = Context::new(&cli.global).for_command(&cli.command);
    // Checked before any work: a snapshot taken whose id cannot reach the workflow is a
    // failed step anyway.
    if cli.global.github_output {
        ctx.step = Some(step::StepOutputs::from_env()?);
    }
    match cli.command {
        Command::Init(args) => cmd::init::run(&ctx, args).await,
        Command::Key(cmd) => cmd::key::run(&ctx, cmd).await,
        Command::Snapshot(cmd) => cmd::snapshot::run(&ctx, cmd).await,
        Command::Diff(args) => cmd::diff::run(&ctx, args).await,
        Command::Report(args) => cmd::report::run(&ctx, args).await,
        Command::Rollback(args) => cmd::rollback::run(&ctx, args).await,
        Command::Restore(args) => cmd::rollback::restore(&ctx, args).await,
        Command::Comment(cmd) => cmd::comment::run(&ctx, cmd).await,
        Command::Prune(args) => cmd::prune::run(&ctx, args).await,
        Command::Verify(args) => cmd::verify::run(&ctx, args).await,
        Command::Export(args) => cmd::export::run(&ctx, args).await,
        Command::Import(args) => cmd::import::run(&ctx, args).await,
        Command::Copy(args) => cmd::copy::run(&ctx, args).await,
        Command::Repair(args) => cmd::repair::run(&ctx, args).await,
        Command::Bench(cmd) => cmd::bench::run(cmd).await,
        Command::Sandbox(args) => cmd::sandbox::run(args).await,
        Command::Demo(args) => cmd::demo::run(args).await,
        Command::Completions(args) => cmd::completions::run(args),
        Command::Man(args) => cmd::man::run(args),
    }
}

/// For benchmarks: writes this process's peak resident memory (kB, from /proc) to the file
/// named by `BACKTRACK_PEAK_RSS_FILE`. Costs nothing when the variable is unset.
fn report_peak_rss() {
    let Some(path) = std::env::var_os(env::PEAK_RSS_FILE) else {
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
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
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
            // Causes may quote tracker text, server answers and user input: the line is
            // made safe for the terminal (and kept one line) in one place, here.
            eprintln!(
                "error: {}",
                backtrack::sanitize::error_line(&format!("{err:#}"))
            );
            ExitCode::from(if is_refusal(&err) {
                EXIT_REFUSED
            } else {
                EXIT_ERROR
            })
        }
    }
}
