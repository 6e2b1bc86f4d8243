//! Several repositories of one organisation behind one address, and the GitHub App installed
//! on it: the front that a sandbox started with more than one repository (or with an app)
//! puts before the per-repository sandboxes.
//!
//! Each repository is a complete single-repository sandbox (its own store, stats, rate window
//! and write limit, seeded with its own seed); the front answers what spans repositories —
//! `GET /orgs/{org}/repos`, `/users/{user}/repos`, `/user/repos`,
//! `/installation/repositories` — and the App endpoints (`/app`, `/app/installations…`,
//! `/orgs/{org}/installation`, `POST /app/installations/{id}/access_tokens`), then hands
//! `/repos/{owner}/{repo}/…` to that repository's sandbox and everything else to the first
//! repository's. An installation token is checked here (an expired one answers 401 `Bad
//! credentials`) and stands, inside the repository's sandbox, for the app's bot user, so
//! handlers see the bot as the actor just as GitHub shows `SLUG[bot]`.
//!
//! Archived repositories are listed with `"archived": true` and refuse writes with GitHub's
//! 403. Sandbox-only: `POST /_sandbox/faults` `{"repository": "acme/x", "status": 500}`
//! makes every request to one repository fail with that status until `"status": null`, so a
//! test can break one repository of many; `GET /_sandbox/stats` sums every repository's
//! counters and adds `by_repository` and the installation tokens issued.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};
use tower::ServiceExt as _;

use super::app::{App, TokenCheck};
use super::http::{ApiError, Ctx, Params, Reply};
use super::render::Render;
use super::state::UserKind;
use super::Shared;
use crate::meter::SandboxStats;
use crate::server;

/// One served repository.
pub(crate) struct Served {
    pub(crate) shared: Arc<Shared>,
    pub(crate) archived: bool,
    router: Router,
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served")
            .field("repo", &self.shared.opts.repo)
            .field("archived", &self.archived)
            .finish_non_exhaustive()
    }
}

impl Served {
    pub(crate) fn new(shared: Arc<Shared>, archived: bool) -> Served {
        let router = super::router(shared.clone());
        Served {
            shared,
            archived,
            router,
        }
    }

    fn name(&self) -> &str {
        &self.shared.opts.repo
    }
}

/// The front: the repositories in creation order (the first is the primary) and the app.
pub(crate) struct Fleet {
    pub(crate) owner: String,
    pub(crate) repos: Vec<Served>,
    pub(crate) app: Option<App>,
    /// What an installation token becomes inside a repository's sandbox: the bot's own token
    /// there. Random per start and never sent to a client.
    pub(crate) bot_token: String,
    /// Lower-case repository name → the status every request to it answers.
    faults: Mutex<HashMap<String, StatusCode>>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("owner", &self.owner)
            .field("repos", &self.repos)
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

/// Who a request's credentials say it is, as far as the front cares.
enum Who {
    Anonymous,
    /// A personal token (or any `--token`): the user's index in the store.
    User(usize),
    /// A valid installation token.
    Installation,
    /// A valid app JWT.
    App,
}

impl Fleet {
    pub(crate) fn new(
        owner: String,
        repos: Vec<Served>,
        app: Option<App>,
        bot_token: String,
    ) -> Fleet {
        Fleet {
            owner,
            repos,
            app,
            bot_token,
            faults: Mutex::new(HashMap::new()),
        }
    }

    fn primary(&self) -> &Served {
        &self.repos[0]
    }

    fn find(&self, owner: &str, repo: &str) -> Option<&Served> {
        if !owner.eq_ignore_ascii_case(&self.owner) {
            return None;
        }
        self.repos
            .iter()
            .find(|r| r.name().eq_ignore_ascii_case(repo))
    }

    fn fault(&self, repo: &str) -> Option<StatusCode> {
        self.faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&repo.to_ascii_lowercase())
            .copied()
    }

    /// Every repository's counters added up.
    pub(crate) fn stats(&self) -> SandboxStats {
        let mut sum = SandboxStats::default();
        for r in &self.repos {
            let s = r.shared.meter().stats().clone();
            sum.total += s.total;
            sum.writes += s.writes;
            sum.not_modified += s.not_modified;
            sum.response_bytes += s.response_bytes;
            for (k, v) in s.by_method {
                *sum.by_method.entry(k).or_default() += v;
            }
            for (k, v) in s.by_route {
                *sum.by_route.entry(k).or_default() += v;
            }
        }
        sum
    }

