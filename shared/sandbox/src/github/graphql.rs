//! `POST /graphql` (and `/api/graphql`, the Enterprise form): the subset of GitHub's GraphQL
//! API (v4) that backtrack and common clients read — a repository's issues and pull requests
//! with their comments, labels, assignees, milestone and reactions, and `rateLimit`.
//!
//! A query is parsed (graphql-rust's parser), checked against the subset's types before
//! anything runs (an unknown field is refused as GitHub refuses it, `undefinedField`, with no
//! data), priced, charged to the GraphQL rate window, then executed. Answers follow GitHub's
//! public schema (the test suite validates them against `@octokit/graphql-schema`): GitHub's
//! legacy node ids (the REST `node_id`s), opaque cursors, `pageInfo`, the error shapes
//! (`NOT_FOUND` with `path`, `MISSING_PAGINATION_BOUNDARIES`, `EXCESSIVE_PAGINATION`,
//! `INVALID_CURSOR_ARGUMENTS`, parse errors with `locations`).
//!
//! Cost is GitHub's documented point calculation ("Calculating a rate limit score before
//! running the call"): each connection with a `first`/`last` needs one request per node of
//! the connections it sits in, the top-level ones one; the sum divided by 100, rounded to the
//! nearest whole number, is the cost, at least 1. `nodeCount` is the same walk multiplying page
//! sizes. A connection read only for its `totalCount` (no `first`/`last`) counts nothing.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine as _;
use graphql_parser::query::{
    Definition, Document, Field, OperationDefinition, Selection, SelectionSet, TypeCondition,
    Value as GqlValue,
};
use graphql_parser::Pos;
use serde_json::{json, Map, Value};

use super::http::{Actor, Ctx, Reply};
use super::render::{self, node_id, Render};
use super::state::{Comment, Issue, Label, Milestone, State as Store, Subject, UserKind};
use super::Shared;

/// The largest `first`/`last` GitHub accepts.
const MAX_PAGE: i64 = 100;
/// GitHub's node limit per call.
const MAX_NODES: u64 = 500_000;
const DOCS: &str = "https://docs.github.com/graphql";

type Sel<'a> = SelectionSet<'a, &'a str>;
type Fld<'a> = Field<'a, &'a str>;
type Frags<'a> = HashMap<&'a str, (&'a str, &'a Sel<'a>)>;

/// The handler. Anonymous calls are refused before parsing, as on GitHub.
pub(crate) async fn query(
    State(sb): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    actor: Option<Extension<Actor>>,
    body: Bytes,
) -> Response {
    if !sb.opts.graphql {
        return super::http::ApiError::not_found().into_response();
    }
    if actor.is_none() {
        return Reply::json(
            StatusCode::UNAUTHORIZED,
            &json!({"message": "This endpoint requires you to be authenticated.",
                    "documentation_url": format!("{DOCS}/guides/forming-calls-with-graphql#authenticating-with-graphql")}),
        )
        .into_response();
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return Reply::json(
            StatusCode::BAD_REQUEST,
            &json!({"message": "Problems parsing JSON", "documentation_url": DOCS}),
        )
        .into_response();
    };
    let Some(text) = request.get("query").and_then(Value::as_str) else {
        return Reply::ok(&json!({"errors": [{
            "message": "A query attribute must be specified and must be a string."}]}))
        .into_response();
    };
    let Some(variables) = variables(&request) else {
        return Reply::ok(&json!({"errors": [{
                "message": "Variables are invalid JSON."}]}))
        .into_response();
    };
    let operation = request.get("operationName").and_then(Value::as_str);
    let answer = run(&sb, &ctx, text, operation, &variables);
    Reply::ok(&answer).into_response()
}

/// A request's variables: an object, or (clients send them so too, and GitHub decodes it)
/// a JSON string holding one; `None` when they are neither.
fn variables(request: &Value) -> Option<Map<String, Value>> {
    match request.get("variables") {
        Some(Value::Object(m)) => Some(m.clone()),
        Some(Value::String(s)) if !s.trim().is_empty() => match serde_json::from_str(s) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        },
        _ => Some(Map::new()),
    }
}

/// The repository a GraphQL request reads (`repository(owner:, name:)` at the top of the
/// operation it runs), so the multi-repository front can hand it to that repository's
/// sandbox. `None` when the body does not parse or names none: the front then sends it to
/// the first repository, which answers the error as GitHub would.
pub(crate) fn repository_named(body: &[u8]) -> Option<(String, String)> {
    let request = serde_json::from_slice::<Value>(body).ok()?;
    let text = request.get("query")?.as_str()?;
    let vars: HashMap<String, Value> = variables(&request)?.into_iter().collect();
    let doc: Document<'_, &str> = graphql_parser::parse_query(text).ok()?;
    let wanted = request.get("operationName").and_then(Value::as_str);
    doc.definitions.iter().find_map(|def| {
        let Definition::Operation(op) = def else {
            return None;
        };
        if wanted.is_some_and(|w| op_name(op) != Some(w)) {
            return None;
        }
        let set = match op {
            OperationDefinition::SelectionSet(s) => s,
            OperationDefinition::Query(q) => &q.selection_set,
            _ => return None,
        };
        set.items.iter().find_map(|item| match item {
            Selection::Field(f) if f.name == "repository" => {
                let owner = arg(f, "owner", &vars);
                let name = arg(f, "name", &vars);
                Some((owner.as_str()?.to_owned(), name.as_str()?.to_owned()))
            }
            _ => None,
        })
    })
}

