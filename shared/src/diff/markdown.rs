//! The Markdown view of a [`Diff`], for pull-request comments and job summaries.
//!
//! A summary table first, then label and milestone definitions as a list, then one collapsible
//! `<details>` block per issue with fenced `diff` blocks. GitHub rejects comments over 65,536
//! characters, so the output is capped at [`MarkdownOptions::max_chars`], in this order of
//! priority: every changed issue is listed (its `<summary>` line) if the listings fit; the room
//! left is shared fairly among the issues' details, so one huge body cannot crowd out the
//! others (a block that wants more than its share is shortened, line by line, and says how
//! much is left out); and only when even the listings do not fit are whole blocks dropped from
//! the end. A closing note says what was shortened or dropped and how to see all of it.
//!
//! Tracker text is untrusted and may be written to be rendered: titles and names are escaped
//! with character references (so no Markdown, HTML or `@mention` in them takes effect), and
//! bodies go in fences longer than any backtick run they contain. Control, bidirectional and
//! invisible characters are shown as visible stand-ins everywhere, code blocks included
//! ([`visible`]).

use std::fmt::Write as _;

use serde_json::Value;

use crate::sanitize::{shorten, visible};
use crate::units::thousands;

use super::schema::Schema;
use super::text::{
    count_of, definition_facts, definition_field_word, describe_side, issue_heading, issue_list,
    issue_name, more_lines, plain, runs_by_key, scope_of,
};
use super::{Change, ChangeKind, Diff, Field, Hunk, IssueEntry, Op};

/// GitHub's comment limit is 65,536 characters; the rest is headroom for a caller's framing.
pub const DEFAULT_MAX_CHARS: usize = 65_000;

/// How to render the Markdown view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkdownOptions {
    /// Prefix of issue links, e.g. `https://github.com/acme/widgets/issues/`, used for issues
    /// without an `html_url` of their own.
    pub issue_url_base: Option<String>,
    /// The output never has more characters (Unicode scalar values) than this.
    pub max_chars: usize,
    /// The command quoted when the output is cut, e.g.
    /// `backtrack diff github:acme/widgets --from nightly --format text`. Default:
    /// `backtrack diff <scope> --format text`.
    pub full_diff_command: Option<String>,
    /// Text put first, verbatim, e.g. a hidden `<!-- backtrack-diff -->` marker by which a
    /// sticky comment is found again. Counted in `max_chars`.
    pub preamble: Option<String>,
    /// Lines shown of a whole added or removed text before "… N more lines". Default 20.
    pub max_record_lines: usize,
}

impl Default for MarkdownOptions {
    fn default() -> Self {
        MarkdownOptions {
            issue_url_base: None,
            max_chars: DEFAULT_MAX_CHARS,
            full_diff_command: None,
            preamble: None,
            max_record_lines: 20,
        }
    }
}

/// The smallest cap [`MarkdownOptions::for_diff`] accepts: room for the summary table.
pub const MIN_MAX_CHARS: usize = 1_000;
/// The largest cap it accepts (GitHub's job summaries hold 1 MiB).
pub const MAX_MAX_CHARS: usize = 1_000_000;

impl MarkdownOptions {
    /// The options every caller uses for a diff of `scope`: issue links on the tracker's web
    /// pages, the cap (`None`: [`DEFAULT_MAX_CHARS`]; otherwise between [`MIN_MAX_CHARS`] and
    /// [`MAX_MAX_CHARS`]), and, in the note a cut output ends with, the command that shows
    /// everything, naming both sides by id so it still means the same tomorrow.
    pub fn for_diff(
        scope: &crate::scope::Scope,
        diff: &Diff,
        max_chars: Option<usize>,
    ) -> Result<Self, crate::Error> {
        let max_chars = max_chars.unwrap_or(DEFAULT_MAX_CHARS);
        if !(MIN_MAX_CHARS..=MAX_MAX_CHARS).contains(&max_chars) {
            return Err(crate::Error::Invalid(format!(
                "the Markdown cap of {max_chars} characters is out of range: give {MIN_MAX_CHARS}–{MAX_MAX_CHARS}"
            )));
        }
        let side = |s: &super::Side| match (s.kind, &s.id) {
            (super::SideKind::Snapshot, Some(id)) => id.clone(),
            (super::SideKind::Snapshot, None) => "latest".to_string(),
            (super::SideKind::Live, _) => "live".to_string(),
        };
        Ok(MarkdownOptions {
            issue_url_base: scope
                .github_repo()
                .map(|(owner, repo)| format!("https://github.com/{owner}/{repo}/issues/")),
            max_chars,
            full_diff_command: Some(format!(
                "backtrack diff {scope} --from {} --to {} --format text",
                side(&diff.from),
                side(&diff.to)
            )),
            ..MarkdownOptions::default()
        })
    }
}

