//! GitHub issues embed their labels and their milestone whole, and GitHub does not move an
//! issue's `updated_at` when one of those is edited, renamed or retitled (nor, as far as its
//! documentation and clients' reports tell, when one is deleted). An incremental capture
//! lists only issues updated since its parent, so without this it would keep the parent's
//! stale copies. This module tells the capture engine which definitions an issue carries and
//! re-derives a stored issue from new definitions: the copies are swapped in the issue's raw
//! JSON, which then goes through the same conversion as a listed issue
//! ([`convert::issue`]), so the result is the record a full capture would make.
//!
//! GitHub lists an issue's labels in label id order (see the sandbox's `issue_labels` for
//! the recorded traffic that shows it), and editing a label keeps its id, so a copy is
//! swapped in place and the order stays what a fresh listing gives.

use serde_json::Value;

use super::convert;
use crate::record::{Record, RecordKey, RecordKind};
use crate::tracker::{Embedding, Refresh, TrackerError};

/// Issues (and pull requests) carrying labels and a milestone.
#[derive(Debug, Clone, Copy, Default)]
pub struct IssueEmbeds;

/// A label's id, where an issue's label is an object (older endpoints gave bare names).
fn label_id(label: &Value) -> Option<u64> {
    label.get("id").and_then(Value::as_u64)
}

fn milestone_number(raw: &Value) -> Option<u64> {
    raw.get("milestone")
        .and_then(|m| m.get("number"))
        .and_then(Value::as_u64)
}

/// The copy of a definition an issue keeps.
fn copy_of(definition: &Record) -> Option<Value> {
    match definition {
        Record::Label(l) => Some(l.raw.clone()),
        Record::Milestone(m) => Some(convert::milestone_copy(m.raw.clone())),
        _ => None,
    }
}

impl Embedding for IssueEmbeds {
    fn carriers(&self) -> &[RecordKind] {
        &[RecordKind::Issue]
    }

    fn definitions(&self) -> &[RecordKind] {
        &[RecordKind::Label, RecordKind::Milestone]
    }

    fn embeds(&self, record: &Record) -> Option<Vec<RecordKey>> {
        let Record::Issue(issue) = record else {
            return None;
        };
        let raw = &issue.raw;
        // Without its raw JSON (never the case for a listed issue) it is not known what the
        // issue carries: `None` has it treated as carrying anything.
        if !raw.is_object() {
            return None;
        }
        let labels = raw
            .get("labels")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(label_id)
            .map(|id| RecordKey::new(RecordKind::Label, id));
        let milestone = milestone_number(raw).map(|n| RecordKey::new(RecordKind::Milestone, n));
        // A parent's sub-issues, in order: an incremental capture compares the live order
        // with this one (a reorder moves no `updated_at` and records no event).
        let children = issue
            .model
            .sub_issues
            .iter()
            .map(|n| RecordKey::new(RecordKind::Issue, n));
        Some(labels.chain(milestone).chain(children).collect())
    }

    fn copy_changed(&self, old: &Record, new: &Record) -> bool {
        copy_of(old) != copy_of(new)
    }

