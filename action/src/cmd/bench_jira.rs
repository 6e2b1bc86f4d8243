//! `backtrack bench jira` (hidden): a Jira project captured by backtrack against the request
//! floor and against a naive per-issue client, on one sandbox with per-request latency.
//!
//! The naive client is written the way Jira backup scripts usually are: one search for the
//! keys (50 a page, Jira's default), then for each issue one `GET /issue/{key}` and one
//! `GET /issue/{key}/comment`, one request at a time. Both run against the same sandbox and
//! data; backtrack runs as the real binary, so start-up and the store count.

use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use backtrack::tracker::jira::{Client, Credentials};
use backtrack::tracker::RetryPolicy;
use backtrack_sandbox::jira::{self, Sandbox};
use backtrack_sandbox::ServerOptions;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::{json, Value};

use super::bench::timed_with;
use super::Outcome;
use crate::cli::{BenchJiraArgs, JiraFlavor};

/// Figures of one flavour.
#[derive(Debug, Serialize)]
struct Figures {
    flavor: &'static str,
    issues: u64,
    comments: u64,
    latency_ms: u64,
    /// The fewest requests any client needs for the project.
    floor: u64,
    full_requests: u64,
    full_seconds: f64,
    full_peak_rss_mb: f64,
    next_requests: u64,
    next_seconds: f64,
    next_stored_bytes: u64,
    naive_requests: Option<u64>,
    naive_seconds: Option<f64>,
}