    fn identify(&self, headers: &HeaderMap) -> Result<Who, ApiError> {
        let Some(cred) = credential(headers) else {
            return Ok(Who::Anonymous);
        };
        let bad = || ApiError::new(StatusCode::UNAUTHORIZED, "Bad credentials");
        let cred = cred.map_err(|()| bad())?;
        if let Some(app) = &self.app {
            if cred.matches('.').count() == 2 {
                app.verify_jwt(&cred)?;
                return Ok(Who::App);
            }
            match app.check(&cred) {
                TokenCheck::Valid => return Ok(Who::Installation),
                TokenCheck::Expired => return Err(bad()),
                TokenCheck::Unknown => {}
            }
        }
        if cred == self.bot_token {
            return Err(bad());
        }
        self.primary()
            .shared
            .tokens
            .get(&cred)
            .map(|u| Who::User(*u))
            .ok_or_else(bad)
    }

    /// The API context of a front request, as the per-repository gate builds it.
    fn ctx(&self, headers: &HeaderMap, prefixed: bool, path: &str) -> Ctx {
        let sb = &self.primary().shared;
        let o = server::origin(sb.opts.server.public_url.as_deref(), sb.local_addr, headers);
        let origin = o.strip_suffix("/api/v3").map_or(o.clone(), str::to_owned);
        Ctx {
            api: if prefixed {
                format!("{origin}/api/v3")
            } else {
                origin.clone()
            },
            origin,
            path: path.to_owned(),
        }
    }

    /// One repository as the listings show it; `permissions` as the caller holds them.
    fn repository(&self, r: &Served, ctx: &Ctx, permissions: bool) -> Value {
        let st = r.shared.read();
        let mut v = Render::new(ctx, &st).repository();
        if permissions {
            v["permissions"] = json!({"admin": !r.archived, "maintain": !r.archived,
                "push": !r.archived, "triage": !r.archived, "pull": true});
        }
        v
    }

    fn installation(&self, app: &App, ctx: &Ctx) -> Value {
        let st = self.primary().shared.read();
        let account = Render::new(ctx, &st).user(st.org);
        let at = |t: i64| chrono::DateTime::from_timestamp(t, 0).map(|t| t.to_rfc3339());
        json!({
            "id": app.installation_id,
            "client_id": format!("Iv1.{:016x}", app.id),
            "account": account,
            "repository_selection": "all",
            "access_tokens_url": format!("{}/app/installations/{}/access_tokens", ctx.api, app.installation_id),
            "repositories_url": format!("{}/installation/repositories", ctx.api),
            "html_url": format!("{}/organizations/{}/settings/installations/{}", ctx.origin, self.owner, app.installation_id),
            "app_id": app.id,
            "app_slug": app.slug,
            "target_id": account.get("id").cloned().unwrap_or(Value::Null),
            "target_type": "Organization",
            "permissions": App::permissions(),
            "events": ["issues", "issue_comment", "label", "milestone"],
            "created_at": at(app.created_at),
            "updated_at": at(app.created_at),
            "single_file_name": null,
            "has_multiple_single_files": false,
            "single_file_paths": [],
            "suspended_by": null,
            "suspended_at": null,
        })
    }
}

/// The credential of `token X`, `Bearer X` or Basic auth (`X:x-oauth-basic`); `Err` when the
/// header is there but unreadable.
fn credential(headers: &HeaderMap) -> Option<Result<String, ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let Some((scheme, cred)) = value.to_str().ok().and_then(|v| v.trim().split_once(' ')) else {
        return Some(Err(()));
    };
    let cred = cred.trim();
    Some(match scheme.to_ascii_lowercase().as_str() {
        "token" | "bearer" => Ok(cred.to_owned()),
        "basic" => base64::engine::general_purpose::STANDARD
            .decode(cred)
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|pair| {
                let (u, p) = pair.split_once(':')?;
                Some(
                    if p.is_empty() || p == "x-oauth-basic" {
                        u
                    } else {
                        p
                    }
                    .to_owned(),
                )
            })
            .ok_or(()),
        _ => Err(()),
    })
}

