//! Trackers: where records come from (capture) and where rollback writes go.
//!
//! Two traits, split by capability: [`Tracker`] reads (what snapshots and diffs need), and
//! [`TrackerWriter`] extends it with writes (what rollback needs), so code that only reads
//! cannot write by mistake. The writes themselves are [`operation`]s, owned by this layer.
//!
//! A tracker streams records into a channel rather than returning them, so a capture of a
//! large repository holds one page at a time, not the whole repository, in memory.

pub mod github;
pub mod jira;
pub mod operation;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::manifest::Cursor;
use crate::record::{Record, RecordKey, RecordKind};
use crate::scope::Scope;

pub use github::{GitHubConfig, GitHubTracker, RetryPolicy, WritePace};
pub use jira::{Flavor, JiraConfig, JiraTracker};
pub use operation::{Change, Operation};

/// Receives progress while a capture runs (the CLI draws a bar from it).
pub trait Progress: Send + Sync + Debug {
    /// `fetched` records of `kind` so far; `total` when the tracker knows it.
    fn update(&self, kind: RecordKind, fetched: u64, total: Option<u64>);
}

/// Progress that goes nowhere.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _: RecordKind, _: u64, _: Option<u64>) {}
}

/// How much one capture may spend. When a limit is reached (or the tracker's rate limit is
/// spent beyond what the retry policy waits for) the capture stops between two pages and
/// reports itself [`FetchReport::partial`], its cursor at the checkpoint.
#[derive(Debug, Clone, Copy, Default)]
pub struct Budget {
    /// HTTP requests (GitHub: REST requests and GraphQL queries alike).
    pub max_requests: Option<u64>,
    /// When to stop starting new pages.
    pub deadline: Option<std::time::Instant>,
}

impl Budget {
    /// Whether a capture that has made `spent` requests may not start another.
    pub fn exhausted(&self, spent: u64) -> bool {
        self.max_requests.is_some_and(|m| spent >= m)
            || self
                .deadline
                .is_some_and(|d| std::time::Instant::now() >= d)
    }
}

/// A capture's budget and the request count it started at: the one rule for when a walk
/// stops between two pages, whichever tracker walks.
#[derive(Debug, Clone, Copy)]
pub struct Spend {
    pub budget: Budget,
    pub start: u64,
}

impl Spend {
    /// No limit: reconciliation finishes what it started.
    pub const UNLIMITED: Spend = Spend {
        budget: Budget {
            max_requests: None,
            deadline: None,
        },
        start: 0,
    };

    /// Whether a walk that has read `pages` pages, its client having made `requests` in
    /// all, stops before the next one. The first page always goes, so a budget smaller than
    /// a capture's fixed requests still makes progress (a snapshot job continued invocation
    /// after invocation would otherwise loop).
    pub fn stops(&self, requests: u64, pages: u64) -> bool {
        pages > 0 && self.budget.exhausted(requests.saturating_sub(self.start))
    }
}

/// What to capture.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Only records updated at or after this cursor (incremental capture); `None` for all.
    pub since: Option<Cursor>,
    /// With `since`: what the parent snapshot holds, so the tracker can tell which of those
    /// records no longer exist (an incremental listing never shows a deletion).
    pub known: Option<Arc<Known>>,
    /// With `since`: how many records the tracker held when the capture started, from
    /// [`Tracker::probe`].
    pub totals: Option<Totals>,
    /// With `since`: how far before the cursor to start listing again, because a change
    /// committed just before the parent finished may only have become visible since.
    pub overlap: chrono::Duration,
    pub progress: Arc<dyn Progress>,
    /// Limits on this capture (see [`Spend::stops`]).
    pub budget: Budget,
    /// With `since`: the issues whose links (sub-issues, parent, dependencies) the activity
    /// log says changed since the parent (such writes move no `updated_at` on GitHub);
    /// `None` without a log.
    pub relinked: Option<Arc<std::collections::BTreeSet<u64>>>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            since: None,
            known: None,
            totals: None,
            overlap: chrono::Duration::zero(),
            progress: Arc::new(NoProgress),
            budget: Budget::default(),
            relinked: None,
        }
    }
}

