//! Taking snapshots: on a schedule (EventBridge, several scopes, then retention), on request
//! (`POST /snapshots`: captured within the request when the library's rule says it fits,
//! within the request's budget, and continued by a job when that budget cuts it short;
//! queued as a job otherwise), on GitHub webhooks (`POST /webhooks/github`: a push to the
//! default branch or a merged pull request of an allowed repository, always queued, so the
//! answer comes within GitHub's 10 seconds), on Jira webhooks (`POST /webhooks/jira`: an
//! issue of an allowed Jira scope created, updated or deleted, debounced into one snapshot
//! per scope per window), and from the snapshot job queue (one attempt per message).
//!
//! A queued capture runs within its invocation: its budget is the invocation's remaining
//! time less [`Limits::deadline_margin`] (and [`Limits::max_requests`] when set). When the
//! budget, or the rate limit, runs out first, the job stores a `partial` checkpoint and
//! sends its message again (after the rate limit's reset when that ran out; SQS delays a
//! message 15 minutes at most), and the next invocation continues into the same snapshot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backtrack::catalog::{CaptureJob, Claim};
use backtrack::events::jira::{self as jira_events, Debounce, JiraWebhookAction};
use backtrack::events::{delivery_claim_key, AllowList};
use backtrack::fleet::{self, Credentials, RunSummary};
use backtrack::manifest::Trigger;
use backtrack::prune::{self, PruneOptions, Retention};
use backtrack::scope::Selection;
use backtrack::snapshot::job::{self as jobs, CaptureTiming, JobRun};
use backtrack::snapshot::{Archive, SnapshotName, SnapshotOptions, SnapshotReport};
use backtrack::tracker::Budget;
use backtrack::{JobId, Scope};
use backtrack_lambda::api::{dispatch, Served};
use backtrack_lambda::events::{Reply, Scheduled, SqsMessage, Triggered};
use backtrack_lambda::webhook::{self, WebhookAction};
use backtrack_lambda::{
    serve_http, ApiError, ApiRequest, ApiResponse, ConfigError, Env, Function, FunctionError,
    Invocation, JobMessage, JobQueue, Limits, Secret, TrackerFactory,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// How long an attempt's claim outlives its invocation's deadline (nothing of the
/// invocation runs after it; this covers clocks that disagree). It must end before SQS
/// makes the message visible again: a crashed attempt's redelivery finds the claim held
/// otherwise, is taken for a duplicate and dropped, and the job never ends. The template's
/// queue hides a message for `VisibilityTimeout` 960 s, the function's `Timeout` (900 s)
/// plus 60: a claim taken at the receipt ends by 900 + 20 s, before the redelivery.
const CLAIM_SLACK: Duration = Duration::from_secs(20);

/// The longest delay SQS gives a message.
const MAX_QUEUE_DELAY: Duration = Duration::from_secs(900);

/// The snapshot function: it captures scopes into the archive (and applies retention after
/// scheduled snapshots), and runs the snapshot jobs webhooks and large requests queue.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub archive: Archive,
    pub trackers: Arc<dyn TrackerFactory>,
    /// Without it the webhook route answers that it is not configured.
    pub webhook_secret: Option<Secret>,
    /// The repositories and Jira scopes webhooks may snapshot.
    pub allow: AllowList,
    /// Jira's webhook secret; without it the Jira webhook route answers that it is not
    /// configured.
    pub jira_webhook_secret: Option<Secret>,
    /// The Jira webhooks' debounce window.
    pub jira_debounce: Debounce,
    /// The snapshot job queue.
    pub queue: Arc<dyn JobQueue>,
    pub limits: Limits,
    /// How `github:ORG/*` schedules list an organisation, and, when they are a GitHub App's,
    /// the installation tokens its jobs capture with.
    pub github: Credentials,
}

/// A schedule's input: `{"scopes": [...], "retention": {"keep_last": N, "keep_within_days": D},
/// "include_archived": false}`. A `github:ORG/*` scope fans out: one snapshot job per
/// repository of ORG (archived ones only with `include_archived`), run by the job queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    pub scopes: Vec<String>,
    #[serde(default)]
    pub include_archived: bool,
    #[serde(default)]
    pub retention: Option<RetentionInput>,
}

/// Retention after a scheduled snapshot; unset fields keep `prune`'s defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionInput {
    pub keep_last: Option<u64>,
    pub keep_within_days: Option<u64>,
}

impl Function for Snapshot {
    type Event = Triggered<Scheduled<ScheduleInput>>;
    type Output = Reply<Value>;