pub(crate) fn router(fleet: Arc<Fleet>) -> Router {
    Router::new().fallback(dispatch).with_state(fleet)
}

async fn dispatch(State(fleet): State<Arc<Fleet>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let (prefixed, rest) = match path.strip_prefix("/api/v3") {
        Some(r) if r.is_empty() || r.starts_with('/') => (true, r),
        _ => (false, path.as_str()),
    };
    if rest.starts_with("/_sandbox/") {
        return sandbox_route(&fleet, req).await;
    }
    let segments: Vec<&str> = rest.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    if let ["repos", owner, repo, more @ ..] = segments.as_slice() {
        // `/repos/{owner}/{repo}/installation` is the app's (a JWT), the rest the repository's.
        if !(more == ["installation"] && method == Method::GET) {
            return to_repository(&fleet, owner, repo, req).await;
        }
    }
    if method == Method::POST && matches!(segments.as_slice(), ["graphql"] | ["api", "graphql"]) {
        return graphql(&fleet, req).await;
    }
    let front = front_route(&method, &segments);
    let Some(route) = front else {
        let router = fleet.primary().router.clone();
        return forward(&fleet, router, req).await;
    };
    // The front's own operations count in the first repository's stats, under their route.
    fleet.primary().shared.meter().record(
        method.as_str(),
        format!("{method} {route}"),
        method != Method::GET,
    );
    let latency = fleet.primary().shared.opts.server.latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let ctx = fleet.ctx(req.headers(), prefixed, &path);
    let params = Params(
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect(),
    );
    match front_answer(&fleet, route, &segments, &ctx, &params, req.headers()) {
        Ok(reply) => reply.into_response(),
        Err(e) => e.with_docs(docs(route)).into_response(),
    }
}

/// The route template of an operation the front answers itself.
fn front_route(method: &Method, segments: &[&str]) -> Option<&'static str> {
    let get = *method == Method::GET;
    Some(match segments {
        ["orgs", _, "repos"] if get => "/orgs/{org}/repos",
        ["users", _, "repos"] if get => "/users/{username}/repos",
        ["user", "repos"] if get => "/user/repos",
        ["installation", "repositories"] if get => "/installation/repositories",
        ["app"] if get => "/app",
        ["app", "installations"] if get => "/app/installations",
        ["app", "installations", _] if get => "/app/installations/{installation_id}",
        ["app", "installations", _, "access_tokens"] if *method == Method::POST => {
            "/app/installations/{installation_id}/access_tokens"
        }
        ["orgs", _, "installation"] if get => "/orgs/{org}/installation",
        ["users", _, "installation"] if get => "/users/{username}/installation",
        ["repos", _, _, "installation"] if get => "/repos/{owner}/{repo}/installation",
        _ => return None,
    })
}

/// GitHub's documentation page of each front operation (named in its errors).
fn docs(route: &str) -> &'static str {
    match route {
        "/orgs/{org}/repos" => "https://docs.github.com/rest/repos/repos#list-organization-repositories",
        "/users/{username}/repos" => "https://docs.github.com/rest/repos/repos#list-repositories-for-a-user",
        "/user/repos" => "https://docs.github.com/rest/repos/repos#list-repositories-for-the-authenticated-user",
        "/installation/repositories" => "https://docs.github.com/rest/apps/installations#list-repositories-accessible-to-the-app-installation",
        "/app" => "https://docs.github.com/rest/apps/apps#get-the-authenticated-app",
        "/app/installations" => "https://docs.github.com/rest/apps/apps#list-installations-for-the-authenticated-app",
        "/app/installations/{installation_id}" => "https://docs.github.com/rest/apps/apps#get-an-installation-for-the-authenticated-app",
        "/app/installations/{installation_id}/access_tokens" => "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app",
        "/orgs/{org}/installation" => "https://docs.github.com/rest/apps/apps#get-an-organization-installation-for-the-authenticated-app",
        "/users/{username}/installation" => "https://docs.github.com/rest/apps/apps#get-a-user-installation-for-the-authenticated-app",
        _ => "https://docs.github.com/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app",
    }
}

