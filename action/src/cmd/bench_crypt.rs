//! `backtrack bench encryption` (hidden): what client-side encryption costs a snapshot.
//!
//! One in-process sandbox; full snapshots of it, each into a new folder store, alternating
//! plain and encrypted (`init --encrypt` with the default Argon2id cost, the passphrase in
//! the environment), so drift in the machine's load falls on both alike. Each snapshot is
//! the real binary, so the encrypted one pays its key derivation once, as a user does.

use anyhow::{Context as _, Result};
use backtrack::config::env;
use backtrack::crypt::ENV_PASSPHRASE;
use serde_json::json;

use super::bench::{capture_sandbox, timed_with};
use super::Outcome;
use crate::cli::BenchEncryptionArgs;

/// The passphrase of the benchmark's throwaway stores.
const PASSPHRASE: &str = "bench passphrase, not a secret";

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => xs[n / 2],
        _ => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

pub async fn run(args: BenchEncryptionArgs) -> Result<Outcome> {
    let sandbox = capture_sandbox(args.issues, args.comments, args.latency_ms).await?;
    let url = sandbox.base_url();
    let mut runs = Vec::new();
    let (mut plain, mut sealed) = (Vec::new(), Vec::new());
    for round in 0..args.rounds.max(1) {
        for encrypted in [round % 2 == 1, round % 2 == 0] {
            let folder = tempfile::tempdir()?;
            let vars = [
                (env::GITHUB_API_URL, url.as_str()),
                (env::GITHUB_TOKEN, sandbox.token()),
                (ENV_PASSPHRASE, PASSPHRASE),
            ];
            if encrypted {
                timed_with(&["-q", "init", "--encrypt"], folder.path(), &vars)?;
            }
            let (secs, rss, out) = timed_with(
                &["--json", "-q", "snapshot", "create", "github:acme/widgets"],
                folder.path(),
                if encrypted { &vars[..] } else { &vars[..2] },
            )?;
            let report: serde_json::Value =
                serde_json::from_str(&out).context("snapshot create printed no JSON")?;
            let row = json!({
                "encrypted": encrypted,
                "seconds": (secs * 100.0).round() / 100.0,
                "peak_rss_mb": rss.round(),
                "requests": report["requests"],
                "stored_bytes": report["bytes"]["stored_new"],
                "records": report["counts"],
            });
            eprintln!("{row}");
            runs.push(row);
            if encrypted {
                sealed.push(secs);
            } else {
                plain.push(secs);
            }
        }
    }
    drop(sandbox);
    let (p, e) = (median(plain), median(sealed));
    let overhead = if p > 0.0 { (e - p) / p * 100.0 } else { 0.0 };
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "issues": args.issues, "comments": args.comments, "latency_ms": args.latency_ms,
            "median_seconds": {"plain": (p * 100.0).round() / 100.0, "encrypted": (e * 100.0).round() / 100.0},
            "overhead_percent": (overhead * 10.0).round() / 10.0,
            "runs": runs,
        }))?
    );
    Ok(Outcome::Success)
}
