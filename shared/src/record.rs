//! Normalized, tracker-neutral records: what a snapshot holds, what diff compares and what
//! rollback restores.
//!
//! Each record keeps the tracker's raw JSON beside the normalized fields, so nothing the API
//! returned is lost even where backtrack does not (yet) model it. The normalized fields are the
//! ones diff and rollback reason about; sets (labels, assignees) are kept sorted so that equal
//! states serialize to equal bytes and deduplicate.
//!
//! # One enum, each tracker's variants
//! Trackers differ in what they hold, so records are not squeezed into one shape: GitHub's
//! issues, comments, labels and milestones and Jira's issues, comments, components and
//! versions are variants side by side in [`Record`], each with its own [`RecordKind`] (the
//! kind names the variant in blobs and manifests). A scope only ever holds one tracker's
//! kinds. What is tracker-neutral is how records are handled: every record has a kind, an
//! id, an optional `updated_at` and raw JSON, which is all capture, storage and verify need;
//! what a diff compares is declared per tracker (see [`crate::diff::schema`]), so neither
//! the storage nor the diff engine knows one tracker's fields.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod jira;

pub use jira::{
    Component, JiraComment, JiraIssue, JiraLink, JiraRef, JiraStatus, JiraText, JiraUser,
    JiraVisibility, Version,
};

/// The kinds of record a snapshot holds. Definitions come first (their order is the order
/// plans and manifests use: definitions before the issues that refer to them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// GitHub: a label definition.
    Label,
    /// GitHub: a milestone definition.
    Milestone,
    /// Jira: a project component definition.
    Component,
    /// Jira: a project version definition.
    Version,
    /// GitHub: an issue or pull request.
    Issue,
    /// GitHub: a comment on an issue or pull request.
    Comment,
    /// Jira: an issue (epics and subtasks included).
    JiraIssue,
    /// Jira: a comment on an issue.
    JiraComment,
}

impl RecordKind {
    pub const ALL: [RecordKind; 8] = [
        RecordKind::Label,
        RecordKind::Milestone,
        RecordKind::Component,
        RecordKind::Version,
        RecordKind::Issue,
        RecordKind::Comment,
        RecordKind::JiraIssue,
        RecordKind::JiraComment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Label => "label",
            RecordKind::Milestone => "milestone",
            RecordKind::Component => "component",
            RecordKind::Version => "version",
            RecordKind::Issue => "issue",
            RecordKind::Comment => "comment",
            RecordKind::JiraIssue => "jira_issue",
            RecordKind::JiraComment => "jira_comment",
        }
    }

    /// Issues of any tracker: what `counts.issues` counts and deletion checks track.
    pub fn is_issue(self) -> bool {
        matches!(self, RecordKind::Issue | RecordKind::JiraIssue)
    }

    /// Comments of any tracker; their manifest entries name their issue.
    pub fn is_comment(self) -> bool {
        matches!(self, RecordKind::Comment | RecordKind::JiraComment)
    }

    /// Definitions (labels, milestones, components, versions): listed whole by every
    /// capture, and loaded whole by every diff.
    pub fn is_definition(self) -> bool {
        matches!(
            self,
            RecordKind::Label | RecordKind::Milestone | RecordKind::Component | RecordKind::Version
        )
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecordKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown record kind {s:?}"))
    }
}

/// A record's identity within its scope: kind plus the tracker's stable id for it
/// (GitHub: issue number, comment id, label id, milestone number; Jira: the numeric id of
/// the issue, comment, component or version).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordKey {
    pub kind: RecordKind,
    pub id: String,
}

impl RecordKey {
    pub fn new(kind: RecordKind, id: impl ToString) -> Self {
        RecordKey {
            kind,
            id: id.to_string(),
        }
    }
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.id)
    }
}

/// The inverse of `Display`: `kind:id`.
impl FromStr for RecordKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, id) = s
            .split_once(':')
            .ok_or_else(|| format!("expected KIND:ID, got {s:?}"))?;
        if id.is_empty() {
            return Err(format!("expected KIND:ID, got {s:?}"));
        }
        Ok(RecordKey::new(kind.parse()?, id))
    }
}

/// Open or closed, for issues and milestones alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Open,
    Closed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Closed => "closed",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A milestone as an issue refers to it: by number (identity) and title (for people, and to
/// re-link after the milestone was deleted and recreated under a new number).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MilestoneRef {
    pub number: u64,
    pub title: String,
}

