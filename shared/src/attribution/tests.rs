#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test, with its location.

use serde_json::json;

use super::*;
use crate::diff::testkit::{at, names, Builder};
use crate::diff::{diff, render_json, render_markdown, render_text, DiffOptions, Side};
use crate::diff::{MarkdownOptions, TextOptions};
use crate::tracker::github::fields::SCHEMA as GH_SCHEMA;

fn event(
    id: u64,
    issue: u64,
    actor: &str,
    name: &str,
    subject: Option<&str>,
    day: i64,
) -> IssueEvent {
    IssueEvent {
        id,
        issue,
        actor: Some(actor.into()),
        event: name.into(),
        created_at: at(day),
        subject: subject.map(str::to_string),
    }
}

fn log(events: Vec<IssueEvent>) -> Activity {
    Activity {
        format: ACTIVITY_FORMAT,
        since: None,
        after_id: Some(0),
        newest_id: Some(8),
        until: at(9),
        complete: true,
        events,
        failed: None,
    }
}

/// Snapshot at day 1, live later: a bot retypes #1, labels #2 and moves #3; a human renames #2,
/// removes a label from #2 and edits #4's body (no event).
fn scenario() -> (Diff, RecordSet) {
    let mut b = Builder::new();
    b.label(1, "bug", "d73a4a");
    b.label(2, "triage", "ededed");
    b.issue(1, "One").model.issue_type = Some("Bug".into());
    b.issue(2, "Two").labels = names(&["triage"]);
    b.issue(3, "Three").model.parent = Some(1);
    b.issue(4, "Four").body = Some("old".into());
    let from = b.build();
    b.set.issues.get_mut(&1).unwrap().model.issue_type = Some("Task".into());
    let two = b.set.issues.get_mut(&2).unwrap();
    two.title = "Two, renamed".into();
    two.labels = names(&["bug"]);
    b.set.issues.get_mut(&3).unwrap().model.parent = Some(2);
    b.set.issues.get_mut(&4).unwrap().body = Some("new".into());
    b.comment(900, 4, "carol", "a new comment").created_at = at(3);
    let to = b.build();
    let d = diff(&GH_SCHEMA, &from, &to, &DiffOptions::default()).with_sides(
        Side::snapshot("github:acme/widgets", "01A", None, Some(at(1))),
        Side::live("github:acme/widgets"),
    );
    (d, to)
}

fn events() -> Vec<IssueEvent> {
    vec![
        event(8, 2, "human", "renamed", Some("Two, renamed"), 5),
        event(7, 2, "human", "unlabeled", Some("triage"), 5),
        event(6, 2, "bot", "labeled", Some("BUG"), 4),
        event(5, 1, "bot", "issue_type_changed", Some("Task"), 3),
        event(4, 1, "bot", "sub_issue_removed", Some("#3"), 3),
        event(3, 2, "bot", "sub_issue_added", Some("#3"), 3),
        event(2, 3, "bot", "parent_issue_added", Some("#2"), 3),
    ]
}

fn find(d: &Diff, issue: u64, field: Field) -> &Change {
    d.changes
        .iter()
        .find(|c| c.issue == Some(issue) && c.field == field && c.kind == ChangeKind::Issue)
        .unwrap()
}

