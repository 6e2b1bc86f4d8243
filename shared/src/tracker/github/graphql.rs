//! GitHub's GraphQL API (v4) as the cheaper path for a full capture's comments.
//!
//! A REST listing pays one request per 100 comments. GraphQL prices a query by the
//! connections it opens (GitHub's documented calculation, "Calculating a rate limit score
//! before running the call": one request per connection and per node of the connections it
//! sits in, the sum divided by 100 and rounded to the nearest whole number, at least 1). The
//! capture asks for the comments of the items the REST issue listing showed with comments,
//! each item under its own alias (`i0: issue(number: 12) { comments(first: 100) … }`), up to
//! [`ITEMS_PER_QUERY`] of them a query: 149 connections round to one point. Items without
//! comments cost nothing, and follow-up pages of busy items ride in later queries beside
//! other items instead of one query each. A repository averaging five comments per item
//! thus reads its comments for about a thirtieth of the REST listing's requests, on a budget
//! GitHub keeps apart from the REST one.
//!
//! Issues, labels and milestones stay on REST: GitHub's public schema has no issue type,
//! dependency summary or pinned comment on `Issue`, and no numeric id on `Label`, which the
//! stored records carry; a REST issues page is as cheap as a GraphQL one anyway. The REST
//! issue listing is what feeds this walk (see [`Listed`]), so the two run side by side.
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
use crate::tracker::{Budget, Progress, Spend, TrackerError};

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

/// Comment connections one query opens at most: GitHub prices a query at the connections it
/// opens divided by 100, rounded to the nearest whole number, so up to 149 cost one point.
pub const ITEMS_PER_QUERY: usize = 149;

/// Comments one query may bring back at most (each item counts what the listing showed, at
/// most a page of 100): where many items are busy, an answer (and GitHub's time to build
/// it, and the memory to read it) stays near twenty REST pages' worth.
pub const COMMENTS_PER_QUERY: u64 = 2_000;

/// An issue or pull request as the REST issue listing showed it: what the GraphQL walk needs
/// to ask for its comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub number: u64,
    /// Its comment count when listed (items without comments are not asked about).
    pub comments: u64,
    pub pull: bool,
}

/// One page of one item's comments, as a query asks for it: the first (`after: None`) or the
/// one after a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentPage {
    pub number: u64,
    pub pull: bool,
    pub after: Option<String>,
    /// Comments the page is expected to hold (for sizing queries).
    pub expect: u64,
}