/// An issue or pull request (GitHub lists both as issues; `pull_request` tells them apart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    pub number: u64,
    pub id: u64,
    pub title: String,
    pub body: Option<String>,
    pub state: State,
    /// `completed`, `not_planned`, `reopened`, `duplicate`, or none.
    pub state_reason: Option<String>,
    /// Label names, sorted.
    pub labels: Vec<String>,
    /// Assignee logins, sorted.
    pub assignees: Vec<String>,
    pub milestone: Option<MilestoneRef>,
    pub author: Option<String>,
    pub locked: bool,
    pub pull_request: bool,
    /// The tracker's comment count: compared against stored comments to detect deletions.
    pub comments: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub html_url: Option<String>,
    /// GitHub's issue model beyond the fields above (type, sub-issue parent, lock reason,
    /// pinned comment, reactions). Left out of the canonical form when empty, so records
    /// without any of it keep their bytes (and blob ids).
    #[serde(default, skip_serializing_if = "IssueModel::is_empty")]
    pub model: IssueModel,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub raw: serde_json::Value,
}

/// What an issue carries besides its own fields, each read from the issues listing itself
/// (no request of its own).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueModel {
    /// The issue type's name (`Bug`, `Task`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_type: Option<String>,
    /// The parent's number when this is a sub-issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<u64>,
    /// Why the conversation is locked (`off-topic`, `too heated`, `resolved`, `spam`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_reason: Option<String>,
    /// The id of the comment pinned to the issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_comment: Option<u64>,
    /// Reaction counts by content (`+1`, `heart`…), zeros left out.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub reactions: std::collections::BTreeMap<String, u64>,
    /// A parent's sub-issues (this repository's, by number), in GitHub's priority order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_issues: Vec<u64>,
    /// The issues (this repository's, by number, ascending) this one is blocked by. Each
    /// dependency is kept once, here, on the blocked issue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<u64>,
}

impl IssueModel {
    pub fn is_empty(&self) -> bool {
        *self == IssueModel::default()
    }
}

/// A comment on an issue or pull request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub issue_number: u64,
    pub body: String,
    pub author: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub html_url: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub raw: serde_json::Value,
}

/// A label definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub id: u64,
    pub name: String,
    /// Six hex digits, no `#`.
    pub color: String,
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub raw: serde_json::Value,
}

/// A milestone definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Milestone {
    pub number: u64,
    pub id: u64,
    pub title: String,
    pub state: State,
    pub description: Option<String>,
    pub due_on: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub raw: serde_json::Value,
}

/// One record of any kind; the unit of storage (one blob each) and of diffing.
///
/// A Jira issue is the largest variant by a few hundred bytes. Records travel one at a time
/// (a capture's channel holds 256) and collections keep the typed structs (`RecordSet`), so
/// boxing it would cost an allocation per record to save nothing that adds up.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Label(Label),
    Milestone(Milestone),
    Issue(Issue),
    Comment(Comment),
    Component(Component),
    Version(Version),
    JiraIssue(JiraIssue),
    JiraComment(JiraComment),
}

impl Record {
    pub fn kind(&self) -> RecordKind {
        self.as_ref().kind()
    }

    pub fn key(&self) -> RecordKey {
        self.as_ref().key()
    }

    /// When the tracker last changed this record, where it says.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.as_ref().updated_at()
    }

    /// For comments, the id (GitHub: number) of the issue they belong to.
    pub fn issue(&self) -> Option<u64> {
        match self {
            Record::Comment(c) => Some(c.issue_number),
            Record::JiraComment(c) => Some(c.issue_id),
            _ => None,
        }
    }

    /// A borrowed view of this record.
    pub fn as_ref(&self) -> RecordRef<'_> {
        match self {
            Record::Label(r) => RecordRef::Label(r),
            Record::Milestone(r) => RecordRef::Milestone(r),
            Record::Issue(r) => RecordRef::Issue(r),
            Record::Comment(r) => RecordRef::Comment(r),
            Record::Component(r) => RecordRef::Component(r),
            Record::Version(r) => RecordRef::Version(r),
            Record::JiraIssue(r) => RecordRef::JiraIssue(r),
            Record::JiraComment(r) => RecordRef::JiraComment(r),
        }
    }

    /// Drops the raw JSON: for in-memory comparisons that never look at it (live diffs).
    pub fn without_raw(mut self) -> Self {
        let raw = match &mut self {
            Record::Label(l) => &mut l.raw,
            Record::Milestone(m) => &mut m.raw,
            Record::Issue(i) => &mut i.raw,
            Record::Comment(c) => &mut c.raw,
            Record::Component(c) => &mut c.raw,
            Record::Version(v) => &mut v.raw,
            Record::JiraIssue(i) => &mut i.raw,
            Record::JiraComment(c) => &mut c.raw,
        };
        *raw = serde_json::Value::Null;
        self
    }
}

