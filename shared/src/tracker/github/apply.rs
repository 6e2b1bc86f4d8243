//! Rollback writes against GitHub: one REST call per operation, built from the plan.
//!
//! Issues refer to milestones by number, plans by title (a recreated milestone's number is
//! only known once it is written), so the writer keeps the repository's milestone numbers by
//! title: listed on first need, kept current by its own milestone writes, and listed again
//! once when a title is missing (someone else changed milestones meanwhile).
//!
//! A restore into another scope refers to issues by their originals (a copy's number is only
//! known once it is written), so the writer likewise keeps the copies the repository holds
//! by the origin their hidden marker names: listed on first need, kept current by its own
//! creations.

use std::collections::HashMap;

use http::{Method, StatusCode};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};

use super::GitHubTracker;
use crate::tracker::operation::{migrated_from, restored_from, Change, Operation};
use crate::tracker::TrackerError;

/// Milestone numbers by title; `None` until first needed.
pub(super) type MilestoneCache = std::sync::Mutex<Option<HashMap<String, u64>>>;

/// A copied issue as the writer addresses it: number, and id (what sub-issue links take).
#[derive(Debug, Clone, Copy)]
pub(super) struct Copy {
    number: u64,
    id: u64,
}

/// Copies by origin; `None` until first needed.
pub(super) type CopyCache = std::sync::Mutex<Option<HashMap<String, Copy>>>;

/// The parent number an issue's JSON names (`parent_issue_url`), if any.
fn client_parent(issue: &Value) -> Option<u64> {
    issue
        .get("parent_issue_url")
        .and_then(Value::as_str)
        .and_then(|u| u.rsplit('/').next())
        .and_then(|n| n.parse().ok())
}

fn already_exists(e: &TrackerError) -> bool {
    matches!(e, TrackerError::Http { status: 422, message, .. } if message.to_ascii_lowercase().contains("validation"))
}

impl GitHubTracker {
    fn label_path(&self, name: &str) -> String {
        self.repo_path(&format!(
            "/labels/{}",
            utf8_percent_encode(name, NON_ALPHANUMERIC)
        ))
    }

    async fn milestone_numbers(&self) -> Result<HashMap<String, u64>, TrackerError> {
        let mut map = HashMap::new();
        let mut next = Some(self.repo_path("/milestones?state=all&per_page=100"));
        while let Some(target) = next {
            let reply = self.client().get(&target, None).await?;
            if let Value::Array(items) = reply.json(&target)? {
                for m in items {
                    if let (Some(title), Some(number)) = (
                        m.get("title").and_then(Value::as_str),
                        m.get("number").and_then(Value::as_u64),
                    ) {
                        map.insert(title.to_string(), number);
                    }
                }
            }
            next = reply.next_link();
        }
        Ok(map)
    }

    /// Runs `f` on the cached milestone numbers, if they were listed already.
    fn with_milestones<T>(&self, f: impl FnOnce(&mut HashMap<String, u64>) -> T) -> Option<T> {
        let mut cache = self
            .milestones
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.as_mut().map(f)
    }

    async fn resolve_milestone(&self, title: &str) -> Result<u64, TrackerError> {
        if let Some(Some(n)) = self.with_milestones(|m| m.get(title).copied()) {
            return Ok(n);
        }
        let listed = self.milestone_numbers().await?;
        let found = listed.get(title).copied();
        *self
            .milestones
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(listed);
        found.ok_or_else(|| TrackerError::Http {
            service: "GitHub".into(),
            method: "PATCH".into(),
            path: self.repo_path("/milestones"),
            status: 422,
            message: format!("milestone {title:?} does not exist and was not recreated"),
        })
    }

    /// Every issue of the repository that carries a migration marker, by origin.
    async fn list_copies(&self) -> Result<HashMap<String, Copy>, TrackerError> {
        let mut map = HashMap::new();
        let mut next = Some(self.repo_path("/issues?state=all&per_page=100"));
        while let Some(target) = next {
            let reply = self.client().get(&target, None).await?;
            if let Value::Array(items) = reply.json(&target)? {
                for i in items {
                    let body = i.get("body").and_then(Value::as_str).unwrap_or("");
                    if let (Some(origin), Some(number), Some(id)) = (
                        migrated_from(body),
                        i.get("number").and_then(Value::as_u64),
                        i.get("id").and_then(Value::as_u64),
                    ) {
                        map.insert(origin.to_string(), Copy { number, id });
                    }
                }
            }
            next = reply.next_link();
        }
        Ok(map)
    }

