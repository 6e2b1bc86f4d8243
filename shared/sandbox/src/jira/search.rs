//! Issue search, each flavour the way it pages:
//! - Cloud's enhanced search (`/search/jql`): an opaque `nextPageToken`, `isLast`, no
//!   `total`; `fields` defaults to `id`; `maxResults` 1–5000, cut to 100 a page unless only
//!   ids and keys are asked for; a query with no restriction is refused. `/search` is gone.
//! - Data Center's `/search`: `startAt`, `maxResults` (default 50, at most 1000), `total`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Extension;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::http::{parse_object, Actor, Ctx, JiraError, Params, Reply};
use super::jql::{self, Validate};
use super::render::{field_defs, Expand, FieldSel, Render};
use super::Shared;

/// Most issues one page of Cloud's search carries when fields are asked for.
const CLOUD_PAGE_WITH_FIELDS: usize = 100;
/// Most issues one page of Cloud's search carries with ids and keys only.
const CLOUD_PAGE_IDS: usize = 5000;
/// Data Center's default cap (`jira.search.views.default.max`).
const DC_MAX_RESULTS: usize = 1000;

/// A search request, from the query string or a POST body.
#[derive(Debug, Default)]
struct SearchReq {
    jql: Option<String>,
    token: Option<String>,
    start_at: Option<i64>,
    max_results: Option<i64>,
    fields: Option<Vec<String>>,
    expand: Option<Vec<String>>,
    /// Issue properties to include (`properties`).
    properties: Option<Vec<String>>,
    /// `validateQuery`: strict unless `false`, `none` or `warn`.
    strict: bool,
}

fn from_params(q: &Params, ctx: &Ctx) -> Result<SearchReq, JiraError> {
    let strict = !matches!(
        q.get("validateQuery")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("false" | "none" | "warn")
    );
    Ok(SearchReq {
        jql: q.get("jql").map(str::to_owned),
        token: q.get("nextPageToken").map(str::to_owned),
        start_at: q.int("startAt", ctx)?,
        max_results: q.int("maxResults", ctx)?,
        fields: q.list("fields"),
        expand: q.list("expand"),
        properties: q.list("properties"),
        strict,
    })
}

/// Reads a POST body. `known` are the properties the flavour's bean declares; any other is
/// refused as Jira refuses it (Cloud: RFC 7807 "Failed to read request").
fn from_body(b: &Map<String, Value>, ctx: &Ctx, cloud: bool) -> Result<SearchReq, JiraError> {
    let failed = || {
        if cloud {
            JiraError::problem(StatusCode::BAD_REQUEST, "Failed to read request", &ctx.path)
        } else {
            JiraError::unreadable(
                "Invalid request payload. Refer to the REST API documentation and try again.",
            )
        }
    };
    let known: &[&str] = if cloud {
        &[
            "jql",
            "nextPageToken",
            "maxResults",
            "fields",
            "expand",
            "properties",
            "fieldsByKeys",
            "reconcileIssues",
        ]
    } else {
        &[
            "jql",
            "startAt",
            "maxResults",
            "fields",
            "expand",
            "properties",
            "fieldsByKeys",
            "validateQuery",
        ]
    };
    if b.keys().any(|k| !known.contains(&k.as_str())) {
        return Err(failed());
    }
    let string = |k: &str| -> Result<Option<String>, JiraError> {
        match b.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(failed()),
        }
    };
    let int = |k: &str| -> Result<Option<i64>, JiraError> {
        match b.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(failed),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| failed()),
            Some(_) => Err(failed()),
        }
    };
    let list = |k: &str| -> Result<Option<Vec<String>>, JiraError> {
        match b.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().map(str::to_owned).ok_or_else(failed))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            // `expand` is a comma-separated string in Cloud's bean.
            Some(Value::String(s)) => Ok(Some(
                s.split(',')
                    .map(|x| x.trim().to_owned())
                    .filter(|x| !x.is_empty())
                    .collect(),
            )),
            Some(_) => Err(failed()),
        }
    };
    let strict = match b.get("validateQuery") {
        Some(Value::Bool(false)) => false,
        Some(Value::String(s)) => {
            !matches!(s.to_ascii_lowercase().as_str(), "false" | "none" | "warn")
        }
        _ => true,
    };
    Ok(SearchReq {
        jql: string("jql")?,
        token: string("nextPageToken")?,
        start_at: int("startAt")?,
        max_results: int("maxResults")?,
        fields: list("fields")?,
        expand: list("expand")?,
        properties: list("properties")?,
        strict,
    })
}