    async fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Snapshot {
            archive: env.archive().await?,
            // A rate-limit reset is handed to a later invocation, not slept through.
            trackers: env.capture_trackers().await?,
            webhook_secret: env.webhook_secret().await?,
            allow: env.webhook_allow_list()?,
            jira_webhook_secret: env.jira_webhook_secret().await?,
            jira_debounce: env.jira_debounce()?,
            queue: env.snapshot_queue()?,
            limits: env.limits()?,
            github: env.github_credentials().await?,
        })
    }

    async fn handle(
        &self,
        event: Self::Event,
        invocation: Invocation,
    ) -> Result<Self::Output, FunctionError> {
        match event {
            Triggered::Http(event) => Ok(Reply::Http(Box::new(
                serve_http(&event, |req| http(self, req, invocation.deadline)).await,
            ))),
            Triggered::Queue(batch) => {
                let mut out = Vec::new();
                for message in &batch.records {
                    out.push(run_job(self, message, invocation.deadline).await?);
                }
                Ok(Reply::Other(json!({ "jobs": out })))
            }
            Triggered::Other(Scheduled(input)) => scheduled(self, &input, invocation.deadline)
                .await
                .map(Reply::Other),
        }
    }
}

async fn http(
    deps: &Snapshot,
    req: ApiRequest,
    deadline: Option<Instant>,
) -> Result<ApiResponse, ApiError> {
    let started = Instant::now();
    match dispatch(&req, Served::Snapshot)? {
        ("/snapshots", _) => create(deps, &req, started, deadline).await,
        ("/webhooks/jira", _) => jira_webhook(deps, &req).await,
        (_, _) => github_webhook(deps, &req).await,
    }
}

/// `POST /snapshots` `{scope, name?, force?}`: 201 with the snapshot when the capture fits
/// the request ([`jobs::timing`]: API Gateway answers 504 after 29 seconds), 202 with the
/// queued job and its reserved snapshot (`pending`, then `in_progress`, then `completed`;
/// `GET /snapshots/{id}` follows it) otherwise. A capture taken within the request reads
/// within the request's budget ([`jobs::request_budget`], from `started`): when that runs
/// out first (the scope grew since its newest snapshot, the tracker is slow or its rate
/// limit spent), its `partial` checkpoint is continued by a snapshot job, and the answer is
/// the same 202, `continuing`, naming the checkpoint too.
async fn create(
    deps: &Snapshot,
    req: &ApiRequest,
    started: Instant,
    deadline: Option<Instant>,
) -> Result<ApiResponse, ApiError> {
    let body = req.json_fields(&["scope", "name", "force"])?;
    let scope = scope_field(&body)?;
    let name = match body.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) => {
            Some(SnapshotName::parse(n).map_err(|e| ApiError::bad_request("name", e.to_string()))?)
        }
        Some(_) => return Err(ApiError::bad_request("name", "must be a string")),
    };
    let force = match body.get("force") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("force", "must be true or false")),
    };
    let reason = match jobs::timing(&deps.archive, &scope).await? {
        CaptureTiming::Now => {
            let budget = jobs::request_budget(
                started,
                deps.limits.request_window,
                deadline.map(|d| capture_deadline(d, deps.limits.deadline_margin)),
                deps.limits.max_requests,
            );
            let report = take(deps, &scope, name.clone(), force, Trigger::Manual, budget).await?;
            if report.status != backtrack::SnapshotStatus::Partial {
                return Ok(ApiResponse::json(201, &report));
            }
            let (job, delay) =
                continue_checkpoint(deps, &report, capture_job(name, Trigger::Manual, force))
                    .await?;
            let reason = match report.resume_at {
                Some(at) => format!(
                    "the rate limit ran out within the request (it resets at {}): the capture stopped at checkpoint {} and a snapshot job continues it",
                    at.format("%Y-%m-%dT%H:%M:%SZ"),
                    report.id
                ),
                None => format!(
                    "the capture outlasted the request's budget ({} s): it stopped at checkpoint {} and a snapshot job continues it",
                    deps.limits.request_window.as_secs(),
                    report.id
                ),
            };
            let snapshot = job.capture.as_ref().and_then(|c| c.snapshot);
            tracing::info!(job = %job.id, snapshot = snapshot.map(tracing::field::display), checkpoint = %report.id, scope = %scope, items = report.counts.total(), requests = report.requests, delay_secs = delay.as_secs(), "snapshot stopped partial at the request's budget; a snapshot job continues it");
            let mut answer = job_answer(&job, "continuing", &reason);
            answer["checkpoint"] = json!(report.id);
            return Ok(ApiResponse::json(202, &answer));
        }
        CaptureTiming::Queued(reason) => reason,
    };
    // What a capture would refuse at once is refused now, not by a job later: a name
    // already used, a repository that does not exist (one request).
    if let (Some(name), false) = (&name, force) {
        deps.archive.check_name_free(&scope, name).await?;
    }
    deps.trackers
        .tracker(&scope)?
        .check()
        .await
        .map_err(backtrack::Error::from)?;
    let job = jobs::enqueue(
        &deps.archive,
        &scope,
        capture_job(name, Trigger::Manual, force),
    )
    .await?;
    send_first(deps, &job, &[], Duration::ZERO).await?;
    let snapshot = job.capture.as_ref().and_then(|c| c.snapshot);
    tracing::info!(job = %job.id, snapshot = snapshot.map(tracing::field::display), scope = %scope, reason = %reason, "snapshot queued");
    Ok(ApiResponse::json(202, &job_answer(&job, "queued", &reason)))
}

