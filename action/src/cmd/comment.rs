//! `backtrack comment upsert`: one sticky comment per pull request (or issue), found by a
//! hidden marker and updated in place, never duplicated. The GitHub Action posts its diff with
//! it; anyone can use it for their own reports.
//!
//! The rules (which comment is ours, how the body is capped) live in
//! [`backtrack::tracker::github::sticky`]; this module reads the flags and prints the outcome.

use anyhow::{bail, Context as _, Result};
use backtrack::sanitize::{quote, visible};
use backtrack::tracker::github::sticky::{self, UpsertAction, UpsertRequest};
use backtrack::tracker::github::Client;
use backtrack::tracker::GitHubConfig;

use super::{print_json, Outcome};
use crate::cli::{CommentCmd, UpsertArgs};
use crate::ctx::Context;

pub async fn run(ctx: &Context, cmd: CommentCmd) -> Result<Outcome> {
    match cmd {
        CommentCmd::Upsert(args) => upsert(ctx, args).await,
    }
}

/// `OWNER/REPO`, checked.
fn parse_repo(repo: &str) -> Result<(&str, &str)> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match repo.split_once('/') {
        Some((owner, name)) if ok(owner) && ok(name) => Ok((owner, name)),
        _ => bail!(
            "--repo {} must be OWNER/REPO, e.g. acme/widgets",
            quote(repo)
        ),
    }
}

async fn upsert(ctx: &Context, args: UpsertArgs) -> Result<Outcome> {
    let (owner, repo) = parse_repo(&args.repo)?;
    // Checked before anything is read or sent.
    sticky::marker_line(&args.marker)?;
    let text = std::fs::read_to_string(&args.body_file)
        .with_context(|| format!("cannot read --body-file {}", args.body_file.display()))?;
    let config = GitHubConfig::from_env()?;
    if config.token.is_none() {
        bail!("posting a comment needs a token: set GITHUB_TOKEN (or GH_TOKEN)");
    }
    let client = Client::new(
        &config.api_url,
        config.token.as_deref(),
        config.retry.clone(),
        config.pace.clone(),
    )?;
    let identity = sticky::identify(&client, args.author.as_deref()).await?;
    let request = UpsertRequest {
        owner: owner.to_string(),
        repo: repo.to_string(),
        issue: args.pr,
        marker: args.marker.clone(),
        body: text,
        max_chars: args.max_chars,
        update_only: args.update_only,
    };
    let issue = args.pr;
    let report = sticky::upsert(&client, &identity, &request)
        .await
        .with_context(|| format!("commenting on {owner}/{repo}#{issue} failed"))?;
    let what = match report.action {
        UpsertAction::Created => "Created",
        UpsertAction::Updated => "Updated",
        UpsertAction::Unchanged => "Unchanged:",
        UpsertAction::Skipped => "No comment to update on",
    };
    let line = match &report.url {
        Some(url) => format!(
            "{what} comment {} ({} characters)",
            visible(url),
            report.chars
        ),
        None => format!("{what} {owner}/{repo}#{issue}"),
    };
    if let Some(step) = &ctx.step {
        step.summary(&format!("_PR comment: {line}_\n"))?;
    }
    if ctx.json {
        print_json(&report)?;
    } else if !ctx.quiet {
        outln!("{line}");
        if report.truncated {
            outln!(
                "The body was cut to fit GitHub's {}-character limit; the comment says so.",
                sticky::GITHUB_COMMENT_MAX_CHARS
            );
        }
        if !report.duplicates.is_empty() {
            eprintln!(
                "warning: other comments of {} carry the same marker and were left alone: {:?}",
                visible(&report.author),
                report.duplicates
            );
        }
        if !report.ignored.is_empty() {
            let list: Vec<String> = report
                .ignored
                .iter()
                .map(|c| {
                    format!(
                        "{} by {}",
                        c.id,
                        visible(c.author.as_deref().unwrap_or("(unknown)"))
                    )
                })
                .collect();
            eprintln!(
                "warning: comments by others carry the marker and were not touched (only {}'s own comment is updated): {}",
                visible(&report.author),
                list.join(", ")
            );
        }
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    // Diffs leave these reports out (`backtrack::compare`) and rollback leaves them alone.
    use backtrack::rollback::plan::is_report;
    use backtrack::tracker::github::sticky::{compose, marker_line};

    #[test]
    fn reports_are_told_from_content() {
        let m = marker_line("diff github:acme/widgets").unwrap();
        assert!(is_report(&compose(&m, "body", 65_536).0));
        assert!(!is_report("a normal comment <!-- backtrack:diff x -->"));
        assert!(!is_report("<!-- backtrack:restored-comment:12 -->"));
    }

    #[test]
    fn bad_repos_are_refused() {
        assert!(parse_repo("acme").is_err());
        assert!(parse_repo("acme/wid gets").is_err());
        assert_eq!(parse_repo("acme/widgets").unwrap(), ("acme", "widgets"));
    }
}