    fn cached_copy(&self, origin: &str) -> Option<Copy> {
        self.copies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .and_then(|m| m.get(origin).copied())
    }

    fn remember_copy(&self, origin: &str, copy: Copy) {
        if let Some(map) = self
            .copies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_mut()
        {
            map.insert(origin.to_string(), copy);
        }
    }

    /// The copy of `origin`, if the repository holds one (listed again when not cached).
    async fn find_copy(&self, origin: &str) -> Result<Option<Copy>, TrackerError> {
        if let Some(copy) = self.cached_copy(origin) {
            return Ok(Some(copy));
        }
        let listed = self.list_copies().await?;
        let found = listed.get(origin).copied();
        *self
            .copies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(listed);
        Ok(found)
    }

    async fn resolve_copy(&self, origin: &str, method: &str) -> Result<Copy, TrackerError> {
        self.find_copy(origin)
            .await?
            .ok_or_else(|| TrackerError::Http {
                service: "GitHub".into(),
                method: method.into(),
                path: self.repo_path("/issues"),
                status: 422,
                message: format!(
                    "the copy of {origin} does not exist (it is created earlier in the plan; was it deleted meanwhile?)"
                ),
            })
    }

    /// The comment on issue `issue` whose marker names `origin`, if any.
    async fn find_marked_comment(
        &self,
        issue: u64,
        matches: impl Fn(&str) -> bool,
    ) -> Result<Option<u64>, TrackerError> {
        let mut next = Some(self.repo_path(&format!("/issues/{issue}/comments?per_page=100")));
        while let Some(target) = next {
            let reply = self.client().get(&target, None).await?;
            if reply.status == StatusCode::OK {
                if let Value::Array(items) = reply.json(&target)? {
                    for c in items {
                        if matches(c.get("body").and_then(Value::as_str).unwrap_or("")) {
                            return Ok(c.get("id").and_then(Value::as_u64));
                        }
                    }
                }
            }
            next = reply.next_link();
        }
        Ok(None)
    }

    fn milestone_body(
        title: &str,
        state: crate::record::State,
        description: &Option<String>,
        due_on: &Option<chrono::DateTime<chrono::Utc>>,
    ) -> Value {
        json!({
            "title": title,
            "state": state.as_str(),
            "description": description.clone().unwrap_or_default(),
            "due_on": due_on.map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        })
    }