/// The ids a parent snapshot holds, for deletion detection. Built from the manifest alone
/// (no blob is read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// Issue (and pull request) numbers.
    pub issues: BTreeSet<u64>,
    /// Comment id → the number of the issue it belongs to.
    pub comments: BTreeMap<u64, u64>,
    /// Issue → the records it embeds copies of, as the manifest records them (see
    /// [`Embedding::embeds`]): how a tracker whose issues embed other issues (Jira: parent,
    /// subtasks, links) finds the neighbours a change or deletion reaches. Issues whose entry
    /// records nothing are absent.
    pub embeds: BTreeMap<u64, Vec<RecordKey>>,
}

/// Live record counts, read cheaply before an incremental capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub issues: u64,
    pub comments: u64,
}

/// How much of one kind of record a capture delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// Every record of the kind: any other record of the kind no longer exists.
    Complete,
    /// Revalidated as unchanged (`304`): the parent's records of the kind stand.
    Unchanged,
    /// Only records changed since the cursor; the parent's others stand unless listed in
    /// [`FetchReport::deleted`].
    Changes,
}

/// What a capture saw, besides the records themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// HTTP requests made (including retries and 304s).
    pub requests: u64,
    /// Requests answered `304 Not Modified`.
    pub not_modified: u64,
    /// GraphQL points spent (GitHub counts them apart from REST requests).
    pub points: u64,
    /// The budget ran out: the records delivered end at [`FetchReport::cursor`], and the
    /// next capture continues from there.
    pub partial: bool,
    /// When the rate limit is what cut the capture short: its reset, the earliest time the
    /// next capture can continue (a snapshot job's next invocation is sent for then).
    pub resume_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Where to resume next time.
    pub cursor: Cursor,
    /// Per kind; a kind missing here was delivered complete.
    pub coverage: BTreeMap<RecordKind, Coverage>,
    /// Records of the parent confirmed gone (deleted, or transferred away).
    pub deleted: Vec<RecordKey>,
}

impl FetchReport {
    pub fn coverage(&self, kind: RecordKind) -> Coverage {
        self.coverage
            .get(&kind)
            .copied()
            .unwrap_or(Coverage::Complete)
    }
}

/// Tracker failures. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    #[error("{service} rejected the credentials (HTTP 401); set a valid token in {env} and retry")]
    Unauthorized { service: String, env: &'static str },
    #[error("{service} refused access to {what} (HTTP 403: {message}); the token needs {needs}")]
    Forbidden {
        service: String,
        what: String,
        message: String,
        needs: &'static str,
    },
    #[error(
        "{what} not found on {service} (HTTP 404); check the scope, and that the token can see it"
    )]
    NotFound { service: String, what: String },
    #[error("cannot reach {service} at {url} ({detail}); check the URL ({env}) and your network")]
    Unreachable {
        service: String,
        url: String,
        env: &'static str,
        detail: String,
    },
    #[error("{service} rate limit exhausted until {reset}; retry after that")]
    RateLimited { service: String, reset: String },
    #[error("{service} answered HTTP {status} for {method} {path}: {message}")]
    Http {
        service: String,
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("{service} sent a response backtrack cannot read for {path}: {detail}")]
    Decode {
        service: String,
        path: String,
        detail: String,
    },
    #[error("invalid tracker configuration: {0}")]
    Config(String),
    /// The tracker refused the credentials, with what the user should change (which
    /// variable, which kind of token).
    #[error("{0}")]
    Credentials(String),
    /// The scope does not name what its form says (a Jira issue that is not an epic).
    #[error("{0}")]
    Scope(String),
    /// The consumer of the record stream went away (its own error is the one to report).
    #[error("capture aborted by its consumer")]
    Aborted,
}