    fn rederive(&self, record: Record, refresh: &Refresh) -> Result<Record, TrackerError> {
        let Record::Issue(issue) = record else {
            return Ok(record);
        };
        let path = format!("issue #{} as stored", issue.number);
        let mut raw = issue.raw;
        if !raw.is_object() {
            return Err(TrackerError::Decode {
                service: "GitHub".into(),
                path,
                detail: "it has no raw JSON to re-derive it from; take a full snapshot (--full)"
                    .into(),
            });
        }
        if let Some(labels) = raw.get_mut("labels").and_then(Value::as_array_mut) {
            labels.retain_mut(|label| {
                let Some(id) = label_id(label) else {
                    return true;
                };
                match refresh.get(&RecordKey::new(RecordKind::Label, id)) {
                    // Deleted: GitHub removes it from every issue.
                    Some(None) => false,
                    Some(Some(current)) => {
                        if let Some(copy) = copy_of(current) {
                            *label = copy;
                        }
                        true
                    }
                    None => true,
                }
            });
        }
        if let Some(n) = milestone_number(&raw) {
            match refresh.get(&RecordKey::new(RecordKind::Milestone, n)) {
                Some(None) => raw["milestone"] = Value::Null,
                Some(Some(current)) => {
                    if let Some(copy) = copy_of(current) {
                        raw["milestone"] = copy;
                    }
                }
                None => {}
            }
        }
        // What the raw copy does not hold (read from their own listings, or taken out of
        // it) stays as stored.
        let mut fresh = convert::issue(raw, &path)?;
        fresh.model.sub_issues = issue.model.sub_issues;
        fresh.model.blocked_by = issue.model.blocked_by;
        fresh.model.reactions = issue.model.reactions;
        Ok(Record::Issue(fresh))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::canonical_json;
    use serde_json::json;

    fn label(id: u64, name: &str, color: &str, description: Option<&str>) -> Value {
        json!({
            "id": id, "node_id": format!("LA_{id}"),
            "url": format!("https://api.github.com/repos/acme/widgets/labels/{name}"),
            "name": name, "color": color, "default": false, "description": description,
        })
    }

    fn milestone(number: u64, title: &str, state: &str, due: Option<&str>) -> Value {
        json!({
            "url": format!("https://api.github.com/repos/acme/widgets/milestones/{number}"),
            "id": 9000 + number, "node_id": format!("MI_{number}"), "number": number,
            "title": title, "description": "the plan", "state": state,
            "creator": {"login": "amy", "id": 1},
            "open_issues": 4, "closed_issues": 7,
            "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-03-01T00:00:00Z",
            "closed_at": null, "due_on": due,
        })
    }

    /// An issue as the listing serves it, with these labels and milestone.
    fn listed(labels: Vec<Value>, milestone: Value) -> Value {
        json!({
            "number": 7, "id": 1007, "title": "Crash", "body": "boom", "state": "open",
            "state_reason": null, "locked": false, "comments": 2,
            "labels": labels, "assignees": [{"login": "bob"}], "milestone": milestone,
            "user": {"login": "carol"},
            "created_at": "2024-01-02T03:04:05Z", "updated_at": "2024-01-03T03:04:05Z",
            "closed_at": null,
            "html_url": "https://github.com/acme/widgets/issues/7",
        })
    }

    fn issue_record(raw: Value) -> Record {
        Record::Issue(convert::issue(raw, "/test").unwrap())
    }

    fn label_record(raw: Value) -> Record {
        Record::Label(convert::label(raw, "/labels").unwrap())
    }

    fn milestone_record(raw: Value) -> Record {
        Record::Milestone(convert::milestone(raw, "/milestones").unwrap())
    }

    fn bytes(r: &Record) -> Vec<u8> {
        canonical_json(r).unwrap()
    }

    fn key(kind: RecordKind, id: u64) -> RecordKey {
        RecordKey::new(kind, id)
    }

    /// Every kind of definition change, applied to a stored issue, yields exactly the bytes a
    /// fresh conversion of the issue as GitHub then lists it gives.
    #[test]
    fn rederived_issues_are_byte_identical_to_fresh_conversions() {
        let bug = label(11, "bug", "d73a4a", Some("Something is wrong"));
        let bugfix = label(12, "bugfix", "0e8a16", None);
        let ui = label(13, "ui", "fef2c0", None);
        let v1 = milestone(1, "v1", "open", None);
        let stored = issue_record(listed(
            vec![bug.clone(), bugfix.clone(), ui.clone()],
            v1.clone(),
        ));

        // Rename onto a name another rename freed, recolour + describe, delete; retitle,
        // re-describe, re-date and close the milestone.
        let defect = label(11, "defect", "d73a4a", Some("Something is wrong"));
        let bug_again = label(12, "bug", "0e8a16", None);
        let ui_blue = label(13, "ui", "1d76db", Some("Looks"));
        let mut v1_final = milestone(1, "1.0 final", "closed", Some("2024-06-30T07:00:00Z"));
        v1_final["description"] = json!("shipped");
        v1_final["closed_at"] = json!("2024-06-01T00:00:00Z");
        v1_final["open_issues"] = json!(0);
        let cases: Vec<(Refresh, Value)> = vec![
            (
                [
                    (
                        key(RecordKind::Label, 11),
                        Some(label_record(defect.clone())),
                    ),
                    (
                        key(RecordKind::Label, 12),
                        Some(label_record(bug_again.clone())),
                    ),
                ]
                .into(),
                listed(
                    vec![defect.clone(), bug_again.clone(), ui.clone()],
                    v1.clone(),
                ),
            ),
            (
                [(
                    key(RecordKind::Label, 13),
                    Some(label_record(ui_blue.clone())),
                )]
                .into(),
                listed(vec![bug.clone(), bugfix.clone(), ui_blue], v1.clone()),
            ),
            (
                [(key(RecordKind::Label, 12), None)].into(),
                listed(vec![bug.clone(), ui.clone()], v1.clone()),
            ),
            (
                [(
                    key(RecordKind::Milestone, 1),
                    Some(milestone_record(v1_final.clone())),
                )]
                .into(),
                listed(vec![bug.clone(), bugfix.clone(), ui.clone()], v1_final),
            ),
            (
                [(key(RecordKind::Milestone, 1), None)].into(),
                listed(vec![bug.clone(), bugfix.clone(), ui.clone()], Value::Null),
            ),
        ];
        for (i, (refresh, now_listed)) in cases.into_iter().enumerate() {
            let rederived = IssueEmbeds.rederive(stored.clone(), &refresh).unwrap();
            let fresh = issue_record(now_listed);
            assert_eq!(
                String::from_utf8(bytes(&rederived)).unwrap(),
                String::from_utf8(bytes(&fresh)).unwrap(),
                "case {i}"
            );
        }

        // The normalized fields follow: names, milestone title.
        let renamed = IssueEmbeds
            .rederive(
                stored.clone(),
                &[(key(RecordKind::Label, 11), Some(label_record(defect)))].into(),
            )
            .unwrap();
        let Record::Issue(i) = renamed else {
            unreachable!()
        };
        assert_eq!(i.labels, ["bugfix", "defect", "ui"]);
        // A deleted milestone leaves none, in the normalized fields and in the raw JSON.
        let Record::Issue(i) = IssueEmbeds
            .rederive(
                stored.clone(),
                &[(key(RecordKind::Milestone, 1), None)].into(),
            )
            .unwrap()
        else {
            unreachable!()
        };
        assert_eq!((i.milestone, &i.raw["milestone"]), (None, &Value::Null));
        // Definitions the issue does not carry change nothing.
        let untouched = IssueEmbeds
            .rederive(
                stored.clone(),
                &[
                    (key(RecordKind::Label, 99), None),
                    (key(RecordKind::Milestone, 5), None),
                ]
                .into(),
            )
            .unwrap();
        assert_eq!(bytes(&untouched), bytes(&stored));
    }

    #[test]
    fn embeds_name_label_ids_and_the_milestone_number() {
        let stored = issue_record(listed(
            vec![label(11, "bug", "d73a4a", None), json!("bare-name")],
            milestone(3, "v3", "open", None),
        ));
        assert_eq!(
            IssueEmbeds.embeds(&stored),
            Some(vec![
                key(RecordKind::Label, 11),
                key(RecordKind::Milestone, 3)
            ])
        );
        let bare = issue_record(listed(vec![], Value::Null));
        assert_eq!(IssueEmbeds.embeds(&bare), Some(vec![]));
        assert_eq!(
            IssueEmbeds.embeds(&label_record(label(1, "x", "ffffff", None))),
            None
        );
    }

    /// A milestone whose issue counts moved reaches no issue; one whose title moved does.
    #[test]
    fn only_changes_to_what_issues_copy_count() {
        let before = milestone_record(milestone(1, "v1", "open", None));
        let mut counted = milestone(1, "v1", "open", None);
        counted["open_issues"] = json!(3);
        counted["closed_issues"] = json!(8);
        counted["updated_at"] = json!("2024-04-01T00:00:00Z");
        assert!(!IssueEmbeds.copy_changed(&before, &milestone_record(counted)));
        let retitled = milestone_record(milestone(1, "v1.0", "open", None));
        assert!(IssueEmbeds.copy_changed(&before, &retitled));
        let a = label_record(label(1, "bug", "d73a4a", None));
        let b = label_record(label(1, "bug", "d73a4a", Some("now described")));
        assert!(IssueEmbeds.copy_changed(&a, &b));
        assert!(!IssueEmbeds.copy_changed(&a, &a.clone()));
    }
}

/// The capture engine over a simulated GitHub repository that, like GitHub, leaves issues'
/// `updated_at` alone when a label or milestone changes: every incremental capture must equal
/// a full one record for record, reading only the issues a change reaches.
#[cfg(test)]
mod capture_tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use serde_json::{json, Value};
    use tokio::sync::mpsc;