/// Parses, checks, prices, charges and executes one query; the JSON answer.
fn run(
    sb: &Shared,
    ctx: &Ctx,
    text: &str,
    operation: Option<&str>,
    vars: &Map<String, Value>,
) -> Value {
    let doc: Document<'_, &str> = match graphql_parser::parse_query(text) {
        Ok(d) => d,
        Err(e) => {
            let msg = e.to_string();
            let (line, column) = parse_error_position(&msg);
            return json!({"errors": [{
                "message": format!("Parse error: {}", msg.trim().replace('\n', " ")),
                "locations": [{"line": line, "column": column}]}]});
        }
    };
    let mut frags: Frags<'_> = HashMap::new();
    let mut ops = Vec::new();
    for def in &doc.definitions {
        match def {
            Definition::Fragment(f) => {
                let TypeCondition::On(on) = &f.type_condition;
                frags.insert(f.name, (on, &f.selection_set));
            }
            Definition::Operation(op) => ops.push(op),
        }
    }
    let op = match operation {
        Some(name) => ops.iter().find(|op| op_name(op) == Some(name)).copied(),
        None if ops.len() == 1 => ops.first().copied(),
        None => None,
    };
    let Some(op) = op else {
        let message = match operation {
            Some(name) => format!("No operation named \"{name}\""),
            None => "An operation name is required".to_owned(),
        };
        return json!({"errors": [{"message": message}]});
    };
    let (selection, var_defs) = match op {
        OperationDefinition::Query(q) => (&q.selection_set, q.variable_definitions.as_slice()),
        OperationDefinition::SelectionSet(s) => (s, &[][..]),
        OperationDefinition::Mutation(m) => {
            return json!({"errors": [{"message": "The sandbox serves GraphQL queries only; use the REST API for writes.",
                "locations": [loc(m.position)]}]})
        }
        OperationDefinition::Subscription(s) => {
            return json!({"errors": [{"message": "Subscriptions are not supported.",
                "locations": [loc(s.position)]}]})
        }
    };
    // Variables: given ones, else declared defaults.
    let mut bound: HashMap<String, Value> = HashMap::new();
    for d in var_defs {
        let given = vars.get(d.name).cloned();
        let value = given.or_else(|| {
            d.default_value
                .as_ref()
                .map(|v| literal(v, &HashMap::new()))
        });
        let required = matches!(d.var_type, graphql_parser::query::Type::NonNullType(_));
        match value {
            Some(Value::Null) | None if required => {
                return json!({"errors": [{
                    "extensions": {"value": null, "problems": [{"path": [], "explanation": "Expected value to not be null"}]},
                    "locations": [loc(d.position)],
                    "message": format!("Variable ${} of type {} was provided invalid value", d.name, d.var_type)}]});
            }
            Some(v) => {
                bound.insert(d.name.to_owned(), v);
            }
            None => {}
        }
    }
    let mut check = Check {
        frags: &frags,
        vars: &bound,
        errors: Vec::new(),
        requests: 0,
        nodes: 0,
    };
    check.selection("Query", selection, &mut vec!["query".into()], 1);
    if !check.errors.is_empty() {
        return json!({"errors": check.errors});
    }
    if check.nodes > MAX_NODES {
        return json!({"errors": [{"message": format!(
            "By the time this query traverses to the nodes connection, it is requesting up to {} possible nodes which exceeds the maximum limit of {MAX_NODES}.", check.nodes)}]});
    }
    let cost = ((check.requests as f64) / 100.0).round().max(1.0) as u64;
    let rate = {
        let mut window = sb.graphql_rate();
        window.spend_points(cost);
        window.rate()
    };
    let st = sb.read();
    let mut exec = Exec {
        r: Render::new(ctx, &st),
        st: &st,
        frags: &frags,
        vars: &bound,
        errors: Vec::new(),
        rate: RateInfo {
            cost,
            nodes: check.nodes,
            limit: rate.0,
            remaining: rate.1,
            used: rate.2,
            reset: rate.3,
        },
    };
    let data = exec.object(&Obj::Query, selection, &mut Vec::new());
    let mut out = Map::new();
    if !exec.errors.is_empty() {
        out.insert("errors".into(), Value::Array(exec.errors));
    }
    out.insert("data".into(), data.map_or(Value::Null, Value::Object));
    Value::Object(out)
}

fn op_name<'a>(op: &OperationDefinition<'a, &'a str>) -> Option<&'a str> {
    match op {
        OperationDefinition::Query(q) => q.name,
        OperationDefinition::Mutation(m) => m.name,
        OperationDefinition::Subscription(s) => s.name,
        OperationDefinition::SelectionSet(_) => None,
    }
}

fn loc(p: Pos) -> Value {
    json!({"line": p.line, "column": p.column})
}

/// graphql-parser reports `Parse error at 3:5`; GitHub reports the position in `locations`.
fn parse_error_position(msg: &str) -> (u64, u64) {
    msg.split(" at ")
        .nth(1)
        .and_then(|rest| {
            let pos = rest.split_whitespace().next()?;
            let (l, c) = pos.split_once(':')?;
            Some((
                l.parse().ok()?,
                c.trim_end_matches(|ch: char| !ch.is_ascii_digit())
                    .parse()
                    .ok()?,
            ))
        })
        .unwrap_or((1, 1))
}

/// A GraphQL literal (with variables substituted) as JSON.
fn literal<'a>(v: &GqlValue<'a, &'a str>, vars: &HashMap<String, Value>) -> Value {
    match v {
        GqlValue::Variable(name) => vars.get(*name).cloned().unwrap_or(Value::Null),
        GqlValue::Int(n) => n.as_i64().map_or(Value::Null, Value::from),
        GqlValue::Float(f) => json!(f),
        GqlValue::String(s) => Value::String(s.clone()),
        GqlValue::Boolean(b) => Value::Bool(*b),
        GqlValue::Null => Value::Null,
        GqlValue::Enum(e) => Value::String((*e).to_owned()),
        GqlValue::List(items) => Value::Array(items.iter().map(|i| literal(i, vars)).collect()),
        GqlValue::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| ((*k).to_owned(), literal(v, vars)))
                .collect(),
        ),
    }
}

