//! `backtrack snapshot …`: create, list, show, delete, pin, unpin.

use anyhow::{bail, Context as _, Result};
use backtrack::fleet::{self, Credentials, RunStatus, RunSummary};
use backtrack::manifest::Trigger;
use backtrack::sanitize::{error_line, visible, visible_lines};
use backtrack::scope::Selection;
use backtrack::snapshot::{
    Archive, Resolved, SnapshotName, SnapshotOptions, SnapshotRef, ABANDONED,
};
use backtrack::units::human_bytes;
use backtrack::{SnapshotEntry, SnapshotStatus};
use chrono::Utc;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde::Serialize;

use super::{print_json, Outcome};
use crate::cli::{CreateArgs, DeleteArgs, ListArgs, RefArgs, RunsArgs, SnapshotCmd};
use crate::ctx::{parse_scope, Context};
use crate::progress::CaptureProgress;
use crate::step::{code, code_block};

pub async fn run(ctx: &Context, cmd: SnapshotCmd) -> Result<Outcome> {
    match cmd {
        SnapshotCmd::Create(args) => create(ctx, args).await,
        SnapshotCmd::List(args) => list(ctx, args).await,
        SnapshotCmd::Show(args) => show(ctx, args).await,
        SnapshotCmd::Delete(args) => delete(ctx, args).await,
        SnapshotCmd::Pin(args) => pin(ctx, args, true).await,
        SnapshotCmd::Unpin(args) => pin(ctx, args, false).await,
        SnapshotCmd::Runs(args) => runs(ctx, args).await,
    }
}

async fn create(ctx: &Context, args: CreateArgs) -> Result<Outcome> {
    let selection: Selection = args.scope.parse().map_err(backtrack::Error::from)?;
    if let Selection::GitHubOwner { owner } = &selection {
        return create_all(ctx, &args, owner).await;
    }
    if args.include_archived {
        bail!("--include-archived goes with github:ORG/* (every repository of ORG)");
    }
    let scope = parse_scope(&args.scope)?;
    let trigger: Trigger = args.trigger.parse().map_err(anyhow::Error::msg)?;
    let name = args
        .name
        .as_deref()
        .map(SnapshotName::parse)
        .transpose()
        .map_err(backtrack::Error::from)?;
    let tracker = match (&args.api, scope.tracker()) {
        (Some(api), backtrack::scope::TrackerKind::GitHub) => {
            let mut config = backtrack::tracker::GitHubConfig::from_env()?;
            config.api = api.parse()?;
            ctx.tracker_with(&scope, config)?
        }
        _ => ctx.tracker(&scope)?,
    };
    let deadline = match &args.max_duration {
        Some(text) => {
            let d = backtrack::units::parse_duration(text)
                .map_err(|e| anyhow::anyhow!("--max-duration {text:?}: {e}"))?;
            Some(std::time::Instant::now() + d)
        }
        None => None,
    };
    let archive = ctx.create_archive().await?;
    let opts = SnapshotOptions {
        name,
        reuse_name: args.force,
        trigger,
        full: args.full,
        reconcile_every: args.reconcile_every,
        progress: CaptureProgress::for_output(ctx.json, ctx.quiet, &format!("{scope}")),
        lease: ctx.lease()?,
        budget: backtrack::tracker::Budget {
            max_requests: args.max_requests,
            deadline,
        },
        ..SnapshotOptions::default()
    };
    let report = archive
        .create_snapshot(tracker, &opts)
        .await
        .with_context(|| format!("snapshot of {scope} failed"))?;
    drop(opts);
    // The report quotes the snapshot's name: user text.
    let text = visible_lines(&report.to_string()).into_owned();
    if ctx.json {
        print_json(&report)?;
    } else if !ctx.quiet {
        outln!("{text}");
    }
    if let Some(step) = &ctx.step {
        step.set("snapshot-id", &report.id.to_string())?;
        let name = report
            .name
            .as_deref()
            .map(|n| format!(" (name {})", code(&visible(n))))
            .unwrap_or_default();
        step.summary(&format!(
            "### ✅ backtrack: snapshot of {}\n\nTook snapshot {}{name}, trigger {}.\n\n{}\nPreview a rollback to it: {}\n",
            code(&scope.to_string()),
            code(&report.id.to_string()),
            code(&report.trigger.to_string()),
            code_block(&text),
            code(&format!("backtrack rollback {scope} --to {}", report.id)),
        ))?;
    }
    Ok(Outcome::Success)
}