/// Longest tracker name, title or description shown in a summary or list line (GitHub allows
/// 256-character titles; a hostile or broken server may send more).
const MAX_INLINE_CHARS: usize = 300;

/// What a shortened code block says in place of the lines it leaves out, at most.
const SECTION_NOTE_ROOM: usize = 120;

/// Said inside a block whose details were cut.
const SHORTENED_NOTE: &str = "_Shortened to fit the comment; the full diff has all of it._\n\n";

/// Said inside a block listed without any of its details.
const LISTED_ONLY_NOTE: &str = "_Details cut to fit the comment._\n\n";

/// One piece of the output: a label or milestone definition, or one issue with its fenced
/// sections. When the output is capped, a block is kept whole, shortened (fewer lines in its
/// sections), reduced to its listing, or dropped.
struct Block {
    /// Headings and the `<details><summary>…` line.
    head: String,
    sections: Vec<Section>,
    /// `</details>`, for issues.
    tail: String,
    issue: bool,
}

/// A bold title and a fenced `diff` block.
struct Section {
    /// Already Markdown (escaped).
    title: String,
    /// Already made visible; without their line breaks.
    lines: Vec<String>,
}

impl Section {
    fn fence(&self) -> String {
        let longest = self
            .lines
            .iter()
            .map(|l| longest_run(l, '`'))
            .max()
            .unwrap_or(0);
        // A fence is closed only by a run of at least its own length, so one longer than any
        // run inside keeps a body containing ``` from ending the block early.
        "`".repeat((longest + 1).max(3))
    }

    fn render(&self, out: &mut String, lines: &[String]) {
        let fence = self.fence();
        let _ = writeln!(out, "**{}**\n\n{fence}diff", self.title);
        for l in lines {
            out.push_str(l);
            out.push('\n');
        }
        let _ = writeln!(out, "{fence}\n");
    }

    fn content_chars(&self) -> usize {
        self.lines.iter().map(|l| l.chars().count() + 1).sum()
    }

    /// Its lines within `budget` characters (line breaks counted), then one line that says
    /// what was left out.
    fn shortened(&self, budget: usize) -> Vec<String> {
        let chars = |ls: &[String]| ls.iter().map(|l| l.chars().count() + 1).sum::<usize>();
        let mut out = Vec::new();
        let mut used = 0;
        for (i, l) in self.lines.iter().enumerate() {
            let len = l.chars().count() + 1;
            if used + len <= budget {
                out.push(l.clone());
                used += len;
                continue;
            }
            let after = &self.lines[i + 1..];
            // A long line (a one-line body) is cut rather than dropped when there is room.
            let room = budget.saturating_sub(used + 2);
            let more = |n: usize| match n {
                0 => String::new(),
                1 => " and 1 more line".to_string(),
                n => format!(" and {} more lines", thousands(n)),
            };
            let note = if room >= 20 {
                out.push(shorten(l, room).into_owned());
                format!(
                    "the rest of this line{} ({} characters)",
                    more(after.len()),
                    thousands(len - 1 - room + chars(after))
                )
            } else {
                format!(
                    "{} ({} characters)",
                    count_of(after.len() + 1, "more line", "more lines"),
                    thousands(len + chars(after))
                )
            };
            out.push(format!(" … {note} cut to fit the comment"));
            return out;
        }
        out
    }
}

impl Block {
    fn new(head: String, issue: bool) -> Self {
        Block {
            head,
            sections: Vec::new(),
            tail: String::new(),
            issue,
        }
    }

    fn full(&self) -> String {
        let mut out = self.head.clone();
        for s in &self.sections {
            s.render(&mut out, &s.lines);
        }
        out.push_str(&self.tail);
        out
    }

    /// The listing alone: headings and summary, a note, the closing tag.
    fn listed_only(&self) -> String {
        if self.sections.is_empty() {
            return self.full();
        }
        format!("{}{LISTED_ONLY_NOTE}{}", self.head, self.tail)
    }

