//! Taking snapshots: on a schedule (EventBridge, several scopes, then retention), on request
//! (`POST /snapshots`), and on GitHub webhooks (`POST /webhooks/github`: a push to the default
//! branch or a merged pull request; other events are acknowledged with 202 and ignored).

use std::time::Duration;

use backtrack::catalog::{Claim, LockInfo};
use backtrack::manifest::Trigger;
use backtrack::prune::{self, PruneOptions};
use backtrack::serverless::api::route;
use backtrack::serverless::events::{self, Incoming};
use backtrack::serverless::webhook::{self, WebhookAction};
use backtrack::serverless::{
    no_route, serve_http, ApiError, ApiRequest, ApiResponse, Deps, FunctionError,
};
use backtrack::snapshot::{SnapshotOptions, SnapshotReport};
use backtrack::{Scope, SnapshotId};
use serde_json::{json, Map, Value};

/// Routes one event by its trigger.
pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, FunctionError> {
    match events::classify(payload)? {
        Incoming::Http(event) => Ok(serve_http(&event, |req| http(deps, req)).await),
        Incoming::Scheduled(event) => scheduled(deps, &event.detail).await,
        Incoming::Queue(_) => Err(FunctionError::permanent(
            "the snapshot function is not subscribed to a queue",
        )),
    }
}

async fn http(deps: &Deps, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", p) if route("/snapshots", p).is_some() => create(deps, &req).await,
        ("POST", p) if route("/webhooks/github", p).is_some() => github_webhook(deps, &req).await,
        _ => Err(no_route(&req)),
    }
}

/// `POST /snapshots` `{scope, name?}`.
async fn create(deps: &Deps, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let body = req.json_body()?;
    let scope = scope_field(&body)?;
    let name = match body.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) => Some(validate_name(n)?),
        Some(_) => return Err(ApiError::bad_request("name", "must be a string")),
    };
    let report = take(deps, &scope, name, Trigger::Manual).await?;
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

/// The CLI's naming rules: names are how people find snapshots again.
fn validate_name(name: &str) -> Result<String, ApiError> {
    if name.trim().is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "name",
            "must be 1–100 printable characters",
        ));
    }
    if name == "latest" || name == "live" || name.parse::<SnapshotId>().is_ok() {
        return Err(ApiError::bad_request(
            "name",
            "is reserved or looks like a snapshot id; choose another",
        ));
    }
    Ok(name.to_string())
}

async fn take(
    deps: &Deps,
    scope: &Scope,
    name: Option<String>,
    trigger: Trigger,
) -> Result<SnapshotReport, backtrack::Error> {
    let tracker = deps.trackers.tracker(scope)?;
    let report = deps
        .archive
        .create_snapshot(
            tracker,
            &SnapshotOptions {
                name,
                trigger,
                ..SnapshotOptions::default()
            },
        )
        .await?;
    tracing::info!(snapshot = %report.id, scope = %scope, trigger = %trigger, items = report.counts.total(), "snapshot taken");
    Ok(report)
}

/// `POST /webhooks/github`: verified by signature (the route has no IAM auth).
async fn github_webhook(deps: &Deps, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
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
    if !deps.archive.catalog.claim(&claim).await? {
        tracing::info!(delivery, "webhook delivery already handled");
        return Ok(ApiResponse::json(
            200,
            &json!({"status": "duplicate", "delivery": delivery}),
        ));
    }
    match take(deps, &scope, Some(name), trigger).await {
        Ok(report) => Ok(ApiResponse::json(201, &report)),
        Err(e) => {
            // Let a redelivery try again.
            let _ = deps
                .archive
                .catalog
                .release_claim(&claim.key, &claim.token)
                .await;
            Err(e.into())
        }
    }
}

/// The schedule's input: `{"scopes": [...], "retention": {"keep_last": N, "keep_within_days": D}}`.
async fn scheduled(deps: &Deps, input: &Value) -> Result<Value, FunctionError> {
    let scopes = match input.get("scopes") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|s| {
                s.as_str()
                    .ok_or_else(|| {
                        FunctionError::permanent("scopes: every entry must be a string")
                    })?
                    .parse::<Scope>()
                    .map_err(|e| FunctionError::permanent(format!("scopes: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(FunctionError::permanent(
                "scopes: the schedule input needs a non-empty list of scopes",
            ))
        }
    };
    let retention = retention(input.get("retention"))?;
    let mut results = Vec::new();
    let mut failures = 0usize;
    let mut retryable = false;
    for scope in &scopes {
        let outcome = async {
            let report = take(deps, scope, None, Trigger::Schedule).await?;
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

fn retention(value: Option<&Value>) -> Result<Option<PruneOptions>, FunctionError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let field = |name: &str| -> Result<Option<u64>, FunctionError> {
        match value.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                FunctionError::permanent(format!(
                    "retention.{name}: must be a non-negative integer"
                ))
            }),
        }
    };
    let mut opts = PruneOptions::default();
    if let Some(n) = field("keep_last")? {
        opts.keep_last = usize::try_from(n).unwrap_or(usize::MAX);
    }
    // At most a century, as for `backtrack prune`: a longer span means nothing for retention,
    // and `d * 86,400` must not overflow.
    opts.keep_within = match field("keep_within_days")? {
        None => None,
        Some(d) if d <= 36_600 => Some(Duration::from_secs(d * 86_400)),
        Some(_) => {
            return Err(FunctionError::permanent(
                "retention.keep_within_days: must be at most 36600 (100 years)",
            ))
        }
    };
    Ok(Some(opts))
}

/// Retention under the scope's lock, like `backtrack prune --execute`.
async fn apply_retention(
    deps: &Deps,
    scope: &Scope,
    opts: &PruneOptions,
) -> Result<Value, backtrack::Error> {
    let lock = LockInfo::new(scope, "scheduled retention", Duration::from_secs(600));
    deps.archive.catalog.lock(&lock).await?;
    let result = async {
        let plan = prune::plan(&deps.archive, scope, opts).await?;
        prune::apply(&deps.archive, &plan).await?;
        Ok::<_, backtrack::Error>(json!({"snapshots": plan.drop.len(), "blobs": plan.blobs.len()}))
    }
    .await;
    deps.archive.catalog.unlock(scope, &lock.token).await?;
    result
}

#[cfg(test)]
mod tests;
