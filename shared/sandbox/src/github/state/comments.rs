//! Comment writes: create, edit, delete, keeping the issue's comment list, count and
//! `updated_at` right.

use super::super::http::ApiError;
use super::{check_body, slot, Comment, State};

impl State {
    /// Adds a comment by `actor` to issue `number`.
    pub(crate) fn create_comment(
        &mut self,
        number: u64,
        body: &str,
        actor: usize,
    ) -> Result<u64, ApiError> {
        self.issue(number)?;
        if body.trim().is_empty() {
            return Err(ApiError::validation(
                "IssueComment",
                "body",
                "missing_field",
            ));
        }
        check_body(body, "IssueComment")?;
        let ts = self.next_ts();
        self.clock = ts;
        let id = self.push_comment(Comment {
            id: 0,
            issue: number,
            user: actor,
            body: body.to_owned(),
            created_at: ts,
            updated_at: ts,
        });
        self.touch_issue(number, ts);
        Ok(id)
    }

    /// Edits a comment. Like GitHub, this does not bump the issue's `updated_at`.
    pub(crate) fn update_comment(&mut self, id: u64, body: &str) -> Result<(), ApiError> {
        let old = self.comment(id)?;
        if body.trim().is_empty() {
            return Err(ApiError::validation(
                "IssueComment",
                "body",
                "missing_field",
            ));
        }
        check_body(body, "IssueComment")?;
        if old.body == body {
            return Ok(());
        }
        let ts = self.next_ts();
        self.clock = ts;
        if let Some(c) = self.comments.get_mut(&id) {
            self.comments_by_updated.remove(&(c.updated_at, id));
            c.body = body.to_owned();
            c.updated_at = ts;
            self.comments_by_updated.insert((ts, id));
        }
        Ok(())
    }

    pub(crate) fn delete_comment(&mut self, id: u64) -> Result<(), ApiError> {
        let Some(c) = self.comments.remove(&id) else {
            return Err(ApiError::not_found());
        };
        self.comments_by_updated.remove(&(c.updated_at, id));
        if let Some(i) = self.issues.get_mut(slot(c.issue)) {
            i.comment_ids.retain(|&x| x != id);
        }
        let ts = self.next_ts();
        self.clock = ts;
        self.touch_issue(c.issue, ts);
        Ok(())
    }
}
