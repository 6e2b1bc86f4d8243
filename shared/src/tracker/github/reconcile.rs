//! Deletion detection for incremental captures.
//!
//! An incremental capture lists only what changed since the parent snapshot, and a deleted
//! issue or comment simply stops being listed: without a check, the merge would carry it
//! forward forever. The check costs almost nothing when nothing was deleted: the live totals
//! (two `per_page=1` requests whose `Link: rel="last"` is the count, made before the capture)
//! are compared with what the parent plus the changes hold. Only when they disagree does it
//! look for the missing records, cheapest first:
//!
//! 1. comments: issues whose `comments` count (fresh from the changed-issue pages) is below
//!    what we hold get their comment listing read (one request each);
//! 2. otherwise a binary search over the `sort=created` listing, which is ordered by id: a
//!    page whose last id equals ours at the same position proves nothing before it is
//!    missing, so `log2(pages)` requests find each gap;
//! 3. every candidate is confirmed by a direct GET (404/410 = gone) before it is recorded,
//!    so a record that still exists is never tombstoned;
//! 4. if the listing contradicts what we hold (or GitHub refuses a page), that kind is
//!    re-listed whole instead: slower, never wrong.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;
use tokio::sync::mpsc;

use super::{page_items, GitHubTracker, Walked, PER_PAGE};
use crate::record::{Record, RecordKey, RecordKind};
use crate::tracker::{Coverage, FetchReport, Known, Progress, Totals, TrackerError};

/// What the parent snapshot plus the changed records hold, kept current as deletions are found.
#[derive(Debug)]
struct Held {
    issues: BTreeSet<u64>,
    /// Comment id → issue number.
    comments: BTreeMap<u64, u64>,
}

impl GitHubTracker {
    /// Counts a listing with one request: with `per_page=1`, the `last` page number is the
    /// number of items.
    pub(super) async fn count(&self, target: &str) -> Result<u64, TrackerError> {
        let reply = self.client.get(target, None).await?;
        match reply.last_page() {
            Some(n) => Ok(n),
            // No `last` link: the listing fits the one page we asked for.
            None => Ok(page_items(&reply, target)?.len() as u64),
        }
    }

    /// Finds records of the parent that no longer exist, records them in `report`, and
    /// re-lists a kind whole (streaming it to `out`) when the cheap search cannot settle it.
    pub(super) async fn reconcile(
        &self,
        (known, totals): (&Known, Totals),
        issues: &Walked,
        comments: &Walked,
        report: &mut FetchReport,
        progress: &dyn Progress,
        out: &mpsc::Sender<Record>,
    ) -> Result<(), TrackerError> {
        let mut held = Held {
            issues: known.issues.clone(),
            comments: known.comments.clone(),
        };
        held.issues.extend(issues.observed.iter().map(|(n, _)| *n));
        held.comments.extend(comments.observed.iter().copied());

        if (held.issues.len() as u64) > totals.issues {
            let ids: Vec<u64> = held.issues.iter().copied().collect();
            match self
                .find_missing(RecordKind::Issue, &ids, totals.issues)
                .await?
            {
                Some(gone) => {
                    for n in gone {
                        held.issues.remove(&n);
                        report.deleted.push(RecordKey::new(RecordKind::Issue, n));
                        // GitHub deletes an issue's comments with it.
                        let orphans: Vec<u64> = held
                            .comments
                            .iter()
                            .filter(|(_, issue)| **issue == n)
                            .map(|(id, _)| *id)
                            .collect();
                        for id in orphans {
                            held.comments.remove(&id);
                            report.deleted.push(RecordKey::new(RecordKind::Comment, id));
                        }
                    }
                }
                None => {
                    tracing::info!(
                        "issue listing disagrees with the parent snapshot; re-listing every issue"
                    );
                    self.walk_since(
                        RecordKind::Issue,
                        None,
                        &super::Spend::UNLIMITED,
                        progress,
                        out,
                        super::Aside::Nothing,
                    )
                    .await?;
                    report
                        .coverage
                        .insert(RecordKind::Issue, Coverage::Complete);
                }
            }
        }

        if (held.comments.len() as u64) <= totals.comments {
            return Ok(());
        }
        // Issues whose fresh comment count is below what we hold lost comments: their own
        // listing says which.
        let mut per_issue: HashMap<u64, u64> = HashMap::new();
        for issue in held.comments.values() {
            *per_issue.entry(*issue).or_default() += 1;
        }
        let short: Vec<u64> = issues
            .observed
            .iter()
            .filter(|(n, live)| per_issue.get(n).is_some_and(|held| held > live))
            .map(|(n, _)| *n)
            .collect();
        for n in short {
            let live = self.issue_comment_ids(n).await?;
            let gone: Vec<u64> = held
                .comments
                .iter()
                .filter(|(id, issue)| **issue == n && !live.contains(id))
                .map(|(id, _)| *id)
                .collect();
            for id in gone {
                held.comments.remove(&id);
                report.deleted.push(RecordKey::new(RecordKind::Comment, id));
            }
        }
        if (held.comments.len() as u64) <= totals.comments {
            return Ok(());
        }
        let ids: Vec<u64> = held.comments.keys().copied().collect();
        match self
            .find_missing(RecordKind::Comment, &ids, totals.comments)
            .await?
        {
            Some(gone) => report.deleted.extend(
                gone.into_iter()
                    .map(|id| RecordKey::new(RecordKind::Comment, id)),
            ),
            None => {
                tracing::info!(
                    "comment listing disagrees with the parent snapshot; re-listing every comment"
                );
                self.walk_since(
                    RecordKind::Comment,
                    None,
                    &super::Spend::UNLIMITED,
                    progress,
                    out,
                    super::Aside::Nothing,
                )
                .await?;
                report
                    .coverage
                    .insert(RecordKind::Comment, Coverage::Complete);
            }
        }
        Ok(())
    }

