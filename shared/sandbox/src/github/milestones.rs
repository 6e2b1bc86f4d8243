//! Milestone handlers: list (state, sort, direction, paging), get, create, update, delete
//! (which clears the milestone from its issues).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Extension;
use serde_json::Value;

use super::http::{check_repo, parse_body, Actor, ApiError, Ctx, Params, Reply};
use super::pacific;
use super::render::Render;
use super::schema::{Shape, STRING, STRING_OR_NULL};
use super::state::{Milestone, Ts};
use super::Shared;

type RepoPath = Path<(String, String)>;
type ItemPath = Path<(String, String, String)>;

fn number(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>().map_err(|_| ApiError::not_found())
}

/// `GET /repos/{owner}/{repo}/milestones`: open by default, by `due_on` ascending.
pub(crate) async fn list(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo)): RepoPath,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply, ApiError> {
    let q = Params(q);
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let state = match q.get("state").unwrap_or("open") {
        "closed" => Some(false),
        "all" => None,
        _ => Some(true),
    };
    let mut all: Vec<&Milestone> = st
        .milestones
        .values()
        .filter(|m| state.is_none_or(|open| m.open == open))
        .collect();
    if q.get("sort") == Some("completeness") {
        // Fraction closed, compared exactly as closed_a * total_b vs closed_b * total_a.
        all.sort_by(|a, b| {
            let (ta, tb) = (
                a.open_issues + a.closed_issues,
                b.open_issues + b.closed_issues,
            );
            (u128::from(a.closed_issues) * u128::from(tb.max(1)))
                .cmp(&(u128::from(b.closed_issues) * u128::from(ta.max(1))))
                .then(a.number.cmp(&b.number))
        });
    } else {
        // Milestones without a due date come last.
        all.sort_by_key(|m| (m.due_on.is_none(), m.due_on, m.number));
    }
    if q.desc(false) {
        all.reverse();
    }
    let paging = q.page();
    let (page, total) = paging.take(all.into_iter());
    let r = Render::new(&ctx, &st);
    let body = Value::Array(page.into_iter().map(|m| r.milestone(m)).collect());
    Ok(Reply::ok(&body).with_link(paging.link(&ctx, &q, total)))
}

pub(crate) async fn get_one(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, n)): ItemPath,
) -> Result<Reply, ApiError> {
    let st = sb.read();
    check_repo(&st, &owner, &repo)?;
    let m = st.milestone(number(&n)?)?;
    Ok(Reply::ok(&Render::new(&ctx, &st).milestone(m)))
}

fn invalid(field: &str) -> ApiError {
    ApiError::validation("Milestone", field, "invalid")
}

/// The writable fields of a milestone body; absent = unchanged.
#[derive(Debug, Default)]
struct MilestoneChange {
    title: Option<String>,
    open: Option<bool>,
    description: Option<Option<String>>,
    due_on: Option<Option<Ts>>,
}

impl MilestoneChange {
    /// Reads a milestone POST (`create`: `title` required) or PATCH body: its shape against
    /// GitHub's schema, then the due date. `due_on` may be a timestamp or a bare date
    /// (PyGithub sends a `date` as `YYYY-MM-DD`); `null` clears it.
    fn parse(bytes: &[u8], create: bool) -> Result<MilestoneChange, ApiError> {
        let v = parse_body(bytes)?;
        let mut shape = Shape::of(&v)?;
        if create {
            shape.required("title");
        }
        let o = shape
            .kinds("title", STRING)
            .one_of("state", &["open", "closed"], false)
            .kinds("description", STRING_OR_NULL)
            .kinds("due_on", STRING_OR_NULL)
            .check()?;
        let text = |k: &str| o.get(k).map(|v| v.as_str().map(str::to_owned));
        Ok(MilestoneChange {
            title: text("title").flatten(),
            open: o.get("state").map(|s| s.as_str() != Some("closed")),
            description: text("description"),
            due_on: match o.get("due_on") {
                None => None,
                Some(Value::String(s)) => Some(Some(
                    pacific::parse_due_on(s).ok_or_else(|| invalid("due_on"))?,
                )),
                Some(_) => Some(None),
            },
        })
    }

    fn apply(self, m: &mut Milestone) {
        if let Some(t) = self.title {
            m.title = t;
        }
        if let Some(o) = self.open {
            m.open = o;
        }
        if let Some(d) = self.description {
            m.description = d;
        }
        if let Some(d) = self.due_on {
            m.due_on = d;
        }
    }
}

pub(crate) async fn create(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Actor(actor): Actor,
    Path((owner, repo)): RepoPath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let change = MilestoneChange::parse(&body, true)?;
    let mut m = Milestone {
        id: 0,
        number: 0,
        title: String::new(),
        description: None,
        open: true,
        creator: 0,
        created_at: 0,
        updated_at: 0,
        closed_at: None,
        due_on: None,
        open_issues: 0,
        closed_issues: 0,
    };
    change.apply(&mut m);
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    let n = st.create_milestone(m, actor)?;
    let m = st.milestone(n)?;
    Ok(Reply::created(&Render::new(&ctx, &st).milestone(m)))
}

pub(crate) async fn update(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, n)): ItemPath,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let n = number(&n)?;
    let change = MilestoneChange::parse(&body, false)?;
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.update_milestone(n, |m| change.apply(m))?;
    let m = st.milestone(n)?;
    Ok(Reply::ok(&Render::new(&ctx, &st).milestone(m)))
}

pub(crate) async fn delete(
    State(sb): State<Arc<Shared>>,
    Path((owner, repo, n)): ItemPath,
) -> Result<Reply, ApiError> {
    let n = number(&n)?;
    let mut st = sb.write();
    check_repo(&st, &owner, &repo)?;
    st.delete_milestone(n)?;
    Ok(Reply::no_content())
}
