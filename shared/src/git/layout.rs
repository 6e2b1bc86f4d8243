//! Where everything lives in the archive branch, and how objects are written into it.
//!
//! The branch's own `README.md` (written by the first commit, text below) is the reference a
//! person reading a clone gets; this module is the code that follows it.

use base64::Engine as _;

use crate::scope::Scope;

/// The branch used when `git://` names none.
pub const DEFAULT_BRANCH: &str = "backtrack-archive";
/// The human description of the layout, at the branch's root.
pub const README: &str = "README.md";
/// The format marker at the branch's root: how a clone is recognised as an archive.
pub const FORMAT: &str = "backtrack.json";
/// Object-store keys live below this folder (`store/blobs/ab/…`).
pub const STORE: &str = "store/";
/// Parts of objects too big for one git blob.
pub const PARTS: &str = "parts/";
/// The catalog's files.
pub const CATALOG: &str = "catalog/";
/// Present only while `prune` replaces the branch's history (see [`super::branch`]).
pub const REWRITE: &str = "rewrite.json";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The content of [`FORMAT`].
pub fn format_marker() -> String {
    format!(
        "{{\n  \"format\": \"backtrack-git-archive\",\n  \"version\": {FORMAT_VERSION},\n  \"layout\": \"README.md\"\n}}\n"
    )
}

/// The content of [`README`] for `branch`.
pub fn readme(branch: &str) -> String {
    format!(
        "# backtrack archive (branch `{branch}`)

This branch holds snapshots of this repository's issue tracker, taken by
[backtrack](https://github.com/backtrack-dev/backtrack). It shares no history with the
code: it is an orphan branch, written through GitHub's Git Data API. Do not edit it by hand;
protect it with a ruleset so that only the workflow (or the people) taking snapshots can
update it.

A clone of this branch alone is a readable archive:

    git clone --single-branch --branch {branch} https://github.com/OWNER/REPO archive
    backtrack --store file://$PWD/archive snapshot list

## Layout

    backtrack.json                        format marker (`backtrack-git-archive`, version 1)
    store/<key>                           one object of the archive, as unpadded base64 text
    store/blobs/<2 hex>/<sha256>            a record (zstd of canonical JSON) or an entry table
    store/manifests/<scope>/<snapshot id>   a snapshot's manifest (zstd of JSON)
    store/dicts/…, store/jobs/…, store/plans/…  dictionaries, rollback plans
    parts/<sha256 of key>/<n>             parts of an object too big for one git blob; its
                                          file under store/ is then executable (mode 100755)
                                          and lists them (`backtrack-parts 1`)
    catalog/snapshots/<scope>/<id>.json   one file per snapshot: its catalog entry (status,
                                          counts, the manifest's SHA-256)
    catalog/index/<scope>.json            a copy of the scope's entries for fast listing,
                                          each with the git id of its file (ignored where
                                          it disagrees with the files)
    catalog/jobs/<scope>/<job id>.json    one file per rollback job
    catalog/journal/<job id>/<op>.json    one file per completed rollback operation
    catalog/claims/<sha256 of key>.json   short-lived claims (webhook deliveries, job slices)
    rewrite.json                          only while `prune` replaces this branch's history

`<scope>` is the scope's slug (`github--owner--repo`). Objects are base64 text because the
Git Data API can only create text files in bulk (one request for a whole snapshot's new
records); `base64 -d` restores an object's bytes.

## Writing

Every change is one commit made on the branch's current tip, published by a fast-forward-only
update of the branch: two writers racing both land (the loser rebuilds on the winner's
commit). Objects are written before the manifests that name them, and manifests before the
catalog entry that marks a snapshot completed, so a reader never sees a half snapshot.

Locks and the store-wide leases are not in this branch: they are refs under
`refs/backtrack/{branch}/` (one commit per state, its message holding the state), moved by
the same fast-forward-only rule.

`prune` deletes snapshots in ordinary commits, then replaces the branch with one new orphan
commit holding what is kept, so deleted data leaves the history too (GitHub collects the
old commits later).
"
    )
}

/// Where object `key` lives in the branch.
pub fn object_path(key: &str) -> String {
    format!("{STORE}{key}")
}

/// The key of the object at `path`, if it is an object's path.
pub fn object_key(path: &str) -> Option<&str> {
    path.strip_prefix(STORE).filter(|k| !k.is_empty())
}

/// The folder holding the parts of object `key`.
pub fn parts_dir(key: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("{PARTS}{}", hex::encode(Sha256::digest(key.as_bytes())))
}

/// The path of part `n` of object `key`.
pub fn part_path(key: &str, n: usize) -> String {
    format!("{}/{n:05}", parts_dir(key))
}

/// An object's bytes as the text stored for it: standard base64 without padding or line
/// breaks, so its length alone gives the object's size (see [`decoded_len`]).
pub fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// The bytes of an object from its stored text.
pub fn decode(text: &[u8]) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text)
        .map_err(|e| format!("not the base64 text of an object ({e})"))
}