/// `snapshot create github:ORG/*`: lists the repositories, snapshots each as its own scope
/// (a failure is reported and the others go on), prints the run's summary.
async fn create_all(ctx: &Context, args: &CreateArgs, owner: &str) -> Result<Outcome> {
    let trigger: Trigger = args.trigger.parse().map_err(anyhow::Error::msg)?;
    let name = args
        .name
        .as_deref()
        .map(SnapshotName::parse)
        .transpose()
        .map_err(backtrack::Error::from)?;
    let credentials = Credentials::from_env()?;
    let archive = ctx.create_archive().await?;
    let lease = ctx.lease()?;
    let started_at = Utc::now();
    let started = std::time::Instant::now();
    let listing = credentials
        .list(owner, args.include_archived)
        .await
        .with_context(|| format!("cannot list the repositories of {owner}"))?;
    if listing.scopes.is_empty() {
        let archived = listing.archived_skipped.len();
        bail!(
            "{owner} has no repository these credentials can see{}",
            if archived > 0 {
                format!(" besides {archived} archived one(s) (add --include-archived)")
            } else {
                String::new()
            }
        );
    }
    if !ctx.quiet && !ctx.json {
        eprintln!(
            "Snapshotting {} repositories of {owner}, {} at a time…",
            listing.scopes.len(),
            args.jobs.min(listing.scopes.len() as u16)
        );
    }
    let mut scopes = fleet::snapshot_each(
        &archive,
        &credentials,
        &listing.scopes,
        usize::from(args.jobs),
        |_| SnapshotOptions {
            name: name.clone(),
            reuse_name: args.force,
            trigger,
            full: args.full,
            reconcile_every: args.reconcile_every,
            lease,
            ..SnapshotOptions::default()
        },
    )
    .await;
    scopes.extend(fleet::skipped(&listing));
    let mut summary = RunSummary::start(format!("github:{owner}/*"), started_at);
    summary.duration_ms = started.elapsed().as_millis() as u64;
    summary.finished_at = Some(Utc::now());
    summary.listing_requests =
        listing.requests + credentials.github_app().map_or(0, |a| a.requests());
    summary.scopes = scopes;
    // The snapshots stand whether or not their run's record could be kept.
    if let Err(e) = fleet::runs::save(&archive, &summary).await {
        eprintln!(
            "warning: the run's record was not kept in the catalog: {}",
            error_line(&e.to_string())
        );
    }
    let text = summary.to_string();
    if ctx.json {
        print_json(&summary)?;
    } else if !ctx.quiet {
        outln!("{}", text.trim_end());
    }
    if let Some(step) = &ctx.step {
        let icon = if summary.failed() > 0 { "❌" } else { "✅" };
        step.summary(&format!(
            "### {icon} backtrack: snapshot of {}\n\n{}\n",
            code(&summary.selection),
            code_block(text.trim_end())
        ))?;
    }
    let failed: Vec<String> = summary
        .scopes
        .iter()
        .filter(|s| s.status == RunStatus::Failed)
        .map(|s| s.scope.to_string())
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} of {} repositories of {owner} failed ({}); the others were snapshotted",
            failed.len(),
            listing.scopes.len(),
            failed.join(", ")
        );
    }
    Ok(Outcome::Success)
}