/// The 202 answer naming a snapshot job and its reserved snapshot, which
/// `GET /jobs/{id}` and `GET /snapshots/{id}` follow.
fn job_answer(job: &backtrack::catalog::JobEntry, status: &str, reason: &str) -> Value {
    let id = job.id;
    let mut answer = json!({"status": status, "job": id, "status_url": format!("/jobs/{id}"),
                "scope": job.scope, "reason": reason});
    if let Some(snapshot) = job.capture.as_ref().and_then(|c| c.snapshot) {
        answer["snapshot"] = json!(snapshot);
        answer["snapshot_url"] = json!(format!("/snapshots/{snapshot}"));
    }
    answer
}

/// A snapshot job's capture: what it is named and why it is taken.
fn capture_job(name: Option<SnapshotName>, trigger: Trigger, reuse_name: bool) -> CaptureJob {
    CaptureJob {
        name: name.map(String::from),
        trigger,
        reuse_name,
        snapshot: None,
        waits: 0,
        run: None,
        last_delivery_until: None,
    }
}

/// Records a snapshot job and sends its first message, delivered after `delay`; without the
/// message nothing would run the job, so a failed send fails the job and releases `claims`
/// (a redelivery may try again).
async fn queue_job(
    deps: &Snapshot,
    scope: &Scope,
    capture: CaptureJob,
    claims: &[&Claim],
    delay: Duration,
) -> Result<JobId, ApiError> {
    let job = jobs::enqueue(&deps.archive, scope, capture).await?;
    send_first(deps, &job, claims, delay).await?;
    Ok(job.id)
}

/// Sends a recorded job's first message, delivered after `delay` (see [`queue_job`]).
async fn send_first(
    deps: &Snapshot,
    job: &backtrack::catalog::JobEntry,
    claims: &[&Claim],
    delay: Duration,
) -> Result<(), ApiError> {
    if let Err(e) = deps
        .queue
        .send_after(
            &JobMessage {
                job: job.id,
                slice: 0,
            },
            delay,
        )
        .await
    {
        let _ = jobs::abandon(&deps.archive, &job.id, &e.to_string()).await;
        for claim in claims {
            let _ = deps.archive.release_claim(&claim.key, &claim.token).await;
        }
        return Err(ApiError::Internal {
            message: e.to_string(),
            retryable: true,
        });
    }
    Ok(())
}

fn scope_field(body: &Map<String, Value>) -> Result<Scope, ApiError> {
    match body.get("scope") {
        Some(Value::String(s)) => s
            .parse::<Scope>()
            .map_err(|e| ApiError::bad_request("scope", e.to_string())),
        Some(_) => Err(ApiError::bad_request(
            "scope",
            "must be a string such as github:OWNER/REPO, jira:PROJ or jira:PROJ-123",
        )),
        None => Err(ApiError::bad_request(
            "scope",
            "is required (github:OWNER/REPO, jira:PROJ or jira:PROJ-123)",
        )),
    }
}

async fn take(
    deps: &Snapshot,
    scope: &Scope,
    name: Option<SnapshotName>,
    reuse_name: bool,
    trigger: Trigger,
    budget: Budget,
) -> Result<SnapshotReport, backtrack::Error> {
    let tracker = deps.trackers.tracker(scope)?;
    let report = deps
        .archive
        .create_snapshot(
            tracker,
            &SnapshotOptions {
                name,
                reuse_name,
                trigger,
                budget,
                ..SnapshotOptions::default()
            },
        )
        .await?;
    tracing::info!(snapshot = %report.id, scope = %scope, trigger = %trigger, items = report.counts.total(), "snapshot taken");
    Ok(report)
}

