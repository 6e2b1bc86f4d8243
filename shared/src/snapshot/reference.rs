//! Naming snapshots and finding them again: validated names ([`SnapshotName`]), parsed
//! references ([`SnapshotRef`]) and what a reference resolved to ([`Resolved`]).
//!
//! A reference is a full id, a unique id prefix, a name, or `latest`. Names and id prefixes
//! share one namespace, so the rules keep them apart: a name may not look like the start of
//! an id, may not be reused within its scope unless the caller says so (`--force`), and may
//! not hold characters that make two different names look the same. When a reference could
//! still mean two snapshots (catalogs written before these rules, or a name reused on
//! purpose), resolution says so instead of picking one silently, and every resolution
//! reports which snapshot it chose.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalog::{SnapshotEntry, SnapshotStatus};
use crate::error::{Error, Result};
use crate::id::SnapshotId;
use crate::scope::Scope;

/// The longest name, in characters (Unicode scalar values), not bytes.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest reference accepted, in characters: a name, or an id (26).
const MAX_REFERENCE_CHARS: usize = MAX_NAME_CHARS;
/// Words that mean something in a reference, so they cannot be names.
const RESERVED: [&str; 2] = ["latest", "live"];

/// A snapshot's name, checked by [`SnapshotName::parse`], its one constructor.
///
/// A name is 1–100 characters with no control characters, no invisible ones (zero-width
/// spaces and joiners, bidirectional controls, variation selectors…), no whitespace other
/// than the plain space and none at either end; it is not `latest` or `live`, and it does not
/// look like the start of a snapshot id. Together these make sure a name reads the same in a
/// terminal, a table and a PR comment, and that a reference is either a name or an id
/// prefix, never both.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SnapshotName(String);

/// Why a name cannot be used. Messages quote the name with escapes (so an invisible
/// character shows) and cut it when it is long.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a snapshot name cannot be empty")]
    Empty,
    #[error("the snapshot name {} is {chars} characters long; the limit is {MAX_NAME_CHARS} characters", quoted(.name))]
    TooLong { name: String, chars: usize },
    #[error("the snapshot name {} starts or ends with a space; remove it", quoted(.name))]
    Padded { name: String },
    #[error("the snapshot name {} holds {what} (U+{code:04X}) at character {position}, which would make it look like another name; remove it", quoted(.name))]
    Invisible {
        name: String,
        what: &'static str,
        code: u32,
        position: usize,
    },
    #[error("the snapshot name {} is reserved: it already means something in snapshot references; choose another", quoted(.name))]
    Reserved { name: String },
    #[error("the snapshot name {} looks like a snapshot id or the start of one; choose a name that does not (e.g. add a letter or a dash: pr-{name})", quoted(.name))]
    LooksLikeId { name: String },
}

impl From<NameError> for Error {
    fn from(e: NameError) -> Self {
        Error::Invalid(e.to_string())
    }
}

/// `"name"` with escapes, cut when long (saying how long): enough to recognise it, never a
/// wall of text.
fn quoted(name: &str) -> String {
    crate::sanitize::quote(name)
}

