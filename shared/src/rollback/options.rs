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
    /// Jira only, like the variants below.
    Components,
    FixVersions,
    Priority,
    DueDate,
    StoryPoints,
    /// A subtask's parent, or the epic (by parent or by Epic Link); GitHub: a sub-issue's
    /// parent and its place in the parent's order.
    Parent,
    /// GitHub: the issues an issue is blocked by.
    Dependencies,
}

impl Field {
    pub const ALL: [Field; 11] = [
        Field::Title,
        Field::Body,
        Field::State,
        Field::Labels,
        Field::Assignees,
        Field::Milestone,
        Field::Comments,
        Field::Type,
        Field::Lock,
        Field::Parent,
        Field::Dependencies,
    ];

    /// What a Jira scope restores: the shared fields (title is the summary, body the
    /// description, state the status, assignees the assignee) and Jira's own.
    pub const JIRA: [Field; 12] = [
        Field::Title,
        Field::Body,
        Field::State,
        Field::Labels,
        Field::Assignees,
        Field::Comments,
        Field::Components,
        Field::FixVersions,
        Field::Priority,
        Field::DueDate,
        Field::StoryPoints,
        Field::Parent,
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
            Field::Components => "components",
            Field::FixVersions => "fix_versions",
            Field::Priority => "priority",
            Field::DueDate => "due_date",
            Field::StoryPoints => "story_points",
            Field::Parent => "parent",
            Field::Dependencies => "dependencies",
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
        let s = s.replace('-', "_");
        let s = match s.as_str() {
            "description" => "body",
            "status" => "state",
            "summary" => "title",
            "assignee" => "assignees",
            "fixversions" | "fix_version" | "versions" => "fix_versions",
            "duedate" => "due_date",
            "storypoints" | "points" => "story_points",
            "epic" | "epic_link" | "sub_issues" | "subissues" => "parent",
            "blocked_by" | "dependency" => "dependencies",
            other => other,
        };
        Field::ALL
            .into_iter()
            .chain(Field::JIRA)
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown field {}; restorable fields are {} (Jira: also {})",
                    crate::sanitize::quote(s),
                    Field::ALL.map(Field::as_str).join(", "),
                    Field::JIRA
                        .iter()
                        .filter(|f| !Field::ALL.contains(f))
                        .map(|f| f.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
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
    /// Only changes made by these actors (logins as typed, `@` optional); empty for anyone's.
    pub by: Vec<String>,
    /// Only changes made at or after this time (RFC 3339, or a `YYYY-MM-DD` day in UTC).
    pub since: Option<String>,
}

/// Jira's own rollback flags, as a shell received them (beside a [`RollbackRequest`]; see
/// [`RollbackOptions::validate_with`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JiraRequest {
    /// Delete subtasks created after the snapshot.
    pub delete_new_subtasks: bool,
    /// Delete issues (not subtasks) created after the snapshot.
    pub delete_new_issues: bool,
    /// Recreate deleted issues and subtasks (under new keys).
    pub recreate_deleted: bool,
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
    /// Jira: delete subtasks created after the snapshot. (Absent when false, so plans
    /// made without the Jira options keep their fingerprints.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) delete_new_subtasks: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) delete_new_issues: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) recreate_deleted: bool,
    /// Restore into this other scope instead of in place (see [`super::into`]). Absent
    /// when in place, so in-place plans keep their fingerprints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) into: Option<crate::scope::Scope>,
    /// Only changes these actors made (lower-case logins); empty for anyone's. (Absent when
    /// empty, like `since`, so plans made without them keep their fingerprints.)
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub(crate) by: BTreeSet<String>,
    /// Only changes made at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) since: Option<DateTime<Utc>>,
    /// Narrowed plans: the target snapshot's newest event id, where the activity since it
    /// starts (absent: it kept none, and its time is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) events_after: Option<u64>,
}

impl RollbackOptions {
    /// Validates `request` for a rollback to `target_entry`, whose records are `target`.
    pub fn validate(
        request: &RollbackRequest,
        target_entry: &SnapshotEntry,
        target: &RecordSet,
    ) -> Result<RollbackOptions, OptionError> {
        Self::validate_with(request, &JiraRequest::default(), target_entry, target)
    }

