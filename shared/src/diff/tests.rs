//! Tests of the diff engine and its renderers over hand-built record sets.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test, with its location.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::testkit::{at, golden, milestone_ref, names, Builder};
use super::*;
use crate::record::{RecordSet, State};
use crate::tracker::github::fields::SCHEMA as GH_SCHEMA;

/// A repository before and after a busy day: every kind of change at least once.
fn kitchen_sink() -> (RecordSet, RecordSet) {
    let mut b = Builder::new();
    b.label(1, "bug", "d73a4a").description = Some("Something isn't working".into());
    b.label(2, "enhancement", "a2eeef").description = Some("New feature or request".into());
    b.label(3, "triage", "ededed");
    b.label(4, "wontfix", "ffffff");
    let m = b.milestone(1, "v1.0");
    m.due_on = Some(at(40));
    m.description = Some("First stable release".into());
    b.milestone(2, "v0.9").state = State::Closed;
    b.milestone(3, "v2.0");

    let i = b.issue(1, "Crash on login");
    i.labels = names(&["bug"]);
    i.milestone = milestone_ref(2, "v0.9");
    let i = b.issue(2, "Add dark mode");
    i.labels = names(&["enhancement"]);
    i.assignees = names(&["alice"]);
    b.issue(3, "Docs typo").labels = names(&["enhancement", "triage"]);
    let i = b.issue(4, "Old bug");
    i.labels = names(&["bug"]);
    i.state = State::Closed;
    i.state_reason = Some("completed".into());
    b.issue(5, "Spam issue").body = Some("buy things\nnow".into());
    let i = b.issue(7, "Refactor auth");
    i.pull_request = true;
    i.html_url = Some("https://github.com/acme/widgets/pull/7".into());
    let body: String = (1..=12).map(|n| format!("Step {n}.\n")).collect();
    let i = b.issue(12, "Fix login crsh");
    i.body = Some(body.clone());
    i.labels = names(&["triage"]);
    i.assignees = names(&["alice"]);
    i.milestone = milestone_ref(1, "v1.0");
    b.comment(101, 12, "bob", "Can reproduce.");
    b.comment(102, 12, "carol", "Old text\nline 2");
    b.comment(103, 1, "dave", "This will be deleted.");
    b.comment(104, 5, "spammer", "more spam");
    b.comment(105, 7, "erin", "LGTM");
    let from = b.build();

    // The day's events.
    b.set.labels.remove(&1); // "bug" deleted: GitHub removes it from #1 and #4 too.
    for n in [1, 4] {
        b.set.issues.get_mut(&n).unwrap().labels.clear();
    }
    let l = b.set.labels.get_mut(&2).unwrap(); // "enhancement" renamed and recoloured.
    l.name = "feature".into();
    l.color = "00ff00".into();
    for n in [2, 3] {
        let i = b.set.issues.get_mut(&n).unwrap();
        i.labels = i
            .labels
            .iter()
            .map(|l| l.replace("enhancement", "feature"))
            .collect();
        i.labels.sort();
    }
    b.set.labels.get_mut(&3).unwrap().description = Some("Needs a first look".into());
    b.set.labels.remove(&4); // "wontfix" deleted and recreated: same label, new id.
    b.label(9, "wontfix", "000000");
    b.label(10, "good first issue", "7057ff");

    b.set.milestones.remove(&2); // "v0.9" deleted: #1 loses it.
    b.set.issues.get_mut(&1).unwrap().milestone = None;
    let m = b.set.milestones.get_mut(&1).unwrap();
    m.state = State::Closed;
    m.due_on = Some(at(47));
    m.description = Some("First stable release, at last".into());
    b.set.milestones.get_mut(&3).unwrap().title = "2.0".into();
    b.milestone(4, "v3.0").description = Some("Later".into());

    let i = b.set.issues.get_mut(&12).unwrap();
    i.title = "Fix login crash".into();
    i.state = State::Closed;
    i.state_reason = Some("completed".into());
    i.body = Some(body.replace("Step 6.", "Step 6, carefully."));
    i.labels = names(&["good first issue"]);
    i.assignees = names(&["bob"]);
    i.milestone = milestone_ref(3, "2.0");
    i.locked = true;
    i.updated_at = at(2); // ignored
    i.comments = 7; // ignored
    b.set.comments.get_mut(&102).unwrap().body = "New text\nline 2".into();
    b.set.comments.remove(&103);
    b.set.issues.remove(&5);
    b.set.comments.remove(&104);
    b.set.issues.get_mut(&7).unwrap().title = "Refactor auth module".into();
    let i = b.issue(13, "Dark mode flickers");
    i.body = Some("Seen on Safari.".into());
    i.labels = names(&["feature"]);
    b.comment(106, 13, "erin", "Same here.");
    (from, b.build())
}

fn sides() -> (Side, Side) {
    (
        Side::snapshot(
            "github:acme/widgets",
            "01JHBACKTRACK0000000000000",
            Some("nightly".into()),
            Some(at(0)),
        ),
        Side::live("github:acme/widgets"),
    )
}

fn sink_diff() -> Diff {
    let (from, to) = kitchen_sink();
    let (a, b) = sides();
    diff(&GH_SCHEMA, &from, &to, &DiffOptions::default()).with_sides(a, b)
}

fn find<'a>(d: &'a Diff, kind: ChangeKind, key: &str, field: Field) -> Vec<&'a Change> {
    d.changes
        .iter()
        .filter(|c| c.kind == kind && c.key == key && c.field == field)
        .collect()
}

fn one<'a>(d: &'a Diff, kind: ChangeKind, key: &str, field: Field) -> &'a Change {
    let found = find(d, kind, key, field);
    assert_eq!(found.len(), 1, "{kind:?} {key} {field:?}: {found:#?}");
    found[0]
}

fn md_opts() -> MarkdownOptions {
    MarkdownOptions {
        issue_url_base: Some("https://github.com/acme/widgets/issues/".into()),
        ..MarkdownOptions::default()
    }
}

