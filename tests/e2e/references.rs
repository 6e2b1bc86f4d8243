//! Issue 21 items 12 and 15: snapshot names and references. A reused name is refused unless
//! `--force`, a name cannot look like an id, hide characters or pass 100 characters, a
//! reference that is both a name and an id prefix is refused as ambiguous, and every command
//! that takes a reference says which snapshot it resolved to.

use std::sync::Arc;

use backtrack::catalog::{Finish, SqliteCatalog};
use backtrack::{Catalog, SnapshotId, SnapshotStatus};
use serde_json::Value;

use crate::util::{Run, SandboxProc, User};

const SCOPE: &str = "github:acme/widgets";

fn create(user: &User, args: &[&str]) -> Run {
    let mut all = vec!["--json", "snapshot", "create", SCOPE];
    all.extend_from_slice(args);
    user.run(&all)
}

fn snapshot_count(user: &User) -> usize {
    user.run(&["--json", "snapshot", "list"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .len()
}

fn one_line(run: &Run, code: i32, needles: &[&str]) {
    assert_eq!(run.code, code, "{run:?}");
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    for n in needles {
        assert!(run.stderr.contains(n), "{n:?} not in {}", run.stderr);
    }
}

#[test]
fn names_are_unique_per_scope_visible_and_at_most_100_characters() {
    let sandbox = SandboxProc::start(&["--issues", "5", "--comments", "5"]);
    let user = User::new(&sandbox);
    let first = create(&user, &["--name", "good"]).ok().json();
    let first_id = first["id"].as_str().unwrap().to_string();

    // A reused name: refused (exit 3), naming the snapshot that has it; nothing is taken.
    let again = create(&user, &["--name", "good"]);
    one_line(&again, 3, &["\"good\"", &first_id, "--force"]);
    assert_eq!(snapshot_count(&user), 1);

    // With --force it is given again, and the name then means the newest, saying so.
    let second = create(&user, &["--name", "good", "--force"]).ok().json();
    let second_id = second["id"].as_str().unwrap().to_string();
    let show = user.run(&["snapshot", "show", "good"]).ok();
    assert!(show.stdout.contains(&second_id), "{}", show.stdout);
    assert!(
        show.stderr
            .contains(&format!("\"good\" → snapshot {second_id}"))
            && show.stderr.contains("1 older snapshot has the same name"),
        "{}",
        show.stderr
    );
    let shown = user
        .run(&["--json", "snapshot", "show", "good"])
        .ok()
        .json();
    assert_eq!(shown["resolved"]["id"], second_id.as_str());
    assert_eq!(shown["resolved"]["by"], "name");
    assert_eq!(shown["resolved"]["same_name"][0], first_id.as_str());
    // Deleting "the newest of two" is not a guess to make: refused, both named.
    let delete = user.run(&["snapshot", "delete", "good"]);
    one_line(&delete, 2, &["names 2 snapshots", &first_id, &second_id]);
    assert_eq!(snapshot_count(&user), 2);

    // A name that is (the start of) an id.
    let prefix = &first_id[..10];
    let id_like = create(&user, &["--name", prefix]);
    one_line(&id_like, 2, &["looks like a snapshot id"]);

    // Characters that hide or reorder text, so that two names look alike.
    for (name, code) in [
        ("report\u{202E}fdp.exe", "U+202E"),
        ("go\u{200B}od", "U+200B"),
        ("go\u{200D}od", "U+200D"),
    ] {
        let run = create(&user, &["--name", name]);
        one_line(&run, 2, &[code]);
        assert!(
            !run.stderr.contains(name),
            "the raw name reached the terminal: {}",
            run.stderr
        );
    }

    // The limit counts characters, not bytes: 100 two-byte characters are fine, 101 not.
    let hundred = "é".repeat(100);
    let named = create(&user, &["--name", &hundred]).ok().json();
    assert_eq!(named["name"], hundred.as_str());
    let long = create(&user, &["--name", &"é".repeat(101)]);
    one_line(&long, 2, &["101 characters", "limit is 100 characters"]);
    assert!(long.stderr.len() < 400, "{}", long.stderr);
    assert_eq!(snapshot_count(&user), 3);
}

/// Makes `name` the name of a new completed copy of snapshot `of` in the user's catalog, as a
/// catalog written before names were checked could hold.
fn plant_legacy_name(user: &User, of: &str, name: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let catalog = Arc::new(SqliteCatalog::open(&user.store().join("catalog.sqlite")).unwrap());
        let mut entry = catalog
            .get(&of.parse::<SnapshotId>().unwrap())
            .await
            .unwrap()
            .unwrap();
        entry.id = SnapshotId::new();
        entry.name = Some(name.to_string());
        entry.status = SnapshotStatus::Pending;
        catalog.create(&entry).await.unwrap();
        let finish = Finish {
            status: SnapshotStatus::Completed,
            finished_at: chrono::Utc::now(),
            counts: entry.counts,
            bytes: entry.bytes,
            requests: 0,
            error: None,
            manifest_hash: None,
        };
        catalog.finish(&entry.id, &finish).await.unwrap();
        entry.id.to_string()
    })
}