impl SnapshotName {
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let name = text.to_string();
        if text.is_empty() {
            return Err(NameError::Empty);
        }
        let chars = text.chars().count();
        if chars > MAX_NAME_CHARS {
            return Err(NameError::TooLong { name, chars });
        }
        if text.trim().is_empty() {
            return Err(NameError::Empty);
        }
        if text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace) {
            return Err(NameError::Padded { name });
        }
        if let Some((position, c, what)) = text
            .chars()
            .enumerate()
            .find_map(|(i, c)| invisible(c).map(|what| (i + 1, c, what)))
        {
            return Err(NameError::Invisible {
                name,
                what,
                code: u32::from(c),
                position,
            });
        }
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(text)) {
            return Err(NameError::Reserved { name });
        }
        if could_be_id_prefix(text) {
            return Err(NameError::LooksLikeId { name });
        }
        Ok(SnapshotName(name))
    }

    /// A name made from an outside event (a webhook), valid whatever the event holds:
    /// `label`, then (when `keep` > 0) `-` and the first `keep` ASCII letters and digits of
    /// `id` (a commit id: `push-6113728`, as `git log --oneline` shows it). Anything else in
    /// either is dropped, cut by characters, never bytes; an `id` with no ASCII letter or
    /// digit contributes the first `keep` hex digits of its SHA-256 instead, so different
    /// ids still give different names. At most `label`'s length plus `keep` + 1.
    pub fn for_event(label: &str, id: &str, keep: usize) -> SnapshotName {
        use sha2::{Digest, Sha256};
        let mut name: String = label
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(MAX_NAME_CHARS / 2)
            .collect();
        if keep > 0 {
            let mut part: String = id
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(keep)
                .collect();
            if part.is_empty() {
                part = hex::encode(Sha256::digest(id.as_bytes()))
                    .chars()
                    .take(keep)
                    .collect();
            }
            name = format!("{name}-{part}");
        }
        // A label that cannot start a name (empty, or id-like) gets one that can.
        SnapshotName::parse(&name)
            .or_else(|_| SnapshotName::parse(&format!("event-{name}")))
            .unwrap_or_else(|_| SnapshotName("event".into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SnapshotName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<SnapshotName> for String {
    fn from(n: SnapshotName) -> String {
        n.0
    }
}

/// What kind of character `c` is when it should not be in a name: one that shows nothing, or
/// moves or hides the text around it.
fn invisible(c: char) -> Option<&'static str> {
    let code = u32::from(c);
    if c.is_control() {
        return Some("a control character");
    }
    if matches!(code, 0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069) {
        return Some("a bidirectional control");
    }
    if matches!(code, 0x200B..=0x200D | 0x2060 | 0xFEFF) {
        return Some("a zero-width character");
    }
    if c.is_whitespace() && c != ' ' {
        return Some("whitespace other than a plain space");
    }
    // Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): characters a
    // renderer shows as nothing. The ranges are fixed by Unicode policy, unassigned ones
    // included, so this list does not age with new Unicode versions.
    if matches!(
        code,
        0x00AD
            | 0x034F
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x2061..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFFA0
            | 0xFFF0..=0xFFF8
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    ) {
        return Some("an invisible character");
    }
    None
}

/// Whether `text` could be (the start of) a snapshot id, now or for centuries: ids are 26
/// Crockford base32 characters whose first one encodes the creation time's highest bits, `0`
/// until the year 3084. Full ids of any time are caught too.
fn could_be_id_prefix(text: &str) -> bool {
    const CROCKFORD: &str = "0123456789abcdefghjkmnpqrstvwxyz";
    let lower = text.to_ascii_lowercase();
    text.parse::<SnapshotId>().is_ok()
        || (lower.starts_with('0')
            && lower.len() <= 26
            && lower.chars().all(|c| CROCKFORD.contains(c)))
}

/// A user's reference to a snapshot, parsed: `latest`, a full id, or text that is a name or
/// an id prefix (which one is decided against the catalog, by [`crate::snapshot::Archive::find`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotRef {
    /// The newest completed snapshot of the scope.
    Latest,
    /// A full id.
    Id(SnapshotId),
    /// A name or an id prefix.
    Text(String),
}

impl SnapshotRef {
    /// Parses a reference. `live` is refused here: it is the tracker as it is now, which only
    /// `diff` can compare with (see [`crate::compare::DiffSide`]).
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::Invalid(
                "empty snapshot reference; give an id, an id prefix, a name, or `latest`".into(),
            ));
        }
        if text.chars().count() > MAX_REFERENCE_CHARS {
            return Err(Error::Invalid(format!(
                "the snapshot reference {} is longer than any name or id ({MAX_REFERENCE_CHARS} characters at most)",
                quoted(text)
            )));
        }
        if text == "latest" {
            return Ok(SnapshotRef::Latest);
        }
        if text == "live" {
            return Err(Error::Invalid(
                "`live` is the tracker as it is now, not a snapshot; only `diff` compares with it"
                    .into(),
            ));
        }
        Ok(match text.parse::<SnapshotId>() {
            Ok(id) => SnapshotRef::Id(id),
            Err(_) => SnapshotRef::Text(text.to_string()),
        })
    }
}