#[test]
fn kitchen_sink_changes_are_field_level_and_folded() {
    let d = sink_diff();
    use ChangeKind::*;

    let bug = one(&d, Label, "bug", Field::Record);
    assert_eq!((bug.op, &bug.issues), (Op::Removed, &vec![1, 4]));
    assert_eq!(bug.before["color"], "d73a4a");
    let rename = one(&d, Label, "enhancement", Field::Name);
    assert_eq!(
        (&rename.before, &rename.after),
        (&json!("enhancement"), &json!("feature"))
    );
    assert_eq!(rename.issues, vec![2, 3]);
    assert_eq!(one(&d, Label, "enhancement", Field::Color).after, "00ff00");
    assert_eq!(
        one(&d, Label, "triage", Field::Description).after,
        "Needs a first look"
    );
    // Recreated under a new id: matched by name, only the colour differs.
    assert_eq!(find(&d, Label, "wontfix", Field::Record).len(), 0);
    assert_eq!(one(&d, Label, "wontfix", Field::Color).after, "000000");
    assert_eq!(
        one(&d, Label, "good first issue", Field::Record).op,
        Op::Added
    );

    let v09 = one(&d, Milestone, "v0.9", Field::Record);
    assert_eq!((v09.op, &v09.issues), (Op::Removed, &vec![1]));
    assert_eq!(one(&d, Milestone, "v1.0", Field::State).after, "closed");
    let due = one(&d, Milestone, "v1.0", Field::DueOn);
    assert_eq!(
        (&due.before, &due.after),
        (&json!("2025-02-22"), &json!("2025-03-01"))
    );
    let renamed = one(&d, Milestone, "v2.0", Field::Title);
    assert_eq!(renamed.after, "2.0");
    assert_eq!(one(&d, Milestone, "v3.0", Field::Record).op, Op::Added);

    // Folded: #1, #2, #3, #4 have no label or milestone change of their own, so #2, #3 and #4
    // are not reported at all and #1 only for its deleted comment.
    let numbers: Vec<u64> = d.issues.iter().map(|e| e.number).collect();
    assert_eq!(numbers, vec![1, 5, 7, 12, 13]);
    assert!(d
        .changes
        .iter()
        .all(|c| c.issue != Some(1) || c.kind == Comment));

    assert_eq!(one(&d, Issue, "12", Field::Title).after, "Fix login crash");
    assert_eq!(one(&d, Issue, "12", Field::State).after, "closed");
    assert_eq!(one(&d, Issue, "12", Field::StateReason).after, "completed");
    let body = one(&d, Issue, "12", Field::Body);
    assert_eq!(body.hunks.len(), 1);
    assert!(body.hunks[0].lines.contains(&"-Step 6.".to_string()));
    assert!(body.hunks[0]
        .lines
        .contains(&"+Step 6, carefully.".to_string()));
    assert_eq!(body.hunks[0].lines.len(), 8, "3 lines of context each side");
    let labels: Vec<(Op, &Value, &Value)> = find(&d, Issue, "12", Field::Labels)
        .iter()
        .map(|c| (c.op, &c.before, &c.after))
        .collect();
    assert_eq!(
        labels,
        vec![
            (Op::Removed, &json!("triage"), &Value::Null),
            (Op::Added, &Value::Null, &json!("good first issue"))
        ]
    );
    assert_eq!(find(&d, Issue, "12", Field::Assignees).len(), 2);
    // The milestone was renamed *and* the issue moved to another one: a real change.
    let ms = one(&d, Issue, "12", Field::Milestone);
    assert_eq!((&ms.before, &ms.after), (&json!("v1.0"), &json!("2.0")));
    assert_eq!(one(&d, Issue, "12", Field::Locked).after, true);
    assert_eq!(one(&d, Issue, "5", Field::Record).op, Op::Removed);
    assert_eq!(
        one(&d, Issue, "13", Field::Record).after["labels"],
        json!(["feature"])
    );
    let pr = one(&d, Issue, "7", Field::Title);
    assert!(pr.pull_request);

    assert_eq!(one(&d, Comment, "102", Field::Body).issue, Some(12));
    assert_eq!(one(&d, Comment, "103", Field::Record).op, Op::Removed);
    assert_eq!(one(&d, Comment, "104", Field::Record).op, Op::Removed);
    assert_eq!(
        one(&d, Comment, "106", Field::Record).after["author"],
        "erin"
    );
    assert!(find(&d, Comment, "101", Field::Body).is_empty());
    assert!(find(&d, Comment, "105", Field::Body).is_empty());
}

#[test]
fn kitchen_sink_summary_counts() {
    let d = sink_diff();
    assert_eq!(
        d.summary,
        Summary {
            issues_changed: 3,
            issues_added: 1,
            issues_removed: 1,
            comments_added: 1,
            comments_edited: 1,
            comments_deleted: 2,
            definitions: DefinitionCounts(vec![
                DefinitionCount {
                    kind: ChangeKind::Label,
                    added: 1,
                    changed: 3,
                    removed: 1,
                },
                DefinitionCount {
                    kind: ChangeKind::Milestone,
                    added: 1,
                    changed: 2,
                    removed: 1,
                },
            ]),
            total: d.changes.len(),
        }
    );
    // Read back from its JSON, the summary is the same.
    let back: Summary = serde_json::from_str(&serde_json::to_string(&d.summary).unwrap()).unwrap();
    assert_eq!(back, d.summary);
}

#[test]
fn order_is_definitions_then_issues_by_number_then_fields_then_comments() {
    let d = sink_diff();
    let kinds: Vec<ChangeKind> = d.changes.iter().map(|c| c.kind).collect();
    let first_ms = kinds
        .iter()
        .position(|k| *k == ChangeKind::Milestone)
        .unwrap();
    let first_issue = kinds
        .iter()
        .position(|k| matches!(k, ChangeKind::Issue | ChangeKind::Comment))
        .unwrap();
    assert!(kinds[..first_ms].iter().all(|k| *k == ChangeKind::Label));
    assert!(kinds[first_ms..first_issue]
        .iter()
        .all(|k| *k == ChangeKind::Milestone));
    let label_keys: Vec<&str> = d.label_changes().iter().map(|c| c.key.as_str()).collect();
    assert_eq!(
        label_keys,
        [
            "bug",
            "enhancement",
            "enhancement",
            "good first issue",
            "triage",
            "wontfix"
        ]
    );
    let fields: Vec<&str> = d
        .changes
        .iter()
        .filter(|c| c.issue == Some(12))
        .map(|c| c.field.as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "title",
            "state",
            "state_reason",
            "body",
            "labels",
            "labels",
            "assignees",
            "assignees",
            "milestone",
            "locked",
            "body"
        ]
    );
    let groups = d.issue_groups();
    assert_eq!(groups.len(), d.issues.len());
    let grouped: usize = groups.iter().map(|g| g.changes.len()).sum();
    assert_eq!(
        grouped + d.label_changes().len() + d.milestone_changes().len(),
        d.changes.len()
    );
}