    /// The block in at most `budget` characters: whole, shortened, or its listing alone
    /// (`budget` is at least the listing's length, or the full block's if that is shorter).
    fn within(&self, budget: usize) -> (String, Fit) {
        let full = self.full();
        if full.chars().count() <= budget {
            return (full, Fit::Whole);
        }
        let skeleton: usize = self.head.chars().count()
            + self.tail.chars().count()
            + SHORTENED_NOTE.chars().count()
            + self
                .sections
                .iter()
                .map(|s| {
                    let mut out = String::new();
                    s.render(&mut out, &[]);
                    out.chars().count() + SECTION_NOTE_ROOM
                })
                .sum::<usize>();
        if let Some(content) = budget.checked_sub(skeleton) {
            let wants: Vec<usize> = self.sections.iter().map(Section::content_chars).collect();
            let shares = fair_shares(&wants, content);
            let mut out = self.head.clone();
            for (s, share) in self.sections.iter().zip(shares) {
                let lines = s.shortened(share);
                s.render(&mut out, &lines);
            }
            out.push_str(SHORTENED_NOTE);
            out.push_str(&self.tail);
            if out.chars().count() <= budget {
                return (out, Fit::Shortened);
            }
        }
        (self.listed_only(), Fit::Shortened)
    }
}

/// How a kept block was rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    Whole,
    Shortened,
}

/// Max-min fair shares of `budget` among `wants`: nobody gets more than they want, and
/// everybody who gets less than they want gets the same.
fn fair_shares(wants: &[usize], budget: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..wants.len()).collect();
    order.sort_by_key(|&i| wants[i]);
    let mut out = vec![0; wants.len()];
    let mut left = budget;
    for (k, &i) in order.iter().enumerate() {
        let share = left / (wants.len() - k);
        let give = wants[i].min(share);
        out[i] = give;
        left -= give;
    }
    out
}

#[cfg(test)]
pub(crate) fn fair_shares_for_tests(wants: &[usize], budget: usize) -> Vec<usize> {
    fair_shares(wants, budget)
}

/// Renders the Markdown view, at most `opts.max_chars` characters long.
pub fn render_markdown(diff: &Diff, opts: &MarkdownOptions) -> String {
    let schema = Schema::for_diff(diff);
    let head = head(diff, opts);
    let blocks = blocks(diff, schema, opts);
    let head_chars = head.chars().count();
    let full: Vec<String> = blocks.iter().map(Block::full).collect();
    let full_chars: Vec<usize> = full.iter().map(|b| b.chars().count()).collect();
    if head_chars + full_chars.iter().sum::<usize>() <= opts.max_chars {
        let mut out = head;
        for b in full {
            out.push_str(&b);
        }
        return out;
    }

    let issues_total = blocks.iter().filter(|b| b.issue).count();
    let defs_total = blocks.len() - issues_total;
    let command = opts
        .full_diff_command
        .clone()
        .unwrap_or_else(|| match scope_of(diff) {
            s if s.is_empty() => "backtrack diff <scope> --format text".to_string(),
            s => format!("backtrack diff {s} --format text"),
        });
    // Room for the note however the blocks end up: its longest form has the largest numbers
    // and every clause.
    let longest_note = Cut {
        schema,
        dropped_issues: issues_total,
        issues_total,
        dropped_defs: defs_total.max(1),
        defs_total: defs_total.max(1),
        shortened: issues_total,
    };
    let reserve = longest_note.note(&command, opts.max_chars).chars().count();
    if head_chars + reserve > opts.max_chars {
        // A budget too small even for the summary: the note alone, shortened if need be.
        let cut = Cut {
            schema,
            dropped_issues: issues_total,
            issues_total,
            dropped_defs: defs_total,
            defs_total,
            shortened: 0,
        };
        let note = cut.note(&command, opts.max_chars);
        return note.trim_start().chars().take(opts.max_chars).collect();
    }
    let budget = opts.max_chars - head_chars - reserve;

    // First, list as many blocks as fit (all, unless there are very many).
    let listed_chars: Vec<usize> = blocks
        .iter()
        .zip(&full_chars)
        .map(|(b, &f)| b.listed_only().chars().count().min(f))
        .collect();
    let mut kept = 0;
    let mut used = 0;
    for &chars in &listed_chars {
        if used + chars > budget {
            break;
        }
        used += chars;
        kept += 1;
    }
    // Then share what is left among the kept blocks' details.
    let wants: Vec<usize> = (0..kept).map(|i| full_chars[i] - listed_chars[i]).collect();
    let extra = fair_shares(&wants, budget - used);
    let mut out = head;
    let mut shortened = 0;
    for (i, b) in blocks.iter().take(kept).enumerate() {
        let (text, fit) = b.within(listed_chars[i] + extra[i]);
        if fit == Fit::Shortened {
            shortened += 1;
        }
        out.push_str(&text);
    }
    let dropped = &blocks[kept..];
    let dropped_issues = dropped.iter().filter(|b| b.issue).count();
    let cut = Cut {
        schema,
        dropped_issues,
        issues_total,
        dropped_defs: dropped.len() - dropped_issues,
        defs_total,
        shortened,
    };
    out.push_str(&cut.note(&command, opts.max_chars));
    out
}