impl fmt::Display for SnapshotRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotRef::Latest => f.write_str("latest"),
            SnapshotRef::Id(id) => write!(f, "{id}"),
            SnapshotRef::Text(text) => f.write_str(text),
        }
    }
}

/// How a reference found its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolvedBy {
    Latest,
    Id,
    IdPrefix,
    Name,
}

/// The snapshot a reference resolved to, and how: printed by every command that takes a
/// reference (`Display` for people, `Serialize` as the `resolved` field of `--json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolved {
    /// The reference as given.
    pub reference: String,
    pub by: ResolvedBy,
    pub id: SnapshotId,
    pub scope: Scope,
    pub name: Option<String>,
    pub status: SnapshotStatus,
    pub created_at: DateTime<Utc>,
    /// Older completed snapshots of the same scope with the same name (a name reused with
    /// `--force`, or by automation): the name resolved to the newest.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub same_name: Vec<SnapshotId>,
    #[serde(skip)]
    pub entry: SnapshotEntry,
}

impl Resolved {
    pub(crate) fn new(
        reference: &SnapshotRef,
        by: ResolvedBy,
        entry: SnapshotEntry,
        same_name: Vec<SnapshotId>,
    ) -> Self {
        Resolved {
            reference: reference.to_string(),
            by,
            id: entry.id,
            scope: entry.scope.clone(),
            name: entry.name.clone(),
            status: entry.status,
            created_at: entry.created_at,
            same_name,
            entry,
        }
    }

    /// Itself when the snapshot is completed; otherwise an error that says its status (a
    /// pending or failed snapshot has nothing to restore or compare).
    pub fn completed(self) -> Result<Self> {
        if self.status == SnapshotStatus::Completed {
            return Ok(self);
        }
        Err(Error::Invalid(format!(
            "snapshot {} is {}, not completed, so it holds nothing to use; pick a completed one from `backtrack snapshot list`",
            self.id, self.status
        )))
    }

    /// The snapshot, refusing a name that several snapshots carry: for deletions, where
    /// "the newest of them" is not a safe guess.
    pub fn unique(self) -> Result<SnapshotEntry> {
        if self.same_name.is_empty() {
            return Ok(self.entry);
        }
        Err(Error::Invalid(format!(
            "{} names {} snapshots of {} ({}); give the id of the one you mean",
            quoted(&self.reference),
            self.same_name.len() + 1,
            self.scope,
            list_ids(std::iter::once(&self.id).chain(&self.same_name))
        )))
    }
}

impl fmt::Display for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → snapshot {}", quoted(&self.reference), self.id)?;
        if let Some(name) = &self.name {
            write!(f, " {}", quoted(name))?;
        }
        write!(
            f,
            " of {}, taken {}",
            self.scope,
            self.created_at.format("%Y-%m-%d %H:%M:%S UTC")
        )?;
        if self.status != SnapshotStatus::Completed {
            write!(f, " ({})", self.status)?;
        }
        match self.same_name.len() {
            0 => Ok(()),
            1 => write!(f, "; 1 older snapshot has the same name"),
            n => write!(f, "; {n} older snapshots have the same name"),
        }
    }
}

/// Up to four ids, comma-separated, then `…`.
fn list_ids<'a>(ids: impl Iterator<Item = &'a SnapshotId>) -> String {
    let ids: Vec<String> = ids.map(ToString::to_string).collect();
    let mut out = ids.iter().take(4).cloned().collect::<Vec<_>>().join(", ");
    if ids.len() > 4 {
        out.push_str(", …");
    }
    out
}

