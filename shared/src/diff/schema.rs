//! What a tracker declares for diffs: its kinds of record, and for each the fields compared,
//! in order, with how their values compare.
//!
//! The diff engine ([`super::diff`]) knows three roles, not one tracker's fields:
//! - **definitions** (GitHub: labels, milestones; Jira: components, versions): paired by id,
//!   then by case-insensitive name (a definition deleted and recreated is the same thing to
//!   people), compared field by field; a deleted or renamed one absorbs ("folds") the
//!   matching per-issue changes;
//! - **items** (issues): compared field by field, added and removed whole;
//! - **comments**: added, edited (their body as a line diff) and deleted, under their item.
//!
//! A tracker hands the engine a [`Schema`]: for each role, the record kind and a function
//! that projects one record into [`Val`]ues in output order. How a value compares (as it
//! is shown, by a normalised key, as text where null and empty are equal, as a set, as a
//! reference that folds into a definition) is the [`Val`] variant, so a tracker's quirks
//! (GitHub's `reopened` state reason, case-insensitive colours) live in its projection, and a
//! third tracker needs a schema, not a new engine. The renderers take the same schema for
//! what they print about whole records, and [`Field`] and [`ChangeKind`] for the names and
//! boxes of single changes.
//!
//! Projections are only made for records that differ: an unchanged record costs one
//! equality check.

use std::borrow::Cow;

use serde_json::Value;

use super::{ChangeKind, Field};
use crate::record::{RecordKind, RecordRef};
use crate::scope::TrackerKind;

/// One tracker's declaration of what a diff compares.
#[derive(Debug)]
pub struct Schema {
    pub tracker: TrackerKind,
    /// Definition kinds, in the order their changes are listed.
    pub definitions: &'static [Definition],
    pub items: Items,
    pub comments: Comments,
}

/// A kind of definition record.
#[derive(Debug)]
pub struct Definition {
    pub change: ChangeKind,
    pub record: RecordKind,
    /// The field whose change is a rename (the name or title the definition is keyed by).
    pub rename: Field,
    pub view: for<'a> fn(RecordRef<'a>) -> Option<DefinitionView<'a>>,
}

/// A definition as a diff sees it.
#[derive(Debug)]
pub struct DefinitionView<'a> {
    /// Its name or title: the key of its changes, and what pairs a recreated definition with
    /// the one it replaces.
    pub name: &'a str,
    /// Compared fields in output order (the rename field first).
    pub fields: Vec<(Field, Val<'a>)>,
    /// The whole definition, for `*` changes.
    pub whole: Value,
}

/// The item kind (issues).
#[derive(Debug)]
pub struct Items {
    pub record: RecordKind,
    /// What a diff lists an item under.
    pub head: for<'a> fn(RecordRef<'a>) -> Option<ItemHead<'a>>,
    /// Compared fields in output order.
    pub fields: for<'a> fn(RecordRef<'a>) -> Vec<(Field, Val<'a>)>,
    /// The whole item, for `*` changes.
    pub whole: fn(RecordRef<'_>) -> Value,
    /// The one-line facts of a whole item (`before`/`after` of a `*` change) as (value,
    /// name) pairs, in display order: what renderers print for an added or removed item.
    pub lines: fn(&Value) -> Vec<(String, &'static str)>,
    /// The key of a whole item's long text (printed in full under its facts).
    pub text_key: &'static str,
}

/// The identity and heading of an item.
#[derive(Debug, Clone, Copy)]
pub struct ItemHead<'a> {
    /// GitHub: the issue number; Jira: the issue id.
    pub id: u64,
    /// Jira: the issue key (`PROJ-12`); `None` where the id is what people use.
    pub key: Option<&'a str>,
    pub title: &'a str,
    pub url: Option<&'a str>,
    pub pull_request: bool,
}

/// The comment kind. A comment's body is only read (and, for Jira, rendered) when the
/// comment differs between the sides.
#[derive(Debug)]
pub struct Comments {
    pub record: RecordKind,
    /// The item a comment belongs to (its [`ItemHead::id`]).
    pub item: fn(RecordRef<'_>) -> Option<u64>,
    /// What is compared and line-diffed.
    pub body: for<'a> fn(RecordRef<'a>) -> Cow<'a, str>,
    /// The whole comment, for `*` changes.
    pub whole: fn(RecordRef<'_>) -> Value,
}

/// How one field's values compare.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    /// Compared as it is shown.
    Plain(Value),
    /// Shown as `show`, compared by `key` (a colour's case, a state reason that means the
    /// same as none).
    Keyed { show: Value, key: Value },
    /// Text: null and empty are equal; with `lines`, a change carries a line diff.
    Text {
        text: Option<Cow<'a, str>>,
        lines: bool,
    },
    /// A set of names (sorted, unique): one change per element added or removed. With
    /// `fold`, an element lost because that kind of definition was deleted or renamed is
    /// reported on the definition instead.
    Set {
        items: Vec<Cow<'a, str>>,
        fold: Option<ChangeKind>,
    },
    /// A reference by name to one definition (a milestone), folding like a set's elements.
    Ref {
        name: Option<Cow<'a, str>>,
        fold: Option<ChangeKind>,
    },
}

impl Schema {
    /// The schema of a tracker.
    pub fn of(tracker: TrackerKind) -> &'static Schema {
        match tracker {
            TrackerKind::GitHub => &crate::tracker::github::fields::SCHEMA,
            TrackerKind::Jira => &crate::tracker::jira::fields::SCHEMA,
        }
    }

    /// The schema of the scope a diff's sides name (GitHub when they name none, as in a diff
    /// built by hand): what renderers use, so a diff read back from JSON renders as it did.
    pub fn for_diff(diff: &super::Diff) -> &'static Schema {
        let scope = [&diff.from.scope, &diff.to.scope]
            .into_iter()
            .find(|s| !s.is_empty());
        match scope.and_then(|s| s.parse::<crate::scope::Scope>().ok()) {
            Some(scope) => Schema::of(scope.tracker()),
            None => Schema::of(TrackerKind::GitHub),
        }
    }
}

impl<'a> Val<'a> {
    /// Text compared with null equal to empty, with a line diff.
    pub fn lines(text: Option<impl Into<Cow<'a, str>>>) -> Self {
        Val::Text {
            text: text.map(Into::into),
            lines: true,
        }
    }

    /// Text compared with null equal to empty, without a line diff (a one-line field).
    pub fn short(text: Option<impl Into<Cow<'a, str>>>) -> Self {
        Val::Text {
            text: text.map(Into::into),
            lines: false,
        }
    }

    /// A set of borrowed names.
    pub fn set(items: &'a [String]) -> Self {
        Val::Set {
            items: items.iter().map(|s| Cow::Borrowed(s.as_str())).collect(),
            fold: None,
        }
    }

    /// A set of names built on the spot, sorted and deduplicated here.
    pub fn owned_set(mut items: Vec<String>, fold: Option<ChangeKind>) -> Self {
        items.sort();
        items.dedup();
        Val::Set {
            items: items.into_iter().map(Cow::Owned).collect(),
            fold,
        }
    }

    /// An optional string shown and compared as it is.
    pub fn opt_str(s: Option<&str>) -> Self {
        Val::Plain(s.map_or(Value::Null, |s| Value::String(s.to_string())))
    }
}