/// What a capped rendering left out.
struct Cut {
    schema: &'static Schema,
    dropped_issues: usize,
    issues_total: usize,
    dropped_defs: usize,
    defs_total: usize,
    /// Kept issues shown without all of their details.
    shortened: usize,
}

impl Cut {
    fn note(&self, command: &str, max: usize) -> String {
        let mut parts = Vec::new();
        if self.dropped_issues > 0 || self.dropped_defs > 0 {
            let mut what = format!(
                "{} of {} are not shown",
                self.dropped_issues,
                count_of(self.issues_total, "changed issue", "changed issues")
            );
            if self.dropped_defs > 0 {
                let kinds: Vec<&str> = self
                    .schema
                    .definitions
                    .iter()
                    .map(|d| d.change.as_str())
                    .collect();
                let _ = write!(
                    what,
                    " (nor {} of {} {} changes)",
                    self.dropped_defs,
                    self.defs_total,
                    kinds.join(" and ")
                );
            }
            parts.push(what);
        }
        if self.shortened > 0 {
            let listed = self.issues_total - self.dropped_issues;
            parts.push(format!(
                "{} of {} {} shortened",
                self.shortened,
                count_of(listed, "listed issue", "listed issues"),
                if self.shortened == 1 { "is" } else { "are" }
            ));
        }
        format!(
            "\n> [!NOTE]\n> This diff is cut to stay under {} characters: {}. \
             See all of it with {}.\n",
            thousands(max),
            parts.join("; "),
            code_span(command)
        )
    }
}

fn head(diff: &Diff, opts: &MarkdownOptions) -> String {
    let mut s = String::new();
    if let Some(p) = &opts.preamble {
        s.push_str(p);
        if !p.ends_with('\n') {
            s.push('\n');
        }
    }
    s.push_str("## Tracker changes\n\n");
    let _ = write!(
        s,
        "**From** {} **to** {}",
        escape(&describe_side(&diff.from)),
        escape(&describe_side(&diff.to))
    );
    let scope = scope_of(diff);
    if !scope.is_empty() {
        let _ = write!(s, " · {}", code_span(&scope));
    }
    s.push_str("\n\n");
    if diff.is_empty() {
        s.push_str("No changes.\n");
        return s;
    }
    let t = &diff.summary;
    s.push_str("| | Added | Changed / edited | Removed / deleted |\n| :-- | --: | --: | --: |\n");
    let mut rows = vec![
        ("Issues", t.issues_added, t.issues_changed, t.issues_removed),
        (
            "Comments",
            t.comments_added,
            t.comments_edited,
            t.comments_deleted,
        ),
    ];
    for d in &t.definitions.0 {
        rows.push((d.kind.heading(), d.added, d.changed, d.removed));
    }
    for (name, a, c, r) in rows {
        let _ = writeln!(s, "| {name} | {a} | {c} | {r} |");
    }
    let _ = writeln!(
        s,
        "\n**{}** in total.",
        count_of(t.total, "change", "changes")
    );
    s
}

fn blocks(diff: &Diff, schema: &Schema, opts: &MarkdownOptions) -> Vec<Block> {
    let mut out = Vec::new();
    for (kind, changes) in diff.definition_runs() {
        let title = kind.heading();
        for (i, run) in runs_by_key(changes).into_iter().enumerate() {
            let mut text = String::new();
            if i == 0 {
                // The heading travels with its first item so a cut never leaves it dangling.
                let _ = write!(text, "\n### {title}\n\n");
            }
            text.push_str(&definition(run));
            out.push(Block::new(text, false));
        }
    }
    for (i, group) in diff.issue_groups().into_iter().enumerate() {
        let mut block = issue(group.entry, group.changes, schema, opts);
        if i == 0 {
            block.head.insert_str(0, "\n### Issues\n");
        }
        out.push(block);
    }
    out
}