async fn list(ctx: &Context, args: ListArgs) -> Result<Outcome> {
    let scope = args.scope.as_deref().map(parse_scope).transpose()?;
    let archive = ctx.archive().await?;
    let entries = archive.entries(scope.as_ref()).await?;
    if let Some(step) = &ctx.step {
        // The newest one a rollback could go back to (entries come newest first).
        if let Some(e) = entries
            .iter()
            .find(|e| e.status == SnapshotStatus::Completed)
        {
            step.set("snapshot-id", &e.id.to_string())?;
        }
    }
    if ctx.json {
        print_json(&entries)?;
        return Ok(Outcome::Success);
    }
    let heading = match &scope {
        Some(s) => format!("### backtrack: snapshots of {}\n", code(&s.to_string())),
        None => "### backtrack: snapshots\n".to_string(),
    };
    if entries.is_empty() {
        let text = match &scope {
            Some(s) => {
                format!("No snapshots of {s} yet. Take one with `backtrack snapshot create {s}`.")
            }
            None => {
                "No snapshots yet. Take one with `backtrack snapshot create github:OWNER/REPO`."
                    .to_string()
            }
        };
        outln!("{text}");
        if let Some(step) = &ctx.step {
            step.summary(&format!("{heading}\n{text}\n"))?;
        }
        return Ok(Outcome::Success);
    }
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "id", "name", "scope", "trigger", "status", "items", "size", "added", "age",
        ]);
    for e in &entries {
        table.add_row([
            e.id.to_string(),
            // Names come from users (and from other tools writing the catalog): shown, never
            // acted on by the terminal.
            format!(
                "{}{}",
                visible(e.name.as_deref().unwrap_or_default()),
                if e.pinned { " 📌" } else { "" }
            ),
            e.scope.to_string(),
            e.trigger.to_string(),
            status_text(e),
            e.counts.total().to_string(),
            human_bytes(e.bytes.logical),
            human_bytes(e.bytes.stored_new),
            age(e.created_at),
        ]);
    }
    let mut text = table.to_string();
    // Stores that can tell cheaply (a git:// branch) say how big they have grown.
    if let Some(u) = archive.store_usage().await? {
        text.push_str(&format!(
            "\n{}: {} objects ({}), {} in all (objects as base64 text, catalog included); `added` is what each snapshot grew it by, compressed.",
            archive.store_location(),
            backtrack::units::thousands(u.objects as usize),
            human_bytes(u.bytes),
            human_bytes(u.stored)
        ));
    }
    let abandoned = entries.iter().filter(|e| is_abandoned_text(e)).count();
    if abandoned > 0 {
        text.push_str(&format!(
            "\n{abandoned} capture(s) were abandoned: their process stopped before finishing (killed, crashed, or asleep past its lease). `backtrack prune` removes them."
        ));
    }
    outln!("{text}");
    if let Some(step) = &ctx.step {
        step.summary(&format!("{heading}\n{}", code_block(&text)))?;
    }
    Ok(Outcome::Success)
}

/// `snapshot runs [RUN|github:ORG/*]`: the runs kept in the catalog, or one of them.
async fn runs(ctx: &Context, args: RunsArgs) -> Result<Outcome> {
    let archive = ctx.archive().await?;
    let selection = match args.what.as_deref() {
        Some(w) if w.contains(':') => match w.parse::<Selection>().map_err(anyhow::Error::msg)? {
            Selection::GitHubOwner { owner } => Some(format!("github:{owner}/*")),
            _ => bail!("{w} is not an organisation: give github:ORG/* or a run id"),
        },
        Some(id) => {
            let id = id.trim().to_ascii_lowercase();
            let Some(run) = fleet::runs::get(&archive, &id).await? else {
                bail!("no run {id} in the catalog; `backtrack snapshot runs` lists them");
            };
            if ctx.json {
                print_json(&run)?;
            } else {
                outln!(
                    "run {} ({}), started {}",
                    run.id,
                    run.status(),
                    age(run.started_at)
                );
                outln!("{}", run.to_string().trim_end());
            }
            return Ok(Outcome::Success);
        }
        None => None,
    };
    let list = fleet::runs::list(&archive, selection.as_deref(), args.limit).await?;
    if ctx.json {
        print_json(&list)?;
        return Ok(Outcome::Success);
    }
    if list.is_empty() {
        outln!("No runs yet. `backtrack snapshot create github:ORG/*` takes one.");
        return Ok(Outcome::Success);
    }
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "run",
            "selection",
            "status",
            "repos",
            "completed",
            "failed",
            "skipped",
            "requests",
            "duration",
            "started",
        ]);
    for r in &list {
        table.add_row([
            r.id.clone(),
            r.selection.clone(),
            r.status().to_string(),
            r.scopes.len().to_string(),
            r.count(RunStatus::Completed).to_string(),
            r.failed().to_string(),
            r.count(RunStatus::Skipped).to_string(),
            r.requests().to_string(),
            format!("{:.1}s", r.duration_ms as f64 / 1000.0),
            age(r.started_at),
        ]);
    }
    outln!("{table}");
    Ok(Outcome::Success)
}

fn is_abandoned_text(e: &SnapshotEntry) -> bool {
    e.status == SnapshotStatus::Failed && e.error.as_deref() == Some(ABANDONED)
}

/// The status column: `failed (abandoned)` for a capture whose process is gone.
fn status_text(e: &SnapshotEntry) -> String {
    if is_abandoned_text(e) {
        format!("{} (abandoned)", e.status)
    } else {
        e.status.to_string()
    }
}

