//! Sticky comments: one comment per pull request (or issue) that is updated in place on every
//! run instead of piling up, found again by a hidden marker line (`<!-- backtrack:MARKER -->`).
//!
//! Which comment is ours is a security rule, not a convenience: anyone who can comment can
//! paste the marker into their own comment, and a token with write access may edit other
//! people's comments. So only a comment written by the token's own identity is ever updated;
//! a marked comment by anyone else is left alone (and reported), and a new one is posted.
//!
//! The identity comes from `GET /user`. GitHub answers that with 403 for installation tokens
//! (the Actions `GITHUB_TOKEN`, GitHub App tokens), which cannot say who they are; for those
//! the caller declares the identity: `github-actions[bot]` for the workflow token (the Action
//! does this when its `github-token` input is the workflow's own token), `<app-slug>[bot]`
//! for an App. A declared identity is used only when GitHub will not say: when it does, the
//! token's own identity wins.

use http::Method;
use serde::Serialize;
use serde_json::{json, Value};

use super::Client;
use crate::sanitize::{quote, redact_url};
use crate::tracker::TrackerError;
use crate::Error;

/// GitHub's limit on a comment body, in characters.
pub const GITHUB_COMMENT_MAX_CHARS: usize = 65_536;

/// The smallest cap [`upsert`] accepts: room for the marker, the cut note and some text.
pub const MIN_MAX_CHARS: usize = 1_000;

/// The hidden line that identifies the comment: `<!-- backtrack:MARKER -->`.
pub fn marker_line(marker: &str) -> Result<String, Error> {
    let marker = marker.trim();
    if marker.is_empty()
        || marker.contains("--")
        || marker.contains('>')
        || marker.chars().any(char::is_control)
    {
        return Err(Error::Invalid(format!(
            "--marker {} must be non-empty, on one line, without `--` or `>`",
            quote(marker)
        )));
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

/// Where the identity of a sticky comment's author came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentitySource {
    /// `GET /user` with the token.
    Token,
    /// Declared by the caller, because GitHub does not say who an installation token is.
    Declared,
}

/// The author whose comments a sticky-comment update may touch: the token's own identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub login: String,
    /// GitHub's account id when `GET /user` said it; it survives renames, so it is compared
    /// first.
    pub id: Option<u64>,
    pub source: IdentitySource,
}

impl Identity {
    /// Whether `comment` (a GitHub comment object) was written by this identity.
    pub fn wrote(&self, comment: &Value) -> bool {
        let Some(user) = comment.get("user") else {
            return false;
        };
        if let (Some(mine), Some(theirs)) = (self.id, user.get("id").and_then(Value::as_u64)) {
            return mine == theirs;
        }
        user.get("login")
            .and_then(Value::as_str)
            .is_some_and(|l| l.eq_ignore_ascii_case(&self.login))
    }
}