    use super::{convert, IssueEmbeds};
    use crate::catalog::MemoryCatalog;
    use crate::manifest::Cursor;
    use crate::record::{Record, RecordKind};
    use crate::scope::Scope;
    use crate::snapshot::{Archive, CaptureMode, SnapshotOptions, SnapshotReport};
    use crate::store::MemoryStore;
    use crate::tracker::{Coverage, Embedding, FetchOptions, FetchReport, Tracker, TrackerError};

    #[derive(Debug, Default)]
    struct Repo {
        labels: BTreeMap<u64, (String, String)>,
        /// number → (title, state, open issues)
        milestones: BTreeMap<u64, (String, String, u64)>,
        /// number → (labels, milestone, updated second)
        issues: BTreeMap<u64, (Vec<u64>, Option<u64>, u64)>,
        clock: u64,
    }

    fn ts(second: u64) -> String {
        format!("2024-05-01T00:{:02}:{:02}Z", second / 60, second % 60)
    }

    impl Repo {
        fn label(&self, id: u64) -> Value {
            let (name, color) = &self.labels[&id];
            json!({"id": id, "node_id": format!("LA_{id}"), "name": name, "color": color,
                   "url": format!("https://api.github.com/repos/acme/widgets/labels/{name}"),
                   "default": false, "description": null})
        }
        fn milestone(&self, n: u64) -> Value {
            let (title, state, open) = &self.milestones[&n];
            json!({"id": 500 + n, "number": n, "title": title, "state": state,
                   "description": null, "open_issues": open, "closed_issues": 1,
                   "created_at": ts(0), "updated_at": ts(0), "closed_at": null,
                   "due_on": null})
        }
        fn issue(&self, n: u64) -> Value {
            let (labels, milestone, updated) = &self.issues[&n];
            let mut labels = labels.clone();
            labels.sort();
            json!({"number": n, "id": 1000 + n, "title": format!("Issue {n}"), "body": null,
                   "state": "open", "state_reason": null, "locked": false, "comments": 0,
                   "labels": labels.iter().map(|&l| self.label(l)).collect::<Vec<_>>(),
                   "assignees": [], "user": {"login": "amy"},
                   "milestone": milestone.map_or(Value::Null, |m| self.milestone(m)),
                   "created_at": ts(0), "updated_at": ts(*updated), "closed_at": null})
        }
        fn tick(&mut self) -> u64 {
            self.clock += 1;
            self.clock
        }
    }