/// All records of one snapshot (or of the live tracker), indexed by kind and id.
///
/// The in-memory form diff and rollback work on. Keys are the tracker's numeric ids, so
/// iteration is in issue-number / id order. A set holds one tracker's kinds; the maps of the
/// other tracker stay empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordSet {
    pub labels: BTreeMap<u64, Label>,
    pub milestones: BTreeMap<u64, Milestone>,
    pub issues: BTreeMap<u64, Issue>,
    pub comments: BTreeMap<u64, Comment>,
    pub components: BTreeMap<u64, Component>,
    pub versions: BTreeMap<u64, Version>,
    pub jira_issues: BTreeMap<u64, JiraIssue>,
    pub jira_comments: BTreeMap<u64, JiraComment>,
}

impl RecordSet {
    pub fn insert(&mut self, record: Record) {
        match record {
            Record::Label(l) => {
                self.labels.insert(l.id, l);
            }
            Record::Milestone(m) => {
                self.milestones.insert(m.number, m);
            }
            Record::Issue(i) => {
                self.issues.insert(i.number, i);
            }
            Record::Comment(c) => {
                self.comments.insert(c.id, c);
            }
            Record::Component(c) => {
                self.components.insert(c.id, c);
            }
            Record::Version(v) => {
                self.versions.insert(v.id, v);
            }
            Record::JiraIssue(i) => {
                self.jira_issues.insert(i.id, i);
            }
            Record::JiraComment(c) => {
                self.jira_comments.insert(c.id, c);
            }
        }
    }

