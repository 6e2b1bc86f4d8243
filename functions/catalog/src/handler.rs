//! The snapshot catalog over HTTP: `GET /snapshots?scope=` (newest first), `GET
//! /snapshots/{id}`, and `DELETE /snapshots/{id}` (pinned snapshots only with `?force=true`,
//! like `backtrack snapshot delete --force`; never one an unfinished restore job needs: 409
//! naming the job; blobs are reclaimed by retention's GC); `GET /runs?selection=github:ORG/*&limit=N`
//! (organisation runs, newest first) and `GET /runs/{id}` (one run, per repository).

use backtrack::fleet;
use backtrack::scope::Selection;
use backtrack::snapshot::Archive;
use backtrack::Scope;
use backtrack_lambda::api::{dispatch, Served};
use backtrack_lambda::events::{Http, HttpResponse};
use backtrack_lambda::{
    parse_snapshot_id, serve_http, snapshot_or_404, ApiError, ApiRequest, ApiResponse, ConfigError,
    Env, Function, FunctionError, Invocation,
};
use serde_json::json;

/// The catalog function: it reads and deletes catalog entries and manifests, nothing else.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub archive: Archive,
}

impl Function for Catalog {
    type Event = Http;
    type Output = HttpResponse;

    async fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Catalog {
            archive: env.archive().await?,
        })
    }

    async fn handle(&self, event: Http, _: Invocation) -> Result<Self::Output, FunctionError> {
        Ok(serve_http(&event, |req| self.http(req)).await)
    }
}

impl Catalog {
    async fn http(&self, req: ApiRequest) -> Result<ApiResponse, ApiError> {
        match (dispatch(&req, Served::Catalog)?, req.method.as_str()) {
            (("/snapshots", _), _) => list(&self.archive, &req).await,
            (("/runs", _), _) => runs(&self.archive, &req).await,
            (("/runs/{id}", p), _) => {
                req.query_fields(&[])?;
                run(&self.archive, p[0]).await
            }
            ((_, p), "DELETE") => delete(&self.archive, &req, p[0]).await,
            ((_, p), _) => {
                req.query_fields(&[])?;
                show(&self.archive, p[0]).await
            }
        }
    }
}

async fn list(archive: &Archive, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let scope = match req
        .query_fields(&["scope"])?
        .get("scope")
        .map(String::as_str)
    {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<Scope>()
                .map_err(|e| ApiError::bad_request("scope", e.to_string()))?,
        ),
    };
    let entries = archive.entries(scope.as_ref()).await?;
    Ok(ApiResponse::json(200, &json!({ "snapshots": entries })))
}

/// The most runs one answer lists.
const RUNS_MAX: usize = 100;

async fn runs(archive: &Archive, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let query = req.query_fields(&["selection", "limit"])?;
    let selection = match query.get("selection").map(String::as_str) {
        None | Some("") => None,
        Some(s) => match s.parse::<Selection>() {
            Ok(Selection::GitHubOwner { owner }) => Some(format!("github:{owner}/*")),
            Ok(_) => {
                return Err(ApiError::bad_request(
                    "selection",
                    "must be a whole organisation, github:ORG/*",
                ))
            }
            Err(e) => return Err(ApiError::bad_request("selection", e.to_string())),
        },
    };
    let limit = match query.get("limit").map(String::as_str) {
        None | Some("") => 20,
        Some(n) => match n.parse::<usize>() {
            Ok(n) if (1..=RUNS_MAX).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "limit",
                    format!("must be a number from 1 to {RUNS_MAX}"),
                ))
            }
        },
    };
    let list = fleet::runs::list(archive, selection.as_deref(), limit).await?;
    Ok(ApiResponse::json(200, &json!({ "runs": list })))
}

async fn run(archive: &Archive, id: &str) -> Result<ApiResponse, ApiError> {
    let valid = id.len() == 26 && id.chars().all(|c| c.is_ascii_alphanumeric());
    if !valid {
        return Err(ApiError::bad_request(
            "id",
            "must be a run id (26 letters and digits)",
        ));
    }
    match fleet::runs::get(archive, &id.to_ascii_lowercase()).await? {
        Some(run) => Ok(ApiResponse::json(200, &run)),
        None => Err(ApiError::NotFound(format!("no run {id}"))),
    }
}

async fn show(archive: &Archive, id: &str) -> Result<ApiResponse, ApiError> {
    let id = parse_snapshot_id("id", id)?;
    let entry = snapshot_or_404(archive, &id).await?;
    Ok(ApiResponse::json(200, &entry))
}

async fn delete(archive: &Archive, req: &ApiRequest, id: &str) -> Result<ApiResponse, ApiError> {
    let force = match req
        .query_fields(&["force"])?
        .get("force")
        .map(String::as_str)
    {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::bad_request("force", "must be true or false")),
    };
    let id = parse_snapshot_id("id", id)?;
    let entry = snapshot_or_404(archive, &id).await?;
    if entry.pinned && !force {
        return Err(ApiError::Refused(format!(
            "snapshot {id} is pinned; unpin it, or pass ?force=true to delete it anyway"
        )));
    }
    archive.delete_snapshot(&entry, force).await?;
    tracing::info!(snapshot = %id, scope = %entry.scope, force, "snapshot deleted");
    Ok(ApiResponse::json(
        200,
        &json!({"deleted": id, "scope": entry.scope}),
    ))
}

#[cfg(test)]
mod tests;
