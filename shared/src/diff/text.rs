//! The terminal view of a [`Diff`]: per-issue headers, boxed sections with `-`/`+` lines, a
//! section per kind of definition (labels and milestones; components and versions), and a
//! summary.
//!
//! Colour is plain ANSI SGR codes, emitted only when [`TextOptions::color`] says so; deciding
//! that (is stdout a terminal, `NO_COLOR`…) is the caller's job. Tracker text is untrusted, so
//! every piece of it goes through [`visible`](crate::sanitize::visible) before it reaches the
//! terminal: control, bidirectional and invisible characters print as visible stand-ins.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;

use crate::sanitize::visible;

use super::schema::Schema;
use super::{Change, ChangeKind, Diff, Field, Hunk, IssueEntry, Op, Side, SideKind};

/// How to render the terminal view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextOptions {
    /// Emit ANSI colours (red `-`, green `+`, cyan hunk headers, bold headers).
    pub color: bool,
    /// Width of rules and box tops, in characters. Default 72.
    pub width: usize,
    /// Lines shown of a whole added or removed text (a new comment, a deleted issue's body)
    /// before the rest is summarized as "… N more lines". Default 20.
    pub max_record_lines: usize,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            color: false,
            width: 72,
            max_record_lines: 20,
        }
    }
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// Issue numbers listed under a folded label or milestone change before "… and N more".
pub(crate) const MAX_LISTED_ISSUES: usize = 50;

/// Renders the terminal view. Ends with a newline; "No changes." when the diff is empty.
pub fn render_text(diff: &Diff, opts: &TextOptions) -> String {
    let mut w = Writer {
        out: String::new(),
        opts,
        schema: Schema::for_diff(diff),
        by: None,
    };
    w.header(diff);
    if diff.is_empty() {
        w.out.push_str("No changes.\n");
        return w.out;
    }
    for (kind, changes) in diff.definition_runs() {
        w.section(kind.heading());
        for run in runs_by_key(changes) {
            w.definition(run, kind.noun(), name_word(kind));
        }
    }
    for group in diff.issue_groups() {
        w.issue(group.entry, group.changes);
    }
    w.summary(diff);
    w.out
}

/// Splits definition changes into runs with the same key (one label or milestone each).
pub(crate) fn runs_by_key(changes: &[Change]) -> Vec<&[Change]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=changes.len() {
        if i == changes.len() || changes[i].key != changes[start].key {
            runs.push(&changes[start..i]);
            start = i;
        }
    }
    runs
}

/// What a definition's name is called in its rename line: a label's `name`, a milestone's
/// `title`.
pub(crate) fn name_word(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Milestone => "title",
        _ => "name",
    }
}

/// `#1, #4, #9` (Jira: `PROJ-1, PROJ-4`) with at most [`MAX_LISTED_ISSUES`] of a folded
/// change's issues.
pub(crate) fn issue_list(change: &Change) -> String {
    let mut s = String::new();
    let total = change.issues.len().max(change.issue_keys.len());
    for i in 0..total.min(MAX_LISTED_ISSUES) {
        if i > 0 {
            s.push_str(", ");
        }
        match (change.issue_keys.get(i), change.issues.get(i)) {
            (Some(key), _) => s.push_str(key),
            (None, Some(n)) => {
                let _ = write!(s, "#{n}");
            }
            (None, None) => {}
        }
    }
    if total > MAX_LISTED_ISSUES {
        let _ = write!(s, " and {} more", total - MAX_LISTED_ISSUES);
    }
    s
}

/// "… 1 more line" / "… 30 more lines".
pub(crate) fn more_lines(n: usize) -> String {
    format!("… {n} more {}", if n == 1 { "line" } else { "lines" })
}

