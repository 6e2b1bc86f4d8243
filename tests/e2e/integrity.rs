//! Issue 21, items 2–5: no silent loss. Every object is checked against a hash held apart
//! from it, damage never spreads into a new snapshot, `verify` names every snapshot that
//! cannot be restored, and a damaged dictionary is an error, never a panic.
//!
//! Stores are populated by the real binary from `backtrack sandbox`, then damaged behind its
//! back the way a disk, a sync tool or a person would.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use backtrack::catalog::SqliteCatalog;
use backtrack::snapshot::Archive;
use backtrack::store::LocalStore;
use backtrack::{BlobId, ObjectStore, SnapshotId};
use serde_json::{json, Value};

use crate::util::{Run, SandboxProc, User};

const SCOPE: &str = "github:acme/widgets";
const REPO: &str = "/repos/acme/widgets";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The user's folder store and SQLite catalog, opened by the library (read-only use).
fn archive(user: &User) -> Archive {
    let store = LocalStore::open(user.store()).unwrap();
    let catalog = SqliteCatalog::open(&user.store().join("catalog.sqlite")).unwrap();
    Archive::new(Arc::new(store), Arc::new(catalog))
}

fn snapshot(user: &User, extra: &[&str]) -> Value {
    let mut args = vec!["--json", "snapshot", "create", SCOPE];
    args.extend_from_slice(extra);
    user.run(&args).ok().json()
}

fn id_of(report: &Value) -> String {
    report["id"].as_str().unwrap().to_string()
}

fn edit_issue(sandbox: &SandboxProc, n: u64, title: &str) {
    let (status, body) = sandbox.api(
        "PATCH",
        &format!("{REPO}/issues/{n}"),
        Some(json!({ "title": title })),
    );
    assert_eq!(status, 200, "{body}");
}

/// Every file under `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A failed command printed one `error:` line, and did not panic.
fn assert_one_line_error(run: &Run, needles: &[&str]) {
    assert_eq!(run.code, 2, "expected exit 2 (not a panic's 101): {run:?}");
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr: {}",
        run.stderr
    );
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "{:?} should mention {needle:?}",
            lines[0]
        );
    }
}

