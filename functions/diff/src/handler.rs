//! `GET /snapshots/{id}/diff/{other|live}`: the field-level diff from snapshot `id` to another
//! snapshot of the same scope, or to the live tracker, as the diff JSON schema (version 1) or
//! as Markdown when the request's `Accept` asks for `text/markdown`.

use std::sync::Arc;

use backtrack::diff::{self, DiffOptions, MarkdownOptions, Side};
use backtrack::serverless::api::route;
use backtrack::serverless::events::{self, Incoming};
use backtrack::serverless::{
    no_route, parse_snapshot_id, serve_http, snapshot_or_404, ApiError, ApiRequest, ApiResponse,
    Deps, FunctionError,
};
use backtrack::snapshot::fetch_live;
use backtrack::tracker::NoProgress;
use backtrack::{SnapshotEntry, SnapshotStatus};
use serde_json::Value;

pub async fn handle(deps: &Deps, payload: Value) -> Result<Value, FunctionError> {
    match events::classify(payload)? {
        Incoming::Http(event) => Ok(serve_http(&event, |req| http(deps, req)).await),
        _ => Err(FunctionError::permanent(
            "the diff function only answers HTTP API requests",
        )),
    }
}

async fn http(deps: &Deps, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    match route("/snapshots/{id}/diff/{other}", &req.path) {
        Some(params) if req.method == "GET" => diff(deps, &req, params[0], params[1]).await,
        _ => Err(no_route(&req)),
    }
}

fn side_of(entry: &SnapshotEntry) -> Side {
    Side::snapshot(
        &entry.scope,
        entry.id.to_string(),
        entry.name.clone(),
        Some(entry.created_at),
    )
}

fn completed(entry: SnapshotEntry, field: &str) -> Result<SnapshotEntry, ApiError> {
    if entry.status != SnapshotStatus::Completed {
        return Err(ApiError::bad_request(
            field,
            format!("snapshot {} is {}, not completed", entry.id, entry.status),
        ));
    }
    Ok(entry)
}

async fn diff(
    deps: &Deps,
    req: &ApiRequest,
    id: &str,
    other: &str,
) -> Result<ApiResponse, ApiError> {
    let archive = &deps.archive;
    let from_id = parse_snapshot_id("id", id)?;
    let from = completed(snapshot_or_404(archive, &from_id).await?, "id")?;
    let scope = from.scope.clone();
    let (from_set, to_set, to_side) = if other == "live" {
        let tracker = deps.trackers.tracker(&scope)?;
        let live = fetch_live(tracker, Arc::new(NoProgress), false).await?;
        let records = archive
            .load_records(&archive.load_manifest(&from).await?, false)
            .await?;
        (records, live, Side::live(&scope))
    } else {
        let to_id = parse_snapshot_id("other", other)?;
        let to = completed(snapshot_or_404(archive, &to_id).await?, "other")?;
        if to.scope != scope {
            return Err(ApiError::bad_request(
                "other",
                format!("snapshot {to_id} is of {}, not {scope}", to.scope),
            ));
        }
        // Two stored snapshots: read only the records that differ.
        let (a, b) = archive
            .load_changed_pair(
                &archive.load_manifest(&from).await?,
                &archive.load_manifest(&to).await?,
            )
            .await?;
        (a, b, side_of(&to))
    };
    let d =
        diff::diff(&from_set, &to_set, &DiffOptions::default()).with_sides(side_of(&from), to_side);
    if req.wants_markdown() {
        let (owner, repo) = scope.github_repo().unwrap_or_default();
        let markdown = diff::render_markdown(
            &d,
            &MarkdownOptions {
                issue_url_base: Some(format!("https://github.com/{owner}/{repo}/issues/")),
                full_diff_command: Some(format!(
                    "backtrack diff {scope} --from {} --to {other} --format text",
                    from.id
                )),
                ..MarkdownOptions::default()
            },
        );
        return Ok(ApiResponse::markdown(markdown));
    }
    let json = diff::render_json(&d).map_err(|e| ApiError::Internal {
        message: format!("cannot encode the diff: {e}"),
        retryable: false,
    })?;
    Ok(ApiResponse {
        status: 200,
        content_type: "application/json",
        body: json,
    })
}

#[cfg(test)]
mod tests;
