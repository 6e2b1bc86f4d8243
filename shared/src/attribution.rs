//! Who changed what: a repository's issue events (GitHub's `GET /repos/{o}/{r}/issues/events`),
//! kept with a snapshot as an [`Activity`] log, and the attribution of diff changes and
//! rollback fields to the actors that made them.
//!
//! GitHub records an event for most deliberate issue changes (labelled, closed, renamed,
//! milestoned, assigned, locked, retyped, re-parented…), each with its actor and time, but
//! none for an edited body or comment. A change is attributed only from an event that records
//! it, or — for a new issue or a new comment — from its own author and creation time, which
//! cannot be anyone else's. Everything else is *unattributed*, said as such, never guessed:
//! the issue's author is not who edited its body, and a comment may be edited by a
//! maintainer.
//!
//! The log is versioned ([`ACTIVITY_FORMAT`]) and stored beside the manifest as a
//! content-addressed blob, so records (and full/incremental equality) are untouched.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diff::{Change, ChangeKind, Diff, Field, Op};
use crate::record::RecordSet;

/// The activity-log format this build writes; readers refuse newer ones.
pub const ACTIVITY_FORMAT: u32 = 1;

/// Where an activity listing starts (exclusive), newest first down to it.
///
/// Event ids grow with time on GitHub, and unlike times they cannot disagree with the
/// clock of the machine that took a snapshot: a snapshot keeps the newest id it saw, and
/// the next listing stops there. Times are the fallback for snapshots taken before ids
/// were kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityFrom {
    /// No window yet (a first snapshot): only the newest event's id, one request.
    Newest,
    /// Events with a greater id.
    AfterId(u64),
    /// Events created after this time.
    AfterTime(DateTime<Utc>),
}

impl ActivityFrom {
    /// Where the window after a snapshot whose manifest says `newest` (its newest event id;
    /// `None` for a snapshot that kept no log) taken at `taken` starts.
    pub fn after(newest: Option<Option<u64>>, taken: DateTime<Utc>) -> Self {
        match newest {
            Some(id) => ActivityFrom::AfterId(id.unwrap_or(0)),
            None => ActivityFrom::AfterTime(taken),
        }
    }
}

/// A repository's issue events in a window, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub format: u32,
    /// The window's start by time, when it was listed by time.
    pub since: Option<DateTime<Utc>>,
    /// The window's start by id (exclusive), when it was listed by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_id: Option<u64>,
    /// The newest event id the repository had when listed (the next window's start);
    /// `None` when it had none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_id: Option<u64>,
    /// When the listing was read: the window's end.
    pub until: DateTime<Utc>,
    /// `false` when the listing ended before reaching `since` (GitHub keeps events for 90
    /// days and serves at most a few thousand): older changes cannot be attributed.
    pub complete: bool,
    pub events: Vec<IssueEvent>,
    /// Set when the listing failed (the tracker's answer): the log holds no events for the
    /// window, which the next snapshot lists again (see [`Activity::gap`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

impl Activity {
    /// The log of a window whose listing failed with `reason`: no events, incomplete, and
    /// ending where it started, so the next window starts at the same last good point.
    pub fn gap(from: ActivityFrom, reason: String) -> Activity {
        let (since, after_id) = match from {
            ActivityFrom::Newest => (None, None),
            ActivityFrom::AfterId(id) => (None, Some(id)),
            ActivityFrom::AfterTime(t) => (Some(t), None),
        };
        Activity {
            format: ACTIVITY_FORMAT,
            since,
            after_id,
            newest_id: after_id,
            until: Utc::now(),
            complete: false,
            events: Vec::new(),
            failed: Some(reason),
        }
    }
}