/// "1 issue" / "3 issues".
pub(crate) fn count_of(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A JSON scalar as people read it: strings bare, null as `(none)`.
pub(crate) fn plain(v: &Value) -> Cow<'_, str> {
    match v {
        Value::Null => Cow::Borrowed("(none)"),
        Value::String(s) if s.is_empty() => Cow::Borrowed("(empty)"),
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

/// A side with its timestamp: `snapshot nightly (01J…) at 2025-01-13 15:00 UTC`.
pub(crate) fn describe_side(side: &Side) -> String {
    let mut s = side.describe();
    if let Some(at) = side.created_at {
        let verb = if side.kind == SideKind::Live {
            "read"
        } else {
            "taken"
        };
        let _ = write!(s, ", {verb} {}", at.format("%Y-%m-%d %H:%M UTC"));
    }
    s
}

/// The scope both sides share (or `from → to` if they differ), empty if nobody set it.
pub(crate) fn scope_of(diff: &Diff) -> String {
    match (diff.from.scope.as_str(), diff.to.scope.as_str()) {
        (a, b) if a == b || b.is_empty() => a.to_string(),
        ("", b) => b.to_string(),
        (a, b) => format!("{a} → {b}"),
    }
}

struct Writer<'a> {
    out: String,
    opts: &'a TextOptions,
    schema: &'static Schema,
    /// Who made the changes of the box being written, shown as its last line.
    by: Option<String>,
}

impl Writer<'_> {
    fn paint(&mut self, code: &str, text: &str) {
        if self.opts.color {
            self.out.push_str(code);
            self.out.push_str(text);
            self.out.push_str(RESET);
        } else {
            self.out.push_str(text);
        }
    }

    fn rule(&mut self) {
        let rule = "━".repeat(self.opts.width);
        self.out.push_str(&rule);
        self.out.push('\n');
    }

    fn header(&mut self, diff: &Diff) {
        self.paint(BOLD, "Diff");
        let _ = writeln!(
            self.out,
            "   {}  →  {}",
            visible(&describe_side(&diff.from)),
            visible(&describe_side(&diff.to))
        );
        let scope = scope_of(diff);
        if !scope.is_empty() {
            self.paint(BOLD, "Scope");
            let _ = writeln!(self.out, "  {}", visible(&scope));
        }
        self.out.push('\n');
    }

    fn section(&mut self, title: &str) {
        self.rule();
        self.paint(BOLD, title);
        self.out.push('\n');
        self.rule();
        self.out.push('\n');
    }

    fn box_open(&mut self, title: &str) {
        let title = visible(title);
        let used = title.chars().count() + 4;
        let fill = self.opts.width.saturating_sub(used).max(3);
        self.out.push_str("┌─ ");
        self.paint(BOLD, &title);
        self.out.push(' ');
        self.out.push_str(&"─".repeat(fill));
        self.out.push('\n');
    }

    fn box_close(&mut self) {
        if let Some(by) = self.by.take() {
            self.note(&by);
        }
        self.out.push('└');
        self.out
            .push_str(&"─".repeat(self.opts.width.saturating_sub(1)));
        self.out.push_str("\n\n");
    }

    /// One content line: `│ - text`, `│ + text` or `│   text` (context and notes).
    fn line(&mut self, sign: char, text: &str) {
        self.out.push_str("│ ");
        let text = visible(text);
        let line = format!("{sign} {text}");
        match sign {
            '-' => self.paint(RED, &line),
            '+' => self.paint(GREEN, &line),
            _ => self.out.push_str(line.trim_end()),
        }
        self.out.push('\n');
    }

    fn note(&mut self, text: &str) {
        self.out.push_str("│   ");
        self.paint(DIM, &visible(text));
        self.out.push('\n');
    }

    fn hunks(&mut self, hunks: &[Hunk]) {
        for hunk in hunks {
            self.out.push_str("│ ");
            self.paint(CYAN, &hunk.header());
            self.out.push('\n');
            for l in &hunk.lines {
                let mut chars = l.chars();
                let sign = chars.next().unwrap_or(' ');
                self.line(sign, chars.as_str());
            }
        }
    }

    /// A whole text, every line signed, cut after `max_record_lines`.
    fn text_lines(&mut self, sign: char, text: &str) {
        let max = self.opts.max_record_lines;
        let mut count = 0;
        for l in text.lines() {
            if count < max {
                self.line(sign, l);
            }
            count += 1;
        }
        if count > max {
            self.note(&more_lines(count - max));
        }
    }

    fn definition(&mut self, run: &[Change], what: &str, name_field: &str) {
        let Some(first) = run.first() else { return };
        let key = &first.key;
        let renamed = run
            .iter()
            .find(|c| matches!(c.field, Field::Name | Field::Title) && c.op == Op::Changed);
        let title = match (first.op, renamed) {
            (Op::Added, _) => format!("{what} \"{key}\" added"),
            (Op::Removed, _) => format!("{what} \"{key}\" removed"),
            (Op::Changed, Some(r)) => {
                format!("{what} \"{key}\" renamed to \"{}\"", plain(&r.after))
            }
            (Op::Changed, None) => format!("{what} \"{key}\" changed"),
        };
        self.box_open(&title);
        let mut notes = Vec::new();
        for c in run {
            match c.op {
                Op::Added => self.definition_record('+', first.kind, &c.after),
                Op::Removed => self.definition_record('-', first.kind, &c.before),
                Op::Changed => {
                    let field = match c.field {
                        Field::Name | Field::Title => name_field,
                        Field::DueOn => "due",
                        Field::StartDate => "start date",
                        Field::ReleaseDate => "release date",
                        Field::AssigneeType => "assignee type",
                        other => other.as_str(),
                    };
                    let show = |v: &Value| match (c.field, v) {
                        (Field::Color, Value::String(s)) => format!("#{s}"),
                        _ => plain(v).into_owned(),
                    };
                    self.line('-', &format!("{field}: {}", show(&c.before)));
                    self.line('+', &format!("{field}: {}", show(&c.after)));
                }
            }
            if !c.issues.is_empty() {
                let n = count_of(c.issues.len(), "issue", "issues");
                let verb = if c.op == Op::Removed {
                    "removed from"
                } else {
                    "renamed on"
                };
                let text = format!("{verb} {n}: {}", issue_list(c));
                notes.push(text);
            }
        }
        for text in notes {
            self.note(&text);
        }
        self.box_close();
    }

    fn definition_record(&mut self, sign: char, kind: ChangeKind, v: &Value) {
        let get = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        let mut text = match kind {
            ChangeKind::Label => format!("{}  #{}", plain(&get("name")), plain(&get("color"))),
            ChangeKind::Component | ChangeKind::Version => {
                let facts = definition_facts(kind, v);
                format!("{}  {facts}", plain(&get("name")))
            }
            _ => {
                let mut s = format!("{}  {}", plain(&get("title")), plain(&get("state")));
                if let Value::String(due) = get("due_on") {
                    let _ = write!(s, ", due {due}");
                }
                s
            }
        };
        if let Value::String(d) = get("description") {
            if !d.is_empty() {
                let _ = write!(text, "  {}", d.lines().next().unwrap_or(""));
            }
        }
        self.line(sign, &text);
    }

    fn issue(&mut self, entry: &IssueEntry, changes: &[Change]) {
        self.rule();
        self.paint(BOLD, &visible(&issue_heading(entry)));
        if entry.pull_request {
            self.out.push_str("  [pull request]");
        }
        match entry.op {
            Op::Added => self.paint(GREEN, "  [added]"),
            Op::Removed => self.paint(RED, "  [removed]"),
            Op::Changed => {}
        }
        self.out.push('\n');
        self.rule();
        self.out.push('\n');

        let mut i = 0;
        while i < changes.len() {
            let c = &changes[i];
            // Fields that share a box (status, labels, assignees, components…) are contiguous.
            let len = changes[i..]
                .iter()
                .take_while(|d| {
                    d.kind == c.kind && box_of(d) == box_of(c) && c.kind == ChangeKind::Issue
                })
                .count()
                .max(1);
            let run = &changes[i..i + len];
            i += len;
            self.by = run_attribution(run);
            match (c.kind, c.field) {
                (ChangeKind::Comment, _) => self.comment(c),
                (_, Field::Record) => self.issue_record(c),
                (_, Field::Title) => self.simple_box("Title", run),
                (_, Field::State | Field::StateReason) => self.status_box(run),
                (_, Field::Body) => {
                    self.box_open("Description");
                    self.hunks(&c.hunks);
                    self.box_close();
                }
                (_, Field::Labels) => self.set_box("Labels", run, ""),
                (_, Field::Assignees) => self.set_box("Assignees", run, "@"),
                (_, Field::Milestone) => self.simple_box("Milestone", run),
                (_, Field::Description) => {
                    self.box_open("Description");
                    self.hunks(&c.hunks);
                    self.box_close();
                }
                (_, field) if field.is_set() => self.set_box(field.title(), run, ""),
                (_, Field::Locked) => {
                    self.box_open("Lock");
                    let word = |v: &Value| {
                        if v == &Value::Bool(true) {
                            "locked"
                        } else {
                            "unlocked"
                        }
                    };
                    self.line('-', word(&c.before));
                    self.line('+', word(&c.after));
                    self.box_close();
                }
                (_, Field::Name | Field::Color | Field::DueOn) => {
                    self.simple_box(c.field.as_str(), run)
                }
                (_, field) => self.simple_box(field.title(), run),
            }
        }
    }

    fn simple_box(&mut self, title: &str, run: &[Change]) {
        self.box_open(title);
        for c in run {
            self.line('-', &plain(&c.before));
            self.line('+', &plain(&c.after));
        }
        self.box_close();
    }

    fn set_box(&mut self, title: &str, run: &[Change], prefix: &str) {
        self.box_open(title);
        for c in run {
            match c.op {
                Op::Removed => self.line('-', &format!("{prefix}{}", plain(&c.before))),
                _ => self.line('+', &format!("{prefix}{}", plain(&c.after))),
            }
        }
        self.box_close();
    }

    fn status_box(&mut self, run: &[Change]) {
        let state = run.iter().find(|c| c.field == Field::State);
        let reason = run.iter().find(|c| c.field == Field::StateReason);
        self.box_open("Status");
        match (state, reason) {
            (Some(s), reason) => {
                for (sign, v, r) in [
                    ('-', &s.before, reason.map(|r| &r.before)),
                    ('+', &s.after, reason.map(|r| &r.after)),
                ] {
                    let mut text = plain(v).into_owned();
                    if let Some(Value::String(r)) = r {
                        let _ = write!(text, " ({})", r.replace('_', " "));
                    }
                    self.line(sign, &text);
                }
            }
            (None, Some(r)) => {
                self.line(
                    '-',
                    &format!("reason: {}", plain(&r.before).replace('_', " ")),
                );
                self.line(
                    '+',
                    &format!("reason: {}", plain(&r.after).replace('_', " ")),
                );
            }
            (None, None) => {}
        }
        self.box_close();
    }

    fn issue_record(&mut self, c: &Change) {
        let (sign, v, title) = match c.op {
            Op::Removed => ('-', &c.before, "Issue removed"),
            _ => ('+', &c.after, "Issue added"),
        };
        self.box_open(title);
        for (text, key) in (self.schema.items.lines)(v) {
            self.line(sign, &format!("{key}: {text}"));
        }
        self.box_close();
        if let Some(Value::String(body)) = v.get(self.schema.items.text_key) {
            if !body.is_empty() {
                self.box_open("Description");
                self.text_lines(sign, body);
                self.box_close();
            }
        }
    }

    fn comment(&mut self, c: &Change) {
        let value = if c.op == Op::Removed {
            &c.before
        } else {
            &c.after
        };
        let by = match value.get("author") {
            Some(Value::String(a)) => format!(" by @{a}"),
            _ => String::new(),
        };
        let what = match c.op {
            Op::Added => "added",
            Op::Changed => "edited",
            Op::Removed => "deleted",
        };
        self.box_open(&format!("Comment {}{by} {what}", c.key));
        match c.op {
            Op::Changed => self.hunks(&c.hunks),
            Op::Added | Op::Removed => {
                let sign = if c.op == Op::Added { '+' } else { '-' };
                if let Some(Value::String(body)) = value.get("body") {
                    self.text_lines(sign, body);
                }
            }
        }
        self.box_close();
    }

    fn summary(&mut self, diff: &Diff) {
        let s = &diff.summary;
        self.rule();
        self.paint(BOLD, "Summary");
        let _ = writeln!(self.out, "  {}", count_of(s.total, "change", "changes"));
        let mut rows = vec![
            (
                "issues",
                [
                    ("changed", s.issues_changed),
                    ("added", s.issues_added),
                    ("removed", s.issues_removed),
                ],
            ),
            (
                "comments",
                [
                    ("added", s.comments_added),
                    ("edited", s.comments_edited),
                    ("deleted", s.comments_deleted),
                ],
            ),
        ];
        for d in &s.definitions.0 {
            rows.push((
                d.kind.plural(),
                [
                    ("added", d.added),
                    ("changed", d.changed),
                    ("removed", d.removed),
                ],
            ));
        }
        for (name, counts) in rows {
            let _ = write!(self.out, "  {name:<12}");
            for (i, (word, n)) in counts.into_iter().enumerate() {
                if i > 0 {
                    self.out.push_str(", ");
                }
                let text = format!("{n} {word}");
                match (n, word) {
                    (0, _) => self.paint(DIM, &text),
                    (_, "added") => self.paint(GREEN, &text),
                    (_, "removed" | "deleted") => self.paint(RED, &text),
                    _ => self.out.push_str(&text),
                }
            }
            self.out.push('\n');
        }
    }
}