fn arg<'a>(f: &Fld<'a>, name: &str, vars: &HashMap<String, Value>) -> Value {
    f.arguments
        .iter()
        .find(|(k, _)| *k == name)
        .map_or(Value::Null, |(_, v)| literal(v, vars))
}

// ---------------------------------------------------------------------------------------
// The types served: what each field returns.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Scalar,
    Object,
    List,
    Connection,
}

const ACTOR: &[&str] = &["login", "avatarUrl", "url", "resourcePath"];
const ISSUEISH: &[(&str, &str, Shape)] = &[
    ("id", "ID", Shape::Scalar),
    ("databaseId", "Int", Shape::Scalar),
    ("number", "Int", Shape::Scalar),
    ("title", "String", Shape::Scalar),
    ("body", "String", Shape::Scalar),
    ("closed", "Boolean", Shape::Scalar),
    ("closedAt", "DateTime", Shape::Scalar),
    ("createdAt", "DateTime", Shape::Scalar),
    ("updatedAt", "DateTime", Shape::Scalar),
    ("url", "URI", Shape::Scalar),
    ("resourcePath", "URI", Shape::Scalar),
    ("locked", "Boolean", Shape::Scalar),
    ("activeLockReason", "LockReason", Shape::Scalar),
    (
        "authorAssociation",
        "CommentAuthorAssociation",
        Shape::Scalar,
    ),
    ("author", "Actor", Shape::Object),
    ("comments", "IssueCommentConnection", Shape::Connection),
    ("labels", "LabelConnection", Shape::Connection),
    ("assignees", "UserConnection", Shape::Connection),
    ("milestone", "Milestone", Shape::Object),
    ("reactionGroups", "ReactionGroup", Shape::List),
];

/// `(return type, shape)` of `ty.field`, or `None` where the type has no such field.
fn field_type(ty: &str, field: &str) -> Option<(&'static str, Shape)> {
    use Shape::*;
    let table: &[(&str, &str, Shape)] = match ty {
        "Query" => &[
            ("repository", "Repository", Object),
            ("rateLimit", "RateLimit", Object),
            ("viewer", "User", Object),
        ],
        "RateLimit" => &[
            ("cost", "Int", Scalar),
            ("limit", "Int", Scalar),
            ("nodeCount", "Int", Scalar),
            ("remaining", "Int", Scalar),
            ("used", "Int", Scalar),
            ("resetAt", "DateTime", Scalar),
        ],
        "Repository" => &[
            ("id", "ID", Scalar),
            ("databaseId", "Int", Scalar),
            ("name", "String", Scalar),
            ("nameWithOwner", "String", Scalar),
            ("url", "URI", Scalar),
            ("hasIssuesEnabled", "Boolean", Scalar),
            ("issues", "IssueConnection", Connection),
            ("pullRequests", "PullRequestConnection", Connection),
            ("issue", "Issue", Object),
            ("pullRequest", "PullRequest", Object),
        ],
        "PageInfo" => &[
            ("hasNextPage", "Boolean", Scalar),
            ("hasPreviousPage", "Boolean", Scalar),
            ("startCursor", "String", Scalar),
            ("endCursor", "String", Scalar),
        ],
        "Issue" => {
            if field == "state" {
                return Some(("IssueState", Scalar));
            }
            if field == "stateReason" {
                return Some(("IssueStateReason", Scalar));
            }
            ISSUEISH
        }
        "PullRequest" => match field {
            "state" => return Some(("PullRequestState", Scalar)),
            "isDraft" | "merged" => return Some(("Boolean", Scalar)),
            "mergedAt" => return Some(("DateTime", Scalar)),
            _ => ISSUEISH,
        },
        "IssueComment" => &[
            ("id", "ID", Scalar),
            ("databaseId", "Int", Scalar),
            ("body", "String", Scalar),
            ("createdAt", "DateTime", Scalar),
            ("updatedAt", "DateTime", Scalar),
            ("url", "URI", Scalar),
            ("authorAssociation", "CommentAuthorAssociation", Scalar),
            ("author", "Actor", Object),
            ("reactionGroups", "ReactionGroup", List),
            ("issue", "Issue", Object),
        ],
        "Actor" => return ACTOR.contains(&field).then_some(("String", Scalar)),
        "User" | "Bot" | "Organization" | "Mannequin" => {
            if ACTOR.contains(&field) {
                return Some(("String", Scalar));
            }
            return match (ty, field) {
                (_, "id") => Some(("ID", Scalar)),
                (_, "databaseId") => Some(("Int", Scalar)),
                ("User", "isSiteAdmin") => Some(("Boolean", Scalar)),
                ("User" | "Organization", "name") => Some(("String", Scalar)),
                _ => None,
            };
        }
        "Label" => &[
            ("id", "ID", Scalar),
            ("name", "String", Scalar),
            ("color", "String", Scalar),
            ("description", "String", Scalar),
            ("isDefault", "Boolean", Scalar),
            ("url", "URI", Scalar),
        ],
        "Milestone" => &[
            ("id", "ID", Scalar),
            ("number", "Int", Scalar),
            ("title", "String", Scalar),
            ("description", "String", Scalar),
            ("state", "MilestoneState", Scalar),
            ("dueOn", "DateTime", Scalar),
            ("createdAt", "DateTime", Scalar),
            ("closedAt", "DateTime", Scalar),
            ("url", "URI", Scalar),
        ],
        "ReactionGroup" => &[
            ("content", "ReactionContent", Scalar),
            ("reactors", "ReactorConnection", Connection),
        ],
        "ReactorConnection" => &[("totalCount", "Int", Scalar)],
        conn if conn.ends_with("Connection") => {
            let node = node_type(conn);
            return match field {
                "totalCount" => Some(("Int", Scalar)),
                "pageInfo" => Some(("PageInfo", Object)),
                "nodes" => Some((node, List)),
                "edges" => Some((edge_type(node), List)),
                _ => None,
            };
        }
        edge if edge.ends_with("Edge") => {
            return match field {
                "cursor" => Some(("String", Scalar)),
                "node" => Some((node_type(edge), Object)),
                _ => None,
            }
        }
        _ => return None,
    };
    table
        .iter()
        .find(|(name, _, _)| *name == field)
        .map(|(_, t, s)| (*t, *s))
}