/// Resolves a name-or-prefix `text` among `entries` (the scope's, or every scope's; newest
/// first, as the catalog lists them).
pub(crate) fn resolve_text(
    reference: &SnapshotRef,
    text: &str,
    scope: Option<&Scope>,
    entries: Vec<SnapshotEntry>,
) -> Result<Resolved> {
    let in_scope = scope.map(|s| format!(" in {s}")).unwrap_or_default();
    // Only completed snapshots are found by name: a name is for finding a usable snapshot.
    let named: Vec<&SnapshotEntry> = entries
        .iter()
        .filter(|e| e.status == SnapshotStatus::Completed && e.name.as_deref() == Some(text))
        .collect();
    let lower = text.to_ascii_lowercase();
    let prefixed: Vec<&SnapshotEntry> = entries
        .iter()
        .filter(|e| e.id.to_string().starts_with(&lower))
        .collect();
    let named_scopes: std::collections::BTreeSet<String> =
        named.iter().map(|e| e.scope.to_string()).collect();
    match (named.as_slice(), prefixed.as_slice()) {
        ([], []) => Err(Error::Invalid(format!(
            "no snapshot matches {}{in_scope}; list them with `backtrack snapshot list`",
            quoted(text)
        ))),
        ([], [one]) => Ok(Resolved::new(
            reference,
            ResolvedBy::IdPrefix,
            (*one).clone(),
            Vec::new(),
        )),
        ([], many) => Err(Error::Invalid(format!(
            "{} is ambiguous: it starts the ids of {} snapshots ({}); type more of the id",
            quoted(text),
            many.len(),
            list_ids(many.iter().map(|e| &e.id))
        ))),
        ([name], [prefix]) if name.id == prefix.id => Ok(Resolved::new(
            reference,
            ResolvedBy::Name,
            (*name).clone(),
            Vec::new(),
        )),
        ([name, ..], [prefix, ..]) => Err(Error::Invalid(format!(
            "{} is ambiguous: it is the name of snapshot {} and the start of the id of snapshot {}; give the full id",
            quoted(text),
            name.id,
            prefix.id
        ))),
        (_, []) if named_scopes.len() > 1 => Err(Error::Invalid(format!(
            "{} names snapshots of {} scopes ({}); give the scope, or the id of the one you mean",
            quoted(text),
            named_scopes.len(),
            named
                .iter()
                .take(4)
                .map(|e| format!("{} in {}", e.id, e.scope))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        ([newest, older @ ..], []) => Ok(Resolved::new(
            reference,
            ResolvedBy::Name,
            (*newest).clone(),
            older.iter().map(|e| e.id).collect(),
        )),
    }
}

/// A name already given to a snapshot of the scope: refused unless the caller reuses it on
/// purpose. Pending captures count (two running captures would otherwise share it); failed
/// ones do not, so a retry can take the name.
pub(crate) fn check_name_free(
    name: &SnapshotName,
    scope: &Scope,
    entries: &[SnapshotEntry],
) -> Result<()> {
    let taken = entries
        .iter()
        .find(|e| e.status != SnapshotStatus::Failed && e.name.as_deref() == Some(name.as_str()));
    match taken {
        None => Ok(()),
        Some(e) => Err(Error::Refused(format!(
            "the name {} is already used by snapshot {} of {scope} (taken {}); choose another name, or pass --force to reuse it (the name then means the newest)",
            quoted(name.as_str()),
            e.id,
            e.created_at.format("%Y-%m-%d %H:%M UTC")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(name: &str) -> NameError {
        SnapshotName::parse(name).expect_err(name)
    }

    #[test]
    fn names_count_characters_not_bytes() {
        let hundred = "é".repeat(100);
        assert_eq!(hundred.len(), 200);
        assert_eq!(SnapshotName::parse(&hundred).unwrap().as_str(), hundred);
        let e = refused(&"é".repeat(101));
        assert_eq!(
            e,
            NameError::TooLong {
                name: "é".repeat(101),
                chars: 101
            }
        );
        let message = e.to_string();
        assert!(
            message.contains("101 characters") && message.contains("100 characters"),
            "{message}"
        );
        // The message quotes the start of the name, not all of it.
        assert!(message.len() < 300, "{message}");
    }

    #[test]
    fn invisible_and_direction_changing_characters_are_refused() {
        for (name, code) in [
            ("evil\u{202E}txt.exe", 0x202E),
            ("a\u{200B}b", 0x200B),
            ("a\u{200D}b", 0x200D),
            ("a\u{2066}b", 0x2066),
            ("x\u{FEFF}", 0xFEFF),
            ("soft\u{00AD}hyphen", 0x00AD),
            ("heart\u{FE0F}", 0xFE0F),
            ("tab\there", 0x09),
            ("nb\u{00A0}sp", 0xA0),
            ("esc\u{1b}[2J", 0x1B),
        ] {
            match refused(name) {
                NameError::Invisible { code: c, .. } => assert_eq!(c, code, "{name:?}"),
                other => panic!("{name:?}: {other:?}"),
            }
        }
        let message = refused("evil\u{202E}txt").to_string();
        assert!(message.contains("U+202E"), "{message}");
        assert!(
            message.contains("\"evil<U+202E>txt\""),
            "shown, not applied, in the message: {message}"
        );
        assert!(!message.contains('\u{202E}'), "{message}");
    }

    #[test]
    fn reserved_id_like_and_padded_names_are_refused() {
        for name in ["latest", "LIVE"] {
            assert!(
                matches!(refused(name), NameError::Reserved { .. }),
                "{name}"
            );
        }
        let id = SnapshotId::new().to_string();
        for name in [id.as_str(), &id[..10], "0", "01m8p5p6gd", "01M8P5"] {
            assert!(
                matches!(refused(name), NameError::LooksLikeId { .. }),
                "{name}"
            );
        }
        assert!(matches!(refused(" good"), NameError::Padded { .. }));
        assert!(matches!(refused("good "), NameError::Padded { .. }));
        assert!(matches!(refused("   "), NameError::Empty));
        assert!(matches!(refused(""), NameError::Empty));
        for ok in [
            "good",
            "pr-12",
            "2024",
            "nightly build",
            "0-day",
            "before sync ✨",
            "日本語",
        ] {
            assert!(SnapshotName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn references_parse() {
        assert_eq!(SnapshotRef::parse(" latest ").unwrap(), SnapshotRef::Latest);
        let id = SnapshotId::new();
        assert_eq!(
            SnapshotRef::parse(&id.to_string().to_uppercase()).unwrap(),
            SnapshotRef::Id(id)
        );
        assert_eq!(
            SnapshotRef::parse("good").unwrap(),
            SnapshotRef::Text("good".into())
        );
        assert!(SnapshotRef::parse("").is_err());
        let e = SnapshotRef::parse("live").unwrap_err().to_string();
        assert!(e.contains("diff"), "{e}");
        let e = SnapshotRef::parse(&"x".repeat(10_000))
            .unwrap_err()
            .to_string();
        assert!(e.len() < 300, "{e}");
    }

    fn entry(scope: &str, name: Option<&str>, status: SnapshotStatus) -> SnapshotEntry {
        let scope: Scope = scope.parse().unwrap();
        let id = SnapshotId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        SnapshotEntry {
            id,
            scope: scope.clone(),
            name: name.map(str::to_string),
            trigger: crate::manifest::Trigger::Manual,
            status,
            created_at: Utc::now(),
            finished_at: None,
            counts: Default::default(),
            bytes: Default::default(),
            requests: 0,
            manifest_key: format!("manifests/{}/{id}", scope.slug()),
            parent: None,
            pinned: false,
            expires_at: None,
            error: None,
            lease: None,
            manifest_hash: None,
        }
    }

    /// Newest first, as the catalog lists.
    fn listed(mut entries: Vec<SnapshotEntry>) -> Vec<SnapshotEntry> {
        entries.sort_by_key(|e| std::cmp::Reverse(e.id));
        entries
    }

    fn resolve(text: &str, scope: Option<&str>, entries: &[SnapshotEntry]) -> Result<Resolved> {
        let scope: Option<Scope> = scope.map(|s| s.parse().unwrap());
        let r = SnapshotRef::parse(text).unwrap();
        // As the catalog lists them: within the scope, when there is one.
        let entries = entries
            .iter()
            .filter(|e| scope.as_ref().is_none_or(|s| *s == e.scope))
            .cloned()
            .collect();
        resolve_text(&r, text, scope.as_ref(), listed(entries))
    }

    const A: &str = "github:acme/widgets";
    const B: &str = "github:beta/gadgets";

    #[test]
    fn a_name_and_an_id_prefix_of_different_snapshots_are_ambiguous() {
        let done = SnapshotStatus::Completed;
        let first = entry(A, None, done);
        let prefix = first.id.to_string()[..10].to_string();
        // Written before names were checked: a name equal to another snapshot's id prefix.
        let legacy = entry(A, Some(&prefix), done);
        let e = resolve(&prefix, Some(A), &[first.clone(), legacy.clone()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("ambiguous"), "{e}");
        assert!(
            e.contains(&first.id.to_string()) && e.contains(&legacy.id.to_string()),
            "{e}"
        );
    }

    #[test]
    fn names_prefixes_and_what_they_resolved_to() {
        let done = SnapshotStatus::Completed;
        let good = entry(A, Some("good"), done);
        let other = entry(B, Some("other"), done);
        let failed = entry(A, Some("broken"), SnapshotStatus::Failed);
        let all = [good.clone(), other.clone(), failed.clone()];

        let r = resolve("good", None, &all).unwrap();
        assert_eq!((r.id, r.by), (good.id, ResolvedBy::Name));
        assert!(r.to_string().contains(&good.id.to_string()), "{r}");
        assert!(r.to_string().contains("github:acme/widgets"), "{r}");

        // A failed snapshot is found by its id prefix (to show or delete it), never by name.
        let e = resolve("broken", Some(A), &all).unwrap_err().to_string();
        assert!(e.contains("no snapshot matches"), "{e}");
        let r = resolve(&failed.id.to_string()[..24], None, &all).unwrap();
        assert_eq!((r.id, r.by), (failed.id, ResolvedBy::IdPrefix));
        assert!(r.to_string().contains("(failed)"), "{r}");
        assert!(r.clone().completed().is_err());

        // Another scope's name does not resolve within a scope.
        assert!(resolve("other", Some(A), &all).is_err());
    }

    #[test]
    fn a_reused_name_resolves_to_the_newest_and_says_so() {
        let done = SnapshotStatus::Completed;
        let old = entry(A, Some("nightly"), done);
        let new = entry(A, Some("nightly"), done);
        let r = resolve("nightly", Some(A), &[old.clone(), new.clone()]).unwrap();
        assert_eq!(r.id, new.id);
        assert_eq!(r.same_name, vec![old.id]);
        assert!(r.to_string().contains("1 older snapshot"), "{r}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["by"], "name");
        assert_eq!(json["same_name"][0], old.id.to_string());
        // Deleting by such a name is refused.
        let e = r.unique().unwrap_err().to_string();
        assert!(e.contains("names 2 snapshots"), "{e}");
        // The same name in two scopes, without a scope: refused.
        let elsewhere = entry(B, Some("nightly"), done);
        let e = resolve("nightly", None, &[old, new, elsewhere])
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 scopes"), "{e}");
    }

    #[test]
    fn a_taken_name_is_refused_unless_its_holder_failed() {
        let name = SnapshotName::parse("good").unwrap();
        let scope: Scope = A.parse().unwrap();
        let failed = entry(A, Some("good"), SnapshotStatus::Failed);
        assert!(check_name_free(&name, &scope, std::slice::from_ref(&failed)).is_ok());
        let pending = entry(A, Some("good"), SnapshotStatus::Pending);
        let e = check_name_free(&name, &scope, &[failed, pending.clone()]).unwrap_err();
        assert!(e.is_refusal());
        let e = e.to_string();
        assert!(
            e.contains(&pending.id.to_string()) && e.contains("--force"),
            "{e}"
        );
    }
}