/// The size of the object whose stored text is `text_len` bytes long.
pub fn decoded_len(text_len: u64) -> u64 {
    text_len / 4 * 3 + (text_len % 4).saturating_sub(1)
}

/// The header of a parts index (the file of an object stored in parts).
pub const PARTS_HEADER: &str = "backtrack-parts 1";

/// The text of a parts index: the object's size and how many parts hold its text.
pub fn parts_index(size: u64, parts: usize) -> String {
    format!("{PARTS_HEADER}\nsize {size}\nparts {parts}\n")
}

/// `(size, parts)` of a parts index.
pub fn parse_parts_index(text: &[u8]) -> Option<(u64, usize)> {
    let text = std::str::from_utf8(text).ok()?;
    let mut lines = text.lines();
    if lines.next()? != PARTS_HEADER {
        return None;
    }
    let size = lines.next()?.strip_prefix("size ")?.parse().ok()?;
    let parts = lines.next()?.strip_prefix("parts ")?.parse().ok()?;
    Some((size, parts))
}

/// A string as one ref-name component: bytes outside `[a-z0-9_-]` (and any uppercase) as
/// `%XX`, so the result is injective and never breaks git's ref-name rules (no `..`, no
/// leading `.`, no `.lock` suffix, no `:`).
pub fn ref_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The refs of an archive branch live under `refs/backtrack/<branch>/`.
fn refs_root(branch: &str) -> String {
    format!("refs/backtrack/{branch}")
}

/// The ref holding cell `name` (leases, versions).
pub fn cell_ref(branch: &str, name: &str) -> String {
    format!("{}/cells/{}", refs_root(branch), ref_component(name))
}

/// The ref holding the lock of `scope`.
pub fn lock_ref(branch: &str, scope: &Scope) -> String {
    format!(
        "{}/locks/{}",
        refs_root(branch),
        ref_component(&scope.slug())
    )
}

/// Catalog paths.
pub mod catalog {
    use crate::id::{JobId, SnapshotId};

    pub const SNAPSHOTS: &str = "catalog/snapshots/";
    pub const INDEX: &str = "catalog/index/";
    pub const JOBS: &str = "catalog/jobs/";
    pub const JOURNAL: &str = "catalog/journal/";
    pub const CLAIMS: &str = "catalog/claims/";

    pub fn snapshot_dir(slug: &str) -> String {
        format!("{SNAPSHOTS}{slug}")
    }

    pub fn snapshot(slug: &str, id: &SnapshotId) -> String {
        format!("{SNAPSHOTS}{slug}/{id}.json")
    }

    pub fn index(slug: &str) -> String {
        format!("{INDEX}{slug}.json")
    }

    pub fn job(slug: &str, id: &JobId) -> String {
        format!("{JOBS}{slug}/{id}.json")
    }

    pub fn journal_dir(job: &JobId) -> String {
        format!("{JOURNAL}{job}")
    }

    /// Journal files sort by operation index.
    pub fn journal(job: &JobId, op: u64) -> String {
        format!("{JOURNAL}{job}/{op:020}.json")
    }

    pub fn claim(key: &str) -> String {
        use sha2::{Digest, Sha256};
        format!(
            "{CLAIMS}{}.json",
            hex::encode(Sha256::digest(key.as_bytes()))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_length_gives_the_size() {
        for n in 0..200usize {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
            let text = encode(&bytes);
            assert_eq!(decoded_len(text.len() as u64), n as u64, "{n}");
            assert_eq!(decode(text.as_bytes()).unwrap(), bytes);
        }
        assert!(decode(b"not base64!").is_err());
    }

    #[test]
    fn ref_components_are_injective_and_valid() {
        assert_eq!(ref_component("store-leases"), "store-leases");
        assert_eq!(
            ref_component("github--acme--.github"),
            "github--acme--%2Egithub"
        );
        assert_eq!(ref_component("a/b:c"), "a%2Fb%3Ac");
        assert_ne!(ref_component("A"), ref_component("a"));
        let scope: Scope = "github:acme/x.lock".parse().unwrap();
        assert_eq!(
            lock_ref("backtrack-archive", &scope),
            "refs/backtrack/backtrack-archive/locks/github--acme--x%2Elock"
        );
    }

    #[test]
    fn parts_indexes_round_trip() {
        let text = parts_index(123_456_789, 4);
        assert_eq!(parse_parts_index(text.as_bytes()), Some((123_456_789, 4)));
        assert_eq!(parse_parts_index(b"AAAA"), None);
    }
}
