//! Handlers other clients call before anything else (`GET /`, `/user`, `/users/{login}`,
//! `/rate_limit`, `/repos/{owner}/{repo}`) and the sandbox's own `/_sandbox` routes.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Extension;
use serde_json::json;

use axum::http::StatusCode;

use super::http::{check_repo, Actor, ApiError, Ctx, Reply};
use super::render::{self, Render};
use super::state::UserKind;
use super::Shared;

pub(crate) async fn root(Extension(ctx): Extension<Ctx>) -> Reply {
    Reply::ok(&render::root(&ctx))
}

/// The authenticated user (the gate already refused anonymous calls). An installation token
/// (a bot's) has no user to show: GitHub refuses it, which is what the `GITHUB_TOKEN` of
/// GitHub Actions gets.
pub(crate) async fn user(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(me): Actor,
) -> Result<Reply, ApiError> {
    let st = sb.read();
    if matches!(st.users.get(me).map(|u| u.kind), Some(UserKind::Bot { .. })) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        ));
    }
    Ok(Reply::ok(&Render::new(&ctx, &st).user_full(me, true)))
}

pub(crate) async fn user_by_login(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(login): Path<String>,
) -> Result<Reply, ApiError> {
    let st = sb.read();
    let u = st.user_by_login(&login).ok_or_else(ApiError::not_found)?;
    Ok(Reply::ok(&Render::new(&ctx, &st).user_full(u, false)))
}

/// `GET /rate_limit`, from the same counters as the `x-ratelimit-*` headers.
pub(crate) async fn rate_limit(State(sb): State<Arc<Shared>>) -> Reply {
    let (limit, remaining, used, reset) = sb.rate().rate();
    let core = json!({"limit": limit, "remaining": remaining, "reset": reset, "used": used,
                      "resource": "core"});
    let fresh = |limit: u64, resource: &str| {
        json!({"limit": limit, "remaining": limit, "reset": reset, "used": 0,
               "resource": resource})
    };
    Reply::ok(&json!({
        "resources": {
            "core": core,
            "search": fresh(30, "search"),
            "graphql": fresh(5000, "graphql"),
            "integration_manifest": fresh(5000, "integration_manifest"),
            "code_search": fresh(10, "code_search"),
        },
        "rate": core,
    }))
}

pub(crate) async fn repository(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo)): Path<(String, String)>,
) -> Result<Reply, ApiError> {
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    Ok(Reply::ok(&Render::new(&ctx, &st).repository()))
}

pub(crate) async fn sandbox_stats(State(sb): State<Arc<Shared>>) -> Reply {
    let stats = sb.meter().stats().clone();
    Reply::ok(&serde_json::to_value(stats).unwrap_or_default())
}

/// `POST /_sandbox/clock` `{"advance_secs": N}`: moves the sandbox's clock forward, so
/// rehearsals and benchmarks can simulate days passing between snapshots (every later write
/// is stamped at least N seconds after the previous one). Answers the new time.
pub(crate) async fn sandbox_clock(State(sb): State<Arc<Shared>>, body: axum::body::Bytes) -> Reply {
    let advance = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("advance_secs").and_then(serde_json::Value::as_i64))
        .filter(|n| (0..=10 * 365 * 86_400).contains(n));
    let Some(advance) = advance else {
        return Reply::json(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            &json!({
                "message": "expected a JSON body {\"advance_secs\": N} with 0 <= N <= 10 years",
                "documentation_url": super::http::DOCS_URL,
            }),
        );
    };
    let mut st = sb.write();
    st.clock = st.clock.max(super::state::unix_now()) + advance;
    let now = chrono::DateTime::from_timestamp(st.clock, 0).map(|t| t.to_rfc3339());
    Reply::ok(&json!({ "now": now }))
}

/// `GET /_sandbox/faults`: the routes broken on purpose.
pub(crate) async fn route_faults(State(sb): State<Arc<Shared>>) -> Reply {
    Reply::ok(&faults_json(&sb))
}

fn faults_json(sb: &Shared) -> serde_json::Value {
    let list: Vec<serde_json::Value> = sb
        .route_faults()
        .iter()
        .map(|(route, status)| json!({"route": route, "status": status.as_u16()}))
        .collect();
    json!({ "faults": list })
}

/// `POST /_sandbox/faults` `{"route": "GET /repos/{owner}/{repo}/issues/events", "status":
/// 503}` (or `null` to clear): see the module docs of [`super`].
pub(crate) async fn set_route_fault(
    State(sb): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> Reply {
    const USAGE: &str = "expected {\"route\": \"METHOD /route/{template}\", \"status\": 400..=599 or null to clear}";
    let refuse = |message: &str| {
        Reply::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"message": message, "documentation_url": super::http::DOCS_URL}),
        )
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return refuse(USAGE);
    };
    let Some(route) = v.get("route").and_then(serde_json::Value::as_str) else {
        return refuse(USAGE);
    };
    let route = route.trim().to_owned();
    if !route.contains(' ') {
        return refuse(USAGE);
    }
    match v.get("status") {
        None | Some(serde_json::Value::Null) => {
            sb.route_faults().remove(&route);
        }
        Some(s) => {
            let Some(status) = s
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| (400..=599).contains(n))
                .and_then(|n| StatusCode::from_u16(n).ok())
            else {
                return refuse(USAGE);
            };
            sb.route_faults().insert(route, status);
        }
    }
    Reply::ok(&faults_json(&sb))
}

/// Reseeds the repository and zeroes the stats.
pub(crate) async fn sandbox_reset(State(sb): State<Arc<Shared>>) -> Reply {
    // Seeding a large repository takes a moment: keep it off the async worker threads.
    let worker = sb.clone();
    if tokio::task::spawn_blocking(move || worker.reset())
        .await
        .is_err()
    {
        return Reply::json(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"message": "reset failed", "documentation_url": super::http::DOCS_URL}),
        );
    }
    let (issues, comments, labels, milestones) = sb.read().counts();
    Reply::ok(
        &json!({"reset": true, "issues": issues, "comments": comments,
                      "labels": labels, "milestones": milestones}),
    )
}
