//! `backtrack demo --tracker jira`: the tour on a Jira epic, against an in-process Jira Cloud
//! sandbox. The story is the one teams that sync epics from Markdown live through: a sync
//! rewrites the stories' descriptions and adds subtasks, and someone has to see what it did.
//! Snapshot → the sync → diff → the next snapshot (what an incremental costs).

use std::sync::Arc;

use anyhow::{Context as _, Result};
use backtrack::compare::{self, DiffSides, LiveSource};
use backtrack::diff::{self, DiffOptions, TextOptions};
use backtrack::snapshot::{SnapshotName, SnapshotOptions};
use backtrack::tracker::jira::{Client, Credentials};
use backtrack::tracker::{JiraConfig, JiraTracker, NoProgress, Tracker};
use backtrack::Scope;
use backtrack_sandbox::jira::{self, Sandbox};
use http::Method;
use serde_json::{json, Value};

use super::Outcome;
use crate::cli::DemoArgs;
use crate::ctx::Context;
use crate::progress::CaptureProgress;
use crate::term::Paint;

use super::demo::{command, step};

/// The keys a search finds (one page is plenty for the demo's project).
async fn keys(client: &Client, jql: &str) -> Result<Vec<Value>> {
    let page = client
        .post(
            "/rest/api/3/search/jql",
            &json!({"jql": jql, "fields": ["summary", "subtasks", "issuetype"], "maxResults": 100}),
        )
        .await?;
    Ok(page["issues"].as_array().cloned().unwrap_or_default())
}

/// The epic with the most stories under it.
async fn pick_epic(client: &Client) -> Result<String> {
    let mut best = (0, None);
    for epic in keys(client, "issuetype = Epic ORDER BY key ASC").await? {
        let Some(key) = epic["key"].as_str() else {
            continue;
        };
        let n = keys(client, &format!("parent = {key}")).await?.len();
        if n > best.0 {
            best = (n, Some(key.to_string()));
        }
    }
    best.1.context("the demo project has no epic with children")
}

/// The sync gone wrong: what a Markdown importer with a bug does to an epic in a second.
async fn sync(client: &Client, epic: &str) -> Result<Vec<String>> {
    let stories = keys(client, &format!("parent = {epic} ORDER BY key ASC")).await?;
    let mut done = Vec::new();
    let mut rewritten = 0;
    for story in stories.iter().take(4) {
        let Some(key) = story["key"].as_str() else {
            continue;
        };
        let body = json!({"fields": {
            "description": {"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": format!("Synced from {epic}.md")}]}
            ]}
        }});
        client
            .request(
                Method::PUT,
                &format!("/rest/api/3/issue/{key}"),
                Some(&body),
            )
            .await?;
        rewritten += 1;
    }
    done.push(format!(
        "replaced the descriptions of {rewritten} stories with a one-line stub"
    ));
    if let Some(first) = stories.first().and_then(|s| s["key"].as_str()) {
        let types = client.get("/rest/api/3/issuetype").await?;
        let subtask = types
            .as_array()
            .and_then(|t| t.iter().find(|t| t["subtask"] == json!(true)))
            .and_then(|t| t["id"].as_str())
            .context("no subtask type")?
            .to_string();
        for title in ["TODO", "TODO (2)", "TODO (3)"] {
            let body = json!({"fields": {
                "project": {"key": "PROJ"},
                "issuetype": {"id": subtask},
                "parent": {"key": first},
                "summary": title,
            }});
            client
                .request(Method::POST, "/rest/api/3/issue", Some(&body))
                .await?;
        }
        done.push(format!("added 3 placeholder subtasks to {first}"));
    }
    if let Some(last) = stories.last().and_then(|s| s["key"].as_str()) {
        let path = format!("/rest/api/3/issue/{last}/transitions");
        let transitions = client.get(&path).await?;
        let to_done = transitions["transitions"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["to"]["name"] == json!("Done")))
            .and_then(|t| t["id"].as_str())
            .map(str::to_string);
        if let Some(id) = to_done {
            let body =
                json!({"transition": {"id": id}, "fields": {"resolution": {"name": "Done"}}});
            client.request(Method::POST, &path, Some(&body)).await?;
            done.push(format!("moved {last} to Done"));
        }
        let comments = client
            .get(&format!("/rest/api/3/issue/{last}/comment"))
            .await?;
        if let Some(id) = comments["comments"]
            .as_array()
            .and_then(|c| c.first())
            .and_then(|c| c["id"].as_str())
        {
            client
                .request(
                    Method::DELETE,
                    &format!("/rest/api/3/issue/{last}/comment/{id}"),
                    None,
                )
                .await?;
            done.push(format!("deleted a comment on {last}"));
        }
    }
    Ok(done)
}