#[test]
fn golden_text_plain_and_colour() {
    let d = sink_diff();
    golden(
        "kitchen_sink.txt",
        include_str!("golden/kitchen_sink.txt"),
        &render_text(&d, &TextOptions::default()),
    );
    let colour = TextOptions {
        color: true,
        ..TextOptions::default()
    };
    golden(
        "kitchen_sink.color.txt",
        include_str!("golden/kitchen_sink.color.txt"),
        &render_text(&d, &colour),
    );
}

#[test]
fn golden_markdown() {
    golden(
        "kitchen_sink.md",
        include_str!("golden/kitchen_sink.md"),
        &render_markdown(&sink_diff(), &md_opts()),
    );
}

#[test]
fn golden_json() {
    golden(
        "kitchen_sink.json",
        include_str!("golden/kitchen_sink.json"),
        &(render_json(&sink_diff()).unwrap() + "\n"),
    );
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn json_follows_the_documented_schema() {
    let d = sink_diff();
    let v: Value = serde_json::from_str(&render_json(&d).unwrap()).unwrap();
    let schema = include_str!("SCHEMA.md");

    assert_eq!(
        keys(&v),
        BTreeSet::from([
            "schema_version",
            "from",
            "to",
            "summary",
            "changes",
            "issues"
        ])
    );
    assert_eq!(v["schema_version"], SCHEMA_VERSION);
    for side in [&v["from"], &v["to"]] {
        assert_eq!(
            keys(side),
            BTreeSet::from(["kind", "id", "name", "created_at", "scope", "reference"])
        );
    }
    assert_eq!(v["from"]["kind"], "snapshot");
    assert_eq!(v["from"]["created_at"], "2025-01-13T15:00:00Z");
    assert_eq!(v["to"]["kind"], "live");
    assert_eq!(v["to"]["id"], Value::Null);
    let summary = keys(&v["summary"]);
    assert_eq!(
        summary,
        BTreeSet::from([
            "issues_changed",
            "issues_added",
            "issues_removed",
            "comments_added",
            "comments_edited",
            "comments_deleted",
            "labels_added",
            "labels_changed",
            "labels_removed",
            "milestones_added",
            "milestones_changed",
            "milestones_removed",
            "total"
        ])
    );
    for k in &summary {
        assert!(schema.contains(k), "SCHEMA.md does not mention summary.{k}");
    }

    let required = BTreeSet::from(["kind", "key", "field", "op", "before", "after", "issue"]);
    let optional = BTreeSet::from(["issues", "hunks", "pull_request"]);
    let fields_of = |kind: &str| -> BTreeSet<&str> {
        match kind {
            "label" => ["name", "color", "description", "*"].into(),
            "milestone" => ["title", "state", "due_on", "description", "*"].into(),
            "issue" => [
                "title",
                "state",
                "state_reason",
                "body",
                "labels",
                "assignees",
                "milestone",
                "locked",
                "*",
            ]
            .into(),
            "comment" => ["body", "*"].into(),
            other => panic!("undocumented kind {other}"),
        }
    };
    let mut seen_fields = BTreeSet::new();
    for c in v["changes"].as_array().unwrap() {
        let k = keys(c);
        assert!(required.is_subset(&k), "{c}");
        assert!(k.difference(&required).all(|x| optional.contains(x)), "{c}");
        let kind = c["kind"].as_str().unwrap();
        let field = c["field"].as_str().unwrap();
        assert!(fields_of(kind).contains(field), "{kind}.{field}");
        seen_fields.insert((kind.to_string(), field.to_string()));
        assert!(["changed", "added", "removed"].contains(&c["op"].as_str().unwrap()));
        assert!(c["key"].is_string());
        match kind {
            "issue" | "comment" => assert!(c["issue"].is_u64()),
            _ => assert!(c["issue"].is_null()),
        }
        if let Some(p) = c.get("pull_request") {
            assert_eq!(p, true);
        }
        if let Some(hunks) = c.get("hunks") {
            assert_eq!(field, "body");
            for h in hunks.as_array().unwrap() {
                assert_eq!(
                    keys(h),
                    BTreeSet::from(["old_start", "old_lines", "new_start", "new_lines", "lines"])
                );
            }
        }
        for key in k.iter().chain(keys(&json!({ "x": 1 })).iter().take(0)) {
            assert!(
                schema.contains(&format!("`{key}`")),
                "SCHEMA.md lacks `{key}`"
            );
        }
    }
    // The fixture exercises every documented (kind, field) pair.
    let documented: usize = ["label", "milestone", "issue", "comment"]
        .iter()
        .map(|k| fields_of(k).len())
        .sum();
    assert_eq!(seen_fields.len(), documented, "{seen_fields:?}");
    for e in v["issues"].as_array().unwrap() {
        assert_eq!(
            keys(e),
            BTreeSet::from(["number", "title", "url", "pull_request", "op"])
        );
    }
}

#[test]
fn empty_diff_in_every_renderer() {
    let (from, _) = kitchen_sink();
    let d = diff(&GH_SCHEMA, &from, &from.clone(), &DiffOptions::default());
    assert!(d.is_empty());
    assert_eq!(
        d.summary,
        Summary {
            // The tracker's definition kinds are counted even when nothing changed.
            definitions: DefinitionCounts(vec![
                DefinitionCount::new(ChangeKind::Label),
                DefinitionCount::new(ChangeKind::Milestone)
            ]),
            ..Summary::default()
        }
    );
    let text = render_text(&d, &TextOptions::default());
    assert!(text.ends_with("No changes.\n"), "{text}");
    assert!(render_markdown(&d, &md_opts()).contains("No changes."));
    let v: Value = serde_json::from_str(&render_json(&d).unwrap()).unwrap();
    assert_eq!(v["changes"], json!([]));
    assert_eq!(v["summary"]["total"], 0);
    assert_eq!(d.to_string(), text);
}

/// One small scenario per change kind: what each renderer must show for it.
struct Case {
    name: &'static str,
    edit: fn(&mut Builder),
    json: (&'static str, &'static str, &'static str),
    text: &'static [&'static str],
    markdown: &'static [&'static str],
}