/// The query reading `pages`, each under the alias `i{index}`, and its variables (the
/// repository and one cursor variable `a{index}` per follow-up page). Item numbers are
/// literals: they are integers the capture read itself.
pub fn comments_query(owner: &str, repo: &str, pages: &[CommentPage]) -> (String, Value) {
    let mut vars = Map::new();
    vars.insert("owner".into(), owner.into());
    vars.insert("name".into(), repo.into());
    let mut declared = String::from("$owner: String!, $name: String!");
    let mut items = String::new();
    for (i, page) in pages.iter().enumerate() {
        let field = if page.pull { "pullRequest" } else { "issue" };
        let after = match &page.after {
            Some(cursor) => {
                declared.push_str(&format!(", $a{i}: String!"));
                vars.insert(format!("a{i}"), cursor.clone().into());
                format!(", after: $a{i}")
            }
            None => String::new(),
        };
        items.push_str(&format!(
            "    i{i}: {field}(number: {}) {{ comments(first: 100{after}) {{ totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ ...BacktrackComment }} }} }}\n",
            page.number
        ));
    }
    let query = format!(
        "query BacktrackComments({declared}) {{
  rateLimit {{ cost remaining resetAt }}
  repository(owner: $owner, name: $name) {{
    nameWithOwner
{items}  }}
}}
{COMMENT_FRAGMENT}"
    );
    (query, Value::Object(vars))
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
        let mut answer: Value = reply.json(path)?;
        if let Some(errors) = answer.get("errors").and_then(Value::as_array) {
            // An item of a batch that is gone since the listing (deleted, transferred) is a
            // `NOT_FOUND` at its own alias beside the others' data: it has no comments to
            // read, and the rest of the answer stands.
            if let Some(fatal) = errors.iter().find(|e| !vanished_item(e)) {
                return Err(self.classify(fatal));
            }
        }
        let data = answer
            .get_mut("data")
            .map(Value::take)
            .unwrap_or(Value::Null);
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
        // The walk's first query always goes (`last` is unknown before it).
        let spend = Spend {
            budget: self.budget,
            start: self.start,
        };
        if spend.stops(self.client.requests(), u64::from(last.is_some())) {
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

    /// Streams the comments of every item `listed` (the REST issue listing, as it goes)
    /// shows with comments into `out`.
    ///
    /// The walk goes item by item, so a comment edited behind it is not seen again; the
    /// resume point it returns is therefore no later than the server's clock when its first
    /// query ran (the `Date` of the answer, less a second), and the caller clamps it to when
    /// the listing began: the next incremental capture re-reads whatever changed meanwhile.
    pub async fn walk(
        &self,
        listed: mpsc::UnboundedReceiver<Listed>,
        progress: &dyn Progress,
        out: &mpsc::Sender<Record>,
    ) -> Result<CommentWalk, GraphqlError> {
        let mut walk = CommentWalk::default();
        match self.walk_all(listed, &mut walk, progress, out).await {
            Err(GraphqlError::Tracker(TrackerError::RateLimited { reset, .. })) => {
                tracing::warn!(%reset, "rate limit spent; stopping here (partial): run again after the reset to continue");
                Ok(CommentWalk {
                    partial: true,
                    newest: None,
                    resume_at: super::reset_time(&reset),
                    ..walk
                })
            }
            Err(GraphqlError::Spent(what)) => {
                tracing::warn!(%what, "budget spent; stopping here (partial): run again to continue");
                Ok(CommentWalk {
                    partial: true,
                    newest: None,
                    ..walk
                })
            }
            Err(e) => Err(e),
            Ok(()) => Ok(walk),
        }
    }

    async fn walk_all(
        &self,
        mut listed: mpsc::UnboundedReceiver<Listed>,
        walk: &mut CommentWalk,
        progress: &dyn Progress,
        out: &mpsc::Sender<Record>,
    ) -> Result<(), GraphqlError> {
        let mut started: Option<DateTime<Utc>> = None;
        let mut newest: Option<DateTime<Utc>> = None;
        let mut budget: Option<Points> = None;
        let mut fetched = 0u64;
        // Items already asked about: the listing shows an item again when it changed while
        // the listing ran, and its comments are read once.
        let mut asked: HashSet<u64> = HashSet::new();
        let mut queue = Batcher::default();
        let mut open = true;
        loop {
            // Fill a query before sending it: a fuller query costs the same point.
            while open && !queue.full() {
                match listed.recv().await {
                    Some(item) if item.comments > 0 && asked.insert(item.number) => {
                        queue.push(CommentPage {
                            number: item.number,
                            pull: item.pull,
                            after: None,
                            expect: item.comments.min(100),
                        });
                    }
                    Some(_) => {}
                    None => open = false,
                }
            }
            let pages = queue.take();
            if pages.is_empty() {
                break;
            }
            self.budget(budget).await?;
            let (query, variables) = comments_query(self.owner, self.repo, &pages);
            let (data, reply) = self.send(&query, variables).await?;
            walk.queries += 1;
            if started.is_none() {
                started = server_date(&reply);
            }
            budget = read_budget(&data);
            walk.points += budget.map_or(0, |b| b.cost);
            let repo = match data.get("repository") {
                Some(r) if !r.is_null() => r,
                _ => {
                    return Err(GraphqlError::Tracker(TrackerError::NotFound {
                        service: "GitHub".into(),
                        what: format!("repository {}/{}", self.owner, self.repo),
                    }))
                }
            };
            let repo_api = self.repo_api(repo);
            for (i, page) in pages.into_iter().enumerate() {
                let comments = &repo[format!("i{i}").as_str()]["comments"];
                // The item vanished since it was listed (deleted, transferred).
                if comments.is_null() {
                    continue;
                }
                for c in comments["nodes"].as_array().into_iter().flatten() {
                    let record = convert::comment(
                        rest_comment(c, page.number, &repo_api, self.client.api_url())?,
                        "/graphql",
                    )?;
                    newest = newest.max(Some(record.updated_at));
                    out.send(Record::Comment(record))
                        .await
                        .map_err(|_| TrackerError::Aborted)?;
                    fetched += 1;
                }
                if comments["pageInfo"]["hasNextPage"].as_bool() == Some(true) {
                    let after = comments["pageInfo"]["endCursor"]
                        .as_str()
                        .ok_or_else(|| decode("a page that has a next one but no endCursor"))?;
                    queue.push(CommentPage {
                        after: Some(after.to_string()),
                        expect: 100,
                        ..page
                    });
                }
            }
            progress.update(RecordKind::Comment, fetched, None);
        }
        let resume = started.map(|t| t - chrono::Duration::seconds(1));
        walk.newest = match (newest, resume) {
            (Some(n), Some(r)) => Some(n.min(r)),
            (n, _) => n,
        };
        Ok(())
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

/// Comment pages waiting for a query, taken a query's worth at a time.
#[derive(Debug, Default)]
struct Batcher {
    pages: std::collections::VecDeque<CommentPage>,
    /// Comments the waiting pages are expected to hold.
    expected: u64,
}

impl Batcher {
    fn push(&mut self, page: CommentPage) {
        self.expected += page.expect;
        self.pages.push_back(page);
    }

    /// Enough waiting for a whole query.
    fn full(&self) -> bool {
        self.pages.len() >= ITEMS_PER_QUERY || self.expected >= COMMENTS_PER_QUERY
    }

    /// The next query's pages: up to [`ITEMS_PER_QUERY`] and [`COMMENTS_PER_QUERY`] (at
    /// least one page).
    fn take(&mut self) -> Vec<CommentPage> {
        let mut pages = Vec::new();
        let mut comments = 0;
        while let Some(next) = self.pages.front() {
            if pages.len() == ITEMS_PER_QUERY
                || (!pages.is_empty() && comments + next.expect > COMMENTS_PER_QUERY)
            {
                break;
            }
            comments += next.expect;
            self.expected -= next.expect;
            pages.extend(self.pages.pop_front());
        }
        pages
    }
}

/// A `NOT_FOUND` error at one item's alias (`["repository", "i3"]`): the item is gone.
fn vanished_item(error: &Value) -> bool {
    let at_alias = error
        .get("path")
        .and_then(Value::as_array)
        .is_some_and(|p| {
            p.len() == 2
                && p[0].as_str() == Some("repository")
                && p[1].as_str().is_some_and(|a| a.starts_with('i'))
        });
    at_alias && error.get("type").and_then(Value::as_str) == Some("NOT_FOUND")
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

pub(super) fn server_date(reply: &Reply) -> Option<DateTime<Utc>> {
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