/// A GitHub login as accounts and Apps have them: alphanumerics and single hyphens (at most
/// 39), optionally followed by `[bot]`.
fn valid_login(login: &str) -> bool {
    let name = login.strip_suffix("[bot]").unwrap_or(login);
    !name.is_empty()
        && name.len() <= 39
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Who the token is: `GET /user`, or, when GitHub will not say (403 for installation
/// tokens), `declared`. Without a declared identity that case is an error that says what to
/// declare, rather than a guess.
pub async fn identify(client: &Client, declared: Option<&str>) -> Result<Identity, Error> {
    let declared = declared.map(str::trim).filter(|d| !d.is_empty());
    if let Some(d) = declared {
        if !valid_login(d) {
            return Err(Error::Invalid(format!(
                "comment author {} is not a GitHub login (e.g. github-actions[bot], my-app[bot], octocat)",
                quote(d)
            )));
        }
    }
    match client.get("/user", None).await {
        Ok(reply) => {
            let user = reply.json("/user")?;
            let login = user
                .get("login")
                .and_then(Value::as_str)
                .filter(|l| !l.is_empty())
                .ok_or_else(|| TrackerError::Decode {
                    service: "GitHub".into(),
                    path: "/user".into(),
                    detail: "no login in the answer".into(),
                })?;
            if let Some(d) = declared {
                if !d.eq_ignore_ascii_case(login) {
                    tracing::warn!(
                        declared = d,
                        token = login,
                        "the token says who it is, so the declared comment author is ignored"
                    );
                }
            }
            Ok(Identity {
                login: login.to_string(),
                id: user.get("id").and_then(Value::as_u64),
                source: IdentitySource::Token,
            })
        }
        Err(TrackerError::Forbidden { .. } | TrackerError::NotFound { .. }) => match declared {
            Some(d) => Ok(Identity {
                login: d.to_string(),
                id: None,
                source: IdentitySource::Declared,
            }),
            None => Err(Error::Invalid(
                "GitHub does not say who this token is (GET /user answered 403, as it does for \
                 GitHub App installation tokens and the Actions GITHUB_TOKEN), so backtrack \
                 cannot tell its own comment from someone else's: declare the token's login \
                 with --author (or BACKTRACK_COMMENT_AUTHOR), e.g. github-actions[bot] or \
                 my-app[bot]"
                    .into(),
            )),
        },
        Err(e) => Err(e.into()),
    }
}

/// One sticky comment to create or update.
#[derive(Debug, Clone)]
pub struct UpsertRequest {
    pub owner: String,
    pub repo: String,
    /// The pull request or issue number.
    pub issue: u64,
    /// The marker text (not the line): see [`marker_line`].
    pub marker: String,
    /// The comment's Markdown, without the marker; cut to `max_chars` if need be.
    pub body: String,
    /// Cap of the whole body, marker included: [`MIN_MAX_CHARS`]..=[`GITHUB_COMMENT_MAX_CHARS`].
    pub max_chars: usize,
    /// Only update an existing comment; never create one.
    pub update_only: bool,
}

/// What [`upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpsertAction {
    Created,
    Updated,
    /// Our comment already had this body: nothing was written.
    Unchanged,
    /// `update_only` and we had no comment with the marker.
    Skipped,
}

/// A comment that carries the marker but was written by someone else: never edited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignComment {
    pub id: u64,
    pub author: Option<String>,
}

/// The outcome of [`upsert`].
#[derive(Debug, Clone, Serialize)]
pub struct UpsertReport {
    pub action: UpsertAction,
    pub id: Option<u64>,
    pub url: Option<String>,
    /// Characters of the body written (or that would have been).
    pub chars: usize,
    pub truncated: bool,
    /// The identity whose comment this is.
    pub author: String,
    /// Our other comments that also carry the marker (left alone; only the oldest is kept
    /// up to date).
    pub duplicates: Vec<u64>,
    /// Comments by others that carry the marker, ignored.
    pub ignored: Vec<ForeignComment>,
}