fn front_answer(
    fleet: &Fleet,
    route: &str,
    segments: &[&str],
    ctx: &Ctx,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Reply, ApiError> {
    let who = fleet.identify(headers)?;
    let app_route = route.starts_with("/app") || route.ends_with("/installation");
    if app_route {
        let Some(app) = &fleet.app else {
            return Err(ApiError::not_found());
        };
        if !matches!(who, Who::App) {
            // GitHub's answer to anything but a JWT on the app's endpoints.
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "A JSON web token could not be decoded",
            ));
        }
        return app_answer(fleet, app, route, segments, ctx);
    }
    if matches!(who, Who::App) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        ));
    }
    let bot = |u: usize| {
        matches!(
            fleet.primary().shared.read().users.get(u).map(|u| u.kind),
            Some(UserKind::Bot { .. })
        )
    };
    let listed: Vec<&Served> = match route {
        "/orgs/{org}/repos" | "/users/{username}/repos" => {
            if !segments[1].eq_ignore_ascii_case(&fleet.owner) {
                return Err(ApiError::not_found());
            }
            let mut repos: Vec<&Served> = match params.get("type") {
                Some("private" | "forks" | "internal") => Vec::new(),
                _ => fleet.repos.iter().collect(),
            };
            // GitHub's default order here: newest first (`sort=created`, `direction=desc`);
            // the repositories were created in the order they are served.
            match params.get("sort") {
                Some("full_name") => {
                    repos.sort_by_key(|r| r.name().to_ascii_lowercase());
                    if params.desc(false) {
                        repos.reverse();
                    }
                }
                _ if params.desc(true) => repos.reverse(),
                _ => {}
            }
            repos
        }
        "/user/repos" => match who {
            Who::Anonymous => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "Requires authentication",
                ))
            }
            Who::Installation | Who::App => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "Resource not accessible by integration",
                ))
            }
            Who::User(u) if bot(u) => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "Resource not accessible by integration",
                ))
            }
            // Only the default token's user is a member; other users see no repository.
            Who::User(u) => {
                let member = fleet.primary().shared.tokens.get(&fleet.primary().shared.opts.token)
                    == Some(&u);
                let mut repos: Vec<&Served> = if member {
                    fleet.repos.iter().collect()
                } else {
                    Vec::new()
                };
                // Default `sort=full_name`, ascending.
                repos.sort_by_key(|r| r.name().to_ascii_lowercase());
                if params.desc(false) {
                    repos.reverse();
                }
                repos
            }
        },
        // `/installation/repositories`.
        _ => match who {
            Who::Installation => fleet.repos.iter().collect(),
            _ => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "You must authenticate with an installation access token in order to list repositories for an installation.",
                ))
            }
        },
    };
    let paging = params.page();
    let total = listed.len();
    let permissions = !matches!(who, Who::Anonymous);
    let (page, _) = paging.take(listed.into_iter());
    let items: Vec<Value> = page
        .into_iter()
        .map(|r| fleet.repository(r, ctx, permissions))
        .collect();
    let link = paging.link(ctx, params, total);
    let body = if route == "/installation/repositories" {
        json!({"total_count": total, "repository_selection": "all", "repositories": items})
    } else {
        Value::Array(items)
    };
    Ok(Reply::ok(&body).with_link(link))
}

