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
//! Only what people change on purpose, as each tracker declares it in its [`Schema`] (see
//! [`schema`]): the engine knows definitions, items and comments, not one tracker's fields.
//! - GitHub: issue title, body (as a line diff), state and state_reason, labels and
//!   assignees (as sets), milestone (by title), lock; comments (added, edited, deleted);
//!   label definitions (name, colour, description) and milestone definitions (title, state,
//!   due date, description).
//! - Jira: summary, description (a line diff of its readable rendering; the ADF or wiki
//!   markup is what is stored and restored), issue type, status (from → to), resolution,
//!   priority, assignee, reporter, labels, components and fix versions (as sets), due date,
//!   parent and Epic Link, subtasks and links (as sets), story points, sprints; comments;
//!   component and version definitions.
//!
//! Timestamps, comment counts, URLs and the raw tracker JSON are ignored: they change as a
//! side effect and restoring them is not possible anyway.
//!
//! # Folding
//! Deleting a label on GitHub silently removes it from every issue, and renaming one renames it
//! everywhere. Reporting that as hundreds of per-issue label changes would bury the one change a
//! person made, so those per-issue changes are folded into the label change, which lists the
//! affected issues in [`Change::issues`]. Milestones fold the same way, and so do Jira's
//! components and versions (deleting one removes it from every issue).
//!
//! # Layout
//! - `diff/schema.rs`: what a tracker declares (its kinds, their fields, how values compare).
//! - `diff/compute.rs`: matching records and producing [`Change`]s (fast path: one equality
//!   check per record, projections and line diffs only for records that differ).
//! - `diff/lines.rs`: line diffs with context ([`Hunk`]), on top of `similar`.
//! - `diff/text.rs`, `diff/markdown.rs`, `diff/json.rs`: the renderers.

mod compute;
pub mod json;
mod lines;
mod markdown;
pub mod schema;
mod text;

#[cfg(test)]
mod jira_tests;
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
pub use schema::Schema;
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

/// The kind of record a change is about. Issues and comments of every tracker are `issue`
/// and `comment`; definitions are named by what they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Label,
    Milestone,
    /// A Jira component definition.
    Component,
    /// A Jira version definition.
    Version,
    Issue,
    Comment,
}

impl ChangeKind {
    /// The definition kinds, for parsing their counts back.
    const DEFINITIONS: [ChangeKind; 4] = [
        ChangeKind::Label,
        ChangeKind::Milestone,
        ChangeKind::Component,
        ChangeKind::Version,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Label => "label",
            ChangeKind::Milestone => "milestone",
            ChangeKind::Component => "component",
            ChangeKind::Version => "version",
            ChangeKind::Issue => "issue",
            ChangeKind::Comment => "comment",
        }
    }

    /// `labels`: the prefix of its counts in [`Summary`] and its row in summaries.
    pub fn plural(self) -> &'static str {
        match self {
            ChangeKind::Label => "labels",
            ChangeKind::Milestone => "milestones",
            ChangeKind::Component => "components",
            ChangeKind::Version => "versions",
            ChangeKind::Issue => "issues",
            ChangeKind::Comment => "comments",
        }
    }

    /// `Label`: how renderers name one definition.
    pub fn noun(self) -> &'static str {
        match self {
            ChangeKind::Label => "Label",
            ChangeKind::Milestone => "Milestone",
            ChangeKind::Component => "Component",
            ChangeKind::Version => "Version",
            ChangeKind::Issue => "Issue",
            ChangeKind::Comment => "Comment",
        }
    }

    /// `Labels`: the heading of a section of definitions.
    pub fn heading(self) -> &'static str {
        match self {
            ChangeKind::Label => "Labels",
            ChangeKind::Milestone => "Milestones",
            ChangeKind::Component => "Components",
            ChangeKind::Version => "Versions",
            ChangeKind::Issue => "Issues",
            ChangeKind::Comment => "Comments",
        }
    }

    /// Whether this is a definition (label, milestone, component, version).
    pub fn is_definition(self) -> bool {
        Self::DEFINITIONS.contains(&self)
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
    /// Jira: an issue's summary.
    Summary,
    /// Jira: an issue's status, by name.
    Status,
    /// Jira: an issue's resolution, by name.
    Resolution,
    /// Jira: an issue's type, by name.
    IssueType,
    /// Jira: an issue's priority, by name.
    Priority,
    /// Jira: who an issue is assigned to (display name; compared by account).
    Assignee,
    /// Jira: who reported an issue.
    Reporter,
    /// Jira: one component added to or removed from an issue.
    Components,
    /// Jira: one fix version added to or removed from an issue.
    FixVersions,
    /// Jira: an issue's due date (`YYYY-MM-DD`).
    DueDate,
    /// Jira: an issue's parent (a subtask's parent, or the epic on Cloud's hierarchy), by key.
    Parent,
    /// Jira: the epic by the Epic Link field, by key.
    EpicLink,
    /// Jira: one subtask (by key) added to or removed from an issue.
    Subtasks,
    /// Jira: one issue link (`blocks PROJ-7`) added or removed.
    Links,
    /// Jira: story points.
    StoryPoints,
    /// Jira: one sprint added to or removed from an issue.
    Sprints,
    /// Jira: a component's lead.
    Lead,
    /// Jira: a component's default assignee type.
    AssigneeType,
    /// Jira: whether a version is released.
    Released,
    /// Jira: whether a version is archived.
    Archived,
    /// Jira: a version's start date.
    StartDate,
    /// Jira: a version's release date.
    ReleaseDate,
    /// GitHub: why an issue's conversation is locked.
    LockReason,
    /// GitHub: the id of the comment pinned to an issue.
    PinnedComment,
    /// GitHub: an issue's reaction counts (`{"+1": 2}`).
    Reactions,
    /// GitHub: a parent's sub-issues in priority order (`#4, #2, #7`).
    SubIssues,
    /// GitHub: one issue (`#7`) added to or removed from those blocking an issue.
    BlockedBy,
}

