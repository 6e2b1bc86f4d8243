//! The repository's issue events since a snapshot: who changed what (see
//! [`crate::attribution`]). One listing, `GET /repos/{o}/{r}/issues/events`, newest first,
//! 100 events a page, read until the snapshot's newest event: a quiet day costs one request,
//! a bot's 1,000 writes eleven. A first snapshot asks for the newest event alone
//! (`per_page=1`), to know where the next window starts.

use chrono::Utc;

use super::{page_items, GitHubTracker, PER_PAGE};
use crate::attribution::{Activity, ActivityFrom, IssueEvent, ACTIVITY_FORMAT};
use crate::tracker::TrackerError;

impl GitHubTracker {
    /// The issue events after `from`, newest first.
    pub async fn issue_events(&self, from: ActivityFrom) -> Result<Activity, TrackerError> {
        let until = Utc::now();
        let per_page = match from {
            ActivityFrom::Newest => 1,
            _ => PER_PAGE,
        };
        let mut next = Some(self.repo_path(&format!("/issues/events?per_page={per_page}")));
        let mut events = Vec::new();
        let mut newest_id = None;
        let mut reached = false;
        let mut cut = false;
        while let Some(target) = next.take() {
            let reply = match self.client.get(&target, None).await {
                Ok(reply) => reply,
                // GitHub refuses pages past the depth it serves: what was read stands, and
                // the log says it is incomplete.
                Err(TrackerError::Http { status: 422, .. }) if !events.is_empty() => {
                    cut = true;
                    break;
                }
                Err(e) => return Err(e),
            };
            for raw in page_items(&reply, &target)? {
                let Some(event) = IssueEvent::from_github(&raw) else {
                    continue;
                };
                newest_id = newest_id.max(Some(event.id));
                let older = match from {
                    ActivityFrom::Newest => true,
                    ActivityFrom::AfterId(id) => event.id <= id,
                    ActivityFrom::AfterTime(t) => event.created_at <= t,
                };
                if older {
                    reached = true;
                    break;
                }
                events.push(event);
            }
            if !reached {
                next = reply.next_link();
            }
        }
        let after_id = match from {
            ActivityFrom::AfterId(id) => Some(id),
            _ => None,
        };
        Ok(Activity {
            format: ACTIVITY_FORMAT,
            since: match from {
                ActivityFrom::AfterTime(t) => Some(t),
                _ => None,
            },
            after_id,
            // A quiet window: the newest event is still the one the window started after.
            newest_id: newest_id.or(after_id.filter(|id| *id > 0)),
            until,
            // A listing that ends on its own holds every event the repository has.
            complete: reached || !cut,
            events,
            failed: None,
        })
    }
}
