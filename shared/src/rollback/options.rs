//! What to restore: [`RollbackOptions`], validated once against the target snapshot by
//! [`RollbackOptions::validate`], the one constructor the CLI and the restore function share.
//!
//! Shells only translate their input (flags, a JSON body) into a [`RollbackRequest`] of
//! plain strings and flags; every rule (what an issue number looks like, that it is in the
//! snapshot, which field names exist) lives here, so the two cannot accept different things.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::SnapshotEntry;
use crate::record::RecordSet;

/// A restorable field, for `--fields`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Title,
    Body,
    State,
    Labels,
    Assignees,
    Milestone,
    Comments,
    /// GitHub: the issue type.
    Type,
    /// GitHub: whether the conversation is locked, and why.
    Lock,
}

impl Field {
    pub const ALL: [Field; 9] = [
        Field::Title,
        Field::Body,
        Field::State,
        Field::Labels,
        Field::Assignees,
        Field::Milestone,
        Field::Comments,
        Field::Type,
        Field::Lock,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Body => "body",
            Field::State => "state",
            Field::Labels => "labels",
            Field::Assignees => "assignees",
            Field::Milestone => "milestone",
            Field::Comments => "comments",
            Field::Type => "type",
            Field::Lock => "lock",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Field {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        let s = match s.as_str() {
            "description" => "body",
            "status" => "state",
            other => other,
        };
        Field::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown field {}; restorable fields are {}",
                    crate::sanitize::quote(s),
                    Field::ALL.map(Field::as_str).join(", ")
                )
            })
    }
}

/// What a user asked to restore, as a shell received it: not validated yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollbackRequest {
    /// Issue numbers as typed (`12`, `#15`); empty for every issue.
    pub only: Vec<String>,
    /// Field names as typed (`title`, `Body`, aliases `description` and `status`); empty for
    /// every field.
    pub fields: Vec<String>,
    /// Close issues created after the snapshot.
    pub close_new_issues: bool,
    /// Delete comments created after the snapshot.
    pub delete_new_comments: bool,
}

/// A request that cannot be honoured; `field` is the request's name for the input (`only`,
/// `fields`), which the CLI shows as `--only` and the API as the error's `field`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct OptionError {
    pub field: &'static str,
    pub message: String,
}

/// What to restore, validated: every issue named exists in the target snapshot, every field
/// name is known. Built only by [`RollbackOptions::validate`] (or read back from a stored
/// plan or job, which were validated when made).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackOptions {
    /// Only these issue numbers (and their comments); `None` for all.
    pub(crate) only: Option<BTreeSet<u64>>,
    /// Only these fields; `None` for all.
    pub(crate) fields: Option<BTreeSet<Field>>,
    /// Close issues created after the snapshot.
    pub(crate) close_new_issues: bool,
    /// Delete comments created after the snapshot.
    pub(crate) delete_new_comments: bool,
    /// When the target snapshot was taken: what is "new" is younger than this.
    pub(crate) snapshot_time: DateTime<Utc>,
}

impl RollbackOptions {
    /// Validates `request` for a rollback to `target_entry`, whose records are `target`.
    pub fn validate(
        request: &RollbackRequest,
        target_entry: &SnapshotEntry,
        target: &RecordSet,
    ) -> Result<RollbackOptions, OptionError> {
        Ok(RollbackOptions {
            only: parse_only(&request.only, target_entry, target)?,
            fields: parse_fields(&request.fields)?,
            close_new_issues: request.close_new_issues,
            delete_new_comments: request.delete_new_comments,
            snapshot_time: target_entry.created_at,
        })
    }

    /// Every field of every issue, nothing new touched (planner tests).
    #[cfg(test)]
    pub(crate) fn everything(snapshot_time: DateTime<Utc>) -> Self {
        RollbackOptions {
            only: None,
            fields: None,
            close_new_issues: false,
            delete_new_comments: false,
            snapshot_time,
        }
    }

    /// The issue numbers restored; `None` for all.
    pub fn only(&self) -> Option<&BTreeSet<u64>> {
        self.only.as_ref()
    }

    /// The fields restored; `None` for all.
    pub fn fields(&self) -> Option<&BTreeSet<Field>> {
        self.fields.as_ref()
    }

    pub fn close_new_issues(&self) -> bool {
        self.close_new_issues
    }

    pub fn delete_new_comments(&self) -> bool {
        self.delete_new_comments
    }

