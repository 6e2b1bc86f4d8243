//! Restores: `POST /snapshots/{id}/restore` previews the plan (`{"execute": false}`, the
//! default) or starts a job (`{"execute": true, "plan": FINGERPRINT}`) whose status is at
//! `GET /jobs/{id}`; the job runs in slices, one per message of the job queue, each bounded
//! by the invocation's deadline and `BACKTRACK_MAX_OPS_PER_INVOCATION` (see
//! `backtrack::rollback::job`).
//!
//! An executing request names the plan it confirms: the `fingerprint` of a preview. If the
//! plan moved since, the answer is 409 `plan_changed` naming the operations added and
//! dropped, and nothing is started; `"replan": true` instead runs the plan as it is then.
//! One of the two is required, so no request writes a plan nobody looked at.
//!
//! `"into": "github:OWNER/OTHER"` copies the snapshot into that other scope instead of
//! restoring it in place (see `backtrack::rollback::into`); the job then runs against it.

use std::sync::Arc;
use std::time::Instant;

use backtrack::catalog::JobKind;
use backtrack::rollback::job::{self, SliceOutcome};
use backtrack::rollback::{
    self, Budget, Confirmed, Executor, JiraRequest, PlanFingerprint, Rollback, RollbackRequest,
};
use backtrack::snapshot::Archive;
use backtrack::tracker::NoProgress;
use backtrack::{JobId, SnapshotStatus};
use backtrack_lambda::api::{dispatch, Served};
use backtrack_lambda::events::{HttpOr, Reply, SqsEvent, SqsMessage};
use backtrack_lambda::{
    parse_snapshot_id, serve_http, snapshot_or_404, ApiError, ApiRequest, ApiResponse, ConfigError,
    Env, Function, FunctionError, Invocation, JobMessage, JobQueue, Limits, TrackerFactory,
};
use serde_json::{json, Map, Value};

/// The restore function: previews and starts restore jobs over HTTP, and runs their slices
/// from the job queue.
#[derive(Debug, Clone)]
pub struct Restore {
    pub archive: Archive,
    pub trackers: Arc<dyn TrackerFactory>,
    pub queue: Arc<dyn JobQueue>,
    pub limits: Limits,
}

impl Function for Restore {
    type Event = HttpOr<SqsEvent>;
    type Output = Reply<Value>;

    async fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Restore {
            archive: env.archive().await?,
            trackers: env.trackers().await?,
            queue: env.queue()?,
            limits: env.limits()?,
        })
    }

    async fn handle(
        &self,
        event: Self::Event,
        invocation: Invocation,
    ) -> Result<Self::Output, FunctionError> {
        match event {
            HttpOr::Http(event) => Ok(Reply::Http(Box::new(
                serve_http(&event, |req| http(self, req)).await,
            ))),
            HttpOr::Other(batch) => {
                let mut out = Vec::new();
                for message in &batch.records {
                    out.push(continue_job(self, message, invocation.deadline).await?);
                }
                Ok(Reply::Other(json!({ "slices": out })))
            }
        }
    }
}

async fn http(deps: &Restore, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    match dispatch(&req, Served::Restore)? {
        ("/snapshots/{id}/restore", p) => restore(deps, &req, p[0]).await,
        (_, p) => {
            req.query_fields(&[])?;
            job_status(deps, p[0]).await
        }
    }
}

/// The fields a restore request may have.
const RESTORE_FIELDS: &[&str] = &[
    "execute",
    "plan",
    "replan",
    "only",
    "fields",
    "close_new_issues",
    "delete_new_comments",
    "delete_new_subtasks",
    "delete_new_issues",
    "recreate_deleted",
    "into",
    "by",
    "since",
];

fn flag(body: &Map<String, Value>, name: &str) -> Result<bool, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::bad_request(name, "must be true or false")),
    }
}