fn base() -> Builder {
    let mut b = Builder::new();
    b.label(1, "bug", "d73a4a");
    b.label(2, "docs", "0075ca");
    b.milestone(1, "v1");
    let i = b.issue(12, "Fix login crash");
    i.body = Some("one\ntwo\nthree".into());
    i.labels = names(&["bug"]);
    i.assignees = names(&["alice"]);
    i.milestone = milestone_ref(1, "v1");
    b.issue(13, "Other").milestone = milestone_ref(1, "v1");
    b.comment(500, 12, "bob", "hello");
    b
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "title",
            edit: |b| b.set.issues.get_mut(&12).unwrap().title = "Fix the login crash".into(),
            json: ("issue", "title", "changed"),
            text: &["┌─ Title", "│ - Fix login crash", "│ + Fix the login crash"],
            markdown: &["— title</summary>", "-Fix login crash\n+Fix the login crash"],
        },
        Case {
            name: "body",
            edit: |b| b.set.issues.get_mut(&12).unwrap().body = Some("one\n2\nthree".into()),
            json: ("issue", "body", "changed"),
            text: &["┌─ Description", "│ @@ -1,3 +1,3 @@", "│   one", "│ - two", "│ + 2"],
            markdown: &["**Description**", "@@ -1,3 +1,3 @@\n one\n-two\n+2\n three"],
        },
        Case {
            name: "state and reason",
            edit: |b| {
                let i = b.set.issues.get_mut(&12).unwrap();
                i.state = State::Closed;
                i.state_reason = Some("not_planned".into());
            },
            json: ("issue", "state_reason", "changed"),
            text: &["┌─ Status", "│ - open", "│ + closed (not planned)"],
            markdown: &["— status</summary>", "-open\n+closed (not planned)"],
        },
        Case {
            name: "labels",
            edit: |b| b.set.issues.get_mut(&12).unwrap().labels = names(&["docs"]),
            json: ("issue", "labels", "added"),
            text: &["┌─ Labels", "│ - bug", "│ + docs"],
            markdown: &["— labels</summary>", "-bug\n+docs"],
        },
        Case {
            name: "assignees",
            edit: |b| b.set.issues.get_mut(&12).unwrap().assignees = names(&["alice", "bob"]),
            json: ("issue", "assignees", "added"),
            text: &["┌─ Assignees", "│ + @bob"],
            markdown: &["— assignees</summary>", "+@bob"],
        },
        Case {
            name: "milestone",
            edit: |b| b.set.issues.get_mut(&12).unwrap().milestone = None,
            json: ("issue", "milestone", "changed"),
            text: &["┌─ Milestone", "│ - v1", "│ + (none)"],
            markdown: &["— milestone</summary>", "-v1\n+(none)"],
        },
        Case {
            name: "locked",
            edit: |b| b.set.issues.get_mut(&12).unwrap().locked = true,
            json: ("issue", "locked", "changed"),
            text: &["┌─ Lock", "│ - unlocked", "│ + locked"],
            markdown: &["— lock</summary>", "-unlocked\n+locked"],
        },
        Case {
            name: "comment added",
            edit: |b| {
                b.comment(501, 12, "carol", "me too");
            },
            json: ("comment", "*", "added"),
            text: &["┌─ Comment 501 by @carol added", "│ + me too"],
            markdown: &["— 1 comment added</summary>", "Comment 501 by `@carol`, added", "+me too"],
        },
        Case {
            name: "comment edited",
            edit: |b| b.set.comments.get_mut(&500).unwrap().body = "hello there".into(),
            json: ("comment", "body", "changed"),
            text: &["┌─ Comment 500 edited", "│ - hello", "│ + hello there"],
            markdown: &["— 1 comment edited</summary>", "-hello\n+hello there"],
        },
        Case {
            name: "comment deleted",
            edit: |b| {
                b.set.comments.remove(&500);
            },
            json: ("comment", "*", "removed"),
            text: &["┌─ Comment 500 by @bob deleted", "│ - hello"],
            markdown: &["— 1 comment deleted</summary>", "-hello"],
        },
        Case {
            name: "issue added",
            edit: |b| {
                b.issue(14, "Brand new").body = Some("details".into());
            },
            json: ("issue", "*", "added"),
            text: &["#14 Brand new  [added]", "┌─ Issue added", "│ + title: Brand new", "│ + details"],
            markdown: &["#14</a> Brand new — added</summary>", "+title: Brand new", "+details"],
        },
        Case {
            name: "issue removed",
            edit: |b| {
                b.set.issues.remove(&13);
            },
            json: ("issue", "*", "removed"),
            text: &["#13 Other  [removed]", "│ - title: Other", "│ - milestone: v1"],
            markdown: &["#13</a> Other — removed</summary>", "-title: Other"],
        },
        Case {
            name: "pull request",
            edit: |b| {
                let i = b.issue(20, "Bump deps");
                i.pull_request = true;
            },
            json: ("issue", "*", "added"),
            text: &["#20 Bump deps  [pull request]  [added]"],
            markdown: &["#20</a> Bump deps (pull request) — added"],
        },
        Case {
            name: "label added",
            edit: |b| {
                b.label(3, "perf", "aaaaaa").description = Some("Speed".into());
            },
            json: ("label", "*", "added"),
            text: &["┌─ Label \"perf\" added", "│ + perf  #aaaaaa  Speed"],
            markdown: &["### Labels", "- **perf** added (`#aaaaaa`, “Speed”)"],
        },
        Case {
            name: "label renamed",
            edit: |b| {
                b.set.labels.get_mut(&1).unwrap().name = "defect".into();
                b.set.issues.get_mut(&12).unwrap().labels = names(&["defect"]);
            },
            json: ("label", "name", "changed"),
            text: &[
                "┌─ Label \"bug\" renamed to \"defect\"",
                "│ - name: bug",
                "│ + name: defect",
                "│   renamed on 1 issue: #12",
            ],
            markdown: &["- **bug** renamed to **defect**; renamed on 1 issue: #12"],
        },
        Case {
            name: "label colour and description",
            edit: |b| {
                let l = b.set.labels.get_mut(&2).unwrap();
                l.color = "111111".into();
                l.description = Some("Documentation".into());
            },
            json: ("label", "color", "changed"),
            text: &["│ - color: #0075ca", "│ + color: #111111", "│ + description: Documentation"],
            markdown: &["- **docs** color `#0075ca` → `#111111`; description (none) → “Documentation”"],
        },
        Case {
            name: "label removed",
            edit: |b| {
                b.set.labels.remove(&1);
                b.set.issues.get_mut(&12).unwrap().labels.clear();
            },
            json: ("label", "*", "removed"),
            text: &["┌─ Label \"bug\" removed", "│ - bug  #d73a4a", "│   removed from 1 issue: #12"],
            markdown: &["- **bug** removed (was `#d73a4a`); removed from 1 issue: #12"],
        },
        Case {
            name: "milestone added",
            edit: |b| {
                b.milestone(2, "v2").due_on = Some(at(30));
            },
            json: ("milestone", "*", "added"),
            text: &["┌─ Milestone \"v2\" added", "│ + v2  open, due 2025-02-12"],
            markdown: &["### Milestones", "- **v2** added (open, due 2025-02-12)"],
        },
        Case {
            name: "milestone changed",
            edit: |b| {
                let m = b.set.milestones.get_mut(&1).unwrap();
                m.title = "v1.0".into();
                m.state = State::Closed;
                for n in [12, 13] {
                    b.set.issues.get_mut(&n).unwrap().milestone = milestone_ref(1, "v1.0");
                }
            },
            json: ("milestone", "title", "changed"),
            text: &[
                "┌─ Milestone \"v1\" renamed to \"v1.0\"",
                "│ - title: v1",
                "│ + state: closed",
                "│   renamed on 2 issues: #12, #13",
            ],
            markdown: &["- **v1** renamed to **v1.0**; state “open” → “closed”; renamed on 2 issues: #12, #13"],
        },
        Case {
            name: "milestone removed",
            edit: |b| {
                b.set.milestones.remove(&1);
                for n in [12, 13] {
                    b.set.issues.get_mut(&n).unwrap().milestone = None;
                }
            },
            json: ("milestone", "*", "removed"),
            text: &["┌─ Milestone \"v1\" removed", "│ - v1  open", "│   removed from 2 issues: #12, #13"],
            markdown: &["- **v1** removed (was open); removed from 2 issues: #12, #13"],
        },
    ]
}

