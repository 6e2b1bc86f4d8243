//! Issue 15: an encrypted `git://` store. `init --encrypt` on the archive branch, then
//! snapshot, diff, rollback and its undo through the CLI against the sandbox's Git Data
//! API; every git object the archive made (every commit of the branch and of its lock and
//! lease refs, every tree, every blob), mirrored into a local repository and read back with
//! `git cat-file --batch-all-objects`, holds none of the planted plaintext, the token or the
//! passphrase — while the same scan over a plain archive branch finds the plaintext.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{json, Value};

use super::{git_in, GitUser, REPO, SCOPE};
use crate::encryption::{plaintext_in, plant, title, KDF, PASS, PLANTED};
use crate::util::{Run, SandboxProc, SANDBOX_TOKEN};

fn run(user: &GitUser, pass: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = user.command(args);
    cmd.env_remove("BACKTRACK_PASSPHRASE")
        .env_remove("BACKTRACK_PASSPHRASE_FILE")
        .env_remove("BACKTRACK_KEY_FILE");
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

fn b64(text: &str) -> Vec<u8> {
    let flat: String = text.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(flat)
        .unwrap()
}

fn git_stdin(dir: &Path, args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new("git")
        .args([
            "-c",
            "user.name=e2e",
            "-c",
            "user.email=e2e@example.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Copies every object reachable from the refs of archive branch `branch` (the branch, and
/// its locks and cells under `refs/backtrack/BRANCH/`) into a new local repository through
/// the Git Data API: blobs byte for byte, trees rebuilt from their entries (and checked to
/// hash as the API says), commits with their messages. Returns the repository and the path
/// of each blob in the branch (by blob id).
fn mirror(sandbox: &SandboxProc, branch: &str) -> (tempfile::TempDir, HashMap<String, String>) {
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    git_in(dir, &["init", "-q"]);
    let mut tips = Vec::new();
    for prefix in [format!("heads/{branch}"), format!("backtrack/{branch}/")] {
        let (status, refs) =
            sandbox.api("GET", &format!("{REPO}/git/matching-refs/{prefix}"), None);
        assert_eq!(status, 200, "{refs}");
        for r in refs.as_array().unwrap() {
            tips.push(r["object"]["sha"].as_str().unwrap().to_string());
        }
    }
    assert!(
        tips.len() >= 2,
        "the branch and at least one lock or cell: {tips:?}"
    );
    let mut blobs: HashMap<String, String> = HashMap::new();
    let mut seen = BTreeSet::new();
    let mut commits = Vec::new();
    while let Some(sha) = tips.pop() {
        if !seen.insert(sha.clone()) {
            continue;
        }
        let (status, c) = sandbox.api("GET", &format!("{REPO}/git/commits/{sha}"), None);
        assert_eq!(status, 200, "{c}");
        for p in c["parents"].as_array().unwrap() {
            tips.push(p["sha"].as_str().unwrap().to_string());
        }
        commits.push(c);
    }
    let scratch = tempfile::tempdir().unwrap();
    for c in &commits {
        let tree = c["tree"]["sha"].as_str().unwrap();
        let (status, listing) =
            sandbox.api("GET", &format!("{REPO}/git/trees/{tree}?recursive=1"), None);
        assert_eq!(status, 200, "{listing}");
        assert_eq!(listing["truncated"], false);
        let mut index = String::new();
        let mut fresh = Vec::new();
        for e in listing["tree"].as_array().unwrap() {
            if e["type"] != "blob" {
                continue;
            }
            let sha = e["sha"].as_str().unwrap().to_string();
            let path = e["path"].as_str().unwrap().to_string();
            if blobs.insert(sha.clone(), path).is_none() {
                let (status, blob) = sandbox.api("GET", &format!("{REPO}/git/blobs/{sha}"), None);
                assert_eq!(status, 200, "{blob}");
                let path = scratch.path().join(&sha);
                std::fs::write(&path, b64(blob["content"].as_str().unwrap())).unwrap();
                fresh.push(path.display().to_string());
            }
            index.push_str(&format!(
                "{} {sha}\t{}\n",
                e["mode"].as_str().unwrap(),
                e["path"].as_str().unwrap()
            ));
        }
        if !fresh.is_empty() {
            let written = git_stdin(
                dir,
                &["hash-object", "-w", "--stdin-paths"],
                (fresh.join("\n") + "\n").as_bytes(),
            );
            for (path, sha) in fresh.iter().zip(written.lines()) {
                assert!(path.ends_with(sha), "blob {path} hashed to {sha}");
            }
        }
        git_in(dir, &["read-tree", "--empty"]);
        git_stdin(
            dir,
            &["update-index", "--add", "--index-info"],
            index.as_bytes(),
        );
        assert_eq!(
            git_in(dir, &["write-tree"]),
            tree,
            "tree rebuilt as the API has it"
        );
        git_stdin(
            dir,
            &["commit-tree", tree, "-F", "-"],
            c["message"].as_str().unwrap().as_bytes(),
        );
    }
    (repo, blobs)
}

/// Every object of the local repository `dir` as `git cat-file --batch-all-objects --batch`
/// prints it, by `sha type`, with the decoded content of base64 blobs (the store's objects)
/// as objects of their own, named by their key in the store (`paths`: blob id → path), so
/// the scan decompresses with the store's dictionaries.
fn all_objects(dir: &Path, paths: &HashMap<String, String>) -> BTreeMap<String, Vec<u8>> {
    let out = Command::new("git")
        .args(["cat-file", "--batch-all-objects", "--batch"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let bytes = out.stdout;
    let mut objects = BTreeMap::new();
    let mut at = 0;
    while at < bytes.len() {
        let nl = at + bytes[at..].iter().position(|b| *b == b'\n').unwrap();
        let header = String::from_utf8_lossy(&bytes[at..nl]).to_string();
        let mut parts = header.split(' ');
        let (sha, kind, size) = (
            parts.next().unwrap().to_string(),
            parts.next().unwrap().to_string(),
            parts.next().unwrap().parse::<usize>().unwrap(),
        );
        let content = bytes[nl + 1..nl + 1 + size].to_vec();
        at = nl + 1 + size + 1;
        if kind == "blob" {
            let text = String::from_utf8_lossy(&content);
            // The store writes objects as base64 without padding (`git::layout::encode`).
            let flat: String = text.split_whitespace().collect();
            if let Ok(decoded) = base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(&flat)
                .or_else(|_| base64::engine::general_purpose::STANDARD.decode(&flat))
            {
                if !decoded.is_empty() {
                    let name = match paths.get(&sha).and_then(|p| p.strip_prefix("store/")) {
                        Some(key) => key.to_string(),
                        None => format!("{sha} blob, base64-decoded"),
                    };
                    objects.insert(name, decoded);
                }
            }
        }
        objects.insert(format!("{sha} {kind}"), content);
    }
    objects
}

/// What of the secrets `objects` hold: planted strings (raw or decompressed), the token and
/// the passphrase.
fn secrets_in(objects: &BTreeMap<String, Vec<u8>>) -> BTreeSet<(String, String)> {
    let mut found: BTreeSet<(String, String)> = plaintext_in(objects)
        .into_iter()
        .map(|(k, n)| (k, n.to_string()))
        .collect();
    for (key, bytes) in objects {
        for needle in [SANDBOX_TOKEN, PASS] {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.insert((key.clone(), needle.to_string()));
            }
        }
    }
    found
}

#[test]
fn gitstore_encrypted_archive_branch_snapshots_diffs_rolls_back_and_no_git_object_leaks() {
    let sandbox = SandboxProc::start(&["--issues", "12", "--comments", "24", "--seed", "51"]);
    let number = plant(&sandbox);
    let user = GitUser::new(&sandbox);

    let mut args = vec!["--json", "init", "--encrypt"];
    args.extend(KDF);
    let init = run(&user, Some(PASS), &args).ok().json();
    assert!(init.to_string().contains("\"created\""), "{init}");
    let snap = run(
        &user,
        Some(PASS),
        &["--json", "snapshot", "create", SCOPE, "--name", "good"],
    )
    .ok()
    .json();
    assert_eq!(snap["status"], "completed", "{snap}");
    assert!(snap["counts"]["issues"].as_u64().unwrap() >= 13, "{snap}");

    // Without the passphrase, or with another, nothing reads or writes the branch.
    let (head, _, _) = super::tip(&sandbox, "backtrack-archive");
    for args in [
        vec!["snapshot", "list", SCOPE],
        vec!["snapshot", "create", SCOPE],
        vec!["diff", SCOPE],
    ] {
        let locked = run(&user, None, &args);
        assert_eq!(locked.code, 2, "{locked:?}");
        assert!(locked.stderr.contains("is encrypted"), "{}", locked.stderr);
        let wrong = run(&user, Some("not it"), &args);
        assert_eq!(wrong.code, 2, "{wrong:?}");
        assert!(
            wrong.stderr.contains("passphrase does not open"),
            "{}",
            wrong.stderr
        );
    }
    assert_eq!(
        super::tip(&sandbox, "backtrack-archive").0,
        head,
        "a refused command committed"
    );

    // Diff and rollback see through the encryption; the undo too.
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
    let report = run(
        &user,
        Some(PASS),
        &[
            "--json",
            "rollback",
            SCOPE,
            "--to",
            "good",
            "--execute",
            "--yes",
            "--write-interval-ms",
            "0",
        ],
    )
    .ok()
    .json();
    assert_eq!(report["verification"]["clean"], true, "{report}");
    assert_eq!(title(&sandbox, number), PLANTED[0]);
    let pre = report["pre_rollback_snapshot"]
        .as_str()
        .unwrap()
        .to_string();
    let undo = run(
        &user,
        Some(PASS),
        &[
            "--json",
            "restore",
            &pre,
            "--execute",
            "--yes",
            "--write-interval-ms",
            "0",
        ],
    )
    .ok()
    .json();
    assert_eq!(undo["verification"]["clean"], true, "{undo}");
    assert_eq!(title(&sandbox, number), PLANTED[4], "the undo");
    let verify: Value = run(&user, Some(PASS), &["--json", "verify", "--all"])
        .ok()
        .json();
    assert_eq!(verify["problems"], json!([]), "{verify}");

    // Every git object of the archive: the store's objects sealed, no plaintext anywhere.
    let (sealed_repo, paths) = mirror(&sandbox, "backtrack-archive");
    let objects = all_objects(sealed_repo.path(), &paths);
    let kinds: BTreeMap<&str, usize> = objects.keys().fold(BTreeMap::new(), |mut m, k| {
        let kind = k
            .split_once(' ')
            .map_or("decoded store object", |(_, kind)| kind);
        *m.entry(kind).or_default() += 1;
        m
    });
    assert!(kinds.get("commit").copied().unwrap_or(0) >= 10, "{kinds:?}");
    let decoded: Vec<&Vec<u8>> = objects
        .iter()
        .filter(|(k, _)| !k.contains(' ') || k.ends_with("base64-decoded"))
        .map(|(_, v)| v)
        .collect();
    let leaks = secrets_in(&objects);
    assert!(leaks.is_empty(), "plaintext in git objects: {leaks:?}");
    let sealed = decoded.iter().filter(|b| b.starts_with(b"BTE1")).count();
    assert!(sealed > 30, "{sealed} sealed store objects of {kinds:?}");
    eprintln!("encrypted git store: {kinds:?}, {sealed} sealed store objects, no plaintext");

    // The control: a plain archive branch of the same repository, scanned the same way.
    let mut plain = GitUser::new(&sandbox);
    plain.store = "git://plain-archive".into();
    run(&plain, None, &["snapshot", "create", SCOPE]).ok();
    let (plain_repo, plain_paths) = mirror(&sandbox, "plain-archive");
    let found: BTreeSet<String> = secrets_in(&all_objects(plain_repo.path(), &plain_paths))
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    // (The title is the wrecked one now: the undo put it back.)
    for needle in &PLANTED[1..] {
        assert!(
            found.contains(*needle),
            "the scan misses {needle} in a plain archive: {found:?}"
        );
    }
}
