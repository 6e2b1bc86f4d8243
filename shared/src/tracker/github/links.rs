//! Sub-issue order and dependencies: what an issue's own JSON does not hold.
//!
//! An issue says how many sub-issues it has (`sub_issues_summary.total`) and how many issues
//! block it (`issue_dependencies_summary.total_blocked_by`), not which, nor in what order.
//! Those come from `GET …/issues/{n}/sub_issues` and `…/dependencies/blocked_by`, one request
//! each, made only for issues whose total is non-zero. A dependency is kept once, on the
//! blocked issue (`blocking` is the same edge seen from the other end, and its own listing
//! would double the cost).
//!
//! **Incremental captures.** On GitHub, adding a sub-issue leaves the parent's `updated_at`
//! as it was, so a `since` listing does not return an issue whose links changed, and its
//! summary totals go stale too. The activity log, read before the issues, names them: every
//! link write records `sub_issue_*`/`parent_issue_*` or `blocked_by_*`/`blocking_*` on both
//! issues, and those issues are read again (one `GET` each, plus their listings). A reorder
//! records no event, so each parent with two or more sub-issues (known from the parent
//! manifest's entries, which list a parent's sub-issues in order) has its listing read again
//! and compared: one request per such parent, and a `GET` only when the order moved.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;
use tokio::sync::mpsc;

use super::{convert, page_items, GitHubTracker, PER_PAGE};
use crate::record::{Issue, Record, RecordKind};
use crate::tracker::{Known, TrackerError};

/// A summary total of an issue's raw JSON (`0` when absent).
fn total(raw: &Value, pointer: &str) -> u64 {
    raw.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

/// What a link refresh cost and found, for the capture's report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Relinked {
    /// Issues read again because their links changed.
    pub issues: u64,
    /// Parents whose order was checked.
    pub parents: u64,
}

impl GitHubTracker {
    /// The numbers of this repository's issues in a listing of issues, in its order (issues
    /// of other repositories are left out: a restore addresses this repository only).
    async fn list_numbers(&self, first: String) -> Result<Vec<u64>, TrackerError> {
        let mine = format!("{}/issues/", self.repo_path("")).to_ascii_lowercase();
        let mut out = Vec::new();
        let mut next = Some(first);
        while let Some(target) = next.take() {
            let reply = self.client.get(&target, None).await?;
            for item in page_items(&reply, &target)? {
                let url = item.get("url").and_then(Value::as_str).unwrap_or("");
                let same_repo = url.to_ascii_lowercase().contains(&mine);
                if let (true, Some(n)) = (same_repo, item.get("number").and_then(Value::as_u64)) {
                    out.push(n);
                } else {
                    tracing::debug!(url, "a linked issue of another repository is not kept");
                }
            }
            next = reply.next_link();
        }
        Ok(out)
    }

    /// A parent's sub-issues, in priority order.
    async fn sub_issue_order(&self, parent: u64) -> Result<Vec<u64>, TrackerError> {
        self.list_numbers(
            self.repo_path(&format!("/issues/{parent}/sub_issues?per_page={PER_PAGE}")),
        )
        .await
    }

    /// Fills the issue's sub-issue order and blockers from their listings, where its totals
    /// say it has any (`order`: the sub-issue listing, when already read).
    pub(super) async fn read_links(
        &self,
        issue: &mut Issue,
        order: Option<Vec<u64>>,
    ) -> Result<(), TrackerError> {
        let n = issue.number;
        issue.model.sub_issues = match order {
            Some(order) => order,
            None if total(&issue.raw, "/sub_issues_summary/total") > 0 => {
                self.sub_issue_order(n).await?
            }
            None => Vec::new(),
        };
        issue.model.blocked_by =
            if total(&issue.raw, "/issue_dependencies_summary/total_blocked_by") > 0 {
                let mut blockers = self
                    .list_numbers(self.repo_path(&format!(
                        "/issues/{n}/dependencies/blocked_by?per_page={PER_PAGE}"
                    )))
                    .await?;
                blockers.sort_unstable();
                blockers.dedup();
                blockers
            } else {
                Vec::new()
            };
        Ok(())
    }

    /// An incremental capture's link refresh (see the module docs): issues in `relinked`
    /// (named by the activity log) and parents whose order moved are read again and sent,
    /// unless the listing already sent them (`listed`).
    pub(super) async fn refresh_links(
        &self,
        known: &Known,
        relinked: &BTreeSet<u64>,
        listed: &HashSet<u64>,
        out: &mpsc::Sender<Record>,
    ) -> Result<Relinked, TrackerError> {
        let mut done = Relinked::default();
        let mut read: Vec<(u64, Option<Vec<u64>>)> = relinked
            .iter()
            .filter(|n| !listed.contains(n))
            .map(|&n| (n, None))
            .collect();
        let sub_issues = |keys: &[crate::record::RecordKey]| -> Vec<u64> {
            keys.iter()
                .filter(|k| k.kind == RecordKind::Issue)
                .filter_map(|k| k.id.parse().ok())
                .collect()
        };
        for (&parent, keys) in &known.embeds {
            let held = sub_issues(keys);
            if held.len() < 2 || listed.contains(&parent) || relinked.contains(&parent) {
                continue;
            }
            done.parents += 1;
            let order = match self.sub_issue_order(parent).await {
                Ok(order) => order,
                // Deleted since: the deletion check records it.
                Err(TrackerError::NotFound { .. })
                | Err(TrackerError::Http { status: 410, .. }) => continue,
                Err(e) => return Err(e),
            };
            if order != held {
                read.push((parent, Some(order)));
            }
        }
        for (n, order) in read {
            let path = self.repo_path(&format!("/issues/{n}"));
            let reply = match self.client.get(&path, None).await {
                Ok(reply) => reply,
                Err(TrackerError::NotFound { .. })
                | Err(TrackerError::Http { status: 410, .. }) => continue,
                Err(e) => return Err(e),
            };
            let raw = reply.json(&path)?;
            // Transferred away: it answers from another repository (the deletion check
            // records it).
            let number = raw.get("number").and_then(Value::as_u64);
            let url = raw.get("url").and_then(Value::as_str).unwrap_or("");
            if number != Some(n)
                || !url
                    .to_ascii_lowercase()
                    .contains(&path.to_ascii_lowercase())
            {
                continue;
            }
            let mut issue = convert::issue(raw, &path)?;
            self.read_links(&mut issue, order).await?;
            done.issues += 1;
            out.send(Record::Issue(issue))
                .await
                .map_err(|_| TrackerError::Aborted)?;
        }
        Ok(done)
    }
}
