//! Issue 15 item 5 acceptance: client-side encryption. An encrypted store on the folder
//! backend and on S3 (moto): snapshot, diff, rollback and its undo work with the passphrase;
//! no stored object holds a planted title, body, label or comment (checked raw and after any
//! zstd decoding, with a plain store as the control that the scan finds them); equal blobs in
//! two stores with different keys get different names; without or with a wrong passphrase
//! every command fails clearly and writes nothing; a flipped byte is named by `verify`;
//! `export` refuses plaintext without `--decrypt`; `key passwd` and key files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use backtrack::store::S3Store;
use backtrack::ObjectStore;
use serde_json::{json, Value};

use crate::aws::AwsUser;
use crate::util::{Run, SandboxProc, User};

const SCOPE: &str = "github:acme/widgets";
const REPO: &str = "/repos/acme/widgets";
pub(crate) const PASS: &str = "correct horse battery staple";
const FAST: [&str; 2] = ["--write-interval-ms", "0"];
/// Cheap Argon2id for tests (the defaults cost a second per command in a debug build).
pub(crate) const KDF: [&str; 4] = ["--argon2-memory-kib", "8192", "--argon2-iterations", "1"];
/// Distinctive plaintext planted in the tracker; none may reach an encrypted store.
pub(crate) const PLANTED: [&str; 5] = [
    "ZEBRA-TITLE-9f3a",
    "ZEBRA-BODY-41c7",
    "ZEBRA-LABEL-77e2",
    "ZEBRA-COMMENT-2b9d",
    "ZEBRA-WRECKED-5e0c",
];

