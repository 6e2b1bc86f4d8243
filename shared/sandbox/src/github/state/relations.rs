//! The parts of GitHub's issue model beyond the issue's own fields: issue types, sub-issues
//! (one parent, children in a priority order), dependencies (blocked by / blocking), the
//! conversation lock and its reason, reactions and the pinned comment.
//!
//! GitHub names the other issue of a sub-issue or dependency write by its *id* (not its
//! number); ids here are `issue_id_base + number`, so both are at hand. Each link write
//! records GitHub's events on each side, with the actor of the request, but moves no issue's
//! `updated_at`: on GitHub adding a sub-issue leaves the parent's `updatedAt` as it was
//! (reported by clients whose `since` syncs missed the change), so the sandbox does not
//! promise more, for links, order or dependencies, than GitHub is known to keep.

use axum::http::StatusCode;

use super::super::http::ApiError;
use super::{slot, EventKind, State, Ts};

/// GitHub's limits: 100 sub-issues per parent, 8 levels of nesting, 50 dependencies of each
/// kind per issue.
const MAX_SUB_ISSUES: usize = 100;
const MAX_DEPTH: usize = 8;
const MAX_DEPENDENCIES: usize = 50;

/// The reasons a conversation can be locked for.
pub(crate) const LOCK_REASONS: &[&str] = &["off-topic", "too heated", "resolved", "spam"];

/// Reaction contents, in the order GitHub's `reactions` rollup lists them.
pub(crate) const REACTIONS: &[&str] = &[
    "+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes",
];

/// An organisation's issue type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IssueType {
    pub id: u64,
    pub name: String,
    pub description: Option<String>,
    pub color: &'static str,
}

/// The three types a new organisation gets on GitHub.
pub(super) fn default_issue_types(repo_id: u64) -> Vec<IssueType> {
    [
        ("Task", "A specific piece of work", "yellow"),
        ("Bug", "An unexpected problem or behavior", "red"),
        ("Feature", "A request, idea, or new functionality", "blue"),
    ]
    .into_iter()
    .enumerate()
    .map(|(k, (name, desc, color))| IssueType {
        id: repo_id * 10 + 1_000_000 + k as u64 + 1,
        name: name.to_owned(),
        description: Some(desc.to_owned()),
        color,
    })
    .collect()
}

/// What a reaction is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Subject {
    Issue(u64),
    Comment(u64),
}

#[derive(Debug, Clone)]
pub(crate) struct Reaction {
    pub id: u64,
    pub subject: Subject,
    pub user: usize,
    pub content: &'static str,
    pub created_at: Ts,
}

fn rule(field: &str, message: &str) -> ApiError {
    ApiError::custom("Issue", field, message)
}