pub async fn run(args: DemoArgs) -> Result<Outcome> {
    let sandbox = Sandbox::start(jira::Config {
        flavor: jira::Flavor::Cloud,
        issues: args.issues,
        comments: args.comments,
        ..jira::Config::default()
    })
    .await
    .context("cannot start the demo Jira sandbox")?;
    let folder = tempfile::Builder::new()
        .prefix("backtrack-demo-")
        .tempdir()
        .context("cannot create a temporary folder for the demo store")?;
    let ctx = Context::on_folder(folder.path(), false);
    let base = sandbox.base_url();
    let credentials = Credentials::Basic {
        email: "demo@example.com".into(),
        token: sandbox.token().to_string(),
    };
    let client = Client::new(&base, &credentials, Default::default())?;
    let epic = pick_epic(&client).await?;
    let scope: Scope = format!("jira:{epic}").parse()?;
    let tracker: Arc<dyn Tracker> = Arc::new(JiraTracker::new(
        &scope,
        &JiraConfig::new(base.clone(), credentials),
    )?);

    outln!(
        "{} — snapshots and diffs of a Jira epic",
        Paint::stdout().bold("backtrack demo")
    );
    outln!(
        "A sandbox Jira Cloud serves project PROJ ({} issues, {} comments) at {base}",
        args.issues,
        args.comments
    );
    outln!(
        "The demo store is a temporary folder: {}",
        folder.path().display()
    );

    step(
        1,
        &format!("Snapshot the epic {epic} before the Markdown sync"),
    )?;
    command(&format!(
        "backtrack snapshot create {scope} --name before-sync"
    ))?;
    let archive = ctx.create_archive().await?;
    let report = archive
        .create_snapshot(
            tracker.clone(),
            &SnapshotOptions {
                name: Some(SnapshotName::parse("before-sync")?),
                progress: CaptureProgress::for_output(false, false, "capturing"),
                ..SnapshotOptions::default()
            },
        )
        .await?;
    outln!("{report}");
    outln!(
        "The epic, its children and their subtasks in {} requests: searches of 100 with only \
         the fields kept, comments embedded. Descriptions are kept in their ADF.",
        report.requests
    );

    step(2, "The sync goes wrong")?;
    for line in sync(&client, &epic).await? {
        outln!("  ✗ {line}");
    }

    step(3, "See what it did")?;
    command(&format!("backtrack diff {scope}"))?;
    let compared = compare::compare(
        &archive,
        &scope,
        &DiffSides::parse(Some("before-sync"), Some("live"))?,
        &DiffOptions::default(),
        Some(&LiveSource {
            tracker: tracker.clone(),
            progress: Arc::new(NoProgress),
        }),
    )
    .await
    .map_err(backtrack::Error::from)?;
    let text = diff::render_text(
        &compared.diff,
        &TextOptions {
            color: Paint::stdout().on,
            ..TextOptions::default()
        },
    );
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() > 70 {
        for l in &lines[..50] {
            outln!("{l}");
        }
        outln!("  … {} more lines …", lines.len() - 62);
        for l in &lines[lines.len() - 12..] {
            outln!("{l}");
        }
    } else {
        out!("{text}");
    }

    step(4, "Snapshot again: only what changed is read and stored")?;
    command(&format!(
        "backtrack snapshot create {scope} --name after-sync"
    ))?;
    let next = archive
        .create_snapshot(
            tracker.clone(),
            &SnapshotOptions {
                name: Some(SnapshotName::parse("after-sync")?),
                ..SnapshotOptions::default()
            },
        )
        .await?;
    outln!("{next}");
    outln!(
        "\nThe diff between the two is `backtrack diff {scope} --from before-sync --to after-sync` \
         (also --format markdown or json). Rolling a Jira epic back comes with the next \
         version; these snapshots already hold what it will write back."
    );
    outln!(
        "Rehearse on your own: `backtrack sandbox --tracker jira` prints a URL; export \
         JIRA_BASE_URL to it, JIRA_EMAIL=you@example.com and JIRA_API_TOKEN={}, then use the \
         same commands.",
        sandbox.token()
    );
    sandbox.shutdown().await;
    Ok(Outcome::Success)
}
