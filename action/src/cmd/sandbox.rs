//! `backtrack sandbox`: runs the GitHub- or Jira-compatible emulator until interrupted.
//!
//! The first line on stdout is the base URL, so scripts can start it in the background and
//! read where it listens. With `--public-url` that line is the public URL, and a second line
//! gives the local `http://` address, which whatever sits in front (a TLS terminator) must
//! forward to.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use backtrack_sandbox::github::{AppOptions, PrimaryLimit, Sandbox, SandboxOptions, TokenUser};
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
        (args.roles.is_some(), "--roles"),
        (args.groups.is_some(), "--groups"),
    ] {
        if given {
            bail!("{flag} is for the Jira sandbox: add --tracker jira (or use --repo for GitHub)");
        }
    }
    let (owner, names) = repositories(args)?;
    let app = match &args.app_key {
        None => None,
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the app's private key {}", path.display()))?;
            if args.app_token_ttl <= 0 {
                bail!("--app-token-ttl must be at least 1 second");
            }
            Some(AppOptions {
                app_id: args.app_id,
                slug: args.app_slug.clone(),
                private_key_pem: pem,
                token_ttl_secs: args.app_token_ttl,
            })
        }
    };
    for a in &args.archived {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(a)) {
            bail!(
                "--archived {a:?} is not one of the repositories served ({})",
                names.join(", ")
            );
        }
    }
    let server = server_options(args)?;
    let rate_limit = match args.rate_limit {
        None => None,
        Some(0) => bail!("--rate-limit must be at least 1 request (leave it out for no limit)"),
        Some(_) if args.rate_limit_window == 0 => {
            bail!("--rate-limit-window must be at least 1 second (GitHub's is 3600)")
        }
        Some(requests) => Some(PrimaryLimit {
            requests,
            window: Duration::from_secs(args.rate_limit_window),
        }),
    };
    let tokens = token_pairs(args)?
        .into_iter()
        .map(|(token, login)| TokenUser { token, login })
        .collect();
    Ok(SandboxOptions {
        server,
        owner,
        repo: names[0].clone(),
        more_repos: names[1..].to_vec(),
        archived: args.archived.clone(),
        app,
        issues: args.issues,
        comments: args.comments,
        seed: args.seed,
        tokens,
        graphql: !args.no_graphql,
        rate_limit,
        ..SandboxOptions::default()
    })
}

/// The owner and the repository names served: `--org-repos ORG:N`, else every `--repo`
/// (one owner for all), else the default repository.
fn repositories(args: &SandboxArgs) -> Result<(String, Vec<String>)> {
    if let Some(spec) = &args.org_repos {
        let usage =
            || format!("--org-repos {spec:?} must be ORG:N with N from 1 to 1000 (e.g. acme:20)");
        let (org, n) = spec.split_once(':').with_context(usage)?;
        let n: usize = n
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .with_context(usage)?;
        let width = n.to_string().len().max(2);
        let names: Vec<String> = (1..=n).map(|i| format!("repo-{i:0width$}")).collect();
        backtrack::Scope::github(org, &names[0])
            .with_context(|| format!("--org-repos {spec:?}: {org:?} is not a GitHub login"))?;
        return Ok((org.to_owned(), names));
    }
    let given: Vec<&str> = if args.repo.is_empty() {
        vec![DEFAULT_REPO]
    } else {
        args.repo.iter().map(String::as_str).collect()
    };
    let mut owner: Option<&str> = None;
    let mut names = Vec::new();
    for full in given {
        let (o, name) = full
            .split_once('/')
            .with_context(|| format!("--repo {full:?} must be OWNER/NAME"))?;
        // Same naming rules as scopes, so what the sandbox serves can always be snapshotted.
        backtrack::Scope::github(o, name)
            .with_context(|| format!("--repo {full:?} is not a valid repository name"))?;
        match owner {
            Some(first) if !first.eq_ignore_ascii_case(o) => bail!(
                "--repo {full:?}: every repository served belongs to one owner ({first}); \
                 start one sandbox per owner"
            ),
            _ => owner = Some(o),
        }
        if names.iter().any(|n: &String| n.eq_ignore_ascii_case(name)) {
            bail!("--repo {full:?} is given twice");
        }
        names.push(name.to_owned());
    }
    Ok((owner.unwrap_or("acme").to_owned(), names))
}

/// The Jira sandbox's configuration from the flags.
pub fn jira_config(args: &SandboxArgs) -> Result<jira::Config> {
    let github_only = [
        (!args.repo.is_empty(), "--repo"),
        (args.org_repos.is_some(), "--org-repos"),
        (args.app_key.is_some(), "--app-key"),
        (args.rate_limit.is_some(), "--rate-limit"),
    ];
    if let Some((_, flag)) = github_only.iter().find(|(given, _)| *given) {
        bail!("{flag} is for the GitHub sandbox; the Jira sandbox takes --project KEY");
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
        roles: args.roles.clone(),
        groups: args.groups.clone(),
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
    let owner = opts.owner.clone();
    let app = opts.app.as_ref().map(|a| (a.app_id, a.slug.clone()));
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
    let served = sandbox.repositories();
    if served.len() > 1 {
        eprintln!(
            "Serving {} repositories of {owner} ({} issues and {} comments each); snapshot them all with \
             `backtrack snapshot create github:{owner}/*`.",
            served.len(),
            args.issues,
            args.comments
        );
    }
    if let (Some((id, slug)), Some(installation)) = (&app, sandbox.app_installation_id()) {
        eprintln!(
            "GitHub App {slug} (id {id}) is installed on {owner} (installation {installation}): \
             export GITHUB_APP_ID={id} GITHUB_APP_PRIVATE_KEY_FILE={} to authenticate as it.",
            args.app_key
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
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