/// Plants a label, an issue and a comment carrying the [`PLANTED`] strings; the issue number.
pub(crate) fn plant(sandbox: &SandboxProc) -> u64 {
    let (status, body) = sandbox.api(
        "POST",
        &format!("{REPO}/labels"),
        Some(json!({"name": PLANTED[2], "color": "ff0000"})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, issue) = sandbox.api(
        "POST",
        &format!("{REPO}/issues"),
        Some(json!({"title": PLANTED[0], "body": PLANTED[1], "labels": [PLANTED[2]]})),
    );
    assert_eq!(status, 201, "{issue}");
    let number = issue["number"].as_u64().unwrap();
    let (status, body) = sandbox.api(
        "POST",
        &format!("{REPO}/issues/{number}/comments"),
        Some(json!({"body": PLANTED[3]})),
    );
    assert_eq!(status, 201, "{body}");
    number
}

pub(crate) fn title(sandbox: &SandboxProc, number: u64) -> String {
    let (_, issue) = sandbox.api("GET", &format!("{REPO}/issues/{number}"), None);
    issue["title"].as_str().unwrap().to_string()
}

/// `user`'s command with exactly the given passphrase (none: no secret at all).
fn run(user: &User, pass: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = user.command(args);
    for var in [
        "BACKTRACK_PASSPHRASE",
        "BACKTRACK_PASSPHRASE_FILE",
        "BACKTRACK_KEY_FILE",
        "BACKTRACK_NEW_PASSPHRASE",
    ] {
        cmd.env_remove(var);
    }
    if let Some(p) = pass {
        cmd.env("BACKTRACK_PASSPHRASE", p);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// Every file under `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    out
}

/// The planted strings found in `objects` (name → bytes): raw, and after zstd decoding with
/// no dictionary or any of the store's (`dicts/…`), so compression cannot hide plaintext.
pub(crate) fn plaintext_in(
    objects: &BTreeMap<String, Vec<u8>>,
) -> BTreeSet<(String, &'static str)> {
    let dicts: Vec<&Vec<u8>> = objects
        .iter()
        .filter(|(k, _)| k.starts_with("dicts/"))
        .map(|(_, v)| v)
        .collect();
    let mut found = BTreeSet::new();
    for (key, bytes) in objects {
        let mut views = vec![bytes.clone()];
        if let Ok(plain) = zstd::stream::decode_all(&bytes[..]) {
            views.push(plain);
        }
        for dict in &dicts {
            if let Ok(mut d) = zstd::bulk::Decompressor::with_dictionary(dict) {
                if let Ok(plain) = d.decompress(bytes, 64 << 20) {
                    views.push(plain);
                }
            }
        }
        for view in &views {
            for needle in PLANTED {
                if view.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.insert((key.clone(), needle));
                }
            }
        }
    }
    found
}

/// A folder store's objects by key (`/`-separated, relative to the store root).
fn folder_objects(store: &Path) -> BTreeMap<String, Vec<u8>> {
    files(store)
        .into_iter()
        .map(|(p, b)| (p.to_string_lossy().replace('\\', "/"), b))
        .collect()
}

/// The file names of the blobs of a folder store.
fn blob_names(store: &Path) -> BTreeSet<String> {
    files(&store.join("blobs"))
        .keys()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect()
}

fn assert_refused(run: &Run, needles: &[&str]) {
    assert_eq!(run.code, 2, "expected exit 2: {run:?}");
    let err = run.stderr.trim();
    assert!(err.starts_with("error: "), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    }
    assert!(!err.contains(PASS), "the passphrase leaked: {err}");
}

fn init_encrypted(user: &User, pass: &str) -> Value {
    let mut args = vec!["--json", "init", "--encrypt"];
    args.extend(KDF);
    run(user, Some(pass), &args).ok().json()
}

#[test]
fn encrypted_folder_store_snapshots_diffs_rolls_back_and_leaks_nothing() {
    let sandbox = SandboxProc::start(&["--issues", "15", "--comments", "30", "--seed", "21"]);
    let number = plant(&sandbox);
    let user = User::new(&sandbox);
    let store = user.store();

    // No passphrase: refused before anything exists.
    let refused = run(&user, None, &["init", "--encrypt"]);
    assert_refused(&refused, &["needs a passphrase", "BACKTRACK_PASSPHRASE"]);
    assert!(!store.exists(), "nothing was created");

    let init = init_encrypted(&user, PASS);
    let key = init["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "key")
        .unwrap_or_else(|| panic!("{init}"));
    assert_eq!(key["action"], "created", "{init}");
    let keys = run(&user, Some(PASS), &["--json", "key", "list"])
        .ok()
        .json();
    assert_eq!(keys["slots"].as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(keys["slots"][0]["kind"], "passphrase");
    assert_eq!(keys["slots"][0]["argon2id"]["memory_kib"], 8192);

    let snap = run(
        &user,
        Some(PASS),
        &["--json", "snapshot", "create", SCOPE, "--name", "good"],
    )
    .ok()
    .json();
    assert_eq!(snap["status"], "completed", "{snap}");
    assert!(snap["counts"]["issues"].as_u64().unwrap() >= 16, "{snap}");

    // Someone wrecks the planted issue; diff and rollback see through the encryption.
    let (status, _) = sandbox.api(
        "PATCH",
        &format!("{REPO}/issues/{number}"),
        Some(json!({"title": PLANTED[4]})),
    );
    assert_eq!(status, 200);
    let diff = run(
        &user,
        Some(PASS),
        &["diff", SCOPE, "--format", "json", "--exit-code"],
    );
    assert_eq!(diff.code, 1, "{diff:?}");
    assert!(diff.stdout.contains(PLANTED[0]) && diff.stdout.contains(PLANTED[4]));
    let mut args = vec![
        "--json",
        "rollback",
        SCOPE,
        "--to",
        "good",
        "--execute",
        "--yes",
    ];
    args.extend(FAST);
    let report = run(&user, Some(PASS), &args).ok().json();
    assert_eq!(report["verification"]["clean"], true, "{report}");
    assert_eq!(title(&sandbox, number), PLANTED[0]);
    let pre = report["pre_rollback_snapshot"]
        .as_str()
        .unwrap()
        .to_string();
    let mut args = vec!["--json", "restore", pre.as_str(), "--execute", "--yes"];
    args.extend(FAST);
    let undo = run(&user, Some(PASS), &args).ok().json();
    assert_eq!(undo["verification"]["clean"], true, "{undo}");
    assert_eq!(title(&sandbox, number), PLANTED[4], "the undo");
    let verify = run(&user, Some(PASS), &["--json", "verify", "--all"])
        .ok()
        .json();
    assert_eq!(verify["problems"], json!([]), "{verify}");
    assert!(verify["snapshots"].as_u64().unwrap_or(3) >= 3, "{verify}");

    // Every object: sealed, and no plaintext raw or decompressed. Only the encryption
    // settings and key slots are readable, and hold no content.
    let objects = folder_objects(&store);
    let (mut sealed, mut other) = (0, Vec::new());
    for (key, bytes) in &objects {
        if key.starts_with("catalog.sqlite") {
            continue;
        }
        if bytes.starts_with(b"BTE1") {
            sealed += 1;
        } else if key != "encryption" && !key.starts_with("keys/") && !key.starts_with('.') {
            other.push(key.clone());
        }
    }
    assert!(other.is_empty(), "unsealed objects: {other:?}");
    assert!(sealed > 40, "{sealed} sealed objects");
    assert!(
        objects.keys().any(|k| k.starts_with("jobs/")),
        "the rollback's plan is stored"
    );
    let leaks = plaintext_in(&objects);
    assert!(leaks.is_empty(), "plaintext in the store: {leaks:?}");

    // The control: the same scan finds every planted string in a plain store.
    let plain = User::new(&sandbox);
    run(&plain, None, &["snapshot", "create", SCOPE]).ok();
    let found: BTreeSet<&str> = plaintext_in(&folder_objects(&plain.store()))
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert!(
        PLANTED[1..].iter().all(|p| found.contains(p)),
        "the scan finds plaintext in a plain store: {found:?}"
    );

    // Equal records, different keys: no blob name in common (nor with the plain store).
    let other = User::new(&sandbox);
    init_encrypted(&other, "another passphrase entirely");
    run(
        &other,
        Some("another passphrase entirely"),
        &["snapshot", "create", SCOPE],
    )
    .ok();
    let (a, b, p) = (
        blob_names(&store),
        blob_names(&other.store()),
        blob_names(&plain.store()),
    );
    assert!(
        a.len() > 10 && b.len() > 10 && p.len() > 10,
        "{} {} {}",
        a.len(),
        b.len(),
        p.len()
    );
    assert_eq!(a.intersection(&b).count(), 0, "two keys share blob names");
    assert_eq!(
        a.intersection(&p).count(),
        0,
        "encrypted names reveal content hashes"
    );

    // Export: encrypted unless plaintext is asked for (see the next test); the plaintext
    // file imported into another encrypted store is sealed again.
    let file = user.home.path().join("out.btar");
    let file_arg = file.to_str().unwrap();
    let sealed = run(&user, Some(PASS), &["--json", "export", "-o", file_arg])
        .ok()
        .json();
    assert!(sealed["encrypted_with"].is_string(), "{sealed}");
    run(&user, Some(PASS), &["export", "--decrypt", "-o", file_arg]).ok();
    let imported = run(
        &other,
        Some("another passphrase entirely"),
        &[
            "--json",
            "import",
            file_arg,
            "--on-duplicate",
            "skip",
            "--execute",
        ],
    )
    .ok()
    .json();
    assert!(imported.to_string().contains("good"), "{imported}");
    run(
        &other,
        Some("another passphrase entirely"),
        &["verify", "--all"],
    )
    .ok();
    let leaks = plaintext_in(&folder_objects(&other.store()));
    assert!(leaks.is_empty(), "import wrote plaintext: {leaks:?}");
}

#[test]
fn locked_encrypted_store_refuses_every_command_and_writes_nothing() {
    let sandbox = SandboxProc::start(&["--issues", "6", "--comments", "10", "--seed", "22"]);
    let user = User::new(&sandbox);
    init_encrypted(&user, PASS);
    run(
        &user,
        Some(PASS),
        &["snapshot", "create", SCOPE, "--name", "good"],
    )
    .ok();
    let before = files(&user.store());
    let export = user.home.path().join("x.btar");
    let commands: Vec<Vec<&str>> = vec![
        vec!["snapshot", "list"],
        vec!["snapshot", "show", "good"],
        vec!["snapshot", "create", SCOPE],
        vec!["diff", SCOPE],
        vec!["rollback", SCOPE, "--to", "good", "--execute", "--yes"],
        vec!["verify", "--all"],
        vec!["prune", SCOPE, "--keep-last", "1", "--execute"],
        vec!["export", "--decrypt", "-o", export.to_str().unwrap()],
    ];
    for args in &commands {
        let locked = run(&user, None, args);
        assert_refused(&locked, &["is encrypted", "BACKTRACK_PASSPHRASE"]);
        let wrong = run(&user, Some("not the passphrase"), args);
        assert_refused(&wrong, &["passphrase does not open"]);
    }
    assert_eq!(files(&user.store()), before, "nothing was written");
    assert!(!export.exists());

    // A key file opens it instead; a key file that does not match is named.
    let key_file = user.home.path().join("store.key");
    let added = run(
        &user,
        Some(PASS),
        &["--json", "key", "add-file", key_file.to_str().unwrap()],
    )
    .ok()
    .json();
    assert_eq!(added["slots"].as_array().unwrap().len(), 2, "{added}");
    let by_file = run(
        &user,
        None,
        &["--key-file", key_file.to_str().unwrap(), "snapshot", "list"],
    )
    .ok();
    assert!(by_file.stdout.contains("good"), "{by_file:?}");
    let stranger = user.home.path().join("other.key");
    std::fs::write(
        &stranger,
        "backtrack-key-file-v1:c29tZXRoaW5nIGVsc2UgZW50aXJlbHkgZGlmZmVyZW50IGhlcmU=\n",
    )
    .unwrap();
    let before = files(&user.store());
    let wrong = run(
        &user,
        None,
        &[
            "--key-file",
            stranger.to_str().unwrap(),
            "snapshot",
            "create",
            SCOPE,
        ],
    );
    assert_refused(&wrong, &["key file", "does not open"]);
    assert_eq!(files(&user.store()), before, "nothing was written");

    // passwd: the old passphrase is refused after, the new one works, data unchanged.
    let mut cmd = user.command(&[
        "key",
        "passwd",
        "--argon2-memory-kib",
        "8192",
        "--argon2-iterations",
        "1",
    ]);
    cmd.env("BACKTRACK_PASSPHRASE", PASS)
        .env("BACKTRACK_NEW_PASSPHRASE", "the new one");
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_refused(
        &run(&user, Some(PASS), &["snapshot", "list"]),
        &["does not open"],
    );
    let list = run(&user, Some("the new one"), &["snapshot", "list"]).ok();
    assert!(list.stdout.contains("good"), "{list:?}");

    // A plain store is not mistaken for an encrypted one, nor written to as one.
    let plain = User::new(&sandbox);
    run(&plain, None, &["snapshot", "create", SCOPE]).ok();
    let before = files(&plain.store());
    assert_refused(
        &run(&plain, Some(PASS), &["snapshot", "create", SCOPE]),
        &["is not encrypted", "init --encrypt"],
    );
    assert_eq!(files(&plain.store()), before);
    // ...and `init --encrypt` does not encrypt a store that already holds plain objects.
    assert_refused(
        &run(&plain, Some(PASS), &["init", "--encrypt"]),
        &["unencrypted object", "backtrack copy"],
    );
}

#[test]
fn a_flipped_byte_in_an_encrypted_object_is_named_by_verify() {
    let sandbox = SandboxProc::start(&["--issues", "8", "--comments", "10", "--seed", "23"]);
    let user = User::new(&sandbox);
    init_encrypted(&user, PASS);
    run(
        &user,
        Some(PASS),
        &["snapshot", "create", SCOPE, "--name", "good"],
    )
    .ok();
    run(&user, Some(PASS), &["verify", "--all"]).ok();
    // The largest blob is a record's, not an entry table.
    let blobs = files(&user.store().join("blobs"));
    let (rel, bytes) = blobs.iter().max_by_key(|(_, b)| b.len()).unwrap();
    let name = rel.file_name().unwrap().to_string_lossy().to_string();
    let path = user.store().join("blobs").join(rel);
    let mut bytes = bytes.clone();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    let verify = run(&user, Some(PASS), &["verify", "--all"]);
    assert_ne!(verify.code, 0, "{verify:?}");
    let out = format!("{}{}", verify.stdout, verify.stderr);
    assert!(
        out.contains(&name),
        "verify names the stored object {name}: {out}"
    );
    assert!(out.contains("fails authentication"), "{out}");
    // Reading it for a diff is refused the same way, naming it.
    let diff = run(&user, Some(PASS), &["diff", SCOPE, "--from", "good"]);
    assert_eq!(diff.code, 2, "{diff:?}");
    assert!(diff.stderr.contains(&name), "{}", diff.stderr);
}

#[test]
fn aws_encrypted_s3_store_round_trip_leaks_nothing_and_refuses_a_wrong_passphrase() {
    let sandbox = SandboxProc::start(&["--issues", "12", "--comments", "20", "--seed", "24"]);
    let number = plant(&sandbox);
    let user = AwsUser::new(&sandbox);
    let aws = |pass: Option<&str>, args: &[&str]| -> Run {
        let mut cmd = user.command(args);
        cmd.env_remove("BACKTRACK_PASSPHRASE");
        if let Some(p) = pass {
            cmd.env("BACKTRACK_PASSPHRASE", p);
        }
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    };
    let mut args = vec!["init", "--encrypt"];
    args.extend(KDF);
    aws(Some(PASS), &args).ok();
    aws(Some(PASS), &["snapshot", "create", SCOPE, "--name", "good"]).ok();
    let (status, _) = sandbox.api(
        "PATCH",
        &format!("{REPO}/issues/{number}"),
        Some(json!({"title": PLANTED[4]})),
    );
    assert_eq!(status, 200);
    let diff = aws(Some(PASS), &["diff", SCOPE, "--exit-code"]);
    assert_eq!(diff.code, 1, "{diff:?}");
    let mut args = vec![
        "--json",
        "rollback",
        SCOPE,
        "--to",
        "good",
        "--execute",
        "--yes",
    ];
    args.extend(FAST);
    let report = aws(Some(PASS), &args).ok().json();
    assert_eq!(report["verification"]["clean"], true, "{report}");
    assert_eq!(title(&sandbox, number), PLANTED[0]);
    let pre = report["pre_rollback_snapshot"]
        .as_str()
        .unwrap()
        .to_string();
    let mut args = vec!["restore", pre.as_str(), "--execute", "--yes"];
    args.extend(FAST);
    aws(Some(PASS), &args).ok();
    assert_eq!(title(&sandbox, number), PLANTED[4], "the undo");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bucket = |rt: &tokio::runtime::Runtime| -> BTreeMap<String, Vec<u8>> {
        rt.block_on(async {
            let store: Arc<dyn ObjectStore> =
                Arc::new(S3Store::from_url(&user.store).await.unwrap());
            let mut out = BTreeMap::new();
            for o in store.list("").await.unwrap() {
                let bytes = store.get(&o.key).await.unwrap();
                out.insert(o.key, bytes.to_vec());
            }
            out
        })
    };
    let objects = bucket(&rt);
    assert!(objects.len() > 30, "{} objects", objects.len());
    let unsealed: Vec<&String> = objects
        .iter()
        .filter(|(k, b)| !b.starts_with(b"BTE1") && *k != "encryption" && !k.starts_with("keys/"))
        .map(|(k, _)| k)
        .collect();
    assert!(unsealed.is_empty(), "unsealed objects on S3: {unsealed:?}");
    let leaks = plaintext_in(&objects);
    assert!(leaks.is_empty(), "plaintext on S3: {leaks:?}");

    // Wrong or no passphrase: refused, not one object more or changed.
    for args in [
        vec!["snapshot", "create", SCOPE],
        vec!["diff", SCOPE],
        vec!["rollback", SCOPE, "--to", "good", "--execute", "--yes"],
        vec!["verify", "--all"],
    ] {
        assert_refused(&aws(None, &args), &["is encrypted"]);
        assert_refused(&aws(Some("wrong"), &args), &["passphrase does not open"]);
    }
    assert_eq!(bucket(&rt), objects, "nothing was written");

    // A flipped byte in one object on S3 is named by verify.
    let victim = objects
        .keys()
        .find(|k| k.starts_with("blobs/"))
        .unwrap()
        .clone();
    rt.block_on(async {
        let store = S3Store::from_url(&user.store).await.unwrap();
        let mut bytes = objects[&victim].clone();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        store.delete(&victim).await.unwrap();
        store.put(&victim, bytes.into()).await.unwrap();
    });
    let verify = aws(Some(PASS), &["verify", "--all"]);
    assert_ne!(verify.code, 0, "{verify:?}");
    let name = victim.rsplit('/').next().unwrap();
    let out = format!("{}{}", verify.stdout, verify.stderr);
    assert!(out.contains(name), "verify names {name}: {out}");
}

/// Every object of a folder store but its catalog (SQLite files beside the objects).
fn objects_only(store: &Path) -> BTreeMap<String, Vec<u8>> {
    folder_objects(store)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("catalog.sqlite") && !k.starts_with('.'))
        .collect()
}

/// `import FILE` into `user`'s store with `pass`, as JSON when it succeeds.
fn import(user: &User, pass: Option<&str>, file: &str, extra: &[&str]) -> Run {
    let mut args = vec!["--json", "import", file];
    args.extend(extra);
    run(user, pass, &args)
}

fn assert_import_refused(run: &Run, needles: &[&str]) {
    assert_eq!(run.code, 3, "expected a refusal (exit 3): {run:?}");
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "{:?} should mention {needle:?}",
            run.stderr
        );
    }
    assert!(
        !run.stderr.contains(PASS),
        "the passphrase leaked: {}",
        run.stderr
    );
}

