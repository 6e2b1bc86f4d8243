//! GitHub-shaped JSON for the sandbox's objects, following the schemas of GitHub's OpenAPI
//! description (`issue`, `issue-comment`, `label`, `milestone`, `simple-user`, `public-user`,
//! `private-user`, `full-repository`, `root`). URLs are absolute and built from the request's
//! [`Ctx`], so they follow the public URL and the `/api/v3` prefix.
//!
//! Objects are rendered per request, but only the page being served: listing never renders
//! (or serializes) anything that is not returned.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::http::Ctx;
use super::state::{
    Comment, Event, EventKind, Issue, IssueType, Label, Milestone, Reaction, State, Subject, Ts,
    UserKind, REACTIONS,
};

/// RFC 3339 in UTC with second resolution, like GitHub (`2024-01-31T12:00:00Z`).
pub(crate) fn ts(t: Ts) -> Value {
    match chrono::DateTime::from_timestamp(t, 0) {
        Some(d) => Value::String(d.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        None => Value::Null,
    }
}

fn ts_opt(t: Option<Ts>) -> Value {
    t.map_or(Value::Null, ts)
}

/// GitHub's legacy global node id: base64 of `0{len(kind)}:{kind}{id}` (e.g. `MDU6SXNzdWUx`).
pub(crate) fn node_id(kind: &str, id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("0{}:{kind}{id}", kind.len()))
}

/// Percent-encodes one path segment (label names contain spaces, colons…).
pub(crate) fn encode_segment(s: &str) -> String {
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

/// Renders objects of one store for one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Render<'a> {
    pub ctx: &'a Ctx,
    pub st: &'a State,
}

impl<'a> Render<'a> {
    pub(crate) fn new(ctx: &'a Ctx, st: &'a State) -> Self {
        Render { ctx, st }
    }

    pub(crate) fn repo_api(&self) -> String {
        format!("{}/repos/{}/{}", self.ctx.api, self.st.owner, self.st.repo)
    }

    pub(crate) fn repo_web(&self) -> String {
        format!("{}/{}/{}", self.ctx.origin, self.st.owner, self.st.repo)
    }

    /// `simple-user`. A bot's login (`name[bot]`) is percent-encoded in its API URLs and its
    /// page is the app's, as on GitHub.
    pub(crate) fn user(&self, idx: usize) -> Value {
        let Some(u) = self.st.users.get(idx) else {
            return Value::Null;
        };
        let api = format!("{}/users/{}", self.ctx.api, encode_segment(&u.login));
        let (kind, html_url, avatar) = match u.kind {
            UserKind::User => (
                "User",
                format!("{}/{}", self.ctx.origin, u.login),
                format!("https://avatars.githubusercontent.com/u/{}?v=4", u.id),
            ),
            UserKind::Organization => (
                "Organization",
                format!("{}/{}", self.ctx.origin, u.login),
                format!("https://avatars.githubusercontent.com/u/{}?v=4", u.id),
            ),
            UserKind::Bot { app } => (
                "Bot",
                format!(
                    "{}/apps/{}",
                    self.ctx.origin,
                    u.login.trim_end_matches("[bot]")
                ),
                format!("https://avatars.githubusercontent.com/in/{app}?v=4"),
            ),
        };
        json!({
            "login": u.login,
            "id": u.id,
            "node_id": node_id(kind, u.id),
            "avatar_url": avatar,
            "gravatar_id": "",
            "url": api,
            "html_url": html_url,
            "followers_url": format!("{api}/followers"),
            "following_url": format!("{api}/following{{/other_user}}"),
            "gists_url": format!("{api}/gists{{/gist_id}}"),
            "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
            "subscriptions_url": format!("{api}/subscriptions"),
            "organizations_url": format!("{api}/orgs"),
            "repos_url": format!("{api}/repos"),
            "events_url": format!("{api}/events{{/privacy}}"),
            "received_events_url": format!("{api}/received_events"),
            "type": kind,
            "user_view_type": "public",
            "site_admin": false,
        })
    }