    pub(super) async fn apply_op(&self, op: &Operation) -> Result<Value, TrackerError> {
        let client = self.client();
        match op {
            Operation::CreateLabel {
                name,
                color,
                description,
            } => {
                let body = json!({"name": name, "color": color, "description": description.clone().unwrap_or_default()});
                match client
                    .write(Method::POST, &self.repo_path("/labels"), Some(&body))
                    .await
                {
                    Ok(reply) => Ok(json!({"id": reply.json("/labels")?.get("id")})),
                    // Created by an interrupted earlier run: the goal is reached.
                    Err(e) if already_exists(&e) => Ok(json!({"existed": true})),
                    Err(e) => Err(e),
                }
            }
            Operation::UpdateLabel {
                current_name,
                name,
                color,
                description,
            } => {
                let description = description.clone().unwrap_or_default();
                let body = json!({"new_name": name, "color": color, "description": description});
                match client
                    .write(Method::PATCH, &self.label_path(current_name), Some(&body))
                    .await
                {
                    Ok(_) => Ok(json!({})),
                    // Renamed already by an interrupted earlier run (a rename is addressed by
                    // the old name, which is gone once it succeeded): restyle the label under
                    // its new name, which is what the write is for.
                    Err(TrackerError::NotFound { .. })
                        if !current_name.eq_ignore_ascii_case(name) =>
                    {
                        let body = json!({"color": color, "description": description});
                        client
                            .write(Method::PATCH, &self.label_path(name), Some(&body))
                            .await?;
                        Ok(json!({"renamed_before": true}))
                    }
                    Err(e) => Err(e),
                }
            }
            Operation::CreateMilestone {
                title,
                state,
                description,
                due_on,
            } => {
                let body = Self::milestone_body(title, *state, description, due_on);
                let number = match client
                    .write(Method::POST, &self.repo_path("/milestones"), Some(&body))
                    .await
                {
                    Ok(reply) => reply
                        .json("/milestones")?
                        .get("number")
                        .and_then(Value::as_u64),
                    Err(e) if already_exists(&e) => {
                        self.milestone_numbers().await?.get(title).copied()
                    }
                    Err(e) => return Err(e),
                };
                if let Some(n) = number {
                    self.with_milestones(|map| map.insert(title.clone(), n));
                }
                Ok(json!({"number": number}))
            }
            Operation::UpdateMilestone {
                number,
                title,
                state,
                description,
                due_on,
            } => {
                let body = Self::milestone_body(title, *state, description, due_on);
                client
                    .write(
                        Method::PATCH,
                        &self.repo_path(&format!("/milestones/{number}")),
                        Some(&body),
                    )
                    .await?;
                self.with_milestones(|map| {
                    map.retain(|_, n| n != number);
                    map.insert(title.clone(), *number);
                });
                Ok(json!({}))
            }
            Operation::UpdateIssue {
                number, changes, ..
            } => {
                let mut body = Map::new();
                for change in changes {
                    match change {
                        Change::Title { to, .. } => {
                            body.insert("title".into(), json!(to));
                        }
                        Change::Body { to, .. } => {
                            body.insert("body".into(), json!(to.clone().unwrap_or_default()));
                        }
                        Change::State { to, to_reason, .. } => {
                            body.insert("state".into(), json!(to.as_str()));
                            if let Some(reason) = to_reason {
                                body.insert("state_reason".into(), json!(reason));
                            }
                        }
                        Change::Labels { to, .. } => {
                            body.insert("labels".into(), json!(to));
                        }
                        Change::Assignees { to, .. } => {
                            body.insert("assignees".into(), json!(to));
                        }
                        Change::Milestone { to, .. } => {
                            let value = match to {
                                Some(title) => json!(self.resolve_milestone(title).await?),
                                None => Value::Null,
                            };
                            body.insert("milestone".into(), value);
                        }
                        Change::IssueType { to, .. } => {
                            body.insert("type".into(), json!(to));
                        }
                    }
                }
                client
                    .write(
                        Method::PATCH,
                        &self.repo_path(&format!("/issues/{number}")),
                        Some(&Value::Object(body)),
                    )
                    .await?;
                Ok(json!({}))
            }
            Operation::EditComment { id, to, .. } => {
                client
                    .write(
                        Method::PATCH,
                        &self.repo_path(&format!("/issues/comments/{id}")),
                        Some(&json!({"body": to})),
                    )
                    .await?;
                Ok(json!({}))
            }
            Operation::RecreateComment { issue, body, .. } => {
                let path = self.repo_path(&format!("/issues/{issue}/comments"));
                let reply = client
                    .write(Method::POST, &path, Some(&json!({"body": body})))
                    .await?;
                Ok(json!({"id": reply.json(&path)?.get("id")}))
            }
            Operation::CloseIssue { number, .. } => {
                client
                    .write(
                        Method::PATCH,
                        &self.repo_path(&format!("/issues/{number}")),
                        Some(&json!({"state": "closed", "state_reason": "not_planned"})),
                    )
                    .await?;
                Ok(json!({}))
            }
            Operation::SetLock {
                number,
                locked,
                reason,
                ..
            } => {
                let path = self.repo_path(&format!("/issues/{number}/lock"));
                if *locked {
                    let body = match reason {
                        Some(r) => json!({ "lock_reason": r }),
                        None => json!({}),
                    };
                    client.write(Method::PUT, &path, Some(&body)).await?;
                } else {
                    client.write(Method::DELETE, &path, None).await?;
                }
                Ok(json!({}))
            }
            Operation::SetParent {
                number,
                id,
                from,
                to,
                ..
            } => {
                let (method, path, body) = match (from, to) {
                    (_, Some(parent)) => {
                        let mut body = json!({ "sub_issue_id": id });
                        // Only when it has one: GitHub refuses (422) to take a sub-issue
                        // from its parent without it, so a plan made stale by someone else's
                        // move stops here instead of moving it again.
                        if from.is_some() {
                            body["replace_parent"] = json!(true);
                        }
                        (
                            Method::POST,
                            self.repo_path(&format!("/issues/{parent}/sub_issues")),
                            body,
                        )
                    }
                    (Some(parent), None) => (
                        Method::DELETE,
                        self.repo_path(&format!("/issues/{parent}/sub_issue")),
                        json!({ "sub_issue_id": id }),
                    ),
                    (None, None) => return Ok(json!({})),
                };
                client.write(method, &path, Some(&body)).await?;
                Ok(json!({ "number": number, "parent": to }))
            }
            Operation::ReorderSubIssue {
                number,
                child_id,
                anchor_id,
                after,
                ..
            } => {
                let key = if *after { "after_id" } else { "before_id" };
                let mut body = json!({ "sub_issue_id": child_id });
                body[key] = json!(anchor_id);
                client
                    .write(
                        Method::PATCH,
                        &self.repo_path(&format!("/issues/{number}/sub_issues/priority")),
                        Some(&body),
                    )
                    .await?;
                Ok(json!({}))
            }
            Operation::SetBlockedBy {
                number,
                blocker_id,
                blocked,
                ..
            } => {
                if *blocked {
                    client
                        .write(
                            Method::POST,
                            &self.repo_path(&format!("/issues/{number}/dependencies/blocked_by")),
                            Some(&json!({ "issue_id": blocker_id })),
                        )
                        .await?;
                } else {
                    client
                        .write(
                            Method::DELETE,
                            &self.repo_path(&format!(
                                "/issues/{number}/dependencies/blocked_by/{blocker_id}"
                            )),
                            None,
                        )
                        .await?;
                }
                Ok(json!({}))
            }
            Operation::DeleteComment { id, .. } => {
                match client
                    .write(
                        Method::DELETE,
                        &self.repo_path(&format!("/issues/comments/{id}")),
                        None,
                    )
                    .await
                {
                    Ok(_) | Err(TrackerError::NotFound { .. }) => Ok(json!({})),
                    Err(e) => Err(e),
                }
            }
            Operation::CopyIssue {
                origin,
                title,
                body,
                labels,
                milestone,
                ..
            } => {
                let mut request = json!({"title": title, "body": body, "labels": labels});
                if let Some(m) = milestone {
                    request["milestone"] = json!(self.resolve_milestone(m).await?);
                }
                let path = self.repo_path("/issues");
                let reply = client.write(Method::POST, &path, Some(&request)).await?;
                let created = reply.json(&path)?;
                let (Some(number), Some(id)) = (
                    created.get("number").and_then(Value::as_u64),
                    created.get("id").and_then(Value::as_u64),
                ) else {
                    return Err(TrackerError::Decode {
                        service: "GitHub".into(),
                        path,
                        detail: "the created issue has no number or id".into(),
                    });
                };
                self.remember_copy(origin, Copy { number, id });
                Ok(json!({"number": number, "id": id}))
            }
            Operation::CopyComment {
                issue_origin, body, ..
            } => {
                let issue = self.resolve_copy(issue_origin, "POST").await?.number;
                let path = self.repo_path(&format!("/issues/{issue}/comments"));
                let reply = client
                    .write(Method::POST, &path, Some(&json!({"body": body})))
                    .await?;
                Ok(json!({"issue": issue, "id": reply.json(&path)?.get("id")}))
            }
            Operation::CloseCopy {
                issue_origin,
                state_reason,
                ..
            } => {
                let number = self.resolve_copy(issue_origin, "PATCH").await?.number;
                let mut body = json!({"state": "closed"});
                if let Some(reason) = state_reason {
                    body["state_reason"] = json!(reason);
                }
                client
                    .write(
                        Method::PATCH,
                        &self.repo_path(&format!("/issues/{number}")),
                        Some(&body),
                    )
                    .await?;
                Ok(json!({"number": number}))
            }
            Operation::LinkCopies {
                parent_origin,
                child_origin,
                ..
            } => {
                let parent = self.resolve_copy(parent_origin, "POST").await?;
                let child = self.resolve_copy(child_origin, "POST").await?;
                let body = json!({"sub_issue_id": child.id, "replace_parent": true});
                let path = self.repo_path(&format!("/issues/{}/sub_issues", parent.number));
                match client.write(Method::POST, &path, Some(&body)).await {
                    Ok(_) => Ok(json!({"parent": parent.number, "child": child.number})),
                    // GitHub refuses a link that exists (422): made by an interrupted earlier
                    // run, the goal is reached when the child's parent is this one.
                    Err(e @ TrackerError::Http { status: 422, .. }) => {
                        let issue = self.repo_path(&format!("/issues/{}", child.number));
                        let reply = client.get(&issue, None).await?;
                        let linked = reply
                            .json(&issue)?
                            .get("parent_issue_url")
                            .and_then(Value::as_str)
                            .and_then(|u| u.rsplit('/').next())
                            .and_then(|n| n.parse::<u64>().ok())
                            == Some(parent.number);
                        if linked {
                            Ok(
                                json!({"parent": parent.number, "child": child.number, "existed": true}),
                            )
                        } else {
                            Err(e)
                        }
                    }
                    Err(e) => Err(e),
                }
            }
            jira => Err(TrackerError::Config(format!(
                "a GitHub tracker cannot apply a Jira operation ({})",
                serde_json::to_value(jira)
                    .ok()
                    .and_then(|v| v.get("op").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or_default()
            ))),
        }
    }

    /// What a resumed run finds of an earlier, unjournaled attempt at `op`. Label and
    /// milestone creations need no look-up: a second attempt meets GitHub's "already exists"
    /// and succeeds (see `apply_op`). A recreated comment is found by its hidden marker.
    pub(super) async fn find_applied_op(
        &self,
        op: &Operation,
    ) -> Result<Option<Value>, TrackerError> {
        match op {
            Operation::RecreateComment {
                issue, original_id, ..
            } => Ok(self
                .find_restored(*issue, *original_id)
                .await?
                .map(|id| json!({"id": id, "found": true}))),
            // One listing per writer: an unjournaled attempt was made by an earlier run,
            // before this writer listed, and this writer's own creations join the cache (the
            // scope's lock keeps anyone else from creating copies meanwhile). Listing again
            // per issue would make a resumed run quadratic.
            Operation::CopyIssue { origin, .. } => {
                let listed = self
                    .copies
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .is_some();
                if !listed {
                    let copies = self.list_copies().await?;
                    *self
                        .copies
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(copies);
                }
                Ok(self
                    .cached_copy(origin)
                    .map(|c| json!({"number": c.number, "id": c.id, "found": true})))
            }
            Operation::CopyComment {
                issue_origin,
                origin,
                ..
            } => {
                let Some(issue) = self.find_copy(issue_origin).await? else {
                    return Ok(None);
                };
                Ok(self
                    .find_marked_comment(issue.number, |body| migrated_from(body) == Some(origin))
                    .await?
                    .map(|id| json!({"issue": issue.number, "id": id, "found": true})))
            }
            // A link write sent by an interrupted run may have landed: the live link says.
            Operation::SetParent { number, to, .. } => {
                let path = self.repo_path(&format!("/issues/{number}"));
                let live = client_parent(&self.client().get(&path, None).await?.json(&path)?);
                Ok((live == *to).then(|| json!({ "number": number, "parent": to, "found": true })))
            }
            Operation::SetBlockedBy {
                number,
                blocker_id,
                blocked,
                ..
            } => {
                let mut next = Some(self.repo_path(&format!(
                    "/issues/{number}/dependencies/blocked_by?per_page=100"
                )));
                let mut present = false;
                while let Some(target) = next.take() {
                    let reply = self.client().get(&target, None).await?;
                    if let Value::Array(items) = reply.json(&target)? {
                        present |= items
                            .iter()
                            .any(|i| i.get("id").and_then(Value::as_u64) == Some(*blocker_id));
                    }
                    next = reply.next_link();
                }
                Ok((present == *blocked).then(|| json!({ "found": true })))
            }
            _ => Ok(None),
        }
    }

    async fn find_restored(
        &self,
        issue: u64,
        original_id: u64,
    ) -> Result<Option<u64>, TrackerError> {
        self.find_marked_comment(issue, |body| restored_from(body) == Some(original_id))
            .await
    }
}
