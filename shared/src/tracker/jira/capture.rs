//! The searches behind a Jira capture, at the request floor.
//!
//! # Full capture
//! Three small requests (the field list, to find custom fields by name; the project's
//! components; its versions), then the scope's issues in search pages of 100 with only the
//! fields a record holds. Comments come embedded in the search results; an issue whose
//! comment total exceeds what the search embedded gets its own comment listing (pages of
//! 100), and no other issue does. An epic takes two searches: the epic and its children
//! (`parent`, or the Epic Link field where the site has one), then the children's subtasks
//! (`parent in (…)`).
//!
//! # Order and consistency
//! Searches are ordered by key, which editing an issue does not change, so an issue edited
//! while the walk runs neither moves past the reader nor pushes an unread one into a page
//! already read. Data Center pages by `startAt`: when `total` shrinks between pages (issues
//! deleted meanwhile, shifting the rest back), the walk steps back by as many rows, reading
//! a few twice rather than skipping any. The cursor is the newest `updated` seen, but never
//! later than the server's clock when the walk began: an issue edited behind the reader is
//! read again by the next capture.
//!
//! # Incremental capture
//! One search of what changed (`updated >= -N minutes`: a relative date is evaluated on
//! the server's clock and is immune to the time zone Jira reads absolute JQL dates in; N
//! covers the parent's cursor minus the overlap), plus an id-only sweep of the scope (5,000
//! ids a page on Cloud, 1,000 on Data Center) that settles membership:
//! - an id the parent holds but the sweep does not is a candidate; a direct GET confirms it:
//!   404 means deleted, 200 outside the scope means moved out (another project, another
//!   epic). Both leave the snapshot, with their comments; a 200 inside the scope (the search
//!   index lagging) keeps the parent's record.
//! - an id the sweep finds that neither the parent nor the change search has came in
//!   without being edited (a subtask whose story moved into the epic): it is fetched.
//! - an issue fetched again brings its full comment list: the parent's comments of that
//!   issue that are not in it were deleted.
//!
//! Jira changes an issue's `updated` when a comment is added, edited or deleted, so a
//! comment change always brings its issue into the change search.
//!
//! # Budgets: partial, then continued
//! A full walk stops between two search pages when the capture's budget runs out (the rule
//! is [`Spend::stops`], shared with GitHub). A page ends only once its issues' comment
//! listings are read, so nothing read is left half. The capture is then `partial`, its
//! cursor holding the walk's [`Checkpoint`] (the search, and the last keys read) and, as
//! `issues_updated`, the bound of the walk's first run. The next capture (an incremental
//! one on the partial parent) goes on with `key > LAST` from the checkpoint, budgeted the
//! same way, checkpoint after checkpoint; the run that reaches the walk's end then catches
//! up as an incremental capture does from the first run's bound: what changed since (issues
//! read in an earlier run and edited since, whose copies in their neighbours are refreshed
//! too), what joined the scope behind the walk, what the runs hold that was deleted or moved
//! out meanwhile, and the carriers of copies of issues that left before the walk reached
//! them. The last key is checked to exist before the search names it (a JQL comparison
//! with a missing key is refused on Cloud and matches nothing on Data Center): if it was
//! deleted, an earlier one of the checkpoint's keys serves, and the search starts over when
//! none is left (reading a few issues again, never skipping one).
//!
//! An incremental capture on a completed parent searches what changed the same way: the
//! walk above with an `updated` window, in key order, stopping between pages with a
//! checkpoint that also keeps the window's bound (`changes_since`); the cursor's
//! `issues_updated` is then the bound of the run that began the search. Before that run
//! ends, the neighbours of what it read are read again (the runs after it do not know those
//! changed). The next capture continues the search after the checkpoint's key with the
//! same window, checkpoint after checkpoint; the run that reaches its end catches up from
//! the cursor, as after a full walk: issues the earlier runs passed and that changed since
//! are in that search.
//!
//! The catch-up after a continued walk or search runs whole once started (as GitHub's
//! reconciliation does), so the run that reaches a walk's end completes the snapshot
//! however often the scope is edited; it reads what changed while the runs went on. What
//! settles membership (the id sweep, arrivals, confirmed deletions) runs only in the run
//! that completes a capture: a few requests.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::convert::{self, Context, CustomFields, ISSUE_FIELDS};
use super::{Flavor, JiraTracker};
use crate::manifest::{Checkpoint, Cursor};
use crate::record::{JiraComment, Record, RecordKey, RecordKind};
use crate::tracker::{Coverage, FetchOptions, FetchReport, Known, Progress, Spend, TrackerError};

