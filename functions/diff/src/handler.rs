//! `GET /snapshots/{id}/diff/{other}`: the field-level diff from snapshot `id` to `other` — a
//! snapshot of the same scope (id, unique id prefix, name, `latest`) or `live` — as the diff
//! JSON schema (version 1), or as Markdown when the request's `Accept` asks for
//! `text/markdown` (`?max_chars=N` caps it). The sides, the report filtering and the Markdown
//! options are the CLI's (`backtrack::compare`), so both show the same diff.

use backtrack::compare::{self, CompareError, DiffSide, DiffSides, LiveSource, Which};
use backtrack::diff::{self, DiffOptions, MarkdownOptions};
use backtrack::serverless::api::route;
use backtrack::serverless::events::{self, Incoming};
use backtrack::serverless::{
    no_route, parse_snapshot_id, serve_http, snapshot_or_404, ApiError, ApiRequest, ApiResponse,
    Deps, FunctionError,
};
use backtrack::snapshot::SnapshotRef;
use backtrack::tracker::NoProgress;
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

async fn diff(
    deps: &Deps,
    req: &ApiRequest,
    id: &str,
    other: &str,
) -> Result<ApiResponse, ApiError> {
    let archive = &deps.archive;
    let from_id = parse_snapshot_id("id", id)?;
    let scope = snapshot_or_404(archive, &from_id).await?.scope;
    let to = DiffSide::parse(other).map_err(|e| ApiError::bad_request("other", e.to_string()))?;
    let sides = DiffSides {
        from: DiffSide::Snapshot(SnapshotRef::Id(from_id)),
        to,
    };
    let max_chars =
        match req.query.get("max_chars") {
            None => None,
            Some(n) => Some(n.parse::<usize>().map_err(|_| {
                ApiError::bad_request("max_chars", "must be a number of characters")
            })?),
        };
    let live = match sides.needs_live() {
        true => Some(LiveSource {
            tracker: deps.trackers.tracker(&scope)?,
            progress: std::sync::Arc::new(NoProgress),
        }),
        false => None,
    };
    let compared = compare::compare(
        archive,
        &scope,
        &sides,
        &DiffOptions::default(),
        live.as_ref(),
    )
    .await
    .map_err(|e| match e {
        CompareError::Side { which, source, .. } => ApiError::bad_request(
            match which {
                Which::From => "id",
                Which::To => "other",
            },
            source.to_string(),
        ),
        CompareError::Other(e) => (*e).into(),
    })?;
    let d = &compared.diff;
    if req.wants_markdown() {
        let options = MarkdownOptions::for_diff(&scope, d, max_chars)
            .map_err(|e| ApiError::bad_request("max_chars", e.to_string()))?;
        return Ok(ApiResponse::markdown(diff::render_markdown(d, &options)));
    }
    let json = diff::render_json(d).map_err(|e| ApiError::Internal {
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