#[test]
fn every_change_kind_in_every_renderer() {
    for case in cases() {
        let from = base();
        let mut to = base();
        (case.edit)(&mut to);
        let d = diff(
            &GH_SCHEMA,
            &from.build(),
            &to.build(),
            &DiffOptions::default(),
        );
        let (kind, field, op) = case.json;
        let v: Value = serde_json::from_str(&render_json(&d).unwrap()).unwrap();
        assert!(
            v["changes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["kind"] == kind && c["field"] == field && c["op"] == op),
            "{}: no {kind}.{field} {op} in {v:#}",
            case.name
        );
        let text = render_text(&d, &TextOptions::default());
        for want in case.text {
            assert!(
                text.contains(want),
                "{}: text lacks {want:?}:\n{text}",
                case.name
            );
        }
        let md = render_markdown(&d, &md_opts());
        for want in case.markdown {
            assert!(
                md.contains(want),
                "{}: markdown lacks {want:?}:\n{md}",
                case.name
            );
        }
        // Folded label and milestone changes leave no per-issue trace.
        if case.name.ends_with("removed") && kind != "issue" || case.name.ends_with("renamed") {
            assert!(d.issues.is_empty(), "{}: {:?}", case.name, d.issues);
        }
    }
}

#[test]
fn colour_only_when_asked() {
    let d = sink_diff();
    assert!(!render_text(&d, &TextOptions::default()).contains('\u{1b}'));
    let coloured = render_text(
        &d,
        &TextOptions {
            color: true,
            ..TextOptions::default()
        },
    );
    assert!(coloured.contains("\u{1b}[31m- Fix login crsh\u{1b}[0m"));
    assert!(coloured.contains("\u{1b}[32m+ Fix login crash\u{1b}[0m"));
}

#[test]
fn terminal_control_characters_are_neutralized() {
    let from = base();
    let mut to = base();
    to.set.issues.get_mut(&12).unwrap().title = "evil \u{1b}[2J title\u{7}".into();
    let d = diff(
        &GH_SCHEMA,
        &from.build(),
        &to.build(),
        &DiffOptions::default(),
    );
    let text = render_text(
        &d,
        &TextOptions {
            color: true,
            ..TextOptions::default()
        },
    );
    assert!(!text.contains("\u{1b}[2J"));
    assert!(text.contains("evil ␛[2J title␇"));
}

#[test]
fn markdown_escapes_titles_and_fences_bodies() {
    let from = base();
    let mut to = base();
    let i = to.set.issues.get_mut(&12).unwrap();
    i.title = "<script>alert(1)</script> **bold** @everyone [x](y)".into();
    i.body = Some("one\n```\nrm -rf /\n```\nthree".into());
    let md = render_markdown(
        &diff(
            &GH_SCHEMA,
            &from.build(),
            &to.build(),
            &DiffOptions::default(),
        ),
        &md_opts(),
    );
    let summary = md.lines().find(|l| l.starts_with("<details>")).unwrap();
    assert!(!summary.contains("<script>"));
    assert!(!summary.contains("**bold**"));
    assert!(!summary.contains("@everyone"));
    assert!(summary
        .contains("&lt;script&gt;alert(1)&lt;/script&gt; &#42;&#42;bold&#42;&#42; &#64;everyone"));
    // The body holds a ``` line (shown as " ```" context, which would close a 3-tick fence).
    assert!(md.contains("````diff\n"), "{md}");
    assert!(md.contains("\n+```\n"));
    assert!(md.contains("\n````\n"));
}

#[test]
fn markdown_links_from_html_url_or_base() {
    let from = base();
    let mut to = base();
    to.set.issues.get_mut(&12).unwrap().title = "x".into();
    to.set.issues.get_mut(&12).unwrap().html_url = None;
    to.set.issues.get_mut(&13).unwrap().title = "y".into();
    let d = diff(
        &GH_SCHEMA,
        &from.build(),
        &to.build(),
        &DiffOptions::default(),
    );
    let md = render_markdown(&d, &md_opts());
    assert!(md.contains("<a href=\"https://github.com/acme/widgets/issues/12\">#12</a> x"));
    assert!(md.contains("<a href=\"https://github.com/acme/widgets/issues/13\">#13</a> y"));
    let md = render_markdown(&d, &MarkdownOptions::default());
    assert!(md.contains("<summary>#12 x — title</summary>"), "{md}");
}

fn many_changed(n: u64) -> (RecordSet, RecordSet) {
    let mut a = Builder::new();
    let mut b = Builder::new();
    for i in 1..=n {
        let body: String = (0..8).map(|l| format!("Line {l} of issue {i}\n")).collect();
        a.issue(i, &format!("Issue number {i}")).body = Some(body.clone());
        let x = b.issue(i, &format!("Issue number {i}, renamed"));
        x.body = Some(body.replace("Line 4", "LINE FOUR"));
    }
    (a.build(), b.build())
}

#[test]
fn markdown_is_capped_whole_blocks_only() {
    let (from, to) = many_changed(500);
    let (f, t) = sides();
    let d = diff(&GH_SCHEMA, &from, &to, &DiffOptions::default()).with_sides(f, t);
    let opts = MarkdownOptions {
        full_diff_command: Some(
            "backtrack diff github:acme/widgets --from nightly --format text".into(),
        ),
        ..md_opts()
    };
    let md = render_markdown(&d, &opts);
    let chars = md.chars().count();
    assert!(chars <= DEFAULT_MAX_CHARS, "{chars}");
    assert!(
        chars > DEFAULT_MAX_CHARS - 2_000,
        "should use the budget: {chars}"
    );
    assert!(md.contains("| Issues | 0 | 500 | 0 |"), "summary kept");
    let shown = md.matches("<details>").count();
    assert_eq!(
        shown,
        md.matches("</details>").count(),
        "no unclosed <details>"
    );
    assert!(shown > 50 && shown < 500, "{shown}");
    let note = format!("{} of 500 changed issues are not shown", 500 - shown);
    assert!(md.contains(&note), "{note}");
    assert!(md.contains("`backtrack diff github:acme/widgets --from nightly --format text`"));
    assert!(
        md.contains("#1</a> Issue number 1, renamed"),
        "first issues kept in full"
    );

    // Multi-byte text: characters, not bytes, are what is counted.
    let (mut from, mut to) = many_changed(300);
    for set in [&mut from, &mut to] {
        for i in set.issues.values_mut() {
            i.title = i.title.replace("Issue", "Ísşúé 問題");
        }
    }
    let md = render_markdown(
        &diff(&GH_SCHEMA, &from, &to, &DiffOptions::default()),
        &md_opts(),
    );
    assert!(md.chars().count() <= DEFAULT_MAX_CHARS);
    assert!(md.len() > md.chars().count());

    // A tiny budget still holds.
    for max in [0, 10, 200, 900, 2_000] {
        let opts = MarkdownOptions {
            max_chars: max,
            ..md_opts()
        };
        let md = render_markdown(&d, &opts);
        assert!(md.chars().count() <= max, "{max}: {}", md.chars().count());
        assert_eq!(
            md.matches("<details>").count(),
            md.matches("</details>").count()
        );
    }
}

#[test]
fn long_bodies_show_hunks_not_whole_bodies() {
    let mut a = Builder::new();
    let body: String = (0..300).map(|l| format!("paragraph {l}\n")).collect();
    a.issue(1, "Long").body = Some(body.clone());
    let mut b = Builder::new();
    b.issue(1, "Long").body = Some(body.replace("paragraph 150\n", "paragraph 150 (edited)\n"));
    let d = diff(&GH_SCHEMA, &a.build(), &b.build(), &DiffOptions::default());
    let text = render_text(&d, &TextOptions::default());
    assert!(text.contains("│ @@ -148,7 +148,7 @@"), "{text}");
    assert!(!text.contains("paragraph 10\n"));
    assert!(text.lines().count() < 30);
    let d = diff(
        &GH_SCHEMA,
        &a.build(),
        &b.build(),
        &DiffOptions {
            context_lines: 0,
            ..DiffOptions::default()
        },
    );
    assert_eq!(d.changes[0].hunks[0].lines.len(), 2);
}

#[test]
fn whole_record_texts_are_cut_in_renderers_but_not_in_json() {
    let a = Builder::new();
    let mut b = Builder::new();
    let body: String = (0..50).map(|l| format!("line {l}\n")).collect();
    b.issue(1, "Big").body = Some(body.clone());
    let d = diff(&GH_SCHEMA, &a.build(), &b.build(), &DiffOptions::default());
    assert!(render_text(&d, &TextOptions::default()).contains("│   … 30 more lines"));
    assert!(render_markdown(&d, &md_opts()).contains(" … 30 more lines"));
    assert_eq!(d.changes[0].after["body"], body);
}

#[test]
fn prs_can_be_left_out() {
    let (from, to) = kitchen_sink();
    let opts = DiffOptions {
        include_prs: false,
        ..DiffOptions::default()
    };
    let d = diff(&GH_SCHEMA, &from, &to, &opts);
    assert!(d.issues.iter().all(|e| e.number != 7));
    assert!(d
        .changes
        .iter()
        .all(|c| !c.pull_request && c.issue != Some(7)));
    let with = diff(&GH_SCHEMA, &from, &to, &DiffOptions::default());
    assert_eq!(with.issues.len(), d.issues.len() + 1);
}

#[test]
fn non_changes_are_ignored() {
    let from = base();
    let mut to = base();
    let i = to.set.issues.get_mut(&13).unwrap();
    i.updated_at = at(9);
    i.comments = 42;
    i.html_url = None;
    i.closed_at = Some(at(3));
    i.raw = json!({"anything": true});
    i.body = Some(String::new()); // was None
    i.state_reason = Some("reopened".into()); // open, as before
    to.set.labels.get_mut(&1).unwrap().color = "D73A4A".into();
    let m = to.set.milestones.get_mut(&1).unwrap();
    m.updated_at = Some(at(5));
    m.description = Some(String::new());
    let c = to.set.comments.get_mut(&500).unwrap();
    c.updated_at = at(8);
    let d = diff(
        &GH_SCHEMA,
        &from.build(),
        &to.build(),
        &DiffOptions::default(),
    );
    assert!(d.is_empty(), "{:#?}", d.changes);

    // Due dates compare by date, not by the time of day GitHub stores.
    let mut a = Builder::new();
    a.milestone(1, "v1").due_on = Some(at(3));
    let mut b = Builder::new();
    b.milestone(1, "v1").due_on = Some(at(3) + chrono::Duration::hours(2));
    assert!(diff(&GH_SCHEMA, &a.build(), &b.build(), &DiffOptions::default()).is_empty());
}

#[test]
fn comment_on_an_issue_neither_side_holds_is_still_reported() {
    let a = Builder::new();
    let mut b = Builder::new();
    b.comment(9, 77, "x", "orphan");
    let d = diff(&GH_SCHEMA, &a.build(), &b.build(), &DiffOptions::default());
    assert_eq!(d.issues[0].number, 77);
    assert!(render_text(&d, &TextOptions::default()).contains("#77\n"));
    assert!(render_markdown(&d, &md_opts()).contains("#77</a> — 1 comment added"));
}

#[test]
fn deterministic() {
    let (from, to) = kitchen_sink();
    let a = diff(&GH_SCHEMA, &from, &to, &DiffOptions::default());
    // Same records inserted in another order.
    let rev = |s: &RecordSet| -> RecordSet {
        let mut out = RecordSet::default();
        for c in s.comments.values().rev() {
            out.comments.insert(c.id, c.clone());
        }
        for i in s.issues.values().rev() {
            out.issues.insert(i.number, i.clone());
        }
        for l in s.labels.values().rev() {
            out.labels.insert(l.id, l.clone());
        }
        for m in s.milestones.values().rev() {
            out.milestones.insert(m.number, m.clone());
        }
        out
    };
    let b = diff(&GH_SCHEMA, &rev(&from), &rev(&to), &DiffOptions::default());
    assert_eq!(a, b);
    for _ in 0..3 {
        let again = diff(&GH_SCHEMA, &from, &to, &DiffOptions::default());
        assert_eq!(render_json(&again).unwrap(), render_json(&a).unwrap());
        assert_eq!(
            render_text(&again, &TextOptions::default()),
            render_text(&a, &TextOptions::default())
        );
        assert_eq!(
            render_markdown(&again, &md_opts()),
            render_markdown(&a, &md_opts())
        );
    }
}

#[test]
fn json_round_trips() {
    let d = sink_diff();
    let back: Diff = serde_json::from_str(&render_json(&d).unwrap()).unwrap();
    assert_eq!(back, d);
}

/// Spot-check: `cargo test -p backtrack-core --release --lib diff::tests::perf -- --ignored --nocapture`.
#[test]
#[ignore]
fn perf_10k_issues_50k_comments_1_percent_changed() {
    let mut a = Builder::new();
    for l in 0..50 {
        a.label(l, &format!("label-{l}"), "ededed");
    }
    for m in 1..=10 {
        a.milestone(m, &format!("v{m}"));
    }
    for n in 1..=10_000u64 {
        let i = a.issue(n, &format!("Issue {n}: something is broken somewhere"));
        i.body = Some(
            (0..20)
                .map(|l| format!("Body line {l} of issue {n}.\n"))
                .collect(),
        );
        i.labels = names(&[&format!("label-{}", n % 50)]);
        i.milestone = milestone_ref(n % 10 + 1, &format!("v{}", n % 10 + 1));
    }
    for c in 1..=50_000u64 {
        a.comment(
            c,
            (c % 10_000) + 1,
            "someone",
            &format!("Comment {c}\nwith two lines"),
        );
    }
    let from = a.build();
    let mut to = from.clone();
    for n in (1..=10_000u64).step_by(100) {
        let i = to.issues.get_mut(&n).unwrap();
        i.title.push_str(" (edited)");
        i.body = i.body.as_ref().map(|b| b.replace("line 10", "line ten"));
    }
    for c in (1..=50_000u64).step_by(100) {
        to.comments.get_mut(&c).unwrap().body.push_str("\nedited");
    }
    let started = std::time::Instant::now();
    let d = diff(&GH_SCHEMA, &from, &to, &DiffOptions::default());
    let took = started.elapsed();
    let text_started = std::time::Instant::now();
    let text = render_text(&d, &TextOptions::default());
    let md = render_markdown(&d, &MarkdownOptions::default());
    println!(
        "diff of {} + {} records: {took:?} ({} changes); text {} chars + markdown {} chars in {:?}",
        from.len(),
        to.len(),
        d.changes.len(),
        text.len(),
        md.chars().count(),
        text_started.elapsed()
    );
    assert_eq!(d.summary.issues_changed, 200);
    assert!(took.as_secs_f64() < 5.0, "{took:?}");
}

/// Tracker text written to attack a terminal or a reader: an OSC 52 clipboard write and a
/// screen clear in a label name, BEL/BS/NUL and a C1 CSI in a milestone title, a
/// right-to-left override and a zero-width space in an issue title, controls in a body and a
/// comment, and an author login with an escape.
fn hostile() -> (RecordSet, RecordSet) {
    let osc52 = "\u{1b}]52;c;cHduZWQ=\u{7}";
    let clear = "\u{1b}[2J\u{1b}[H";
    let mut b = Builder::new();
    b.milestone(1, "v1");
    b.issue(1, "Invoice").body = Some("Total: 10\nPay by Friday".into());
    b.comment(10, 1, "bob", "fine");
    let from = b.build();
    b.label(7, &format!("bug{osc52}{clear}"), "ff0000");
    b.milestone(2, "v2\u{7}\u{8}\u{0}\u{9b}31m");
    let i = b.set.issues.get_mut(&1).unwrap();
    i.title = "Invoice \u{202e}fdp.exe\u{202c} pay\u{200b}pal".into();
    i.body = Some(format!("Total: 10\n{clear}Pay to acct 666\u{7}\u{8}\u{0}"));
    i.labels = vec![format!("bug{osc52}{clear}")];
    i.milestone = milestone_ref(2, "v2\u{7}\u{8}\u{0}\u{9b}31m");
    b.comment(11, 1, "mallory\u{1b}[8m", &format!("see {osc52}"));
    (from, b.build())
}

fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}')
        })
        .collect()
}