/// `POST /webhooks/github`: verified by signature (the route has no IAM auth), acted on only
/// for allowed repositories, once per delivery and once per event, and always queued.
async fn github_webhook(deps: &Snapshot, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let Some(secret) = &deps.webhook_secret else {
        return Err(ApiError::Internal {
            message: "the webhook secret is not configured (BACKTRACK_WEBHOOK_SECRET_ARN)".into(),
            retryable: false,
        });
    };
    webhook::verify(
        secret.expose().as_bytes(),
        &req.body,
        req.header("x-hub-signature-256"),
    )
    .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    let event = req
        .header("x-github-event")
        .ok_or_else(|| ApiError::bad_request("X-GitHub-Event", "header is required"))?;
    let delivery = req
        .header("x-github-delivery")
        .filter(|d| !d.is_empty() && d.len() <= 100)
        .ok_or_else(|| {
            ApiError::bad_request(
                "X-GitHub-Delivery",
                "header is required (at most 100 characters)",
            )
        })?;
    let payload: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request("body", format!("is not valid JSON ({e})")))?;
    let ignored = |reason: String| {
        tracing::info!(event, delivery, reason = %reason, "webhook ignored");
        Ok(ApiResponse::json(
            202,
            &json!({"status": "ignored", "reason": reason, "delivery": delivery}),
        ))
    };
    let wanted = match webhook::classify(event, &payload) {
        WebhookAction::Ignore(reason) => return ignored(reason),
        WebhookAction::Snapshot(wanted) => wanted,
    };
    // Before anything else touches the repository or the catalog: the answer for a
    // repository outside the list is the same whether the token can read it or not.
    if !deps.allow.allows(&wanted.scope) {
        return ignored(format!("{} is not in the webhook allow-list", wanted.scope));
    }
    // GitHub redelivers on timeouts and people press "Redeliver" (the same delivery id);
    // a replayed body carries a new id, but the same event.
    let ttl = deps.limits.delivery_ttl;
    let by_delivery = Claim::new(delivery_claim_key(delivery), ttl);
    if !deps.archive.claim(&by_delivery).await? {
        tracing::info!(delivery, "webhook delivery already handled");
        return Ok(ApiResponse::json(
            200,
            &json!({"status": "duplicate", "of": "delivery", "delivery": delivery}),
        ));
    }
    let by_event = Claim::new(wanted.claim_key(), ttl);
    if !deps.archive.claim(&by_event).await? {
        tracing::info!(delivery, identity = %wanted.identity, "webhook event already handled under another delivery");
        return Ok(ApiResponse::json(
            200,
            &json!({"status": "duplicate", "of": "event", "delivery": delivery}),
        ));
    }
    let capture = CaptureJob {
        name: Some(wanted.name.to_string()),
        trigger: wanted.trigger,
        // Names made from events repeat (the same commit pushed again): they label, and a
        // reference to one means the newest.
        reuse_name: true,
        snapshot: None,
        waits: 0,
        run: None,
        last_delivery_until: None,
    };
    let job = queue_job(
        deps,
        &wanted.scope,
        capture,
        &[&by_delivery, &by_event],
        Duration::ZERO,
    )
    .await?;
    tracing::info!(job = %job, delivery, scope = %wanted.scope, name = %wanted.name, "webhook snapshot queued");
    Ok(ApiResponse::json(
        202,
        &json!({"status": "queued", "job": job, "status_url": format!("/jobs/{job}"),
                "delivery": delivery, "scope": wanted.scope, "name": wanted.name}),
    ))
}