fn definition(run: &[Change]) -> String {
    let Some(first) = run.first() else {
        return String::new();
    };
    let mut s = format!("- **{}**", escape(&shorten(&first.key, MAX_INLINE_CHARS)));
    let mut parts: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for c in run {
        let part = match (c.op, c.field) {
            (Op::Added, _) => format!("added ({})", record_line(c.kind, &c.after)),
            (Op::Removed, _) => format!("removed (was {})", record_line(c.kind, &c.before)),
            (_, Field::Name | Field::Title) => {
                format!(
                    "renamed to **{}**",
                    escape(&shorten(&plain(&c.after), MAX_INLINE_CHARS))
                )
            }
            (_, field) => {
                let name = definition_field_word(field);
                format!(
                    "{name} {} → {}",
                    value_span(field, &c.before),
                    value_span(field, &c.after)
                )
            }
        };
        if !c.issues.is_empty() {
            let n = count_of(c.issues.len(), "issue", "issues");
            let verb = match c.op {
                Op::Removed => "removed from",
                _ => "renamed on",
            };
            notes.push(format!("{verb} {n}: {}", issue_list(c)));
        }
        parts.push(part);
    }
    parts.extend(notes);
    let _ = writeln!(s, " {}", parts.join("; "));
    s
}

fn value_span(field: Field, v: &Value) -> String {
    match (field, v) {
        (_, Value::Null) => "(none)".to_string(),
        (Field::Color, Value::String(c)) => code_span(&format!("#{c}")),
        _ => format!("“{}”", escape(&shorten(&plain(v), MAX_INLINE_CHARS))),
    }
}

fn record_line(kind: ChangeKind, v: &Value) -> String {
    let get = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    let mut s = match kind {
        ChangeKind::Label => code_span(&format!("#{}", plain(&get("color")))),
        ChangeKind::Component | ChangeKind::Version => escape(&definition_facts(kind, v)),
        _ => {
            let mut s = escape(&plain(&get("state")));
            if let Value::String(due) = get("due_on") {
                let _ = write!(s, ", due {due}");
            }
            s
        }
    };
    if let Value::String(d) = get("description") {
        if !d.is_empty() {
            let first_line = d.lines().next().unwrap_or("");
            let _ = write!(s, ", “{}”", escape(&shorten(first_line, MAX_INLINE_CHARS)));
        }
    }
    s
}

fn link(entry: &IssueEntry, opts: &MarkdownOptions) -> String {
    let url = entry.url.clone().or_else(|| {
        opts.issue_url_base
            .as_ref()
            .filter(|_| entry.key.is_none())
            .map(|b| format!("{b}{}", entry.number))
    });
    let name = escape(&issue_name(entry));
    match url {
        // Only web links: the address comes from tracker data.
        Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
            format!("<a href=\"{}\">{name}</a>", escape_attr(&visible(&u)))
        }
        _ => name,
    }
}

/// "title, status, labels, 1 comment added" — what the collapsed line promises.
fn what_changed(entry: &IssueEntry, changes: &[Change]) -> String {
    let mut parts: Vec<String> = Vec::new();
    match entry.op {
        Op::Added => parts.push("added".into()),
        Op::Removed => parts.push("removed".into()),
        Op::Changed => {}
    }
    for c in changes.iter().filter(|c| c.kind == ChangeKind::Issue) {
        let name = match c.field {
            Field::Record => continue,
            Field::State | Field::StateReason => "status",
            Field::Body => "description",
            Field::Locked => "lock",
            Field::IssueType => "issue type",
            Field::FixVersions => "fix versions",
            Field::DueDate => "due date",
            Field::EpicLink => "epic link",
            Field::StoryPoints => "story points",
            Field::LockReason => "lock reason",
            Field::PinnedComment => "pinned comment",
            Field::SubIssues => "sub-issues",
            Field::BlockedBy => "blocked by",
            other => other.as_str(),
        };
        if !parts.iter().any(|p| p == name) {
            parts.push(name.into());
        }
    }
    let comments = |op: Op| {
        changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Comment && c.op == op)
            .count()
    };
    for (op, word) in [
        (Op::Added, "added"),
        (Op::Changed, "edited"),
        (Op::Removed, "deleted"),
    ] {
        let n = comments(op);
        if n > 0 {
            parts.push(format!("{} {word}", count_of(n, "comment", "comments")));
        }
    }
    parts.join(", ")
}