/// A list field as strings: numbers and strings are both taken (`[12, "#15"]`).
fn list(body: &Map<String, Value>, name: &str, what: &str) -> Result<Vec<String>, ApiError> {
    let bad = || ApiError::bad_request(name, format!("must be a list of {what}"));
    match body.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(bad()),
            })
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// The request body as the library's unvalidated rollback request.
fn request(body: &Map<String, Value>) -> Result<RollbackRequest, ApiError> {
    Ok(RollbackRequest {
        only: list(body, "only", "issue numbers")?,
        fields: list(body, "fields", "field names")?,
        close_new_issues: flag(body, "close_new_issues")?,
        delete_new_comments: flag(body, "delete_new_comments")?,
        by: list(body, "by", "GitHub logins")?,
        since: match body.get("since") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "since",
                    "must be a time, e.g. \"2026-11-30T09:00:00Z\"",
                ))
            }
        },
    })
}

/// Jira's own flags (refused by the library's validation on other scopes).
fn jira_request(body: &Map<String, Value>) -> Result<JiraRequest, ApiError> {
    Ok(JiraRequest {
        delete_new_subtasks: flag(body, "delete_new_subtasks")?,
        delete_new_issues: flag(body, "delete_new_issues")?,
        recreate_deleted: flag(body, "recreate_deleted")?,
    })
}

/// `into`: the other scope to copy the snapshot into, if the request names one.
fn into(body: &Map<String, Value>) -> Result<Option<backtrack::Scope>, ApiError> {
    match body.get("into") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|e: backtrack::scope::ScopeError| {
                ApiError::bad_request("into", e.to_string())
            }),
        Some(_) => Err(ApiError::bad_request(
            "into",
            "must be a scope such as \"github:OWNER/REPO\"",
        )),
    }
}

/// What an executing request confirms: the previewed plan's fingerprint, or `replan`.
fn confirmed(body: &Map<String, Value>) -> Result<Confirmed, ApiError> {
    let replan = flag(body, "replan")?;
    match body.get("plan") {
        None | Some(Value::Null) if replan => Ok(Confirmed::Replan),
        None | Some(Value::Null) => Err(ApiError::bad_request(
            "plan",
            "an executing restore must confirm a plan: preview first (\"execute\": false) and send its \"fingerprint\" as \"plan\", or send \"replan\": true to run whatever the plan is then",
        )),
        Some(Value::String(text)) if !replan => text
            .parse::<PlanFingerprint>()
            .map(Confirmed::Plan)
            .map_err(|e| ApiError::bad_request("plan", e)),
        Some(Value::String(_)) => Err(ApiError::bad_request(
            "replan",
            "give either \"plan\" or \"replan\": true, not both",
        )),
        Some(_) => Err(ApiError::bad_request(
            "plan",
            "must be the preview's fingerprint (a string)",
        )),
    }
}

async fn restore(deps: &Restore, req: &ApiRequest, id: &str) -> Result<ApiResponse, ApiError> {
    let body = req.json_fields(RESTORE_FIELDS)?;
    let execute = flag(&body, "execute")?;
    let request = request(&body)?;
    let jira = jira_request(&body)?;
    let into = into(&body)?;
    let confirmed = if execute {
        Some(confirmed(&body)?)
    } else {
        None
    };
    let id = parse_snapshot_id("id", id)?;
    let entry = snapshot_or_404(&deps.archive, &id).await?;
    if entry.status != SnapshotStatus::Completed {
        return Err(ApiError::bad_request(
            "id",
            format!("snapshot {id} is {}, not completed", entry.status),
        ));
    }
    let (target, options) =
        backtrack::rollback::prepare(&deps.archive, &entry, &request, &jira, into.as_ref()).await?;
    let options = options.map_err(|e| ApiError::bad_request(e.field, e.message))?;
    // A restore into another scope reads and writes the destination.
    let tracker = deps
        .trackers
        .tracker(options.destination().unwrap_or(&entry.scope))?;
    let rollback = Rollback {
        target: &entry,
        records: &target,
        options: &options,
    };
    let Some(confirmed) = confirmed else {
        let preview = rollback::preview(
            &deps.archive,
            tracker,
            &rollback,
            Arc::new(NoProgress),
            Executor::Job,
        )
        .await?;
        return Ok(ApiResponse::json(
            200,
            &json!({"executed": false, "fingerprint": preview.fingerprint, "plan": preview.plan}),
        ));
    };
    let queue = &deps.queue;
    let job = job::start(&deps.archive, tracker, &rollback, &confirmed).await?;
    if let Err(e) = queue
        .send(&JobMessage {
            job: job.id,
            slice: 0,
        })
        .await
    {
        // Without a message nothing would ever run the job: give the scope back.
        let _ = job::fail(&deps.archive, &job.id, &e.to_string()).await;
        return Err(ApiError::Internal {
            message: e.to_string(),
            retryable: true,
        });
    }
    tracing::info!(job = %job.id, scope = %job.scope, target = %entry.id, "restore job queued");
    Ok(ApiResponse::json(
        202,
        &json!({"job": job, "status_url": format!("/jobs/{}", job.id)}),
    ))
}

