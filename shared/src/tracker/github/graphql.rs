//! GitHub's GraphQL API (v4) as the cheaper path for a full capture's comments.
//!
//! A REST listing pays one request per 100 comments; a GraphQL page of 100 issues with the
//! first 100 comments of each costs GitHub 1 point (its documented calculation: 1 request
//! for the issues plus 100 for their comment connections, divided by 100), so a repository
//! averaging five comments per issue reads its comments for a fifth of the budget, on a
//! budget GitHub keeps apart from the REST one. Issues with more than 100 comments get
//! follow-up pages of their own.
//!
//! Issues, labels and milestones stay on REST: GitHub's public schema has no issue type,
//! dependency summary or pinned comment on `Issue`, and no numeric id on `Label`, which the
//! stored records carry; a REST issues page is as cheap as a GraphQL one anyway.
//!
//! Comments are stored exactly as the REST listing gives them: each GraphQL node is rebuilt
//! into the REST `issue-comment` object (URLs from the API root and the repository's
//! canonical name, the author's `simple-user`, the reaction rollup) and converted by the
//! same code as a REST page, so a snapshot is the same whichever path took it.
//!
//! Only full captures use GraphQL: GraphQL cannot list comments changed since a time, which
//! is what an incremental capture reads (the REST repo-wide listing does it in a few pages).

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use super::client::{Client, Reply};
use super::convert;
use crate::record::{Record, RecordKind};
use crate::tracker::{Budget, Progress, TrackerError};

/// Which of GitHub's APIs a capture reads comments through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// REST listings only.
    Rest,
    /// GraphQL for a full capture's comments; an error if the server has no usable GraphQL.
    Graphql,
    /// GraphQL where the server answers it (GitHub, recent Enterprise servers), else REST.
    #[default]
    Auto,
}

impl std::str::FromStr for Api {
    type Err = TrackerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rest" => Ok(Api::Rest),
            "graphql" => Ok(Api::Graphql),
            "auto" => Ok(Api::Auto),
            other => Err(TrackerError::Config(format!(
                "unknown GitHub API {other:?}: use rest, graphql or auto"
            ))),
        }
    }
}

impl std::fmt::Display for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Api::Rest => "rest",
            Api::Graphql => "graphql",
            Api::Auto => "auto",
        })
    }
}

/// The fields of a comment the REST object is rebuilt from.
pub const COMMENT_FRAGMENT: &str = "fragment BacktrackComment on IssueComment {
  id
  databaseId
  body
  createdAt
  updatedAt
  url
  authorAssociation
  author {
    __typename
    login
    avatarUrl
    url
    ... on User { id databaseId isSiteAdmin }
    ... on Bot { id databaseId }
    ... on Organization { id databaseId }
    ... on Mannequin { id databaseId }
  }
  reactionGroups { content reactors { totalCount } }
}";

/// One page of issues (`issues`) or pull requests (`pullRequests`) with their first 100
/// comments.
pub fn page_query(connection: &str) -> String {
    format!(
        "query BacktrackComments($owner: String!, $name: String!, $cursor: String) {{
  rateLimit {{ cost remaining resetAt }}
  repository(owner: $owner, name: $name) {{
    nameWithOwner
    items: {connection}(first: 100, after: $cursor, orderBy: {{field: CREATED_AT, direction: ASC}}) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{
        number
        comments(first: 100) {{
          totalCount
          pageInfo {{ hasNextPage endCursor }}
          nodes {{ ...BacktrackComment }}
        }}
      }}
    }}
  }}
}}
{COMMENT_FRAGMENT}"
    )
}

/// The next 100 comments of one issue (`issue`) or pull request (`pullRequest`).
pub fn more_query(field: &str) -> String {
    format!(
        "query BacktrackMoreComments($owner: String!, $name: String!, $number: Int!, $cursor: String) {{
  rateLimit {{ cost remaining resetAt }}
  repository(owner: $owner, name: $name) {{
    item: {field}(number: $number) {{
      comments(first: 100, after: $cursor) {{
        totalCount
        pageInfo {{ hasNextPage endCursor }}
        nodes {{ ...BacktrackComment }}
      }}
    }}
  }}
}}
{COMMENT_FRAGMENT}"
    )
}