fn fingerprint(jql: &str) -> u64 {
    jql.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn encode_token(offset: usize, jql: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("v1:{offset}:{:016x}", fingerprint(jql)))
}

/// The offset a page token stands for, if it was handed out for this query.
fn decode_token(token: &str, jql: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let mut parts = s.split(':');
    if parts.next()? != "v1" {
        return None;
    }
    let offset = parts.next()?.parse().ok()?;
    let fp = u64::from_str_radix(parts.next()?, 16).ok()?;
    (fp == fingerprint(jql)).then_some(offset)
}

fn jql_error(message: String) -> JiraError {
    JiraError::bad_request(&message)
}

fn unbounded() -> JiraError {
    JiraError::bad_request(
        "Unbounded JQL queries are not allowed here. Please add a search restriction to your \
         query.",
    )
}

/// Runs the JQL: matching ids in order, and warnings (`validateQuery=warn`).
fn run(
    sb: &Shared,
    me: usize,
    jql_text: &str,
    strict: bool,
    bounded: bool,
) -> Result<(Vec<u64>, Vec<String>), JiraError> {
    let st = sb.read();
    let q = jql::parse(jql_text).map_err(|e| jql_error(e.message))?;
    if bounded && !q.has_condition() {
        return Err(unbounded());
    }
    let compiled = jql::compile(
        &st,
        &q,
        Validate {
            strict,
            me,
            now: st.now(),
        },
    )
    .map_err(|e| jql_error(e.message))?;
    Ok((compiled.run(&st), compiled.warnings.clone()))
}

/// Renders the page's issues with the request's fields and expansions.
fn render_page(
    sb: &Shared,
    ctx: &Ctx,
    ids: &[u64],
    sel: &FieldSel,
    ex: &Expand,
    properties: Option<&[String]>,
) -> (Vec<Value>, Option<(Value, Value)>) {
    let st = sb.read();
    let r = Render::new(ctx, &st);
    let defs = field_defs(&st);
    let issues: Vec<Value> = ids
        .iter()
        .filter_map(|id| st.issues.get(id))
        .map(|i| {
            // Names and schema go on the page, not on each issue.
            let mut v = r.issue(
                i,
                &defs,
                sel,
                &Expand {
                    names: false,
                    schema: false,
                    ..ex.clone()
                },
            );
            if let Some(o) = v.as_object_mut() {
                o.remove("names");
                o.remove("schema");
            }
            super::issues::with_properties(&mut v, &st, i.id, properties);
            v
        })
        .collect();
    let meta = (ex.names || ex.schema).then(|| {
        let wanted: Vec<_> = defs.iter().filter(|f| sel.wants(f)).collect();
        (
            Value::Object(
                wanted
                    .iter()
                    .map(|f| (f.id.clone(), json!(f.name)))
                    .collect(),
            ),
            Value::Object(
                wanted
                    .iter()
                    .map(|f| (f.id.clone(), f.schema.clone()))
                    .collect(),
            ),
        )
    });
    (issues, meta)
}

// ----- Cloud -----

async fn enhanced(
    sb: Arc<Shared>,
    ctx: Ctx,
    me: usize,
    req: SearchReq,
) -> Result<Reply, JiraError> {
    let jql_text = req.jql.clone().unwrap_or_default();
    let offset = match req.token.as_deref().filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => decode_token(t, &jql_text).ok_or_else(|| {
            JiraError::bad_request("The provided nextPageToken is invalid or has expired.")
        })?,
    };
    let asked = req.max_results.unwrap_or(50);
    if !(1..=CLOUD_PAGE_IDS as i64).contains(&asked) {
        return Err(JiraError::bad_request(
            "The maxResults parameter must be between 1 and 5,000.",
        ));
    }
    if req.jql.as_deref().is_none_or(|j| j.trim().is_empty()) {
        return Err(unbounded());
    }
    let sel = FieldSel::parse(req.fields.as_deref(), "id");
    let ex = Expand::parse(req.expand.as_deref());
    let cap = if sel.ids_only() {
        CLOUD_PAGE_IDS
    } else {
        CLOUD_PAGE_WITH_FIELDS
    };
    let page_size = (asked as usize).min(cap);
    let (ids, warnings) = run(&sb, me, &jql_text, true, true)?;
    let end = offset.saturating_add(page_size).min(ids.len());
    let page = ids.get(offset.min(ids.len())..end).unwrap_or(&[]);
    let (issues, meta) = render_page(&sb, &ctx, page, &sel, &ex, req.properties.as_deref());
    let is_last = end >= ids.len();
    let mut out = json!({ "issues": issues, "isLast": is_last });
    if !is_last {
        out["nextPageToken"] = json!(encode_token(end, &jql_text));
    }
    if let Some((names, schema)) = meta {
        if ex.names {
            out["names"] = names;
        }
        if ex.schema {
            out["schema"] = schema;
        }
    }
    // Cloud's enhanced search takes no `validateQuery` and answers no warnings.
    let _ = warnings;
    Ok(Reply::ok(&out))
}

