//! `backtrack sandbox`: runs the GitHub- or Jira-compatible emulator until interrupted.
//!
//! The first line on stdout is the base URL, so scripts can start it in the background and
//! read where it listens. With `--public-url` that line is the public URL, and a second line
//! gives the local `http://` address, which whatever sits in front (a TLS terminator) must
//! forward to.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use backtrack_sandbox::github::{Sandbox, SandboxOptions, TokenUser};
use backtrack_sandbox::{jira, ServerOptions, WriteLimit};

use super::Outcome;
use crate::cli::{JiraFlavor, JiraWorkflow, SandboxArgs, SandboxTracker};

/// The repository served when `--repo` is not given.
const DEFAULT_REPO: &str = "acme/widgets";
/// The Jira project served when `--project` is not given.
const DEFAULT_PROJECT: &str = "PROJ";

/// What both emulators share: address, public URL, latency, faults, write limit.
fn server_options(args: &SandboxArgs) -> Result<ServerOptions> {
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
    Ok(ServerOptions {
        addr: args.addr,
        public_url: args.public_url.clone(),
        latency_ms: args.latency_ms,
        fault_rate: args.fault_rate,
        write_limit: (args.writes_per_minute > 0).then(|| WriteLimit {
            max_writes: args.writes_per_minute,
            per: Duration::from_secs(60),
            retry_after_secs: 60,
        }),
    })
}

/// `--token TOKEN=LOGIN` pairs.
fn token_pairs(args: &SandboxArgs) -> Result<Vec<(String, String)>> {
    args.tokens
        .iter()
        .map(|t| match t.rsplit_once('=') {
            // A login has no `=`; a token might (base64), so split at the last one.
            Some((token, login)) if !token.is_empty() && !login.is_empty() => {
                Ok((token.to_string(), login.to_string()))
            }
            // Never echo the value: it is a token.
            _ => bail!("--token takes TOKEN=LOGIN (e.g. --token hostile-token=mallory)"),
        })
        .collect()
}

pub fn options(args: &SandboxArgs) -> Result<SandboxOptions> {
    for (given, flag) in [
        (args.project.is_some(), "--project"),
        (args.flavor.is_some(), "--flavor"),
        (args.epics.is_some(), "--epics"),
        (args.workflow.is_some(), "--workflow"),
    ] {
        if given {
            bail!("{flag} is for the Jira sandbox: add --tracker jira (or use --repo for GitHub)");
        }
    }
    let full = args.repo.as_deref().unwrap_or(DEFAULT_REPO);
    let (owner, repo) = full
        .split_once('/')
        .with_context(|| format!("--repo {full:?} must be OWNER/NAME"))?;
    // Same naming rules as scopes, so what the sandbox serves can always be snapshotted.
    backtrack::Scope::github(owner, repo)
        .with_context(|| format!("--repo {full:?} is not a valid repository name"))?;
    let server = server_options(args)?;
    let tokens = token_pairs(args)?
        .into_iter()
        .map(|(token, login)| TokenUser { token, login })
        .collect();
    Ok(SandboxOptions {
        server,
        owner: owner.to_string(),
        repo: repo.to_string(),
        issues: args.issues,
        comments: args.comments,
        seed: args.seed,
        tokens,
        ..SandboxOptions::default()
    })
}

/// The Jira sandbox's configuration from the flags.
pub fn jira_config(args: &SandboxArgs) -> Result<jira::Config> {
    if args.repo.is_some() {
        bail!("--repo is for the GitHub sandbox; the Jira sandbox takes --project KEY");
    }
    let project = args.project.as_deref().unwrap_or(DEFAULT_PROJECT);
    // Same rules as `jira:` scopes, so what the sandbox serves can always be snapshotted.
    let key_ok = (2..=10).contains(&project.len())
        && project.starts_with(|c: char| c.is_ascii_uppercase())
        && project
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !key_ok {
        bail!(
            "--project {project:?} is not a Jira project key: 2 to 10 upper-case letters and \
             digits, starting with a letter (e.g. PROJ)"
        );
    }
    if let Some(e) = args.epics {
        if e > args.issues {
            bail!(
                "--epics {e} cannot exceed --issues {} (epics are issues too)",
                args.issues
            );
        }
    }
    let tokens = token_pairs(args)?
        .into_iter()
        .map(|(token, account)| jira::TokenAccount { token, account })
        .collect();
    Ok(jira::Config {
        server: server_options(args)?,
        flavor: match args.flavor.unwrap_or(JiraFlavor::Cloud) {
            JiraFlavor::Cloud => jira::Flavor::Cloud,
            JiraFlavor::Datacenter => jira::Flavor::DataCenter,
        },
        project: project.to_owned(),
        issues: args.issues,
        comments: args.comments,
        epics: args.epics,
        seed: args.seed,
        tokens,
        workflow: match args.workflow.unwrap_or(JiraWorkflow::Full) {
            JiraWorkflow::Full => jira::Workflow::Full,
            JiraWorkflow::Restricted => jira::Workflow::Restricted,
        },
        ..jira::Config::default()
    })
}

async fn run_jira(args: SandboxArgs) -> Result<Outcome> {
    let config = jira_config(&args)?;
    let accounts: Vec<String> = config.tokens.iter().map(|t| t.account.clone()).collect();
    let flavor = config.flavor;
    let sandbox = jira::Sandbox::start(config)
        .await
        .with_context(|| format!("cannot start the Jira sandbox on {}", args.addr))?;
    let url = sandbox.base_url();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{url}")?;
        if args.public_url.is_some() {
            writeln!(out, "http://{}", sandbox.local_addr())?;
        }
        out.flush()?;
    }
    if !accounts.is_empty() {
        eprintln!(
            "Also accepting a token for each of: {}.",
            accounts.join(", ")
        );
    }
    let c = sandbox.counts();
    let key = sandbox.project_key().to_owned();
    let (name, creds) = match flavor {
        jira::Flavor::Cloud => (
            "Jira Cloud (REST v3)",
            format!(
                "JIRA_EMAIL=you@example.com JIRA_API_TOKEN={}",
                sandbox.token()
            ),
        ),
        jira::Flavor::DataCenter => (
            "Jira Data Center 9 (REST v2)",
            format!("JIRA_API_TOKEN={}", sandbox.token()),
        ),
    };
    eprintln!(
        "Sandbox serving {name} project {key}: {} issues ({} epics, {} subtasks), {} comments, \
         {} components, {} versions.\n\
         Point backtrack (or any Jira client) at it:\n  \
         export JIRA_BASE_URL={url} {creds}\n  \
         backtrack snapshot create jira:{key}\n\
         Request counts: {url}/_sandbox/stats · Ctrl-C to stop.",
        c.issues, c.epics, c.subtasks, c.comments, c.components, c.versions,
    );
    sandbox.serve_until_ctrl_c().await;
    Ok(Outcome::Success)
}

pub async fn run(args: SandboxArgs) -> Result<Outcome> {
    if args.tracker == SandboxTracker::Jira {
        return run_jira(args).await;
    }
    let opts = options(&args)?;
    let full = format!("{}/{}", opts.owner, opts.repo);
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
        full,
        args.issues,
        args.comments,
        sandbox.token(),
        full,
    );
    sandbox.serve_until_ctrl_c().await;
    Ok(Outcome::Success)
}
