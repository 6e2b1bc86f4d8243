//! `backtrack comment upsert`: one sticky comment per pull request (or issue), found by a
//! hidden marker and updated in place, never duplicated. The GitHub Action posts its diff with
//! it; anyone can use it for their own reports.
//!
//! GitHub rejects comment bodies over 65,536 characters, so the body (marker included) is cut
//! at a line boundary below that, and the cut is said at the end of the comment.

use anyhow::{bail, Context as _, Result};
use backtrack::tracker::github::Client;
use backtrack::tracker::GitHubConfig;
use http::Method;
use serde::Serialize;
use serde_json::{json, Value};

use super::{print_json, Outcome};
use crate::cli::{CommentCmd, UpsertArgs};
use crate::ctx::Context;

/// GitHub's limit on a comment body, in characters.
pub const GITHUB_COMMENT_MAX_CHARS: usize = 65_536;

pub async fn run(ctx: &Context, cmd: CommentCmd) -> Result<Outcome> {
    match cmd {
        CommentCmd::Upsert(args) => upsert(ctx, args).await,
    }
}

/// What `upsert` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Created,
    Updated,
    /// The comment already had this body: nothing was written.
    Unchanged,
    /// `--update-only` and no comment carried the marker.
    Skipped,
}

#[derive(Debug, Serialize)]
struct UpsertReport {
    action: Action,
    id: Option<u64>,
    url: Option<String>,
    chars: usize,
    truncated: bool,
    /// Other comments that also carry the marker (left alone; only the oldest is updated).
    duplicates: Vec<u64>,
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
        _ => bail!("--repo {repo:?} must be OWNER/REPO, e.g. acme/widgets"),
    }
}

/// The hidden line that identifies the comment: `<!-- backtrack:MARKER -->`.
pub fn marker_line(marker: &str) -> Result<String> {
    let marker = marker.trim();
    if marker.is_empty() || marker.contains("--") || marker.contains('>') || marker.contains('\n') {
        bail!("--marker {marker:?} must be non-empty, on one line, without `--` or `>`");
    }
    Ok(format!("<!-- backtrack:{marker} -->"))
}

/// The full comment body: marker first, then `body`, cut to `max_chars` characters at a line
/// boundary with a closing note that says how much was left out. Returns (body, truncated).
pub fn compose(marker_line: &str, body: &str, max_chars: usize) -> (String, bool) {
    let full = format!("{marker_line}\n{}", body.trim_end());
    let total = full.chars().count();
    if total <= max_chars {
        return (full, false);
    }
    // Reserve room for the note (its numbers have at most 20 digits each) and a closing fence.
    let note_room = cut_note(usize::MAX, usize::MAX).chars().count() + "\n```".len();
    let budget = max_chars.saturating_sub(note_room);
    let mut end = full
        .char_indices()
        .nth(budget)
        .map_or(full.len(), |(i, _)| i);
    // Back up to the last line break so no line (or Markdown construct) is cut in half.
    if let Some(nl) = full[..end].rfind('\n') {
        end = nl;
    }
    let kept = &full[..end];
    let left_out = &full[end..];
    let left_chars = left_out.chars().count();
    let left_lines = left_out.lines().filter(|l| !l.trim().is_empty()).count();
    // An unclosed code fence would swallow the note.
    let fence = if kept.matches("```").count() % 2 == 1 {
        "\n```"
    } else {
        ""
    };
    let out = format!("{kept}{fence}{}", cut_note(left_chars, left_lines));
    (out, true)
}

fn cut_note(chars: usize, lines: usize) -> String {
    format!(
        "\n\n---\n✂️ **Cut here:** GitHub comments hold at most 65,536 characters, so the last {chars} characters ({lines} lines) are left out. The job summary and `backtrack diff` show everything."
    )
}

async fn find_marked(client: &Client, first: String, marker: &str) -> Result<Vec<(u64, Value)>> {
    let mut found = Vec::new();
    let mut next = Some(first);
    while let Some(target) = next {
        let reply = client.get(&target, None).await?;
        let page = reply.json(&target)?;
        let items = page
            .as_array()
            .with_context(|| format!("GET {target} did not answer a list of comments"))?;
        for c in items {
            let body = c.get("body").and_then(Value::as_str).unwrap_or_default();
            if body.contains(marker) {
                let id = c
                    .get("id")
                    .and_then(Value::as_u64)
                    .with_context(|| format!("a comment in GET {target} has no numeric id"))?;
                found.push((id, c.clone()));
            }
        }
        next = reply.next_link();
    }
    found.sort_by_key(|(id, _)| *id);
    Ok(found)
}