fn ids(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// Issue 21, item 2: every single-bit flip of a manifest and of an entry table (full and
/// delta) is caught before the object is used. The flips run through the library's reader
/// over a copy of the objects the binary wrote (held in memory, so thousands of reads take
/// a few seconds); a spread of them also through `backtrack verify` on the real store, which
/// must name the snapshot each time.
#[test]
fn integrity_every_bit_flip_of_a_manifest_and_an_entry_table_is_detected() {
    let sandbox = SandboxProc::start(&["--issues", "3", "--comments", "4", "--seed", "5"]);
    let user = User::new(&sandbox);
    let first = id_of(&snapshot(&user, &[]));
    edit_issue(&sandbox, 2, "a changed title");
    let second = id_of(&snapshot(&user, &[]));
    let rt = runtime();
    let on_disk = archive(&user);
    let (entry, manifest) = rt.block_on(async {
        let entry = on_disk.resolve(None, &second).await.unwrap();
        let manifest = on_disk.load_manifest(&entry).await.unwrap();
        (entry, manifest)
    });
    assert_eq!(manifest.tables.len(), 2, "a delta table on a full one");
    let keys: Vec<String> = std::iter::once(entry.manifest_key.clone())
        .chain(manifest.tables.iter().map(|t| t.key()))
        .collect();
    let memory = Arc::new(backtrack::store::MemoryStore::new());
    let in_memory = Archive::new(memory.clone(), on_disk.raw_catalog().clone());
    let put = |key: &str, bytes: &[u8]| {
        rt.block_on(async {
            memory.delete(key).await.unwrap();
            memory
                .put(key, bytes::Bytes::copy_from_slice(bytes))
                .await
                .unwrap();
        })
    };
    let originals: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| std::fs::read(user.store().join(k)).unwrap())
        .collect();
    for (key, bytes) in keys.iter().zip(&originals) {
        put(key, bytes);
    }
    rt.block_on(in_memory.load_manifest(&entry)).unwrap();

    let started = Instant::now();
    let mut flips = BTreeMap::new();
    for (key, good) in keys.iter().zip(&originals) {
        let mut detected = 0;
        for bit in 0..good.len() * 8 {
            let mut flipped = good.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            put(key, &flipped);
            match rt.block_on(in_memory.load_manifest(&entry)) {
                Err(e) if e.is_damage() => detected += 1,
                other => panic!("bit {bit} of {key} went unnoticed: {other:?}"),
            }
        }
        put(key, good);
        flips.insert(key.clone(), (good.len() * 8, detected));

        // Through the CLI on the real store for a spread of flips: exit 2, snapshot named.
        let path = user.store().join(key);
        for bit in (0..good.len() * 8).step_by(good.len() * 8 / 3 + 1) {
            let mut flipped = good.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            std::fs::write(&path, &flipped).unwrap();
            let run = user.run(&["--json", "verify", "--all"]);
            assert_eq!(run.code, 2, "bit {bit} of {key}: {run:?}");
            assert!(
                ids(&run.json()["unrestorable"]).contains(&second),
                "{run:?}"
            );
        }
        std::fs::write(&path, good).unwrap();
    }
    eprintln!(
        "bit flips (tried, detected) per object: {flips:?} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let clean = user.run(&["--json", "verify", "--all"]).ok().json();
    assert_eq!(ids(&clean["restorable"]), BTreeSet::from([first, second]));
}

/// Issue 21, item 3: an incremental capture on a parent missing one blob must not complete
/// carrying the damage. It notices, lists everything instead, says so, and the snapshot it
/// completes verifies clean (writing the missing blob again also mends the parent).
#[test]
fn integrity_a_parent_missing_a_blob_yields_a_full_capture_that_verifies() {
    let sandbox = SandboxProc::start(&["--issues", "20", "--comments", "40"]);
    let user = User::new(&sandbox);
    let parent = id_of(&snapshot(&user, &[]));
    let rt = runtime();
    let archive = archive(&user);
    let victim = rt.block_on(async {
        let entry = archive.resolve(None, &parent).await.unwrap();
        let m = archive.load_manifest(&entry).await.unwrap();
        m.entries[7].blob.key()
    });
    std::fs::remove_file(user.store().join(&victim)).unwrap();
    assert_eq!(user.run(&["verify", "--all"]).code, 2);
    edit_issue(&sandbox, 4, "edited after the damage");

    let child = snapshot(&user, &[]);
    assert_eq!(child["status"], "completed", "{child}");
    assert_eq!(child["mode"], "full", "{child}");
    assert_eq!(child["fallback"]["parent"], parent.as_str(), "{child}");
    let reason = child["fallback"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("missing") && reason.contains(&victim),
        "{reason}"
    );
    let report = user.run(&["--json", "verify", "--all"]).ok().json();
    assert_eq!(report["damaged"], json!([]), "{report}");
    assert_eq!(ids(&report["restorable"]).len(), 2, "{report}");

    // In people's words too, and the next capture builds on the mended chain again.
    edit_issue(&sandbox, 5, "another edit");
    let next = user.run(&["snapshot", "create", SCOPE]).ok();
    assert!(next.stdout.contains("incremental"), "{}", next.stdout);
}

/// Issue 21, items 3 and 5: a truncated dictionary is a one-line error (never a panic) in
/// verify, diff and rollback; `snapshot create` does not build on it but takes a full
/// snapshot, says why, and rewrites the blobs that needed it, so that snapshot verifies.
#[test]
fn integrity_a_truncated_dictionary_is_an_error_and_never_a_damaged_child() {
    // Enough records (~300 kB) for the scope to train a dictionary.
    let sandbox = SandboxProc::start(&["--issues", "80", "--comments", "120", "--seed", "8"]);
    let user = User::new(&sandbox);
    let first = id_of(&snapshot(&user, &[]));
    edit_issue(&sandbox, 3, "edited");
    let second = id_of(&snapshot(&user, &[]));
    let dicts = files(&user.store().join("dicts"));
    assert_eq!(dicts.len(), 1, "the scope trained a dictionary: {dicts:?}");
    let dict_key = format!("dicts/{}", dicts[0].file_name().unwrap().to_str().unwrap());
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&dicts[0])
        .unwrap();
    file.set_len(10).unwrap();
    drop(file);

    let verify = user.run(&["--json", "verify", "--all"]);
    assert_eq!(verify.code, 2, "{verify:?}");
    assert!(!verify.stderr.contains("panicked"), "{}", verify.stderr);
    let report = verify.json();
    assert_eq!(report["damaged"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["damaged"][0]["key"], dict_key.as_str());
    assert_eq!(report["damaged"][0]["kind"], "dictionary");
    assert_eq!(
        ids(&report["unrestorable"]),
        BTreeSet::from([first.clone(), second.clone()])
    );
    let text = user.run(&["verify", "--all"]);
    assert!(text.stdout.contains(&dict_key), "{}", text.stdout);
    assert_one_line_error(&text, &["damaged object"]);
    assert_one_line_error(
        &user.run(&["diff", SCOPE, "--from", &first, "--to", "live"]),
        &[&dict_key],
    );
    assert_one_line_error(
        &user.run(&["diff", SCOPE, "--from", &first, "--to", &second]),
        &[&dict_key],
    );
    assert_one_line_error(
        &user.run(&["rollback", SCOPE, "--to", &first]),
        &[&dict_key],
    );

    let child = user.run(&["snapshot", "create", SCOPE]).ok();
    assert!(!child.stderr.contains("panicked"), "{}", child.stderr);
    assert!(child.stdout.contains("completed"), "{}", child.stdout);
    assert!(
        child.stdout.contains("not built on the parent") && child.stdout.contains(&dict_key),
        "the fallback is said: {}",
        child.stdout
    );
    let child_id = child.stdout.split_whitespace().nth(1).unwrap().to_string();
    let report = user.run(&["--json", "verify", &child_id]).ok().json();
    assert_eq!(report["damaged"], json!([]), "{report}");
    // The capture rewrote every blob it holds with a sound dictionary, which mends the
    // second snapshot (same records); the first still needs issue 3's old version, which
    // nothing can rewrite: verify says exactly that.
    let all = user.run(&["--json", "verify", "--all"]);
    assert_eq!(all.code, 2, "{all:?}");
    let all = all.json();
    assert_eq!(
        ids(&all["restorable"]),
        BTreeSet::from([second, child_id]),
        "{all}"
    );
    assert_eq!(ids(&all["unrestorable"]), BTreeSet::from([first]), "{all}");
}

/// Issue 21, item 4: a blob shared by two snapshots is charged to both, and the report says
/// which are restorable; rollback to either agrees.
#[test]
fn integrity_verify_names_both_snapshots_sharing_a_damaged_blob() {
    let sandbox = SandboxProc::start(&["--issues", "12", "--comments", "20"]);
    let user = User::new(&sandbox);
    let c1 = id_of(&snapshot(&user, &[]));
    let c2 = id_of(&snapshot(&user, &[]));
    edit_issue(&sandbox, 1, "only the newest has this");
    let c3 = id_of(&snapshot(&user, &[]));
    let rt = runtime();
    let archive = archive(&user);
    // Issue 1's first version is held by c1 and c2 (identical), not by c3.
    let only_old = rt.block_on(async {
        let e1 = archive.resolve(None, &c1).await.unwrap();
        let m1 = archive.load_manifest(&e1).await.unwrap();
        m1.entries
            .iter()
            .find(|e| e.key().to_string() == "issue:1")
            .unwrap()
            .blob
            .key()
    });
    let path = user.store().join(&only_old);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();

    let run = user.run(&["--json", "verify", "--all"]);
    assert_eq!(run.code, 2, "{run:?}");
    let report = run.json();
    let damaged = &report["damaged"][0];
    assert_eq!(damaged["key"], only_old.as_str());
    assert_eq!(
        ids(&damaged["snapshots"]),
        BTreeSet::from([c1.clone(), c2.clone()]),
        "charged to both snapshots holding it: {report}"
    );
    assert_eq!(
        ids(&report["unrestorable"]),
        BTreeSet::from([c1.clone(), c2.clone()])
    );
    assert_eq!(ids(&report["restorable"]), BTreeSet::from([c3.clone()]));
    let text = user.run(&["verify", "--all"]).stdout;
    assert!(text.contains("Cannot be restored whole (2)"), "{text}");
    assert!(text.contains(&format!("✓ {c3}")), "{text}");
    for c in [&c1, &c2] {
        let rollback = user.run(&["rollback", SCOPE, "--to", c]);
        assert_eq!(rollback.code, 2, "{rollback:?}");
        assert!(rollback.stderr.contains(&only_old), "{}", rollback.stderr);
    }
}

/// What each snapshot of a store needs, object by object (from the intact store).
struct Needs {
    snapshots: BTreeSet<String>,
    /// Object key → snapshots that need it.
    by_key: HashMap<String, BTreeSet<String>>,
    /// Object keys by kind, for picking victims.
    kinds: BTreeMap<&'static str, Vec<String>>,
    /// Record blob key → its id, for the decoding oracle.
    blob_ids: HashMap<String, BlobId>,
    pristine: HashMap<String, Vec<u8>>,
}

fn needs(user: &User, rt: &tokio::runtime::Runtime) -> Needs {
    let archive = archive(user);
    let mut n = Needs {
        snapshots: BTreeSet::new(),
        by_key: HashMap::new(),
        kinds: BTreeMap::new(),
        blob_ids: HashMap::new(),
        pristine: HashMap::new(),
    };
    let add = |n: &mut Needs, kind: &'static str, key: String, snap: &SnapshotId| {
        n.by_key
            .entry(key.clone())
            .or_default()
            .insert(snap.to_string());
        let list = n.kinds.entry(kind).or_default();
        if !list.contains(&key) {
            list.push(key);
        }
    };
    rt.block_on(async {
        for entry in archive.raw_catalog().list(None).await.unwrap() {
            let snap = entry.id;
            n.snapshots.insert(snap.to_string());
            let m = archive.load_manifest(&entry).await.unwrap();
            add(&mut n, "manifest", entry.manifest_key.clone(), &snap);
            for (i, t) in m.tables.iter().enumerate() {
                let kind = if i + 1 == m.tables.len() {
                    "full table"
                } else {
                    "delta table"
                };
                add(&mut n, kind, t.key(), &snap);
            }
            for e in &m.entries {
                let key = e.blob.key();
                n.blob_ids.insert(key.clone(), e.blob.clone());
                add(&mut n, "record", key.clone(), &snap);
                let bytes = std::fs::read(user.store().join(&key)).unwrap();
                if let Some(d) = backtrack::blob::frame_dictionary(&bytes) {
                    add(&mut n, "dictionary", format!("dicts/{d:08x}"), &snap);
                }
            }
        }
    });
    for key in n.by_key.keys() {
        n.pristine
            .insert(key.clone(), std::fs::read(user.store().join(key)).unwrap());
    }
    n
}