/// GraphQL failures, split by what the capture does about them.
#[derive(Debug)]
pub enum GraphqlError {
    /// The server has no GraphQL endpoint, or not the fields the capture reads (an older
    /// Enterprise server): `auto` falls back to REST.
    Unsupported(String),
    /// Anything else (credentials, a missing repository, the network, the rate limit).
    Tracker(TrackerError),
    /// The capture's own budget ran out (what ran out, for the log).
    Spent(String),
}

impl From<TrackerError> for GraphqlError {
    fn from(e: TrackerError) -> Self {
        GraphqlError::Tracker(e)
    }
}

impl GraphqlError {
    pub fn into_tracker(self) -> TrackerError {
        match self {
            GraphqlError::Tracker(e) => e,
            GraphqlError::Unsupported(why) => TrackerError::Config(format!(
                "the GitHub server has no usable GraphQL API ({why}); capture with --api rest \
                 (or auto, which falls back by itself)"
            )),
            GraphqlError::Spent(what) => TrackerError::Config(format!("{what} ran out")),
        }
    }
}

/// `rateLimit { cost remaining resetAt }` of the last answer.
#[derive(Debug, Clone, Copy)]
struct Points {
    cost: u64,
    remaining: u64,
    reset_at: Option<DateTime<Utc>>,
}

/// The GraphQL endpoint beside a REST root: `https://api.github.com/graphql`,
/// `https://HOST/api/graphql` for Enterprise's `https://HOST/api/v3`.
pub fn endpoint(api_url: &str) -> String {
    let root = api_url.trim_end_matches('/');
    match root.strip_suffix("/api/v3") {
        Some(host) => format!("{host}/api/graphql"),
        None => format!("{root}/graphql"),
    }
}

/// What a GraphQL comment walk delivered.
#[derive(Debug, Default)]
pub struct CommentWalk {
    /// The newest `updated_at` the capture can resume after (see [`GraphqlReader::walk`]).
    pub newest: Option<DateTime<Utc>>,
    /// Comments as (id, issue number).
    pub observed: Vec<(u64, u64)>,
    /// Points GitHub charged.
    pub points: u64,
    /// Queries sent.
    pub queries: u64,
    /// The budget ran out: `newest` is then `None` (the walk is not in time order, so the
    /// next capture lists comments whole).
    pub partial: bool,
    /// The rate limit's reset, when that is what ran out.
    pub resume_at: Option<DateTime<Utc>>,
}

/// Reads one repository's comments through GraphQL.
#[derive(Debug)]
pub struct GraphqlReader<'c> {
    pub client: &'c Client,
    pub owner: &'c str,
    pub repo: &'c str,
    /// How long a rate-limit reset may be waited for before the capture stops, partial.
    pub max_wait: Duration,
    /// The capture's budget, and the client's request count when the capture started.
    pub budget: Budget,
    pub start: u64,
}