    #[derive(Debug)]
    struct Sim {
        scope: Scope,
        repo: Mutex<Repo>,
        /// Off: a build of backtrack from before embeds were recorded.
        embeds: AtomicBool,
        /// On: incremental listings of labels and milestones answer 304 (the parent's stand).
        not_modified: AtomicBool,
    }

    #[async_trait::async_trait]
    impl Tracker for Sim {
        fn scope(&self) -> &Scope {
            &self.scope
        }
        async fn check(&self) -> Result<(), TrackerError> {
            Ok(())
        }
        async fn fetch(
            &self,
            opts: &FetchOptions,
            out: mpsc::Sender<Record>,
        ) -> Result<FetchReport, TrackerError> {
            let since = opts.since.as_ref().and_then(|c| c.issues_updated);
            let revalidated = opts.since.is_some() && self.not_modified.load(Ordering::SeqCst);
            let records: Vec<Record> = {
                let repo = self.repo.lock().unwrap();
                let labels = repo
                    .labels
                    .keys()
                    .map(|&id| Record::Label(convert::label(repo.label(id), "/labels").unwrap()));
                let milestones = repo.milestones.keys().map(|&n| {
                    Record::Milestone(convert::milestone(repo.milestone(n), "/m").unwrap())
                });
                let issues = repo
                    .issues
                    .keys()
                    .map(|&n| Record::Issue(convert::issue(repo.issue(n), "/issues").unwrap()))
                    .filter(|r| since.is_none_or(|s| r.updated_at() >= Some(s)));
                let definitions: Vec<Record> = if revalidated {
                    Vec::new()
                } else {
                    labels.chain(milestones).collect()
                };
                definitions.into_iter().chain(issues).collect()
            };
            let mut report = FetchReport::default();
            if revalidated {
                report
                    .coverage
                    .insert(RecordKind::Label, Coverage::Unchanged);
                report
                    .coverage
                    .insert(RecordKind::Milestone, Coverage::Unchanged);
            }
            if opts.since.is_some() {
                report.coverage.insert(RecordKind::Issue, Coverage::Changes);
                report
                    .coverage
                    .insert(RecordKind::Comment, Coverage::Changes);
            }
            report.cursor = Cursor {
                issues_updated: records
                    .iter()
                    .filter(|r| r.kind() == RecordKind::Issue)
                    .filter_map(Record::updated_at)
                    .max()
                    .max(since),
                ..Cursor::default()
            };
            for r in records {
                out.send(r).await.map_err(|_| TrackerError::Aborted)?;
            }
            Ok(report)
        }
        fn requests(&self) -> u64 {
            0
        }
        fn embedding(&self) -> Option<&dyn Embedding> {
            self.embeds
                .load(Ordering::SeqCst)
                .then_some(&IssueEmbeds as &dyn Embedding)
        }
    }