/// `POST /webhooks/jira`: verified by Jira's `X-Hub-Signature` (the route has no IAM auth);
/// a change to an issue of an allowed Jira scope queues one snapshot of each such scope per
/// debounce window, delayed until the window closes (`backtrack::events::jira`).
async fn jira_webhook(deps: &Snapshot, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let Some(secret) = &deps.jira_webhook_secret else {
        return Err(ApiError::Internal {
            message:
                "the Jira webhook secret is not configured (BACKTRACK_JIRA_WEBHOOK_SECRET_ARN)"
                    .into(),
            retryable: false,
        });
    };
    webhook::verify_jira(
        secret.expose().as_bytes(),
        &req.body,
        req.header("x-hub-signature"),
    )
    .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    // Jira Cloud names each delivery (the same id on its retries); Data Center does not, and
    // there the window's claim alone keeps a retry from queueing twice.
    let delivery = req
        .header("x-atlassian-webhook-identifier")
        .filter(|d| !d.is_empty() && d.len() <= 100);
    let payload: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request("body", format!("is not valid JSON ({e})")))?;
    let wanted = match jira_events::classify(
        &payload,
        &deps.allow,
        deps.jira_debounce,
        chrono::Utc::now(),
    ) {
        JiraWebhookAction::Ignore(reason) => {
            tracing::info!(delivery, reason = %reason, "Jira webhook ignored");
            return Ok(ApiResponse::json(
                202,
                &json!({"status": "ignored", "reason": reason, "delivery": delivery}),
            ));
        }
        JiraWebhookAction::Snapshot(wanted) => wanted,
    };
    let by_delivery =
        delivery.map(|d| Claim::new(jira_events::delivery_claim_key(d), deps.limits.delivery_ttl));
    if let Some(claim) = &by_delivery {
        if !deps.archive.claim(claim).await? {
            tracing::info!(delivery, "Jira webhook delivery already handled");
            return Ok(ApiResponse::json(
                200,
                &json!({"status": "duplicate", "of": "delivery", "delivery": delivery}),
            ));
        }
    }
    let mut results = Vec::new();
    for snapshot in &wanted.snapshots {
        let window = Claim::new(snapshot.claim_key(), deps.jira_debounce.claim_ttl());
        if !deps.archive.claim(&window).await? {
            results.push(json!({"scope": snapshot.scope, "status": "debounced"}));
            continue;
        }
        let capture = CaptureJob {
            name: Some(snapshot.name.to_string()),
            trigger: snapshot.trigger,
            // Names made from events repeat: they label, and a reference means the newest.
            reuse_name: true,
            snapshot: None,
            waits: 0,
            run: None,
            last_delivery_until: None,
        };
        // A failed send releases the delivery's claim with the window's, so Jira's retry
        // queues what is missing (the windows already queued stay claimed).
        let mut claims = vec![&window];
        claims.extend(by_delivery.as_ref());
        let job = queue_job(deps, &snapshot.scope, capture, &claims, wanted.delay).await?;
        tracing::info!(job = %job, delivery, scope = %snapshot.scope, issue = %wanted.issue, event = %wanted.event, delay_secs = wanted.delay.as_secs(), "Jira webhook snapshot queued");
        results.push(
            json!({"scope": snapshot.scope, "status": "queued", "job": job,
                            "status_url": format!("/jobs/{job}"), "name": snapshot.name}),
        );
    }
    let queued = results.iter().any(|r| r["status"] == "queued");
    Ok(ApiResponse::json(
        202,
        &json!({"status": if queued { "queued" } else { "debounced" },
                "delivery": delivery, "issue": wanted.issue, "event": wanted.event,
                "delay_secs": wanted.delay.as_secs(), "snapshots": results}),
    ))
}

/// One attempt at a queued snapshot job, for one queue message: a scope held by someone
/// else sends the message again after the library's wait.
async fn run_job(
    deps: &Snapshot,
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
    let Some(job) = deps.archive.job(&msg.job).await? else {
        tracing::error!(retryable = false, job = %msg.job, "message for an unknown snapshot job dropped");
        return Ok(json!({"job": msg.job, "dropped": true}));
    };
    let claim_ttl = deadline
        .map(|d| d.saturating_duration_since(Instant::now()))
        .unwrap_or(Duration::from_secs(900))
        + CLAIM_SLACK;
    // Under a GitHub App, the installation covering the repository (the trackers' rule).
    let tracker = deps.trackers.tracker(&job.scope)?;
    let started = Instant::now();
    let budget = Budget {
        max_requests: deps.limits.max_requests,
        deadline: deadline.map(|d| capture_deadline(d, deps.limits.deadline_margin)),
    };
    let delivery = jobs::Delivery {
        receive: message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1),
        max_receives: deps.queue.max_receives().await,
    };
    let outcome = match jobs::run(
        &deps.archive,
        tracker,
        &msg.job,
        claim_ttl,
        budget,
        delivery,
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(e) if e.is_retryable() => return Err(e.into()),
        Err(e) => {
            tracing::error!(retryable = false, job = %msg.job, error = %backtrack::sanitize::error_line(&e.to_string()), "snapshot job message dropped");
            let elapsed = started.elapsed().as_millis() as u64;
            if let Err(e) =
                fleet::runs::record_dropped(&deps.archive, &job, &e.to_string(), elapsed).await
            {
                tracing::warn!(job = %msg.job, error = %e, "the job's run could not record it");
            }
            return Ok(json!({"job": msg.job, "dropped": true}));
        }
    };
    if let JobRun::Finished { job, snapshot } = &outcome {
        // A redelivered message of a finished job records nothing new (its line stands).
        let elapsed = started.elapsed().as_millis() as u64;
        if let Err(e) =
            fleet::runs::record_job(&deps.archive, job, snapshot.as_deref(), elapsed).await
        {
            tracing::warn!(job = %job.id, error = %e, "the job's run could not record it");
        }
    }
    match &outcome {
        JobRun::Finished { job, snapshot } => match snapshot {
            Some(report) => {
                tracing::info!(job = %job.id, snapshot = %report.id, scope = %job.scope, status = "completed", items = report.counts.total(), requests = report.requests, duration_ms = report.duration_ms, "snapshot job completed")
            }
            None => {
                tracing::info!(job = %job.id, scope = %job.scope, status = job.status.as_str(), duration_ms = started.elapsed().as_millis() as u64, error = job.error.as_deref(), "snapshot job finished")
            }
        },
        JobRun::Waiting {
            job,
            holder,
            retry_after,
        } => {
            deps.queue
                .send_after(
                    &JobMessage {
                        job: msg.job,
                        slice: msg.slice + 1,
                    },
                    *retry_after,
                )
                .await
                .map_err(|e| FunctionError::retryable(e.to_string()))?;
            tracing::info!(job = %job.id, holder = %holder, retry_after_secs = retry_after.as_secs(), "scope busy; snapshot job waits");
        }
        JobRun::Continuing {
            job,
            checkpoint,
            retry_after,
        } => {
            // SQS delays a message at most 15 minutes; an attempt sent before the reset
            // finds the limit spent, stores nothing new and sends itself again.
            let delay = (*retry_after).min(MAX_QUEUE_DELAY);
            deps.queue
                .send_after(
                    &JobMessage {
                        job: msg.job,
                        slice: msg.slice + 1,
                    },
                    delay,
                )
                .await
                .map_err(|e| FunctionError::retryable(e.to_string()))?;
            tracing::info!(job = %job.id, snapshot = checkpoint.checkpoint_of.map(tracing::field::display), checkpoint = %checkpoint.id, scope = %job.scope, slice = msg.slice, items = checkpoint.counts.total(), requests = checkpoint.requests, resume_at = checkpoint.resume_at.map(tracing::field::display), delay_secs = delay.as_secs(), "snapshot job stopped partial at its budget; continuing in the next invocation");
        }
        JobRun::Busy { job } => {
            tracing::info!(job = %job, "another attempt of this snapshot job is running; message dropped")
        }
    }
    Ok(serde_json::to_value(&outcome).unwrap_or(Value::Null))
}

