//! Issue 15 acceptance: portable archives. `export` → `import` into an empty store →
//! `verify` clean → the imported snapshots diff like the originals; duplicates and damaged
//! files through the CLI; `copy` folder → S3 (moto) killed midway and run again, and back.
//! The library contract on the AWS pair runs as the conformance suite (folder+SQLite ↔
//! S3+DynamoDB both ways).

use std::sync::Arc;
use std::time::{Duration, Instant};

use backtrack::catalog::{DynamoCatalog, SqliteCatalog, TableSetup};
use backtrack::snapshot::Archive;
use backtrack::store::{BucketSetup, LocalStore, S3Store};
use serde_json::{json, Value};

use crate::aws::{unique, AwsUser};
use crate::util::{SandboxProc, User};

const SCOPE: &str = "github:acme/widgets";
const REPO: &str = "/repos/acme/widgets";

async fn s3_pair() -> Archive {
    let (bucket, table) = (unique("b"), unique("t"));
    let store = S3Store::from_url(&format!("s3://{bucket}/portable"))
        .await
        .unwrap();
    assert_eq!(store.ensure_bucket().await.unwrap(), BucketSetup::Created);
    let catalog = DynamoCatalog::from_url(&format!("dynamodb://{table}"))
        .await
        .unwrap();
    assert_eq!(catalog.ensure_table().await.unwrap(), TableSetup::Created);
    Archive::new(Arc::new(store), Arc::new(catalog))
}