    fn setup() -> (Archive, Arc<Sim>) {
        let mut repo = Repo::default();
        for (id, name) in [(1, "bug"), (2, "bugfix"), (3, "ui")] {
            repo.labels.insert(id, (name.into(), "ededed".into()));
        }
        repo.milestones.insert(1, ("v1".into(), "open".into(), 5));
        repo.milestones.insert(2, ("v2".into(), "open".into(), 5));
        for n in 1..=60u64 {
            let labels = [1, 2, 3].into_iter().filter(|l| n % (l + 1) == 0).collect();
            let milestone = [None, Some(1), Some(2)][(n % 3) as usize];
            repo.issues.insert(n, (labels, milestone, n));
        }
        // The newest issue, which every incremental listing returns again (`since` is
        // inclusive), carries nothing.
        repo.issues.insert(61, (Vec::new(), None, 61));
        repo.clock = 61;
        let sim = Sim {
            scope: "github:acme/widgets".parse().unwrap(),
            repo: Mutex::new(repo),
            embeds: AtomicBool::new(true),
            not_modified: AtomicBool::new(false),
        };
        let archive = Archive::new(Arc::new(MemoryStore::new()), Arc::new(MemoryCatalog::new()));
        (archive, Arc::new(sim))
    }

    async fn snapshot(archive: &Archive, sim: &Arc<Sim>, full: bool) -> SnapshotReport {
        let opts = SnapshotOptions {
            full,
            overlap: chrono::Duration::zero(),
            ..SnapshotOptions::default()
        };
        archive.create_snapshot(sim.clone(), &opts).await.unwrap()
    }