/// A small deterministic generator (splitmix64): the test needs no crate for this.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Whether a record blob, as the store now holds it, still decodes to its content: the
/// test's own oracle (raw zstd and SHA-256), so a corruption that happens to change nothing
/// is not counted as damage.
fn record_readable(
    store: &Path,
    key: &str,
    id: &BlobId,
    pristine: &HashMap<String, Vec<u8>>,
) -> bool {
    let Ok(bytes) = std::fs::read(store.join(key)) else {
        return false;
    };
    let dict = match zstd::zstd_safe::get_dict_id_from_frame(&bytes) {
        None => None,
        Some(d) => {
            let dict_key = format!("dicts/{:08x}", d.get());
            let Ok(current) = std::fs::read(store.join(&dict_key)) else {
                return false;
            };
            // Any change to a dictionary is damage: checked manifests record its hash.
            if pristine.get(&dict_key) != Some(&current) {
                return false;
            }
            Some(current)
        }
    };
    let decoded = match dict {
        Some(d) => zstd::bulk::Decompressor::with_dictionary(&d)
            .and_then(|mut dec| dec.decompress(&bytes, 16 << 20)),
        None => zstd::bulk::decompress(&bytes, 16 << 20),
    };
    decoded.is_ok_and(|plain| BlobId::of(&plain) == *id)
}