pub async fn run(args: BenchJiraArgs) -> Result<Outcome> {
    let flavors = match args.flavor {
        Some(JiraFlavor::Cloud) => vec![jira::Flavor::Cloud],
        Some(JiraFlavor::Datacenter) => vec![jira::Flavor::DataCenter],
        None => vec![jira::Flavor::Cloud, jira::Flavor::DataCenter],
    };
    let mut all = Vec::new();
    for flavor in flavors {
        let figures = one(&args, flavor).await?;
        if !args.json {
            print(&figures)?;
        }
        all.push(figures);
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(Outcome::Success)
}

fn print(f: &Figures) -> Result<()> {
    let name = if f.flavor == "cloud" {
        "Jira Cloud"
    } else {
        "Jira Data Center"
    };
    outln!(
        "{name}: {} issues, {} comments, {} ms latency per request",
        f.issues,
        f.comments,
        f.latency_ms
    );
    outln!("  request floor                 {:>6} requests", f.floor);
    outln!(
        "  backtrack, full snapshot      {:>6} requests  {:>8.1} s  ({:.3} × the floor; peak RSS {:.0} MB)",
        f.full_requests,
        f.full_seconds,
        f.full_requests as f64 / f.floor as f64,
        f.full_peak_rss_mb
    );
    outln!(
        "  backtrack, next snapshot      {:>6} requests  {:>8.1} s  ({} bytes stored)",
        f.next_requests,
        f.next_seconds,
        f.next_stored_bytes
    );
    if let (Some(r), Some(s)) = (f.naive_requests, f.naive_seconds) {
        outln!(
            "  naive per-issue client        {:>6} requests  {:>8.1} s  ({:.1}× the requests, {:.1}× the time of backtrack's full snapshot)",
            r,
            s,
            r as f64 / f.full_requests as f64,
            s / f.full_seconds
        );
    }
    Ok(())
}

async fn one(args: &BenchJiraArgs, flavor: jira::Flavor) -> Result<Figures> {
    eprintln!(
        "seeding a {} sandbox with {} issues and {} comments…",
        flavor.as_str(),
        args.issues,
        args.comments
    );
    let sandbox = Sandbox::start(jira::Config {
        flavor,
        issues: args.issues,
        comments: args.comments,
        seed: args.seed,
        server: ServerOptions {
            latency_ms: args.latency_ms,
            ..ServerOptions::default()
        },
        ..jira::Config::default()
    })
    .await?;
    let base = sandbox.base_url();
    let credentials = match flavor {
        jira::Flavor::Cloud => Credentials::Basic {
            email: "bench@example.com".into(),
            token: sandbox.token().to_string(),
        },
        jira::Flavor::DataCenter => Credentials::Bearer {
            token: sandbox.token().to_string(),
        },
    };
    let client = Client::new(&base, &credentials, RetryPolicy::default())?;
    let api = match flavor {
        jira::Flavor::Cloud => "/rest/api/3",
        jira::Flavor::DataCenter => "/rest/api/2",
    };

    eprintln!("computing the request floor…");
    let issues = search(
        &client,
        flavor,
        "project = PROJ ORDER BY key ASC",
        &["comment"],
        100,
    )
    .await?;
    let embeds = match flavor {
        jira::Flavor::Cloud => jira::CLOUD_EMBEDDED_COMMENTS as u64,
        jira::Flavor::DataCenter => u64::MAX,
    };
    let listings: u64 = issues
        .iter()
        .filter_map(|i| i["fields"]["comment"]["total"].as_u64())
        .filter(|t| *t > embeds)
        .map(|t| t.div_ceil(100))
        .sum();
    // serverInfo, the project, the field list, components, versions; the search pages;
    // the comment listings of issues with more comments than a search embeds.
    let floor = 5 + (issues.len() as u64).div_ceil(100) + listings;

    let folder = tempfile::tempdir()?;
    let token = sandbox.token().to_string();
    let mut vars = vec![
        ("JIRA_BASE_URL", base.as_str()),
        ("JIRA_API_TOKEN", token.as_str()),
    ];
    if flavor == jira::Flavor::Cloud {
        vars.push(("JIRA_EMAIL", "bench@example.com"));
    }
    let snapshot = ["--json", "snapshot", "create", "jira:PROJ"];
    eprintln!("backtrack: full snapshot…");
    let before = sandbox.stats().total;
    let (full_seconds, full_rss, out) = timed_with(&snapshot, folder.path(), &vars)?;
    let full: Value = serde_json::from_str(&out).context("the snapshot's JSON report")?;
    let full_requests = sandbox.stats().total - before;
    if full["requests"].as_u64() != Some(full_requests) {
        bail!(
            "the report says {} requests, the sandbox counted {full_requests}",
            full["requests"]
        );
    }
    eprintln!("backtrack: next snapshot…");
    let before = sandbox.stats().total;
    let (next_seconds, _, out) = timed_with(&snapshot, folder.path(), &vars)?;
    let next: Value = serde_json::from_str(&out).context("the snapshot's JSON report")?;
    let next_requests = sandbox.stats().total - before;

    let (naive_requests, naive_seconds) = if args.skip_naive {
        (None, None)
    } else {
        eprintln!(
            "naive client: {} issues, two requests each, {} at a time…",
            issues.len(),
            args.naive_concurrency
        );
        let before = sandbox.stats().total;
        let started = Instant::now();
        naive(&client, flavor, api, args.naive_concurrency).await?;
        (
            Some(sandbox.stats().total - before),
            Some(started.elapsed().as_secs_f64()),
        )
    };
    sandbox.shutdown().await;
    Ok(Figures {
        flavor: flavor.as_str(),
        issues: args.issues,
        comments: args.comments,
        latency_ms: args.latency_ms,
        floor,
        full_requests,
        full_seconds,
        full_peak_rss_mb: full_rss,
        next_requests,
        next_seconds,
        next_stored_bytes: next["bytes"]["stored_new"].as_u64().unwrap_or(0),
        naive_requests,
        naive_seconds,
    })
}

/// Every issue a search finds, in the flavour's pagination.
async fn search(
    client: &Client,
    flavor: jira::Flavor,
    jql: &str,
    fields: &[&str],
    page: u64,
) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let reply = match flavor {
            jira::Flavor::Cloud => {
                let mut body = json!({"jql": jql, "fields": fields, "maxResults": page});
                if let Some(t) = &token {
                    body["nextPageToken"] = json!(t);
                }
                client.post("/rest/api/3/search/jql", &body).await?
            }
            jira::Flavor::DataCenter => {
                let body =
                    json!({"jql": jql, "fields": fields, "startAt": out.len(), "maxResults": page});
                client.post("/rest/api/2/search", &body).await?
            }
        };
        let issues = reply["issues"].as_array().cloned().unwrap_or_default();
        let empty = issues.is_empty();
        out.extend(issues);
        token = reply["nextPageToken"].as_str().map(str::to_string);
        let done = match flavor {
            jira::Flavor::Cloud => token.is_none() || reply["isLast"] == json!(true),
            jira::Flavor::DataCenter => out.len() as u64 >= reply["total"].as_u64().unwrap_or(0),
        };
        if empty || done {
            return Ok(out);
        }
    }
}

/// The naive backup: keys from a search at Jira's default page size, then one GET of each
/// issue and one GET of its comments.
async fn naive(client: &Client, flavor: jira::Flavor, api: &str, concurrency: usize) -> Result<()> {
    let keys: Vec<String> = search(
        client,
        flavor,
        "project = PROJ ORDER BY key ASC",
        &["key"],
        50,
    )
    .await?
    .iter()
    .filter_map(|i| i["key"].as_str().map(str::to_string))
    .collect();
    futures::stream::iter(keys.into_iter().map(|key| async move {
        client.get(&format!("{api}/issue/{key}")).await?;
        client.get(&format!("{api}/issue/{key}/comment")).await?;
        Ok::<_, anyhow::Error>(())
    }))
    .buffer_unordered(concurrency.max(1))
    .try_collect::<Vec<_>>()
    .await?;
    Ok(())
}