fn app_answer(
    fleet: &Fleet,
    app: &App,
    route: &str,
    segments: &[&str],
    ctx: &Ctx,
) -> Result<Reply, ApiError> {
    let ours = |id: &str| id.parse::<u64>().ok() == Some(app.installation_id);
    match route {
        "/app" => {
            let st = fleet.primary().shared.read();
            let owner = Render::new(ctx, &st).user(st.org);
            let at = chrono::DateTime::from_timestamp(app.created_at, 0).map(|t| t.to_rfc3339());
            Ok(Reply::ok(&json!({
                "id": app.id,
                "slug": app.slug,
                "client_id": format!("Iv1.{:016x}", app.id),
                "node_id": format!("A_kwHO{:08x}", app.id),
                "owner": owner,
                "name": app.slug,
                "description": "GitHub App served by the backtrack sandbox",
                "external_url": ctx.origin,
                "html_url": format!("{}/apps/{}", ctx.origin, app.slug),
                "created_at": at,
                "updated_at": at,
                "permissions": App::permissions(),
                "events": ["issues", "issue_comment", "label", "milestone"],
                "installations_count": 1,
            })))
        }
        "/app/installations" => Ok(Reply::ok(&json!([fleet.installation(app, ctx)]))),
        "/app/installations/{installation_id}" if ours(segments[2]) => {
            Ok(Reply::ok(&fleet.installation(app, ctx)))
        }
        "/app/installations/{installation_id}/access_tokens" if ours(segments[2]) => {
            let (token, expires) = app.issue();
            let at = chrono::DateTime::from_timestamp(expires, 0)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            Ok(Reply::json(
                StatusCode::CREATED,
                &json!({"token": token, "expires_at": at, "permissions": App::permissions(),
                        "repository_selection": "all"}),
            ))
        }
        "/orgs/{org}/installation" | "/users/{username}/installation"
            if segments[1].eq_ignore_ascii_case(&fleet.owner) =>
        {
            Ok(Reply::ok(&fleet.installation(app, ctx)))
        }
        "/repos/{owner}/{repo}/installation" if fleet.find(segments[1], segments[2]).is_some() => {
            Ok(Reply::ok(&fleet.installation(app, ctx)))
        }
        _ => Err(ApiError::not_found()),
    }
}

/// `/repos/{owner}/{repo}/…`: the repository's own sandbox, after the front's refusals (an
/// unknown repository, a fault switched on, a write to an archived repository).
async fn to_repository(fleet: &Arc<Fleet>, owner: &str, repo: &str, req: Request) -> Response {
    let Some(served) = fleet.find(owner, repo) else {
        // Unknown repositories count too (as GitHub counts them against the rate limit).
        let method = req.method().clone();
        fleet.primary().shared.meter().record(
            method.as_str(),
            format!("{method} /repos/{{owner}}/{{repo}}"),
            false,
        );
        return ApiError::not_found().into_response();
    };
    let method = req.method().clone();
    let write = !matches!(method, Method::GET | Method::HEAD);
    if let Some(status) = fleet.fault(served.name()) {
        return fault_reply(served, status, &method, write);
    }
    if served.archived && write {
        served
            .shared
            .meter()
            .record(method.as_str(), format!("{method} (archived)"), true);
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "Repository was archived so is read-only.",
        )
        .into_response();
    }
    let router = served.router.clone();
    forward(fleet, router, req).await
}

/// Hands a request to a repository's sandbox, an installation token standing for the bot.
/// `POST /graphql` goes to the repository the query names (the first one when it names
/// none or one not served, which then answers GitHub's error), with that repository's
/// faults; a query is a read, so an archived repository answers it.
async fn graphql(fleet: &Arc<Fleet>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, GRAPHQL_BODY_LIMIT).await else {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large").into_response();
    };
    let served = super::graphql::repository_named(&bytes)
        .and_then(|(owner, repo)| fleet.find(&owner, &repo))
        .unwrap_or_else(|| fleet.primary());
    if let Some(status) = fleet.fault(served.name()) {
        return fault_reply(served, status, &Method::POST, false);
    }
    let req = Request::from_parts(parts, Body::from(bytes));
    forward(fleet, served.router.clone(), req).await
}

/// The answer of a repository broken on purpose (`POST /_sandbox/faults`), counted in its
/// stats like any request.
fn fault_reply(served: &Served, status: StatusCode, method: &Method, write: bool) -> Response {
    served
        .shared
        .meter()
        .record(method.as_str(), format!("{method} (fault)"), write);
    let message = match status.as_u16() {
        500 | 502 => "Server Error".to_owned(),
        s => status
            .canonical_reason()
            .map_or_else(|| format!("HTTP {s}"), str::to_owned),
    };
    ApiError::new(status, &message).into_response()
}

/// The largest GraphQL request body the front buffers to find its repository.
const GRAPHQL_BODY_LIMIT: usize = 8 * 1024 * 1024;