#[test]
fn an_encrypted_store_exports_an_encrypted_archive_that_only_its_key_imports() {
    let sandbox = SandboxProc::start(&["--issues", "12", "--comments", "24", "--seed", "25"]);
    plant(&sandbox);
    let user = User::new(&sandbox);
    init_encrypted(&user, PASS);
    run(
        &user,
        Some(PASS),
        &["snapshot", "create", SCOPE, "--name", "good"],
    )
    .ok();
    run(
        &user,
        Some(PASS),
        &["snapshot", "create", SCOPE, "--name", "later"],
    )
    .ok();
    let source_keys = run(&user, Some(PASS), &["--json", "key", "list"])
        .ok()
        .json();

    // Export without --decrypt: the archive stays encrypted under the store's key.
    let file = user.home.path().join("sealed.btar");
    let file_arg = file.to_str().unwrap();
    let report = run(&user, Some(PASS), &["--json", "export", "-o", file_arg])
        .ok()
        .json();
    let key_id = report["encrypted_with"]
        .as_str()
        .unwrap_or_else(|| panic!("{report}"))
        .to_string();
    assert_eq!(report["snapshots"].as_array().unwrap().len(), 2, "{report}");
    let bytes = std::fs::read(&file).unwrap();
    let header_end = bytes.iter().skip(18).position(|b| *b == b'\n').unwrap() + 18;
    let header: Value = serde_json::from_slice(&bytes[18..header_end]).unwrap();
    assert_eq!(
        header["encryption"]["scheme"], "backtrack-stream-v1",
        "{header}"
    );
    assert_eq!(header["encryption"]["key_id"], key_id.as_str());
    assert_eq!(
        header["encryption"]["slots"].as_array().unwrap().len(),
        source_keys["slots"].as_array().unwrap().len()
    );
    let leaks = plaintext_in(&BTreeMap::from([(
        "the archive".to_string(),
        bytes.clone(),
    )]));
    assert!(
        leaks.is_empty(),
        "plaintext in the encrypted archive: {leaks:?}"
    );
    // The control: the --decrypt export holds it in plaintext (once decompressed).
    let plain_file = user.home.path().join("plain.btar");
    let plain_arg = plain_file.to_str().unwrap();
    run(&user, Some(PASS), &["export", "--decrypt", "-o", plain_arg]).ok();
    let plain_bytes = std::fs::read(&plain_file).unwrap();
    let body = &plain_bytes[plain_bytes
        .iter()
        .skip(18)
        .position(|b| *b == b'\n')
        .unwrap()
        + 19..plain_bytes.len() - 32];
    let found = plaintext_in(&BTreeMap::from([("plain".to_string(), body.to_vec())]));
    assert!(
        found.len() >= 4,
        "the scan finds a --decrypt export's plaintext: {found:?}"
    );

    // Into an empty store with the source's passphrase: previewed, then the store becomes
    // encrypted with the same key (same key slots, same blob names), every object sealed.
    let fresh = User::new(&sandbox);
    let preview = import(&fresh, Some(PASS), file_arg, &[]).ok().json();
    assert_eq!(preview["executed"], false, "{preview}");
    assert_eq!(preview["encrypts_store"], true, "{preview}");
    assert!(
        objects_only(&fresh.store()).is_empty(),
        "the preview wrote objects"
    );
    let done = import(&fresh, Some(PASS), file_arg, &["--execute"])
        .ok()
        .json();
    assert_eq!(done["executed"], true, "{done}");
    assert_eq!(done["encrypted_with"], key_id.as_str(), "{done}");
    let keys = run(&fresh, Some(PASS), &["--json", "key", "list"])
        .ok()
        .json();
    assert_eq!(keys["slots"], source_keys["slots"], "the same key slots");
    // The same key names records alike (the source also holds its activity logs and entry
    // tables, which archives do not carry).
    let (imported, source) = (blob_names(&fresh.store()), blob_names(&user.store()));
    assert!(imported.len() > 10, "{} blobs", imported.len());
    assert!(
        imported.is_subset(&source),
        "the same key names blobs alike"
    );
    let objects = objects_only(&fresh.store());
    let unsealed: Vec<&String> = objects
        .iter()
        .filter(|(k, b)| !b.starts_with(b"BTE1") && *k != "encryption" && !k.starts_with("keys/"))
        .map(|(k, _)| k)
        .collect();
    assert!(unsealed.is_empty(), "unsealed objects: {unsealed:?}");
    assert!(plaintext_in(&objects).is_empty());
    run(&fresh, Some(PASS), &["verify", "--all"]).ok();
    let list = run(&fresh, Some(PASS), &["snapshot", "list"]).ok();
    assert!(
        list.stdout.contains("good") && list.stdout.contains("later"),
        "{}",
        list.stdout
    );
    assert_refused(&run(&fresh, None, &["snapshot", "list"]), &["is encrypted"]);
    // Back into the store it came from (same key): everything is already there.
    let again = import(
        &user,
        Some(PASS),
        file_arg,
        &["--on-duplicate", "skip", "--execute"],
    )
    .ok()
    .json();
    assert_eq!(again["blobs_written"], 0, "{again}");

    // Refused, naming why, and writing nothing: no secret, a wrong one, another key, a
    // plain store with snapshots, a flipped byte, a checksum recomputed over altered bytes.
    let empty = User::new(&sandbox);
    assert_import_refused(
        &import(&empty, None, file_arg, &["--execute"]),
        &["is encrypted", "passphrase"],
    );
    assert!(objects_only(&empty.store()).is_empty());
    let wrong = import(&empty, Some("not the passphrase"), file_arg, &["--execute"]);
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert!(
        wrong.stderr.contains("passphrase does not open"),
        "{}",
        wrong.stderr
    );
    assert!(objects_only(&empty.store()).is_empty());

    let other = User::new(&sandbox);
    init_encrypted(&other, "another passphrase entirely");
    run(
        &other,
        Some("another passphrase entirely"),
        &["snapshot", "create", SCOPE],
    )
    .ok();
    let before = files(&other.store());
    assert_import_refused(
        &import(
            &other,
            Some("another passphrase entirely"),
            file_arg,
            &["--execute", "--on-duplicate", "skip"],
        ),
        &["is encrypted with key", &key_id, "--decrypt"],
    );
    assert_eq!(files(&other.store()), before);

    let plain = User::new(&sandbox);
    run(&plain, None, &["snapshot", "create", SCOPE]).ok();
    let before = files(&plain.store());
    assert_import_refused(
        &import(&plain, None, file_arg, &["--execute"]),
        &["unencrypted store that holds snapshots", "--decrypt"],
    );
    assert_eq!(files(&plain.store()), before);
    // The plaintext export goes into the plain store as before.
    import(
        &plain,
        None,
        plain_arg,
        &["--on-duplicate", "skip", "--execute"],
    )
    .ok();

    let target = User::new(&sandbox);
    let mut flipped = bytes.clone();
    let mid = header_end + (bytes.len() - header_end) / 2;
    flipped[mid] ^= 0x04;
    let flipped_file = user.home.path().join("flipped.btar");
    std::fs::write(&flipped_file, &flipped).unwrap();
    assert_import_refused(
        &import(
            &target,
            Some(PASS),
            flipped_file.to_str().unwrap(),
            &["--execute"],
        ),
        &["fails authentication", "nothing was written"],
    );
    // Altered, with the final checksum made to match: the encryption still refuses it.
    let n = flipped.len();
    let digest = backtrack::id::BlobId::of(&flipped[..n - 32]).to_hex();
    flipped[n - 32..].copy_from_slice(&hex_bytes(&digest));
    std::fs::write(&flipped_file, &flipped).unwrap();
    assert_import_refused(
        &import(
            &target,
            Some(PASS),
            flipped_file.to_str().unwrap(),
            &["--execute"],
        ),
        &["fails authentication"],
    );
    assert!(
        objects_only(&target.store()).is_empty(),
        "a refused import wrote"
    );
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}