#[test]
fn hostile_tracker_text_is_shown_not_acted_on_in_every_renderer() {
    let (from, to) = hostile();
    let (f, t) = sides();
    let d = diff(&GH_SCHEMA, &from, &to, &DiffOptions::default()).with_sides(f, t);
    let text = render_text(&d, &TextOptions::default());
    let coloured = render_text(
        &d,
        &TextOptions {
            color: true,
            ..TextOptions::default()
        },
    );
    let md = render_markdown(&d, &md_opts());
    assert_eq!(raw_controls(&text), Vec::<char>::new(), "{text}");
    assert_eq!(raw_controls(&md), Vec::<char>::new(), "{md}");
    // Colour codes are ours; nothing else may be an escape.
    let without_sgr = [
        "\u{1b}[31m",
        "\u{1b}[32m",
        "\u{1b}[36m",
        "\u{1b}[1m",
        "\u{1b}[2m",
        "\u{1b}[0m",
    ]
    .iter()
    .fold(coloured.clone(), |s, code| s.replace(code, ""));
    assert_eq!(raw_controls(&without_sgr), Vec::<char>::new(), "{coloured}");
    golden("hostile.txt", include_str!("golden/hostile.txt"), &text);
    golden("hostile.md", include_str!("golden/hostile.md"), &md);
    // JSON keeps the text exactly (JSON escapes it).
    let json = render_json(&d).unwrap();
    assert!(json.contains("\\u001b]52;c;cHduZWQ=\\u0007"), "{json}");
    assert_eq!(raw_controls(&json), Vec::<char>::new());
}