async fn forward(fleet: &Fleet, router: Router, mut req: Request) -> Response {
    if let (Some(app), Some(Ok(cred))) = (&fleet.app, credential(req.headers())) {
        match app.check(&cred) {
            TokenCheck::Valid => {
                if let Ok(v) = HeaderValue::from_str(&format!("token {}", fleet.bot_token)) {
                    req.headers_mut().insert(header::AUTHORIZATION, v);
                }
            }
            TokenCheck::Expired => {
                return ApiError::new(StatusCode::UNAUTHORIZED, "Bad credentials").into_response()
            }
            TokenCheck::Unknown => {}
        }
    }
    match router.oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

/// `/_sandbox/…`: stats and reset span every repository; faults are the front's; the rest
/// (clock, git) belong to the first repository.
async fn sandbox_route(fleet: &Arc<Fleet>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    match (method, path.as_str()) {
        (Method::GET, "/_sandbox/stats") => {
            let mut v = serde_json::to_value(fleet.stats()).unwrap_or_default();
            let by_repo: BTreeMap<String, u64> = fleet
                .repos
                .iter()
                .map(|r| {
                    (
                        format!("{}/{}", fleet.owner, r.name()),
                        r.shared.meter().stats().total,
                    )
                })
                .collect();
            v["by_repository"] = json!(by_repo);
            if let Some(app) = &fleet.app {
                v["installation_tokens_issued"] = json!(app.tokens_issued());
                v["installation_tokens_used"] = json!(app.tokens_used());
                v["expired_token_refusals"] = json!(app.expired_refusals());
            }
            Reply::ok(&v).into_response()
        }
        (Method::POST, "/_sandbox/reset") => {
            let mut counts = [0u64; 4];
            for r in &fleet.repos {
                let worker = r.shared.clone();
                if tokio::task::spawn_blocking(move || worker.reset())
                    .await
                    .is_err()
                {
                    return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "reset failed")
                        .into_response();
                }
                let (i, c, l, m) = r.shared.read().counts();
                for (sum, n) in counts.iter_mut().zip([i, c, l, m]) {
                    *sum += n;
                }
            }
            fleet
                .faults
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
            Reply::ok(
                &json!({"reset": true, "issues": counts[0], "comments": counts[1],
                              "labels": counts[2], "milestones": counts[3]}),
            )
            .into_response()
        }
        (Method::GET, "/_sandbox/faults") => Reply::ok(&faults_json(fleet)).into_response(),
        (Method::POST, "/_sandbox/faults") => {
            let Ok(bytes) = axum::body::to_bytes(req.into_body(), 1 << 16).await else {
                return ApiError::bad_json().into_response();
            };
            match set_fault(fleet, &bytes) {
                Ok(()) => Reply::ok(&faults_json(fleet)).into_response(),
                Err(message) => Reply::json(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!({"message": message, "documentation_url": super::http::DOCS_URL}),
                )
                .into_response(),
            }
        }
        _ => {
            let router = fleet.primary().router.clone();
            match router.oneshot(req.map(Body::new)).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            }
        }
    }
}

fn faults_json(fleet: &Fleet) -> Value {
    let faults = fleet.faults.lock().unwrap_or_else(PoisonError::into_inner);
    let mut list: Vec<Value> = fleet
        .repos
        .iter()
        .filter_map(|r| {
            faults.get(&r.name().to_ascii_lowercase()).map(|s| {
                json!({"repository": format!("{}/{}", fleet.owner, r.name()), "status": s.as_u16()})
            })
        })
        .collect();
    list.sort_by(|a, b| a["repository"].as_str().cmp(&b["repository"].as_str()));
    json!({ "faults": list })
}

fn set_fault(fleet: &Fleet, body: &[u8]) -> Result<(), String> {
    const USAGE: &str =
        "expected {\"repository\": \"OWNER/NAME\", \"status\": 400..=599 or null to clear}";
    let v: Value = serde_json::from_slice(body).map_err(|_| USAGE.to_owned())?;
    let full = v.get("repository").and_then(Value::as_str).ok_or(USAGE)?;
    let (owner, name) = full.split_once('/').ok_or(USAGE)?;
    let served = fleet
        .find(owner, name)
        .ok_or_else(|| format!("{full} is not served here"))?;
    let key = served.name().to_ascii_lowercase();
    let mut faults = fleet.faults.lock().unwrap_or_else(PoisonError::into_inner);
    match v.get("status") {
        None | Some(Value::Null) => {
            faults.remove(&key);
        }
        Some(s) => {
            let status = s
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| (400..=599).contains(n))
                .and_then(|n| StatusCode::from_u16(n).ok())
                .ok_or(USAGE)?;
            faults.insert(key, status);
        }
    }
    Ok(())
}
