//! Comment writes: create, edit, delete, keeping the issue's comment list, count and
//! `updated_at` right.

use super::super::http::ApiError;
use super::{slot, Comment, State, MAX_BODY_BYTES};

/// What GitHub refuses in a comment, and how it words it (recorded from github.com).
fn check_comment_body(body: &str) -> Result<(), ApiError> {
    if body.trim().is_empty() {
        return Err(ApiError::unprocessable(
            "IssueComment",
            "Body cannot be blank",
        ));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::unprocessable(
            "IssueComment",
            "Body is too long (maximum is 65536 characters)",
        ));
    }
    Ok(())
}

impl State {
    /// Adds a comment by `actor` to issue `number`.
    pub(crate) fn create_comment(
        &mut self,
        number: u64,
        body: &str,
        actor: usize,
    ) -> Result<u64, ApiError> {
        self.issue(number)?;
        check_comment_body(body)?;
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
        check_comment_body(body)?;
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
            if i.pinned_comment == Some(id) {
                i.pinned_comment = None;
            }
        }
        self.drop_reactions(super::Subject::Comment(id));
        let ts = self.next_ts();
        self.clock = ts;
        self.touch_issue(c.issue, ts);
        Ok(())
    }
}