    /// (kind:id, blob, embeds) of every record of a snapshot.
    async fn records(archive: &Archive, report: &SnapshotReport) -> Vec<String> {
        let entry = archive.catalog.get(&report.id).await.unwrap().unwrap();
        let m = archive.load_manifest(&entry).await.unwrap();
        m.entries
            .iter()
            .map(|e| format!("{} {} {:?}", e.key(), e.blob, e.embeds))
            .collect()
    }

    /// An incremental snapshot, then a full one of the same state: equal, record for record.
    async fn incremental_equals_full(archive: &Archive, sim: &Arc<Sim>) -> SnapshotReport {
        let inc = snapshot(archive, sim, false).await;
        assert_eq!(inc.mode, CaptureMode::Incremental);
        let full = snapshot(archive, sim, true).await;
        assert_eq!(full.mode, CaptureMode::Full);
        assert_eq!(records(archive, &inc).await, records(archive, &full).await);
        inc
    }

    fn carrying(sim: &Sim, f: impl Fn(&(Vec<u64>, Option<u64>, u64)) -> bool) -> u64 {
        sim.repo
            .lock()
            .unwrap()
            .issues
            .values()
            .filter(|i| f(i))
            .count() as u64
    }

    #[tokio::test]
    async fn incremental_captures_refresh_exactly_the_issues_a_definition_change_reaches() {
        let (archive, sim) = setup();
        snapshot(&archive, &sim, false).await;

        // A rename onto the name another rename freed, and an issue edited meanwhile (listed
        // again, so not re-derived).
        let reached = carrying(&sim, |(ls, ..)| ls.contains(&1) || ls.contains(&2));
        {
            let mut repo = sim.repo.lock().unwrap();
            repo.labels.get_mut(&1).unwrap().0 = "defect".into();
            repo.labels.get_mut(&2).unwrap().0 = "bug".into();
            let t = repo.tick();
            repo.issues.get_mut(&6).unwrap().2 = t;
        }
        let inc = incremental_equals_full(&archive, &sim).await;
        let refreshed = inc.refreshed.expect("the renames are refreshed");
        assert_eq!(refreshed.definitions, 2);
        assert_eq!(refreshed.records, reached - 1, "issue 6 was listed");
        assert_eq!(
            refreshed.read,
            reached - 1 + 2,
            "the issues, and the old labels"
        );
        assert_eq!(refreshed.unindexed, 0);

        // Only a milestone's issue counts move: nothing an issue copies.
        sim.repo.lock().unwrap().milestones.get_mut(&1).unwrap().2 = 4;
        let inc = incremental_equals_full(&archive, &sim).await;
        assert_eq!(inc.refreshed, None, "{inc}");

        // A retitled and closed milestone.
        {
            let mut repo = sim.repo.lock().unwrap();
            let m = repo.milestones.get_mut(&2).unwrap();
            m.0 = "v2.0".into();
            m.1 = "closed".into();
        }
        let inc = incremental_equals_full(&archive, &sim).await;
        let reached = carrying(&sim, |(_, m, _)| *m == Some(2));
        assert_eq!(inc.refreshed.unwrap().records, reached);

        // Deletions GitHub does not bump the issues for: gone from every copy.
        {
            let mut repo = sim.repo.lock().unwrap();
            repo.labels.remove(&3);
            repo.milestones.remove(&1);
            for issue in repo.issues.values_mut() {
                issue.0.retain(|&l| l != 3);
                issue.1 = issue.1.filter(|&m| m != 1);
            }
        }
        let inc = incremental_equals_full(&archive, &sim).await;
        let refreshed = inc.refreshed.unwrap();
        assert_eq!(refreshed.definitions, 2);
        assert_eq!(
            refreshed.read, refreshed.records,
            "nothing to read for a deletion"
        );
        assert!(inc.to_string().contains("re-derived"), "{inc}");
    }