/// The warning a diff prints when logs it needed are missing: `logs` newest first (as
/// [`crate::snapshot::Archive::activity_between`] and a live listing give them). A failed
/// log is covered by any newer log that did answer (it listed from the same last good
/// point); only the failures newer than every good log leave changes unattributed. `None`
/// when nothing is missing.
pub fn gap_warning(diff: &Diff, logs: &[Activity], live: bool) -> Option<String> {
    let reason = logs
        .iter()
        .take_while(|l| l.failed.is_some())
        .find_map(|l| l.failed.as_deref())?;
    let unattributed = diff
        .changes
        .iter()
        .filter(|c| {
            c.attribution
                .as_ref()
                .is_none_or(|a| a.source == Source::Unattributed)
        })
        .count();
    let (when, then) = if live {
        (
            "listing the issue events failed",
            "run the diff again once the listing answers",
        )
    } else {
        (
            "the issue events listing failed when the newer snapshot was taken",
            "the next snapshot lists those events again, and a diff to it attributes them",
        )
    };
    Some(format!(
        "{unattributed} change(s) shown unattributed: {when} ({}); {then}",
        crate::sanitize::error_line(reason)
    ))
}

/// The events a link write records (on both issues it links).
const LINK_EVENTS: [&str; 8] = [
    "sub_issue_added",
    "sub_issue_removed",
    "parent_issue_added",
    "parent_issue_removed",
    "blocked_by_added",
    "blocked_by_removed",
    "blocking_added",
    "blocking_removed",
];

impl Activity {
    /// The issues whose links (sub-issues, parent, dependencies) changed in the window: both
    /// ends of every link event. Such writes move no issue's `updated_at` on GitHub, so an
    /// incremental capture reads these issues again.
    pub fn relinked(&self) -> BTreeSet<u64> {
        let mut out = BTreeSet::new();
        for e in self
            .events
            .iter()
            .filter(|e| LINK_EVENTS.contains(&e.event.as_str()))
        {
            out.insert(e.issue);
            if let Some(n) = e.subject.as_deref().and_then(|s| s.strip_prefix('#')) {
                if let Ok(n) = n.parse() {
                    out.insert(n);
                }
            }
        }
        out
    }
}

/// One issue event, reduced to what attribution needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueEvent {
    pub id: u64,
    /// The number of the issue (or pull request) it happened to.
    pub issue: u64,
    /// The actor's login; `None` for a deleted account (GitHub's `ghost`).
    pub actor: Option<String>,
    /// GitHub's event name (`labeled`, `issue_type_changed`…).
    pub event: String,
    pub created_at: DateTime<Utc>,
    /// What the event names: the label, the assignee's login, the milestone's title, the new
    /// title, the issue type, or the other issue's number (`#12`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl IssueEvent {
    /// Reads one element of the events listing; `None` for an element that is not an issue
    /// event (no issue, no time).
    pub fn from_github(v: &Value) -> Option<IssueEvent> {
        let issue = v.pointer("/issue/number").and_then(Value::as_u64)?;
        let created_at = v
            .get("created_at")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())?
            .with_timezone(&Utc);
        let event = v.get("event").and_then(Value::as_str)?.to_string();
        let text = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        let number = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_u64)
                .map(|n| format!("#{n}"))
        };
        let subject = match event.as_str() {
            "labeled" | "unlabeled" => text("/label/name"),
            "assigned" | "unassigned" => text("/assignee/login"),
            "milestoned" | "demilestoned" => text("/milestone/title"),
            "renamed" => text("/rename/to"),
            "issue_type_added" | "issue_type_changed" | "issue_type_removed" => {
                text("/issue_type/name")
            }
            "sub_issue_added" | "sub_issue_removed" => number("/sub_issue/number"),
            "parent_issue_added" | "parent_issue_removed" => number("/parent_issue/number"),
            "blocked_by_added" | "blocked_by_removed" => number("/blocked_by/number"),
            "blocking_added" | "blocking_removed" => number("/blocking/number"),
            _ => None,
        };
        Some(IssueEvent {
            id: v.get("id").and_then(Value::as_u64).unwrap_or(0),
            issue,
            actor: text("/actor/login"),
            event,
            created_at,
            subject,
        })
    }

    /// The actor as shown: the login, or `ghost` for a deleted account.
    pub fn who(&self) -> &str {
        self.actor.as_deref().unwrap_or("ghost")
    }

    /// The diff fields this event changes on its own issue.
    fn fields(&self) -> &'static [Field] {
        match self.event.as_str() {
            "labeled" | "unlabeled" => &[Field::Labels],
            "assigned" | "unassigned" => &[Field::Assignees],
            "milestoned" | "demilestoned" => &[Field::Milestone],
            "renamed" => &[Field::Title],
            "closed" | "reopened" => &[Field::State, Field::StateReason],
            "locked" | "unlocked" => &[Field::Locked, Field::LockReason],
            "issue_type_added" | "issue_type_changed" | "issue_type_removed" => &[Field::IssueType],
            "parent_issue_added" | "parent_issue_removed" => &[Field::Parent],
            "sub_issue_added" | "sub_issue_removed" => &[Field::SubIssues],
            "blocked_by_added" | "blocked_by_removed" => &[Field::BlockedBy],
            _ => &[],
        }
    }

    /// Whether this event records `change` (on `issue`): the field, and for a set field the
    /// element (label names compare as GitHub compares them, case-insensitively).
    fn records(&self, issue: u64, change: &Change) -> bool {
        // A sub-issue event is recorded on the parent; it also says who moved the child.
        if change.field == Field::Parent && self.event.starts_with("sub_issue_") {
            return self.subject.as_deref() == Some(&format!("#{issue}"));
        }
        if self.issue != issue || !self.fields().contains(&change.field) {
            return false;
        }
        if !change.field.is_set() {
            return true;
        }
        let element = match change.op {
            Op::Removed => &change.before,
            _ => &change.after,
        };
        match (element.as_str(), self.subject.as_deref()) {
            (Some(e), Some(s)) if change.field == Field::Labels => e.eq_ignore_ascii_case(s),
            (Some(e), Some(s)) => e == s,
            _ => false,
        }
    }
}