impl TrackerError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TrackerError::Unreachable { .. } | TrackerError::RateLimited { .. }
        ) || matches!(self, TrackerError::Http { status, .. } if *status >= 500)
    }
}

/// Reading a tracker that holds one scope's records: what snapshots and diffs need.
#[async_trait]
pub trait Tracker: Send + Sync + Debug {
    fn scope(&self) -> &Scope;

    /// One cheap request that proves the tracker is reachable, the credentials work and the
    /// scope exists, so those failures surface before anything is written.
    async fn check(&self) -> Result<(), TrackerError>;

    /// Like [`Tracker::check`], and also counts the live issues and comments, which an
    /// incremental capture compares with what it holds to notice deletions. `None` when the
    /// tracker cannot count cheaply (incremental captures then rely on periodic full ones).
    async fn probe(&self) -> Result<Option<Totals>, TrackerError> {
        self.check().await.map(|()| None)
    }

    /// Streams every record (or, with `since`, every record updated since) into `out`.
    /// Listings run concurrently, so kinds arrive interleaved, and a record that changed
    /// during the capture may arrive twice: consumers keep the newest `updated_at`.
    async fn fetch(
        &self,
        opts: &FetchOptions,
        out: mpsc::Sender<Record>,
    ) -> Result<FetchReport, TrackerError>;

    /// Requests made by this tracker so far (captures, writes, retries).
    fn requests(&self) -> u64;

    /// How this tracker's records embed copies of others, if they do (see [`Embedding`]).
    fn embedding(&self) -> Option<&dyn Embedding> {
        None
    }

    /// Who changed what after `from` (see [`crate::attribution`]): GitHub's issue events, one
    /// paged listing. `None` for trackers that keep no such log (Jira's changelog is per
    /// issue), without a request.
    async fn activity(
        &self,
        _from: crate::attribution::ActivityFrom,
    ) -> Result<Option<crate::attribution::Activity>, TrackerError> {
        Ok(None)
    }

    /// What planning a rollback must read besides the records (Jira: the fields this user
    /// may edit on each changed issue, and the workflows its status changes walk). Trackers
    /// whose records say everything answer with nothing, without a request.
    async fn rollback_context(
        &self,
        _ask: &jira::ContextRequest,
    ) -> Result<jira::RollbackContext, TrackerError> {
        Ok(jira::RollbackContext::default())
    }
}

/// Definitions whose copies a capture must refresh, by key: the current definition, or
/// `None` where it is gone.
pub type Refresh = BTreeMap<RecordKey, Option<Record>>;

/// Records that carry copies of other records: a GitHub issue embeds its labels and its
/// milestone whole (a Jira issue its components, versions and status).
///
/// Editing, renaming or deleting such a definition changes every copy without touching
/// the `updated_at` of the records that carry one, so an incremental listing does not
/// return them, and a capture that merged the listing into its parent would keep stale
/// copies where a full capture has current ones. A tracker whose records embed says which
/// definitions each record carries (kept in the manifest), when a change of a definition
/// reaches its copies, and how to re-derive a stored record from new definitions without
/// asking the tracker again — so a capture refreshes exactly the records a change reaches,
/// from the store, at no request. Everything here is pure: no I/O.
pub trait Embedding: Send + Sync + Debug {
    /// The kinds of record that carry copies (GitHub: issues).
    fn carriers(&self) -> &[RecordKind];

    /// The kinds of record copied into them (GitHub: labels, milestones).
    fn definitions(&self) -> &[RecordKind];

    /// The definitions `record` carries a copy of; `None` for a kind that carries none.
    fn embeds(&self, record: &Record) -> Option<Vec<RecordKey>>;

    /// Whether a copy of `new` differs from a copy of `old` (the same definition, as two
    /// captures saw it): a change to what is not copied (GitHub: a milestone's issue
    /// counts) reaches no carrier.
    fn copy_changed(&self, old: &Record, new: &Record) -> bool;