fn node_type(conn_or_edge: &str) -> &'static str {
    match conn_or_edge
        .trim_end_matches("Connection")
        .trim_end_matches("Edge")
    {
        "Issue" => "Issue",
        "PullRequest" => "PullRequest",
        "IssueComment" => "IssueComment",
        "Label" => "Label",
        "User" => "User",
        _ => "Node",
    }
}

fn edge_type(node: &str) -> &'static str {
    match node {
        "Issue" => "IssueEdge",
        "PullRequest" => "PullRequestEdge",
        "IssueComment" => "IssueCommentEdge",
        "Label" => "LabelEdge",
        _ => "UserEdge",
    }
}

/// Whether `ty.field` is non-null in GitHub's schema among the fields an error can null
/// (connections refused for their arguments).
fn non_null(ty: &str, field: &str) -> bool {
    matches!(ty, "Repository" | "Issue" | "PullRequest")
        && matches!(field, "issues" | "pullRequests" | "comments" | "assignees")
}

/// Whether a fragment on `cond` applies to an object of concrete type `ty`.
fn applies(cond: &str, ty: &str) -> bool {
    cond == ty
        || cond == "Node"
        || (cond == "Actor" && matches!(ty, "User" | "Bot" | "Organization" | "Mannequin"))
        || (matches!(cond, "Comment" | "Reactable" | "UniformResourceLocatable")
            && matches!(ty, "Issue" | "PullRequest" | "IssueComment"))
}

const KNOWN_TYPES: &[&str] = &[
    "Query",
    "RateLimit",
    "Repository",
    "PageInfo",
    "Issue",
    "PullRequest",
    "IssueComment",
    "Actor",
    "User",
    "Bot",
    "Organization",
    "Mannequin",
    "Label",
    "Milestone",
    "ReactionGroup",
    "Node",
    "Comment",
    "Reactable",
    "UniformResourceLocatable",
];

// ---------------------------------------------------------------------------------------
// Static checks and the price.

struct Check<'q, 'a> {
    frags: &'q Frags<'a>,
    vars: &'q HashMap<String, Value>,
    errors: Vec<Value>,
    /// GitHub's "requests needed" sum.
    requests: u64,
    nodes: u64,
}

impl<'a> Check<'_, 'a> {
    /// `mult`: how many times this selection runs (the product of enclosing page sizes).
    fn selection(&mut self, ty: &str, sel: &'a Sel<'a>, path: &mut Vec<String>, mult: u64) {
        for item in &sel.items {
            match item {
                Selection::Field(f) => self.field(ty, f, path, mult),
                Selection::InlineFragment(fr) => {
                    let on = match &fr.type_condition {
                        Some(TypeCondition::On(on)) => *on,
                        None => ty,
                    };
                    if !KNOWN_TYPES.contains(&on) {
                        self.unknown_type(on, fr.position, path);
                        continue;
                    }
                    self.selection(on, &fr.selection_set, path, mult);
                }
                Selection::FragmentSpread(sp) => match self.frags.get(sp.fragment_name) {
                    Some((on, s)) => {
                        if !KNOWN_TYPES.contains(on) {
                            self.unknown_type(on, sp.position, path);
                            continue;
                        }
                        self.selection(on, s, path, mult);
                    }
                    None => self.errors.push(json!({
                        "path": path, "extensions": {"code": "useAndDefineFragment", "fragmentName": sp.fragment_name},
                        "locations": [loc(sp.position)],
                        "message": format!("Fragment {} was used, but not defined", sp.fragment_name)})),
                },
            }
        }
    }

    fn unknown_type(&mut self, on: &str, at: Pos, path: &[String]) {
        self.errors.push(json!({
            "path": path, "extensions": {"code": "undefinedType", "typeName": on},
            "locations": [loc(at)],
            "message": format!("No such type {on}, so it can't be a fragment condition")}));
    }

    fn field(&mut self, ty: &str, f: &'a Fld<'a>, path: &mut Vec<String>, mult: u64) {
        let key = f.alias.unwrap_or(f.name);
        if f.name == "__typename" {
            return;
        }
        path.push(key.to_owned());
        let Some((ret, shape)) = field_type(ty, f.name) else {
            self.errors.push(json!({
                "path": path, "extensions": {"code": "undefinedField", "typeName": ty, "fieldName": f.name},
                "locations": [loc(f.position)],
                "message": format!("Field '{}' doesn't exist on type '{ty}'", f.name)}));
            path.pop();
            return;
        };
        let composite = shape != Shape::Scalar;
        if composite && f.selection_set.items.is_empty() {
            self.errors.push(json!({
                "path": path, "extensions": {"code": "selectionMismatch", "nodeName": format!("field '{}'", f.name), "typeName": ret},
                "locations": [loc(f.position)],
                "message": format!("Field must have selections (field '{}' returns {ret} but has no selections. Did you mean '{} {{ ... }}'?)", f.name, f.name)}));
        } else if !composite && !f.selection_set.items.is_empty() {
            self.errors.push(json!({
                "path": path, "extensions": {"code": "selectionMismatch", "nodeName": format!("field '{}'", f.name), "typeName": ret},
                "locations": [loc(f.position)],
                "message": format!("Selections can't be made on scalars (field '{}' returns {ret} but has selections [{}])", f.name,
                    f.selection_set.items.iter().filter_map(|s| match s { Selection::Field(x) => Some(x.name), _ => None }).collect::<Vec<_>>().join(", "))}));
        }
        let mut inner = mult;
        if shape == Shape::Connection {
            let page = [arg(f, "first", self.vars), arg(f, "last", self.vars)]
                .iter()
                .find_map(Value::as_i64);
            if let Some(n) = page {
                self.requests += mult;
                let n = u64::try_from(n.clamp(0, MAX_PAGE)).unwrap_or(0);
                self.nodes += mult * n;
                inner = mult * n.max(1);
            }
        }
        if composite {
            self.selection(ret, &f.selection_set, path, inner);
        }
        path.pop();
    }
}