/// How a change was attributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// From the issue events that record it.
    Event,
    /// A new issue or comment: its author, when it was created.
    Author,
    /// No event records it (a body or comment edit, a definition change, a deletion), or the
    /// events listing did not reach back far enough.
    Unattributed,
}

/// Who made a change and when, in the diff's JSON as `attribution`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    /// The actors' logins, most recent first, each once; empty when unattributed.
    pub actors: Vec<String>,
    /// The most recent of those events (the creation time, for [`Source::Author`]).
    pub at: Option<DateTime<Utc>>,
    pub source: Source,
}

impl Attribution {
    pub fn unattributed() -> Self {
        Attribution {
            actors: Vec::new(),
            at: None,
            source: Source::Unattributed,
        }
    }

    /// `by @bot at 2026-11-30 22:10 UTC`, or `unattributed`.
    pub fn describe(&self) -> String {
        if self.actors.is_empty() {
            return "unattributed (no event records who made it)".to_string();
        }
        let who: Vec<String> = self.actors.iter().map(|a| format!("@{a}")).collect();
        match self.at {
            Some(at) => format!(
                "by {} at {}",
                who.join(", "),
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            None => format!("by {}", who.join(", ")),
        }
    }
}

/// The events of a window, indexed for attribution.
#[derive(Debug, Clone, Default)]
pub struct Window<'a> {
    /// Events in `(start, end]`, by issue, newest first.
    by_issue: BTreeMap<u64, Vec<&'a IssueEvent>>,
    /// Sub-issue events by the child they name, newest first.
    by_child: BTreeMap<u64, Vec<&'a IssueEvent>>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    /// Whether the logs cover the whole window.
    pub complete: bool,
}