/// The group a change's lines are shown in: status holds state and state_reason.
/// "by @bot at …" for a run of changes (each distinct attribution once); `None` when the diff
/// was not attributed.
pub(crate) fn run_attribution(run: &[Change]) -> Option<String> {
    let mut seen: Vec<String> = Vec::new();
    for a in run.iter().filter_map(|c| c.attribution.as_ref()) {
        let d = a.describe();
        if !seen.contains(&d) {
            seen.push(d);
        }
    }
    (!seen.is_empty()).then(|| seen.join("; "))
}

fn box_of(c: &Change) -> &'static str {
    match c.field {
        Field::State | Field::StateReason => "status",
        other => other.as_str(),
    }
}

/// `#12 Fix login crash`, or `PROJ-12 Fix login crash` for an issue with a key (title may be
/// empty for a comment on an issue neither side holds).
pub(crate) fn issue_heading(entry: &IssueEntry) -> String {
    let name = issue_name(entry);
    if entry.title.is_empty() {
        name
    } else {
        format!("{name} {}", entry.title)
    }
}

/// `#12`, or the issue's key.
pub(crate) fn issue_name(entry: &IssueEntry) -> String {
    match &entry.key {
        Some(key) => key.clone(),
        None => format!("#{}", entry.number),
    }
}

/// The facts of a whole component or version definition, after its name: `lead Alice`,
/// `released, release 2025-03-01`.
pub(crate) fn definition_facts(kind: ChangeKind, v: &Value) -> String {
    let get = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    let mut s = String::new();
    match kind {
        ChangeKind::Component => match get("lead") {
            Value::String(lead) => {
                let _ = write!(s, "lead {lead}");
            }
            _ => s.push_str("no lead"),
        },
        _ => {
            s.push_str(match (get("released"), get("archived")) {
                (_, Value::Bool(true)) => "archived",
                (Value::Bool(true), _) => "released",
                _ => "unreleased",
            });
            if let Value::String(d) = get("release_date") {
                let _ = write!(s, ", release {d}");
            }
        }
    }
    s
}

/// How a definition's changed field is named in a one-line change: `due date`, `color`.
pub(crate) fn definition_field_word(field: Field) -> &'static str {
    match field {
        Field::DueOn => "due date",
        Field::StartDate => "start date",
        Field::ReleaseDate => "release date",
        Field::AssigneeType => "assignee type",
        other => other.as_str(),
    }
}
