//! Field-level differences between two record sets, and their three renderers.
//!
//! [`diff`] compares two [`RecordSet`](crate::record::RecordSet)s (two snapshots, or a snapshot
//! and the live tracker) and returns one [`Diff`] value. Every output format is a pure function
//! of that value, so the terminal view, the PR comment and the JSON never disagree:
//! - [`render_text`]: the terminal view (boxed per-issue sections, optional ANSI colour);
//! - [`render_markdown`]: a PR comment with a summary table and one collapsible block per
//!   issue, capped at a character budget;
//! - [`render_json`]: the stable, documented machine contract (see [`json`]).
//!
//! # What is compared
//! Only what people change on purpose: issue title, body (as a line diff), state and
//! state_reason, labels and assignees (as sets), milestone (by title), lock; comments (added,
//! edited, deleted); label definitions (name, colour, description) and milestone definitions
//! (title, state, due date, description). Timestamps, comment counts, URLs and the raw tracker
//! JSON are ignored: they change as a side effect and restoring them is not possible anyway.
//!
//! # Folding
//! Deleting a label on GitHub silently removes it from every issue, and renaming one renames it
//! everywhere. Reporting that as hundreds of per-issue label changes would bury the one change a
//! person made, so those per-issue changes are folded into the label change, which lists the
//! affected issues in [`Change::issues`]. Milestones fold the same way.
//!
//! # Layout
//! - `diff/compute.rs`: matching records and producing [`Change`]s (fast path: cheap field
//!   comparisons first, line diffs only for bodies that differ).
//! - `diff/lines.rs`: line diffs with context ([`Hunk`]), on top of `similar`.
//! - `diff/text.rs`, `diff/markdown.rs`, `diff/json.rs`: the renderers.

mod compute;
pub mod json;
mod lines;
mod markdown;
mod text;

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use compute::diff;
pub use json::{render_json, SCHEMA_VERSION};
pub use markdown::{
    render_markdown, MarkdownOptions, DEFAULT_MAX_CHARS, MAX_MAX_CHARS, MIN_MAX_CHARS,
};
pub use text::{render_text, TextOptions};

/// What to compare. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffOptions {
    /// Compare pull requests (and their comments) too. Default `true`: GitHub lists pull
    /// requests as issues and backtrack snapshots and restores them the same way.
    pub include_prs: bool,
    /// Unchanged lines shown around each changed region of a body. Default 3, as `diff -u`.
    pub context_lines: usize,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            include_prs: true,
            context_lines: 3,
        }
    }
}

/// Whether a side of the comparison is a stored snapshot or the tracker as it is now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SideKind {
    #[default]
    Snapshot,
    Live,
}

impl SideKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SideKind::Snapshot => "snapshot",
            SideKind::Live => "live",
        }
    }
}

/// One side of a comparison, as the caller resolved it. [`diff`] only sees record sets, so it
/// fills in a blank side; the caller sets the real ones with [`Diff::with_sides`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Side {
    pub kind: SideKind,
    /// Snapshot id; `None` for the live side.
    pub id: Option<String>,
    /// Snapshot name, when it has one.
    pub name: Option<String>,
    /// When the snapshot was taken (for the live side: when it was read, if the caller says).
    pub created_at: Option<DateTime<Utc>>,
    /// The scope in its textual form, e.g. `github:acme/widgets`.
    pub scope: String,
    /// What the side was chosen by, as given: `latest`, a name, an id or id prefix, `live`.
    #[serde(default)]
    pub reference: Option<String>,
}

impl Side {
    /// A stored snapshot.
    pub fn snapshot(
        scope: impl fmt::Display,
        id: impl Into<String>,
        name: Option<String>,
        created_at: Option<DateTime<Utc>>,
    ) -> Self {
        Side {
            kind: SideKind::Snapshot,
            id: Some(id.into()),
            name,
            created_at,
            scope: scope.to_string(),
            reference: None,
        }
    }

    /// The tracker as it is now.
    pub fn live(scope: impl fmt::Display) -> Self {
        Side {
            kind: SideKind::Live,
            id: None,
            name: None,
            created_at: None,
            scope: scope.to_string(),
            reference: None,
        }
    }

    /// The side, recording the reference that chose it.
    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }

    /// A short human description: `live`, `snapshot nightly (01J…)`, `snapshot 01J…`.
    pub fn describe(&self) -> String {
        match (self.kind, &self.name, &self.id) {
            (SideKind::Live, _, _) => "live".to_string(),
            (SideKind::Snapshot, Some(name), Some(id)) => format!("snapshot {name} ({id})"),
            (SideKind::Snapshot, Some(name), None) => format!("snapshot {name}"),
            (SideKind::Snapshot, None, Some(id)) => format!("snapshot {id}"),
            (SideKind::Snapshot, None, None) => "snapshot".to_string(),
        }
    }
}

/// The kind of record a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Label,
    Milestone,
    Issue,
    Comment,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Label => "label",
            ChangeKind::Milestone => "milestone",
            ChangeKind::Issue => "issue",
            ChangeKind::Comment => "comment",
        }
    }
}

/// What happened to the field (or, with [`Field::Record`], to the whole record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Changed,
    Added,
    Removed,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Changed => "changed",
            Op::Added => "added",
            Op::Removed => "removed",
        }
    }
}

