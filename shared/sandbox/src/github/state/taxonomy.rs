//! Label and milestone writes, and an issue's label set. Deleting either strips it from
//! every issue that carries it, leaving those issues' `updated_at` alone, like editing it.

use super::super::http::ApiError;
use axum::http::StatusCode;

use super::{check_color, slot, IssueChange, Milestone, State, NEW_LABEL_COLOR};

/// A label name is required and at most 50 characters.
fn check_label_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::validation("Label", "name", "missing_field"));
    }
    if name.chars().count() > 50 {
        return Err(ApiError::custom(
            "Label",
            "name",
            "name is too long (maximum is 50 characters)",
        ));
    }
    Ok(())
}

/// A label description is at most 100 characters (101 refused, 100 accepted on github.com).
fn check_label_description(description: Option<&str>) -> Result<(), ApiError> {
    if description.is_some_and(|d| d.chars().count() > 100) {
        return Err(ApiError::custom(
            "Label",
            "description",
            "description is too long (maximum is 100 characters)",
        ));
    }
    Ok(())
}

impl State {
    /// Adds labels to an issue (`replace` = set them instead). Returns nothing: callers render
    /// the issue's labels afterwards.
    pub(crate) fn set_issue_labels(
        &mut self,
        number: u64,
        names: &[String],
        replace: bool,
        actor: usize,
    ) -> Result<(), ApiError> {
        let mut all: Vec<String> = Vec::new();
        if !replace {
            let issue = self.issue(number)?;
            all.extend(
                issue
                    .labels
                    .iter()
                    .filter_map(|id| self.labels.get(id).map(|l| l.name.clone())),
            );
        }
        all.extend(names.iter().cloned());
        self.update_issue(
            number,
            IssueChange {
                labels: Some(all),
                ..IssueChange::default()
            },
            actor,
        )
    }

    pub(crate) fn remove_issue_label(
        &mut self,
        number: u64,
        name: &str,
        actor: usize,
    ) -> Result<(), ApiError> {
        let issue = self.issue(number)?;
        let target = self.label_by_name(name).map(|l| l.id);
        let Some(target) = target.filter(|t| issue.labels.contains(t)) else {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "Label does not exist"));
        };
        let keep: Vec<String> = issue
            .labels
            .iter()
            .filter(|&&id| id != target)
            .filter_map(|id| self.labels.get(id).map(|l| l.name.clone()))
            .collect();
        self.update_issue(
            number,
            IssueChange {
                labels: Some(keep),
                ..IssueChange::default()
            },
            actor,
        )
    }

    pub(crate) fn create_label(
        &mut self,
        name: &str,
        color: Option<&str>,
        description: Option<&str>,
    ) -> Result<u64, ApiError> {
        let name = name.trim();
        check_label_name(name)?;
        if self.label_by_name(name).is_some() {
            return Err(ApiError::validation("Label", "name", "already_exists"));
        }
        let color = match color {
            Some(c) => check_color(c)?,
            None => NEW_LABEL_COLOR.to_owned(),
        };
        check_label_description(description)?;
        self.insert_label(name, &color, description);
        self.clock = self.next_ts();
        Ok(self.next_label_id - 1)
    }

    /// PATCH a label; renaming keeps its id, so issues show the new name.
    pub(crate) fn update_label(
        &mut self,
        name: &str,
        new_name: Option<&str>,
        color: Option<&str>,
        description: Option<Option<&str>>,
    ) -> Result<u64, ApiError> {
        let id = self.label(name)?.id;
        let new_name = new_name.map(str::trim);
        if let Some(n) = new_name {
            check_label_name(n)?;
            if self.label_by_name(n).is_some_and(|l| l.id != id) {
                return Err(ApiError::validation("Label", "name", "already_exists"));
            }
        }
        let color = color.map(check_color).transpose()?;
        check_label_description(description.flatten())?;
        let Some(label) = self.labels.get_mut(&id) else {
            return Err(ApiError::not_found());
        };
        if let Some(n) = new_name {
            self.label_index.remove(&label.name.to_lowercase());
            label.name = n.to_owned();
            self.label_index.insert(n.to_lowercase(), id);
        }
        if let Some(c) = color {
            label.color = c;
        }
        if let Some(d) = description {
            label.description = d.map(str::to_owned);
        }
        self.clock = self.next_ts();
        Ok(id)
    }

    /// Deletes a label and strips it from every issue. Their `updated_at` stays: GitHub
    /// documents no bump, and clients that sync issues by `since` report deleted labels
    /// lingering on the issues they hold, as renamed ones do. Of the two readings this is the
    /// one a client must cope with (noticing the deletion from the labels listing, as it
    /// must a rename); a bump would only make it easier. A rare write, so scanning the
    /// issues is fine.
    pub(crate) fn delete_label(&mut self, name: &str) -> Result<(), ApiError> {
        let id = self.label(name)?.id;
        self.labels.remove(&id);
        self.label_index.retain(|_, v| *v != id);
        self.clock = self.next_ts();
        let hit: Vec<u64> = self
            .issues
            .iter()
            .filter(|i| !i.deleted && i.labels.contains(&id))
            .map(|i| i.number)
            .collect();
        for n in hit {
            if let Some(i) = self.issues.get_mut(slot(n)) {
                i.labels.retain(|&l| l != id);
            }
        }
        Ok(())
    }

    // ----- milestone writes -----

    /// Creates a milestone whose `creator` is `actor`.
    pub(crate) fn create_milestone(
        &mut self,
        mut m: Milestone,
        actor: usize,
    ) -> Result<u64, ApiError> {
        if m.title.trim().is_empty() {
            return Err(ApiError::validation("Milestone", "title", "missing_field"));
        }
        if self.milestones.values().any(|x| x.title == m.title) {
            return Err(ApiError::validation("Milestone", "title", "already_exists"));
        }
        let ts = self.next_ts();
        self.clock = ts;
        m.number = self.milestones.keys().next_back().map_or(1, |n| n + 1);
        m.creator = actor;
        m.created_at = ts;
        m.updated_at = ts;
        m.closed_at = (!m.open).then_some(ts);
        let number = m.number;
        self.insert_milestone(m);
        Ok(number)
    }

    /// Applies `f` to a copy of the milestone, validates the result and stores it.
    pub(crate) fn update_milestone(
        &mut self,
        number: u64,
        f: impl FnOnce(&mut Milestone),
    ) -> Result<(), ApiError> {
        let old = self.milestone(number)?.clone();
        let mut new = old.clone();
        f(&mut new);
        if new.title.trim().is_empty() {
            return Err(ApiError::validation("Milestone", "title", "missing_field"));
        }
        if self
            .milestones
            .values()
            .any(|x| x.number != number && x.title == new.title)
        {
            return Err(ApiError::validation("Milestone", "title", "already_exists"));
        }
        if new == old {
            return Ok(());
        }
        let ts = self.next_ts();
        self.clock = ts;
        new.updated_at = ts;
        new.closed_at = match (old.open, new.open) {
            (true, false) => Some(ts),
            (_, true) => None,
            (false, false) => old.closed_at,
        };
        self.milestones.insert(number, new);
        Ok(())
    }

    /// Deletes a milestone and clears it from its issues, leaving their `updated_at` alone
    /// (as deleting a label does).
    pub(crate) fn delete_milestone(&mut self, number: u64) -> Result<(), ApiError> {
        self.milestone(number)?;
        self.clock = self.next_ts();
        for i in self.issues.iter_mut() {
            if !i.deleted && i.milestone == Some(number) {
                i.milestone = None;
            }
        }
        self.milestones.remove(&number);
        Ok(())
    }
}
