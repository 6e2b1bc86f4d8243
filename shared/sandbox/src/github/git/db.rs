//! The repository's git database: objects addressed by their real git ids (SHA-1 of git's
//! own encoding, so ids agree with any git client), and the refs pointing into it.
//!
//! Refs change only after every check passed, so a refused ref update changes nothing; objects
//! are only ever added (an object no ref reaches is invisible, as in any git repository).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use sha1::{Digest, Sha1};

use super::super::state::Ts;

/// A git object id: 40 lowercase hex digits.
pub(crate) type Oid = String;

/// Entry modes a tree accepts, as the API spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    File,
    Executable,
    Dir,
    Submodule,
    Symlink,
}

impl Mode {
    pub(crate) fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "100644" => Mode::File,
            "100755" => Mode::Executable,
            "040000" => Mode::Dir,
            "160000" => Mode::Submodule,
            "120000" => Mode::Symlink,
            _ => return None,
        })
    }

    /// As the API shows it (`040000` with its leading zero).
    pub(crate) fn api(self) -> &'static str {
        match self {
            Mode::File => "100644",
            Mode::Executable => "100755",
            Mode::Dir => "040000",
            Mode::Submodule => "160000",
            Mode::Symlink => "120000",
        }
    }

    /// As git writes it inside a tree object (`40000`).
    fn git(self) -> &'static str {
        match self {
            Mode::Dir => "40000",
            other => other.api(),
        }
    }

    /// The object type an entry of this mode points at.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Mode::Dir => "tree",
            Mode::Submodule => "commit",
            _ => "blob",
        }
    }
}

/// One entry of a tree object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub mode: Mode,
    pub name: String,
    pub oid: Oid,
}

/// Author or committer of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Person {
    pub name: String,
    pub email: String,
    pub time: Ts,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Commit {
    pub tree: Oid,
    pub parents: Vec<Oid>,
    pub author: Person,
    pub committer: Person,
    pub message: String,
}

#[derive(Debug, Clone)]
pub(crate) enum Object {
    Blob(Arc<Vec<u8>>),
    /// Entries in git's order (see [`git_order`]).
    Tree(Arc<Vec<Entry>>),
    Commit(Arc<Commit>),
}

impl Object {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Object::Blob(_) => "blob",
            Object::Tree(_) => "tree",
            Object::Commit(_) => "commit",
        }
    }
}

/// What a new tree does at one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Set { mode: Mode, oid: Oid },
    Delete,
}

/// Why a tree could not be built; the message is GitHub's where it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeError(pub String);

/// Why a ref could not be changed: GitHub's 422 messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefError {
    Exists,
    Missing,
    ObjectMissing,
    NotCommit,
    NotFastForward,
    DefaultBranch,
}

impl RefError {
    pub(crate) fn message(self) -> &'static str {
        match self {
            RefError::Exists => "Reference already exists",
            RefError::Missing => "Reference does not exist",
            RefError::ObjectMissing => "Object does not exist",
            RefError::NotCommit => "Object is not a commit",
            RefError::NotFastForward => "Update is not a fast forward",
            RefError::DefaultBranch => "Cannot delete the default branch",
        }
    }
}

/// The object database and refs of the one repository.
#[derive(Debug, Clone, Default)]
pub(crate) struct GitDb {
    objects: HashMap<Oid, Object>,
    /// Fully qualified names (`refs/heads/main`) to object ids.
    refs: BTreeMap<String, Oid>,
    /// Short name of the default branch (`main`).
    pub default_branch: String,
}