    /// Like [`RollbackOptions::validate`], with Jira's flags (refused on GitHub scopes).
    /// Every shell calls this one for Jira scopes: `--only` takes issue keys there.
    pub fn validate_with(
        request: &RollbackRequest,
        jira_request: &JiraRequest,
        target_entry: &SnapshotEntry,
        target: &RecordSet,
    ) -> Result<RollbackOptions, OptionError> {
        let request_jira = jira_request;
        let jira = target_entry.scope.tracker() == crate::scope::TrackerKind::Jira;
        let fields = parse_fields(&request.fields)?;
        if let Some(fs) = &fields {
            // A field the scope's tracker has no such thing for would otherwise be accepted
            // and restore nothing, which reads as success.
            let (own, tracker, other): (&[Field], _, _) = if jira {
                (&Field::JIRA, "Jira", "GitHub")
            } else {
                (&Field::ALL, "GitHub", "Jira")
            };
            let foreign: Vec<&str> = fs
                .iter()
                .filter(|f| !own.contains(f))
                .map(|f| f.as_str())
                .collect();
            if !foreign.is_empty() {
                return Err(OptionError {
                    field: "fields",
                    message: format!(
                        "{} restore(s) only on {other} scopes; restorable {tracker} fields are {}",
                        foreign.join(", "),
                        own.iter()
                            .map(|f| f.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        let jira_flags = [
            (request_jira.delete_new_subtasks, "delete_new_subtasks"),
            (request_jira.delete_new_issues, "delete_new_issues"),
            (request_jira.recreate_deleted, "recreate_deleted"),
        ];
        if let Some((_, name)) = jira_flags.iter().find(|(set, _)| *set && !jira) {
            return Err(OptionError {
                field: name,
                message: format!(
                    "applies to Jira scopes only ({} is a GitHub scope)",
                    target_entry.scope
                ),
            });
        }
        let github_flags = [
            (request.close_new_issues, "close_new_issues"),
            (request.delete_new_comments, "delete_new_comments"),
        ];
        if let Some((_, name)) = github_flags.iter().find(|(set, _)| *set && jira) {
            return Err(OptionError {
                field: name,
                message: format!(
                    "applies to GitHub scopes only ({} is a Jira scope); Jira's clean-ups are delete_new_subtasks and delete_new_issues",
                    target_entry.scope
                ),
            });
        }
        let (by, since) = parse_attribution(request, target_entry)?;
        Ok(RollbackOptions {
            only: if jira {
                parse_only_keys(&request.only, target_entry, target)?
            } else {
                parse_only(&request.only, target_entry, target)?
            },
            fields,
            close_new_issues: request.close_new_issues,
            delete_new_comments: request.delete_new_comments,
            snapshot_time: target_entry.created_at,
            delete_new_subtasks: request_jira.delete_new_subtasks,
            delete_new_issues: request_jira.delete_new_issues,
            recreate_deleted: request_jira.recreate_deleted,
            into: None,
            by,
            since,
            events_after: None,
        })
    }

    /// The options a shell builds from a request: in place (`into` is `None`) or into
    /// another scope, with the target's activity log noted for narrowed plans. The CLI and
    /// the restore function both call this, so they apply the same rules in the same order.
    pub fn for_request(
        request: &RollbackRequest,
        jira_request: &JiraRequest,
        target_entry: &SnapshotEntry,
        activity: crate::attribution::ActivityFrom,
        target: &RecordSet,
        into: Option<&crate::scope::Scope>,
    ) -> Result<RollbackOptions, OptionError> {
        let options = match into {
            Some(into) => Self::validate_into(request, jira_request, target_entry, into)?,
            None => Self::validate_with(request, jira_request, target_entry, target)?,
        };
        Ok(options.with_activity_from(activity))
    }

    /// Options for restoring `target_entry` into the other scope `into` (`restore REF
    /// --into SCOPE`): the same tracker kind as the snapshot, a whole project or repository,
    /// not the snapshot's own scope. The in-place selections and clean-ups do not apply to
    /// a copy, so `request` and `jira_request` must ask for none of them.
    pub fn validate_into(
        request: &RollbackRequest,
        jira_request: &JiraRequest,
        target_entry: &SnapshotEntry,
        into: &crate::scope::Scope,
    ) -> Result<RollbackOptions, OptionError> {
        super::into::check_destination(&target_entry.scope, into)?;
        let asked = [
            (!request.only.is_empty(), "only"),
            (!request.fields.is_empty(), "fields"),
            (request.close_new_issues, "close_new_issues"),
            (request.delete_new_comments, "delete_new_comments"),
            (jira_request.delete_new_subtasks, "delete_new_subtasks"),
            (jira_request.delete_new_issues, "delete_new_issues"),
            (jira_request.recreate_deleted, "recreate_deleted"),
            (!request.by.is_empty(), "by"),
            (request.since.is_some(), "since"),
        ];
        if let Some((_, name)) = asked.iter().find(|(set, _)| *set) {
            return Err(OptionError {
                field: name,
                message: format!(
                    "does not apply to a restore into another scope (--into {into}), which copies every issue of the snapshot; leave it out"
                ),
            });
        }
        Ok(RollbackOptions {
            only: None,
            fields: None,
            close_new_issues: false,
            delete_new_comments: false,
            snapshot_time: target_entry.created_at,
            delete_new_subtasks: false,
            delete_new_issues: false,
            recreate_deleted: false,
            into: Some(into.clone()),
            by: BTreeSet::new(),
            since: None,
            events_after: None,
        })
    }

    /// The scope a restore into another scope writes to; `None` for a rollback in place.
    pub fn destination(&self) -> Option<&crate::scope::Scope> {
        self.into.as_ref()
    }

    /// For a narrowed plan (`--by`, `--since`), notes where the target snapshot's activity
    /// log ends (`activity`: its manifest's [`crate::manifest::Manifest::activity_from`]),
    /// so the activity since it is listed from there; other plans are left as they were.
    pub fn with_activity_from(mut self, activity: crate::attribution::ActivityFrom) -> Self {
        if self.narrowed() {
            // After a snapshot whose own listing failed, from its last good point.
            self.events_after = match activity {
                crate::attribution::ActivityFrom::AfterId(id) => Some(id),
                _ => None,
            };
        }
        self
    }

    /// Where the activity since the target snapshot starts.
    pub fn activity_from(&self) -> crate::attribution::ActivityFrom {
        match self.events_after {
            Some(id) => crate::attribution::ActivityFrom::AfterId(id),
            None => crate::attribution::ActivityFrom::AfterTime(self.snapshot_time),
        }
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
            delete_new_subtasks: false,
            delete_new_issues: false,
            recreate_deleted: false,
            into: None,
            by: BTreeSet::new(),
            since: None,
            events_after: None,
        }
    }

    /// Narrowed to some actors' changes, or to a window (`--by`, `--since`).
    #[cfg(test)]
    pub(crate) fn narrowed_to(mut self, by: &[&str], since: Option<DateTime<Utc>>) -> Self {
        self.by = by.iter().map(|a| a.to_ascii_lowercase()).collect();
        self.since = since;
        self
    }

    /// The actors whose changes are restored (lower-case logins); empty for anyone's.
    pub fn by(&self) -> &BTreeSet<String> {
        &self.by
    }

    /// Only changes made at or after this time are restored.
    pub fn since(&self) -> Option<DateTime<Utc>> {
        self.since
    }

    /// Whether the plan is narrowed to who made a change and when (`--by`, `--since`):
    /// planning then needs the tracker's activity log.
    pub fn narrowed(&self) -> bool {
        !self.by.is_empty() || self.since.is_some()
    }

    pub fn delete_new_subtasks(&self) -> bool {
        self.delete_new_subtasks
    }

    pub fn delete_new_issues(&self) -> bool {
        self.delete_new_issues
    }

    pub fn recreate_deleted(&self) -> bool {
        self.recreate_deleted
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

/// Jira: `PROJ-12`, `proj-15` → the ids of those issues in the snapshot (an issue's key
/// can change, its id cannot).
fn parse_only_keys(
    keys: &[String],
    entry: &SnapshotEntry,
    target: &RecordSet,
) -> Result<Option<BTreeSet<u64>>, OptionError> {
    let error = |message: String| OptionError {
        field: "only",
        message,
    };
    let wanted: Vec<String> = keys
        .iter()
        .map(|k| k.trim().to_ascii_uppercase())
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() {
        return Ok(None);
    }
    if wanted.is_empty() {
        return Err(error(
            "names no issue; leave it out to restore every issue".into(),
        ));
    }
    let mut out = BTreeSet::new();
    let mut missing = Vec::new();
    for key in &wanted {
        let shape = key.rsplit_once('-').is_some_and(|(p, n)| {
            !p.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
        });
        if !shape {
            return Err(error(format!(
                "{} is not a Jira issue key (expected e.g. PROJ-12,PROJ-15)",
                crate::sanitize::quote(key)
            )));
        }
        match target
            .jira_issues
            .values()
            .find(|i| i.key.eq_ignore_ascii_case(key))
        {
            Some(i) => {
                out.insert(i.id);
            }
            None => missing.push(key.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(error(format!(
            "names issues that are not in snapshot {}: {}; check the keys, or restore another snapshot",
            entry.id,
            missing.join(", ")
        )));
    }
    Ok(Some(out))
}

/// `--by` logins (`@` optional, compared case-insensitively as GitHub does) and `--since`
/// (RFC 3339, or a day in UTC). Both need an activity log, which only GitHub keeps.
fn parse_attribution(
    request: &RollbackRequest,
    entry: &SnapshotEntry,
) -> Result<(BTreeSet<String>, Option<DateTime<Utc>>), OptionError> {
    let mut by = BTreeSet::new();
    for actor in &request.by {
        let login = actor.trim().trim_start_matches('@');
        let valid = !login.is_empty()
            && login.len() <= 64
            && login
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '[' | ']'));
        if !valid {
            return Err(OptionError {
                field: "by",
                message: format!(
                    "{} is not a GitHub login (expected e.g. octocat or dependabot[bot])",
                    crate::sanitize::quote(actor)
                ),
            });
        }
        by.insert(login.to_ascii_lowercase());
    }
    let since = match request.since.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(parse_time(text).ok_or_else(|| OptionError {
            field: "since",
            message: format!(
                "{} is not a time (expected RFC 3339, e.g. 2026-11-30T09:00:00Z, or a day, e.g. 2026-11-30)",
                crate::sanitize::quote(text)
            ),
        })?),
    };
    if let Some(t) = since {
        if t > Utc::now() {
            return Err(OptionError {
                field: "since",
                message: format!("{t} is in the future: no change was made after it yet"),
            });
        }
    }
    if (!by.is_empty() || since.is_some())
        && entry.scope.tracker() == crate::scope::TrackerKind::Jira
    {
        let field = if by.is_empty() { "since" } else { "by" };
        return Err(OptionError {
            field,
            message: format!(
                "needs the tracker's record of who changed what, which backtrack reads on GitHub only ({} is a Jira scope)",
                entry.scope
            ),
        });
    }
    Ok((by, since))
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
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

    #[test]
    fn a_field_the_scopes_tracker_lacks_is_refused_not_ignored() {
        let target = Builder::new().build();
        let e = RollbackOptions::validate(&request(&[], &["components"]), &entry(), &target)
            .unwrap_err();
        assert_eq!(e.field, "fields");
        assert!(
            e.message.contains("components restore(s) only on Jira"),
            "{e}"
        );

        let mut jira = entry();
        jira.scope = "jira:PROJ".parse().unwrap();
        for github_only in ["dependencies", "milestone", "lock", "type"] {
            let e = RollbackOptions::validate(&request(&[], &[github_only]), &jira, &target)
                .unwrap_err();
            assert_eq!(e.field, "fields");
            assert!(
                e.message
                    .contains(&format!("{github_only} restore(s) only on GitHub"))
                    && e.message.contains("restorable Jira fields are title, body"),
                "{e}"
            );
        }
        let ok =
            RollbackOptions::validate(&request(&[], &["components", "parent"]), &jira, &target)
                .unwrap();
        assert!(ok.wants(Field::Components) && !ok.wants(Field::Title));
    }
}