/// `n` issues with a one-line title change each; issue 1 also gets `body` as its new body.
fn one_huge_body(n: u64, body: &str) -> Diff {
    let mut a = Builder::new();
    let mut b = Builder::new();
    for i in 1..=n {
        a.issue(i, &format!("Issue {i}")).body = Some("short\n".into());
        b.issue(i, &format!("Issue {i}, renamed")).body = Some("short\n".into());
    }
    b.set.issues.get_mut(&1).unwrap().body = Some(body.to_string());
    let (f, t) = sides();
    diff(&GH_SCHEMA, &a.build(), &b.build(), &DiffOptions::default()).with_sides(f, t)
}

#[test]
fn one_huge_body_does_not_hide_the_other_changed_issues() {
    let line = "lorem ipsum dolor sit amet, consectetur adipiscing elit\n";
    let mut multi = line.repeat(65_536 / line.len());
    multi.push_str(&"x".repeat(65_536 - multi.len()));
    let one_line = "y".repeat(65_536);
    for (what, body) in [("many lines", &multi), ("one line", &one_line)] {
        let d = one_huge_body(8, body);
        for max in [64_000, DEFAULT_MAX_CHARS, 20_000, 5_000] {
            let md = render_markdown(
                &d,
                &MarkdownOptions {
                    max_chars: max,
                    ..md_opts()
                },
            );
            let chars = md.chars().count();
            assert!(chars <= max, "{what}, {max}: {chars}");
            for i in 1..=8 {
                assert!(
                    md.contains(&format!("#{i}</a> Issue {i}, renamed")),
                    "{what}, {max}: #{i} not listed"
                );
            }
            // With room for them, the small changes are there in full.
            if max >= 5_000 {
                for i in 2..=8 {
                    assert!(
                        md.contains(&format!("+Issue {i}, renamed\n")),
                        "{what}, {max}: #{i}"
                    );
                }
            }
            assert!(!md.contains("are not shown"), "{what}, {max}");
            assert!(
                md.contains("1 of 8 listed issues is shortened"),
                "{what}, {max}"
            );
            assert!(md.contains("cut to fit the comment"), "{what}, {max}");
            assert_eq!(md.matches("<details>").count(), 8);
            assert_eq!(md.matches("</details>").count(), 8);
            // The fences stay balanced: every opened block is closed.
            assert_eq!(
                md.matches("```diff\n").count(),
                md.matches("\n```\n").count()
            );
            // The big body uses most of what is left: the cap is a share, not a stub.
            if max == 64_000 {
                assert!(chars > max - 2_000, "{what}: only {chars} of {max} used");
            }
        }
    }
    let md = render_markdown(
        &one_huge_body(8, &multi),
        &MarkdownOptions {
            max_chars: 6_000,
            ..md_opts()
        },
    );
    golden(
        "huge_body_capped.md",
        include_str!("golden/huge_body_capped.md"),
        &md,
    );
}

#[test]
fn fair_shares_cap_the_greedy_and_spare_the_modest() {
    use super::markdown::fair_shares_for_tests as fair;
    assert_eq!(fair(&[10, 10, 10], 100), vec![10, 10, 10]);
    assert_eq!(fair(&[1_000, 10, 10], 100), vec![80, 10, 10]);
    assert_eq!(fair(&[1_000, 1_000, 10], 100), vec![45, 45, 10]);
    assert_eq!(fair(&[5, 5], 4), vec![2, 2]);
    assert_eq!(fair(&[], 4), Vec::<usize>::new());
    assert_eq!(fair(&[7], 0), vec![0]);
}