fn hash(kind: &str, body: &[u8]) -> Oid {
    let mut h = Sha1::new();
    h.update(format!("{kind} {}\0", body.len()).as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

/// Git sorts tree entries by name, comparing a subtree's name as if it ended in `/`.
fn git_order(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    let key = |e: &Entry| {
        let mut k = e.name.as_bytes().to_vec();
        if e.mode == Mode::Dir {
            k.push(b'/');
        }
        k
    };
    key(a).cmp(&key(b))
}

fn tree_body(entries: &[Entry]) -> Vec<u8> {
    let mut body = Vec::new();
    for e in entries {
        body.extend_from_slice(e.mode.git().as_bytes());
        body.push(b' ');
        body.extend_from_slice(e.name.as_bytes());
        body.push(0);
        // Ids come from this database, so they are always 40 hex digits.
        body.extend_from_slice(&hex::decode(&e.oid).unwrap_or_default());
    }
    body
}

fn person_line(p: &Person) -> String {
    format!("{} <{}> {} +0000", p.name, p.email, p.time)
}

fn commit_body(c: &Commit) -> Vec<u8> {
    let mut s = format!("tree {}\n", c.tree);
    for p in &c.parents {
        s.push_str(&format!("parent {p}\n"));
    }
    s.push_str(&format!("author {}\n", person_line(&c.author)));
    s.push_str(&format!("committer {}\n", person_line(&c.committer)));
    s.push('\n');
    s.push_str(&c.message);
    s.into_bytes()
}

/// Whether `s` has the form of an object id (GitHub also accepts uppercase hex).
pub(crate) fn is_oid(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// git's `check-ref-format` rules (the subset a name from JSON can break).
pub(crate) fn valid_ref_name(name: &str) -> bool {
    !name.is_empty()
        && !name.ends_with('/')
        && !name.ends_with('.')
        && !name.contains("..")
        && !name.contains("@{")
        && name != "@"
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
        && name
            .split('/')
            .all(|c| !c.is_empty() && !c.starts_with('.') && !c.ends_with(".lock"))
}

impl GitDb {
    /// A repository without commits: the Git Data API answers 409 for it.
    pub(crate) fn empty(default_branch: &str) -> GitDb {
        GitDb {
            default_branch: default_branch.to_owned(),
            ..GitDb::default()
        }
    }

    /// A repository whose default branch holds one commit with one file.
    pub(crate) fn with_initial_commit(
        default_branch: &str,
        file: &str,
        content: &str,
        author: Person,
    ) -> GitDb {
        let mut db = GitDb::empty(default_branch);
        let blob = db.put_blob(content.as_bytes().to_vec());
        let tree = db.put_tree(vec![Entry {
            mode: Mode::File,
            name: file.to_owned(),
            oid: blob,
        }]);
        let commit = db.put_commit(Commit {
            tree,
            parents: Vec::new(),
            committer: author.clone(),
            author,
            message: "Initial commit".to_owned(),
        });
        db.refs
            .insert(format!("refs/heads/{default_branch}"), commit);
        db
    }

    /// "Empty repositories are repositories without branches" (GitHub's words).
    pub(crate) fn is_empty(&self) -> bool {
        !self.refs.keys().any(|r| r.starts_with("refs/heads/"))
    }

    pub(crate) fn object(&self, oid: &str) -> Option<&Object> {
        self.objects.get(&oid.to_ascii_lowercase())
    }

    pub(crate) fn blob(&self, oid: &str) -> Option<&Arc<Vec<u8>>> {
        match self.object(oid) {
            Some(Object::Blob(b)) => Some(b),
            _ => None,
        }
    }

    pub(crate) fn tree(&self, oid: &str) -> Option<&Arc<Vec<Entry>>> {
        match self.object(oid) {
            Some(Object::Tree(t)) => Some(t),
            _ => None,
        }
    }

    pub(crate) fn commit(&self, oid: &str) -> Option<&Arc<Commit>> {
        match self.object(oid) {
            Some(Object::Commit(c)) => Some(c),
            _ => None,
        }
    }

    pub(crate) fn put_blob(&mut self, bytes: Vec<u8>) -> Oid {
        let oid = hash("blob", &bytes);
        self.objects
            .entry(oid.clone())
            .or_insert_with(|| Object::Blob(Arc::new(bytes)));
        oid
    }

    pub(crate) fn put_tree(&mut self, mut entries: Vec<Entry>) -> Oid {
        entries.sort_by(git_order);
        let oid = hash("tree", &tree_body(&entries));
        self.objects
            .entry(oid.clone())
            .or_insert_with(|| Object::Tree(Arc::new(entries)));
        oid
    }

    pub(crate) fn put_commit(&mut self, commit: Commit) -> Oid {
        let oid = hash("commit", &commit_body(&commit));
        self.objects
            .entry(oid.clone())
            .or_insert_with(|| Object::Commit(Arc::new(commit)));
        oid
    }

    /// A commit's or tree's tree, or the tree at the tip of a branch or tag (`main`,
    /// `heads/main`, `refs/heads/main`): what `GET /git/trees/{tree_sha}` and `base_tree`
    /// accept.
    pub(crate) fn resolve_tree(&self, treeish: &str) -> Option<Oid> {
        let oid = if is_oid(treeish) {
            treeish.to_ascii_lowercase()
        } else {
            self.resolve_ref_name(treeish)?.clone()
        };
        match self.objects.get(&oid)? {
            Object::Tree(_) => Some(oid),
            Object::Commit(c) => Some(c.tree.clone()),
            Object::Blob(_) => None,
        }
    }

    fn resolve_ref_name(&self, name: &str) -> Option<&Oid> {
        [
            name.to_owned(),
            format!("refs/{name}"),
            format!("refs/heads/{name}"),
            format!("refs/tags/{name}"),
        ]
        .iter()
        .find_map(|n| self.refs.get(n))
    }

    /// A new tree: `base` (if any) with `changes` applied at their (nested) paths. Folders
    /// left empty disappear, as in git.
    pub(crate) fn build_tree(
        &mut self,
        base: Option<&str>,
        changes: &[(String, Change)],
    ) -> Result<Oid, TreeError> {
        let base_entries = match base {
            Some(b) => self
                .tree(b)
                .map(|t| t.as_ref().clone())
                .ok_or_else(|| TreeError("base_tree is not a valid tree oid".into()))?,
            None => Vec::new(),
        };
        let entries = self.apply(base_entries, changes, "")?;
        Ok(self.put_tree(entries))
    }

    fn apply(
        &mut self,
        base: Vec<Entry>,
        changes: &[(String, Change)],
        prefix: &str,
    ) -> Result<Vec<Entry>, TreeError> {
        let mut map: BTreeMap<String, Entry> =
            base.into_iter().map(|e| (e.name.clone(), e)).collect();
        // Changes below a folder, grouped by the folder's name (order kept).
        let mut nested: Vec<(String, Vec<(String, Change)>)> = Vec::new();
        for (path, change) in changes {
            match path.split_once('/') {
                None => match change {
                    Change::Delete => {
                        if map.remove(path).is_none() {
                            return Err(TreeError(format!(
                                "tree.path {prefix}{path} does not exist in the base tree, so it cannot be deleted"
                            )));
                        }
                    }
                    Change::Set { mode, oid } => {
                        map.insert(
                            path.clone(),
                            Entry {
                                mode: *mode,
                                name: path.clone(),
                                oid: oid.clone(),
                            },
                        );
                    }
                },
                Some((dir, rest)) => {
                    let item = (rest.to_owned(), change.clone());
                    match nested.iter_mut().find(|(d, _)| d == dir) {
                        Some((_, list)) => list.push(item),
                        None => nested.push((dir.to_owned(), vec![item])),
                    }
                }
            }
        }
        for (dir, list) in nested {
            let sub_base = match map.get(&dir) {
                Some(e) if e.mode == Mode::Dir => self
                    .tree(&e.oid)
                    .map(|t| t.as_ref().clone())
                    .unwrap_or_default(),
                // A file where a folder is asked for: the folder replaces it, as git does.
                _ => Vec::new(),
            };
            let sub = self.apply(sub_base, &list, &format!("{prefix}{dir}/"))?;
            if sub.is_empty() {
                map.remove(&dir);
            } else {
                let oid = self.put_tree(sub);
                map.insert(
                    dir.clone(),
                    Entry {
                        mode: Mode::Dir,
                        name: dir,
                        oid,
                    },
                );
            }
        }
        let mut entries: Vec<Entry> = map.into_values().collect();
        entries.sort_by(git_order);
        Ok(entries)
    }

    /// Every entry below tree `oid`, depth first in git's order, with full paths; `limit`
    /// stops the walk (the listing is then truncated).
    pub(crate) fn walk(
        &self,
        oid: &str,
        limit: usize,
        byte_limit: usize,
    ) -> (Vec<(String, Entry)>, bool) {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let truncated = !self.walk_into(oid, "", limit, byte_limit, &mut bytes, &mut out);
        (out, truncated)
    }

    fn walk_into(
        &self,
        oid: &str,
        prefix: &str,
        limit: usize,
        byte_limit: usize,
        bytes: &mut usize,
        out: &mut Vec<(String, Entry)>,
    ) -> bool {
        let Some(tree) = self.tree(oid) else {
            return true;
        };
        for e in tree.iter() {
            let path = format!("{prefix}{}", e.name);
            // About what one entry weighs in the JSON answer.
            *bytes += path.len() + 200;
            if out.len() >= limit || *bytes > byte_limit {
                return false;
            }
            out.push((path.clone(), e.clone()));
            if e.mode == Mode::Dir
                && !self.walk_into(&e.oid, &format!("{path}/"), limit, byte_limit, bytes, out)
            {
                return false;
            }
        }
        true
    }

    /// Whether `ancestor` is `descendant` or reachable from it through parents.
    fn is_ancestor(&self, ancestor: &str, descendant: &str) -> bool {
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([descendant.to_owned()]);
        while let Some(oid) = queue.pop_front() {
            if oid == ancestor {
                return true;
            }
            if !seen.insert(oid.clone()) {
                continue;
            }
            if let Some(c) = self.commit(&oid) {
                queue.extend(c.parents.iter().cloned());
            }
        }
        false
    }

    pub(crate) fn get_ref(&self, name: &str) -> Option<&Oid> {
        self.refs.get(name)
    }

    /// Refs whose full name starts with `prefix`, in name order.
    pub(crate) fn matching_refs(&self, prefix: &str) -> Vec<(String, Oid)> {
        self.refs
            .range(prefix.to_owned()..)
            .take_while(|(n, _)| n.starts_with(prefix))
            .map(|(n, o)| (n.clone(), o.clone()))
            .collect()
    }

    pub(crate) fn create_ref(&mut self, name: &str, oid: &str) -> Result<(), RefError> {
        let oid = oid.to_ascii_lowercase();
        if !self.objects.contains_key(&oid) {
            return Err(RefError::ObjectMissing);
        }
        if self.refs.contains_key(name) {
            return Err(RefError::Exists);
        }
        self.refs.insert(name.to_owned(), oid);
        Ok(())
    }

    /// Moves a ref; without `force` only forward (the old target must be an ancestor of the
    /// new one). Branches may only point at commits.
    pub(crate) fn update_ref(
        &mut self,
        name: &str,
        oid: &str,
        force: bool,
    ) -> Result<(), RefError> {
        let oid = oid.to_ascii_lowercase();
        let Some(old) = self.refs.get(name).cloned() else {
            return Err(RefError::Missing);
        };
        let Some(target) = self.objects.get(&oid) else {
            return Err(RefError::ObjectMissing);
        };
        if name.starts_with("refs/heads/") && !matches!(target, Object::Commit(_)) {
            return Err(RefError::NotCommit);
        }
        if !force && !self.is_ancestor(&old, &oid) {
            return Err(RefError::NotFastForward);
        }
        self.refs.insert(name.to_owned(), oid);
        Ok(())
    }

    pub(crate) fn delete_ref(&mut self, name: &str) -> Result<(), RefError> {
        if !self.refs.contains_key(name) {
            return Err(RefError::Missing);
        }
        if name == format!("refs/heads/{}", self.default_branch) {
            return Err(RefError::DefaultBranch);
        }
        self.refs.remove(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> Person {
        Person {
            name: "Monalisa Octocat".into(),
            email: "octocat@github.com".into(),
            time: 1_700_000_000,
        }
    }

    #[test]
    fn ids_are_gits_own() {
        let mut db = GitDb::empty("main");
        // `git hash-object` of "hello\n" and of the empty blob.
        assert_eq!(
            db.put_blob(b"hello\n".to_vec()),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(
            db.put_blob(Vec::new()),
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
        );
        // `git mktree` of one file holding "hello\n".
        let tree = db.put_tree(vec![Entry {
            mode: Mode::File,
            name: "hello.txt".into(),
            oid: "ce013625030ba8dba906f756967f9e9ca394464a".into(),
        }]);
        assert_eq!(tree, "aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7");
    }

    #[test]
    fn subtrees_sort_as_if_they_ended_in_a_slash() {
        let e = |name: &str, mode| Entry {
            mode,
            name: name.into(),
            oid: "0".repeat(40),
        };
        let mut v = [
            e("a", Mode::Dir),
            e("a.b", Mode::File),
            e("a-c", Mode::File),
        ];
        v.sort_by(git_order);
        let names: Vec<&str> = v.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a-c", "a.b", "a"]);
    }

    #[test]
    fn nested_paths_build_folders_and_empty_folders_vanish() {
        let mut db = GitDb::with_initial_commit("main", "README.md", "hi\n", person());
        let base = db.resolve_tree("main").unwrap();
        let blob = db.put_blob(b"x".to_vec());
        let set = |p: &str| {
            (
                p.to_owned(),
                Change::Set {
                    mode: Mode::File,
                    oid: blob.clone(),
                },
            )
        };
        let t1 = db
            .build_tree(Some(&base), &[set("a/b/c"), set("a/d")])
            .unwrap();
        let (all, truncated) = db.walk(&t1, 100, 1 << 20);
        assert!(!truncated);
        let paths: Vec<&str> = all.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["README.md", "a", "a/b", "a/b/c", "a/d"]);
        let t2 = db
            .build_tree(
                Some(&t1),
                &[
                    ("a/b/c".into(), Change::Delete),
                    ("a/d".into(), Change::Delete),
                ],
            )
            .unwrap();
        assert_eq!(t2, base, "removing every file removes the folders too");
        let missing = db.build_tree(Some(&t2), &[("nope".into(), Change::Delete)]);
        assert!(missing.is_err());
        let (some, truncated) = db.walk(&t1, 2, 1 << 20);
        assert!(truncated);
        assert_eq!(some.len(), 2);
    }

    #[test]
    fn refs_move_forward_only_unless_forced() {
        let mut db = GitDb::with_initial_commit("main", "README.md", "hi\n", person());
        let first = db.get_ref("refs/heads/main").unwrap().clone();
        let tree = db.resolve_tree(&first).unwrap();
        let child = db.put_commit(Commit {
            tree: tree.clone(),
            parents: vec![first.clone()],
            author: person(),
            committer: person(),
            message: "child".into(),
        });
        let orphan = db.put_commit(Commit {
            tree,
            parents: Vec::new(),
            author: person(),
            committer: person(),
            message: "orphan".into(),
        });
        db.create_ref("refs/heads/archive", &first).unwrap();
        assert_eq!(
            db.create_ref("refs/heads/archive", &first),
            Err(RefError::Exists)
        );
        db.update_ref("refs/heads/archive", &child, false).unwrap();
        assert_eq!(
            db.update_ref("refs/heads/archive", &orphan, false),
            Err(RefError::NotFastForward)
        );
        db.update_ref("refs/heads/archive", &orphan, true).unwrap();
        assert_eq!(
            db.update_ref("refs/heads/archive", &tree_of(&db, &orphan), false),
            Err(RefError::NotCommit)
        );
        assert_eq!(
            db.delete_ref("refs/heads/main"),
            Err(RefError::DefaultBranch)
        );
        db.delete_ref("refs/heads/archive").unwrap();
        assert_eq!(db.delete_ref("refs/heads/archive"), Err(RefError::Missing));
    }

    fn tree_of(db: &GitDb, commit: &str) -> Oid {
        db.commit(commit).unwrap().tree.clone()
    }

    #[test]
    fn ref_names_follow_git() {
        for ok in [
            "refs/heads/main",
            "refs/backtrack/a/locks/github--x--y",
            "refs/tags/v1.0",
        ] {
            assert!(valid_ref_name(ok), "{ok}");
        }
        for bad in [
            "refs/heads/a..b",
            "refs/heads/x.lock",
            "refs/heads/a b",
            "refs/heads/",
            "refs/heads/a:b",
            "refs/heads/.hidden",
        ] {
            assert!(!valid_ref_name(bad), "{bad}");
        }
    }
}