async fn job_status(deps: &Restore, id: &str) -> Result<ApiResponse, ApiError> {
    let id: JobId = id.parse().map_err(|_| {
        ApiError::bad_request(
            "id",
            format!("{} is not a job id", backtrack::sanitize::quote(id)),
        )
    })?;
    let job = deps
        .archive
        .job(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("job {id} not found")))?;
    let mut body = serde_json::to_value(&job).unwrap_or(Value::Null);
    if job.kind == JobKind::Restore {
        body["done_ops"] = json!(deps.archive.journal(&id).await?.len());
    }
    Ok(ApiResponse::json(200, &body))
}

/// Runs one slice for a queue message, and queues the next when more remains.
async fn continue_job(
    deps: &Restore,
    message: &SqsMessage,
    deadline: Option<Instant>,
) -> Result<Value, FunctionError> {
    let body = message.body.as_deref().unwrap_or_default();
    let Ok(msg) = serde_json::from_str::<JobMessage>(body) else {
        // Retrying cannot fix it; failing would only send it round to the dead-letter queue.
        tracing::error!(
            retryable = false,
            message_id = message.message_id.as_deref(),
            "unreadable job message dropped"
        );
        return Ok(json!({"dropped": message.message_id}));
    };
    let queue = &deps.queue;
    // A message received before may have had its slice cut short between a write and its
    // journal entry: look for recreated comments by marker before posting them again.
    let resumed = message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n > 1);
    // Keep the margin for verification and bookkeeping, but never more than a third of
    // what is left (short timeouts, local emulators).
    let budget = Budget {
        deadline: deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            d.checked_sub(deps.limits.deadline_margin.min(left / 3))
                .unwrap_or_else(Instant::now)
        }),
        max_ops: deps.limits.max_ops,
    };
    let Some(entry) = deps.archive.job(&msg.job).await? else {
        tracing::error!(retryable = false, job = %msg.job, "job message for an unknown job dropped");
        return Ok(json!({"job": msg.job, "dropped": true}));
    };
    if entry.kind != JobKind::Restore {
        tracing::error!(retryable = false, job = %msg.job, kind = entry.kind.as_str(), "message for a job that is not a restore dropped (a queue mix-up)");
        return Ok(json!({"job": msg.job, "dropped": true}));
    }
    let tracker = deps.trackers.writer(&entry.scope)?;
    let outcome = job::run_slice(&deps.archive, tracker, &msg.job, budget, resumed).await?;
    match &outcome {
        SliceOutcome::Continue { done, job } => {
            queue
                .send(&JobMessage {
                    job: msg.job,
                    slice: msg.slice + 1,
                })
                .await
                .map_err(|e| FunctionError {
                    message: e.to_string(),
                    retryable: true,
                })?;
            tracing::info!(job = %msg.job, slice = msg.slice, done, total = job.total_ops, "slice done; next queued");
        }
        SliceOutcome::Finished { job, .. } => {
            tracing::info!(job = %msg.job, slice = msg.slice, status = job.status.as_str(), error = job.error.as_deref(), "restore job finished");
        }
        SliceOutcome::Busy { .. } => {
            tracing::info!(job = %msg.job, slice = msg.slice, "another slice of this job is running; message dropped");
        }
    }
    Ok(serde_json::to_value(&outcome).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests;