/// `3m ago`-style ages.
pub fn age(t: chrono::DateTime<Utc>) -> String {
    let secs = (Utc::now() - t).num_seconds().max(0);
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

#[derive(Serialize)]
struct ShowOutput<'a> {
    #[serde(flatten)]
    entry: &'a SnapshotEntry,
    manifest: Option<ManifestSummary>,
    resolved: &'a Resolved,
}

#[derive(Serialize)]
struct ManifestSummary {
    records: usize,
    cursor: backtrack::manifest::Cursor,
}

/// What a command needs of the snapshot its reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Any,
    /// Its records: a completed snapshot.
    Completed,
    /// To delete it: exactly one snapshot, not the newest of several with a name.
    Unique,
}

/// The snapshot a command's reference means (across every scope), checked against what the
/// command needs. The caller says what it resolved to ([`super::note_resolved`]) once its
/// own checks passed, so a refused command still prints one line: its error.
pub async fn find(archive: &Archive, reference: &str, need: Need) -> Result<Resolved> {
    let resolved = archive.find(None, &SnapshotRef::parse(reference)?).await?;
    Ok(match need {
        Need::Any => resolved,
        Need::Completed => resolved.completed()?,
        Need::Unique => {
            resolved.clone().unique()?;
            resolved
        }
    })
}

async fn show(ctx: &Context, args: RefArgs) -> Result<Outcome> {
    let archive = ctx.archive().await?;
    let resolved = find(&archive, &args.reference, Need::Any).await?;
    super::note_resolved(ctx, None, &resolved);
    let standing = archive.standing(resolved.entry.clone()).await?;
    let entry = &standing;
    let manifest = if entry.status == SnapshotStatus::Completed {
        Some(archive.load_manifest(entry).await?)
    } else {
        None
    };
    let summary = manifest.as_ref().map(|m| ManifestSummary {
        records: m.entries.len(),
        cursor: m.cursor.clone(),
    });
    if ctx.json {
        print_json(&ShowOutput {
            entry,
            manifest: summary,
            resolved: &resolved,
        })?;
        return Ok(Outcome::Success);
    }
    outln!("Snapshot {}", entry.id);
    outln!("  scope:      {}", entry.scope);
    if let Some(name) = &entry.name {
        outln!("  name:       {}", visible(name));
    }
    outln!("  trigger:    {}", entry.trigger);
    outln!("  status:     {}", status_text(entry));
    outln!(
        "  created:    {} ({})",
        entry.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        age(entry.created_at)
    );
    outln!(
        "  items:      {}",
        entry.counts.describe(entry.scope.tracker())
    );
    outln!(
        "  size:       {} logical, {} stored new",
        human_bytes(entry.bytes.logical),
        human_bytes(entry.bytes.stored_new)
    );
    outln!("  requests:   {}", entry.requests);
    if let Some(parent) = &entry.parent {
        outln!("  parent:     {parent}");
    }
    outln!("  pinned:     {}", if entry.pinned { "yes" } else { "no" });
    if let Some(err) = &entry.error {
        outln!("  error:      {}", error_line(err));
    }
    Ok(Outcome::Success)
}

async fn delete(ctx: &Context, args: DeleteArgs) -> Result<Outcome> {
    let archive = ctx.archive().await?;
    // Deleting "the newest of several with this name" is not a guess to make.
    let resolved = find(&archive, &args.reference, Need::Unique).await?;
    let entry = resolved.entry.clone();
    archive.delete_snapshot(&entry, args.force).await?;
    super::note_resolved(ctx, None, &resolved);
    if ctx.json {
        print_json(&serde_json::json!({
            "deleted": entry.id, "scope": entry.scope, "resolved": resolved,
        }))?;
    } else if !ctx.quiet {
        outln!(
            "Deleted snapshot {} of {}. Its blobs are reclaimed by the next `backtrack prune`.",
            entry.id,
            entry.scope
        );
    }
    Ok(Outcome::Success)
}

async fn pin(ctx: &Context, args: RefArgs, pinned: bool) -> Result<Outcome> {
    let archive = ctx.archive().await?;
    let resolved = find(&archive, &args.reference, Need::Any).await?;
    archive.set_pinned(&resolved.id, pinned).await?;
    super::note_resolved(ctx, None, &resolved);
    if ctx.json {
        print_json(&serde_json::json!({
            "id": resolved.id, "pinned": pinned, "resolved": resolved,
        }))?;
    } else if !ctx.quiet {
        outln!(
            "Snapshot {} {}.",
            resolved.id,
            if pinned { "pinned" } else { "unpinned" }
        );
    }
    Ok(Outcome::Success)
}
