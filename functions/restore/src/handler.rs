//! Restores: `POST /snapshots/{id}/restore` previews the plan (`{"execute": false}`, the
//! default) or starts a job (`{"execute": true}`) whose status is at `GET /jobs/{id}`; the job
//! runs in slices, one per message of the job queue, each bounded by the invocation's
//! deadline and `BACKTRACK_MAX_OPS_PER_INVOCATION` (see `backtrack::rollback::job`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use backtrack::rollback::job::{self, SliceBudget, SliceOutcome};
use backtrack::rollback::{self, Field, RollbackOptions};
use backtrack::snapshot::Archive;
use backtrack::tracker::NoProgress;
use backtrack::{JobId, SnapshotStatus};
use backtrack_lambda::api::route;
use backtrack_lambda::events::{HttpOr, Reply, SqsEvent, SqsMessage};
use backtrack_lambda::{
    no_route, parse_snapshot_id, serve_http, snapshot_or_404, ApiError, ApiRequest, ApiResponse,
    ConfigError, Env, Function, FunctionError, Invocation, JobMessage, JobQueue, Limits,
    TrackerFactory,
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
    if let Some(p) = route("/snapshots/{id}/restore", &req.path) {
        if req.method == "POST" {
            return restore(deps, &req, p[0]).await;
        }
    }
    if let Some(p) = route("/jobs/{id}", &req.path) {
        if req.method == "GET" {
            return job_status(deps, p[0]).await;
        }
    }
    Err(no_route(&req))
}

fn flag(body: &Map<String, Value>, name: &str) -> Result<bool, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::bad_request(name, "must be true or false")),
    }
}

/// The request's rollback options, validated field by field.
fn options(
    body: &Map<String, Value>,
    snapshot_time: chrono::DateTime<chrono::Utc>,
) -> Result<RollbackOptions, ApiError> {
    let mut options = RollbackOptions::new(snapshot_time);
    options.close_new_issues = flag(body, "close_new_issues")?;
    options.delete_new_comments = flag(body, "delete_new_comments")?;
    options.only = match body.get("only") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| {
                    v.as_u64().ok_or_else(|| {
                        ApiError::bad_request("only", "must be a list of issue numbers")
                    })
                })
                .collect::<Result<BTreeSet<u64>, _>>()?,
        ),
        Some(_) => {
            return Err(ApiError::bad_request(
                "only",
                "must be a list of issue numbers",
            ))
        }
    };
    options.fields = match body.get("fields") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| {
                            ApiError::bad_request("fields", "must be a list of field names")
                        })?
                        .parse::<Field>()
                        .map_err(|e| ApiError::bad_request("fields", e))
                })
                .collect::<Result<BTreeSet<Field>, _>>()?,
        ),
        Some(_) => {
            return Err(ApiError::bad_request(
                "fields",
                "must be a list of field names",
            ))
        }
    };
    Ok(options)
}

async fn restore(deps: &Restore, req: &ApiRequest, id: &str) -> Result<ApiResponse, ApiError> {
    let body = req.json_body()?;
    let execute = flag(&body, "execute")?;
    let id = parse_snapshot_id("id", id)?;
    let entry = snapshot_or_404(&deps.archive, &id).await?;
    if entry.status != SnapshotStatus::Completed {
        return Err(ApiError::bad_request(
            "id",
            format!("snapshot {id} is {}, not completed", entry.status),
        ));
    }
    let options = options(&body, entry.created_at)?;
    if !execute {
        let target = deps
            .archive
            .load_records(&deps.archive.load_manifest(&entry).await?, true)
            .await?;
        let tracker = deps.trackers.tracker(&entry.scope)?;
        let plan =
            rollback::execute::preview(tracker, &entry, &target, &options, Arc::new(NoProgress))
                .await?;
        return Ok(ApiResponse::json(
            200,
            &json!({"executed": false, "plan": plan}),
        ));
    }
    let queue = &deps.queue;
    let job = job::start(&deps.archive, &entry, &options, deps.limits.lock_ttl).await?;
    if let Err(e) = queue
        .send(&JobMessage {
            job: job.id,
            slice: 0,
        })
        .await
    {
        // Without a message nothing would ever run the job: give the scope back.
        let mut failed = job.clone();
        failed.status = backtrack::catalog::JobStatus::Failed;
        failed.error = Some(e.to_string());
        let _ = deps.archive.catalog.update_job(&failed, job.status).await;
        let _ = deps
            .archive
            .catalog
            .unlock(&job.scope, &job::lock_token(&job.id))
            .await;
        return Err(ApiError::Internal {
            message: e.to_string(),
            retryable: true,
        });
    }
    tracing::info!(job = %job.id, scope = %job.scope, target = %job.target, "restore job queued");
    Ok(ApiResponse::json(
        202,
        &json!({"job": job, "status_url": format!("/jobs/{}", job.id)}),
    ))
}

async fn job_status(deps: &Restore, id: &str) -> Result<ApiResponse, ApiError> {
    let id: JobId = id
        .parse()
        .map_err(|_| ApiError::bad_request("id", format!("{id:?} is not a job id")))?;
    let job = deps
        .archive
        .catalog
        .get_job(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("job {id} not found")))?;
    let done = deps.archive.catalog.journal(&id).await?.len();
    let mut body = serde_json::to_value(&job).unwrap_or(Value::Null);
    body["done_ops"] = json!(done);
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
        tracing::error!(retryable = false, message_id = ?message.message_id, "unreadable job message dropped");
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
    let budget = SliceBudget {
        deadline: deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            d.checked_sub(deps.limits.deadline_margin.min(left / 3))
                .unwrap_or_else(Instant::now)
        }),
        max_ops: deps.limits.max_ops,
    };
    let Some(entry) = deps
        .archive
        .catalog
        .get_job(&msg.job)
        .await
        .map_err(backtrack::Error::from)?
    else {
        tracing::error!(retryable = false, job = %msg.job, "job message for an unknown job dropped");
        return Ok(json!({"job": msg.job, "dropped": true}));
    };
    let tracker = deps.trackers.tracker(&entry.scope)?;
    let outcome = job::run_slice(
        &deps.archive,
        tracker,
        &msg.job,
        budget,
        deps.limits.lock_ttl,
        resumed,
    )
    .await?;
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
            tracing::info!(job = %msg.job, slice = msg.slice, status = job.status.as_str(), error = ?job.error, "restore job finished");
        }
        SliceOutcome::Busy { .. } => {
            tracing::info!(job = %msg.job, slice = msg.slice, "another slice of this job is running; message dropped");
        }
    }
    Ok(serde_json::to_value(&outcome).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests;