#[test]
fn each_change_goes_to_the_actor_whose_event_records_it() {
    let (mut d, to) = scenario();
    attribute(&mut d, &[log(events())], &to);
    let by = |issue, field| find(&d, issue, field).attribution.clone().unwrap();
    assert_eq!(by(1, Field::IssueType).actors, ["bot"]);
    assert_eq!(by(1, Field::IssueType).at, Some(at(3)));
    assert_eq!(by(2, Field::Title).actors, ["human"]);
    // Set elements: the label added is the bot's (names compare case-insensitively), the
    // label removed the human's.
    let labels: Vec<(Op, Vec<String>)> = d
        .changes
        .iter()
        .filter(|c| c.issue == Some(2) && c.field == Field::Labels)
        .map(|c| (c.op, c.attribution.clone().unwrap().actors))
        .collect();
    assert!(
        labels.contains(&(Op::Added, vec!["bot".to_string()])),
        "{labels:?}"
    );
    assert!(
        labels.contains(&(Op::Removed, vec!["human".to_string()])),
        "{labels:?}"
    );
    // The parent change is recorded on the child and on both parents: one actor, once.
    assert_eq!(by(3, Field::Parent).actors, ["bot"]);
    assert_eq!(by(3, Field::Parent).source, Source::Event);
    // A body edit has no event; a new comment is its author's.
    assert_eq!(by(4, Field::Body).source, Source::Unattributed);
    let comment = d
        .changes
        .iter()
        .find(|c| c.kind == ChangeKind::Comment)
        .unwrap()
        .attribution
        .clone()
        .unwrap();
    assert_eq!(
        (comment.actors, comment.source),
        (vec!["carol".to_string()], Source::Author)
    );
}

#[test]
fn the_three_formats_say_who_and_when() {
    let (mut d, to) = scenario();
    attribute(&mut d, &[log(events())], &to);
    let text = render_text(&d, &TextOptions::default());
    assert!(text.contains("by @bot at 2025-01-16"), "{text}");
    assert!(text.contains("by @human at"), "{text}");
    assert!(text.contains("unattributed"), "{text}");
    let md = render_markdown(&d, &MarkdownOptions::default());
    // The login is shown but cannot ping anyone.
    assert!(
        md.contains("by &#64;bot at") || md.contains("by @\u{200b}bot"),
        "{md}"
    );
    let json: serde_json::Value = serde_json::from_str(&render_json(&d).unwrap()).unwrap();
    assert_eq!(json["schema_version"], 1);
    let retype = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "issue_type")
        .unwrap();
    assert_eq!(
        retype["attribution"],
        json!({"actors": ["bot"], "at": "2025-01-16T15:00:00Z", "source": "event"})
    );
    // Without an activity log nothing is said, and the JSON is as before.
    let (plain, _) = scenario();
    assert!(!render_json(&plain).unwrap().contains("attribution"));
}

#[test]
fn events_parse_from_githubs_listing() {
    let v = json!({
        "id": 42, "event": "labeled", "created_at": "2025-01-14T10:00:00Z",
        "actor": {"login": "bot"}, "label": {"name": "bug", "color": "d73a4a"},
        "issue": {"number": 7}
    });
    let e = IssueEvent::from_github(&v).unwrap();
    assert_eq!(
        (e.issue, e.who(), e.subject.as_deref()),
        (7, "bot", Some("bug"))
    );
    let ghost = json!({"id": 1, "event": "closed", "created_at": "2025-01-14T10:00:00Z",
        "actor": null, "issue": {"number": 7}});
    assert_eq!(IssueEvent::from_github(&ghost).unwrap().who(), "ghost");
    assert!(IssueEvent::from_github(&json!({"id": 1, "event": "closed"})).is_none());
}

#[test]
fn an_incomplete_log_is_said_to_be_one() {
    let mut l = log(events());
    assert!(Window::new(std::slice::from_ref(&l), Some(at(1)), None).complete);
    assert!(!Window::new(&[], Some(at(1)), None).complete);
    l.complete = false;
    assert!(!Window::new(&[l], Some(at(1)), None).complete);
}

