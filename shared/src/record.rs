//! Normalized, tracker-neutral records: what a snapshot holds, what diff compares and what
//! rollback restores.
//!
//! Each record keeps the tracker's raw JSON beside the normalized fields, so nothing the API
//! returned is lost even where backtrack does not (yet) model it. The normalized fields are the
//! ones diff and rollback reason about; sets (labels, assignees) are kept sorted so that equal
//! states serialize to equal bytes and deduplicate.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The kinds of record a snapshot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Label,
    Milestone,
    Issue,
    Comment,
}

impl RecordKind {
    pub const ALL: [RecordKind; 4] = [
        RecordKind::Label,
        RecordKind::Milestone,
        RecordKind::Issue,
        RecordKind::Comment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Label => "label",
            RecordKind::Milestone => "milestone",
            RecordKind::Issue => "issue",
            RecordKind::Comment => "comment",
        }
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
/// (issue number, comment id, label id, milestone number).
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
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub raw: serde_json::Value,
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Label(Label),
    Milestone(Milestone),
    Issue(Issue),
    Comment(Comment),
}

impl Record {
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Label(_) => RecordKind::Label,
            Record::Milestone(_) => RecordKind::Milestone,
            Record::Issue(_) => RecordKind::Issue,
            Record::Comment(_) => RecordKind::Comment,
        }
    }

    pub fn key(&self) -> RecordKey {
        match self {
            Record::Label(l) => RecordKey::new(RecordKind::Label, l.id),
            Record::Milestone(m) => RecordKey::new(RecordKind::Milestone, m.number),
            Record::Issue(i) => RecordKey::new(RecordKind::Issue, i.number),
            Record::Comment(c) => RecordKey::new(RecordKind::Comment, c.id),
        }
    }

    /// When the tracker last changed this record, where it says.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Record::Label(_) => None,
            Record::Milestone(m) => m.updated_at,
            Record::Issue(i) => Some(i.updated_at),
            Record::Comment(c) => Some(c.updated_at),
        }
    }

    /// Drops the raw JSON: for in-memory comparisons that never look at it (live diffs).
    pub fn without_raw(mut self) -> Self {
        let raw = match &mut self {
            Record::Label(l) => &mut l.raw,
            Record::Milestone(m) => &mut m.raw,
            Record::Issue(i) => &mut i.raw,
            Record::Comment(c) => &mut c.raw,
        };
        *raw = serde_json::Value::Null;
        self
    }
}

/// All records of one snapshot (or of the live tracker), indexed by kind and id.
///
/// The in-memory form diff and rollback work on. Keys are the tracker's numeric ids, so
/// iteration is in issue-number / id order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordSet {
    pub labels: BTreeMap<u64, Label>,
    pub milestones: BTreeMap<u64, Milestone>,
    pub issues: BTreeMap<u64, Issue>,
    pub comments: BTreeMap<u64, Comment>,
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
        }
    }

    /// The record with this key, as a borrowed view.
    pub fn get(&self, key: &RecordKey) -> Option<RecordRef<'_>> {
        let id: u64 = key.id.parse().ok()?;
        match key.kind {
            RecordKind::Label => self.labels.get(&id).map(RecordRef::Label),
            RecordKind::Milestone => self.milestones.get(&id).map(RecordRef::Milestone),
            RecordKind::Issue => self.issues.get(&id).map(RecordRef::Issue),
            RecordKind::Comment => self.comments.get(&id).map(RecordRef::Comment),
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len() + self.milestones.len() + self.issues.len() + self.comments.len()
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

/// A borrowed record of any kind.
#[derive(Debug, Clone, Copy)]
pub enum RecordRef<'a> {
    Label(&'a Label),
    Milestone(&'a Milestone),
    Issue(&'a Issue),
    Comment(&'a Comment),
}

impl RecordRef<'_> {
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        match self {
            RecordRef::Label(_) => None,
            RecordRef::Milestone(m) => m.updated_at,
            RecordRef::Issue(i) => Some(i.updated_at),
            RecordRef::Comment(c) => Some(c.updated_at),
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
        let mut kinds = vec![
            RecordKind::Comment,
            RecordKind::Issue,
            RecordKind::Milestone,
            RecordKind::Label,
        ];
        kinds.sort();
        assert_eq!(kinds, RecordKind::ALL.to_vec());
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