fn issue(entry: &IssueEntry, changes: &[Change], schema: &Schema, opts: &MarkdownOptions) -> Block {
    let mut heading = link(entry, opts);
    let title = issue_heading(entry);
    let title = title.split_once(' ').map_or("", |(_, t)| t);
    if !title.is_empty() {
        let _ = write!(heading, " {}", escape(&shorten(title, MAX_INLINE_CHARS)));
    }
    if entry.pull_request {
        heading.push_str(" (pull request)");
    }
    let mut s = Block::new(
        format!(
            "\n<details><summary>{heading} — {}</summary>\n\n",
            escape(&what_changed(entry, changes))
        ),
        true,
    );
    let mut i = 0;
    while i < changes.len() {
        let c = &changes[i];
        let len = if c.kind == ChangeKind::Issue {
            changes[i..]
                .iter()
                .take_while(|d| d.kind == ChangeKind::Issue && group_of(d) == group_of(c))
                .count()
        } else {
            1
        };
        let run = &changes[i..i + len];
        i += len;
        let sections = s.sections.len();
        let by = super::text::run_attribution(run);
        match (c.kind, c.field) {
            (ChangeKind::Comment, _) => comment(&mut s, c, opts),
            (_, Field::Record) => {
                let (sign, v) = if c.op == Op::Removed {
                    ('-', &c.before)
                } else {
                    ('+', &c.after)
                };
                let lines: Vec<String> = (schema.items.lines)(v)
                    .into_iter()
                    .map(|(text, key)| format!("{sign}{key}: {text}"))
                    .collect();
                fenced(
                    &mut s,
                    if c.op == Op::Removed {
                        "Removed issue"
                    } else {
                        "New issue"
                    },
                    &lines,
                );
                if let Some(Value::String(body)) = v.get(schema.items.text_key) {
                    if !body.is_empty() {
                        fenced(
                            &mut s,
                            "Description",
                            &whole_text(sign, body, opts.max_record_lines),
                        );
                    }
                }
            }
            (_, Field::Body | Field::Description) => {
                fenced(&mut s, "Description", &hunk_lines(&c.hunks))
            }
            (_, Field::State | Field::StateReason) => fenced(&mut s, "Status", &status_lines(run)),
            (_, Field::Labels | Field::Assignees) => {
                let prefix = if c.field == Field::Assignees { "@" } else { "" };
                let lines: Vec<String> = run
                    .iter()
                    .map(|d| match d.op {
                        Op::Removed => format!("-{prefix}{}", plain(&d.before)),
                        _ => format!("+{prefix}{}", plain(&d.after)),
                    })
                    .collect();
                let title = if c.field == Field::Labels {
                    "Labels"
                } else {
                    "Assignees"
                };
                fenced(&mut s, title, &lines);
            }
            (_, field) if field.is_set() => {
                let lines: Vec<String> = run
                    .iter()
                    .map(|d| match d.op {
                        Op::Removed => format!("-{}", plain(&d.before)),
                        _ => format!("+{}", plain(&d.after)),
                    })
                    .collect();
                fenced(&mut s, field.title(), &lines);
            }
            (_, Field::Locked) => {
                let word = |v: &Value| {
                    if v == &Value::Bool(true) {
                        "locked"
                    } else {
                        "unlocked"
                    }
                };
                fenced(
                    &mut s,
                    "Lock",
                    &[
                        format!("-{}", word(&c.before)),
                        format!("+{}", word(&c.after)),
                    ],
                );
            }
            (_, field) => {
                let title = match field {
                    Field::Title => "Title",
                    Field::Milestone => "Milestone",
                    Field::Name | Field::Color | Field::DueOn => field.as_str(),
                    other => other.title(),
                };
                let lines: Vec<String> = run
                    .iter()
                    .flat_map(|d| {
                        [
                            format!("-{}", plain(&d.before)),
                            format!("+{}", plain(&d.after)),
                        ]
                    })
                    .collect();
                fenced(&mut s, title, &lines);
            }
        }
        // The attribution goes on the run's heading; `escape` keeps `@login` from pinging.
        if let Some(by) = by {
            if let Some(first) = s.sections.get_mut(sections) {
                let _ = write!(first.title, " — _{}_", escape(&by));
            }
        }
    }
    s.tail = "</details>\n".to_string();
    s
}

