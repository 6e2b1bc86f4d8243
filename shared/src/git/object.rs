//! Git objects as the git store needs them: ids computed locally the way git computes them
//! (so a tree GitHub built can be checked and cached without asking for it again), and tree
//! entries in git's order.

use sha1::{Digest, Sha1};

/// A git object id: 40 lowercase hex digits.
pub type Oid = String;

/// What a tree entry is, by its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// `100644`: an object (its bytes in base64 text), or a catalog file.
    File,
    /// `100755`: the index of an object too big for one git blob, stored in parts.
    Chunked,
    /// `040000`: a folder.
    Dir,
    /// Anything else a hand-made commit may hold (symlinks, submodules): never ours.
    Other,
}

impl EntryKind {
    pub fn from_mode(mode: &str) -> EntryKind {
        match mode {
            "100644" => EntryKind::File,
            "100755" => EntryKind::Chunked,
            "040000" | "40000" => EntryKind::Dir,
            _ => EntryKind::Other,
        }
    }

    /// The mode as the API spells it.
    pub fn mode(self) -> &'static str {
        match self {
            EntryKind::File | EntryKind::Other => "100644",
            EntryKind::Chunked => "100755",
            EntryKind::Dir => "040000",
        }
    }

    /// The mode as git writes it inside a tree object.
    fn git_mode(self) -> &'static str {
        match self {
            EntryKind::Dir => "40000",
            other => other.mode(),
        }
    }

    pub fn is_file(self) -> bool {
        matches!(self, EntryKind::File | EntryKind::Chunked)
    }
}

/// One entry of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub kind: EntryKind,
    pub oid: Oid,
    /// Bytes of a blob entry (as git stores them: for objects, the base64 text).
    pub size: Option<u64>,
}

/// The git id of a blob holding `bytes`.
pub fn blob_id(bytes: &[u8]) -> Oid {
    hash("blob", bytes)
}

/// The git id of a tree holding `entries` (sorted with [`sort`] first).
pub fn tree_id(entries: &[Entry]) -> Option<Oid> {
    let mut body = Vec::new();
    for e in entries {
        if e.kind == EntryKind::Other {
            // A mode this module does not model cannot be hashed faithfully.
            return None;
        }
        body.extend_from_slice(e.kind.git_mode().as_bytes());
        body.push(b' ');
        body.extend_from_slice(e.name.as_bytes());
        body.push(0);
        body.extend_from_slice(&hex::decode(&e.oid).ok()?);
    }
    Some(hash("tree", &body))
}

fn hash(kind: &str, body: &[u8]) -> Oid {
    let mut h = Sha1::new();
    h.update(format!("{kind} {}\0", body.len()).as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

/// Git's order: by name, a folder's name compared as if it ended in `/`.
pub fn sort(entries: &mut [Entry]) {
    entries.sort_by_key(sort_key);
}

fn sort_key(e: &Entry) -> Vec<u8> {
    let mut k = e.name.as_bytes().to_vec();
    if e.kind == EntryKind::Dir {
        k.push(b'/');
    }
    k
}

/// Whether `s` has the form of an object id.
pub fn is_oid(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_git() {
        assert_eq!(
            blob_id(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        let mut entries = vec![Entry {
            name: "hello.txt".into(),
            kind: EntryKind::File,
            oid: blob_id(b"hello\n"),
            size: Some(6),
        }];
        sort(&mut entries);
        assert_eq!(
            tree_id(&entries).as_deref(),
            Some("aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7")
        );
    }

    #[test]
    fn folders_sort_after_names_that_extend_them() {
        let e = |name: &str, kind| Entry {
            name: name.into(),
            kind,
            oid: "0".repeat(40),
            size: None,
        };
        let mut v = [
            e("a", EntryKind::Dir),
            e("a.b", EntryKind::File),
            e("a-c", EntryKind::File),
        ];
        sort(&mut v);
        let names: Vec<&str> = v.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a-c", "a.b", "a"]);
    }
}