// ---------------------------------------------------------------------------------------
// Execution.

struct RateInfo {
    cost: u64,
    nodes: u64,
    limit: u64,
    remaining: u64,
    used: u64,
    reset: i64,
}

/// An object being resolved.
#[derive(Clone)]
enum Obj<'s> {
    Query,
    RateLimit,
    Repository,
    Issue(&'s Issue),
    Comment(&'s Comment),
    User(usize),
    Label(&'s Label),
    Milestone(&'s Milestone),
    PageInfo {
        next: bool,
        prev: bool,
        start: Option<String>,
        end: Option<String>,
    },
    Connection(Conn<'s>),
    Edge(String, Box<Obj<'s>>),
    ReactionGroup(&'static str, usize),
    Reactors(usize),
}

#[derive(Clone)]
struct Conn<'s> {
    total: usize,
    page: Vec<(String, Obj<'s>)>,
    next: bool,
    prev: bool,
}

impl Obj<'_> {
    fn type_name(&self, st: &Store) -> &'static str {
        match self {
            Obj::Query => "Query",
            Obj::RateLimit => "RateLimit",
            Obj::Repository => "Repository",
            Obj::Issue(i) if i.pull.is_some() => "PullRequest",
            Obj::Issue(_) => "Issue",
            Obj::Comment(_) => "IssueComment",
            Obj::User(u) => match st.users.get(*u).map(|u| u.kind) {
                Some(UserKind::Bot { .. }) => "Bot",
                Some(UserKind::Organization) => "Organization",
                _ => "User",
            },
            Obj::Label(_) => "Label",
            Obj::Milestone(_) => "Milestone",
            Obj::PageInfo { .. } => "PageInfo",
            Obj::Connection(_) => "Connection",
            Obj::Edge(..) => "Edge",
            Obj::ReactionGroup(..) => "ReactionGroup",
            Obj::Reactors(_) => "ReactorConnection",
        }
    }
}

struct Exec<'s, 'q, 'a> {
    r: Render<'s>,
    st: &'s Store,
    frags: &'q Frags<'a>,
    vars: &'q HashMap<String, Value>,
    errors: Vec<Value>,
    rate: RateInfo,
}

/// A cursor: opaque to clients, the position key of an element in its list's order.
fn cursor(key: (i64, u64)) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("cursor:v2:{}:{}", key.0, key.1))
}

fn parse_cursor(c: &str) -> Option<(i64, u64)> {
    let raw = base64::engine::general_purpose::STANDARD.decode(c).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let rest = text.strip_prefix("cursor:v2:")?;
    let (a, b) = rest.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

impl<'s, 'a> Exec<'s, '_, 'a> {
    /// The object's selected fields, or `None` when a non-null field of it came out null
    /// (an error there): GraphQL then nulls the object itself, up to a nullable parent.
    fn object(
        &mut self,
        obj: &Obj<'s>,
        sel: &'a Sel<'a>,
        path: &mut Vec<Value>,
    ) -> Option<Map<String, Value>> {
        let mut out = Map::new();
        let mut whole = true;
        self.collect(obj, sel, path, &mut out, &mut whole);
        whole.then_some(out)
    }

    fn collect(
        &mut self,
        obj: &Obj<'s>,
        sel: &'a Sel<'a>,
        path: &mut Vec<Value>,
        out: &mut Map<String, Value>,
        whole: &mut bool,
    ) {
        let ty = obj.type_name(self.st);
        for item in &sel.items {
            match item {
                Selection::Field(f) => {
                    let key = f.alias.unwrap_or(f.name);
                    path.push(Value::String(key.to_owned()));
                    let v = self.field(obj, f, path);
                    path.pop();
                    if v.is_null() && non_null(ty, f.name) {
                        *whole = false;
                    }
                    out.insert(key.to_owned(), v);
                }
                Selection::InlineFragment(fr) => {
                    let on = match &fr.type_condition {
                        Some(TypeCondition::On(on)) => on,
                        None => ty,
                    };
                    if applies(on, ty) {
                        self.collect(obj, &fr.selection_set, path, out, whole);
                    }
                }
                Selection::FragmentSpread(sp) => {
                    if let Some((on, s)) = self.frags.get(sp.fragment_name) {
                        if applies(on, ty) {
                            self.collect(obj, s, path, out, whole);
                        }
                    }
                }
            }
        }
    }

    fn error(&mut self, path: &[Value], f: &Fld<'_>, kind: &str, message: String) {
        self.errors.push(
            json!({"type": kind, "path": path, "locations": [loc(f.position)], "message": message}),
        );
    }

    fn field(&mut self, obj: &Obj<'s>, f: &'a Fld<'a>, path: &mut Vec<Value>) -> Value {
        if f.name == "__typename" {
            return Value::String(obj.type_name(self.st).to_owned());
        }
        let child = match self.resolve(obj, f, path) {
            Resolved::Leaf(v) => return v,
            Resolved::Null => return Value::Null,
            Resolved::One(o) => o,
            Resolved::Many(list) => {
                let mut items = Vec::with_capacity(list.len());
                for (i, o) in list.iter().enumerate() {
                    path.push(Value::from(i));
                    items.push(
                        self.object(o, &f.selection_set, path)
                            .map_or(Value::Null, Value::Object),
                    );
                    path.pop();
                }
                return Value::Array(items);
            }
        };
        self.object(&child, &f.selection_set, path)
            .map_or(Value::Null, Value::Object)
    }

    fn resolve(&mut self, obj: &Obj<'s>, f: &'a Fld<'a>, path: &[Value]) -> Resolved<'s> {
        use Resolved::{Leaf, Many, Null, One};
        let st = self.st;
        let name = f.name;
        match obj {
            Obj::Query => {
                match name {
                    "rateLimit" => One(Obj::RateLimit),
                    "viewer" => One(Obj::User(st.org)),
                    "repository" => {
                        let owner = arg(f, "owner", self.vars);
                        let repo = arg(f, "name", self.vars);
                        let (owner, repo) =
                            (owner.as_str().unwrap_or(""), repo.as_str().unwrap_or(""));
                        if owner.eq_ignore_ascii_case(&st.owner)
                            && repo.eq_ignore_ascii_case(&st.repo)
                        {
                            One(Obj::Repository)
                        } else {
                            self.error(path, f, "NOT_FOUND", format!("Could not resolve to a Repository with the name '{owner}/{repo}'."));
                            Null
                        }
                    }
                    _ => Null,
                }
            }
            Obj::RateLimit => Leaf(match name {
                "cost" => self.rate.cost.into(),
                "limit" => self.rate.limit.into(),
                "nodeCount" => self.rate.nodes.into(),
                "remaining" => self.rate.remaining.into(),
                "used" => self.rate.used.into(),
                "resetAt" => render::ts(self.rate.reset),
                _ => Value::Null,
            }),
            Obj::Repository => {
                match name {
                    "id" => Leaf(node_id("Repository", st.repo_id).into()),
                    "databaseId" => Leaf(st.repo_id.into()),
                    "name" => Leaf(st.repo.clone().into()),
                    "nameWithOwner" => Leaf(format!("{}/{}", st.owner, st.repo).into()),
                    "url" => Leaf(self.r.repo_web().into()),
                    "hasIssuesEnabled" => Leaf(true.into()),
                    "issues" | "pullRequests" => {
                        let pulls = name == "pullRequests";
                        let states = arg(f, "states", self.vars);
                        let wanted = |i: &Issue| match states.as_array() {
                            None => true,
                            Some(s) => s.iter().filter_map(Value::as_str).any(|s| match s {
                                "OPEN" => i.open,
                                "CLOSED" => {
                                    !i.open && i.pull.as_ref().is_none_or(|p| p.merged_at.is_none())
                                }
                                "MERGED" => {
                                    !i.open
                                        && i.pull.as_ref().is_some_and(|p| p.merged_at.is_some())
                                }
                                _ => false,
                            }),
                        };
                        let since = arg(f, "filterBy", self.vars)
                            .get("since")
                            .and_then(Value::as_str)
                            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                            .map(|t| t.timestamp());
                        let order = arg(f, "orderBy", self.vars);
                        let by_updated =
                            order.get("field").and_then(Value::as_str) == Some("UPDATED_AT");
                        let desc = order.get("direction").and_then(Value::as_str) == Some("DESC");
                        let mut items: Vec<((i64, u64), Obj<'s>)> = st
                            .issues
                            .iter()
                            .filter(|i| !i.deleted && i.pull.is_some() == pulls && wanted(i))
                            .filter(|i| since.is_none_or(|s| i.updated_at >= s))
                            .map(|i| {
                                let n = i64::try_from(i.number).unwrap_or(i64::MAX);
                                (
                                    (if by_updated { i.updated_at } else { n }, i.number),
                                    Obj::Issue(i),
                                )
                            })
                            .collect();
                        items.sort_by_key(|(k, _)| *k);
                        if desc {
                            items.reverse();
                        }
                        self.connection(f, path, items, desc)
                    }
                    "issue" | "pullRequest" => {
                        let number = arg(f, "number", self.vars).as_u64().unwrap_or(0);
                        let found = st
                            .issues
                            .get((number as usize).wrapping_sub(1))
                            .filter(|i| !i.deleted && i.pull.is_some() == (name == "pullRequest"));
                        match found {
                            Some(i) => One(Obj::Issue(i)),
                            None => {
                                let what = if name == "issue" {
                                    "Issue"
                                } else {
                                    "PullRequest"
                                };
                                self.error(path, f, "NOT_FOUND", format!("Could not resolve to an {what} with the number of {number}."));
                                Null
                            }
                        }
                    }
                    _ => Null,
                }
            }
            Obj::Issue(i) => self.issue_field(i, f, path),
            Obj::Comment(c) => match name {
                "id" => Leaf(node_id("IssueComment", c.id).into()),
                "databaseId" => Leaf(c.id.into()),
                "body" => Leaf(c.body.clone().into()),
                "createdAt" => Leaf(render::ts(c.created_at)),
                "updatedAt" => Leaf(render::ts(c.updated_at)),
                "url" => Leaf(
                    format!(
                        "{}/issues/{}#issuecomment-{}",
                        self.r.repo_web(),
                        c.issue,
                        c.id
                    )
                    .into(),
                ),
                "authorAssociation" => Leaf(self.r.association(c.user).into()),
                "author" => One(Obj::User(c.user)),
                "reactionGroups" => Many(self.reaction_groups(Subject::Comment(c.id))),
                "issue" => st
                    .issues
                    .get((c.issue as usize).wrapping_sub(1))
                    .map_or(Null, |i| One(Obj::Issue(i))),
                _ => Null,
            },
            Obj::User(u) => {
                let Some(user) = st.users.get(*u) else {
                    return Null;
                };
                let rest = self.r.user(*u);
                Leaf(match name {
                    "login" => user.login.clone().into(),
                    "avatarUrl" => rest.get("avatar_url").cloned().unwrap_or(Value::Null),
                    "url" => rest.get("html_url").cloned().unwrap_or(Value::Null),
                    "resourcePath" => rest
                        .get("html_url")
                        .and_then(Value::as_str)
                        .map_or(Value::Null, |u| {
                            Value::String(format!("/{}", u.splitn(4, '/').nth(3).unwrap_or("")))
                        }),
                    "id" => rest.get("node_id").cloned().unwrap_or(Value::Null),
                    "databaseId" => user.id.into(),
                    "isSiteAdmin" => false.into(),
                    "name" => user.name.clone().map_or(Value::Null, Value::String),
                    _ => Value::Null,
                })
            }
            Obj::Label(l) => Leaf(match name {
                "id" => node_id("Label", l.id).into(),
                "name" => l.name.clone().into(),
                "color" => l.color.clone().into(),
                "description" => l.description.clone().map_or(Value::Null, Value::String),
                "isDefault" => l.default.into(),
                "url" => format!(
                    "{}/labels/{}",
                    self.r.repo_web(),
                    render::encode_segment(&l.name)
                )
                .into(),
                _ => Value::Null,
            }),
            Obj::Milestone(m) => Leaf(match name {
                "id" => node_id("Milestone", m.id).into(),
                "number" => m.number.into(),
                "title" => m.title.clone().into(),
                "description" => m.description.clone().map_or(Value::Null, Value::String),
                "state" => if m.open { "OPEN" } else { "CLOSED" }.into(),
                "dueOn" => m.due_on.map_or(Value::Null, render::ts),
                "createdAt" => render::ts(m.created_at),
                "closedAt" => m.closed_at.map_or(Value::Null, render::ts),
                "url" => format!("{}/milestone/{}", self.r.repo_web(), m.number).into(),
                _ => Value::Null,
            }),
            Obj::PageInfo {
                next,
                prev,
                start,
                end,
            } => Leaf(match name {
                "hasNextPage" => (*next).into(),
                "hasPreviousPage" => (*prev).into(),
                "startCursor" => start.clone().map_or(Value::Null, Value::String),
                "endCursor" => end.clone().map_or(Value::Null, Value::String),
                _ => Value::Null,
            }),
            Obj::Connection(c) => match name {
                "totalCount" => Leaf(c.total.into()),
                "pageInfo" => One(Obj::PageInfo {
                    next: c.next,
                    prev: c.prev,
                    start: c.page.first().map(|(k, _)| k.clone()),
                    end: c.page.last().map(|(k, _)| k.clone()),
                }),
                "nodes" => Many(c.page.iter().map(|(_, o)| o.clone()).collect()),
                "edges" => Many(
                    c.page
                        .iter()
                        .map(|(k, o)| Obj::Edge(k.clone(), Box::new(o.clone())))
                        .collect(),
                ),
                _ => Null,
            },
            Obj::Edge(k, o) => match name {
                "cursor" => Leaf(k.clone().into()),
                "node" => One((**o).clone()),
                _ => Null,
            },
            Obj::ReactionGroup(content, n) => match name {
                "content" => Leaf((*content).into()),
                "reactors" => One(Obj::Reactors(*n)),
                _ => Null,
            },
            Obj::Reactors(n) => Leaf(if name == "totalCount" {
                (*n).into()
            } else {
                Value::Null
            }),
        }
    }

    fn issue_field(&mut self, i: &'s Issue, f: &'a Fld<'a>, path: &[Value]) -> Resolved<'s> {
        use Resolved::{Leaf, Many, Null, One};
        let st = self.st;
        let kind = if i.pull.is_some() {
            "PullRequest"
        } else {
            "Issue"
        };
        let web = format!(
            "{}/{}/{}",
            self.r.repo_web(),
            if i.pull.is_some() { "pull" } else { "issues" },
            i.number
        );
        match f.name {
            "id" => Leaf(node_id(kind, i.id).into()),
            "databaseId" => Leaf(i.id.into()),
            "number" => Leaf(i.number.into()),
            "title" => Leaf(i.title.clone().into()),
            // GraphQL's `body` is non-null: no body reads as "".
            "body" => Leaf(i.body.clone().unwrap_or_default().into()),
            "state" => Leaf(
                match (&i.pull, i.open) {
                    (_, true) => "OPEN",
                    (Some(p), false) if p.merged_at.is_some() => "MERGED",
                    _ => "CLOSED",
                }
                .into(),
            ),
            "stateReason" => Leaf(
                i.state_reason
                    .map_or(Value::Null, |r| r.as_str().to_ascii_uppercase().into()),
            ),
            "closed" => Leaf((!i.open).into()),
            "closedAt" => Leaf(i.closed_at.map_or(Value::Null, render::ts)),
            "createdAt" => Leaf(render::ts(i.created_at)),
            "updatedAt" => Leaf(render::ts(i.updated_at)),
            "url" => Leaf(web.into()),
            "resourcePath" => Leaf(
                format!(
                    "/{}/{}/{}/{}",
                    st.owner,
                    st.repo,
                    if i.pull.is_some() { "pull" } else { "issues" },
                    i.number
                )
                .into(),
            ),
            "locked" => Leaf(i.locked.into()),
            "activeLockReason" => Leaf(i.lock_reason.as_deref().map_or(Value::Null, |r| {
                r.to_ascii_uppercase().replace([' ', '-'], "_").into()
            })),
            "authorAssociation" => Leaf(self.r.association(i.user).into()),
            "author" => One(Obj::User(i.user)),
            "isDraft" => Leaf(false.into()),
            "merged" => Leaf(
                i.pull
                    .as_ref()
                    .is_some_and(|p| p.merged_at.is_some())
                    .into(),
            ),
            "mergedAt" => Leaf(
                i.pull
                    .as_ref()
                    .and_then(|p| p.merged_at)
                    .map_or(Value::Null, render::ts),
            ),
            "milestone" => i
                .milestone
                .and_then(|m| st.milestones.get(&m))
                .map_or(Null, |m| One(Obj::Milestone(m))),
            "reactionGroups" => Many(self.reaction_groups(Subject::Issue(i.number))),
            "comments" => {
                let items = i
                    .comment_ids
                    .iter()
                    .filter_map(|id| st.comments.get(id))
                    .map(|c| {
                        (
                            (i64::try_from(c.id).unwrap_or(i64::MAX), c.id),
                            Obj::Comment(c),
                        )
                    })
                    .collect();
                self.connection(f, path, items, false)
            }
            "labels" => {
                let mut ls: Vec<&Label> =
                    i.labels.iter().filter_map(|id| st.labels.get(id)).collect();
                ls.sort_by_key(|l| l.id);
                let items = ls
                    .into_iter()
                    .map(|l| {
                        (
                            (i64::try_from(l.id).unwrap_or(i64::MAX), l.id),
                            Obj::Label(l),
                        )
                    })
                    .collect();
                self.connection(f, path, items, false)
            }
            "assignees" => {
                let items = i
                    .assignees
                    .iter()
                    .enumerate()
                    .map(|(n, &u)| ((n as i64, n as u64), Obj::User(u)))
                    .collect();
                self.connection(f, path, items, false)
            }
            _ => Null,
        }
    }

    fn reaction_groups(&self, subject: Subject) -> Vec<Obj<'s>> {
        let on = self.st.reactions_on(subject);
        GROUPS
            .iter()
            .map(|(rest, gql)| {
                let n = on.iter().filter(|r| r.content == *rest).count();
                Obj::ReactionGroup(gql, n)
            })
            .collect()
    }

    /// Slices an ordered list by `after`/`before` and `first`/`last`, refusing what GitHub
    /// refuses (no boundary when nodes are read, pages over 100, unreadable cursors).
    fn connection(
        &mut self,
        f: &'a Fld<'a>,
        path: &[Value],
        items: Vec<((i64, u64), Obj<'s>)>,
        desc: bool,
    ) -> Resolved<'s> {
        let total = items.len();
        let first = arg(f, "first", self.vars).as_i64();
        let last = arg(f, "last", self.vars).as_i64();
        let wants_items = f.selection_set.items.iter().any(|s| {
            matches!(s, Selection::Field(x) if matches!(x.name, "nodes" | "edges" | "pageInfo"))
                || !matches!(s, Selection::Field(_))
        });
        let conn_name = f.name;
        if first.is_none() && last.is_none() && wants_items {
            self.error(path, f, "MISSING_PAGINATION_BOUNDARIES", format!(
                "You must provide a `first` or `last` value to properly paginate the `{conn_name}` connection."));
            return Resolved::Null;
        }
        for (which, n) in [("first", first), ("last", last)] {
            if let Some(n) = n {
                if n > MAX_PAGE {
                    self.error(path, f, "EXCESSIVE_PAGINATION", format!(
                        "Requesting {n} records on the `{conn_name}` connection exceeds the `{which}` limit of {MAX_PAGE} records."));
                    return Resolved::Null;
                }
                if n < 0 {
                    self.error(
                        path,
                        f,
                        "INVALID_PAGINATION",
                        format!(
                            "`{which}` on the `{conn_name}` connection cannot be less than zero."
                        ),
                    );
                    return Resolved::Null;
                }
            }
        }
        let mut bounds = [None, None];
        for (slot, name) in bounds.iter_mut().zip(["after", "before"]) {
            if let Some(c) = arg(f, name, self.vars).as_str() {
                match parse_cursor(c) {
                    Some(k) => *slot = Some(k),
                    None => {
                        self.error(
                            path,
                            f,
                            "INVALID_CURSOR_ARGUMENTS",
                            format!("`{c}` does not appear to be a valid cursor."),
                        );
                        return Resolved::Null;
                    }
                }
            }
        }
        let beyond = |k: (i64, u64), b: (i64, u64)| if desc { k < b } else { k > b };
        let lo = bounds[0].map_or(0, |a| {
            items
                .iter()
                .position(|(k, _)| beyond(*k, a))
                .unwrap_or(total)
        });
        let hi = bounds[1].map_or(total, |b| {
            items
                .iter()
                .position(|(k, _)| !beyond(b, *k))
                .unwrap_or(total)
                .max(lo)
        });
        let mut start = lo;
        let mut end = hi;
        if let Some(n) = first {
            end = end.min(start + usize::try_from(n).unwrap_or(0));
        }
        if let Some(n) = last {
            start = start.max(end.saturating_sub(usize::try_from(n).unwrap_or(0)));
        }
        let next = end < hi;
        let prev = start > lo;
        let page = items
            .into_iter()
            .skip(start)
            .take(end - start)
            .map(|(k, o)| (cursor(k), o))
            .collect();
        Resolved::One(Obj::Connection(Conn {
            total,
            page,
            next,
            prev,
        }))
    }
}

/// REST reaction contents and their GraphQL `ReactionContent` names, in GitHub's order.
const GROUPS: &[(&str, &str)] = &[
    ("+1", "THUMBS_UP"),
    ("-1", "THUMBS_DOWN"),
    ("laugh", "LAUGH"),
    ("hooray", "HOORAY"),
    ("confused", "CONFUSED"),
    ("heart", "HEART"),
    ("rocket", "ROCKET"),
    ("eyes", "EYES"),
];

enum Resolved<'s> {
    Leaf(Value),
    Null,
    One(Obj<'s>),
    Many(Vec<Obj<'s>>),
}