impl State {
    pub(crate) fn issue_type_by_name(&self, name: &str) -> Option<&IssueType> {
        self.issue_types
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name.trim()))
    }

    pub(crate) fn issue_type(&self, id: u64) -> Option<&IssueType> {
        self.issue_types.iter().find(|t| t.id == id)
    }

    /// The number of the live issue with GitHub id `id`: 404 if there is none, as GitHub
    /// answers for an id it cannot see.
    pub(crate) fn number_of_id(&self, id: u64) -> Result<u64, ApiError> {
        let n = id
            .checked_sub(self.issue_id(0))
            .filter(|&n| n >= 1)
            .ok_or_else(ApiError::not_found)?;
        self.issue(n)?;
        Ok(n)
    }

    /// Applies `f` to issue `number`, bumping its `updated_at` to `ts`.
    fn edit(&mut self, number: u64, ts: Ts, f: impl FnOnce(&mut super::Issue)) {
        self.unindex_issue(number);
        if let Some(i) = self.issues.get_mut(slot(number)) {
            f(i);
            i.updated_at = ts;
        }
        self.index_issue(number);
    }

    /// Applies `f` to issue `number`'s links, leaving its `updated_at` alone (see the
    /// module docs).
    fn relink(&mut self, number: u64, f: impl FnOnce(&mut super::Issue)) {
        if let Some(i) = self.issues.get_mut(slot(number)) {
            f(i);
        }
    }

    /// The depth of `number` in its hierarchy (a root is 1).
    fn depth(&self, mut number: u64) -> usize {
        let mut d = 1;
        while let Some(p) = self.issues.get(slot(number)).and_then(|i| i.parent) {
            d += 1;
            number = p;
            if d > MAX_DEPTH + 1 {
                break;
            }
        }
        d
    }

    /// The height of the tree under `number` (a leaf is 1).
    fn height(&self, number: u64) -> usize {
        let Some(i) = self.issues.get(slot(number)) else {
            return 0;
        };
        1 + i
            .sub_issues
            .iter()
            .map(|&c| self.height(c))
            .max()
            .unwrap_or(0)
    }

    /// Makes issue id `child_id` the last sub-issue of `parent`. A child that already has a
    /// parent moves only with `replace_parent`.
    pub(crate) fn add_sub_issue(
        &mut self,
        parent: u64,
        child_id: u64,
        replace_parent: bool,
        actor: usize,
    ) -> Result<(), ApiError> {
        self.issue(parent)?;
        let child = self.number_of_id(child_id)?;
        let current = self.issue(child)?.parent;
        if child == parent {
            return Err(rule(
                "sub_issue_id",
                "An issue cannot be a sub-issue of itself",
            ));
        }
        if current == Some(parent) {
            return Err(rule(
                "sub_issue_id",
                "Issue may not contain duplicate sub-issues",
            ));
        }
        if current.is_some() && !replace_parent {
            return Err(rule("sub_issue_id", "Sub issue may only have one parent"));
        }
        // The parent may not sit under the child.
        let mut up = Some(parent);
        while let Some(n) = up {
            if n == child {
                return Err(rule(
                    "sub_issue_id",
                    "An issue cannot be a sub-issue of one of its own sub-issues",
                ));
            }
            up = self.issues.get(slot(n)).and_then(|i| i.parent);
        }
        if self.issue(parent)?.sub_issues.len() >= MAX_SUB_ISSUES {
            return Err(rule(
                "sub_issue_id",
                "Parent issue cannot have more than 100 sub-issues",
            ));
        }
        if self.depth(parent) + self.height(child) > MAX_DEPTH {
            return Err(rule(
                "sub_issue_id",
                "Sub-issues cannot be nested more than 8 levels deep",
            ));
        }
        let ts = self.next_ts();
        self.clock = ts;
        if let Some(old) = current {
            self.relink(old, |i| i.sub_issues.retain(|&c| c != child));
            self.record(old, actor, EventKind::SubIssueRemoved { child }, ts);
            self.record(child, actor, EventKind::ParentRemoved { parent: old }, ts);
        }
        self.relink(parent, |i| i.sub_issues.push(child));
        self.relink(child, |i| i.parent = Some(parent));
        self.record(parent, actor, EventKind::SubIssueAdded { child }, ts);
        self.record(child, actor, EventKind::ParentAdded { parent }, ts);
        Ok(())
    }

    /// Detaches sub-issue `child_id` from `parent`.
    pub(crate) fn remove_sub_issue(
        &mut self,
        parent: u64,
        child_id: u64,
        actor: usize,
    ) -> Result<(), ApiError> {
        self.issue(parent)?;
        let child = self.number_of_id(child_id)?;
        if self.issue(child)?.parent != Some(parent) {
            return Err(ApiError::not_found());
        }
        let ts = self.next_ts();
        self.clock = ts;
        self.relink(parent, |i| i.sub_issues.retain(|&c| c != child));
        self.relink(child, |i| i.parent = None);
        self.record(parent, actor, EventKind::SubIssueRemoved { child }, ts);
        self.record(child, actor, EventKind::ParentRemoved { parent }, ts);
        Ok(())
    }

    /// Moves sub-issue `child_id` right after `after_id` or right before `before_id` (exactly
    /// one of them), both sub-issues of `parent`. Only the order changes: GitHub records no
    /// event for a reorder and moves no `updated_at`. Refusals carry GitHub's messages (422
    /// with a plain `message`).
    pub(crate) fn reprioritize_sub_issue(
        &mut self,
        parent: u64,
        child_id: u64,
        after_id: Option<u64>,
        before_id: Option<u64>,
    ) -> Result<(), ApiError> {
        let refuse = |m: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m);
        let siblings = self.issue(parent)?.sub_issues.clone();
        let child = self.number_of_id(child_id).map_err(|_| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "The provided sub-issue does not exist",
            )
        })?;
        if child == parent {
            return Err(refuse("A sub-issue cannot be prioritized against itself"));
        }
        if !siblings.contains(&child) {
            return Err(ApiError::not_found());
        }
        let (anchor, after) = match (after_id, before_id) {
            (Some(a), None) => (a, true),
            (None, Some(b)) => (b, false),
            (None, None) => {
                return Err(refuse(
                    "Either a before_id or after_id argument must be provided",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(refuse(
                    "Only the before_id or the after_id argument may be provided, but not both",
                ))
            }
        };
        if anchor == self.issue_id(parent) {
            return Err(refuse(
                "The provided positional id cannot be the parent issue",
            ));
        }
        if anchor == child_id {
            return Err(refuse(
                "The provided positional id cannot be the child issue",
            ));
        }
        let anchor = self.number_of_id(anchor)?;
        if !siblings.contains(&anchor) {
            return Err(refuse(
                "Provided positional argument is not a sub-issue of the provided parent",
            ));
        }
        let mut order: Vec<u64> = siblings.into_iter().filter(|&c| c != child).collect();
        let at = order.iter().position(|&c| c == anchor).unwrap_or(0);
        order.insert(if after { at + 1 } else { at }, child);
        let ts = self.next_ts();
        self.clock = ts;
        self.relink(parent, |i| i.sub_issues = order);
        Ok(())
    }

    /// Records that issue id `blocker_id` blocks `number`.
    pub(crate) fn add_blocked_by(
        &mut self,
        number: u64,
        blocker_id: u64,
        actor: usize,
    ) -> Result<(), ApiError> {
        let issue = self.issue(number)?.clone();
        let blocker = self.number_of_id(blocker_id)?;
        if blocker == number {
            return Err(rule("issue_id", "An issue cannot block itself"));
        }
        if issue.blocked_by.contains(&blocker) {
            return Err(rule("issue_id", "This dependency already exists"));
        }
        if issue.blocking.contains(&blocker) {
            return Err(rule(
                "issue_id",
                "Adding this dependency would create a circular dependency",
            ));
        }
        if issue.blocked_by.len() >= MAX_DEPENDENCIES
            || self.issue(blocker)?.blocking.len() >= MAX_DEPENDENCIES
        {
            return Err(rule(
                "issue_id",
                "An issue cannot have more than 50 dependencies of each kind",
            ));
        }
        let ts = self.next_ts();
        self.clock = ts;
        self.relink(number, |i| i.blocked_by.push(blocker));
        self.relink(blocker, |i| i.blocking.push(number));
        self.record(
            number,
            actor,
            EventKind::BlockedByAdded { other: blocker },
            ts,
        );
        self.record(
            blocker,
            actor,
            EventKind::BlockingAdded { other: number },
            ts,
        );
        Ok(())
    }

    /// Removes the dependency of `number` on issue id `blocker_id`.
    pub(crate) fn remove_blocked_by(
        &mut self,
        number: u64,
        blocker_id: u64,
        actor: usize,
    ) -> Result<(), ApiError> {
        let issue = self.issue(number)?;
        let blocker = self.number_of_id(blocker_id)?;
        if !issue.blocked_by.contains(&blocker) {
            return Err(ApiError::not_found());
        }
        let ts = self.next_ts();
        self.clock = ts;
        self.relink(number, |i| i.blocked_by.retain(|&b| b != blocker));
        self.relink(blocker, |i| i.blocking.retain(|&b| b != number));
        self.record(
            number,
            actor,
            EventKind::BlockedByRemoved { other: blocker },
            ts,
        );
        self.record(
            blocker,
            actor,
            EventKind::BlockingRemoved { other: number },
            ts,
        );
        Ok(())
    }

    /// Locks the conversation (`reason` one of [`LOCK_REASONS`] or none). Locking a locked
    /// issue again changes nothing, as on GitHub (204 both times).
    pub(crate) fn lock_issue(
        &mut self,
        number: u64,
        reason: Option<&str>,
        actor: usize,
    ) -> Result<(), ApiError> {
        let issue = self.issue(number)?;
        if let Some(r) = reason {
            if !LOCK_REASONS.contains(&r) {
                return Err(ApiError::validation("Issue", "lock_reason", "invalid"));
            }
        }
        if issue.locked {
            return Ok(());
        }
        let reason = reason.map(str::to_owned);
        let ts = self.next_ts();
        self.clock = ts;
        let stored = reason.clone();
        self.edit(number, ts, |i| {
            i.locked = true;
            i.lock_reason = stored;
        });
        self.record(number, actor, EventKind::Locked { reason }, ts);
        Ok(())
    }

    /// Unlocks the conversation; unlocking an unlocked one changes nothing (204).
    pub(crate) fn unlock_issue(&mut self, number: u64, actor: usize) -> Result<(), ApiError> {
        if !self.issue(number)?.locked {
            return Ok(());
        }
        let ts = self.next_ts();
        self.clock = ts;
        self.edit(number, ts, |i| {
            i.locked = false;
            i.lock_reason = None;
        });
        self.record(number, actor, EventKind::Unlocked, ts);
        Ok(())
    }

    /// Adds a reaction by `user`; the same user's same reaction is returned instead of a
    /// second one (`false`: it already existed, GitHub's 200).
    pub(crate) fn add_reaction(
        &mut self,
        subject: Subject,
        content: &str,
        user: usize,
    ) -> Result<(u64, bool), ApiError> {
        match subject {
            Subject::Issue(n) => {
                self.issue(n)?;
            }
            Subject::Comment(id) => {
                self.comment(id)?;
            }
        }
        let Some(content) = REACTIONS.iter().copied().find(|c| *c == content) else {
            return Err(ApiError::validation("Reaction", "content", "invalid"));
        };
        let ids = self.reactions_by_subject.entry(subject).or_default();
        if let Some(&id) = ids.iter().find(|id| {
            self.reactions
                .get(id)
                .is_some_and(|r| r.user == user && r.content == content)
        }) {
            return Ok((id, false));
        }
        let id = self.next_reaction_id;
        self.next_reaction_id += 1;
        ids.push(id);
        let ts = self.next_ts();
        self.clock = ts;
        self.reactions.insert(
            id,
            Reaction {
                id,
                subject,
                user,
                content,
                created_at: ts,
            },
        );
        Ok((id, true))
    }

    /// Deletes reaction `id` from `subject`; 404 if it is not there.
    pub(crate) fn delete_reaction(&mut self, subject: Subject, id: u64) -> Result<(), ApiError> {
        if self.reactions.get(&id).map(|r| r.subject) != Some(subject) {
            return Err(ApiError::not_found());
        }
        self.reactions.remove(&id);
        if let Some(ids) = self.reactions_by_subject.get_mut(&subject) {
            ids.retain(|&r| r != id);
        }
        self.clock = self.next_ts();
        Ok(())
    }

    /// The reactions on `subject`, oldest first.
    pub(crate) fn reactions_on(&self, subject: Subject) -> Vec<&super::Reaction> {
        self.reactions_by_subject
            .get(&subject)
            .map(|ids| ids.iter().filter_map(|id| self.reactions.get(id)).collect())
            .unwrap_or_default()
    }

    /// Drops every reaction on `subject` (its comment was deleted).
    pub(super) fn drop_reactions(&mut self, subject: Subject) {
        for id in self
            .reactions_by_subject
            .remove(&subject)
            .unwrap_or_default()
        {
            self.reactions.remove(&id);
        }
    }

    /// Pins comment `id` to its issue (replacing any pinned one) or unpins it.
    pub(crate) fn pin_comment(&mut self, id: u64, pin: bool) -> Result<(), ApiError> {
        let issue = self.comment(id)?.issue;
        let current = self.issue(issue)?.pinned_comment;
        let next = if pin {
            Some(id)
        } else if current == Some(id) {
            None
        } else {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "Not Found"));
        };
        if current != next {
            let ts = self.next_ts();
            self.clock = ts;
            self.edit(issue, ts, |i| i.pinned_comment = next);
        }
        Ok(())
    }

    /// Adds assignees (`add`) or removes them. Logins that cannot be assigned are skipped on
    /// add, as GitHub silently ignores them.
    pub(crate) fn change_assignees(
        &mut self,
        number: u64,
        logins: &[String],
        add: bool,
        actor: usize,
    ) -> Result<(), ApiError> {
        let issue = self.issue(number)?;
        let named: Vec<usize> = logins
            .iter()
            .filter_map(|l| self.user_by_login(l))
            .collect();
        let mut now: Vec<usize> = issue.assignees.clone();
        if add {
            for u in named.into_iter().filter(|&u| self.users[u].assignable) {
                if !now.contains(&u) && now.len() < super::MAX_ASSIGNEES {
                    now.push(u);
                }
            }
        } else {
            now.retain(|u| !named.contains(u));
        }
        let logins: Vec<String> = now.iter().map(|&u| self.users[u].login.clone()).collect();
        self.update_issue(
            number,
            super::IssueChange {
                assignees: Some(logins),
                ..super::IssueChange::default()
            },
            actor,
        )
    }
}
