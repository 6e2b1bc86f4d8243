//! Comparing two states of a scope: the one path behind `backtrack diff`, the Action's PR
//! comment and the diff function, so all three show the same diff.
//!
//! [`DiffSides`] parses the two sides once (a snapshot reference or `live`, with the
//! documented defaults), [`compare`] resolves and loads them — two stored snapshots read only
//! the records that differ, and a snapshot against `live` reads only the records whose live
//! copy is not the one stored — leaves backtrack's own report comments out of both, and diffs.
//! The renderers in [`crate::diff`] then turn the result into text, Markdown or JSON.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::blob;
use crate::diff::{self, Diff, DiffOptions, Side};
use crate::error::{Error, Result};
use crate::id::BlobId;
use crate::record::{Record, RecordKey, RecordSet};
use crate::rollback::plan::is_report;
use crate::scope::Scope;
use crate::snapshot::{fetch_each, fetch_live, Archive, Resolved, SnapshotRef};
use crate::tracker::{Progress, Tracker};

/// One side of a comparison: a stored snapshot, or the tracker as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffSide {
    Snapshot(SnapshotRef),
    Live,
}

impl DiffSide {
    /// `live`, or a snapshot reference (id, unique id prefix, name, `latest`).
    pub fn parse(text: &str) -> Result<Self> {
        if text.trim() == "live" {
            return Ok(DiffSide::Live);
        }
        SnapshotRef::parse(text).map(DiffSide::Snapshot)
    }
}

impl fmt::Display for DiffSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiffSide::Snapshot(r) => write!(f, "{r}"),
            DiffSide::Live => f.write_str("live"),
        }
    }
}

/// Which side of a comparison, for messages (`--from`, `--to`: the CLI's flags; the diff API
/// names them in its path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    From,
    To,
}

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Which::From => "--from",
            Which::To => "--to",
        })
    }
}

/// The two sides of a comparison, checked: [`DiffSides::parse`] is the one constructor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffSides {
    pub from: DiffSide,
    pub to: DiffSide,
}

impl DiffSides {
    /// What `from` means when it is not given: the newest completed snapshot.
    pub const DEFAULT_FROM: &'static str = "latest";
    /// What `to` means when it is not given: the tracker as it is now.
    pub const DEFAULT_TO: &'static str = "live";

    /// Parses the sides as given (`None`: the default). Comparing `live` with itself is
    /// refused: it would read the tracker twice to show nothing.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self, CompareError> {
        let side = |which: Which, text: Option<&str>, default: &str| {
            let text = text.unwrap_or(default);
            DiffSide::parse(text).map_err(|source| CompareError::Side {
                which,
                reference: text.to_string(),
                source: Box::new(source),
            })
        };
        let sides = DiffSides {
            from: side(Which::From, from, Self::DEFAULT_FROM)?,
            to: side(Which::To, to, Self::DEFAULT_TO)?,
        };
        if sides.from == DiffSide::Live && sides.to == DiffSide::Live {
            return Err(Error::Invalid(
                "--from and --to are both `live`: there is nothing to compare; name a snapshot for one of them"
                    .into(),
            )
            .into());
        }
        Ok(sides)
    }

    /// Whether either side reads the live tracker (which needs credentials).
    pub fn needs_live(&self) -> bool {
        self.from == DiffSide::Live || self.to == DiffSide::Live
    }
}

/// Why a comparison failed: a side that does not resolve (named, so the caller can point at
/// the flag or field), or anything else.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{which} {reference}: {source}")]
    Side {
        which: Which,
        reference: String,
        source: Box<Error>,
    },
    #[error(transparent)]
    Other(Box<Error>),
}

impl From<Error> for CompareError {
    fn from(e: Error) -> Self {
        CompareError::Other(Box::new(e))
    }
}

impl From<CompareError> for Error {
    fn from(e: CompareError) -> Self {
        match e {
            CompareError::Side {
                which,
                reference,
                source,
            } => match *source {
                Error::Invalid(message) => {
                    Error::Invalid(format!("{which} {reference}: {message}"))
                }
                other => other,
            },
            CompareError::Other(source) => *source,
        }
    }
}

/// Where a live side is read from: the scope's tracker and how to show progress.
#[derive(Debug, Clone)]
pub struct LiveSource {
    pub tracker: Arc<dyn Tracker>,
    pub progress: Arc<dyn Progress>,
}

/// A comparison's result: the diff (with both sides described) and which snapshot each
/// stored side resolved to.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub diff: Diff,
    /// `None` for a live side.
    pub from: Option<Resolved>,
    pub to: Option<Resolved>,
    /// Labels and authors of the changed issues and comments (for the report's filters).
    pub facts: crate::report::Facts,
    /// What the diff could not do and why, one line each, for the shell to print beside it
    /// (a failed issue events listing: its changes are shown unattributed).
    pub warnings: Vec<String>,
}