#[test]
fn a_failed_listing_leaves_changes_unattributed_with_one_warning_saying_why() {
    let (mut d, to) = scenario();
    let gap = Activity::gap(
        ActivityFrom::AfterId(2),
        "GitHub answered HTTP 503 for GET /repos/acme/widgets/issues/events".into(),
    );
    // It ends where it started: the next listing starts at the same last good point.
    assert_eq!(
        (gap.after_id, gap.newest_id, gap.complete),
        (Some(2), Some(2), false)
    );
    assert!(gap.events.is_empty());
    attribute(&mut d, std::slice::from_ref(&gap), &to);
    assert_eq!(
        find(&d, 1, Field::IssueType)
            .attribution
            .as_ref()
            .unwrap()
            .source,
        Source::Unattributed
    );
    // A new comment is still its author's: that needs no event.
    let comment = d
        .changes
        .iter()
        .find(|c| c.kind == ChangeKind::Comment)
        .unwrap();
    assert_eq!(comment.attribution.as_ref().unwrap().actors, ["carol"]);
    let unattributed = d.changes.len() - 1;
    let live = gap_warning(&d, std::slice::from_ref(&gap), true).unwrap();
    assert!(
        live.starts_with(&format!("{unattributed} change(s) shown unattributed"))
            && live.contains("HTTP 503")
            && live.contains("run the diff again"),
        "{live}"
    );
    let stored = gap_warning(&d, std::slice::from_ref(&gap), false).unwrap();
    assert!(
        stored.contains("the next snapshot lists those events again"),
        "{stored}"
    );

    // A newer log that answered covers the failed window (it listed from the same point):
    // nothing is missing, no warning.
    let (mut d, to) = scenario();
    let logs = [log(events()), gap.clone()];
    attribute(&mut d, &logs, &to);
    assert_eq!(
        find(&d, 1, Field::IssueType)
            .attribution
            .as_ref()
            .unwrap()
            .actors,
        ["bot"]
    );
    assert_eq!(gap_warning(&d, &logs, false), None);
    // Failures newer than every good log are not covered.
    assert!(gap_warning(&d, &[gap.clone(), log(events())], false).is_some());
    // A listing that answered is never warned about.
    assert_eq!(gap_warning(&d, &[log(events())], true), None);
}

#[test]
fn link_events_name_both_issues_to_read_again() {
    let l = log(vec![
        event(1, 1, "bot", "sub_issue_added", Some("#4"), 2),
        event(2, 4, "bot", "parent_issue_added", Some("#1"), 2),
        event(3, 6, "bot", "blocked_by_removed", Some("#7"), 3),
        event(4, 9, "bot", "labeled", Some("bug"), 3),
        event(5, 11, "bot", "blocking_added", Some("#12"), 4),
    ]);
    assert_eq!(
        l.relinked().into_iter().collect::<Vec<_>>(),
        [1, 4, 6, 7, 11, 12]
    );
}

#[test]
fn sub_issue_and_dependency_changes_are_attributed_by_their_events() {
    let mut b = Builder::new();
    b.issue(1, "Parent").model.sub_issues = vec![2];
    b.issue(2, "Child");
    b.issue(3, "Blocked");
    let from = b.build();
    b.set.issues.get_mut(&1).unwrap().model.sub_issues = vec![2, 4];
    b.issue(4, "Joined");
    b.set.issues.get_mut(&3).unwrap().model.blocked_by = vec![2];
    let to = b.build();
    let mut d = diff(&GH_SCHEMA, &from, &to, &DiffOptions::default()).with_sides(
        Side::snapshot("github:acme/widgets", "01A", None, Some(at(1))),
        Side::live("github:acme/widgets"),
    );
    let logs = [log(vec![
        event(1, 1, "bot", "sub_issue_added", Some("#4"), 2),
        event(2, 3, "amy", "blocked_by_added", Some("#2"), 3),
    ])];
    attribute(&mut d, &logs, &to);
    let who = |issue: u64, field: Field| {
        d.changes
            .iter()
            .find(|c| c.issue == Some(issue) && c.field == field)
            .and_then(|c| c.attribution.clone())
            .unwrap()
            .actors
    };
    assert_eq!(who(1, Field::SubIssues), ["bot"]);
    assert_eq!(who(3, Field::BlockedBy), ["amy"]);
}
