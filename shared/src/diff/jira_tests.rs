//! The diff engine and its renderers over Jira records: Jira's schema through the same
//! engine, with golden files for the three formats.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test, with its location.

use serde_json::{json, Value};

use super::testkit::{at, golden};
use super::*;
use crate::record::{
    Component, JiraComment, JiraIssue, JiraLink, JiraRef, JiraStatus, JiraText, JiraUser,
    RecordSet, Version,
};
use crate::tracker::jira::fields::SCHEMA;

fn named(id: &str, name: &str) -> JiraRef {
    JiraRef {
        id: id.into(),
        name: name.into(),
    }
}

fn user(id: &str, name: &str) -> Option<JiraUser> {
    Some(JiraUser {
        id: id.into(),
        display_name: Some(name.into()),
    })
}

fn adf(paragraphs: &[&str]) -> Option<JiraText> {
    let content: Vec<Value> = paragraphs
        .iter()
        .map(|p| json!({"type": "paragraph", "content": [{"type": "text", "text": p}]}))
        .collect();
    Some(JiraText::Adf(
        json!({"type": "doc", "version": 1, "content": content}),
    ))
}

fn status(id: &str, name: &str) -> JiraStatus {
    JiraStatus {
        id: id.into(),
        name: name.into(),
        category: None,
    }
}

fn issue(id: u64, key: &str, summary: &str) -> JiraIssue {
    JiraIssue {
        id,
        key: key.into(),
        project: "PROJ".into(),
        summary: summary.into(),
        description: None,
        issue_type: named("10001", "Story"),
        subtask: false,
        status: status("1", "To Do"),
        resolution: None,
        priority: Some(named("3", "Medium")),
        assignee: None,
        reporter: user("acc-r", "Rita Reporter"),
        labels: Vec::new(),
        components: Vec::new(),
        fix_versions: Vec::new(),
        due_date: None,
        parent: Some("PROJ-1".into()),
        epic_link: None,
        epic_name: None,
        subtasks: Vec::new(),
        links: Vec::new(),
        story_points: None,
        sprints: Vec::new(),
        comments: 0,
        created_at: at(0),
        updated_at: at(0),
        url: Some(format!("https://acme.atlassian.net/browse/{key}")),
        raw: Value::Null,
    }
}

fn comment(id: u64, issue: u64, author: &str, text: &str) -> JiraComment {
    JiraComment {
        id,
        issue_id: issue,
        body: adf(&[text]).unwrap(),
        author: user(&format!("acc-{author}"), author),
        created_at: at(1),
        updated_at: at(1),
        visibility: None,
        raw: Value::Null,
    }
}

fn component(id: u64, name: &str) -> Component {
    Component {
        id,
        name: name.into(),
        description: None,
        lead: None,
        assignee_type: Some("PROJECT_DEFAULT".into()),
        raw: Value::Null,
    }
}

fn version(id: u64, name: &str, released: bool) -> Version {
    Version {
        id,
        name: name.into(),
        description: None,
        released,
        archived: false,
        start_date: None,
        release_date: None,
        raw: Value::Null,
    }
}