    /// `public-user`, or `private-user` for the authenticated user (`GET /user`).
    pub(crate) fn user_full(&self, idx: usize, private: bool) -> Value {
        let mut v = self.user(idx);
        let Some(u) = self.st.users.get(idx) else {
            return v;
        };
        if let Value::Object(m) = &mut v {
            let extra = json!({
                "name": u.name,
                "company": null,
                "blog": "",
                "location": null,
                "email": null,
                "hireable": null,
                "bio": null,
                "twitter_username": null,
                "public_repos": if u.kind == UserKind::Organization { 1 } else { 0 },
                "public_gists": 0,
                "followers": 0,
                "following": 0,
                "created_at": ts(u.created_at),
                "updated_at": ts(u.created_at),
            });
            merge(m, extra);
            if private {
                merge(
                    m,
                    json!({
                        "user_view_type": "private",
                        "private_gists": 0,
                        "total_private_repos": 0,
                        "owned_private_repos": 0,
                        "disk_usage": 0,
                        "collaborators": 0,
                        "two_factor_authentication": true,
                        "plan": {"name": "free", "space": 976562499,
                                 "private_repos": 10000, "collaborators": 0},
                    }),
                );
            }
        }
        v
    }

    pub(crate) fn label(&self, l: &Label) -> Value {
        json!({
            "id": l.id,
            "node_id": node_id("Label", l.id),
            "url": format!("{}/labels/{}", self.repo_api(), encode_segment(&l.name)),
            "name": l.name,
            "color": l.color,
            "default": l.default,
            "description": l.description,
        })
    }

    /// An issue's labels as objects, in label id order like GitHub today: neither by name
    /// nor in the order they were applied. A recorded `GET /repos/kubernetes/kubernetes/
    /// issues/113757` (2023) lists `kind/bug`, `area/security`, `area/apiserver`,
    /// `sig/api-machinery`, `committee/security-response`… by ascending id, though the
    /// command that applied them named `area/security` first and `committee/…` before
    /// `sig/…`; octokit's recorded `POST …/issues/1/labels` of `Foo`, `bAr`, `baZ` (2022)
    /// answers in that order, which no case-insensitive sort gives. (Recordings from 2017,
    /// in github3.py's cassettes, still show issue labels sorted by name.) So renaming a
    /// label never reorders an issue's labels.
    pub(crate) fn issue_labels(&self, i: &Issue) -> Vec<Value> {
        let mut ls: Vec<&Label> = i
            .labels
            .iter()
            .filter_map(|id| self.st.labels.get(id))
            .collect();
        ls.sort_by_key(|l| l.id);
        ls.into_iter().map(|l| self.label(l)).collect()
    }

    pub(crate) fn milestone(&self, m: &Milestone) -> Value {
        let url = format!("{}/milestones/{}", self.repo_api(), m.number);
        json!({
            "url": url,
            "html_url": format!("{}/milestone/{}", self.repo_web(), m.number),
            "labels_url": format!("{url}/labels"),
            "id": m.id,
            "node_id": node_id("Milestone", m.id),
            "number": m.number,
            "state": if m.open { "open" } else { "closed" },
            "title": m.title,
            "description": m.description,
            "creator": self.user(m.creator),
            "open_issues": m.open_issues,
            "closed_issues": m.closed_issues,
            "created_at": ts(m.created_at),
            "updated_at": ts(m.updated_at),
            "closed_at": ts_opt(m.closed_at),
            "due_on": ts_opt(m.due_on),
        })
    }

    /// The `reactions` rollup of an issue or comment: a count per content.
    fn reactions(&self, url: String, subject: Subject) -> Value {
        let on = self.st.reactions_on(subject);
        let mut m = Map::new();
        m.insert("url".into(), Value::String(url));
        m.insert("total_count".into(), on.len().into());
        for c in REACTIONS {
            let n = on.iter().filter(|r| r.content == *c).count();
            m.insert((*c).to_owned(), n.into());
        }
        Value::Object(m)
    }

    /// `reaction`.
    pub(crate) fn reaction(&self, r: &Reaction) -> Value {
        json!({
            "id": r.id,
            "node_id": node_id("Reaction", r.id),
            "user": self.user(r.user),
            "content": r.content,
            "created_at": ts(r.created_at),
        })
    }