fn group_of(c: &Change) -> &'static str {
    match c.field {
        Field::State | Field::StateReason => "status",
        other => other.as_str(),
    }
}

fn status_lines(run: &[Change]) -> Vec<String> {
    let state = run.iter().find(|c| c.field == Field::State);
    let reason = run.iter().find(|c| c.field == Field::StateReason);
    let with_reason = |v: &Value, r: Option<&Value>| {
        let mut t = plain(v).into_owned();
        if let Some(Value::String(r)) = r {
            let _ = write!(t, " ({})", r.replace('_', " "));
        }
        t
    };
    match (state, reason) {
        (Some(s), r) => vec![
            format!("-{}", with_reason(&s.before, r.map(|r| &r.before))),
            format!("+{}", with_reason(&s.after, r.map(|r| &r.after))),
        ],
        (None, Some(r)) => vec![
            format!("-reason: {}", plain(&r.before).replace('_', " ")),
            format!("+reason: {}", plain(&r.after).replace('_', " ")),
        ],
        (None, None) => Vec::new(),
    }
}

fn comment(s: &mut Block, c: &Change, opts: &MarkdownOptions) {
    let value = if c.op == Op::Removed {
        &c.before
    } else {
        &c.after
    };
    let mut title = format!("Comment {}", c.key);
    if let Some(Value::String(a)) = value.get("author") {
        // A code span, so quoting the author does not notify them.
        let _ = write!(title, " by {}", code_span(&format!("@{a}")));
    }
    let lines = match c.op {
        Op::Changed => {
            title.push_str(", edited");
            hunk_lines(&c.hunks)
        }
        Op::Added | Op::Removed => {
            title.push_str(if c.op == Op::Added {
                ", added"
            } else {
                ", deleted"
            });
            let sign = if c.op == Op::Added { '+' } else { '-' };
            match value.get("body") {
                Some(Value::String(body)) => whole_text(sign, body, opts.max_record_lines),
                _ => Vec::new(),
            }
        }
    };
    fenced_raw(s, &title, &lines);
}

fn hunk_lines(hunks: &[Hunk]) -> Vec<String> {
    let mut out = Vec::new();
    for h in hunks {
        out.push(h.header());
        out.extend(h.lines.iter().cloned());
    }
    out
}

fn whole_text(sign: char, text: &str, max: usize) -> Vec<String> {
    let all: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = all.iter().take(max).map(|l| format!("{sign}{l}")).collect();
    if all.len() > max {
        out.push(format!(" {}", more_lines(all.len() - max)));
    }
    out
}

/// A bold title (escaped) and a fenced `diff` block.
fn fenced(b: &mut Block, title: &str, lines: &[String]) {
    fenced_raw(b, &escape(title), lines);
}

/// Like [`fenced`], with a title that is already Markdown. Code blocks show their text
/// literally, so this is where tracker text is made visible.
fn fenced_raw(b: &mut Block, title: &str, lines: &[String]) {
    b.sections.push(Section {
        title: title.to_string(),
        lines: lines.iter().map(|l| visible(l).into_owned()).collect(),
    });
}

fn longest_run(s: &str, ch: char) -> usize {
    let (mut best, mut cur) = (0, 0);
    for c in s.chars() {
        if c == ch {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

/// Escapes tracker text for Markdown and HTML alike (it may land in a `<summary>` or in plain
/// Markdown): character references are decoded in both, so the text shows as typed while no
/// emphasis, link, tag or `@mention` in it takes effect. Newlines become spaces; other control,
/// bidirectional and invisible characters their visible stand-ins.
pub(crate) fn escape(s: &str) -> String {
    let flat = s.replace(['\n', '\r', '\t'], " ");
    let shown = visible(&flat);
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '@' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An inline code span that survives backticks in `s`; its text is made visible.
fn code_span(s: &str) -> String {
    let s = visible(s);
    let ticks = "`".repeat(longest_run(&s, '`') + 1);
    if s.starts_with('`') || s.ends_with('`') {
        format!("{ticks} {s} {ticks}")
    } else {
        format!("{ticks}{s}{ticks}")
    }
}
