//! JQL against a seeded store: what each clause matches, how values are checked, ordering.

use super::data;
use super::jql::{compile, parse, Validate};
use super::state::{Cat, State};
use super::{Config, Flavor};

fn seeded(flavor: Flavor) -> State {
    data::seed(&Config {
        flavor,
        issues: 300,
        comments: 600,
        seed: 21,
        ..Config::default()
    })
}

fn run(st: &State, q: &str) -> Result<Vec<u64>, String> {
    let v = Validate {
        strict: true,
        me: 0,
        now: st.now(),
    };
    let c = compile(st, &parse(q).map_err(|e| e.message)?, v).map_err(|e| e.message)?;
    Ok(c.run(st))
}

#[test]
fn clauses_match_what_the_store_holds() {
    let st = seeded(Flavor::DataCenter);
    let all = run(&st, "project = PROJ").expect("runs");
    assert_eq!(all.len(), 300);
    // Default order: newest key first.
    assert!(all.windows(2).all(|w| w[0] > w[1]));
    let done = run(&st, "project = PROJ AND statusCategory = Done").expect("runs");
    let want = st
        .issues
        .values()
        .filter(|i| st.statuses[i.status].category == Cat::Done)
        .count();
    assert_eq!(done.len(), want);
    let unresolved = run(&st, "resolution = Unresolved").expect("runs");
    assert_eq!(unresolved.len() + done.len(), 300);
    let some = run(&st, "key in (PROJ-1, PROJ-2, PROJ-3) OR issuekey = PROJ-10").expect("runs");
    assert_eq!(some.len(), 4);
    let not_first = run(&st, "key > PROJ-290").expect("runs");
    assert_eq!(not_first.len(), 10);
    let labelled = run(&st, "labels = security AND labels IS NOT EMPTY").expect("runs");
    assert_eq!(
        labelled.len(),
        st.issues
            .values()
            .filter(|i| i.labels.iter().any(|l| l == "security"))
            .count()
    );
    // `!=` never matches an empty field, as in Jira.
    let not_alice = run(&st, "assignee != alice").expect("runs");
    let unassigned = run(&st, "assignee IS EMPTY").expect("runs");
    let alice = run(&st, "assignee = alice").expect("runs");
    assert_eq!(not_alice.len() + unassigned.len() + alice.len(), 300);
    let epic = st.issues.values().find(|i| st.is_epic(i)).expect("an epic");
    let children = run(&st, &format!("\"Epic Link\" = {}", st.issue_key(epic))).expect("runs");
    assert_eq!(
        children.len(),
        st.issues
            .values()
            .filter(|i| i.epic_link == Some(epic.id))
            .count()
    );
    assert!(!children.is_empty());
    let sorted = run(&st, "project = PROJ ORDER BY updated ASC").expect("runs");
    let times: Vec<i64> = sorted.iter().map(|id| st.issues[id].updated).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    let recent = run(&st, "updated >= -30d").expect("runs");
    let cutoff = st.now() - 30 * 86_400_000;
    assert_eq!(
        recent.len(),
        st.issues.values().filter(|i| i.updated >= cutoff).count()
    );
}

#[test]
fn values_are_checked_in_jiras_words() {
    let cloud = seeded(Flavor::Cloud);
    let err = |q: &str| run(&cloud, q).expect_err(q);
    assert_eq!(
        err("key = PROJ-9999"),
        "An issue with key 'PROJ-9999' does not exist for field 'key'."
    );
    assert_eq!(
        err("status = Nope"),
        "The value 'Nope' does not exist for the field 'status'."
    );
    assert_eq!(
        err("\"Epic Link\" = PROJ-1"),
        "Field 'Epic Link' does not exist or you do not have permission to view it."
    );
    assert_eq!(
        err("project = PROJ ORDER BY watchers"),
        "Field 'watchers' does not exist or you do not have permission to view it."
    );
    assert!(err("updated >= \"2024/13/01 10:00\"")
        .starts_with("Date value '2024/13/01 10:00' for field 'updated' is invalid."));
    // Outside strict validation a missing key is a warning and matches nothing.
    let q = parse("key in (PROJ-1, PROJ-9999)").expect("parses");
    let c = compile(
        &cloud,
        &q,
        Validate {
            strict: false,
            me: 0,
            now: cloud.now(),
        },
    )
    .expect("compiles");
    assert_eq!(c.run(&cloud).len(), 1);
    assert_eq!(c.warnings.len(), 1);
    // Cloud: epics through the hierarchy.
    let epic = cloud
        .issues
        .values()
        .find(|i| cloud.is_epic(i))
        .expect("an epic");
    let children = run(&cloud, &format!("parent = {}", cloud.issue_key(epic))).expect("runs");
    assert!(!children.is_empty());
    let me = run(
        &cloud,
        "reporter = currentUser() OR assignee = currentUser()",
    )
    .expect("runs");
    assert!(me.is_empty(), "the admin has no seeded work");
}