    /// `issue-type`.
    pub(crate) fn issue_type(&self, t: &IssueType) -> Value {
        json!({
            "id": t.id,
            "node_id": node_id("IssueType", t.id),
            "name": t.name,
            "description": t.description,
            "color": t.color,
            "created_at": ts(self.st.repo_created_at),
            "updated_at": ts(self.st.repo_created_at),
            "is_enabled": true,
        })
    }

    /// `issue-type-webhook`, the short form events carry.
    fn issue_type_short(&self, id: u64) -> Value {
        self.st.issue_type(id).map_or(Value::Null, |t| {
            json!({"id": t.id, "node_id": node_id("IssueType", t.id), "name": t.name,
                   "color": t.color, "description": t.description, "is_enabled": true})
        })
    }

    /// `issue-reference`: how an event names the other issue of a sub-issue or dependency.
    fn issue_ref(&self, number: u64) -> Value {
        let Some(i) = self.st.issues.get((number as usize).wrapping_sub(1)) else {
            return Value::Null;
        };
        json!({
            "number": i.number,
            "title": i.title,
            "state": if i.open { "open" } else { "closed" },
            "state_reason": i.state_reason.map(|r| r.as_str()),
            "repository": self.simple_repository(),
            "issue_type": i.issue_type.map_or(Value::Null, |t| self.issue_type_short(t)),
        })
    }

    /// `simple-repository`.
    fn simple_repository(&self) -> Value {
        let api = self.repo_api();
        let mut m = Map::new();
        for (key, suffix) in REPO_URLS {
            m.insert((*key).to_owned(), Value::String(format!("{api}{suffix}")));
        }
        merge(
            &mut m,
            json!({
                "id": self.st.repo_id,
                "node_id": node_id("Repository", self.st.repo_id),
                "name": self.st.repo,
                "full_name": format!("{}/{}", self.st.owner, self.st.repo),
                "owner": self.user(self.st.org),
                "private": false,
                "html_url": self.repo_web(),
                "description": "Sandbox repository served by backtrack",
                "fork": false,
                "url": api,
            }),
        );
        Value::Object(m)
    }

    /// `issue-event` (`with_issue`: the repository-wide forms, which embed the issue).
    pub(crate) fn event(&self, e: &Event, with_issue: bool) -> Value {
        let mut v = json!({
            "id": e.id,
            "node_id": node_id("IssueEvent", e.id),
            "url": format!("{}/issues/events/{}", self.repo_api(), e.id),
            "actor": self.user(e.actor),
            "event": e.kind.name(),
            "commit_id": null,
            "commit_url": null,
            "created_at": ts(e.created_at),
            "performed_via_github_app": null,
        });
        let label = |name: &str, color: &str| json!({"name": name, "color": color});
        match &e.kind {
            EventKind::Labeled { name, color } | EventKind::Unlabeled { name, color } => {
                v["label"] = label(name, color);
            }
            EventKind::Assigned { assignee } | EventKind::Unassigned { assignee } => {
                v["assignee"] = self.user(*assignee);
                v["assigner"] = self.user(e.actor);
            }
            EventKind::Milestoned { title } | EventKind::Demilestoned { title } => {
                v["milestone"] = json!({"title": title});
            }
            EventKind::Renamed { from, to } => v["rename"] = json!({"from": from, "to": to}),
            EventKind::Closed { reason } => v["state_reason"] = json!(reason),
            EventKind::Reopened => v["state_reason"] = json!("reopened"),
            EventKind::Locked { reason } => v["lock_reason"] = json!(reason),
            EventKind::Unlocked => v["lock_reason"] = Value::Null,
            EventKind::TypeAdded { to } => v["issue_type"] = self.issue_type_short(*to),
            EventKind::TypeRemoved { from } => v["issue_type"] = self.issue_type_short(*from),
            EventKind::TypeChanged { from, to } => {
                v["issue_type"] = self.issue_type_short(*to);
                v["prev_issue_type"] = self.issue_type_short(*from);
            }
            EventKind::SubIssueAdded { child } | EventKind::SubIssueRemoved { child } => {
                v["sub_issue"] = self.issue_ref(*child);
            }
            EventKind::ParentAdded { parent } | EventKind::ParentRemoved { parent } => {
                v["parent_issue"] = self.issue_ref(*parent);
            }
            EventKind::BlockedByAdded { other } | EventKind::BlockedByRemoved { other } => {
                v["blocked_by"] = self.issue_ref(*other);
            }
            EventKind::BlockingAdded { other } | EventKind::BlockingRemoved { other } => {
                v["blocking"] = self.issue_ref(*other);
            }
        }
        if with_issue {
            v["issue"] = self
                .st
                .issues
                .get((e.issue as usize).wrapping_sub(1))
                .map_or(Value::Null, |i| self.issue(i));
        }
        v
    }