/// When a job's capture stops starting pages: `margin` before the invocation's `deadline`
/// (for the manifest, the catalog and the next message), or a quarter of the time left when
/// that is less, so a function with a short timeout still makes progress each invocation.
fn capture_deadline(deadline: Instant, margin: Duration) -> Instant {
    let left = deadline.saturating_duration_since(Instant::now());
    deadline
        .checked_sub(margin.min(left / 4))
        .unwrap_or(deadline)
}

/// A `github:ORG/*` schedule: lists ORG's repositories (afresh, so new ones join) and queues
/// one snapshot job per repository; the queue runs them side by side within its concurrency,
/// each job on its own, so a slow or failing repository never holds up the others. The run
/// is kept in the catalog with every repository `queued` (`fleet::runs`); each job records
/// its line as it ends, and the last one logs the run's summary.
async fn fan_out(
    deps: &Snapshot,
    owner: &str,
    include_archived: bool,
) -> Result<Vec<Value>, backtrack::Error> {
    let started = Instant::now();
    let mut run = RunSummary::start(format!("github:{owner}/*"), chrono::Utc::now());
    let listing = deps.github.list(owner, include_archived).await?;
    run.listing_requests = listing.requests + deps.github.github_app().map_or(0, |a| a.requests());
    let mut results = Vec::new();
    let mut queued = Vec::new();
    for scope in &listing.scopes {
        let capture = CaptureJob {
            name: None,
            trigger: Trigger::Schedule,
            reuse_name: false,
            snapshot: None,
            waits: 0,
            run: Some(run.id.clone()),
            last_delivery_until: None,
        };
        match jobs::enqueue(&deps.archive, scope, capture).await {
            Ok(job) => queued.push((scope, job.id)),
            Err(e) => run.scopes.push(fleet::ScopeRun {
                scope: scope.clone(),
                status: fleet::RunStatus::Failed,
                snapshot: None,
                job: None,
                requests: 0,
                duration_ms: 0,
                error: Some(backtrack::sanitize::error_line(&e.to_string())),
            }),
        }
    }
    // The record first, every job in it: a job that ends before it exists would be lost.
    for (scope, job) in &queued {
        run.scopes.push(fleet::ScopeRun {
            scope: (*scope).clone(),
            status: fleet::RunStatus::Queued,
            snapshot: None,
            job: Some(job.to_string()),
            requests: 0,
            duration_ms: 0,
            error: None,
        });
    }
    run.scopes.extend(fleet::skipped(&listing));
    run.duration_ms = started.elapsed().as_millis() as u64;
    if queued.is_empty() {
        run.finished_at = Some(chrono::Utc::now());
    }
    fleet::runs::save(&deps.archive, &run).await?;
    for (scope, job) in &queued {
        let message = JobMessage {
            job: *job,
            slice: 0,
        };
        match deps.queue.send_after(&message, Duration::ZERO).await {
            Ok(()) => results.push(json!({"scope": scope, "status": "queued", "job": job})),
            Err(e) => {
                let why = format!("cannot queue the snapshot job of {scope}: {e}");
                let _ = jobs::abandon(&deps.archive, job, &why).await;
                if let Ok(Some(row)) = deps.archive.job(job).await {
                    let _ = fleet::runs::record_job(&deps.archive, &row, None, 0).await;
                }
                results.push(json!({"scope": scope, "status": "failed",
                                    "error": backtrack::sanitize::error_line(&why),
                                    "retryable": true}));
            }
        }
    }
    for line in run
        .scopes
        .iter()
        .filter(|l| l.status == fleet::RunStatus::Failed)
    {
        results.push(
            json!({"scope": line.scope, "status": "failed", "error": line.error,
                            "retryable": false}),
        );
    }
    for scope in &listing.archived_skipped {
        results.push(json!({"scope": scope, "status": "skipped", "reason": "archived"}));
    }
    tracing::info!(
        run_id = %run.id,
        selection = %run.selection,
        repositories = listing.scopes.len(),
        queued = queued.len(),
        skipped_archived = listing.archived_skipped.len(),
        listing_requests = run.listing_requests,
        duration_ms = started.elapsed().as_millis() as u64,
        "fanned out one snapshot job per repository"
    );
    Ok(results)
}