impl Field {
    /// The heading of the box or section that shows a change of this field on an issue.
    pub fn title(self) -> &'static str {
        match self {
            Field::Record => "Record",
            Field::Title => "Title",
            Field::Body | Field::Description => "Description",
            Field::State | Field::StateReason | Field::Status => "Status",
            Field::Labels => "Labels",
            Field::Assignees => "Assignees",
            Field::Milestone => "Milestone",
            Field::Locked => "Lock",
            Field::Name => "Name",
            Field::Color => "Color",
            Field::DueOn => "Due",
            Field::Summary => "Summary",
            Field::Resolution => "Resolution",
            Field::IssueType => "Issue type",
            Field::Priority => "Priority",
            Field::Assignee => "Assignee",
            Field::Reporter => "Reporter",
            Field::Components => "Components",
            Field::FixVersions => "Fix versions",
            Field::DueDate => "Due date",
            Field::Parent => "Parent",
            Field::EpicLink => "Epic link",
            Field::Subtasks => "Subtasks",
            Field::Links => "Links",
            Field::StoryPoints => "Story points",
            Field::Sprints => "Sprints",
            Field::Lead => "Lead",
            Field::AssigneeType => "Assignee type",
            Field::Released => "Released",
            Field::Archived => "Archived",
            Field::StartDate => "Start date",
            Field::ReleaseDate => "Release date",
            Field::LockReason => "Lock reason",
            Field::PinnedComment => "Pinned comment",
            Field::Reactions => "Reactions",
            Field::SubIssues => "Sub-issues",
            Field::BlockedBy => "Blocked by",
        }
    }

    /// Whether a change of this field is one element of a set (`added` / `removed`).
    pub fn is_set(self) -> bool {
        matches!(
            self,
            Field::Labels
                | Field::Assignees
                | Field::Components
                | Field::FixVersions
                | Field::Subtasks
                | Field::Links
                | Field::Sprints
                | Field::BlockedBy
        )
    }

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
            Field::Summary => "summary",
            Field::Status => "status",
            Field::Resolution => "resolution",
            Field::IssueType => "issue_type",
            Field::Priority => "priority",
            Field::Assignee => "assignee",
            Field::Reporter => "reporter",
            Field::Components => "components",
            Field::FixVersions => "fix_versions",
            Field::DueDate => "due_date",
            Field::Parent => "parent",
            Field::EpicLink => "epic_link",
            Field::Subtasks => "subtasks",
            Field::Links => "links",
            Field::StoryPoints => "story_points",
            Field::Sprints => "sprints",
            Field::Lead => "lead",
            Field::AssigneeType => "assignee_type",
            Field::Released => "released",
            Field::Archived => "archived",
            Field::StartDate => "start_date",
            Field::ReleaseDate => "release_date",
            Field::LockReason => "lock_reason",
            Field::PinnedComment => "pinned_comment",
            Field::Reactions => "reactions",
            Field::SubIssues => "sub_issues",
            Field::BlockedBy => "blocked_by",
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
    /// Issue number (Jira: issue key), comment id, or definition name or title (the `from`
    /// side's; the `to` side's for added ones), as a string.
    pub key: String,
    pub field: Field,
    pub op: Op,
    /// The value on the `from` side; `null` for additions.
    pub before: serde_json::Value,
    /// The value on the `to` side; `null` for removals.
    pub after: serde_json::Value,
    /// The issue (or pull request) an issue or comment change belongs to (Jira: the
    /// issue's id).
    pub issue: Option<u64>,
    /// Jira: the key of that issue (`PROJ-12`). Absent for trackers whose issues have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_key: Option<String>,
    /// Folded: the issues whose label or milestone changed only because of this definition
    /// change (the label was deleted or renamed, the milestone deleted or renamed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<u64>,
    /// Jira: the keys of `issues`, in the same order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issue_keys: Vec<String>,
    /// For body changes: the line diff with context.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hunks: Vec<Hunk>,
    /// `true` when the issue this change belongs to is a pull request.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pull_request: bool,
    /// Who made the change and when, where the tracker records it (see
    /// [`crate::attribution`]); absent when no activity log was available to ask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<crate::attribution::Attribution>,
}