    pub(crate) fn association(&self, user: usize) -> &'static str {
        self.st.users.get(user).map_or("NONE", |u| u.association)
    }

    /// `issue`, the same in lists and alone (`closed_by` included, as GitHub answers today).
    pub(crate) fn issue(&self, i: &Issue) -> Value {
        let repo_api = self.repo_api();
        let url = format!("{repo_api}/issues/{}", i.number);
        let web_kind = if i.pull.is_some() { "pull" } else { "issues" };
        let assignees: Vec<Value> = i.assignees.iter().map(|&u| self.user(u)).collect();
        let mut v = json!({
            "url": url,
            "repository_url": repo_api,
            "labels_url": format!("{url}/labels{{/name}}"),
            "comments_url": format!("{url}/comments"),
            "events_url": format!("{url}/events"),
            "html_url": format!("{}/{web_kind}/{}", self.repo_web(), i.number),
            "id": i.id,
            "node_id": node_id(if i.pull.is_some() { "PullRequest" } else { "Issue" }, i.id),
            "number": i.number,
            "title": i.title,
            "user": self.user(i.user),
            "labels": self.issue_labels(i),
            "state": if i.open { "open" } else { "closed" },
            "locked": i.locked,
            "assignee": assignees.first().cloned().unwrap_or(Value::Null),
            "assignees": assignees,
            "milestone": i.milestone
                .and_then(|m| self.st.milestones.get(&m))
                .map_or(Value::Null, |m| self.milestone(m)),
            "comments": i.comment_ids.len(),
            "created_at": ts(i.created_at),
            "updated_at": ts(i.updated_at),
            "closed_at": ts_opt(i.closed_at),
            "author_association": self.association(i.user),
            "active_lock_reason": i.lock_reason,
            "body": i.body,
            "closed_by": i.closed_by.map_or(Value::Null, |u| self.user(u)),
            "reactions": self.reactions(format!("{url}/reactions"), Subject::Issue(i.number)),
            "timeline_url": format!("{url}/timeline"),
            "performed_via_github_app": null,
            "state_reason": i.state_reason.map(|r| r.as_str()),
            "type": i.issue_type
                .and_then(|t| self.st.issue_type(t))
                .map_or(Value::Null, |t| self.issue_type(t)),
            "sub_issues_summary": self.sub_issues_summary(i),
            "issue_dependencies_summary": self.dependencies_summary(i),
            "parent_issue_url": i.parent.map_or(Value::Null, |p| {
                Value::String(format!("{repo_api}/issues/{p}"))
            }),
            "pinned_comment": i.pinned_comment
                .and_then(|c| self.st.comments.get(&c))
                .map_or(Value::Null, |c| self.comment(c)),
        });
        if let Some(pr) = &i.pull {
            let pulls = format!("{}/pull/{}", self.repo_web(), i.number);
            v["draft"] = Value::Bool(false);
            v["pull_request"] = json!({
                "url": format!("{repo_api}/pulls/{}", i.number),
                "html_url": pulls,
                "diff_url": format!("{pulls}.diff"),
                "patch_url": format!("{pulls}.patch"),
                "merged_at": ts_opt(pr.merged_at),
            });
        }
        v
    }

    /// `sub-issues-summary`: children, closed ones, and the share closed in whole percent.
    fn sub_issues_summary(&self, i: &Issue) -> Value {
        let total = i.sub_issues.len();
        let completed = i
            .sub_issues
            .iter()
            .filter_map(|&c| self.st.issues.get((c as usize).wrapping_sub(1)))
            .filter(|c| !c.open)
            .count();
        let percent = (completed * 100).checked_div(total).unwrap_or(0);
        json!({"total": total, "completed": completed, "percent_completed": percent})
    }

    /// `issue-dependencies-summary`: open blockers each way, and all of them.
    fn dependencies_summary(&self, i: &Issue) -> Value {
        let open = |ns: &[u64]| {
            ns.iter()
                .filter_map(|&n| self.st.issues.get((n as usize).wrapping_sub(1)))
                .filter(|x| x.open)
                .count()
        };
        json!({
            "blocked_by": open(&i.blocked_by),
            "blocking": open(&i.blocking),
            "total_blocked_by": i.blocked_by.len(),
            "total_blocking": i.blocking.len(),
        })
    }

    pub(crate) fn comment(&self, c: &Comment) -> Value {
        let repo_api = self.repo_api();
        let url = format!("{repo_api}/issues/comments/{}", c.id);
        json!({
            "url": url,
            "html_url": format!("{}/issues/{}#issuecomment-{}", self.repo_web(), c.issue, c.id),
            "issue_url": format!("{repo_api}/issues/{}", c.issue),
            "id": c.id,
            "node_id": node_id("IssueComment", c.id),
            "user": self.user(c.user),
            "created_at": ts(c.created_at),
            "updated_at": ts(c.updated_at),
            "body": c.body,
            "author_association": self.association(c.user),
            "reactions": self.reactions(format!("{url}/reactions"), Subject::Comment(c.id)),
            "performed_via_github_app": null,
        })
    }

    /// `full-repository`.
    pub(crate) fn repository(&self) -> Value {
        let api = self.repo_api();
        let web = self.repo_web();
        let st = self.st;
        let host = self
            .ctx
            .origin
            .split("://")
            .nth(1)
            .unwrap_or("localhost")
            .to_owned();
        let last_write = st
            .by_updated
            .iter()
            .next_back()
            .map_or(st.repo_created_at, |(t, _)| *t);
        let mut m = Map::new();
        for (key, suffix) in REPO_URLS {
            m.insert((*key).to_owned(), Value::String(format!("{api}{suffix}")));
        }
        let open = st.open_count;
        merge(
            &mut m,
            json!({
                "id": st.repo_id,
                "node_id": node_id("Repository", st.repo_id),
                "name": st.repo,
                "full_name": format!("{}/{}", st.owner, st.repo),
                "owner": self.user(st.org),
                "organization": self.user(st.org),
                "private": false,
                "visibility": "public",
                "html_url": web,
                "description": "Sandbox repository served by backtrack",
                "fork": false,
                "url": api,
                "git_url": format!("git://{host}/{}/{}.git", st.owner, st.repo),
                "ssh_url": format!("git@{host}:{}/{}.git", st.owner, st.repo),
                "clone_url": format!("{web}.git"),
                "svn_url": web,
                "mirror_url": null,
                "homepage": null,
                "language": "Rust",
                "forks_count": 0, "forks": 0,
                "stargazers_count": 0, "watchers_count": 0, "watchers": 0,
                "subscribers_count": 1, "network_count": 0,
                "size": 128,
                "default_branch": "main",
            }),
        );
        merge(
            &mut m,
            json!({
                "open_issues_count": open, "open_issues": open,
                "is_template": false,
                "topics": [],
                "has_issues": true, "has_projects": true, "has_wiki": false,
                "has_pages": false, "has_downloads": true, "has_discussions": false,
                "archived": st.archived, "disabled": false,
                "pushed_at": ts(last_write),
                "created_at": ts(st.repo_created_at),
                "updated_at": ts(last_write),
                "permissions": {"admin": true, "maintain": true, "push": true,
                                "triage": true, "pull": true},
                "allow_rebase_merge": true, "allow_squash_merge": true,
                "allow_merge_commit": true, "allow_auto_merge": false,
                "delete_branch_on_merge": false, "allow_forking": true,
                "web_commit_signoff_required": false,
                "license": null,
                "temp_clone_token": null,
            }),
        );
        Value::Object(m)
    }
}