fn folder_pair(dir: &std::path::Path) -> Archive {
    let store = LocalStore::create(dir.to_path_buf()).unwrap();
    let catalog = SqliteCatalog::create(&dir.join("catalog.sqlite")).unwrap();
    Archive::new(Arc::new(store), Arc::new(catalog))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_conformance_portable_folder_to_s3() {
    let dir = tempfile::tempdir().unwrap();
    backtrack::conformance::portable(folder_pair(dir.path()), s3_pair().await, s3_pair().await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_conformance_portable_s3_to_folder() {
    let dirs = [(); 2].map(|()| tempfile::tempdir().unwrap());
    backtrack::conformance::portable(
        s3_pair().await,
        folder_pair(dirs[0].path()),
        folder_pair(dirs[1].path()),
    )
    .await;
}

fn ids(list: &Value) -> Vec<String> {
    let mut ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Every file in a folder store except the catalog's own files, with its bytes.
fn data_files(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in read {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if !path.to_string_lossy().contains("catalog.sqlite") {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn portable_export_import_round_trip_duplicates_and_refusals_through_the_cli() {
    let sandbox = SandboxProc::start(&["--issues", "30", "--comments", "90", "--seed", "15"]);
    let alice = User::new(&sandbox);
    let first = alice
        .run(&["--json", "snapshot", "create", SCOPE, "--name", "nightly-1"])
        .ok()
        .json();
    let (status, _) = sandbox.api(
        "PATCH",
        &format!("{REPO}/issues/3"),
        Some(json!({"title": "changed between snapshots", "state": "closed"})),
    );
    assert_eq!(status, 200);
    let second = alice
        .run(&["--json", "snapshot", "create", SCOPE, "--name", "nightly-2"])
        .ok()
        .json();
    let (id1, id2) = (
        first["id"].as_str().unwrap().to_string(),
        second["id"].as_str().unwrap().to_string(),
    );

    // Export: a file, and the same to stdout.
    let file = alice.home.path().join("widgets.btar");
    let file_s = file.to_str().unwrap();
    let exported = alice
        .run(&["--json", "export", "--scope", SCOPE, "-o", file_s])
        .ok()
        .json();
    assert_eq!(
        exported["snapshots"].as_array().unwrap().len(),
        2,
        "{exported}"
    );
    let size = std::fs::metadata(&file).unwrap().len();
    assert_eq!(exported["file_bytes"].as_u64().unwrap(), size);
    let piped = alice
        .command(&["export", SCOPE, "-o", "-"])
        .output()
        .unwrap();
    assert!(piped.status.success(), "{piped:?}");
    assert!(piped.stdout.starts_with(b"backtrack-archive\n"));
    assert!(
        String::from_utf8_lossy(&piped.stderr).contains("exported 2 snapshot(s)"),
        "the report goes to stderr when stdout carries the archive"
    );
    let one = alice
        .run(&["--json", "export", "--name", "nightly-1", "-o", "-"])
        .ok();
    assert!(one.stdout.starts_with("backtrack-archive\n"));
    let none = alice.run(&["export", "--name", "weekly-*", "-o", "-"]);
    assert_eq!(none.code, 2, "{none:?}");
    assert!(none.stderr.contains("no snapshot matches"), "{none:?}");
    assert!(!alice.home.path().read_dir().unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("partial")));

    // Import into an empty store: a preview first, which writes nothing.
    let bob = User::new(&sandbox);
    let preview = bob.run(&["--json", "import", file_s]).ok().json();
    assert_eq!(preview["executed"], false, "{preview}");
    let actions: Vec<&str> = preview["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["add", "add"], "{preview}");
    assert!(
        data_files(&bob.store()).is_empty(),
        "a preview writes no data"
    );
    let done = bob
        .run(&["--json", "import", file_s, "--execute"])
        .ok()
        .json();
    assert_eq!(done["executed"], true, "{done}");
    assert!(done["blobs_written"].as_u64().unwrap() > 100, "{done}");
    let listed = bob.run(&["--json", "snapshot", "list", SCOPE]).ok().json();
    assert_eq!(ids(&listed), {
        let mut v = vec![id1.clone(), id2.clone()];
        v.sort();
        v
    });
    bob.run(&["verify", "--all"]).ok();
    // The imported snapshots diff exactly as the originals do, between themselves and
    // against the live repository.
    for args in [
        vec![
            "diff",
            SCOPE,
            "--from",
            "nightly-1",
            "--to",
            "nightly-2",
            "--format",
            "json",
        ],
        vec![
            "diff",
            SCOPE,
            "--from",
            "nightly-1",
            "--to",
            "live",
            "--format",
            "json",
        ],
        vec![
            "diff",
            SCOPE,
            "--from",
            "nightly-2",
            "--to",
            "live",
            "--format",
            "json",
        ],
    ] {
        let a = alice.run(&args).ok().json();
        let b = bob.run(&args).ok().json();
        // The file carries records, not who-changed-what logs: an imported store's diffs
        // between snapshots are unattributed, and against live it lists the events by time.
        let unattributed = |d: &Value| -> Vec<Value> {
            let mut changes = d["changes"].as_array().unwrap().clone();
            for c in &mut changes {
                c.as_object_mut().unwrap().remove("attribution");
            }
            changes
        };
        assert_eq!(unattributed(&a), unattributed(&b), "{args:?}");
        if args[4] == "nightly-2" {
            assert!(!b["changes"].as_array().unwrap().is_empty(), "{b}");
        }
    }
    let empty = bob
        .run(&[
            "diff",
            SCOPE,
            "--from",
            "nightly-2",
            "--to",
            "live",
            "--exit-code",
        ])
        .ok();
    assert!(!empty.stdout.is_empty());

    // Again: error refuses (exit 3) and writes nothing; skip and overwrite change nothing.
    let before = data_files(&bob.store());
    let refused = bob.run(&["import", file_s, "--execute"]);
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(refused.stderr.contains(&id1) && refused.stderr.contains("nothing was written"));
    let skip = bob
        .run(&[
            "--json",
            "import",
            file_s,
            "--on-duplicate",
            "skip",
            "--execute",
        ])
        .ok()
        .json();
    assert_eq!(skip["blobs_written"], 0, "{skip}");
    let over = bob
        .run(&[
            "--json",
            "import",
            file_s,
            "--on-duplicate",
            "overwrite",
            "--execute",
        ])
        .ok()
        .json();
    assert!(over["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["action"] == "unchanged"));
    assert_eq!(data_files(&bob.store()), before, "import is idempotent");

    // Damaged files: refused with what is wrong, nothing written into a fresh store.
    let good = std::fs::read(&file).unwrap();
    let carol = User::new(&sandbox);
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x40;
    let newer = {
        let text = String::from_utf8_lossy(&good[..60]).replacen("\"format\":1", "\"format\":7", 1);
        let mut v = text.into_bytes();
        v.extend_from_slice(&good[60..]);
        v
    };
    for (name, bytes, says) in [
        ("flipped.btar", flipped, "is damaged"),
        (
            "cut.btar",
            good[..good.len() - 200].to_vec(),
            "is truncated",
        ),
        ("newer.btar", newer, "format-7 archive"),
        ("empty.btar", Vec::new(), "not a backtrack archive"),
    ] {
        let path = carol.home.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let run = carol.run(&["import", path.to_str().unwrap(), "--execute"]);
        assert_eq!(run.code, 3, "{name}: {run:?}");
        assert!(
            run.stderr.contains(says) && run.stderr.contains("nothing was written"),
            "{name}: {run:?}"
        );
        assert_eq!(
            run.stderr.trim().lines().count(),
            1,
            "{name}: one line: {run:?}"
        );
    }
    assert!(
        data_files(&carol.store()).is_empty(),
        "no orphan blob, no manifest"
    );
    let list = carol.run(&["--json", "snapshot", "list"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 0, "no catalog row");
}

#[test]
fn aws_copy_folder_to_s3_killed_midway_converges_and_copies_back() {
    let sandbox = SandboxProc::start(&["--issues", "400", "--comments", "1200", "--seed", "16"]);
    let alice = User::new(&sandbox);
    alice
        .run(&["snapshot", "create", SCOPE, "--name", "big"])
        .ok();
    let (status, _) = sandbox.api(
        "PATCH",
        &format!("{REPO}/issues/7"),
        Some(json!({"body": "edited"})),
    );
    assert_eq!(status, 200);
    alice.run(&["snapshot", "create", SCOPE]).ok();
    let aws = AwsUser::new(&sandbox);
    let to = [
        "--to-store",
        aws.store.as_str(),
        "--to-catalog",
        aws.catalog.as_str(),
    ];

    // Killed midway: SIGKILL as soon as the destination holds its first blobs.
    let mut args = vec!["copy", SCOPE];
    args.extend(to);
    let mut child = alice
        .command(&args)
        .env("AWS_ENDPOINT_URL", crate::aws::moto_url())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dest = rt.block_on(aws.archive());
    let started = Instant::now();
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the copy finished before it could be killed: make the repository larger"
        );
        let blobs = rt.block_on(dest.raw_store().list("blobs/")).unwrap();
        if !blobs.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no blob copied"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = aws.run(&["--json", "snapshot", "list", SCOPE]).ok().json();
    assert!(
        partial.as_array().unwrap().len() < 2,
        "killed midway, not after: {partial}"
    );

    let mut json_args = vec!["--json", "copy", SCOPE];
    json_args.extend(to);
    let again = alice
        .command(&json_args)
        .env("AWS_ENDPOINT_URL", crate::aws::moto_url())
        .output()
        .unwrap();
    assert!(again.status.success(), "{again:?}");
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["executed"], true, "{again}");
    let theirs = aws.run(&["--json", "snapshot", "list", SCOPE]).ok().json();
    let ours = alice
        .run(&["--json", "snapshot", "list", SCOPE])
        .ok()
        .json();
    assert_eq!(ids(&theirs), ids(&ours), "converged");
    aws.run(&["verify", "--all"]).ok();
    // A third run has nothing to do.
    let third = alice
        .command(&json_args)
        .env("AWS_ENDPOINT_URL", crate::aws::moto_url())
        .output()
        .unwrap();
    let third: Value = serde_json::from_slice(&third.stdout).unwrap();
    assert_eq!(third["blobs_written"], 0, "{third}");
    assert!(third["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["action"] == "skip"));

    // And back, into a fresh folder: the same diffs.
    let back = User::new(&sandbox);
    let back_store = format!("file://{}", back.store().display());
    aws.run(&["copy", "--to-store", &back_store]).ok();
    back.run(&["verify", "--all"]).ok();
    let args = [
        "diff", SCOPE, "--from", "big", "--to", "live", "--format", "json",
    ];
    assert_eq!(
        alice.run(&args).ok().json()["changes"],
        back.run(&args).ok().json()["changes"]
    );
}

/// The same contract into the archive branch of a repository (`git://`), through the
/// sandbox's Git Data API.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gitstore_conformance_portable_folder_to_git() {
    use backtrack::config::GitTarget;
    use backtrack::git::{GitArchive, GitOptions};
    use backtrack::tracker::WritePace;

    let sandbox = SandboxProc::start(&["--issues", "1", "--comments", "0"]);
    let git = |branch: &str| {
        let g = GitArchive::open(
            &GitTarget {
                owner: "acme".into(),
                repo: "widgets".into(),
                branch: branch.into(),
            },
            &GitOptions {
                api_url: sandbox.url.clone(),
                token: Some(crate::util::SANDBOX_TOKEN.to_string()),
                pace: WritePace::unpaced(),
            },
        )
        .unwrap();
        Archive::new(g.store, g.catalog)
    };
    let dir = tempfile::tempdir().unwrap();
    backtrack::conformance::portable(
        folder_pair(dir.path()),
        git("portable-import"),
        git("portable-copy"),
    )
    .await;
}

/// Archives are tracker-neutral: a Jira project's snapshot comes back whole too.
#[test]
fn portable_jira_snapshot_round_trips() {
    let sandbox = SandboxProc::start(&[
        "--tracker",
        "jira",
        "--project",
        "PROJ",
        "--issues",
        "20",
        "--epics",
        "2",
    ]);
    let users = [User::new(&sandbox), User::new(&sandbox)];
    let run = |user: &User, args: &[&str]| {
        let out = user
            .command(args)
            .env("JIRA_BASE_URL", &sandbox.url)
            .env("JIRA_API_TOKEN", crate::util::SANDBOX_TOKEN)
            .env("JIRA_EMAIL", "tester@example.com")
            .env_remove("BACKTRACK_JIRA_FLAVOR")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    run(
        &users[0],
        &["snapshot", "create", "jira:PROJ", "--name", "j1"],
    );
    let file = users[0].home.path().join("proj.btar");
    let file = file.to_str().unwrap();
    run(&users[0], &["export", "jira:PROJ", "-o", file]);
    run(&users[1], &["import", file, "--execute"]);
    run(&users[1], &["verify", "--all"]);
    let shown: Vec<Value> = users
        .iter()
        .map(|u| serde_json::from_str(&run(u, &["--json", "snapshot", "show", "j1"])).unwrap())
        .collect();
    assert_eq!(shown[0]["id"], shown[1]["id"]);
    assert_eq!(shown[0]["counts"], shown[1]["counts"]);
    assert!(
        shown[1]["counts"]["comments"].as_u64().unwrap() > 0,
        "{}",
        shown[1]
    );
    let diffs: Vec<Value> = users
        .iter()
        .map(|u| {
            serde_json::from_str(&run(
                u,
                &[
                    "diff",
                    "jira:PROJ",
                    "--from",
                    "j1",
                    "--to",
                    "live",
                    "--format",
                    "json",
                ],
            ))
            .unwrap()
        })
        .collect();
    assert_eq!(diffs[0]["changes"], diffs[1]["changes"]);
}