/// Issues per search page (Jira's largest for full fields).
const PAGE: u64 = 100;
/// Ids per page of an id-only search: Jira Cloud returns up to 5,000 when only ids are asked.
const ID_PAGE_CLOUD: u64 = 5_000;
/// Data Center's default cap on a search page.
const ID_PAGE_DC: u64 = 1_000;
/// Comments per page of a comment listing.
const COMMENT_PAGE: u64 = 100;
/// Ids in one `in (…)` list, which keeps a JQL query far below Jira's size limits.
const ID_BATCH: usize = 500;
/// Keys a checkpoint keeps (see [`Checkpoint::after`]).
const CHECKPOINT_KEYS: usize = 8;

/// One search, page by page, in the flavour's pagination.
pub(super) struct Search<'t> {
    tracker: &'t JiraTracker,
    flavor: Flavor,
    jql: String,
    fields: Vec<String>,
    /// Issue properties each hit carries (`properties`; none unless asked).
    properties: Vec<String>,
    max: u64,
    token: Option<String>,
    start_at: u64,
    last_total: Option<u64>,
    done: bool,
}

impl<'t> Search<'t> {
    pub(super) fn new(
        tracker: &'t JiraTracker,
        flavor: Flavor,
        jql: String,
        fields: Vec<String>,
        max: u64,
    ) -> Self {
        Search {
            tracker,
            flavor,
            jql,
            fields,
            properties: Vec::new(),
            max,
            token: None,
            start_at: 0,
            last_total: None,
            done: false,
        }
    }

    /// Each hit also carries these issue properties.
    pub(super) fn with_properties(mut self, keys: &[&str]) -> Self {
        self.properties = keys.iter().map(|k| k.to_string()).collect();
        self
    }

    /// The next page's issues, or `None` when the search is exhausted. Also the total, where
    /// the flavour says it.
    pub(super) async fn next(&mut self) -> Result<Option<(Vec<Value>, Option<u64>)>, TrackerError> {
        if self.done {
            return Ok(None);
        }
        let client = &self.tracker.client;
        match self.flavor {
            Flavor::Cloud => {
                let mut body = json!({
                    "jql": self.jql,
                    "fields": self.fields,
                    "maxResults": self.max,
                });
                if let Some(token) = &self.token {
                    body["nextPageToken"] = json!(token);
                }
                if !self.properties.is_empty() {
                    body["properties"] = json!(self.properties);
                }
                let path = "/rest/api/3/search/jql";
                let page = client.post(path, &body).await?;
                let issues = issues_of(&page, path)?;
                self.token = page
                    .get("nextPageToken")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                // `isLast` where Jira sends it; no token means the last page too. An empty
                // page ends the walk whatever it claims, so a confused server cannot loop it.
                let last = page.get("isLast").and_then(Value::as_bool) == Some(true);
                self.done = last || self.token.is_none() || issues.is_empty();
                Ok(Some((issues, None)))
            }
            Flavor::DataCenter => {
                // A key or id the query names may have been deleted since it was read (a
                // race, not an error): Data Center then warns instead of refusing the query.
                let mut body = json!({
                    "jql": self.jql,
                    "fields": self.fields,
                    "startAt": self.start_at,
                    "maxResults": self.max,
                    "validateQuery": "warn",
                });
                if !self.properties.is_empty() {
                    body["properties"] = json!(self.properties);
                }
                let path = "/rest/api/2/search";
                let page = client.post(path, &body).await?;
                let issues = issues_of(&page, path)?;
                let total = page.get("total").and_then(Value::as_u64).unwrap_or(0);
                let got = issues.len() as u64;
                let shrunk = self.last_total.map_or(0, |prev| prev.saturating_sub(total));
                self.start_at = if shrunk > 0 {
                    // Rows deleted meanwhile shifted the rest back by `shrunk`: the ones that
                    // moved in front of this page were never read. Step back as far (the
                    // overlap is read twice; duplicates are dropped by id).
                    self.start_at.saturating_sub(shrunk)
                } else {
                    self.start_at + got
                };
                self.last_total = Some(total);
                self.done = got == 0 || self.start_at >= total;
                Ok(Some((issues, Some(total))))
            }
        }
    }
}

fn issues_of(page: &Value, path: &str) -> Result<Vec<Value>, TrackerError> {
    page.get("issues")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| TrackerError::Decode {
            service: "Jira".into(),
            path: path.to_string(),
            detail: "a search result without an `issues` list".into(),
        })
}