/// An issue with at least one change, in issue-number order: what renderers use as a header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueEntry {
    /// The issue number (Jira: the issue's id).
    pub number: u64,
    /// Jira: the issue key (`PROJ-12`). Absent for trackers whose issues have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The title on the `to` side (the `from` side for removed issues).
    pub title: String,
    /// The issue's web address, when the tracker gave one.
    pub url: Option<String>,
    pub pull_request: bool,
    /// `added` (only in `to`), `removed` (only in `from`) or `changed`.
    pub op: Op,
}

/// Counts of what changed, for headlines, tables and `--exit-code`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Issues present on both sides with at least one field or comment change.
    pub issues_changed: usize,
    pub issues_added: usize,
    pub issues_removed: usize,
    pub comments_added: usize,
    pub comments_edited: usize,
    pub comments_deleted: usize,
    /// Per definition kind of the scope's tracker, in its order: `labels_added`,
    /// `labels_changed`, `labels_removed`, `milestones_…` on GitHub; `components_…` and
    /// `versions_…` on Jira.
    #[serde(flatten)]
    pub definitions: DefinitionCounts,
    /// The number of entries in `changes`.
    pub total: usize,
}

impl Summary {
    /// The counts of one definition kind (zeros for a kind the tracker does not have).
    pub fn definition(&self, kind: ChangeKind) -> DefinitionCount {
        self.definitions
            .0
            .iter()
            .find(|d| d.kind == kind)
            .copied()
            .unwrap_or_else(|| DefinitionCount::new(kind))
    }
}

/// How many definitions of one kind were added, changed (a definition with several changed
/// fields counts once) and removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefinitionCount {
    pub kind: ChangeKind,
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
}

impl DefinitionCount {
    pub fn new(kind: ChangeKind) -> Self {
        DefinitionCount {
            kind,
            added: 0,
            changed: 0,
            removed: 0,
        }
    }
}

/// The definition counts of a [`Summary`], in the tracker's order; in JSON, three keys each
/// (`{plural}_added`, `{plural}_changed`, `{plural}_removed`) beside the other counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefinitionCounts(pub Vec<DefinitionCount>);

impl Serialize for DefinitionCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len() * 3))?;
        for d in &self.0 {
            let plural = d.kind.plural();
            map.serialize_entry(&format!("{plural}_added"), &d.added)?;
            map.serialize_entry(&format!("{plural}_changed"), &d.changed)?;
            map.serialize_entry(&format!("{plural}_removed"), &d.removed)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for DefinitionCounts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        let mut counts: Vec<DefinitionCount> = Vec::new();
        // Keys come back sorted; the definition kinds' own order is the documented one.
        for kind in ChangeKind::DEFINITIONS {
            let plural = kind.plural();
            let get = |op: &str| {
                map.get(&format!("{plural}_{op}"))
                    .and_then(serde_json::Value::as_u64)
                    .map(|n| n as usize)
            };
            let (added, changed, removed) = (get("added"), get("changed"), get("removed"));
            if added.is_some() || changed.is_some() || removed.is_some() {
                counts.push(DefinitionCount {
                    kind,
                    added: added.unwrap_or(0),
                    changed: changed.unwrap_or(0),
                    removed: removed.unwrap_or(0),
                });
            }
        }
        Ok(DefinitionCounts(counts))
    }
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
        self.definition_changes(ChangeKind::Label)
    }

    /// Milestone definition changes (after the label ones).
    pub fn milestone_changes(&self) -> &[Change] {
        self.definition_changes(ChangeKind::Milestone)
    }

    /// The changes of one definition kind (definitions come first in `changes`, one
    /// contiguous run per kind).
    pub fn definition_changes(&self, kind: ChangeKind) -> &[Change] {
        let start = self
            .changes
            .iter()
            .position(|c| c.kind == kind)
            .filter(|_| kind.is_definition());
        match start {
            Some(start) => self.run_of(start, kind),
            None => &[],
        }
    }

    /// Every definition change, in order (the leading run of `changes`).
    pub fn all_definition_changes(&self) -> &[Change] {
        let len = self
            .changes
            .iter()
            .take_while(|c| c.kind.is_definition())
            .count();
        &self.changes[..len]
    }

    /// The definition changes as runs of one kind each, in order.
    pub fn definition_runs(&self) -> Vec<(ChangeKind, &[Change])> {
        let mut runs = Vec::new();
        let mut rest = self.all_definition_changes();
        while let Some(first) = rest.first() {
            let len = rest.iter().take_while(|c| c.kind == first.kind).count();
            runs.push((first.kind, &rest[..len]));
            rest = &rest[len..];
        }
        runs
    }

    /// The changed issues, each with its run of changes.
    pub fn issue_groups(&self) -> Vec<IssueGroup<'_>> {
        let mut at = self.all_definition_changes().len();
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