/// An epic before and after a Markdown sync and a busy afternoon: every Jira field at
/// least once, a deleted component folding into its issues, a renamed version.
fn epic_day() -> (RecordSet, RecordSet) {
    let mut a = RecordSet::default();
    for c in [
        component(1, "API"),
        component(2, "UI"),
        component(3, "Billing"),
    ] {
        a.components.insert(c.id, c);
    }
    for v in [version(11, "1.0", false), version(12, "1.1", false)] {
        a.versions.insert(v.id, v);
    }
    let mut story = issue(10002, "PROJ-2", "Checkout retries failed payments");
    story.description = adf(&["Steps:", "1. pay", "2. see error", "Expected: a retry"]);
    story.labels = vec!["payments".into(), "regression".into()];
    story.components = vec![named("1", "API"), named("3", "Billing")];
    story.fix_versions = vec![named("11", "1.0")];
    story.assignee = user("acc-a", "Alice Martin");
    story.story_points = Some(3.0);
    story.sprints = vec!["Sprint 4".into()];
    story.subtasks = vec!["PROJ-5".into()];
    story.links = vec![JiraLink {
        id: "900".into(),
        kind: "Blocks".into(),
        phrase: "blocks".into(),
        outward: true,
        other: "PROJ-3".into(),
    }];
    let mut other = issue(10003, "PROJ-3", "Receipt e-mails");
    other.components = vec![named("3", "Billing")];
    other.epic_link = Some("PROJ-1".into());
    other.parent = None;
    let mut sub = issue(10005, "PROJ-5", "Write the retry tests");
    sub.issue_type = named("10003", "Subtask");
    sub.subtask = true;
    sub.parent = Some("PROJ-2".into());
    let gone = issue(10006, "PROJ-6", "Spike: payment provider B");
    for i in [story, other, sub, gone] {
        a.jira_issues.insert(i.id, i);
    }
    for c in [
        comment(501, 10002, "Bob", "Can reproduce."),
        comment(502, 10002, "Carol", "Old wording"),
        comment(503, 10003, "Dave", "This goes away."),
        comment(504, 10006, "Erin", "Spike notes"),
    ] {
        a.jira_comments.insert(c.id, c);
    }

    let mut b = a.clone();
    b.components.remove(&3); // Billing deleted: Jira strips it from PROJ-2 and PROJ-3.
    b.components.insert(4, component(4, "Search"));
    b.versions.get_mut(&12).unwrap().name = "1.1.0".into();
    b.versions.get_mut(&11).unwrap().released = true;
    let s = b.jira_issues.get_mut(&10002).unwrap();
    s.summary = "Checkout: retry failed payments".into();
    s.description = adf(&["Steps:", "1. pay", "2. see the error", "Expected: a retry"]);
    s.status = status("3", "In Progress");
    s.assignee = user("acc-b", "Bob Jones");
    s.priority = Some(named("2", "High"));
    s.labels = vec!["payments".into(), "synced".into()];
    s.components = vec![named("1", "API"), named("2", "UI")];
    s.fix_versions = vec![named("12", "1.1.0")];
    s.story_points = Some(5.0);
    s.due_date = chrono::NaiveDate::from_ymd_opt(2025, 3, 1);
    s.subtasks = vec!["PROJ-5".into(), "PROJ-7".into()];
    s.links = Vec::new();
    s.updated_at = at(2); // ignored
    let o = b.jira_issues.get_mut(&10003).unwrap();
    o.components = Vec::new();
    o.epic_link = Some("PROJ-9".into());
    b.jira_issues.remove(&10006);
    b.jira_comments.remove(&504);
    let mut new_sub = issue(10007, "PROJ-7", "Handle provider timeouts");
    new_sub.issue_type = named("10003", "Subtask");
    new_sub.subtask = true;
    new_sub.parent = Some("PROJ-2".into());
    b.jira_issues.insert(new_sub.id, new_sub);
    b.jira_comments.get_mut(&502).unwrap().body = adf(&["New wording"]).unwrap();
    b.jira_comments.remove(&503);
    b.jira_comments
        .insert(505, comment(505, 10007, "Bob", "On it."));
    (a, b)
}

fn day_diff() -> Diff {
    let (a, b) = epic_day();
    diff(&SCHEMA, &a, &b, &DiffOptions::default()).with_sides(
        Side::snapshot(
            "jira:PROJ-1",
            "01JHBACKTRACK0000000000000",
            Some("before-sync".into()),
            Some(at(0)),
        ),
        Side::live("jira:PROJ-1"),
    )
}

fn changes<'a>(d: &'a Diff, key: &str, field: &str) -> Vec<&'a Change> {
    d.changes
        .iter()
        .filter(|c| c.key == key && c.field.as_str() == field)
        .collect()
}