impl<'a> Window<'a> {
    /// The events of `logs` (listed for the window `(start, end]`; `end` `None`: up to now),
    /// each once; the times bound what counts as created in the window.
    pub fn new(
        logs: &'a [Activity],
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Self {
        let mut seen = BTreeSet::new();
        let mut w = Window {
            start,
            end,
            complete: !logs.is_empty() && logs.iter().all(|l| l.complete),
            ..Window::default()
        };
        // The logs were listed for exactly this window (by event id): no event is filtered
        // by time, which the tracker's clock and the snapshot's may disagree on.
        let mut all: Vec<&IssueEvent> = logs
            .iter()
            .flat_map(|l| &l.events)
            .filter(|e| seen.insert(e.id))
            .collect();
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        for e in all {
            w.by_issue.entry(e.issue).or_default().push(e);
            if e.event.starts_with("sub_issue_") {
                if let Some(child) = e.subject.as_deref().and_then(|s| s[1..].parse().ok()) {
                    w.by_child.entry(child).or_default().push(e);
                }
            }
        }
        w
    }

    /// The events that record `change` on issue `issue`, newest first.
    pub fn events_for(&self, issue: u64, change: &Change) -> Vec<&'a IssueEvent> {
        let own = self.by_issue.get(&issue).into_iter().flatten();
        let moved = self
            .by_child
            .get(&issue)
            .filter(|_| change.field == Field::Parent)
            .into_iter()
            .flatten();
        let mut out: Vec<&IssueEvent> = own
            .chain(moved)
            .copied()
            .filter(|e| e.records(issue, change))
            .collect();
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        out.dedup_by_key(|e| e.id);
        out
    }

    /// Who made `change`, looking up new issues and comments in `to` (the newer side).
    pub fn attribute(&self, change: &Change, to: &RecordSet) -> Attribution {
        let in_window =
            |t: DateTime<Utc>| self.start.is_none_or(|s| t > s) && self.end.is_none_or(|e| t <= e);
        let authored = |author: &Option<String>, at: DateTime<Utc>| match author {
            Some(a) if in_window(at) => Attribution {
                actors: vec![a.clone()],
                at: Some(at),
                source: Source::Author,
            },
            _ => Attribution::unattributed(),
        };
        match (change.kind, change.field, change.op) {
            (ChangeKind::Issue, Field::Record, Op::Added) => {
                let found = change.issue.and_then(|n| to.issues.get(&n));
                found.map_or_else(Attribution::unattributed, |i| {
                    authored(&i.author, i.created_at)
                })
            }
            (ChangeKind::Comment, _, Op::Added) => {
                let found = change
                    .key
                    .parse()
                    .ok()
                    .and_then(|id: u64| to.comments.get(&id));
                found.map_or_else(Attribution::unattributed, |c| {
                    authored(&c.author, c.created_at)
                })
            }
            (ChangeKind::Issue, _, _) => match change.issue {
                Some(n) => of_events(&self.events_for(n, change)),
                None => Attribution::unattributed(),
            },
            _ => Attribution::unattributed(),
        }
    }
}

fn of_events(events: &[&IssueEvent]) -> Attribution {
    let Some(newest) = events.first() else {
        return Attribution::unattributed();
    };
    let mut actors: Vec<String> = Vec::new();
    for e in events {
        let who = e.who().to_string();
        if !actors.contains(&who) {
            actors.push(who);
        }
    }
    Attribution {
        actors,
        at: Some(newest.created_at),
        source: Source::Event,
    }
}

/// Attributes every change of `diff` from `logs`: `to` is the newer record set (new issues and
/// comments are found there). The window is the diff's two sides' times, whichever is older
/// first; a live side is "now".
pub fn attribute(diff: &mut Diff, logs: &[Activity], to: &RecordSet) {
    let times = [diff.from.created_at, diff.to.created_at];
    let (start, end) = match times {
        [Some(a), Some(b)] => (Some(a.min(b)), Some(a.max(b))),
        [Some(a), None] | [None, Some(a)] => (Some(a), None),
        [None, None] => (None, None),
    };
    let window = Window::new(logs, start, end);
    for change in &mut diff.changes {
        change.attribution = Some(window.attribute(change, to));
    }
}

#[cfg(test)]
mod tests;