/// A schedule: `github:ORG/*` fans out (see [`fan_out`]); each other scope is captured
/// within the invocation, with the budget a job has (the invocation's time left less the
/// margin, and [`Limits::max_requests`]). A capture the budget (or a long rate-limit
/// reset) cuts short stores its `partial` checkpoint, and a snapshot job continues it
/// through the queue, as queued captures continue; a scope the invocation has no time
/// left for is queued whole. Retention runs after the scopes captured in full.
async fn scheduled(
    deps: &Snapshot,
    input: &ScheduleInput,
    deadline: Option<Instant>,
) -> Result<Value, FunctionError> {
    if input.scopes.is_empty() {
        return Err(FunctionError::permanent(
            "scopes: the schedule input needs a non-empty list of scopes",
        ));
    }
    let selections = input
        .scopes
        .iter()
        .map(|s| {
            s.parse::<Selection>()
                .map_err(|e| FunctionError::permanent(format!("scopes: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let retention = input.retention.as_ref().map(retention).transpose()?;
    let mut results = Vec::new();
    let mut failures = 0usize;
    let mut retryable = false;
    let mut scopes = Vec::new();
    for selection in selections {
        match selection {
            Selection::One(scope) => scopes.push(scope),
            Selection::GitHubOwner { owner } => {
                match fan_out(deps, &owner, input.include_archived).await {
                    Ok(fanned) => {
                        failures += fanned.iter().filter(|r| r["status"] == "failed").count();
                        results.extend(fanned);
                    }
                    Err(e) => {
                        failures += 1;
                        retryable |= e.is_retryable();
                        results.push(json!({"scope": format!("github:{owner}/*"), "status": "failed",
                            "error": backtrack::sanitize::error_line(&e.to_string()), "retryable": e.is_retryable()}));
                    }
                }
            }
            // A new kind of selection this function does not know yet.
            other => {
                return Err(FunctionError::permanent(format!(
                    "scopes: {other} cannot be scheduled"
                )))
            }
        }
    }
    let budget = Budget {
        max_requests: deps.limits.max_requests,
        deadline: deadline.map(|d| capture_deadline(d, deps.limits.deadline_margin)),
    };
    for scope in &scopes {
        if budget.deadline.is_some_and(|d| Instant::now() >= d) {
            // No time left in this invocation: the queue takes the whole capture.
            let capture = capture_job(None, Trigger::Schedule, false);
            match queue_job(deps, scope, capture, &[], Duration::ZERO).await {
                Ok(job) => results.push(json!({"scope": scope, "status": "queued", "job": job,
                    "status_url": format!("/jobs/{job}")})),
                Err(e) => {
                    failures += 1;
                    retryable = true;
                    results.push(json!({"scope": scope, "status": "failed",
                        "error": e.to_string(), "retryable": true}));
                }
            }
            continue;
        }
        let outcome = async {
            let report = take(deps, scope, None, false, Trigger::Schedule, budget).await?;
            if report.status == backtrack::SnapshotStatus::Partial {
                let (job, delay) = continue_checkpoint(
                    deps,
                    &report,
                    capture_job(None, Trigger::Schedule, false),
                )
                .await
                .map_err(|e| backtrack::Error::Invalid(e.to_string()))?;
                let job = job.id;
                tracing::info!(scope = %scope, checkpoint = %report.id, job = %job, items = report.counts.total(), requests = report.requests, delay_secs = delay.as_secs(), "scheduled snapshot stopped partial at its budget; a snapshot job continues it");
                return Ok((report, None, Some(job)));
            }
            let pruned = match &retention {
                Some(opts) => Some(apply_retention(deps, scope, opts).await?),
                None => None,
            };
            Ok::<_, backtrack::Error>((report, pruned, None))
        }
        .await;
        match outcome {
            Ok((report, _, Some(job))) => results.push(json!({
                "scope": scope, "status": "continuing", "checkpoint": report.id,
                "items": report.counts.total(), "job": job, "status_url": format!("/jobs/{job}"),
            })),
            Ok((report, pruned, None)) => results.push(json!({
                "scope": scope, "status": "completed", "snapshot": report.id,
                "items": report.counts.total(), "pruned": pruned,
            })),
            Err(e) => {
                failures += 1;
                retryable |= e.is_retryable();
                results.push(json!({"scope": scope, "status": "failed", "error": e.to_string(), "retryable": e.is_retryable()}));
            }
        }
    }
    // One scope failing must not hide the others' snapshots; only a total failure fails
    // the invocation (so EventBridge's retry policy can try again). Either way each failure
    // is logged once: in the invocation's failure, or on its own line.
    if !results.is_empty() && failures == results.len() {
        return Err(FunctionError {
            message: format!("every scheduled snapshot failed: {}", Value::Array(results)),
            retryable,
        });
    }
    for failed in results.iter().filter(|r| r["status"] == "failed") {
        tracing::error!(scope = %failed["scope"], retryable = %failed["retryable"], error = %failed["error"], "scheduled snapshot failed");
    }
    Ok(json!({"snapshots": results}))
}

/// Queues the snapshot job that continues `checkpoint` (a capture its budget cut short,
/// within a schedule's invocation or a request) into a completed snapshot: the job's
/// capture goes on from the scope's newest checkpoint. Its message is delivered at once, or
/// at the rate limit's reset when that is what ran out (SQS delays a message 15 minutes at
/// most; an attempt before the reset sends itself again). Returns the job, its reserved
/// snapshot named, and the delay.
async fn continue_checkpoint(
    deps: &Snapshot,
    checkpoint: &SnapshotReport,
    capture: CaptureJob,
) -> Result<(backtrack::catalog::JobEntry, Duration), ApiError> {
    let delay = checkpoint
        .resume_at
        .map(|at| (at - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO))
        .unwrap_or(Duration::ZERO)
        .min(MAX_QUEUE_DELAY);
    let job = jobs::enqueue(&deps.archive, &checkpoint.scope, capture).await?;
    send_first(deps, &job, &[], delay).await?;
    Ok((job, delay))
}

fn retention(input: &RetentionInput) -> Result<PruneOptions, FunctionError> {
    let keep_last = match input.keep_last {
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => Retention::default().keep_last(),
    };
    // At most a century, as for `backtrack prune` (Retention's rule): `d * 86,400` must not
    // overflow on the way there.
    let keep_within = input
        .keep_within_days
        .map(|d| Duration::from_secs(d.saturating_mul(86_400)));
    let retention = Retention::new(keep_last, keep_within).map_err(|e| {
        FunctionError::permanent(format!("retention (keep_last, keep_within_days): {e}"))
    })?;
    Ok(PruneOptions::new(retention))
}

/// Retention under the scope's lock and the store's collect lease, like `backtrack prune
/// --execute` (one library call for both). A capture running elsewhere in the store makes it
/// wait for the next schedule: the refusal is reported, the snapshot stands.
async fn apply_retention(
    deps: &Snapshot,
    scope: &Scope,
    opts: &PruneOptions,
) -> Result<Value, backtrack::Error> {
    match prune::run(&deps.archive, scope, opts, true, "scheduled retention").await {
        Ok(report) => {
            Ok(json!({"snapshots": report.plan.drop.len(), "blobs": report.plan.blobs.len()}))
        }
        Err(e) if e.is_refusal() => {
            tracing::info!(scope = %scope, reason = %e, "retention deferred to the next run");
            Ok(json!({"deferred": e.to_string()}))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
