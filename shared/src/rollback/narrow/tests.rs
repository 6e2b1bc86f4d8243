#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test, with its location.

use super::*;
use crate::attribution::ACTIVITY_FORMAT;
use crate::diff::testkit::{at, names, Builder};
use crate::record::RecordSet;
use crate::rollback::plan::plan;

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

/// Snapshot at day 5. Then a bot retypes #1, locks #2 and labels #4; a human renames and
/// re-describes #3, labels #4 too, and comments on #1.
fn scenario() -> (RecordSet, RecordSet, Activity) {
    let mut b = Builder::new();
    b.label(1, "bug", "d73a4a");
    b.issue(1, "One").model.issue_type = Some("Bug".into());
    b.issue(2, "Two");
    b.issue(3, "Three").body = Some("old".into());
    b.issue(4, "Four").labels = names(&["bug"]);
    let target = b.build();
    b.set.issues.get_mut(&1).unwrap().model.issue_type = Some("Task".into());
    b.set.issues.get_mut(&2).unwrap().locked = true;
    let three = b.set.issues.get_mut(&3).unwrap();
    three.title = "Three, renamed".into();
    three.body = Some("new".into());
    b.set.issues.get_mut(&4).unwrap().labels = names(&["bug", "from-bot", "from-human"]);
    b.comment(900, 1, "human", "a new comment").created_at = at(7);
    let live = b.build();
    let log = Activity {
        format: ACTIVITY_FORMAT,
        since: None,
        after_id: Some(2),
        newest_id: Some(7),
        until: at(9),
        complete: true,
        events: vec![
            event(7, 4, "Human", "labeled", Some("from-human"), 8),
            event(6, 4, "bot", "labeled", Some("from-bot"), 7),
            event(5, 3, "human", "renamed", Some("Three, renamed"), 7),
            event(4, 2, "bot", "locked", None, 6),
            event(3, 1, "bot", "issue_type_changed", Some("Task"), 6),
        ],
        failed: None,
    };
    (target, live, log)
}

fn opts(by: &[&str], since: Option<chrono::DateTime<Utc>>) -> RollbackOptions {
    RollbackOptions::everything(at(5)).narrowed_to(by, since)
}

fn run(by: &[&str], since: Option<chrono::DateTime<Utc>>) -> Planned {
    let (target, live, log) = scenario();
    let o = opts(by, since);
    let mut o2 = o.clone();
    o2.delete_new_comments = true;
    narrow(plan(&target, &live, &o2, "snap"), &live, &o2, &log)
}

#[test]
fn only_the_bots_changes_are_planned_and_the_rest_is_named() {
    let p = run(&["BOT"], None);
    let ops: Vec<String> = p.ops.iter().map(|o| o.op.to_string()).collect();
    assert_eq!(p.ops.len(), 3, "{ops:#?}");
    assert!(
        matches!(&p.ops[0].op, Operation::UpdateIssue { number: 1, changes, .. }
        if matches!(changes.as_slice(), [Change::IssueType { .. }])),
        "{ops:#?}"
    );
    assert!(
        matches!(
            &p.ops[1].op,
            Operation::SetLock {
                number: 2,
                locked: false,
                ..
            }
        ),
        "{ops:#?}"
    );
    // #4: the bot's label comes off, the human's stays.
    let Operation::UpdateIssue {
        number: 4, changes, ..
    } = &p.ops[2].op
    else {
        panic!("{ops:#?}")
    };
    assert_eq!(
        changes,
        &[Change::Labels {
            from: names(&["bug", "from-bot", "from-human"]),
            to: names(&["bug", "from-human"]),
        }]
    );
    // Indices run from 0 again, as the journal expects.
    assert_eq!(p.ops.iter().map(|o| o.index).collect::<Vec<_>>(), [0, 1, 2]);
    // The human's rename and new comment are someone else's: left silently. The body edit
    // has no event: named.
    let named: Vec<&str> = p.left_alone.iter().map(|l| l.what.as_str()).collect();
    assert_eq!(named, ["#3 description"], "{named:?}");
    assert!(p.left_alone[0].reason.contains("no event"));
}

#[test]
fn the_humans_changes_are_theirs_and_since_narrows_the_window() {
    let p = run(&["human"], None);
    let ops: Vec<String> = p.ops.iter().map(|o| o.op.to_string()).collect();
    // #3's title, #4's human label and the human's new comment.
    assert_eq!(p.ops.len(), 3, "{ops:#?}");
    assert!(ops.iter().any(|o| o.contains("comment 900")), "{ops:#?}");
    // Everyone's changes since day 7: the bot's lock (day 6) and retype stay.
    let p = run(&[], Some(at(7)));
    let ops: Vec<String> = p.ops.iter().map(|o| o.op.to_string()).collect();
    assert!(!ops.iter().any(|o| o.contains("lock")), "{ops:#?}");
    assert!(ops.iter().any(|o| o.contains("#4")), "{ops:#?}");
}

#[test]
fn a_field_others_changed_too_is_left_alone_and_named() {
    let (target, live, mut log) = scenario();
    log.events.insert(
        0,
        event(8, 1, "human", "issue_type_changed", Some("Task"), 8),
    );
    let o = opts(&["bot"], None);
    let p = narrow(plan(&target, &live, &o, "snap"), &live, &o, &log);
    assert!(!p
        .ops
        .iter()
        .any(|o| matches!(o.op, Operation::UpdateIssue { number: 1, .. })));
    let mixed = p
        .left_alone
        .iter()
        .find(|l| l.what == "#1 issue type")
        .unwrap();
    assert!(mixed.reason.contains("@human"), "{mixed:?}");
}
