//! Store rules, without HTTP: seeding, reading write bodies, and the write semantics.

use serde_json::{json, Value};

use super::edit::Target;
use super::{Cat, State};
use crate::jira::data;
use crate::jira::{Config, EpicStyle, Flavor};

fn seeded(flavor: Flavor, issues: u64, comments: u64, seed: u64) -> State {
    data::seed(&Config {
        flavor,
        issues,
        comments,
        seed,
        ..Config::default()
    })
}

fn obj(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

#[test]
fn seeding_is_deterministic_and_consistent() {
    for flavor in [Flavor::Cloud, Flavor::DataCenter] {
        let a = seeded(flavor, 400, 2_000, 9);
        let b = seeded(flavor, 400, 2_000, 9);
        let sig = |s: &State| {
            s.issues
                .values()
                .map(|i| (i.summary.clone(), i.updated, i.comments.len(), i.status))
                .collect::<Vec<_>>()
        };
        assert_eq!(sig(&a), sig(&b));
        assert_ne!(sig(&a), sig(&seeded(flavor, 400, 2_000, 10)));
        let c = a.counts();
        assert_eq!((c.issues, c.comments), (400, 2_000));
        assert_eq!(c.epics, 16);
        assert!(c.subtasks > 40, "{c:?}");
        // More comments than Cloud embeds on a few issues.
        assert!(a.issues.values().any(|i| i.comments.len() > 100));
        for i in a.issues.values() {
            assert!(i.updated >= i.created);
            for cid in &i.comments {
                let cm = &a.comments[cid];
                assert!(cm.created >= i.created && cm.updated <= i.updated);
                assert!(cm.updated >= cm.created);
            }
            let done = a.statuses[i.status].category == Cat::Done;
            assert_eq!(done, i.resolution.is_some(), "{}", a.issue_key(i));
            assert_eq!(done, i.resolution_date.is_some());
            if let Some(p) = i.parent {
                let parent = &a.issues[&p];
                assert!(parent.created <= i.created);
                let want = a.types[i.itype].hierarchy + 1;
                assert_eq!(a.types[parent.itype].hierarchy, want);
            }
            if let Some(e) = i.epic_link {
                assert!(a.is_epic(&a.issues[&e]));
            }
            // Rich text is in the flavour's form.
            match (&i.description, flavor) {
                (Some(super::Doc::Adf(_)), Flavor::Cloud)
                | (Some(super::Doc::Wiki(_)), Flavor::DataCenter)
                | (None, _) => {}
                _ => panic!("{} has a description in the wrong form", a.issue_key(i)),
            }
        }
        let by_parent = a.issues.values().filter(|i| i.parent.is_some()).count();
        let by_link = a.issues.values().filter(|i| i.epic_link.is_some()).count();
        match flavor {
            Flavor::Cloud => assert_eq!(by_link, 0),
            Flavor::DataCenter => assert!(by_link > 100, "{by_link}"),
        }
        assert!(by_parent > 40);
        // Late timestamps are spread, not piled on one millisecond.
        let mut latest: Vec<i64> = a.issues.values().map(|i| i.updated).collect();
        latest.sort_unstable();
        latest.dedup();
        assert!(
            latest.len() > 390,
            "{} distinct updated of 400",
            latest.len()
        );
    }
}

#[test]
fn a_write_names_every_bad_field_at_once() {
    let st = seeded(Flavor::Cloud, 30, 0, 1);
    let i = st
        .issues
        .values()
        .find(|i| !st.types[i.itype].subtask && !st.is_epic(i))
        .expect("a story");
    let t = Target {
        v3: true,
        issue: Some(i),
        itype: i.itype,
        screen_resolution: false,
    };
    let e = st
        .read_changes(
            Some(&obj(json!({
                "status": {"name": "Done"},
                "resolution": {"name": "Done"},
                "labels": ["has space"],
                "components": [{"name": "Nope"}],
                "assignee": {"accountId": "nobody"},
                "description": "a string on v3",
                "summary": "",
            }))),
            None,
            t,
        )
        .expect_err("refused");
    let d = e.describe();
    for field in [
        "status",
        "resolution",
        "labels",
        "components",
        "assignee",
        "description",
        "summary",
    ] {
        assert!(
            d.contains(&format!("\"{field}\"")),
            "{field} missing from {d}"
        );
    }
    assert!(d.contains("It is not on the appropriate screen, or unknown."));
    assert!(d.contains("Component name 'Nope' is not valid"));
    assert!(d.contains("Atlassian Document"));
}

#[test]
fn update_operations_add_remove_and_set() {
    let st = seeded(Flavor::DataCenter, 30, 0, 2);
    let i = st
        .issues
        .values()
        .find(|i| !st.is_epic(i) && !st.types[i.itype].subtask)
        .expect("an issue");
    let t = Target {
        v3: false,
        issue: Some(i),
        itype: i.itype,
        screen_resolution: false,
    };
    let ch = st
        .read_changes(
            None,
            Some(&obj(json!({
                "labels": [{"set": ["a", "b"]}, {"add": "c"}, {"remove": "a"}],
                "components": [{"set": [{"name": "API"}]}, {"add": {"name": "Backend"}}],
                "summary": [{"set": "Renamed"}],
            }))),
            t,
        )
        .expect("accepted");
    assert_eq!(
        ch.labels.as_deref(),
        Some(&["b".to_owned(), "c".to_owned()][..])
    );
    let names: Vec<&str> = ch
        .components
        .iter()
        .flatten()
        .map(|id| st.components[id].name.as_str())
        .collect();
    assert_eq!(names, ["API", "Backend"]);
    assert_eq!(ch.summary.as_deref(), Some("Renamed"));
}

#[test]
fn parents_follow_the_hierarchy_of_each_epic_style() {
    for (flavor, style) in [
        (Flavor::Cloud, EpicStyle::Parent),
        (Flavor::DataCenter, EpicStyle::EpicLink),
    ] {
        let st = seeded(flavor, 60, 0, 3);
        assert_eq!(st.epic_style, style);
        let epic = st
            .issues
            .values()
            .find(|i| st.is_epic(i))
            .expect("an epic")
            .key_ref(&st);
        let story_type = st.type_by_ref("Story").expect("Story");
        let sub_type = st
            .type_by_ref(if flavor == Flavor::Cloud {
                "Subtask"
            } else {
                "Sub-task"
            })
            .expect("subtask type");
        let create = |itype: usize, fields: Value| {
            st.read_changes(
                Some(&obj(fields)),
                None,
                Target {
                    v3: false,
                    issue: None,
                    itype,
                    screen_resolution: false,
                },
            )
        };
        let story_under_epic = create(story_type, json!({"parent": {"key": epic}}));
        assert_eq!(story_under_epic.is_ok(), style == EpicStyle::Parent);
        let sub_under_epic = create(sub_type, json!({"parent": {"key": epic}}));
        assert!(sub_under_epic.is_err());
        let story = st
            .issues
            .values()
            .find(|i| i.itype == story_type)
            .expect("a story")
            .key_ref(&st);
        assert!(create(sub_type, json!({"parent": {"key": story}})).is_ok());
        assert!(create(sub_type, json!({"parent": {"key": "PROJ-9999"}})).is_err());
        if style == EpicStyle::EpicLink {
            let cf = super::CustomFields::name(st.fields.epic_link);
            let one = |v: &str| {
                let mut m = serde_json::Map::new();
                m.insert(cf.clone(), json!(v));
                Value::Object(m)
            };
            let ok = create(story_type, one(&epic)).expect("epic link set");
            assert!(ok.epic_link.flatten().is_some());
            assert!(create(story_type, one(&story)).is_err(), "not an epic");
        }
    }
}

trait KeyRef {
    fn key_ref(&self, st: &State) -> String;
}

impl KeyRef for super::Issue {
    fn key_ref(&self, st: &State) -> String {
        st.issue_key(self)
    }
}

#[test]
fn deletes_cascade_and_touch_the_other_side() {
    let mut st = seeded(Flavor::Cloud, 120, 300, 4);
    let parent = st
        .issues
        .values()
        .find(|i| !st.subtasks_of(i.id).is_empty())
        .map(|i| i.id)
        .expect("an issue with subtasks");
    let subs = st.subtasks_of(parent);
    assert!(
        st.delete_issue(parent, false).is_err(),
        "subtasks need deleteSubtasks"
    );
    let other = st
        .issues
        .keys()
        .copied()
        .find(|id| *id != parent && !subs.contains(id))
        .expect("another issue");
    let link = st.link(3, parent, other);
    let before = st.issues[&other].updated;
    let comments_before = st.comments.len();
    let own: usize = std::iter::once(parent)
        .chain(subs.iter().copied())
        .map(|id| st.issues[&id].comments.len())
        .sum();
    st.delete_issue(parent, true)
        .expect("deleted with its subtasks");
    assert!(st.find(&parent.to_string()).is_none());
    assert!(subs.iter().all(|s| !st.issues.contains_key(s)));
    assert_eq!(st.comments.len(), comments_before - own);
    assert!(!st.links.contains_key(&link));
    assert!(!st.issues[&other].links.contains(&link));
    assert!(st.issues[&other].updated > before);
}

#[test]
fn removing_a_component_or_version_strips_it_from_issues() {
    let mut st = seeded(Flavor::DataCenter, 200, 0, 5);
    let api = st.component_by_name("API").expect("API");
    let backend = st.component_by_name("Backend").expect("Backend");
    let had: Vec<u64> = st
        .issues
        .values()
        .filter(|i| i.components.contains(&api))
        .map(|i| i.id)
        .collect();
    assert!(!had.is_empty());
    st.delete_component(api, Some(backend));
    for id in &had {
        let i = &st.issues[id];
        assert!(!i.components.contains(&api) && i.components.contains(&backend));
    }
    let v = *st.versions.keys().next().expect("a version");
    st.delete_version(v, None, None);
    assert!(st
        .issues
        .values()
        .all(|i| !i.fix_versions.contains(&v) && !i.versions.contains(&v)));
}

#[test]
fn the_clock_never_repeats_or_goes_back() {
    let mut st = seeded(Flavor::Cloud, 1, 0, 6);
    let mut last = 0;
    for _ in 0..1000 {
        let t = st.tick();
        assert!(t > last);
        last = t;
    }
    st.offset += 3_600_000;
    assert!(st.tick() >= super::now_ms() + 3_500_000);
}

#[test]
fn moving_a_subtask_moves_it_between_parents() {
    let mut st = seeded(Flavor::Cloud, 150, 0, 8);
    let sub = st
        .issues
        .values()
        .find(|i| st.types[i.itype].subtask)
        .map(|i| (i.id, i.parent))
        .expect("a subtask");
    let (sub, Some(from)) = sub else {
        panic!("a subtask without a parent");
    };
    let to = st
        .issues
        .values()
        .find(|i| i.id != from && st.types[i.itype].hierarchy == 0)
        .map(|i| i.id)
        .expect("another standard issue");
    let moved = super::Changes {
        parent: Some(Some(to)),
        ..super::Changes::default()
    };
    st.edit_issue(sub, moved).expect("edited");
    assert!(!st.subtasks_of(from).contains(&sub));
    assert!(st.subtasks_of(to).contains(&sub));
    st.delete_issue(sub, false)
        .expect("a subtask has no subtasks");
    assert!(!st.subtasks_of(to).contains(&sub));
}