    /// When the target snapshot was taken.
    pub fn snapshot_time(&self) -> DateTime<Utc> {
        self.snapshot_time
    }

    /// Whether `field` is restored.
    pub fn wants(&self, field: Field) -> bool {
        self.fields.as_ref().is_none_or(|fs| fs.contains(&field))
    }

    /// Whether issue `number` (and its comments) is restored.
    pub fn covers(&self, number: u64) -> bool {
        self.only.as_ref().is_none_or(|only| only.contains(&number))
    }
}

/// `12`, `#15`, ` 20 ` → issue numbers, each of which must be in the snapshot.
fn parse_only(
    keys: &[String],
    entry: &SnapshotEntry,
    target: &RecordSet,
) -> Result<Option<BTreeSet<u64>>, OptionError> {
    let error = |message: String| OptionError {
        field: "only",
        message,
    };
    if keys.is_empty() {
        return Ok(None);
    }
    let mut out = BTreeSet::new();
    let mut missing = Vec::new();
    for key in keys {
        let k = key.trim().trim_start_matches('#');
        if k.is_empty() {
            continue;
        }
        let n: u64 = k.parse().map_err(|_| {
            error(format!(
                "{} is not an issue number (expected e.g. 12, 15, #20)",
                crate::sanitize::quote(key)
            ))
        })?;
        if !target.issues.contains_key(&n) {
            missing.push(format!("#{n}"));
        }
        out.insert(n);
    }
    if !missing.is_empty() {
        return Err(error(format!(
            "names issues that are not in snapshot {}: {}; check the numbers, or restore another snapshot",
            entry.id,
            missing.join(", ")
        )));
    }
    if out.is_empty() {
        return Err(error(
            "names no issue; leave it out to restore every issue".into(),
        ));
    }
    Ok(Some(out))
}

fn parse_fields(names: &[String]) -> Result<Option<BTreeSet<Field>>, OptionError> {
    let names: Vec<&String> = names.iter().filter(|f| !f.trim().is_empty()).collect();
    if names.is_empty() {
        return Ok(None);
    }
    names
        .into_iter()
        .map(|f| {
            f.parse::<Field>().map_err(|message| OptionError {
                field: "fields",
                message,
            })
        })
        .collect::<Result<BTreeSet<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::testkit::{at, Builder};

    fn entry() -> SnapshotEntry {
        crate::rollback::testkit::entry(at(5))
    }

    fn request(only: &[&str], fields: &[&str]) -> RollbackRequest {
        RollbackRequest {
            only: only.iter().map(|s| s.to_string()).collect(),
            fields: fields.iter().map(|s| s.to_string()).collect(),
            ..RollbackRequest::default()
        }
    }

    #[test]
    fn only_entries_must_be_issue_numbers_in_the_snapshot() {
        let mut b = Builder::new();
        b.issue(12, "a");
        b.issue(15, "b");
        let target = b.build();
        let ok = RollbackOptions::validate(&request(&["12", " #15", ""], &[]), &entry(), &target)
            .unwrap();
        assert_eq!(ok.only(), Some(&[12, 15].into()));
        assert_eq!(ok.snapshot_time(), at(5));
        assert!(ok.covers(12) && !ok.covers(13));

        let e = RollbackOptions::validate(&request(&["12", "99999"], &[]), &entry(), &target)
            .unwrap_err();
        assert_eq!(e.field, "only");
        assert!(e.message.contains("#99999"), "{e}");
        let e = RollbackOptions::validate(&request(&["abc"], &[]), &entry(), &target).unwrap_err();
        assert!(e.message.contains("\"abc\""), "{e}");
        let e = RollbackOptions::validate(&request(&[" "], &[]), &entry(), &target).unwrap_err();
        assert!(e.message.contains("names no issue"), "{e}");
    }

    #[test]
    fn field_names_parse_once_with_a_helpful_error() {
        let target = Builder::new().build();
        let ok =
            RollbackOptions::validate(&request(&[], &["Description", "title"]), &entry(), &target)
                .unwrap();
        assert!(ok.wants(Field::Body) && ok.wants(Field::Title) && !ok.wants(Field::State));
        let all = RollbackOptions::validate(&request(&[], &[]), &entry(), &target).unwrap();
        assert!(Field::ALL.iter().all(|f| all.wants(*f)));
        let e = RollbackOptions::validate(&request(&[], &["title", "colour"]), &entry(), &target)
            .unwrap_err();
        assert_eq!(e.field, "fields");
        assert!(e.message.contains("title, body, state"), "{e}");
    }
}