/// Creates the comment that carries the marker, or updates ours in place. Only comments that
/// `identity` wrote are candidates (see the module docs); the oldest of them is updated.
pub async fn upsert(
    client: &Client,
    identity: &Identity,
    req: &UpsertRequest,
) -> Result<UpsertReport, Error> {
    let marker = marker_line(&req.marker)?;
    if !(MIN_MAX_CHARS..=GITHUB_COMMENT_MAX_CHARS).contains(&req.max_chars) {
        return Err(Error::Invalid(format!(
            "--max-chars {} must be between {MIN_MAX_CHARS} and {GITHUB_COMMENT_MAX_CHARS}",
            req.max_chars
        )));
    }
    let (body, truncated) = compose(&marker, &req.body, req.max_chars);
    let chars = body.chars().count();
    let (owner, repo, issue) = (&req.owner, &req.repo, req.issue);

    let mut ours: Vec<(u64, Value)> = Vec::new();
    let mut ignored = Vec::new();
    let mut next = Some(format!(
        "/repos/{owner}/{repo}/issues/{issue}/comments?per_page=100"
    ));
    while let Some(target) = next {
        let reply = client.get(&target, None).await?;
        let page = reply.json(&target)?;
        let Some(items) = page.as_array() else {
            return Err(TrackerError::Decode {
                service: "GitHub".into(),
                path: target,
                detail: "expected a list of comments".into(),
            }
            .into());
        };
        for c in items {
            let marked = c
                .get("body")
                .and_then(Value::as_str)
                .is_some_and(|b| b.contains(&marker));
            if !marked {
                continue;
            }
            let id = c
                .get("id")
                .and_then(Value::as_u64)
                .ok_or_else(|| TrackerError::Decode {
                    service: "GitHub".into(),
                    path: target.clone(),
                    detail: "a comment has no numeric id".into(),
                })?;
            if identity.wrote(c) {
                ours.push((id, c.clone()));
            } else {
                let author = c
                    .pointer("/user/login")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                tracing::warn!(
                    comment = id,
                    author = author.as_deref().unwrap_or("(unknown)"),
                    "a comment by someone else carries the marker; it is left alone"
                );
                ignored.push(ForeignComment { id, author });
            }
        }
        next = reply.next_link();
    }
    ours.sort_by_key(|(id, _)| *id);
    ignored.sort_by_key(|c| c.id);
    let duplicates: Vec<u64> = ours.iter().skip(1).map(|(id, _)| *id).collect();

    let (action, reply) = match ours.first() {
        Some((id, existing)) => {
            if existing.get("body").and_then(Value::as_str) == Some(body.as_str()) {
                (UpsertAction::Unchanged, existing.clone())
            } else {
                let path = format!("/repos/{owner}/{repo}/issues/comments/{id}");
                let reply = client
                    .write(Method::PATCH, &path, Some(&json!({ "body": body })))
                    .await?;
                (UpsertAction::Updated, reply.json(&path)?)
            }
        }
        None if req.update_only => (UpsertAction::Skipped, Value::Null),
        None => {
            let path = format!("/repos/{owner}/{repo}/issues/{issue}/comments");
            let reply = client
                .write(Method::POST, &path, Some(&json!({ "body": body })))
                .await?;
            (UpsertAction::Created, reply.json(&path)?)
        }
    };
    Ok(UpsertReport {
        action,
        id: reply.get("id").and_then(Value::as_u64),
        url: reply
            .get("html_url")
            .and_then(Value::as_str)
            .map(|u| redact_url(u).into_owned()),
        chars,
        truncated,
        author: identity.login.clone(),
        duplicates,
        ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn bad_markers_are_refused() {
        assert!(marker_line("a --> b").is_err());
        assert!(marker_line("").is_err());
        assert!(marker_line("a\u{1b}b").is_err());
        let e = marker_line(&"-->".repeat(5_000)).unwrap_err().to_string();
        assert!(e.contains("(15,000 characters)") && e.len() < 300, "{e}");
    }

    #[test]
    fn only_comments_of_the_identity_are_ours() {
        let by = |login: &str, id: u64| json!({"id": 1, "body": "x", "user": {"login": login, "id": id}});
        let me = Identity {
            login: "octocat".into(),
            id: Some(583231),
            source: IdentitySource::Token,
        };
        assert!(me.wrote(&by("octocat", 583231)));
        // Renamed since: the id decides.
        assert!(me.wrote(&by("octocat-renamed", 583231)));
        assert!(!me.wrote(&by("octocat", 1)));
        assert!(!me.wrote(&by("mallory", 666)));
        assert!(!me.wrote(&json!({"id": 1, "body": "x"})));
        let bot = Identity {
            login: "github-actions[bot]".into(),
            id: None,
            source: IdentitySource::Declared,
        };
        assert!(bot.wrote(&by("github-actions[bot]", 41898282)));
        assert!(bot.wrote(&by("GitHub-Actions[bot]", 41898282)));
        assert!(!bot.wrote(&by("github-actions", 7)));
        assert!(!bot.wrote(&by("my-app[bot]", 8)));
    }

    #[test]
    fn declared_logins_are_checked() {
        for ok in ["github-actions[bot]", "my-app[bot]", "octocat", "a-b-c"] {
            assert!(valid_login(ok), "{ok}");
        }
        for bad in [
            "",
            "[bot]",
            "-x",
            "x-",
            "a b",
            "a/b",
            "x[bot][bot]",
            &"a".repeat(40),
        ] {
            assert!(!valid_login(bad), "{bad}");
        }
    }
}