#[test]
fn a_name_equal_to_an_id_prefix_is_ambiguous_and_nothing_is_deleted() {
    let sandbox = SandboxProc::start(&["--issues", "5", "--comments", "5"]);
    let user = User::new(&sandbox);
    let target = create(&user, &[]).ok().json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Another snapshot named after the first one's id prefix (the reported case: `snapshot
    // delete 01m8p5p6gd` deleted the one named so, not the one whose id starts with it).
    let prefix = target[..10].to_string();
    let named = plant_legacy_name(&user, &target, &prefix);
    assert_eq!(snapshot_count(&user), 2);

    let delete = user.run(&["snapshot", "delete", &prefix]);
    one_line(&delete, 2, &["ambiguous", &target, &named, "full id"]);
    assert_eq!(snapshot_count(&user), 2, "nothing may be deleted");
    let show = user.run(&["snapshot", "show", &prefix]);
    one_line(&show, 2, &["ambiguous"]);
    let diff = user.run(&["diff", SCOPE, "--from", &prefix]);
    one_line(&diff, 2, &["--from", "ambiguous"]);

    // The full id is unambiguous, and the delete says what it resolved to.
    let delete = user
        .run(&["--json", "snapshot", "delete", &target])
        .ok()
        .json();
    assert_eq!(delete["deleted"], target.as_str());
    assert_eq!(delete["resolved"]["by"], "id");
    assert_eq!(snapshot_count(&user), 1);
}

/// The `resolved` object of a command's `--json` output.
fn resolved_of(user: &User, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    user.run(&all).ok().json()["resolved"].clone()
}

#[test]
fn every_command_that_takes_a_reference_says_what_it_resolved_to() {
    let sandbox = SandboxProc::start(&["--issues", "6", "--comments", "6"]);
    let user = User::new(&sandbox);
    let good = create(&user, &["--name", "good"]).ok().json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let newest = create(&user, &[]).ok().json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let prefix = &good[..22];
    let arrow = |id: &str| format!("→ snapshot {id}");

    // Human output: one line on stderr per reference (stdout keeps the command's output).
    for (args, id, flag) in [
        (vec!["snapshot", "show", "good"], &good, None),
        (vec!["snapshot", "pin", prefix], &good, None),
        (vec!["snapshot", "unpin", "good"], &good, None),
        (vec!["verify", "good"], &good, None),
        (vec!["rollback", SCOPE, "--to", "good"], &good, Some("--to")),
        (vec!["restore", prefix], &good, None),
        (
            vec!["diff", SCOPE, "--from", "good", "--to", "latest"],
            &good,
            Some("--from"),
        ),
    ] {
        let run = user.run(&args).ok();
        let line = run
            .stderr
            .lines()
            .find(|l| l.contains(&arrow(id)))
            .unwrap_or_else(|| panic!("{args:?} did not say what it resolved to: {run:?}"));
        if let Some(flag) = flag {
            assert!(line.starts_with(flag), "{line}");
        }
        assert!(line.contains(SCOPE), "{line}");
    }
    let diff = user
        .run(&["diff", SCOPE, "--from", "good", "--to", "latest"])
        .ok();
    assert!(
        diff.stderr
            .contains(&format!("--to \"latest\" {}", arrow(&newest))),
        "{}",
        diff.stderr
    );

    // --json: a `resolved` object (diff: each side's `reference` next to its id).
    for args in [
        vec!["snapshot", "show", prefix],
        vec!["snapshot", "pin", "good"],
        vec!["snapshot", "unpin", "good"],
        vec!["verify", prefix],
        vec!["rollback", SCOPE, "--to", "good"],
        vec!["restore", "good"],
    ] {
        let resolved = resolved_of(&user, &args);
        assert_eq!(resolved["id"], good.as_str(), "{args:?}: {resolved}");
        assert_eq!(resolved["scope"], SCOPE, "{args:?}: {resolved}");
        assert!(
            ["name", "id_prefix"].contains(&resolved["by"].as_str().unwrap()),
            "{args:?}: {resolved}"
        );
    }
    let diff = user
        .run(&["--json", "diff", SCOPE, "--from", "good", "--to", "latest"])
        .ok()
        .json();
    assert_eq!(diff["from"]["id"], good.as_str());
    assert_eq!(diff["from"]["reference"], "good");
    assert_eq!(diff["to"]["id"], newest.as_str());
    assert_eq!(diff["to"]["reference"], "latest");
    let delete = user
        .run(&["--json", "snapshot", "delete", &newest[..24]])
        .ok()
        .json();
    assert_eq!(delete["resolved"]["id"], newest.as_str());
    assert_eq!(delete["resolved"]["by"], "id_prefix");

    // Quiet runs say nothing but errors.
    let quiet = user.run(&["-q", "snapshot", "show", "good"]).ok();
    assert!(quiet.stderr.is_empty(), "{}", quiet.stderr);
}