#[test]
fn every_jira_field_is_compared_and_definition_changes_fold() {
    let d = day_diff();
    let story = |field: &str| changes(&d, "PROJ-2", field);
    for (field, before, after) in [
        (
            "summary",
            json!("Checkout retries failed payments"),
            json!("Checkout: retry failed payments"),
        ),
        ("status", json!("To Do"), json!("In Progress")),
        ("assignee", json!("Alice Martin"), json!("Bob Jones")),
        ("priority", json!("Medium"), json!("High")),
        ("story_points", json!(3), json!(5)),
        ("due_date", Value::Null, json!("2025-03-01")),
    ] {
        let c = story(field);
        assert_eq!(c.len(), 1, "{field}: {c:?}");
        assert_eq!((&c[0].before, &c[0].after), (&before, &after), "{field}");
        assert_eq!(c[0].issue, Some(10002));
        assert_eq!(c[0].issue_key.as_deref(), Some("PROJ-2"));
    }
    let description = story("description");
    assert_eq!(description[0].hunks.len(), 1);
    assert!(description[0].hunks[0]
        .lines
        .contains(&"+2. see the error".to_string()));
    let ops = |field: &str| -> Vec<(Op, Value)> {
        story(field)
            .iter()
            .map(|c| {
                (
                    c.op,
                    if c.op == Op::Added {
                        c.after.clone()
                    } else {
                        c.before.clone()
                    },
                )
            })
            .collect()
    };
    assert_eq!(
        ops("labels"),
        [
            (Op::Removed, json!("regression")),
            (Op::Added, json!("synced"))
        ]
    );
    // Billing left PROJ-2 because it was deleted: folded into the component's removal.
    assert_eq!(ops("components"), [(Op::Added, json!("UI"))]);
    // The issue moved from 1.0 to the version renamed 1.1.0: two set changes (only a
    // rename or deletion of the version the issue had folds).
    assert_eq!(
        ops("fix_versions"),
        [(Op::Removed, json!("1.0")), (Op::Added, json!("1.1.0"))]
    );
    assert_eq!(ops("subtasks"), [(Op::Added, json!("PROJ-7"))]);
    assert_eq!(ops("links"), [(Op::Removed, json!("blocks PROJ-3"))]);
    let billing = d
        .changes
        .iter()
        .find(|c| c.kind == ChangeKind::Component && c.op == Op::Removed)
        .unwrap();
    assert_eq!(billing.key, "Billing");
    assert_eq!(billing.issues, [10002, 10003]);
    assert_eq!(billing.issue_keys, ["PROJ-2", "PROJ-3"]);
    assert!(changes(&d, "PROJ-3", "components").is_empty());
    let moved = changes(&d, "PROJ-3", "epic_link");
    assert_eq!(
        (&moved[0].before, &moved[0].after),
        (&json!("PROJ-1"), &json!("PROJ-9"))
    );
    assert!(d
        .changes
        .iter()
        .any(|c| c.key == "1.1" && c.field == Field::Name));
    assert!(d
        .changes
        .iter()
        .any(|c| c.key == "1.0" && c.field == Field::Released));
    // Whole issues added and removed, by key; their comments with them.
    let added: Vec<&str> = d
        .issues
        .iter()
        .filter(|i| i.op == Op::Added)
        .map(|i| i.key.as_deref().unwrap())
        .collect();
    let removed: Vec<&str> = d
        .issues
        .iter()
        .filter(|i| i.op == Op::Removed)
        .map(|i| i.key.as_deref().unwrap())
        .collect();
    assert_eq!((added, removed), (vec!["PROJ-7"], vec!["PROJ-6"]));
    let s = &d.summary;
    assert_eq!(
        (s.issues_changed, s.issues_added, s.issues_removed),
        (2, 1, 1)
    );
    assert_eq!(
        (s.comments_added, s.comments_edited, s.comments_deleted),
        (1, 1, 2)
    );
    let components = s.definition(ChangeKind::Component);
    assert_eq!(
        (components.added, components.changed, components.removed),
        (1, 0, 1)
    );
    let versions = s.definition(ChangeKind::Version);
    assert_eq!(
        (versions.added, versions.changed, versions.removed),
        (0, 2, 0)
    );
    // GitHub's definition kinds are not a Jira diff's.
    assert_eq!(s.definition(ChangeKind::Label).added, 0);
    let v: Value = serde_json::from_str(&render_json(&d).unwrap()).unwrap();
    assert!(v["summary"].get("labels_added").is_none());
    assert_eq!(v["summary"]["components_removed"], 1);
}

#[test]
fn unchanged_jira_records_make_no_changes() {
    let (a, _) = epic_day();
    let d = diff(&SCHEMA, &a, &a.clone(), &DiffOptions::default());
    assert!(d.is_empty());
    // A change nobody can see in the rendering (an ADF attribute) is not a change.
    let mut b = a.clone();
    let s = b.jira_issues.get_mut(&10002).unwrap();
    if let Some(JiraText::Adf(doc)) = &mut s.description {
        doc["content"][0]["attrs"] = json!({"localId": "abc"});
    }
    assert!(diff(&SCHEMA, &a, &b, &DiffOptions::default()).is_empty());
}

#[test]
fn golden_jira_text_markdown_and_json() {
    let d = day_diff();
    golden(
        "jira_epic.txt",
        include_str!("golden/jira_epic.txt"),
        &render_text(&d, &TextOptions::default()),
    );
    golden(
        "jira_epic.md",
        include_str!("golden/jira_epic.md"),
        &render_markdown(&d, &MarkdownOptions::default()),
    );
    golden(
        "jira_epic.json",
        include_str!("golden/jira_epic.json"),
        &(render_json(&d).unwrap() + "\n"),
    );
    // Read back from its JSON, the diff renders the same (the scope names the tracker).
    let back: Diff = serde_json::from_str(&render_json(&d).unwrap()).unwrap();
    assert_eq!(
        render_text(&back, &TextOptions::default()),
        render_text(&d, &TextOptions::default())
    );
}
