//! The snapshot catalog over HTTP: `GET /snapshots?scope=` (newest first), `GET
//! /snapshots/{id}`, and `DELETE /snapshots/{id}` (pinned snapshots only with `?force=true`,
//! like `backtrack snapshot delete --force`; blobs are reclaimed by retention's GC).

use backtrack::serverless::api::route;
use backtrack::serverless::events::{self, Incoming};
use backtrack::serverless::{
    no_route, parse_snapshot_id, serve_http, snapshot_or_404, ApiError, ApiRequest, ApiResponse,
    Deps, FunctionError,
};
use backtrack::Scope;
use serde_json::{json, Value};

pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, FunctionError> {
    match events::classify(payload)? {
        Incoming::Http(event) => Ok(serve_http(&event, |req| http(deps, req)).await),
        _ => Err(FunctionError::permanent(
            "the catalog function only answers HTTP API requests",
        )),
    }
}

async fn http(deps: &Deps, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    if route("/snapshots", &req.path).is_some() && req.method == "GET" {
        return list(deps, &req).await;
    }
    if let Some(p) = route("/snapshots/{id}", &req.path) {
        match req.method.as_str() {
            "GET" => return show(deps, p[0]).await,
            "DELETE" => return delete(deps, &req, p[0]).await,
            _ => {}
        }
    }
    Err(no_route(&req))
}

async fn list(deps: &Deps, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let scope = match req.query.get("scope").map(String::as_str) {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<Scope>()
                .map_err(|e| ApiError::bad_request("scope", e.to_string()))?,
        ),
    };
    let entries = deps.archive.entries(scope.as_ref()).await?;
    Ok(ApiResponse::json(200, &json!({ "snapshots": entries })))
}

async fn show(deps: &Deps, id: &str) -> Result<ApiResponse, ApiError> {
    let id = parse_snapshot_id("id", id)?;
    let entry = snapshot_or_404(&deps.archive, &id).await?;
    Ok(ApiResponse::json(200, &entry))
}

async fn delete(deps: &Deps, req: &ApiRequest, id: &str) -> Result<ApiResponse, ApiError> {
    let force = match req.query.get("force").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::bad_request("force", "must be true or false")),
    };
    let id = parse_snapshot_id("id", id)?;
    let entry = snapshot_or_404(&deps.archive, &id).await?;
    if entry.pinned && !force {
        return Err(ApiError::Refused(format!(
            "snapshot {id} is pinned; unpin it, or pass ?force=true to delete it anyway"
        )));
    }
    deps.archive.delete_snapshot(&entry, force).await?;
    tracing::info!(snapshot = %id, scope = %entry.scope, force, "snapshot deleted");
    Ok(ApiResponse::json(
        200,
        &json!({"deleted": id, "scope": entry.scope}),
    ))
}

#[cfg(test)]
mod tests;
