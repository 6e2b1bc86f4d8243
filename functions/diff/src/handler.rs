//! `GET /snapshots/{id}/diff/{other}`: the field-level diff from snapshot `id` to `other` — a
//! snapshot of the same scope (id, unique id prefix, name, `latest`) or `live` — as the diff
//! JSON schema (version 1), as Markdown when the request's `Accept` asks for
//! `text/markdown` (`?max_chars=N` caps it), or as the HTML page of `backtrack report` for
//! `text/html` (a browser). The sides, the report filtering and the Markdown
//! options are the CLI's (`backtrack::compare`), so both show the same diff.

use std::sync::Arc;

use backtrack::compare::{self, CompareError, DiffSide, DiffSides, LiveSource, Which};
use backtrack::diff::{self, DiffOptions, MarkdownOptions};
use backtrack::snapshot::{Archive, SnapshotRef};
use backtrack::tracker::NoProgress;
use backtrack_lambda::api::{dispatch, Served};
use backtrack_lambda::events::{Http, HttpResponse};
use backtrack_lambda::{
    parse_snapshot_id, serve_http, snapshot_or_404, ApiError, ApiRequest, ApiResponse, ConfigError,
    Env, Function, FunctionError, Invocation, TrackerFactory,
};

/// The diff function: it reads snapshots, and the live tracker for `live`.
#[derive(Debug, Clone)]
pub struct Diff {
    pub archive: Archive,
    pub trackers: Arc<dyn TrackerFactory>,
}

impl Function for Diff {
    type Event = Http;
    type Output = HttpResponse;

    async fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Diff {
            archive: env.archive().await?,
            trackers: env.trackers().await?,
        })
    }

    async fn handle(&self, event: Http, _: Invocation) -> Result<Self::Output, FunctionError> {
        Ok(serve_http(&event, |req| self.http(req)).await)
    }
}

impl Diff {
    async fn http(&self, req: ApiRequest) -> Result<ApiResponse, ApiError> {
        let (_, params) = dispatch(&req, Served::Diff)?;
        self.diff(&req, params[0], params[1]).await
    }

    async fn diff(&self, req: &ApiRequest, id: &str, other: &str) -> Result<ApiResponse, ApiError> {
        let archive = &self.archive;
        let from_id = parse_snapshot_id("id", id)?;
        let scope = snapshot_or_404(archive, &from_id).await?.scope;
        let to =
            DiffSide::parse(other).map_err(|e| ApiError::bad_request("other", e.to_string()))?;
        let sides = DiffSides {
            from: DiffSide::Snapshot(SnapshotRef::Id(from_id)),
            to,
        };
        let max_chars = match req.query_fields(&["max_chars"])?.get("max_chars") {
            None => None,
            Some(n) => Some(n.parse::<usize>().map_err(|_| {
                ApiError::bad_request("max_chars", "must be a number of characters")
            })?),
        };
        let live = match sides.needs_live() {
            true => Some(LiveSource {
                tracker: self.trackers.tracker(&scope)?,
                progress: Arc::new(NoProgress),
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
        for warning in &compared.warnings {
            tracing::warn!(%scope, "{warning}");
        }
        let d = &compared.diff;
        // A browser (or a link someone opened): the same page `backtrack report` writes.
        if req
            .header("accept")
            .is_some_and(|a| a.contains("text/html"))
        {
            let (html, _) =
                backtrack::report::for_comparison(archive, &scope, &compared, None, None).await?;
            return Ok(ApiResponse {
                status: 200,
                content_type: backtrack::report::CONTENT_TYPE,
                body: html,
                headers: Vec::new(),
            });
        }
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
            headers: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests;
