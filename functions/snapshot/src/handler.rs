//! Taking snapshots: on a schedule (EventBridge, several scopes, then retention), on request
//! (`POST /snapshots`), and on GitHub webhooks (`POST /webhooks/github`: a push to the default
//! branch or a merged pull request; other events are acknowledged with 202 and ignored).

use std::sync::Arc;
use std::time::Duration;

use backtrack::catalog::Claim;
use backtrack::manifest::Trigger;
use backtrack::prune::{self, PruneOptions, Retention};
use backtrack::snapshot::{Archive, SnapshotName, SnapshotOptions, SnapshotReport};
use backtrack::Scope;
use backtrack_lambda::api::route;
use backtrack_lambda::events::{HttpOr, Reply, Scheduled};
use backtrack_lambda::webhook::{self, WebhookAction};
use backtrack_lambda::{
    no_route, serve_http, ApiError, ApiRequest, ApiResponse, ConfigError, Env, Function,
    FunctionError, Invocation, Limits, Secret, TrackerFactory,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The snapshot function: it captures scopes into the archive (and applies retention after
/// scheduled snapshots).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub archive: Archive,
    pub trackers: Arc<dyn TrackerFactory>,
    /// Without it the webhook route answers that it is not configured.
    pub webhook_secret: Option<Secret>,
    pub limits: Limits,
}

/// A schedule's input: `{"scopes": [...], "retention": {"keep_last": N, "keep_within_days": D}}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    pub scopes: Vec<String>,
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
    type Event = HttpOr<Scheduled<ScheduleInput>>;
    type Output = Reply<Value>;

    async fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Snapshot {
            archive: env.archive().await?,
            trackers: env.trackers().await?,
            webhook_secret: env.webhook_secret().await?,
            limits: env.limits()?,
        })
    }

    async fn handle(
        &self,
        event: Self::Event,
        _: Invocation,
    ) -> Result<Self::Output, FunctionError> {
        match event {
            HttpOr::Http(event) => Ok(Reply::Http(Box::new(
                serve_http(&event, |req| http(self, req)).await,
            ))),
            HttpOr::Other(Scheduled(input)) => scheduled(self, &input).await.map(Reply::Other),
        }
    }
}

async fn http(deps: &Snapshot, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", p) if route("/snapshots", p).is_some() => create(deps, &req).await,
        ("POST", p) if route("/webhooks/github", p).is_some() => github_webhook(deps, &req).await,
        _ => Err(no_route(&req)),
    }
}

/// `POST /snapshots` `{scope, name?}`.
async fn create(deps: &Snapshot, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let body = req.json_body()?;
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
    let report = take(deps, &scope, name, force, Trigger::Manual).await?;
    Ok(ApiResponse::json(201, &report))
}

fn scope_field(body: &Map<String, Value>) -> Result<Scope, ApiError> {
    match body.get("scope") {
        Some(Value::String(s)) => s
            .parse::<Scope>()
            .map_err(|e| ApiError::bad_request("scope", e.to_string())),
        Some(_) => Err(ApiError::bad_request(
            "scope",
            "must be a string such as github:OWNER/REPO",
        )),
        None => Err(ApiError::bad_request(
            "scope",
            "is required (e.g. github:OWNER/REPO)",
        )),
    }
}

async fn take(
    deps: &Snapshot,
    scope: &Scope,
    name: Option<SnapshotName>,
    reuse_name: bool,
    trigger: Trigger,
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
                ..SnapshotOptions::default()
            },
        )
        .await?;
    tracing::info!(snapshot = %report.id, scope = %scope, trigger = %trigger, items = report.counts.total(), "snapshot taken");
    Ok(report)
}

/// `POST /webhooks/github`: verified by signature (the route has no IAM auth).
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
        .ok_or_else(|| ApiError::bad_request("X-GitHub-Delivery", "header is required"))?;
    let payload: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request("body", format!("is not valid JSON ({e})")))?;
    let (scope, trigger, name) = match webhook::classify(event, &payload) {
        WebhookAction::Ignore(reason) => {
            tracing::info!(event, delivery, reason = %reason, "webhook ignored");
            return Ok(ApiResponse::json(
                202,
                &json!({"status": "ignored", "reason": reason, "delivery": delivery}),
            ));
        }
        WebhookAction::Snapshot {
            scope,
            trigger,
            name,
        } => (scope, trigger, name),
    };
    // GitHub redelivers on timeouts and people press "Redeliver": one snapshot per delivery.
    let claim = Claim::new(
        format!("github-delivery#{delivery}"),
        deps.limits.delivery_ttl,
    );
    if !deps.archive.claim(&claim).await? {
        tracing::info!(delivery, "webhook delivery already handled");
        return Ok(ApiResponse::json(
            200,
            &json!({"status": "duplicate", "delivery": delivery}),
        ));
    }
    // Names made from events repeat (the same commit pushed again): they label, and a
    // reference to one means the newest.
    let name = match SnapshotName::parse(&name) {
        Ok(name) => Some(name),
        Err(e) => {
            tracing::warn!(error = %e, "the webhook's snapshot is taken without a name");
            None
        }
    };
    match take(deps, &scope, name, true, trigger).await {
        Ok(report) => Ok(ApiResponse::json(201, &report)),
        Err(e) => {
            // Let a redelivery try again.
            let _ = deps.archive.release_claim(&claim.key, &claim.token).await;
            Err(e.into())
        }
    }
}

async fn scheduled(deps: &Snapshot, input: &ScheduleInput) -> Result<Value, FunctionError> {
    if input.scopes.is_empty() {
        return Err(FunctionError::permanent(
            "scopes: the schedule input needs a non-empty list of scopes",
        ));
    }
    let scopes = input
        .scopes
        .iter()
        .map(|s| {
            s.parse::<Scope>()
                .map_err(|e| FunctionError::permanent(format!("scopes: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let retention = input.retention.as_ref().map(retention).transpose()?;
    let mut results = Vec::new();
    let mut failures = 0usize;
    let mut retryable = false;
    for scope in &scopes {
        let outcome = async {
            let report = take(deps, scope, None, false, Trigger::Schedule).await?;
            let pruned = match &retention {
                Some(opts) => Some(apply_retention(deps, scope, opts).await?),
                None => None,
            };
            Ok::<_, backtrack::Error>((report, pruned))
        }
        .await;
        match outcome {
            Ok((report, pruned)) => results.push(json!({
                "scope": scope, "status": "completed", "snapshot": report.id,
                "items": report.counts.total(), "pruned": pruned,
            })),
            Err(e) => {
                failures += 1;
                retryable |= e.is_retryable();
                tracing::error!(scope = %scope, retryable = e.is_retryable(), error = %e, "scheduled snapshot failed");
                results.push(json!({"scope": scope, "status": "failed", "error": e.to_string(), "retryable": e.is_retryable()}));
            }
        }
    }
    // One scope failing must not hide the others' snapshots; only a total failure fails
    // the invocation (so EventBridge's retry policy can try again).
    if failures == scopes.len() {
        return Err(FunctionError {
            message: format!("every scheduled snapshot failed: {}", Value::Array(results)),
            retryable,
        });
    }
    Ok(json!({"snapshots": results}))
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