    /// A parent written before embeds were recorded cannot say which issues carry what, and
    /// the build that wrote it kept stale copies after a rename and a deletion: the first
    /// capture that records embeds reads each of its issues once, heals them against every
    /// current definition, and records what they carry, so later captures read only what a
    /// change reaches.
    #[tokio::test]
    async fn a_parent_without_recorded_embeds_is_checked_whole_once_and_healed() {
        let (archive, sim) = setup();
        sim.embeds.store(false, Ordering::SeqCst);
        let legacy = snapshot(&archive, &sim, false).await;
        assert!(records(&archive, &legacy)
            .await
            .iter()
            .all(|r| r.ends_with("None")));
        // The old build misses a rename and a deletion that leave the issues untouched.
        let stale = carrying(&sim, |(ls, ..)| ls.contains(&1) || ls.contains(&3));
        {
            let mut repo = sim.repo.lock().unwrap();
            repo.labels.get_mut(&1).unwrap().0 = "defect".into();
            repo.labels.remove(&3);
            for issue in repo.issues.values_mut() {
                issue.0.retain(|&l| l != 3);
            }
        }
        let old = snapshot(&archive, &sim, false).await;
        assert_eq!(old.mode, CaptureMode::Incremental);
        let entry = archive.catalog.get(&old.id).await.unwrap().unwrap();
        let m = archive.load_manifest(&entry).await.unwrap();
        let held = archive.load_records(&m, false).await.unwrap();
        assert!(
            held.issues
                .values()
                .any(|i| i.labels.contains(&"bug".to_string())),
            "the old build kept stale copies"
        );

        // Nothing changed since: labels and milestones answer 304, so the parent's stand
        // and are read to check its 60 issues not listed again against them.
        sim.embeds.store(true, Ordering::SeqCst);
        sim.not_modified.store(true, Ordering::SeqCst);
        let inc = snapshot(&archive, &sim, false).await;
        sim.not_modified.store(false, Ordering::SeqCst);
        let refreshed = inc.refreshed.expect("the parent is checked");
        assert_eq!(refreshed.definitions, 0);
        assert_eq!(refreshed.unindexed, 60);
        assert_eq!(
            refreshed.read,
            60 + 2 + 2,
            "the issues, 2 labels, 2 milestones"
        );
        assert_eq!(refreshed.records, stale);
        assert!(inc.to_string().contains("predates"), "{inc}");
        assert!(records(&archive, &inc)
            .await
            .iter()
            .filter(|r| r.starts_with("issue:"))
            .all(|r| !r.ends_with("None")));
        let full = snapshot(&archive, &sim, true).await;
        assert_eq!(
            records(&archive, &inc).await,
            records(&archive, &full).await
        );

        // Recorded from then on: nothing changed, nothing read; then only what a change reaches.
        assert_eq!(snapshot(&archive, &sim, false).await.refreshed, None);
        sim.repo.lock().unwrap().labels.get_mut(&2).unwrap().1 = "000000".into();
        let inc = incremental_equals_full(&archive, &sim).await;
        let refreshed = inc.refreshed.unwrap();
        assert_eq!(refreshed.unindexed, 0);
        assert_eq!(
            refreshed.records,
            carrying(&sim, |(ls, ..)| ls.contains(&2))
        );
    }
}