    /// `record` (a carrier as a capture stored it) with its copies of the definitions in
    /// `refresh` replaced by the current ones, or dropped where they are gone, normalized by
    /// the same code as a fresh listing: the record a capture made now would hold, byte for
    /// byte, had the tracker listed it.
    fn rederive(&self, record: Record, refresh: &Refresh) -> Result<Record, TrackerError>;
}

/// Writing to a tracker: what rollback needs, on top of reading.
///
/// Whatever a writer must remember between operations (GitHub: milestone numbers by title)
/// it keeps itself; callers hand it operations and nothing else.
#[async_trait]
pub trait TrackerWriter: Tracker {
    /// Applies one operation (one write, plus reads where a reference must be resolved).
    /// Returns what the journal keeps, e.g. the id of a recreated comment. Writes that find
    /// their work already done (a label that exists, a comment already gone) succeed
    /// without changing anything.
    async fn apply(&self, op: &Operation) -> Result<serde_json::Value, TrackerError>;

    /// For an operation that is not idempotent ([`Operation::is_idempotent`]), looks for the
    /// effect of an earlier attempt that may have been written without being journaled (a
    /// recreated comment, found by its hidden marker): what the journal would have kept, or
    /// `None` when the operation still has to be applied. Idempotent operations answer
    /// `None` without a request.
    async fn find_applied(&self, op: &Operation)
        -> Result<Option<serde_json::Value>, TrackerError>;

    /// This writer as a reader (what a snapshot takes). Spelled out because the supported
    /// Rust (1.85) does not coerce `Arc<dyn TrackerWriter>` to `Arc<dyn Tracker>`.
    fn reader(self: Arc<Self>) -> Arc<dyn Tracker>;
}

/// Checks that a credential (a token, an email) can go into an HTTP header and looks like one:
/// printable ASCII without spaces. A control character would make the HTTP layer refuse (or
/// panic on) the header; a space or a non-ASCII character (a typographic quote pasted with
/// the token) would only be answered by a 401 later. `source` (the variable or secret it came
/// from) is named in the error, and `rule` says what the service expects; the value never is.
pub(crate) fn check_credential(value: &str, source: &str, rule: &str) -> Result<(), TrackerError> {
    let len = value.chars().count();
    let problem = value.chars().enumerate().find_map(|(i, c)| {
        let what = if c.is_control() {
            "a control character"
        } else if c == ' ' {
            "a space"
        } else if !c.is_ascii() {
            "a non-ASCII character"
        } else {
            return None;
        };
        Some((i + 1, what))
    });
    match problem {
        None => Ok(()),
        Some((at, what)) => Err(TrackerError::Config(format!(
            "{source} contains {what} (character {at} of {len}); {rule} printable ASCII \
             without spaces: set it again, copied without the stray character"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::{Budget, Spend};

    #[test]
    fn a_walk_stops_between_pages_once_its_budget_is_spent_but_always_reads_one() {
        let spend = Spend {
            budget: Budget {
                max_requests: Some(5),
                deadline: None,
            },
            start: 100,
        };
        // The first page goes even when the fixed reads already spent the budget.
        assert!(!spend.stops(110, 0));
        assert!(!spend.stops(104, 1));
        assert!(spend.stops(105, 1));
        assert!(spend.stops(130, 7));
        // A client count below the start (another capture's client) is no spend at all.
        assert!(!spend.stops(50, 3));
    }

    #[test]
    fn a_deadline_stops_a_walk_and_no_budget_never_does() {
        let past = std::time::Instant::now()
            .checked_sub(std::time::Duration::from_secs(1))
            .unwrap_or_else(std::time::Instant::now);
        let late = Spend {
            budget: Budget {
                max_requests: None,
                deadline: Some(past),
            },
            start: 0,
        };
        assert!(!late.stops(3, 0));
        assert!(late.stops(3, 1));
        assert!(!Spend::UNLIMITED.stops(u64::MAX, u64::MAX));
    }
}