/// `root`: the URL templates `GET /` advertises.
pub(crate) fn root(ctx: &Ctx) -> Value {
    let a = &ctx.api;
    let w = &ctx.origin;
    json!({
        "current_user_url": format!("{a}/user"),
        "current_user_authorizations_html_url": format!("{w}/settings/connections/applications{{/client_id}}"),
        "authorizations_url": format!("{a}/authorizations"),
        "code_search_url": format!("{a}/search/code?q={{query}}{{&page,per_page,sort,order}}"),
        "commit_search_url": format!("{a}/search/commits?q={{query}}{{&page,per_page,sort,order}}"),
        "emails_url": format!("{a}/user/emails"),
        "emojis_url": format!("{a}/emojis"),
        "events_url": format!("{a}/events"),
        "feeds_url": format!("{a}/feeds"),
        "followers_url": format!("{a}/user/followers"),
        "following_url": format!("{a}/user/following{{/target}}"),
        "gists_url": format!("{a}/gists{{/gist_id}}"),
        "hub_url": format!("{a}/hub"),
        "issue_search_url": format!("{a}/search/issues?q={{query}}{{&page,per_page,sort,order}}"),
        "issues_url": format!("{a}/issues"),
        "keys_url": format!("{a}/user/keys"),
        "label_search_url": format!("{a}/search/labels?q={{query}}&repository_id={{repository_id}}{{&page,per_page}}"),
        "notifications_url": format!("{a}/notifications"),
        "organization_url": format!("{a}/orgs/{{org}}"),
        "organization_repositories_url": format!("{a}/orgs/{{org}}/repos{{?type,page,per_page,sort}}"),
        "organization_teams_url": format!("{a}/orgs/{{org}}/teams"),
        "public_gists_url": format!("{a}/gists/public"),
        "rate_limit_url": format!("{a}/rate_limit"),
        "repository_url": format!("{a}/repos/{{owner}}/{{repo}}"),
        "repository_search_url": format!("{a}/search/repositories?q={{query}}{{&page,per_page,sort,order}}"),
        "current_user_repositories_url": format!("{a}/user/repos{{?type,page,per_page,sort}}"),
        "starred_url": format!("{a}/user/starred{{/owner}}{{/repo}}"),
        "starred_gists_url": format!("{a}/gists/starred"),
        "topic_search_url": format!("{a}/search/topics?q={{query}}{{&page,per_page}}"),
        "user_url": format!("{a}/users/{{user}}"),
        "user_organizations_url": format!("{a}/user/orgs"),
        "user_repositories_url": format!("{a}/users/{{user}}/repos{{?type,page,per_page,sort}}"),
        "user_search_url": format!("{a}/search/users?q={{query}}{{&page,per_page,sort,order}}"),
    })
}