    /// The issues this set's comments belong to (GitHub issue numbers, Jira issue ids), one
    /// per comment.
    pub fn comment_issues(&self) -> impl Iterator<Item = u64> + '_ {
        self.comments
            .values()
            .map(|c| c.issue_number)
            .chain(self.jira_comments.values().map(|c| c.issue_id))
    }

    /// Every record, moved out kind by kind (in [`RecordKind::ALL`] order): the set is
    /// taken apart as it goes, so the records are never held twice.
    pub fn into_records(self) -> impl Iterator<Item = Record> {
        let RecordSet {
            labels,
            milestones,
            issues,
            comments,
            components,
            versions,
            jira_issues,
            jira_comments,
        } = self;
        labels
            .into_values()
            .map(Record::Label)
            .chain(milestones.into_values().map(Record::Milestone))
            .chain(components.into_values().map(Record::Component))
            .chain(versions.into_values().map(Record::Version))
            .chain(issues.into_values().map(Record::Issue))
            .chain(comments.into_values().map(Record::Comment))
            .chain(jira_issues.into_values().map(Record::JiraIssue))
            .chain(jira_comments.into_values().map(Record::JiraComment))
    }

    /// Every record, owned, kind by kind (in [`RecordKind::ALL`] order).
    pub fn to_records(&self) -> Vec<Record> {
        let mut out = Vec::with_capacity(self.len());
        out.extend(self.labels.values().cloned().map(Record::Label));
        out.extend(self.milestones.values().cloned().map(Record::Milestone));
        out.extend(self.components.values().cloned().map(Record::Component));
        out.extend(self.versions.values().cloned().map(Record::Version));
        out.extend(self.issues.values().cloned().map(Record::Issue));
        out.extend(self.comments.values().cloned().map(Record::Comment));
        out.extend(self.jira_issues.values().cloned().map(Record::JiraIssue));
        out.extend(
            self.jira_comments
                .values()
                .cloned()
                .map(Record::JiraComment),
        );
        out
    }

    /// Adds every record of `other` (replacing records with the same key).
    pub fn absorb(&mut self, other: RecordSet) {
        self.labels.extend(other.labels);
        self.milestones.extend(other.milestones);
        self.issues.extend(other.issues);
        self.comments.extend(other.comments);
        self.components.extend(other.components);
        self.versions.extend(other.versions);
        self.jira_issues.extend(other.jira_issues);
        self.jira_comments.extend(other.jira_comments);
    }

    /// The record with this key, as a borrowed view.
    pub fn get(&self, key: &RecordKey) -> Option<RecordRef<'_>> {
        let id: u64 = key.id.parse().ok()?;
        self.get_id(key.kind, id)
    }

    /// The record of `kind` with numeric id `id`.
    pub fn get_id(&self, kind: RecordKind, id: u64) -> Option<RecordRef<'_>> {
        match kind {
            RecordKind::Label => self.labels.get(&id).map(RecordRef::Label),
            RecordKind::Milestone => self.milestones.get(&id).map(RecordRef::Milestone),
            RecordKind::Issue => self.issues.get(&id).map(RecordRef::Issue),
            RecordKind::Comment => self.comments.get(&id).map(RecordRef::Comment),
            RecordKind::Component => self.components.get(&id).map(RecordRef::Component),
            RecordKind::Version => self.versions.get(&id).map(RecordRef::Version),
            RecordKind::JiraIssue => self.jira_issues.get(&id).map(RecordRef::JiraIssue),
            RecordKind::JiraComment => self.jira_comments.get(&id).map(RecordRef::JiraComment),
        }
    }

    /// Every record of `kind` with its id, in id order.
    pub fn iter_kind(
        &self,
        kind: RecordKind,
    ) -> Box<dyn Iterator<Item = (u64, RecordRef<'_>)> + '_> {
        fn each<'a, T>(
            map: &'a BTreeMap<u64, T>,
            wrap: fn(&'a T) -> RecordRef<'a>,
        ) -> Box<dyn Iterator<Item = (u64, RecordRef<'a>)> + 'a> {
            Box::new(map.iter().map(move |(id, r)| (*id, wrap(r))))
        }
        match kind {
            RecordKind::Label => each(&self.labels, RecordRef::Label),
            RecordKind::Milestone => each(&self.milestones, RecordRef::Milestone),
            RecordKind::Issue => each(&self.issues, RecordRef::Issue),
            RecordKind::Comment => each(&self.comments, RecordRef::Comment),
            RecordKind::Component => each(&self.components, RecordRef::Component),
            RecordKind::Version => each(&self.versions, RecordRef::Version),
            RecordKind::JiraIssue => each(&self.jira_issues, RecordRef::JiraIssue),
            RecordKind::JiraComment => each(&self.jira_comments, RecordRef::JiraComment),
        }
    }

    /// Whether a record of `kind` with id `id` is here.
    pub fn contains(&self, kind: RecordKind, id: u64) -> bool {
        self.get_id(kind, id).is_some()
    }

    /// Removes the record of `kind` with id `id`, if it is here.
    pub fn remove(&mut self, kind: RecordKind, id: u64) -> Option<Record> {
        match kind {
            RecordKind::Label => self.labels.remove(&id).map(Record::Label),
            RecordKind::Milestone => self.milestones.remove(&id).map(Record::Milestone),
            RecordKind::Issue => self.issues.remove(&id).map(Record::Issue),
            RecordKind::Comment => self.comments.remove(&id).map(Record::Comment),
            RecordKind::Component => self.components.remove(&id).map(Record::Component),
            RecordKind::Version => self.versions.remove(&id).map(Record::Version),
            RecordKind::JiraIssue => self.jira_issues.remove(&id).map(Record::JiraIssue),
            RecordKind::JiraComment => self.jira_comments.remove(&id).map(Record::JiraComment),
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
            + self.milestones.len()
            + self.issues.len()
            + self.comments.len()
            + self.components.len()
            + self.versions.len()
            + self.jira_issues.len()
            + self.jira_comments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Comments of one issue, oldest first.
    pub fn comments_of(&self, issue_number: u64) -> impl Iterator<Item = &Comment> {
        self.comments
            .values()
            .filter(move |c| c.issue_number == issue_number)
    }
}

/// Whether `record` replaces the copy of it already taken from the same listing, which was
/// last updated at `held` (`None`: no copy taken): a listing can show a record twice (a
/// page boundary moving under an edit), and the newer copy wins, ties to the first.
pub fn supersedes(record: &Record, held: Option<Option<DateTime<Utc>>>) -> bool {
    held.is_none_or(|t| record.updated_at() > t)
}

/// A borrowed record of any kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RecordRef<'a> {
    Label(&'a Label),
    Milestone(&'a Milestone),
    Issue(&'a Issue),
    Comment(&'a Comment),
    Component(&'a Component),
    Version(&'a Version),
    JiraIssue(&'a JiraIssue),
    JiraComment(&'a JiraComment),
}

impl RecordRef<'_> {
    pub fn kind(&self) -> RecordKind {
        match self {
            RecordRef::Label(_) => RecordKind::Label,
            RecordRef::Milestone(_) => RecordKind::Milestone,
            RecordRef::Issue(_) => RecordKind::Issue,
            RecordRef::Comment(_) => RecordKind::Comment,
            RecordRef::Component(_) => RecordKind::Component,
            RecordRef::Version(_) => RecordKind::Version,
            RecordRef::JiraIssue(_) => RecordKind::JiraIssue,
            RecordRef::JiraComment(_) => RecordKind::JiraComment,
        }
    }

    pub fn key(&self) -> RecordKey {
        let id = match self {
            RecordRef::Label(l) => l.id,
            RecordRef::Milestone(m) => m.number,
            RecordRef::Issue(i) => i.number,
            RecordRef::Comment(c) => c.id,
            RecordRef::Component(c) => c.id,
            RecordRef::Version(v) => v.id,
            RecordRef::JiraIssue(i) => i.id,
            RecordRef::JiraComment(c) => c.id,
        };
        RecordKey::new(self.kind(), id)
    }

    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        match self {
            RecordRef::Label(_) | RecordRef::Component(_) | RecordRef::Version(_) => None,
            RecordRef::Milestone(m) => m.updated_at,
            RecordRef::Issue(i) => Some(i.updated_at),
            RecordRef::Comment(c) => Some(c.updated_at),
            RecordRef::JiraIssue(i) => Some(i.updated_at),
            RecordRef::JiraComment(c) => Some(c.updated_at),
        }
    }
}

impl FromIterator<Record> for RecordSet {
    fn from_iter<I: IntoIterator<Item = Record>>(iter: I) -> Self {
        let mut set = RecordSet::default();
        for r in iter {
            set.insert(r);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_order_labels_and_milestones_first() {
        // Plans and manifests rely on this order: definitions before the issues using them.
        let mut kinds = RecordKind::ALL.to_vec();
        kinds.reverse();
        kinds.sort();
        assert_eq!(kinds, RecordKind::ALL.to_vec());
        let firsts: Vec<bool> = kinds.iter().map(|k| k.is_definition()).collect();
        assert_eq!(firsts, [true, true, true, true, false, false, false, false]);
        for k in RecordKind::ALL {
            assert_eq!(k.as_str().parse::<RecordKind>(), Ok(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!("comment".parse::<RecordKind>(), Ok(RecordKind::Comment));
    }

    #[test]
    fn record_keys_round_trip_through_their_text_form() {
        let key = RecordKey::new(RecordKind::Milestone, 3);
        assert_eq!(key.to_string().parse::<RecordKey>(), Ok(key));
        assert!("label".parse::<RecordKey>().is_err());
        assert!("label:".parse::<RecordKey>().is_err());
        assert!("widget:1".parse::<RecordKey>().is_err());
    }

    #[test]
    fn a_set_gives_back_every_record_of_every_kind() {
        let mut set = RecordSet::default();
        set.insert(Record::Label(Label {
            id: 7,
            name: "bug".into(),
            color: "d73a4a".into(),
            description: None,
            raw: serde_json::Value::Null,
        }));
        set.insert(Record::Version(Version {
            id: 3,
            name: "1.0".into(),
            description: None,
            released: false,
            archived: false,
            start_date: None,
            release_date: None,
            raw: serde_json::Value::Null,
        }));
        let records = set.to_records();
        assert_eq!(records.len(), set.len());
        let back: RecordSet = records.into_iter().collect();
        assert_eq!(back, set);
    }

    #[test]
    fn record_serializes_with_kind_tag() {
        let l = Record::Label(Label {
            id: 7,
            name: "bug".into(),
            color: "d73a4a".into(),
            description: None,
            raw: serde_json::Value::Null,
        });
        let v = serde_json::to_value(&l).unwrap();
        assert_eq!(v["kind"], "label");
        assert!(v.get("raw").is_none());
        assert_eq!(serde_json::from_value::<Record>(v).unwrap(), l);
        assert_eq!(l.key().to_string(), "label:7");
    }
}