impl Comparison {
    /// The resolutions, for the caller to report (`from` first).
    pub fn resolved(&self) -> impl Iterator<Item = (Which, &Resolved)> {
        [(Which::From, &self.from), (Which::To, &self.to)]
            .into_iter()
            .filter_map(|(w, r)| r.as_ref().map(|r| (w, r)))
    }
}

/// Compares two sides of `scope`. `live` must be given when [`DiffSides::needs_live`].
pub async fn compare(
    archive: &Archive,
    scope: &Scope,
    sides: &DiffSides,
    options: &DiffOptions,
    live: Option<&LiveSource>,
) -> Result<Comparison, CompareError> {
    let from = resolve(archive, scope, &sides.from, Which::From).await?;
    let to = resolve(archive, scope, &sides.to, Which::To).await?;
    let (mut from_set, mut to_set) = match (&from, &to) {
        (Some(a), Some(b)) => {
            // Two stored snapshots: read only the records that differ.
            let (ma, mb) = (
                archive.load_manifest(&a.entry).await?,
                archive.load_manifest(&b.entry).await?,
            );
            archive.load_changed_pair(&ma, &mb).await?
        }
        (Some(stored), None) => match live {
            Some(live) => load_against_live(archive, stored, live).await?,
            None => return Err(missing_tracker().into()),
        },
        (None, Some(stored)) => match live {
            Some(live) => {
                let (stored, now) = load_against_live(archive, stored, live).await?;
                (now, stored)
            }
            None => return Err(missing_tracker().into()),
        },
        (None, None) => (
            load(archive, from.as_ref(), live).await?,
            load(archive, to.as_ref(), live).await?,
        ),
    };
    drop_reports(&mut from_set);
    drop_reports(&mut to_set);
    let side = |r: &Option<Resolved>| match r {
        Some(r) => Side::snapshot(scope, r.id.to_string(), r.name.clone(), Some(r.created_at))
            .with_reference(&r.reference),
        None => Side::live(scope).with_reference("live"),
    };
    let schema = diff::Schema::of(scope.tracker());
    let mut diff =
        diff::diff(schema, &from_set, &to_set, options).with_sides(side(&from), side(&to));
    let mut warnings = Vec::new();
    if !diff.is_empty() {
        let logs = activity(archive, from.as_ref(), to.as_ref(), live).await?;
        if !logs.is_empty() {
            crate::attribution::attribute(&mut diff, &logs, &to_set);
            let live = from.is_none() || to.is_none();
            warnings.extend(crate::attribution::gap_warning(&diff, &logs, live));
        }
    }
    let facts = crate::report::Facts::collect(schema, &diff, &from_set, &to_set);
    Ok(Comparison {
        diff,
        from,
        to,
        facts,
        warnings,
    })
}

/// The activity logs that say who made the changes between the two sides: against the live
/// tracker, its log since the stored side was taken (one listing); between two snapshots, the
/// logs stored with the newer one and its ancestors back to the older one. Empty when the
/// tracker keeps none.
async fn activity(
    archive: &Archive,
    from: Option<&Resolved>,
    to: Option<&Resolved>,
    live: Option<&LiveSource>,
) -> Result<Vec<crate::attribution::Activity>, Error> {
    match (from, to, live) {
        (Some(stored), None, Some(live)) | (None, Some(stored), Some(live)) => {
            let from = archive
                .load_manifest_header(&stored.entry)
                .await?
                .activity_from();
            // A failing listing leaves the changes unattributed (with a warning), not the
            // diff undone.
            match live.tracker.activity(from).await {
                Ok(log) => Ok(log.into_iter().collect()),
                Err(e) => Ok(vec![crate::attribution::Activity::gap(from, e.to_string())]),
            }
        }
        (Some(a), Some(b), _) => {
            let (older, newer) = if a.created_at <= b.created_at {
                (a, b)
            } else {
                (b, a)
            };
            archive.activity_between(&older.entry, &newer.entry).await
        }
        _ => Ok(Vec::new()),
    }
}

/// A stored side's snapshot (completed), or `None` for live.
async fn resolve(
    archive: &Archive,
    scope: &Scope,
    side: &DiffSide,
    which: Which,
) -> Result<Option<Resolved>, CompareError> {
    let DiffSide::Snapshot(reference) = side else {
        return Ok(None);
    };
    let failed = |source: Error| CompareError::Side {
        which,
        reference: reference.to_string(),
        source: Box::new(source),
    };
    let resolved = archive
        .find(Some(scope), reference)
        .await
        .and_then(Resolved::completed)
        .map_err(failed)?;
    Ok(Some(resolved))
}