    /// The ids of one issue's comments, every page.
    async fn issue_comment_ids(&self, number: u64) -> Result<BTreeSet<u64>, TrackerError> {
        let mut ids = BTreeSet::new();
        let mut next =
            Some(self.repo_path(&format!("/issues/{number}/comments?per_page={PER_PAGE}")));
        while let Some(target) = next {
            let reply = self.client.get(&target, None).await?;
            for item in page_items(&reply, &target)? {
                if let Some(id) = item.get("id").and_then(Value::as_u64) {
                    ids.insert(id);
                }
            }
            next = reply.next_link();
        }
        Ok(ids)
    }

    /// The ids in `held` (ascending) that the live `sort=created` listing no longer has,
    /// each confirmed gone by a direct GET. `None` when the listing contradicts `held` or
    /// cannot be paged, so the caller re-lists instead.
    async fn find_missing(
        &self,
        kind: RecordKind,
        held: &[u64],
        live_total: u64,
    ) -> Result<Option<Vec<u64>>, TrackerError> {
        let live_total = live_total as usize;
        let per = PER_PAGE as usize;
        let pages = live_total.div_ceil(per);
        let mut cache: HashMap<usize, Vec<u64>> = HashMap::new();
        let mut missing: BTreeSet<u64> = BTreeSet::new();
        let mut lo = 1usize;
        while held.len() - missing.len() > live_total {
            let rest: Vec<u64> = held
                .iter()
                .copied()
                .filter(|id| !missing.contains(id))
                .collect();
            // The first page whose last id is not ours at the same position: everything
            // before it matches, so the first gap is on it.
            let (mut a, mut b) = (lo, pages + 1);
            while a < b {
                let mid = (a + b) / 2;
                let page = match self.created_page(kind, mid, &mut cache).await? {
                    Some(p) => p,
                    None => return Ok(None),
                };
                let matches = match page.last() {
                    Some(last) => rest.get((mid - 1) * per + page.len() - 1) == Some(last),
                    None => false,
                };
                if matches {
                    a = mid + 1;
                } else {
                    b = mid;
                }
            }
            if a > pages {
                // Every live id matched: the gaps are past the end (or the listing grew).
                missing.extend(rest.iter().skip(live_total).copied());
                break;
            }
            let page = match self.created_page(kind, a, &mut cache).await? {
                Some(p) => p,
                None => return Ok(None),
            };
            let ours_max = rest.last().copied().unwrap_or(0);
            let mut j = (a - 1) * per;
            let mut found = 0usize;
            for live in page.iter().copied().filter(|id| *id <= ours_max) {
                while j < rest.len() && rest[j] < live {
                    missing.insert(rest[j]);
                    found += 1;
                    j += 1;
                }
                if rest.get(j) != Some(&live) {
                    return Ok(None);
                }
                j += 1;
            }
            if found == 0 {
                return Ok(None);
            }
            lo = a;
        }
        let mut confirmed = Vec::new();
        for id in missing {
            if self.is_gone(kind, id).await? {
                confirmed.push(id);
            } else {
                // Created after the totals were read, or listed oddly: it exists, so it
                // stays.
                tracing::debug!(%kind, id, "candidate still exists; not a deletion");
            }
        }
        Ok(Some(confirmed))
    }

    /// Page `n` of the `sort=created` listing as ids (issue numbers for issues). `None`
    /// when GitHub refuses to page that deep (422).
    async fn created_page(
        &self,
        kind: RecordKind,
        n: usize,
        cache: &mut HashMap<usize, Vec<u64>>,
    ) -> Result<Option<Vec<u64>>, TrackerError> {
        if let Some(ids) = cache.get(&n) {
            return Ok(Some(ids.clone()));
        }
        let (path, field) = match kind {
            RecordKind::Issue => ("/issues?state=all&", "number"),
            _ => ("/issues/comments?", "id"),
        };
        let target = self.repo_path(&format!(
            "{path}sort=created&direction=asc&per_page={PER_PAGE}&page={n}"
        ));
        let reply = match self.client.get(&target, None).await {
            Ok(r) => r,
            Err(TrackerError::Http { status: 422, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let ids: Vec<u64> = page_items(&reply, &target)?
            .iter()
            .filter_map(|item| item.get(field).and_then(Value::as_u64))
            .collect();
        cache.insert(n, ids.clone());
        Ok(Some(ids))
    }

    /// Whether a record is gone (404, or 410 for a deleted issue), or moved to another
    /// repository (a transferred issue answers from its new home).
    async fn is_gone(&self, kind: RecordKind, id: u64) -> Result<bool, TrackerError> {
        let target = match kind {
            RecordKind::Issue => self.repo_path(&format!("/issues/{id}")),
            _ => self.repo_path(&format!("/issues/comments/{id}")),
        };
        match self.client.get(&target, None).await {
            Ok(reply) => {
                let here = self.repo_path("");
                let home = reply
                    .json(&target)?
                    .get("repository_url")
                    .and_then(Value::as_str)
                    .map(|u| u.ends_with(&here))
                    .unwrap_or(true);
                Ok(!home)
            }
            Err(TrackerError::NotFound { .. }) | Err(TrackerError::Http { status: 410, .. }) => {
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }
}