impl GraphqlReader<'_> {
    /// Sends one query; a GraphQL error list becomes a typed error.
    async fn send(&self, query: &str, variables: Value) -> Result<(Value, Reply), GraphqlError> {
        let body = json!({ "query": query, "variables": variables });
        let reply = match self
            .client
            .post_graphql(&endpoint(self.client.api_url()), &body)
            .await
        {
            Ok(r) => r,
            // No endpoint at all: an Enterprise server without GraphQL, or a proxy in front.
            Err(TrackerError::NotFound { .. }) => {
                return Err(GraphqlError::Unsupported("no /graphql endpoint".into()))
            }
            Err(TrackerError::Http {
                status, message, ..
            }) if (400..500).contains(&status) => {
                return Err(GraphqlError::Unsupported(format!(
                    "HTTP {status}: {message}"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let path = "/graphql";
        let answer: Value = reply.json(path)?;
        if let Some(errors) = answer.get("errors").and_then(Value::as_array) {
            if let Some(first) = errors.first() {
                return Err(self.classify(first));
            }
        }
        let data = answer.get("data").cloned().unwrap_or(Value::Null);
        if data.is_null() {
            return Err(GraphqlError::Unsupported("an answer without data".into()));
        }
        Ok((data, reply))
    }

    fn classify(&self, error: &Value) -> GraphqlError {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("unknown error")
            .chars()
            .take(300)
            .collect::<String>();
        let kind = error.get("type").and_then(Value::as_str).unwrap_or("");
        let code = error
            .get("extensions")
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
            .unwrap_or("");
        match (kind, code) {
            ("NOT_FOUND", _) => GraphqlError::Tracker(TrackerError::NotFound {
                service: "GitHub".into(),
                what: format!("repository {}/{}", self.owner, self.repo),
            }),
            ("RATE_LIMITED", _) => GraphqlError::Tracker(TrackerError::RateLimited {
                service: "GitHub GraphQL".into(),
                reset: "the next hourly reset".into(),
            }),
            (_, "undefinedField" | "undefinedType" | "argumentNotAccepted") => {
                GraphqlError::Unsupported(message)
            }
            _ => GraphqlError::Tracker(TrackerError::Http {
                service: "GitHub GraphQL".into(),
                method: "POST".into(),
                path: "/graphql".into(),
                status: 200,
                message,
            }),
        }
    }

    /// Waits out a reset when the next query would cost more than what is left.
    async fn budget(&self, last: Option<Points>) -> Result<(), GraphqlError> {
        // The walk's first query always goes (`last` is unknown before it): a budget smaller
        // than a capture's fixed requests still makes progress.
        if last.is_some() && self.budget.exhausted(self.client.requests() - self.start) {
            return Err(GraphqlError::Spent("the capture's budget".into()));
        }
        let Some(b) = last else { return Ok(()) };
        if b.remaining >= b.cost.max(1) {
            return Ok(());
        }
        let Some(reset) = b.reset_at else {
            return Ok(());
        };
        let wait = (reset - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(1);
        if wait > self.max_wait {
            return Err(GraphqlError::Tracker(TrackerError::RateLimited {
                service: "GitHub GraphQL".into(),
                reset: reset.to_rfc3339(),
            }));
        }
        tracing::warn!(
            until = %reset.to_rfc3339(),
            remaining = b.remaining,
            "GraphQL rate limit spent; waiting for its reset"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Streams every comment of the repository's issues and pull requests into `out`.
    ///
    /// The walk goes issue by issue, so a comment edited behind it is not seen again; the
    /// resume point it returns is therefore no later than the server's clock when it started
    /// (the `Date` of its first answer, less a second), and the next incremental capture
    /// re-reads whatever changed while it ran.
    pub async fn walk(
        &self,
        progress: &dyn Progress,
        out: &mpsc::Sender<Record>,
    ) -> Result<CommentWalk, GraphqlError> {
        match self.walk_all(progress, out).await {
            Err(GraphqlError::Tracker(TrackerError::RateLimited { reset, .. })) => {
                tracing::warn!(%reset, "rate limit spent; stopping here (partial): run again after the reset to continue");
                Ok(CommentWalk {
                    partial: true,
                    resume_at: super::reset_time(&reset),
                    ..CommentWalk::default()
                })
            }
            Err(GraphqlError::Spent(what)) => {
                tracing::warn!(%what, "budget spent; stopping here (partial): run again to continue");
                Ok(CommentWalk {
                    partial: true,
                    ..CommentWalk::default()
                })
            }
            other => other,
        }
    }

    async fn walk_all(
        &self,
        progress: &dyn Progress,
        out: &mpsc::Sender<Record>,
    ) -> Result<CommentWalk, GraphqlError> {
        let mut walk = CommentWalk::default();
        let mut started: Option<DateTime<Utc>> = None;
        let mut newest: Option<DateTime<Utc>> = None;
        let mut budget: Option<Points> = None;
        let mut fetched = 0u64;
        let mut seen: HashSet<u64> = HashSet::new();
        for (connection, single) in [("issues", "issue"), ("pullRequests", "pullRequest")] {
            let query = page_query(connection);
            let mut cursor: Option<String> = None;
            loop {
                self.budget(budget).await?;
                let (data, reply) = self
                    .send(
                        &query,
                        json!({"owner": self.owner, "name": self.repo, "cursor": cursor}),
                    )
                    .await?;
                walk.queries += 1;
                if started.is_none() {
                    started = server_date(&reply);
                }
                budget = read_budget(&data);
                walk.points += budget.map_or(0, |b| b.cost);
                let repo = data.get("repository").ok_or_else(|| {
                    GraphqlError::Tracker(TrackerError::NotFound {
                        service: "GitHub".into(),
                        what: format!("repository {}/{}", self.owner, self.repo),
                    })
                })?;
                let repo_api = self.repo_api(repo);
                let items = &repo["items"];
                for node in items["nodes"].as_array().into_iter().flatten() {
                    let number = node["number"]
                        .as_u64()
                        .ok_or_else(|| decode("an item without a number"))?;
                    let mut comments = node["comments"].clone();
                    loop {
                        for c in comments["nodes"].as_array().into_iter().flatten() {
                            let record = Record::Comment(convert::comment(
                                rest_comment(c, number, &repo_api, self.client.api_url())?,
                                "/graphql",
                            )?);
                            if let Record::Comment(cm) = &record {
                                if !seen.insert(cm.id) {
                                    continue;
                                }
                                newest = newest.max(Some(cm.updated_at));
                                walk.observed.push((cm.id, number));
                            }
                            out.send(record).await.map_err(|_| TrackerError::Aborted)?;
                            fetched += 1;
                        }
                        if comments["pageInfo"]["hasNextPage"].as_bool() != Some(true) {
                            break;
                        }
                        let after = comments["pageInfo"]["endCursor"].clone();
                        self.budget(budget).await?;
                        let (more, _) = self
                            .send(
                                &more_query(single),
                                json!({"owner": self.owner, "name": self.repo,
                                       "number": number, "cursor": after}),
                            )
                            .await?;
                        walk.queries += 1;
                        budget = read_budget(&more);
                        walk.points += budget.map_or(0, |b| b.cost);
                        // The item vanished between two pages (deleted, transferred).
                        comments = more["repository"]["item"]["comments"].clone();
                        if comments.is_null() {
                            break;
                        }
                    }
                    progress.update(RecordKind::Comment, fetched, None);
                }
                if items["pageInfo"]["hasNextPage"].as_bool() != Some(true) {
                    break;
                }
                cursor = items["pageInfo"]["endCursor"].as_str().map(str::to_string);
                if cursor.is_none() {
                    return Err(decode("a page that has a next one but no endCursor").into());
                }
            }
        }
        let resume = started.map(|t| t - chrono::Duration::seconds(1));
        walk.newest = match (newest, resume) {
            (Some(n), Some(r)) => Some(n.min(r)),
            (n, _) => n,
        };
        Ok(walk)
    }

    /// The REST URL of the repository, spelled as GitHub spells its name (the scope may be
    /// in another case).
    fn repo_api(&self, repo: &Value) -> String {
        let full = repo["nameWithOwner"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}/{}", self.owner, self.repo));
        format!("{}/repos/{full}", self.client.api_url())
    }
}

fn decode(detail: &str) -> TrackerError {
    TrackerError::Decode {
        service: "GitHub GraphQL".into(),
        path: "/graphql".into(),
        detail: detail.to_string(),
    }
}

fn read_budget(data: &Value) -> Option<Points> {
    let r = data.get("rateLimit")?;
    Some(Points {
        cost: r.get("cost")?.as_u64()?,
        remaining: r.get("remaining")?.as_u64()?,
        reset_at: r
            .get("resetAt")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc)),
    })
}

fn server_date(reply: &Reply) -> Option<DateTime<Utc>> {
    reply
        .header("date")
        .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Percent-encodes one path segment as GitHub does in user URLs (`name%5Bbot%5D`).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// GraphQL `ReactionContent` → the REST rollup's key.
const REACTIONS: [(&str, &str); 8] = [
    ("THUMBS_UP", "+1"),
    ("THUMBS_DOWN", "-1"),
    ("LAUGH", "laugh"),
    ("HOORAY", "hooray"),
    ("CONFUSED", "confused"),
    ("HEART", "heart"),
    ("ROCKET", "rocket"),
    ("EYES", "eyes"),
];

/// An `Actor` as REST's `simple-user`. `None` for a deleted account (REST then shows the
/// `ghost` user; GraphQL shows nothing).
fn rest_user(actor: &Value, api_url: &str) -> Result<Value, TrackerError> {
    if actor.is_null() {
        return Ok(Value::Null);
    }
    let login = actor["login"]
        .as_str()
        .ok_or_else(|| decode("an author without a login"))?;
    let api = format!("{api_url}/users/{}", encode_segment(login));
    Ok(json!({
        "login": login,
        "id": actor["databaseId"],
        "node_id": actor["id"],
        "avatar_url": actor["avatarUrl"],
        "gravatar_id": "",
        "url": api,
        "html_url": actor["url"],
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": actor["__typename"],
        "user_view_type": "public",
        "site_admin": actor["isSiteAdmin"].as_bool().unwrap_or(false),
    }))
}

/// One GraphQL comment node as the REST `issue-comment` object the listing would give.
pub fn rest_comment(
    node: &Value,
    number: u64,
    repo_api: &str,
    api_url: &str,
) -> Result<Value, TrackerError> {
    let id = node["databaseId"]
        .as_u64()
        .ok_or_else(|| decode("a comment without a databaseId"))?;
    let url = format!("{repo_api}/issues/comments/{id}");
    let mut reactions = Map::new();
    reactions.insert("url".into(), Value::String(format!("{url}/reactions")));
    let mut total = 0u64;
    for (gql, rest) in REACTIONS {
        let n = node["reactionGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|g| g["content"].as_str() == Some(gql))
            .and_then(|g| g["reactors"]["totalCount"].as_u64())
            .unwrap_or(0);
        total += n;
        reactions.insert(rest.into(), n.into());
    }
    reactions.insert("total_count".into(), total.into());
    Ok(json!({
        "url": url,
        "html_url": node["url"],
        "issue_url": format!("{repo_api}/issues/{number}"),
        "id": id,
        "node_id": node["id"],
        "user": rest_user(&node["author"], api_url)?,
        "created_at": node["createdAt"],
        "updated_at": node["updatedAt"],
        "body": node["body"],
        "author_association": node["authorAssociation"],
        "reactions": Value::Object(reactions),
        "performed_via_github_app": null,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_sits_beside_the_rest_root() {
        assert_eq!(
            endpoint("https://api.github.com"),
            "https://api.github.com/graphql"
        );
        assert_eq!(
            endpoint("https://ghe.example/api/v3/"),
            "https://ghe.example/api/graphql"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:9/"),
            "http://127.0.0.1:9/graphql"
        );
    }

    #[test]
    fn a_comment_node_becomes_the_rest_object() {
        let node = json!({
            "id": "MDEyOklzc3VlQ29tbWVudDc=", "databaseId": 7, "body": "hi",
            "createdAt": "2024-01-02T03:04:05Z", "updatedAt": "2024-01-02T03:04:06Z",
            "url": "https://github.com/a/b/issues/3#issuecomment-7",
            "authorAssociation": "MEMBER",
            "author": {"__typename": "Bot", "login": "ci[bot]", "avatarUrl": "https://x/in/1?v=4",
                       "url": "https://github.com/apps/ci", "id": "MDM6Qm90OQ==", "databaseId": 9},
            "reactionGroups": [{"content": "HEART", "reactors": {"totalCount": 2}},
                               {"content": "THUMBS_UP", "reactors": {"totalCount": 1}}]
        });
        let raw = rest_comment(
            &node,
            3,
            "https://api.github.com/repos/a/b",
            "https://api.github.com",
        )
        .unwrap();
        assert_eq!(
            raw["issue_url"],
            "https://api.github.com/repos/a/b/issues/3"
        );
        assert_eq!(
            raw["user"]["url"],
            "https://api.github.com/users/ci%5Bbot%5D"
        );
        assert_eq!(raw["user"]["type"], "Bot");
        assert_eq!(raw["user"]["site_admin"], false);
        assert_eq!(raw["reactions"]["total_count"], 3);
        assert_eq!(raw["reactions"]["+1"], 1);
        assert_eq!(raw["reactions"]["eyes"], 0);
        let c = convert::comment(raw, "/graphql").unwrap();
        assert_eq!((c.id, c.issue_number), (7, 3));
    }

    #[test]
    fn api_names_parse() {
        assert_eq!("GraphQL".parse::<Api>().unwrap(), Api::Graphql);
        assert!("soap"
            .parse::<Api>()
            .unwrap_err()
            .to_string()
            .contains("rest, graphql or auto"));
    }
}
