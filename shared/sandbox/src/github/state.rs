//! The sandbox's store: issues, comments, labels, milestones and users, with the indexes that
//! keep listing fast, and the write semantics GitHub has (deleting a label strips it from every
//! issue, comment counts, milestone counters, `updated_at` bumps).
//!
//! Every write validates first and mutates after, so a rejected write changes nothing.
//! Timestamps are whole seconds (GitHub's resolution) from a monotonic clock that advances at
//! least one second per write, so `since` filters always see the latest write.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::http::ApiError;

mod comments;
mod events;
mod relations;
mod taxonomy;

pub(crate) use events::{Event, EventKind};
pub(crate) use relations::{IssueType, Reaction, Subject, LOCK_REASONS, REACTIONS};

/// Unix seconds.
pub(crate) type Ts = i64;

/// GitHub's limit on issue and comment bodies. Its message says 65536 characters, but what it
/// enforces is 262,144 bytes of UTF-8 (`"a" * 262144` and 65,536 four-byte emoji pass, one
/// byte more fails: measured against github.com).
pub(crate) const MAX_BODY_BYTES: usize = 262_144;
pub(crate) const BODY_TOO_LONG: &str = "body is too long (maximum is 65536 characters)";
const MAX_TITLE_CHARS: usize = 256;
const MAX_ASSIGNEES: usize = 10;
const NEW_LABEL_COLOR: &str = "ededed";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserKind {
    User,
    Organization,
    /// A GitHub App's bot user (`name[bot]`), which acts through installation tokens.
    Bot {
        /// The app's id (its avatar lives under `/in/{app}`).
        app: u64,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: u64,
    pub login: String,
    pub name: Option<String>,
    pub kind: UserKind,
    /// `author_association` of this user on the repository.
    pub association: &'static str,
    /// Whether issues can be assigned to this user (people with access to the repository).
    pub assignable: bool,
    pub created_at: Ts,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Label {
    pub id: u64,
    pub name: String,
    pub color: String,
    pub description: Option<String>,
    pub default: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Milestone {
    pub id: u64,
    pub number: u64,
    pub title: String,
    pub description: Option<String>,
    pub open: bool,
    pub creator: usize,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub closed_at: Option<Ts>,
    pub due_on: Option<Ts>,
    /// Maintained by the issue index, never recomputed by scanning.
    pub open_issues: u64,
    pub closed_issues: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateReason {
    Completed,
    NotPlanned,
    Reopened,
    Duplicate,
}

impl StateReason {
    /// Every reason, as the API names them.
    pub(crate) const NAMES: &'static [&'static str] =
        &["completed", "not_planned", "duplicate", "reopened"];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StateReason::Completed => "completed",
            StateReason::NotPlanned => "not_planned",
            StateReason::Reopened => "reopened",
            StateReason::Duplicate => "duplicate",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<StateReason> {
        [
            StateReason::Completed,
            StateReason::NotPlanned,
            StateReason::Reopened,
            StateReason::Duplicate,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pull {
    pub merged_at: Option<Ts>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    pub id: u64,
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub user: usize,
    pub labels: Vec<u64>,
    pub assignees: Vec<usize>,
    pub milestone: Option<u64>,
    pub open: bool,
    pub state_reason: Option<StateReason>,
    pub locked: bool,
    /// `off-topic`, `too heated`, `resolved` or `spam` while locked with a reason.
    pub lock_reason: Option<String>,
    /// The issue type's id (see [`State::issue_types`]).
    pub issue_type: Option<u64>,
    /// The parent's number when this is a sub-issue.
    pub parent: Option<u64>,
    /// Sub-issue numbers in their priority order.
    pub sub_issues: Vec<u64>,
    /// Numbers of the issues blocking this one, in the order they were added.
    pub blocked_by: Vec<u64>,
    /// Numbers of the issues this one blocks (the other side of `blocked_by`).
    pub blocking: Vec<u64>,
    /// The comment pinned to the issue.
    pub pinned_comment: Option<u64>,
    /// Ids of live comments, ascending (= creation order).
    pub comment_ids: Vec<u64>,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub closed_at: Option<Ts>,
    pub closed_by: Option<usize>,
    pub pull: Option<Pull>,
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Comment {
    pub id: u64,
    pub issue: u64,
    pub user: usize,
    pub body: String,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A validated-on-apply change to an issue (POST or PATCH body). `None` = leave as is.
#[derive(Debug)]
pub(crate) struct IssueChange {
    pub title: Option<String>,
    pub body: Option<Option<String>>,
    pub open: Option<bool>,
    pub state_reason: Option<Option<StateReason>>,
    pub labels: Option<Vec<String>>,
    pub assignees: Option<Vec<String>>,
    /// The body field the assignees came from (`assignees`, or the older `assignee`), which
    /// an error about them names.
    pub assignee_field: &'static str,
    pub milestone: Option<Option<u64>>,
    /// An issue type by name; `Some(None)` removes it.
    pub issue_type: Option<Option<String>>,
}

impl Default for IssueChange {
    fn default() -> Self {
        IssueChange {
            title: None,
            body: None,
            open: None,
            state_reason: None,
            labels: None,
            assignees: None,
            assignee_field: "assignees",
            milestone: None,
            issue_type: None,
        }
    }
}

/// The whole store. Issue numbers are dense (`issues[n - 1]`); deleted issues stay as
/// tombstones so they can answer 410.
#[derive(Debug)]
pub(crate) struct State {
    pub owner: String,
    pub repo: String,
    pub repo_id: u64,
    /// Archived (read-only): the front refuses writes; the repository says so.
    pub archived: bool,
    pub repo_created_at: Ts,
    pub users: Vec<User>,
    /// The organisation owning the repository.
    pub org: usize,
    user_index: HashMap<String, usize>,
    pub labels: BTreeMap<u64, Label>,
    label_index: HashMap<String, u64>,
    next_label_id: u64,
    pub milestones: BTreeMap<u64, Milestone>,
    milestone_id_base: u64,
    pub issues: Vec<Issue>,
    issue_id_base: u64,
    /// `(updated_at, number)` of live issues: `since` and `sort=updated` are range scans.
    pub by_updated: BTreeSet<(Ts, u64)>,
    pub comments: BTreeMap<u64, Comment>,
    /// `(updated_at, id)` of live comments.
    pub comments_by_updated: BTreeSet<(Ts, u64)>,
    next_comment_id: u64,
    /// Open issues and pull requests (GitHub's `open_issues_count` counts both).
    pub open_count: u64,
    live_issues: u64,
    /// Last timestamp handed out; see [`State::next_ts`].
    pub clock: Ts,
    /// The repository's git objects and refs (the Git Data API).
    pub git: super::git::GitDb,
    /// The organisation's issue types.
    pub issue_types: Vec<IssueType>,
    /// Issue events, oldest first; an event's id is its index plus `event_id_base`.
    pub events: Vec<Event>,
    event_id_base: u64,
    /// Reactions by id, and each subject's reaction ids in creation order.
    pub reactions: BTreeMap<u64, Reaction>,
    pub reactions_by_subject: HashMap<Subject, Vec<u64>>,
    next_reaction_id: u64,
}

pub(crate) fn unix_now() -> Ts {
    chrono::Utc::now().timestamp()
}

impl State {
    pub(crate) fn new(owner: &str, repo: &str, repo_id: u64, users: Vec<User>) -> State {
        let user_index = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.login.to_lowercase(), i))
            .collect();
        let org = users
            .iter()
            .position(|u| u.kind == UserKind::Organization)
            .unwrap_or(0);
        State {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            repo_id,
            archived: false,
            repo_created_at: 0,
            org,
            users,
            user_index,
            labels: BTreeMap::new(),
            label_index: HashMap::new(),
            next_label_id: repo_id * 100 + 1,
            milestones: BTreeMap::new(),
            milestone_id_base: repo_id * 10,
            issues: Vec::new(),
            issue_id_base: repo_id * 1000,
            by_updated: BTreeSet::new(),
            comments: BTreeMap::new(),
            comments_by_updated: BTreeSet::new(),
            next_comment_id: repo_id * 10_000,
            open_count: 0,
            live_issues: 0,
            clock: 0,
            git: super::git::GitDb::empty("main"),
            issue_types: relations::default_issue_types(repo_id),
            events: Vec::new(),
            event_id_base: repo_id * 100_000,
            reactions: BTreeMap::new(),
            reactions_by_subject: HashMap::new(),
            next_reaction_id: repo_id * 1_000,
        }
    }

    /// `(issues, comments, labels, milestones)`, live only.
    pub(crate) fn counts(&self) -> (u64, u64, u64, u64) {
        (
            self.live_issues,
            self.comments.len() as u64,
            self.labels.len() as u64,
            self.milestones.len() as u64,
        )
    }

    /// The timestamp the next write gets: now, but at least one second after the last write.
    fn next_ts(&self) -> Ts {
        unix_now().max(self.clock + 1)
    }

    pub(crate) fn user_by_login(&self, login: &str) -> Option<usize> {
        self.user_index.get(&login.to_lowercase()).copied()
    }

    pub(crate) fn label_by_name(&self, name: &str) -> Option<&Label> {
        self.label_index
            .get(&name.to_lowercase())
            .and_then(|id| self.labels.get(id))
    }

    pub(crate) fn issue_id(&self, number: u64) -> u64 {
        self.issue_id_base + number
    }

    pub(crate) fn milestone_id(&self, number: u64) -> u64 {
        self.milestone_id_base + number
    }

    // ----- seeding (no validation, indexes maintained) -----

    pub(crate) fn insert_label(&mut self, name: &str, color: &str, description: Option<&str>) {
        let id = self.next_label_id;
        self.next_label_id += 1;
        self.label_index.insert(name.to_lowercase(), id);
        self.labels.insert(
            id,
            Label {
                id,
                name: name.to_owned(),
                color: color.to_owned(),
                description: description.map(str::to_owned),
                default: false,
            },
        );
    }

    pub(crate) fn set_label_default(&mut self, name: &str) {
        if let Some(id) = self.label_index.get(&name.to_lowercase()) {
            if let Some(l) = self.labels.get_mut(id) {
                l.default = true;
            }
        }
    }

    pub(crate) fn insert_milestone(&mut self, mut m: Milestone) {
        m.id = self.milestone_id(m.number);
        m.open_issues = 0;
        m.closed_issues = 0;
        self.milestones.insert(m.number, m);
    }

    /// Appends an issue; its number must be `issues.len() + 1`.
    pub(crate) fn push_issue(&mut self, mut issue: Issue) {
        issue.number = self.issues.len() as u64 + 1;
        issue.id = self.issue_id(issue.number);
        self.issues.push(issue);
        self.live_issues += 1;
        self.index_issue(self.issues.len() as u64);
    }

    /// Adds a comment with the next id; callers keep the issue's `updated_at` consistent.
    pub(crate) fn push_comment(&mut self, mut c: Comment) -> u64 {
        c.id = self.next_comment_id;
        self.next_comment_id += 1;
        if let Some(issue) = self.issues.get_mut(slot(c.issue)) {
            issue.comment_ids.push(c.id);
        }
        self.comments_by_updated.insert((c.updated_at, c.id));
        let id = c.id;
        self.comments.insert(id, c);
        id
    }

    // ----- index maintenance -----

    /// Removes an issue's contributions to the derived counters and indexes.
    fn unindex_issue(&mut self, number: u64) {
        let Some(i) = self.issues.get(slot(number)) else {
            return;
        };
        if i.deleted {
            return;
        }
        self.by_updated.remove(&(i.updated_at, number));
        if i.open {
            self.open_count -= 1;
        }
        if let Some(m) = i.milestone.and_then(|m| self.milestones.get_mut(&m)) {
            if i.open {
                m.open_issues = m.open_issues.saturating_sub(1);
            } else {
                m.closed_issues = m.closed_issues.saturating_sub(1);
            }
        }
    }

    fn index_issue(&mut self, number: u64) {
        let Some(i) = self.issues.get(slot(number)) else {
            return;
        };
        if i.deleted {
            return;
        }
        self.by_updated.insert((i.updated_at, number));
        if i.open {
            self.open_count += 1;
        }
        if let Some(m) = i.milestone.and_then(|m| self.milestones.get_mut(&m)) {
            if i.open {
                m.open_issues += 1;
            } else {
                m.closed_issues += 1;
            }
        }
    }

    /// Replaces an issue, keeping the indexes right.
    fn replace_issue(&mut self, new: Issue) {
        let n = new.number;
        self.unindex_issue(n);
        if let Some(slot) = self.issues.get_mut(slot(n)) {
            *slot = new;
        }
        self.index_issue(n);
    }

    /// Bumps an issue's `updated_at` to `ts` (comment added/removed, label/milestone deleted).
    fn touch_issue(&mut self, number: u64, ts: Ts) {
        self.unindex_issue(number);
        if let Some(i) = self.issues.get_mut(slot(number)) {
            i.updated_at = ts;
        }
        self.index_issue(number);
    }

    // ----- reads with GitHub's errors -----

    /// A live issue, 404 if it never existed, 410 if deleted.
    pub(crate) fn issue(&self, number: u64) -> Result<&Issue, ApiError> {
        match number
            .checked_sub(1)
            .and_then(|i| self.issues.get(i as usize))
        {
            None => Err(ApiError::not_found()),
            Some(i) if i.deleted => Err(ApiError::gone("This issue was deleted")),
            Some(i) => Ok(i),
        }
    }

    pub(crate) fn comment(&self, id: u64) -> Result<&Comment, ApiError> {
        self.comments.get(&id).ok_or_else(ApiError::not_found)
    }

    pub(crate) fn label(&self, name: &str) -> Result<&Label, ApiError> {
        self.label_by_name(name).ok_or_else(ApiError::not_found)
    }

    pub(crate) fn milestone(&self, number: u64) -> Result<&Milestone, ApiError> {
        self.milestones.get(&number).ok_or_else(ApiError::not_found)
    }

    // ----- issue writes -----

    /// Opens an issue authored by `actor` (an index into `users`).
    pub(crate) fn create_issue(
        &mut self,
        change: IssueChange,
        actor: usize,
    ) -> Result<u64, ApiError> {
        check_title(change.title.as_deref().unwrap_or(""))?;
        let ts = self.next_ts();
        let number = self.issues.len() as u64 + 1;
        let blank = Issue {
            id: self.issue_id(number),
            number,
            title: String::new(),
            body: None,
            user: actor,
            labels: Vec::new(),
            assignees: Vec::new(),
            milestone: None,
            open: true,
            state_reason: None,
            locked: false,
            lock_reason: None,
            issue_type: None,
            parent: None,
            sub_issues: Vec::new(),
            blocked_by: Vec::new(),
            blocking: Vec::new(),
            pinned_comment: None,
            comment_ids: Vec::new(),
            created_at: ts,
            updated_at: ts,
            closed_at: None,
            closed_by: None,
            pull: None,
            deleted: false,
        };
        let before = blank.clone();
        let issue = self.apply_change(blank, change, ts, actor)?;
        self.clock = ts;
        let mut events = self.taxonomy_events(&before, &issue);
        events.extend(events::of_change(&before, &issue));
        self.push_issue(issue);
        for kind in events {
            self.record(number, actor, kind, ts);
        }
        Ok(number)
    }

    /// Changes an issue on behalf of `actor` (who becomes `closed_by` if this closes it).
    pub(crate) fn update_issue(
        &mut self,
        number: u64,
        change: IssueChange,
        actor: usize,
    ) -> Result<(), ApiError> {
        let old = self.issue(number)?.clone();
        if let Some(t) = &change.title {
            check_title(t)?;
        }
        let ts = self.next_ts();
        let mut new = self.apply_change(old.clone(), change, ts, actor)?;
        if new != old {
            new.updated_at = ts;
            self.clock = ts;
            let mut events = self.taxonomy_events(&old, &new);
            events.extend(events::of_change(&old, &new));
            self.replace_issue(new);
            for kind in events {
                self.record(number, actor, kind, ts);
            }
        }
        Ok(())
    }

    /// Validates `change` against the store, then applies it to `issue` (creating labels
    /// named but missing, as GitHub does for users with push access).
    fn apply_change(
        &mut self,
        mut issue: Issue,
        change: IssueChange,
        ts: Ts,
        actor: usize,
    ) -> Result<Issue, ApiError> {
        if let Some(Some(body)) = &change.body {
            if body.len() > MAX_BODY_BYTES {
                return Err(ApiError::custom("Issue", "body", BODY_TOO_LONG));
            }
        }
        let field = change.assignee_field;
        let assignees = match &change.assignees {
            None => None,
            Some(logins) => {
                let mut ids = Vec::new();
                // Only people with access to the repository can be assigned; GitHub names
                // the login it refused.
                for login in logins {
                    let u = self
                        .user_by_login(login)
                        .filter(|&u| self.users[u].assignable)
                        .ok_or_else(|| ApiError::invalid_value("Issue", field, login))?;
                    if !ids.contains(&u) {
                        ids.push(u);
                    }
                }
                if ids.len() > MAX_ASSIGNEES {
                    return Err(ApiError::validation("Issue", field, "invalid"));
                }
                Some(ids)
            }
        };
        if let Some(Some(m)) = change.milestone {
            if !self.milestones.contains_key(&m) {
                return Err(ApiError::validation("Issue", "milestone", "invalid"));
            }
        }
        if let Some(names) = &change.labels {
            for n in names {
                let trimmed = n.trim();
                if trimmed.is_empty() {
                    return Err(ApiError::validation("Label", "name", "invalid"));
                }
                // A name padded with spaces around an existing label's is refused, naming the
                // label (recorded from github.com); a new padded name is created trimmed.
                if trimmed != n && self.label_by_name(trimmed).is_some() {
                    return Err(ApiError::invalid_value("Label", "name", trimmed));
                }
            }
        }
        let issue_type = match &change.issue_type {
            None => None,
            Some(None) => Some(None),
            Some(Some(name)) if name.trim().is_empty() => Some(None),
            Some(Some(name)) => Some(Some(
                self.issue_type_by_name(name)
                    .ok_or_else(|| ApiError::invalid_value("Issue", "type", name))?
                    .id,
            )),
        };
        // Validation done: from here on nothing fails.
        if let Some(t) = issue_type {
            issue.issue_type = t;
        }
        if let Some(names) = change.labels {
            issue.labels = self.resolve_labels(&names);
        }
        if let Some(t) = change.title {
            issue.title = t;
        }
        if let Some(b) = change.body {
            issue.body = b;
        }
        if let Some(a) = assignees {
            issue.assignees = a;
        }
        if let Some(m) = change.milestone {
            issue.milestone = m;
        }
        let reason = change.state_reason.flatten();
        match change.open {
            Some(false) if issue.open => {
                issue.open = false;
                issue.closed_at = Some(ts);
                issue.closed_by = Some(actor);
                issue.state_reason = Some(match reason {
                    Some(StateReason::Reopened) | None => StateReason::Completed,
                    Some(r) => r,
                });
            }
            Some(true) if !issue.open => {
                issue.open = true;
                issue.closed_at = None;
                issue.closed_by = None;
                issue.state_reason = Some(StateReason::Reopened);
            }
            _ => {
                // Same state: a closed issue may change why it was closed.
                if let (false, Some(r)) = (issue.open, reason) {
                    if r != StateReason::Reopened {
                        issue.state_reason = Some(r);
                    }
                }
            }
        }
        Ok(issue)
    }

    /// Label ids for `names` (case-insensitive), creating missing labels; sorted, deduplicated.
    fn resolve_labels(&mut self, names: &[String]) -> Vec<u64> {
        let mut ids: Vec<u64> = names
            .iter()
            .map(|n| match self.label_by_name(n.trim()) {
                Some(l) => l.id,
                None => {
                    self.insert_label(n.trim(), NEW_LABEL_COLOR, None);
                    self.next_label_id - 1
                }
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Sandbox-only: deletes an issue and its comments; it answers 410 afterwards.
    pub(crate) fn delete_issue(&mut self, number: u64) -> Result<(), ApiError> {
        let ids = self.issue(number)?.comment_ids.clone();
        for id in ids {
            if let Some(c) = self.comments.remove(&id) {
                self.comments_by_updated.remove(&(c.updated_at, id));
            }
        }
        self.unindex_issue(number);
        if let Some(i) = self.issues.get_mut(slot(number)) {
            i.deleted = true;
            i.comment_ids.clear();
        }
        self.live_issues -= 1;
        self.clock = self.next_ts();
        Ok(())
    }
}

/// Index of issue `number` in `State::issues` (numbers start at 1; 0 maps out of range).
pub(super) fn slot(number: u64) -> usize {
    (number as usize).wrapping_sub(1)
}

/// A title is required and at most 256 characters.
fn check_title(t: &str) -> Result<(), ApiError> {
    if t.trim().is_empty() {
        return Err(ApiError::validation("Issue", "title", "missing_field"));
    }
    if t.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::custom(
            "Issue",
            "title",
            "title is too long (maximum is 256 characters)",
        ));
    }
    Ok(())
}

/// Six hex digits, kept as given (`BADA55` stays upper-case, as on GitHub). A leading `#` or
/// stray spaces are refused: GitHub's REST API answers 422 for `#5319e7`.
pub(super) fn check_color(c: &str) -> Result<String, ApiError> {
    if c.len() == 6 && c.chars().all(|x| x.is_ascii_hexdigit()) {
        Ok(c.to_owned())
    } else {
        Err(ApiError::validation("Label", "color", "invalid"))
    }
}