fn merge(m: &mut Map<String, Value>, extra: Value) {
    if let Value::Object(e) = extra {
        m.extend(e);
    }
}

/// The `*_url` fields of a repository, as suffixes of its API URL.
const REPO_URLS: &[(&str, &str)] = &[
    ("archive_url", "/{archive_format}{/ref}"),
    ("assignees_url", "/assignees{/user}"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("branches_url", "/branches{/branch}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("comments_url", "/comments{/number}"),
    ("commits_url", "/commits{/sha}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("contents_url", "/contents/{+path}"),
    ("contributors_url", "/contributors"),
    ("deployments_url", "/deployments"),
    ("downloads_url", "/downloads"),
    ("events_url", "/events"),
    ("forks_url", "/forks"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("hooks_url", "/hooks"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("issue_events_url", "/issues/events{/number}"),
    ("issues_url", "/issues{/number}"),
    ("keys_url", "/keys{/key_id}"),
    ("labels_url", "/labels{/name}"),
    ("languages_url", "/languages"),
    ("merges_url", "/merges"),
    ("milestones_url", "/milestones{/number}"),
    (
        "notifications_url",
        "/notifications{?since,all,participating}",
    ),
    ("pulls_url", "/pulls{/number}"),
    ("releases_url", "/releases{/id}"),
    ("stargazers_url", "/stargazers"),
    ("statuses_url", "/statuses/{sha}"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("tags_url", "/tags"),
    ("teams_url", "/teams"),
    ("trees_url", "/git/trees{/sha}"),
];