fn missing_tracker() -> Error {
    Error::Internal("a live side was compared without a tracker".into())
}

/// A stored snapshot and the live tracker: `(stored, live)`, each holding only what the
/// diff needs — as between two snapshots (see [`Archive::load_changed_pair`]): the records
/// that differ, all definitions, and the issues of changed comments.
///
/// Each live record is hashed as it arrives: one whose canonical form has the content
/// address the snapshot stored for it is that very record, so it is neither read from the
/// store (the difference between reading 60 and 6,000 blobs for 1% of a 1,000-issue
/// repository — on a `git://` store, one request each) nor kept: only its key and time
/// are. The live side is never held whole, only what changed since the snapshot; the
/// issue of a changed comment, when nothing else changed on it, is read back from the
/// store (the same record, by its address).
async fn load_against_live(
    archive: &Archive,
    stored: &Resolved,
    live: &LiveSource,
) -> Result<(RecordSet, RecordSet), Error> {
    let mut manifest = archive.load_manifest(&stored.entry).await?;
    let stored_blobs: HashMap<RecordKey, &BlobId> = manifest
        .entries
        .iter()
        .map(|e| (e.key(), &e.blob))
        .collect();
    // Live records that differ from the stored ones or are new, and every definition.
    let mut kept: HashMap<RecordKey, (BlobId, Record)> = HashMap::new();
    // Live records identical to the stored ones: their key and time only (a listing may
    // show a record twice: `supersedes`).
    let mut same: HashMap<RecordKey, Option<DateTime<Utc>>> = HashMap::new();
    fetch_each(live.tracker.clone(), live.progress.clone(), |record| {
        let key = record.key();
        let seen = kept
            .get(&key)
            .map(|(_, r)| r.updated_at())
            .or_else(|| same.get(&key).copied());
        if !crate::record::supersedes(&record, seen) {
            return Ok(());
        }
        let canonical =
            blob::canonical_json(&record).map_err(|source| blob::BlobError::Encode {
                what: "record",
                source,
            })?;
        let id = BlobId::of(&canonical);
        if !key.kind.is_definition() && stored_blobs.get(&key) == Some(&&id) {
            kept.remove(&key);
            same.insert(key, record.updated_at());
        } else {
            same.remove(&key);
            kept.insert(key, (id, record.without_raw()));
        }
        Ok(())
    })
    .await?;
    drop(stored_blobs);
    let mut live_set = RecordSet::default();
    // Definitions identical on both sides: the diff pairs every definition, so both sides
    // get them (the live copy, not a read).
    let mut definitions = Vec::new();
    // Unchanged issues: one is needed (read back) if a changed comment belongs to it.
    let mut unchanged_issues = Vec::new();
    manifest.entries.retain(|e| {
        let key = e.key();
        if same.remove(&key).is_some() {
            if e.kind.is_issue() {
                unchanged_issues.push(e.clone());
            }
            return false;
        }
        match kept.remove(&key) {
            Some((id, record)) if id == e.blob => {
                live_set.insert(record.clone());
                definitions.push(record);
                false
            }
            Some((_, record)) => {
                live_set.insert(record);
                true
            }
            // Gone from the tracker: removed since the snapshot.
            None => true,
        }
    });
    drop(same);
    // Only live: added since the snapshot.
    for (_, (_, record)) in kept {
        live_set.insert(record);
    }
    let mut stored_set = archive.load_records(&manifest, false).await?;
    for record in definitions {
        stored_set.insert(record);
    }
    let parents: HashSet<u64> = stored_set
        .comment_issues()
        .chain(live_set.comment_issues())
        .collect();
    manifest.entries = unchanged_issues;
    manifest
        .entries
        .retain(|e| e.id.parse::<u64>().is_ok_and(|n| parents.contains(&n)));
    for record in archive.load_records(&manifest, false).await?.into_records() {
        stored_set.insert(record.clone());
        live_set.insert(record);
    }
    Ok((stored_set, live_set))
}

async fn load(
    archive: &Archive,
    side: Option<&Resolved>,
    live: Option<&LiveSource>,
) -> Result<RecordSet, Error> {
    match (side, live) {
        (Some(r), _) => {
            let manifest = archive.load_manifest(&r.entry).await?;
            archive.load_records(&manifest, false).await
        }
        (None, Some(live)) => fetch_live(live.tracker.clone(), live.progress.clone(), false).await,
        (None, None) => Err(Error::Internal(
            "a live side was compared without a tracker".into(),
        )),
    }
}

/// Leaves backtrack's own report comments (the sticky PR comment) out of a record set, so a
/// diff does not show the previous run's comment as a tracker change, growing with every
/// update.
pub fn drop_reports(set: &mut RecordSet) {
    set.comments.retain(|_, c| !is_report(&c.body));
}
