//! `backtrack sandbox`: runs the GitHub-compatible emulator until interrupted.
//!
//! The first line on stdout is the base URL, so scripts can start it in the background and
//! read where it listens. With `--public-url` that line is the public URL, and a second line
//! gives the local `http://` address, which whatever sits in front (a TLS terminator) must
//! forward to.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use backtrack_sandbox::github::{Sandbox, SandboxOptions, TokenUser};
use backtrack_sandbox::{ServerOptions, WriteLimit};

use super::Outcome;
use crate::cli::SandboxArgs;

pub fn options(args: &SandboxArgs) -> Result<SandboxOptions> {
    let (owner, repo) = args
        .repo
        .split_once('/')
        .with_context(|| format!("--repo {:?} must be OWNER/NAME", args.repo))?;
    // Same naming rules as scopes, so what the sandbox serves can always be snapshotted.
    backtrack::Scope::github(owner, repo)
        .with_context(|| format!("--repo {:?} is not a valid repository name", args.repo))?;
    if !(0.0..=1.0).contains(&args.fault_rate) {
        bail!(
            "--fault-rate {} must be between 0.0 and 1.0",
            args.fault_rate
        );
    }
    if let Some(url) = &args.public_url {
        url::Url::parse(url).with_context(|| {
            format!("--public-url {url:?} is not a URL (e.g. https://localhost:8443)")
        })?;
    }
    let tokens = args
        .tokens
        .iter()
        .map(|t| match t.rsplit_once('=') {
            // A login has no `=`; a token might (base64), so split at the last one.
            Some((token, login)) if !token.is_empty() && !login.is_empty() => Ok(TokenUser {
                token: token.to_string(),
                login: login.to_string(),
            }),
            // Never echo the value: it is a token.
            _ => bail!("--token takes TOKEN=LOGIN (e.g. --token hostile-token=mallory)"),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(SandboxOptions {
        server: ServerOptions {
            addr: args.addr,
            public_url: args.public_url.clone(),
            latency_ms: args.latency_ms,
            fault_rate: args.fault_rate,
            write_limit: (args.writes_per_minute > 0).then(|| WriteLimit {
                max_writes: args.writes_per_minute,
                per: Duration::from_secs(60),
                retry_after_secs: 60,
            }),
        },
        owner: owner.to_string(),
        repo: repo.to_string(),
        issues: args.issues,
        comments: args.comments,
        seed: args.seed,
        tokens,
        ..SandboxOptions::default()
    })
}

pub async fn run(args: SandboxArgs) -> Result<Outcome> {
    let opts = options(&args)?;
    let logins: Vec<String> = opts.tokens.iter().map(|t| t.login.clone()).collect();
    let sandbox = Sandbox::start(opts)
        .await
        .with_context(|| format!("cannot start the sandbox on {}", args.addr))?;
    let url = sandbox.base_url();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{url}")?;
        if args.public_url.is_some() {
            writeln!(out, "http://{}", sandbox.local_addr())?;
        }
        out.flush()?;
    }
    if !logins.is_empty() {
        eprintln!("Also accepting a token for each of: {}.", logins.join(", "));
    }
    eprintln!(
        "Sandbox serving {} with {} issues and {} comments.\n\
         Point backtrack (or any GitHub client) at it:\n  \
         export GITHUB_API_URL={url} GITHUB_TOKEN={}\n  \
         backtrack snapshot create github:{}\n\
         Request counts: {url}/_sandbox/stats · Ctrl-C to stop.",
        args.repo,
        args.issues,
        args.comments,
        sandbox.token(),
        args.repo,
    );
    sandbox.serve_until_ctrl_c().await;
    Ok(Outcome::Success)
}