pub(crate) async fn jql_get(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(me): Actor,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, JiraError> {
    let req = from_params(&Params(q), &ctx)?;
    enhanced(sb, ctx, me, req).await
}

pub(crate) async fn jql_post(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(me): Actor,
    body: Bytes,
) -> Result<Reply, JiraError> {
    let b = parse_object(&body)?;
    let req = from_body(&b, &ctx, true)?;
    enhanced(sb, ctx, me, req).await
}

/// `POST /search/approximate-count` `{"jql": …}` → `{"count": N}` (exact here).
pub(crate) async fn approximate_count(
    State(sb): State<Arc<Shared>>,
    Actor(me): Actor,
    body: Bytes,
) -> Result<Reply, JiraError> {
    let b = parse_object(&body)?;
    let jql_text = match b.get("jql") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err(unbounded()),
    };
    let (ids, _) = run(&sb, me, &jql_text, true, true)?;
    Ok(Reply::ok(&json!({ "count": ids.len() })))
}

/// Cloud's old `/search`, removed in favour of `/search/jql`.
pub(crate) async fn removed() -> JiraError {
    JiraError::new(
        StatusCode::GONE,
        "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. \
         A full migration guideline is available at \
         https://developer.atlassian.com/changelog/#CHANGE-2046",
    )
}

// ----- Data Center -----

async fn offset(sb: Arc<Shared>, ctx: Ctx, me: usize, req: SearchReq) -> Result<Reply, JiraError> {
    let jql_text = req.jql.clone().unwrap_or_default();
    let start = req.start_at.unwrap_or(0).max(0) as usize;
    let max = match req.max_results {
        None => 50,
        Some(n) if n < 0 => 50,
        Some(n) => (n as usize).min(DC_MAX_RESULTS),
    };
    let sel = FieldSel::parse(req.fields.as_deref(), "*navigable");
    let ex = Expand::parse(req.expand.as_deref());
    let (ids, warnings) = run(&sb, me, &jql_text, req.strict, false)?;
    let end = start.saturating_add(max).min(ids.len());
    let page = ids.get(start.min(ids.len())..end).unwrap_or(&[]);
    let (issues, meta) = render_page(&sb, &ctx, page, &sel, &ex, req.properties.as_deref());
    let mut out = json!({
        "expand": "schema,names",
        "startAt": start,
        "maxResults": max,
        "total": ids.len(),
        "issues": issues,
    });
    if let Some((names, schema)) = meta {
        if ex.names {
            out["names"] = names;
        }
        if ex.schema {
            out["schema"] = schema;
        }
    }
    if !warnings.is_empty() {
        out["warningMessages"] = json!(warnings);
    }
    Ok(Reply::ok(&out))
}

pub(crate) async fn offset_get(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(me): Actor,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, JiraError> {
    let req = from_params(&Params(q), &ctx)?;
    offset(sb, ctx, me, req).await
}

pub(crate) async fn offset_post(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(me): Actor,
    body: Bytes,
) -> Result<Reply, JiraError> {
    let b = parse_object(&body)?;
    let req = from_body(&b, &ctx, false)?;
    offset(sb, ctx, me, req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_only_for_their_query() {
        let t = encode_token(300, "project = PROJ");
        assert_eq!(decode_token(&t, "project = PROJ"), Some(300));
        assert_eq!(decode_token(&t, "project = OTHER"), None);
        assert_eq!(decode_token("garbage!", "project = PROJ"), None);
    }
}