fn id_of(v: &Value) -> Option<u64> {
    match v.get("id")? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn id_list(ids: &[u64]) -> String {
    ids.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a capture has seen so far.
#[derive(Default)]
struct Walk {
    /// Issues read with all their fields, with the `updated` read.
    fetched: HashMap<u64, DateTime<Utc>>,
    /// Issues whose comments were read whole, with the comment ids found.
    comments: HashMap<u64, HashSet<u64>>,
    newest: Option<DateTime<Utc>>,
    /// The budget, while a walk runs: a full one, or an incremental capture's search of what
    /// changed (what settles membership and the neighbours' copies runs whole).
    spend: Option<Spend>,
    /// Search pages read.
    pages: u64,
    /// The last keys read whole, in walk order (a checkpoint's `after`).
    last_keys: Vec<String>,
    /// Issues a continued full walk read: in the catch-up that follows, only those of them
    /// changed since the cursor count as changed.
    walked: HashSet<u64>,
    /// Epic scopes: the epic and its children, by id (whose subtasks are in scope too).
    parents: BTreeSet<u64>,
    /// The issues each issue read holds copies of (parent, subtasks, link ends).
    related: HashMap<u64, Vec<u64>>,
}

/// How a full walk ended.
enum Walked {
    Whole,
    /// The budget ran out; the next capture continues from here.
    Stopped(Checkpoint),
}

impl JiraTracker {
    /// The JQL of the scope's first search: the project, or the epic and its children.
    fn scope_jql(&self, fields: &CustomFields) -> String {
        match &self.epic {
            None => format!("project = \"{}\"", self.project),
            Some(epic) => {
                let mut jql = format!("key = \"{epic}\" OR parent = \"{epic}\"");
                if let Some(n) = fields
                    .epic_link
                    .as_deref()
                    .and_then(|id| id.strip_prefix("customfield_"))
                {
                    jql.push_str(&format!(" OR cf[{n}] = \"{epic}\""));
                }
                jql
            }
        }
    }

    fn issue_fields(fields: &CustomFields) -> Vec<String> {
        ISSUE_FIELDS
            .iter()
            .copied()
            .chain(fields.ids())
            .map(str::to_string)
            .collect()
    }

    pub(super) async fn capture(
        &self,
        opts: &FetchOptions,
        out: mpsc::Sender<Record>,
    ) -> Result<FetchReport, TrackerError> {
        let before = self.client.requests();
        let flavor = self.flavor().await?;
        let api = flavor.api();
        let progress = opts.progress.as_ref();
        let (field_list, components, versions) = futures::future::try_join3(
            self.client.get(&format!("{api}/field")),
            self.client
                .get(&format!("{api}/project/{}/components", self.project)),
            self.client
                .get(&format!("{api}/project/{}/versions", self.project)),
        )
        .await
        .map_err(|e| match e {
            TrackerError::NotFound { service, .. } => TrackerError::NotFound {
                service,
                what: format!("project {}", self.project),
            },
            other => other,
        })?;
        let walk_start = self.client.server_date();
        let fields = CustomFields::discover(&field_list);
        let site = self.client.base().to_string();
        let path = format!("{api}/search");
        let cx = Context {
            site: &site,
            fields: &fields,
            path: &path,
        };
        for (list, kind) in [
            (components, RecordKind::Component),
            (versions, RecordKind::Version),
        ] {
            let items = list.as_array().cloned().unwrap_or_default();
            let n = items.len() as u64;
            for raw in items {
                let record = match kind {
                    RecordKind::Component => Record::Component(convert::component(raw, &cx)?),
                    _ => Record::Version(convert::version(raw, &cx)?),
                };
                out.send(record).await.map_err(|_| TrackerError::Aborted)?;
            }
            progress.update(kind, n, Some(n));
        }

        let mut walk = Walk::default();
        let mut report = FetchReport::default();
        let incremental = opts.since.is_some();
        let parent_cursor = opts.since.clone().unwrap_or_default();
        let spend = Spend {
            budget: opts.budget,
            start: before,
        };
        walk.spend = Some(spend);
        // Whether the walk stopped in the search it continued (whose first run's bound the
        // cursor keeps), not in one this run began.
        let mut continued = false;
        let walked = match &opts.since {
            None => {
                self.walk_full(flavor, &cx, None, "", &mut walk, progress, &out)
                    .await?
            }
            Some(cursor) => {
                let walked = match &cursor.checkpoint {
                    Some(checkpoint) => {
                        let changes = checkpoint.changes_since;
                        let window = self.window(changes.map(|s| back(s, opts.overlap)));
                        let walked = self
                            .walk_full(
                                flavor,
                                &cx,
                                Some(checkpoint),
                                &window,
                                &mut walk,
                                progress,
                                &out,
                            )
                            .await?;
                        if changes.is_none() {
                            // A full walk reads issues whatever changed: in the catch-up,
                            // only those changed since the cursor count as changed.
                            walk.walked = walk.fetched.keys().copied().collect();
                        }
                        match walked {
                            Walked::Stopped(cp) => {
                                continued = true;
                                Walked::Stopped(Checkpoint {
                                    changes_since: changes,
                                    ..cp
                                })
                            }
                            whole => whole,
                        }
                    }
                    None => Walked::Whole,
                };
                match walked {
                    Walked::Whole => {
                        if cursor.checkpoint.is_some() {
                            // The catch-up after a continued search runs whole once
                            // started, so the run that reaches a search's end completes.
                            walk.spend = None;
                        }
                        self.walk_changes(
                            flavor,
                            &cx,
                            cursor,
                            opts,
                            &mut walk,
                            &mut report,
                            progress,
                            &out,
                        )
                        .await?
                    }
                    stopped => stopped,
                }
            }
        };
        if incremental {
            report
                .coverage
                .insert(RecordKind::JiraIssue, Coverage::Changes);
            report
                .coverage
                .insert(RecordKind::JiraComment, Coverage::Changes);
            if let Some(known) = &opts.known {
                // Comments of issues read again, but no longer among their comments.
                for (comment, issue) in &known.comments {
                    if walk
                        .comments
                        .get(issue)
                        .is_some_and(|ids| !ids.contains(comment))
                    {
                        report
                            .deleted
                            .push(RecordKey::new(RecordKind::JiraComment, comment));
                    }
                }
            }
        }
        let bound = match (walk_start, walk.newest) {
            (Some(start), Some(newest)) => Some(start.min(newest)),
            (start, newest) => newest.or(start),
        };
        let (issues_updated, checkpoint) = match walked {
            Walked::Whole => (bound.max(parent_cursor.issues_updated), None),
            // A run continuing a checkpoint keeps the first run's bound: the catch-up still
            // owes everything changed since.
            Walked::Stopped(cp) if continued => (parent_cursor.issues_updated, Some(cp)),
            // A search begun in this run: the catch-up owes what changed since this run
            // began (the parent's cursor is earlier still, when the run read nothing).
            Walked::Stopped(cp) => (bound.or(parent_cursor.issues_updated), Some(cp)),
        };
        report.partial = checkpoint.is_some();
        if report.partial {
            tracing::warn!("budget spent; stopping here (partial): run again to continue");
        }
        report.cursor = Cursor {
            issues_updated,
            comments_updated: None,
            etags: BTreeMap::new(),
            since_reconcile: 0,
            checkpoint,
        };
        report.requests = self.client.requests() - before;
        Ok(report)
    }

    /// Every issue of the scope, from the start or from a checkpoint, until the budget (if
    /// any) runs out; with a `window` (see [`JiraTracker::window`]), every issue of the
    /// scope that changed since it: an incremental capture's search of what changed, which
    /// stops and continues the same way.
    #[allow(clippy::too_many_arguments)]
    async fn walk_full(
        &self,
        flavor: Flavor,
        cx: &Context<'_>,
        from: Option<&Checkpoint>,
        window: &str,
        walk: &mut Walk,
        progress: &dyn Progress,
        out: &mpsc::Sender<Record>,
    ) -> Result<Walked, TrackerError> {
        let all = Self::issue_fields(cx.fields);
        let scope = self.scope_jql(cx.fields);
        let stage = from.map_or(0, |c| c.search);
        if stage == 0 {
            let jql = match self.after(flavor, from).await? {
                Some(key) => format!("({scope}){window} AND key > \"{key}\" ORDER BY key ASC"),
                None => format!("({scope}){window} ORDER BY key ASC"),
            };
            if self
                .search_into(flavor, jql, &all, cx, walk, progress, out, true)
                .await?
            {
                return Ok(Walked::Stopped(Checkpoint {
                    search: 0,
                    after: walk.last_keys.clone(),
                    changes_since: None,
                }));
            }
        }
        if self.epic.is_some() {
            // The epic's issues, whose subtasks are in scope: this run's first search found
            // them all unless it continued an earlier run's.
            let parents: Vec<u64> = if from.is_some() {
                let top = self.sweep_top(flavor, cx).await?;
                walk.parents.extend(top.iter().copied());
                top.into_iter().collect()
            } else {
                walk.parents.iter().copied().collect()
            };
            walk.last_keys.clear();
            let after = match from {
                Some(cp) if cp.search == 1 => self.after(flavor, Some(cp)).await?,
                _ => None,
            };
            // With several batches a key filter passes over the earlier keys of the later
            // batches: the catch-up's sweep finds those as having joined, and reads them.
            let filter = after
                .map(|k| format!(" AND key > \"{k}\""))
                .unwrap_or_default();
            for batch in parents.chunks(ID_BATCH) {
                let jql = format!(
                    "parent in ({}){window}{filter} ORDER BY key ASC",
                    id_list(batch)
                );
                if self
                    .search_into(flavor, jql, &all, cx, walk, progress, out, false)
                    .await?
                {
                    return Ok(Walked::Stopped(Checkpoint {
                        search: 1,
                        after: walk.last_keys.clone(),
                        changes_since: None,
                    }));
                }
            }
        }
        Ok(Walked::Whole)
    }

    /// The newest of a checkpoint's keys that still names an issue in the scope's project
    /// under that key, for a `key >` comparison; `None` to start the search over.
    async fn after(
        &self,
        flavor: Flavor,
        from: Option<&Checkpoint>,
    ) -> Result<Option<String>, TrackerError> {
        let Some(cp) = from else { return Ok(None) };
        for key in cp.after.iter().rev() {
            // Keys come from the tracker; one that could break out of a quoted JQL string
            // is not used.
            if key.contains(['"', '\\']) {
                continue;
            }
            let path = format!("{}/issue/{key}?fields=project", flavor.api());
            match self.client.get_opt(&path).await? {
                Some(issue)
                    if issue
                        .get("key")
                        .and_then(Value::as_str)
                        .is_some_and(|k| k.eq_ignore_ascii_case(key)) =>
                {
                    return Ok(Some(key.clone()));
                }
                _ => tracing::info!(%key, "a checkpoint's key is gone; trying an earlier one"),
            }
        }
        tracing::info!("none of the checkpoint's keys is left: the search starts over");
        Ok(None)
    }

    /// Runs one full-field search, converting and sending each issue. With `first`, an
    /// epic scope's hits are its epic and children (whose subtasks the next search reads).
    /// `true` when the walk's budget stopped it before the search's end.
    #[allow(clippy::too_many_arguments)]
    async fn search_into(
        &self,
        flavor: Flavor,
        jql: String,
        fields: &[String],
        cx: &Context<'_>,
        walk: &mut Walk,
        progress: &dyn Progress,
        out: &mpsc::Sender<Record>,
        first: bool,
    ) -> Result<bool, TrackerError> {
        let mut search = Search::new(self, flavor, jql, fields.to_vec(), PAGE);
        loop {
            if search.done {
                break;
            }
            // Between two pages: every issue read so far is whole (its comments too).
            if walk
                .spend
                .is_some_and(|spend| spend.stops(self.client.requests(), walk.pages))
            {
                return Ok(true);
            }
            let Some((issues, total)) = search.next().await? else {
                break;
            };
            walk.pages += 1;
            let mut to_list = Vec::new();
            let mut keys = Vec::with_capacity(issues.len());
            for raw in issues {
                let (issue, embedded) = convert::issue(raw, cx)?;
                keys.push(issue.key.clone());
                if first && self.epic.is_some() {
                    walk.parents.insert(issue.id);
                }
                // Read twice (a page re-read after rows shifted, or an issue in two
                // searches): once is enough unless it changed in between.
                if walk
                    .fetched
                    .get(&issue.id)
                    .is_some_and(|seen| *seen >= issue.updated_at)
                {
                    continue;
                }
                walk.newest = walk.newest.max(Some(issue.updated_at));
                walk.fetched.insert(issue.id, issue.updated_at);
                walk.related.insert(issue.id, convert::related(&issue.raw));
                if embedded.incomplete() {
                    to_list.push(issue.id);
                } else {
                    let ids = walk.comments.entry(issue.id).or_default();
                    for c in embedded.comments {
                        ids.insert(c.id);
                        out.send(Record::JiraComment(c))
                            .await
                            .map_err(|_| TrackerError::Aborted)?;
                    }
                }
                out.send(Record::JiraIssue(issue))
                    .await
                    .map_err(|_| TrackerError::Aborted)?;
            }
            // The page's comment listings before the next page, so a walk stopped by its
            // budget leaves no issue without its comments.
            self.list_comments(flavor, cx, to_list, walk, out).await?;
            walk.last_keys.extend(keys);
            let excess = walk.last_keys.len().saturating_sub(CHECKPOINT_KEYS);
            walk.last_keys.drain(..excess);
            progress.update(RecordKind::JiraIssue, walk.fetched.len() as u64, total);
        }
        Ok(false)
    }

    /// The ids in the scope now, by an id-only sweep; for an epic, its children too (the
    /// epic and its children first, then their subtasks).
    async fn sweep(
        &self,
        flavor: Flavor,
        cx: &Context<'_>,
    ) -> Result<(BTreeSet<u64>, BTreeSet<u64>), TrackerError> {
        let top = self.sweep_top(flavor, cx).await?;
        let mut all = top.clone();
        if self.epic.is_some() {
            let parents: Vec<u64> = top.iter().copied().collect();
            for batch in parents.chunks(ID_BATCH) {
                all.extend(
                    self.ids_of(
                        flavor,
                        format!("parent in ({}) ORDER BY key ASC", id_list(batch)),
                    )
                    .await?,
                );
            }
        }
        Ok((all, top))
    }

    /// The ids the scope's own search finds (an epic: the epic and its children).
    async fn sweep_top(
        &self,
        flavor: Flavor,
        cx: &Context<'_>,
    ) -> Result<BTreeSet<u64>, TrackerError> {
        self.ids_of(
            flavor,
            format!("{} ORDER BY key ASC", self.scope_jql(cx.fields)),
        )
        .await
    }

    /// The ids a search finds, in id-only pages.
    async fn ids_of(&self, flavor: Flavor, jql: String) -> Result<BTreeSet<u64>, TrackerError> {
        let max = match flavor {
            Flavor::Cloud => ID_PAGE_CLOUD,
            Flavor::DataCenter => ID_PAGE_DC,
        };
        let mut found = BTreeSet::new();
        let mut search = Search::new(self, flavor, jql, vec!["id".to_string()], max);
        while let Some((issues, _)) = search.next().await? {
            found.extend(issues.iter().filter_map(id_of));
        }
        Ok(found)
    }

    /// The JQL that keeps a search to what changed since `from`: a relative date, in whole
    /// minutes back from the server's now, rounded up, plus one (see the module doc).
    /// Empty without a bound.
    fn window(&self, from: Option<DateTime<Utc>>) -> String {
        match from {
            Some(from) => {
                let now = self.client.server_date().unwrap_or_else(Utc::now);
                let minutes = (now - from).num_seconds().max(0) / 60 + 2;
                format!(" AND updated >= \"-{minutes}m\"")
            }
            None => String::new(),
        }
    }

    /// What changed since the parent's cursor, and what left or silently joined the scope.
    /// The search of what changed stops between pages when the budget runs out (a
    /// checkpoint, continued by the next capture); what settles membership runs once it
    /// is whole.
    #[allow(clippy::too_many_arguments)]
    async fn walk_changes(
        &self,
        flavor: Flavor,
        cx: &Context<'_>,
        cursor: &Cursor,
        opts: &FetchOptions,
        walk: &mut Walk,
        report: &mut FetchReport,
        progress: &dyn Progress,
        out: &mpsc::Sender<Record>,
    ) -> Result<Walked, TrackerError> {
        let all = Self::issue_fields(cx.fields);
        let (current, parents) = self.sweep(flavor, cx).await?;
        walk.parents = parents.clone();
        let window_from = cursor.issues_updated.map(|since| back(since, opts.overlap));
        let window = self.window(window_from);
        let changed = self
            .walk_full(flavor, cx, None, &window, walk, progress, out)
            .await?;
        walk.spend = None;
        let changed = match changed {
            Walked::Stopped(cp) => Walked::Stopped(Checkpoint {
                changes_since: cursor.issues_updated,
                ..cp
            }),
            whole => whole,
        };
        let Some(known) = &opts.known else {
            tracing::warn!(
                "incremental capture without the parent's ids: deletions since the parent are not detected"
            );
            return Ok(changed);
        };
        if matches!(changed, Walked::Stopped(_)) {
            // The runs after this one do not know what it read changed: the copies its
            // neighbours hold of it are refreshed now, as the run that completes the
            // search does for what it reads. Membership waits for that run.
            let touched = touched(walk, window_from);
            self.read_neighbours(
                flavor, cx, &all, &touched, known, &current, walk, progress, out,
            )
            .await?;
            return Ok(changed);
        }
        // In the scope without having changed: moved in along with a parent, or restored.
        let arrived: Vec<u64> = current
            .iter()
            .filter(|id| !known.issues.contains(id) && !walk.fetched.contains_key(id))
            .copied()
            .collect();
        for batch in arrived.chunks(ID_BATCH) {
            let jql = format!("id in ({}) ORDER BY key ASC", id_list(batch));
            self.search_into(flavor, jql, &all, cx, walk, progress, out, false)
                .await?;
        }
        // Held by the parent, no longer found: confirm each before recording it gone.
        let missing: Vec<u64> = known
            .issues
            .iter()
            .filter(|id| !current.contains(id) && !walk.fetched.contains_key(id))
            .copied()
            .collect();
        let epic_link = cx.fields.epic_link.clone();
        let confirmations = futures::stream::iter(missing.into_iter().map(|id| {
            let epic_link = epic_link.clone();
            let parents = &parents;
            async move {
                let mut fields = vec!["project", "parent", "issuetype"];
                if let Some(f) = epic_link.as_deref() {
                    fields.push(f);
                }
                let path = format!("{}/issue/{id}?fields={}", flavor.api(), fields.join(","));
                let found = self.client.get_opt(&path).await?;
                let gone = match &found {
                    None => true,
                    Some(issue) => !self.in_scope(issue, epic_link.as_deref(), parents),
                };
                Ok::<_, TrackerError>((id, gone, found.is_some()))
            }
        }))
        .buffer_unordered(self.concurrency)
        .try_collect::<Vec<_>>()
        .await?;
        let mut gone: BTreeSet<u64> = BTreeSet::new();
        for (id, is_gone, exists) in confirmations {
            if is_gone {
                tracing::debug!(issue = id, moved_out = exists, "issue left the scope");
                gone.insert(id);
                report
                    .deleted
                    .push(RecordKey::new(RecordKind::JiraIssue, id));
            } else {
                tracing::info!(
                    issue = id,
                    "an issue the search did not list is still in the scope; keeping it"
                );
            }
        }
        for (comment, issue) in &known.comments {
            if gone.contains(issue) {
                report
                    .deleted
                    .push(RecordKey::new(RecordKind::JiraComment, comment));
            }
        }
        // After a checkpoint: issues the earlier runs' records hold copies of that no run read
        // and that are not in the scope now were deleted or moved out before the walk reached
        // them, which moves no carrier's `updated` (and no parent knew them to report gone).
        // A link to another project's issue looks the same and costs its carriers a read.
        let unseen: Vec<u64> = if cursor.checkpoint.is_some() {
            embedded_in(known)
                .keys()
                .filter(|id| {
                    !known.issues.contains(id)
                        && !current.contains(id)
                        && !walk.fetched.contains_key(id)
                })
                .copied()
                .collect()
        } else {
            Vec::new()
        };
        let touched: Vec<u64> = touched(walk, window_from)
            .into_iter()
            .chain(gone.iter().copied())
            .chain(unseen)
            .collect();
        self.read_neighbours(
            flavor, cx, &all, &touched, known, &current, walk, progress, out,
        )
        .await?;
        Ok(Walked::Whole)
    }

    /// Reads again the issues in the scope (`current`) that hold a copy of one of `touched`
    /// (changed, arrived or left) and that this capture has not read: Jira rewrites a
    /// parent's subtask list, a subtask's copy of its parent and both ends of a link
    /// without moving their `updated`. A search of their ids, whole.
    #[allow(clippy::too_many_arguments)]
    async fn read_neighbours(
        &self,
        flavor: Flavor,
        cx: &Context<'_>,
        all: &[String],
        touched: &[u64],
        known: &Known,
        current: &BTreeSet<u64>,
        walk: &mut Walk,
        progress: &dyn Progress,
        out: &mpsc::Sender<Record>,
    ) -> Result<(), TrackerError> {
        let embedded_in = embedded_in(known);
        let old = |id: &u64| -> Vec<u64> {
            known
                .embeds
                .get(id)
                .into_iter()
                .flatten()
                .filter(|k| k.kind == RecordKind::JiraIssue)
                .filter_map(|k| k.id.parse().ok())
                .collect()
        };
        let mut neighbours: BTreeSet<u64> = BTreeSet::new();
        for id in touched {
            neighbours.extend(old(id));
            neighbours.extend(embedded_in.get(id).into_iter().flatten());
            neighbours.extend(walk.related.get(id).into_iter().flatten());
        }
        let again: Vec<u64> = neighbours
            .into_iter()
            .filter(|id| current.contains(id) && !walk.fetched.contains_key(id))
            .collect();
        if !again.is_empty() {
            tracing::debug!(
                issues = again.len(),
                "reading neighbours of changed issues again"
            );
        }
        for batch in again.chunks(ID_BATCH) {
            let jql = format!("id in ({}) ORDER BY key ASC", id_list(batch));
            self.search_into(flavor, jql, all, cx, walk, progress, out, false)
                .await?;
        }
        Ok(())
    }

    /// Whether an issue (as a direct GET returned it) belongs to the scope.
    fn in_scope(&self, issue: &Value, epic_link: Option<&str>, parents: &BTreeSet<u64>) -> bool {
        let f = issue.get("fields");
        let field = |name: &str| f.and_then(|f| f.get(name));
        let project = field("project")
            .and_then(|p| p.get("key"))
            .and_then(Value::as_str);
        match &self.epic {
            None => project.is_some_and(|p| p.eq_ignore_ascii_case(&self.project)),
            Some(epic) => {
                let key = issue.get("key").and_then(Value::as_str);
                let parent = field("parent");
                let parent_key = parent.and_then(|p| p.get("key")).and_then(Value::as_str);
                let parent_id = parent.and_then(id_of);
                let link = epic_link.and_then(field).and_then(|v| match v {
                    Value::String(s) => Some(s.as_str()),
                    other => other.get("key").and_then(Value::as_str),
                });
                key == Some(epic.as_str())
                    || parent_key == Some(epic.as_str())
                    || link == Some(epic.as_str())
                    || parent_id.is_some_and(|p| parents.contains(&p))
            }
        }
    }

    /// Lists the comments of issues whose search result did not embed them all.
    async fn list_comments(
        &self,
        flavor: Flavor,
        cx: &Context<'_>,
        ids: Vec<u64>,
        walk: &mut Walk,
        out: &mpsc::Sender<Record>,
    ) -> Result<(), TrackerError> {
        if ids.is_empty() {
            return Ok(());
        }
        let listed: Vec<(u64, Vec<JiraComment>)> = futures::stream::iter(ids.into_iter().map(|id| async move {
            let mut comments = Vec::new();
            let mut start = 0u64;
            loop {
                let path = format!(
                    "{}/issue/{id}/comment?startAt={start}&maxResults={COMMENT_PAGE}&orderBy=created",
                    flavor.api()
                );
                let page = self.client.get(&path).await?;
                let items = page
                    .get("comments")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let total = page.get("total").and_then(Value::as_u64).unwrap_or(0);
                let got = items.len() as u64;
                let page_cx = Context { path: &path, ..cx.clone() };
                for raw in items {
                    comments.push(convert::comment(raw, id, &page_cx)?);
                }
                start += got;
                if got == 0 || start >= total {
                    break;
                }
            }
            Ok::<_, TrackerError>((id, comments))
        }))
        .buffer_unordered(self.concurrency)
        .try_collect()
        .await?;
        for (issue, comments) in listed {
            let ids = walk.comments.entry(issue).or_default();
            for c in comments {
                ids.insert(c.id);
                out.send(Record::JiraComment(c))
                    .await
                    .map_err(|_| TrackerError::Aborted)?;
            }
        }
        Ok(())
    }
}

/// `since` less the overlap an incremental capture reads again.
fn back(since: DateTime<Utc>, overlap: chrono::Duration) -> DateTime<Utc> {
    since.checked_sub_signed(overlap).unwrap_or(since)
}

/// Issue → the issues whose records (as the parent holds them) embed a copy of it.
fn embedded_in(known: &Known) -> HashMap<u64, Vec<u64>> {
    let mut embedded_in: HashMap<u64, Vec<u64>> = HashMap::new();
    for (carrier, keys) in &known.embeds {
        for k in keys.iter().filter(|k| k.kind == RecordKind::JiraIssue) {
            if let Ok(id) = k.id.parse::<u64>() {
                embedded_in.entry(id).or_default().push(*carrier);
            }
        }
    }
    embedded_in
}

/// The issues this capture read that count as changed: all of them, except those a
/// continued full walk read that did not change since the window opened (the others'
/// copies in their neighbours, read after the window opened, are current).
fn touched(walk: &Walk, window_from: Option<DateTime<Utc>>) -> Vec<u64> {
    walk.fetched
        .iter()
        .filter(|(id, updated)| {
            !walk.walked.contains(id) || window_from.is_none_or(|from| **updated >= from)
        })
        .map(|(id, _)| *id)
        .collect()
}