/// Which field changed. Serialized in snake_case; [`Field::Record`] serializes as `"*"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The whole record was added or removed; `before`/`after` hold its compared fields.
    #[serde(rename = "*")]
    Record,
    /// Issue title, milestone title.
    Title,
    /// Issue body, comment body.
    Body,
    /// Issue or milestone state (`open`/`closed`).
    State,
    StateReason,
    /// One label name added to or removed from an issue.
    Labels,
    /// One assignee login added to or removed from an issue.
    Assignees,
    /// An issue's milestone, by title.
    Milestone,
    Locked,
    /// Label name (a rename).
    Name,
    Color,
    /// Label or milestone description.
    Description,
    /// Milestone due date (`YYYY-MM-DD`).
    DueOn,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Record => "*",
            Field::Title => "title",
            Field::Body => "body",
            Field::State => "state",
            Field::StateReason => "state_reason",
            Field::Labels => "labels",
            Field::Assignees => "assignees",
            Field::Milestone => "milestone",
            Field::Locked => "locked",
            Field::Name => "name",
            Field::Color => "color",
            Field::Description => "description",
            Field::DueOn => "due_on",
        }
    }
}

/// One changed region of a text, unified-diff style.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hunk {
    /// First line of the region in the old text, 1-based (the line before it when
    /// `old_lines` is 0), as in `@@ -old_start,old_lines +new_start,new_lines @@`.
    pub old_start: usize,
    pub old_lines: usize,
    pub new_start: usize,
    pub new_lines: usize,
    /// The region's lines without line endings, each prefixed by `' '` (context), `'-'`
    /// (only in the old text) or `'+'` (only in the new text).
    pub lines: Vec<String>,
}

impl Hunk {
    /// The `@@ -a,b +c,d @@` header line.
    pub fn header(&self) -> String {
        format!(
            "@@ -{},{} +{},{} @@",
            self.old_start, self.old_lines, self.new_start, self.new_lines
        )
    }
}

/// One field-level change. See [`json`] for the documented meaning of every field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    /// Issue number, comment id, label name or milestone title (the `from` side's name or
    /// title; the `to` side's for added ones), as a string.
    pub key: String,
    pub field: Field,
    pub op: Op,
    /// The value on the `from` side; `null` for additions.
    pub before: serde_json::Value,
    /// The value on the `to` side; `null` for removals.
    pub after: serde_json::Value,
    /// The issue (or pull request) an issue or comment change belongs to.
    pub issue: Option<u64>,
    /// Folded: the issues whose label or milestone changed only because of this definition
    /// change (the label was deleted or renamed, the milestone deleted or renamed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<u64>,
    /// For body changes: the line diff with context.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hunks: Vec<Hunk>,
    /// `true` when the issue this change belongs to is a pull request.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pull_request: bool,
}

/// An issue with at least one change, in issue-number order: what renderers use as a header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueEntry {
    pub number: u64,
    /// The title on the `to` side (the `from` side for removed issues).
    pub title: String,
    /// The issue's web address, when the tracker gave one.
    pub url: Option<String>,
    pub pull_request: bool,
    /// `added` (only in `to`), `removed` (only in `from`) or `changed`.
    pub op: Op,
}

/// Counts of what changed, for headlines, tables and `--exit-code`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Issues present on both sides with at least one field or comment change.
    pub issues_changed: usize,
    pub issues_added: usize,
    pub issues_removed: usize,
    pub comments_added: usize,
    pub comments_edited: usize,
    pub comments_deleted: usize,
    pub labels_added: usize,
    /// Label definitions with at least one changed field.
    pub labels_changed: usize,
    pub labels_removed: usize,
    pub milestones_added: usize,
    pub milestones_changed: usize,
    pub milestones_removed: usize,
    /// The number of entries in `changes`.
    pub total: usize,
}

/// The field-level difference between two record sets: computed once by [`diff`], rendered by
/// [`render_text`], [`render_markdown`] and [`render_json`].
///
/// `changes` is in a deterministic order: label definitions, milestone definitions (each by
/// key), then issues by number; within an issue its fields (title, state, state_reason, body,
/// labels, assignees, milestone, locked), then its comments by id. The changes of one issue
/// are contiguous, which [`Diff::issue_groups`] relies on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    /// The version of the JSON schema ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    pub from: Side,
    pub to: Side,
    pub summary: Summary,
    pub changes: Vec<Change>,
    /// The issues that changed, in number order, with their titles and addresses.
    pub issues: Vec<IssueEntry>,
}

/// One issue with its contiguous run of changes (fields first, then comments).
#[derive(Debug, Clone, Copy)]
pub struct IssueGroup<'a> {
    pub entry: &'a IssueEntry,
    pub changes: &'a [Change],
}

impl Diff {
    /// Sets the descriptions of the two sides (what [`diff`] could not know).
    pub fn with_sides(mut self, from: Side, to: Side) -> Self {
        self.from = from;
        self.to = to;
        self
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Label definition changes (first in `changes`).
    pub fn label_changes(&self) -> &[Change] {
        self.run_of(0, ChangeKind::Label)
    }

    /// Milestone definition changes (after the label ones).
    pub fn milestone_changes(&self) -> &[Change] {
        let start = self.label_changes().len();
        self.run_of(start, ChangeKind::Milestone)
    }

    /// The changed issues, each with its run of changes.
    pub fn issue_groups(&self) -> Vec<IssueGroup<'_>> {
        let mut at = self.label_changes().len() + self.milestone_changes().len();
        let mut groups = Vec::with_capacity(self.issues.len());
        for entry in &self.issues {
            let len = self.changes[at..]
                .iter()
                .take_while(|c| c.issue == Some(entry.number))
                .count();
            groups.push(IssueGroup {
                entry,
                changes: &self.changes[at..at + len],
            });
            at += len;
        }
        groups
    }

    fn run_of(&self, start: usize, kind: ChangeKind) -> &[Change] {
        let rest = self.changes.get(start..).unwrap_or(&[]);
        let len = rest.iter().take_while(|c| c.kind == kind).count();
        &rest[..len]
    }
}

/// The terminal view without colour.
impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render_text(self, &TextOptions::default()))
    }
}