/// Issue 21 acceptance: random corruptions — truncation, bit flip, deletion, two objects
/// swapped — of every kind of object (record blobs, full and delta entry tables, manifests,
/// the dictionary) in a store written by real snapshots of the sandbox. Each round `verify`
/// must not panic, must name every snapshot that needs a damaged object as unrestorable, and
/// no other. `BACKTRACK_FUZZ_ROUNDS` (default 30) and `BACKTRACK_FUZZ_SEED` set the soak;
/// `bench/fuzz-verify` runs a long one on a release build.
#[test]
fn integrity_verify_fuzz_random_corruptions_of_every_object_kind() {
    let rounds: usize = std::env::var("BACKTRACK_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let seed: u64 = std::env::var("BACKTRACK_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_f022);
    let sandbox = SandboxProc::start(&["--issues", "80", "--comments", "120", "--seed", "13"]);
    let user = User::new(&sandbox);
    snapshot(&user, &[]);
    edit_issue(&sandbox, 5, "first edit");
    snapshot(&user, &[]);
    edit_issue(&sandbox, 6, "second edit");
    edit_issue(&sandbox, 5, "first edit, again");
    snapshot(&user, &[]);
    edit_issue(&sandbox, 7, "third edit");
    snapshot(&user, &["--full"]);
    let rt = runtime();
    let n = needs(&user, &rt);
    for kind in [
        "manifest",
        "full table",
        "delta table",
        "record",
        "dictionary",
    ] {
        assert!(
            n.kinds.contains_key(kind),
            "the store holds no {kind}: {:?}",
            n.kinds.keys()
        );
    }
    let kinds: Vec<&'static str> = n.kinds.keys().copied().collect();
    let store = user.store();
    let started = Instant::now();
    let mut tried: BTreeMap<String, usize> = BTreeMap::new();
    let mut rng = Rng(seed);
    let mut verify_runs = 0;
    for round in 0..rounds {
        let mut touched: BTreeSet<String> = BTreeSet::new();
        for _ in 0..1 + rng.below(3) {
            let kind = kinds[rng.below(kinds.len())];
            let victims = &n.kinds[kind];
            let key = victims[rng.below(victims.len())].clone();
            let path = store.join(&key);
            let how = ["truncate", "flip", "delete", "swap"][rng.below(4)];
            *tried.entry(format!("{how} {kind}")).or_default() += 1;
            match (how, std::fs::read(&path)) {
                ("truncate", Ok(bytes)) => {
                    std::fs::write(&path, &bytes[..rng.below(bytes.len().max(1))]).unwrap()
                }
                ("flip", Ok(mut bytes)) if !bytes.is_empty() => {
                    let bit = rng.below(bytes.len() * 8);
                    bytes[bit / 8] ^= 1 << (bit % 8);
                    std::fs::write(&path, bytes).unwrap();
                }
                ("delete", Ok(_)) => std::fs::remove_file(&path).unwrap(),
                ("swap", Ok(bytes)) => {
                    let other_kind = kinds[rng.below(kinds.len())];
                    let others = &n.kinds[other_kind];
                    let other = others[rng.below(others.len())].clone();
                    let other_path = store.join(&other);
                    if let Ok(other_bytes) = std::fs::read(&other_path) {
                        std::fs::write(&path, other_bytes).unwrap();
                        std::fs::write(&other_path, bytes).unwrap();
                        touched.insert(other);
                    }
                }
                _ => {}
            }
            touched.insert(key);
        }
        // Which snapshots are damaged now, by the test's own reckoning.
        let mut expected: BTreeSet<String> = BTreeSet::new();
        for key in n.by_key.keys() {
            let now = std::fs::read(store.join(key)).ok();
            let intact = match n.blob_ids.get(key) {
                // A record is damaged when it no longer decodes to its content (its
                // dictionary included); anything else when its bytes changed at all.
                Some(id) => record_readable(&store, key, id, &n.pristine),
                None => now.as_deref() == n.pristine.get(key).map(Vec::as_slice),
            };
            if !intact {
                expected.extend(n.by_key[key].iter().cloned());
            }
        }
        let run = user.run(&["--json", "verify", "--all"]);
        verify_runs += 1;
        assert!(
            run.code == 0 || run.code == 2,
            "round {round}: verify must not crash: {run:?}"
        );
        assert!(
            !run.stderr.contains("panicked"),
            "round {round}: {}",
            run.stderr
        );
        let report = run.json();
        assert_eq!(
            ids(&report["unrestorable"]),
            expected,
            "round {round} ({touched:?}): the damaged snapshots must be named, and only they: {report}"
        );
        assert_eq!(
            ids(&report["restorable"]),
            n.snapshots.difference(&expected).cloned().collect(),
            "round {round} ({touched:?}): {report}"
        );
        assert_eq!(run.code, if expected.is_empty() { 0 } else { 2 }, "{run:?}");
        // Put the store back as it was.
        for key in &touched {
            std::fs::write(store.join(key), &n.pristine[key]).unwrap();
        }
    }
    eprintln!(
        "fuzz: {rounds} rounds, {verify_runs} verify runs, {} corruptions ({tried:?}) in {:.1}s",
        tried.values().sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    user.run(&["verify", "--all"]).ok();
}

/// The S3 requests moto served for `bucket` so far, as `METHOD path?query` (from the log
/// `tests/run` keeps), or `None` when the log is not there to count from.
fn moto_requests(bucket: &str) -> Option<Vec<String>> {
    let log = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/moto.log");
    let text = std::fs::read_to_string(log).ok()?;
    let needle = format!(" /{bucket}");
    Some(
        text.lines()
            .filter_map(|l| {
                let request = l.split('"').nth(1)?;
                request.contains(&needle).then(|| request.to_string())
            })
            .collect(),
    )
}

/// Raw S3 access behind the store's back, to damage objects as a person or a tool would.
struct Bucket {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl Bucket {
    async fn of(store_url: &str) -> Bucket {
        let (bucket, prefix) = store_url
            .trim_start_matches("s3://")
            .split_once('/')
            .unwrap();
        let config = backtrack::aws::load_config().await;
        Bucket {
            client: backtrack::aws::s3_client(&config),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        }
    }

    async fn get(&self, key: &str) -> Vec<u8> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(format!("{}/{key}", self.prefix))
            .send()
            .await
            .unwrap();
        out.body.collect().await.unwrap().into_bytes().to_vec()
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(format!("{}/{key}", self.prefix))
            .body(bytes.into())
            .send()
            .await
            .unwrap();
    }

    async fn delete(&self, key: &str) {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(format!("{}/{key}", self.prefix))
            .send()
            .await
            .unwrap();
    }
}

/// Issue 21, items 3 and 4 on S3 + DynamoDB, where the store's listing is paged S3 LISTs
/// and a repair is a DELETE and a conditional PUT: an incremental capture checks what it
/// reuses with one LIST per shard and no per-blob request; a damaged parent (a deleted
/// blob, a truncated one) yields a full capture that completes whole; `verify` names every
/// snapshot that holds a damaged blob, and only those.
#[test]
fn integrity_aws_damage_never_spreads_and_verify_names_every_snapshot() {
    let sandbox = SandboxProc::start(&["--issues", "80", "--comments", "120", "--seed", "3"]);
    let user = crate::aws::AwsUser::new(&sandbox);
    let snap = |extra: &[&str]| {
        let mut args = vec!["--json", "snapshot", "create", SCOPE];
        args.extend_from_slice(extra);
        user.run(&args).ok().json()
    };
    let s1 = id_of(&snap(&[]));
    let s2 = id_of(&snap(&[]));
    edit_issue(&sandbox, 1, "changed after s2");
    let s3 = id_of(&snap(&[]));

    // What an incremental capture asks of S3 beyond reading its parent and writing its own.
    edit_issue(&sandbox, 9, "changed after s3");
    let bucket_name = user
        .store
        .trim_start_matches("s3://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let before = moto_requests(&bucket_name);
    let s4_report = snap(&[]);
    let s4 = id_of(&s4_report);
    assert_eq!(s4_report["mode"], "incremental", "{s4_report}");
    assert_eq!(s4_report["checks"]["read_back"], 0, "{s4_report}");
    let listed = s4_report["checks"]["listed"].as_u64().unwrap();
    if let (Some(before), Some(after)) = (before, moto_requests(&bucket_name)) {
        let during = &after[before.len().min(after.len())..];
        let count = |pred: &dyn Fn(&str) -> bool| during.iter().filter(|r| pred(r)).count();
        let lists = count(&|r| r.starts_with("GET") && r.contains("list-type=2"));
        // (The one HEAD of the bucket itself is the store's start-up check.)
        let bucket_head = format!("HEAD /{bucket_name}/ ");
        let heads = count(&|r| r.starts_with("HEAD") && !r.starts_with(&bucket_head));
        let gets = count(&|r| r.starts_with("GET") && !r.contains("list-type=2"));
        let puts = count(&|r| r.starts_with("PUT"));
        eprintln!(
            "incremental capture on S3 ({listed} blobs listed): {lists} LIST, {heads} HEAD, {gets} GET, {puts} PUT"
        );
        assert_eq!(lists, backtrack::snapshot::LISTING_SHARDS, "{during:#?}");
        assert_eq!(heads, 0, "no per-blob existence check: {during:#?}");
    }

    let rt = runtime();
    let (old_issue1, issue2) = rt.block_on(async {
        let archive = user.archive().await;
        let e1 = archive.resolve(None, &s1).await.unwrap();
        let m1 = archive.load_manifest(&e1).await.unwrap();
        let blob_of = |key: &str| {
            m1.entries
                .iter()
                .find(|e| e.key().to_string() == key)
                .unwrap()
                .blob
                .key()
        };
        (blob_of("issue:1"), blob_of("issue:2"))
    });
    rt.block_on(async {
        let bucket = Bucket::of(&user.store).await;
        // Issue 1's first version (s1, s2 only) truncated; issue 2 (every snapshot) gone.
        let bytes = bucket.get(&old_issue1).await;
        bucket
            .put(&old_issue1, bytes[..bytes.len() / 3].to_vec())
            .await;
        bucket.delete(&issue2).await;
    });
    let run = user.run(&["--json", "verify", "--all"]);
    assert_eq!(run.code, 2, "{run:?}");
    let report = run.json();
    let damaged: BTreeMap<String, BTreeSet<String>> = report["damaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["key"].as_str().unwrap().to_string(), ids(&d["snapshots"])))
        .collect();
    let all4 = BTreeSet::from([s1.clone(), s2.clone(), s3.clone(), s4.clone()]);
    assert_eq!(
        damaged[&old_issue1],
        BTreeSet::from([s1.clone(), s2.clone()]),
        "{report}"
    );
    assert_eq!(damaged[&issue2], all4, "{report}");
    assert_eq!(ids(&report["unrestorable"]), all4);

    // The newest snapshot is damaged: the next one lists everything, writes issue 2 again,
    // and completes whole.
    let s5 = snap(&[]);
    assert_eq!(s5["status"], "completed", "{s5}");
    assert_eq!(s5["mode"], "full", "{s5}");
    assert_eq!(s5["fallback"]["parent"], s4.as_str(), "{s5}");
    let report = user.run(&["--json", "verify", "--all"]).json();
    // Only the first version of issue 1 is beyond repair, and only s1 and s2 need it.
    assert_eq!(
        ids(&report["unrestorable"]),
        BTreeSet::from([s1.clone(), s2.clone()]),
        "{report}"
    );
    assert_eq!(
        ids(&report["restorable"]),
        BTreeSet::from([s3, s4, id_of(&s5)]),
        "{report}"
    );
    let rollback = user.run(&["rollback", SCOPE, "--to", &s1]);
    assert_eq!(rollback.code, 2, "{rollback:?}");
    assert!(rollback.stderr.contains(&old_issue1), "{}", rollback.stderr);
}

/// A DynamoDB catalog entry written before manifests were hashed (no `manifest_hash`
/// attribute): still read, never built on (the next capture is full and says why), reported
/// unverified by `verify`, and hashed by `verify --record-hashes` once it checks out.
#[test]
fn integrity_aws_entries_without_a_manifest_hash_are_read_and_can_be_hashed() {
    let sandbox = SandboxProc::start(&["--issues", "10", "--comments", "20"]);
    let user = crate::aws::AwsUser::new(&sandbox);
    let old = id_of(
        &user
            .run(&["--json", "snapshot", "create", SCOPE])
            .ok()
            .json(),
    );
    let table = user.catalog.trim_start_matches("dynamodb://").to_string();
    let rt = runtime();
    rt.block_on(async {
        let config = backtrack::aws::load_config().await;
        backtrack::aws::dynamodb_client(&config)
            .update_item()
            .table_name(&table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(SCOPE.into()),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("snap#{old}")),
            )
            .update_expression("REMOVE manifest_hash")
            .send()
            .await
            .unwrap();
    });
    let report = user.run(&["--json", "verify", "--all"]).ok().json();
    assert_eq!(
        ids(&report["unverified"]),
        BTreeSet::from([old.clone()]),
        "{report}"
    );
    assert_eq!(
        ids(&report["restorable"]),
        BTreeSet::from([old.clone()]),
        "{report}"
    );
    user.run(&["diff", SCOPE, "--from", &old, "--to", "live"])
        .ok();

    edit_issue(&sandbox, 2, "edited");
    let next = user
        .run(&["--json", "snapshot", "create", SCOPE])
        .ok()
        .json();
    assert_eq!(next["mode"], "full", "{next}");
    assert!(
        next["fallback"]["reason"]
            .as_str()
            .unwrap()
            .contains("before manifests were hashed"),
        "{next}"
    );

    let recorded = user
        .run(&["--json", "verify", &old, "--record-hashes"])
        .ok()
        .json();
    assert_eq!(
        ids(&recorded["recorded"]),
        BTreeSet::from([old.clone()]),
        "{recorded}"
    );
    let again = user.run(&["--json", "verify", "--all"]).ok().json();
    assert_eq!(again["unverified"], json!([]), "{again}");
    rt.block_on(async {
        let archive = user.archive().await;
        let entry = archive.resolve(None, &old).await.unwrap();
        assert!(entry.manifest_hash.is_some());
        archive.load_manifest(&entry).await.unwrap();
    });
}