async fn upsert(ctx: &Context, args: UpsertArgs) -> Result<Outcome> {
    let (owner, repo) = parse_repo(&args.repo)?;
    let marker = marker_line(&args.marker)?;
    if args.max_chars > GITHUB_COMMENT_MAX_CHARS || args.max_chars < 1_000 {
        bail!(
            "--max-chars {} must be between 1000 and {GITHUB_COMMENT_MAX_CHARS}",
            args.max_chars
        );
    }
    let text = std::fs::read_to_string(&args.body_file)
        .with_context(|| format!("cannot read --body-file {}", args.body_file.display()))?;
    let (body, truncated) = compose(&marker, &text, args.max_chars);
    let chars = body.chars().count();

    let config = GitHubConfig::from_env();
    if config.token.is_none() {
        bail!("posting a comment needs a token: set GITHUB_TOKEN (or GH_TOKEN)");
    }
    let client = Client::new(
        &config.api_url,
        config.token.as_deref(),
        config.retry.clone(),
        config.pace.clone(),
    )?;
    let issue = args.pr;
    let list = format!("/repos/{owner}/{repo}/issues/{issue}/comments?per_page=100");
    let marked = find_marked(&client, list, &marker)
        .await
        .with_context(|| format!("reading the comments of {owner}/{repo}#{issue} failed"))?;
    let duplicates: Vec<u64> = marked.iter().skip(1).map(|(id, _)| *id).collect();
    let (action, reply) = match marked.first() {
        Some((id, existing)) => {
            let url = existing
                .get("html_url")
                .and_then(Value::as_str)
                .map(str::to_string);
            if existing.get("body").and_then(Value::as_str) == Some(body.as_str()) {
                (Action::Unchanged, json!({"id": id, "html_url": url}))
            } else {
                let path = format!("/repos/{owner}/{repo}/issues/comments/{id}");
                let reply = client
                    .write(Method::PATCH, &path, Some(&json!({ "body": body })))
                    .await
                    .with_context(|| format!("updating comment {id} failed"))?;
                (Action::Updated, reply.json(&path)?)
            }
        }
        None if args.update_only => (Action::Skipped, Value::Null),
        None => {
            let path = format!("/repos/{owner}/{repo}/issues/{issue}/comments");
            let reply = client
                .write(Method::POST, &path, Some(&json!({ "body": body })))
                .await
                .with_context(|| format!("commenting on {owner}/{repo}#{issue} failed"))?;
            (Action::Created, reply.json(&path)?)
        }
    };
    let report = UpsertReport {
        action,
        id: reply.get("id").and_then(Value::as_u64),
        url: reply
            .get("html_url")
            .and_then(Value::as_str)
            .map(str::to_string),
        chars,
        truncated,
        duplicates,
    };
    if ctx.json {
        print_json(&report)?;
    } else if !ctx.quiet {
        let what = match action {
            Action::Created => "Created",
            Action::Updated => "Updated",
            Action::Unchanged => "Unchanged:",
            Action::Skipped => "No comment to update on",
        };
        match &report.url {
            Some(url) => println!("{what} comment {url} ({chars} characters)"),
            None => println!("{what} {owner}/{repo}#{issue}"),
        }
        if truncated {
            println!("The body was cut to fit GitHub's {GITHUB_COMMENT_MAX_CHARS}-character limit; the comment says so.");
        }
        if !report.duplicates.is_empty() {
            eprintln!(
                "warning: other comments carry the same marker and were left alone: {:?}",
                report.duplicates
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

    #[test]
    fn short_bodies_are_kept_whole() {
        let m = marker_line("diff github:acme/widgets").unwrap();
        assert_eq!(m, "<!-- backtrack:diff github:acme/widgets -->");
        let (b, cut) = compose(&m, "hello\n", 65_536);
        assert_eq!(b, format!("{m}\nhello"));
        assert!(!cut);
    }

    #[test]
    fn long_bodies_are_cut_at_a_line_and_say_so() {
        let m = marker_line("x").unwrap();
        let body: String = (0..5_000)
            .map(|i| format!("- issue #{i}: ✨ changed\n"))
            .collect();
        let (b, cut) = compose(&m, &body, GITHUB_COMMENT_MAX_CHARS);
        assert!(cut);
        assert!(b.chars().count() <= GITHUB_COMMENT_MAX_CHARS, "{}", b.len());
        assert!(b.starts_with(&m));
        assert!(b.contains("Cut here"));
        let before_note = b.split("\n\n---\n✂️").next().unwrap();
        assert!(before_note.ends_with("changed"), "cut mid-line");
        // Exactly at the limit is allowed.
        let (b2, _) = compose(&m, &body, 2_000);
        assert!(b2.chars().count() <= 2_000);
    }

    #[test]
    fn an_open_code_fence_is_closed_before_the_note() {
        let m = marker_line("x").unwrap();
        let body = format!("```diff\n{}```\n", "+ line\n".repeat(1_000));
        let (b, cut) = compose(&m, &body, 2_000);
        assert!(cut);
        assert_eq!(b.matches("```").count() % 2, 0, "{b}");
    }

    #[test]
    fn reports_are_told_from_content() {
        let m = marker_line("diff github:acme/widgets").unwrap();
        assert!(is_report(&compose(&m, "body", 65_536).0));
        assert!(!is_report("a normal comment <!-- backtrack:diff x -->"));
        assert!(!is_report("<!-- backtrack:restored-comment:12 -->"));
    }

    #[test]
    fn bad_markers_and_repos_are_refused() {
        assert!(marker_line("a --> b").is_err());
        assert!(marker_line("").is_err());
        assert!(parse_repo("acme").is_err());
        assert!(parse_repo("acme/wid gets").is_err());
        assert_eq!(parse_repo("acme/widgets").unwrap(), ("acme", "widgets"));
    }
}
