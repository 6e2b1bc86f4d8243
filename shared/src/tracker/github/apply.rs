//! Rollback writes against GitHub: one REST call per operation, built from the plan.
//!
//! Issues refer to milestones by number, plans by title (a recreated milestone's number is
//! only known once it is written), so the writer keeps the repository's milestone numbers by
//! title: listed on first need, kept current by its own milestone writes, and listed again
//! once when a title is missing (someone else changed milestones meanwhile).

use std::collections::HashMap;

use http::{Method, StatusCode};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};

use super::GitHubTracker;
use crate::tracker::operation::{restored_from, Change, Operation};
use crate::tracker::TrackerError;

/// Milestone numbers by title; `None` until first needed.
pub(super) type MilestoneCache = std::sync::Mutex<Option<HashMap<String, u64>>>;

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
            _ => Ok(None),
        }
    }

    async fn find_restored(
        &self,
        issue: u64,
        original_id: u64,
    ) -> Result<Option<u64>, TrackerError> {
        let mut next = Some(self.repo_path(&format!("/issues/{issue}/comments?per_page=100")));
        while let Some(target) = next {
            let reply = self.client().get(&target, None).await?;
            if reply.status == StatusCode::OK {
                if let Value::Array(items) = reply.json(&target)? {
                    for c in items {
                        let body = c.get("body").and_then(Value::as_str).unwrap_or("");
                        if restored_from(body) == Some(original_id) {
                            return Ok(c.get("id").and_then(Value::as_u64));
                        }
                    }
                }
            }
            next = reply.next_link();
        }
        Ok(None)
    }
}
