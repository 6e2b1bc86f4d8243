//! Settings that come from outside the program: the name of every environment variable
//! backtrack reads, and the store and catalog URLs, parsed once.
//!
//! The CLI (and the Action, which runs the CLI) and the Lambda functions read their settings
//! through this module, so a variable is spelled in one place and a URL means the same thing
//! whichever shell it is given to. Parsing here only checks the form: whether a bucket, table
//! or folder exists is for the code that opens it.

use std::fmt;
use std::path::PathBuf;

use crate::sanitize::{quote, redact_url};

/// Environment variables, by name.
pub mod env {
    /// Where archives live (`--store`): `file://PATH`, a plain path, `s3://BUCKET/PREFIX` or
    /// `git://BRANCH`.
    pub const STORE: &str = "BACKTRACK_STORE";
    /// The catalog (`--catalog`): `sqlite://PATH` or `dynamodb://TABLE`.
    pub const CATALOG: &str = "BACKTRACK_CATALOG";
    /// The CLI's log filter (`tracing` directives, e.g. `debug` or `backtrack=trace`).
    pub const LOG: &str = "BACKTRACK_LOG";
    /// The usual log filter, read when [`LOG`] is unset (the functions read only this one).
    pub const RUST_LOG: &str = "RUST_LOG";
    /// The GitHub token; [`GH_TOKEN`] is read when this one is unset (the `gh` CLI's name).
    pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
    /// The GitHub token under the `gh` CLI's name.
    pub const GH_TOKEN: &str = "GH_TOKEN";
    /// The GitHub API's base URL (GitHub Enterprise Server, the sandbox).
    pub const GITHUB_API_URL: &str = "GITHUB_API_URL";
    /// `rest`, `graphql` or `auto` (default): which GitHub API a full capture reads comments
    /// through (`--api`).
    pub const GITHUB_API: &str = "BACKTRACK_GITHUB_API";
    /// The Jira site's base URL (`https://acme.atlassian.net`, `https://jira.acme.com`).
    pub const JIRA_BASE_URL: &str = "JIRA_BASE_URL";
    /// Jira Cloud: the account's email, sent with [`JIRA_API_TOKEN`] as HTTP Basic. Unset for
    /// Data Center, where the token alone is a personal access token (Bearer).
    pub const JIRA_EMAIL: &str = "JIRA_EMAIL";
    /// The Jira API token (Cloud, with [`JIRA_EMAIL`]) or personal access token (Data Center).
    pub const JIRA_API_TOKEN: &str = "JIRA_API_TOKEN";
    /// `cloud` or `datacenter`: skips detecting the Jira flavour from `serverInfo`
    /// (`--jira-flavor`).
    pub const JIRA_FLAVOR: &str = "BACKTRACK_JIRA_FLAVOR";
    /// `OWNER/REPO` of the repository a workflow runs in (set by GitHub Actions): where a
    /// `git://` store lives unless its URL says otherwise.
    pub const GITHUB_REPOSITORY: &str = "GITHUB_REPOSITORY";
    /// Milliseconds between two writes of a `git://` store (default 750; 0: unpaced, for
    /// emulators).
    pub const GIT_WRITE_INTERVAL_MS: &str = "BACKTRACK_GIT_WRITE_INTERVAL_MS";
    /// Functions: a JSON object mapping an owner (`acme`) or repository (`acme/widgets`) to
    /// the API URL of the GitHub that hosts it, for organisations with GitHub Enterprise
    /// next to github.com.
    pub const GITHUB_API_URLS: &str = "BACKTRACK_GITHUB_API_URLS";
    /// Functions: the restore job queue's URL (`restore` only).
    pub const QUEUE_URL: &str = "BACKTRACK_QUEUE_URL";
    /// Functions: operations one restore invocation applies at most before handing over to
    /// the next.
    pub const MAX_OPS: &str = "BACKTRACK_MAX_OPS_PER_INVOCATION";
    /// Tracker requests one invocation of a snapshot job may make before it continues in
    /// the next (tests; the invocation's remaining time bounds it otherwise).
    pub const MAX_REQUESTS: &str = "BACKTRACK_MAX_REQUESTS_PER_INVOCATION";
    /// Functions (`snapshot`): how many seconds a capture taken within `POST /snapshots`
    /// may read before it stops `partial` and a snapshot job continues it (default
    /// `snapshot::job::REQUEST_WINDOW`, 20; 1 to 25: API Gateway answers 504 after 29).
    pub const REQUEST_WINDOW_SECS: &str = "BACKTRACK_REQUEST_WINDOW_SECS";
    /// Functions: the function's timeout in seconds (the template's `Timeout`), taken as the
    /// invocation's deadline when the runtime gives none that can be used (an emulator's
    /// runtime API), so a job's claim and budget end with the invocation as on Lambda.
    pub const FUNCTION_TIMEOUT_SECS: &str = "BACKTRACK_FUNCTION_TIMEOUT_SECS";
    /// Functions: milliseconds between two tracker writes, GitHub's and Jira's (default 750:
    /// GitHub's secondary limits; well under Jira Cloud's).
    pub const WRITE_INTERVAL_MS: &str = "BACKTRACK_WRITE_INTERVAL_MS";
    /// Functions: the webhook secret.
    pub const WEBHOOK_SECRET: &str = "BACKTRACK_WEBHOOK_SECRET";
    /// Functions (`snapshot`): the secret of the Jira webhook (`POST /webhooks/jira`), as set
    /// in Jira's webhook settings; Jira signs each delivery with it (`X-Hub-Signature`).
    pub const JIRA_WEBHOOK_SECRET: &str = "BACKTRACK_JIRA_WEBHOOK_SECRET";
    /// Functions (`snapshot`): the Jira webhooks' debounce window in seconds (default 60;
    /// see `events::jira::Debounce`).
    pub const JIRA_WEBHOOK_DEBOUNCE_SECS: &str = "BACKTRACK_JIRA_WEBHOOK_DEBOUNCE_SECS";
    /// Functions (`snapshot`): the snapshot job queue's URL (webhooks, and requests too
    /// large to capture within the request).
    pub const SNAPSHOT_QUEUE_URL: &str = "BACKTRACK_SNAPSHOT_QUEUE_URL";
    /// Functions (`snapshot`): the repositories webhooks may snapshot, owners and/or
    /// `OWNER/REPO`, comma-separated or a JSON array (see `events::AllowList`); unset: the
    /// owners of [`SCHEDULED_SCOPES`].
    pub const WEBHOOK_ALLOW: &str = "BACKTRACK_WEBHOOK_ALLOW";
    /// Functions (`snapshot`): the scheduled scopes as the deployment lists them (a JSON
    /// array), whose owners webhooks may snapshot when [`WEBHOOK_ALLOW`] is unset.
    pub const SCHEDULED_SCOPES: &str = "BACKTRACK_SCHEDULED_SCOPES";
    /// A secret variable (`GITHUB_TOKEN`, `BACKTRACK_WEBHOOK_SECRET`) with this suffix holds
    /// the ARN of a Secrets Manager secret instead of the value.
    pub const ARN_SUFFIX: &str = "_ARN";
    /// The store lease's time to live in whole seconds (see `lease::LeaseOptions::from_env`).
    pub const LEASE_TTL: &str = "BACKTRACK_LEASE_TTL";
    /// `comment upsert`: the login whose sticky comment may be updated, for tokens GitHub
    /// will not name on `GET /user` (Actions' `GITHUB_TOKEN`, App tokens).
    pub const COMMENT_AUTHOR: &str = "BACKTRACK_COMMENT_AUTHOR";
    /// How many manifest entries a full capture holds before it writes them out as a sorted
    /// run on disk (65,536 by default): fewer trade memory for disk, and make a small
    /// repository's capture go through the runs (the end-to-end tests do).
    pub const CAPTURE_RUN_ENTRIES: &str = "BACKTRACK_CAPTURE_RUN_ENTRIES";
    /// Benchmarks: where the CLI writes its peak resident memory (kB) when it exits.
    pub const PEAK_RSS_FILE: &str = "BACKTRACK_PEAK_RSS_FILE";

    /// The value of `name`, or `None` when it is unset, empty or only blanks (CI systems set
    /// variables to the empty string for "not given").
    pub fn var(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

/// The store used when neither `--store` nor `BACKTRACK_STORE` is given.
pub const DEFAULT_STORE: &str = "file://~/.backtrack";
/// The SQLite catalog's file inside a `file://` store.
pub const CATALOG_FILE: &str = "catalog.sqlite";

/// A setting that cannot be used as given. The message names the setting, quotes the value
/// and lists the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where a URL came from, so an error names what the user typed: `--store` for the CLI,
/// `BACKTRACK_STORE` for a function.
pub type Source<'a> = &'a str;

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `file://PATH`, `file://~/PATH` or a plain folder path.
    File(PathBuf),
    /// `s3://BUCKET/PREFIX` (the prefix may be empty).
    S3(S3Url),
    /// `git://BRANCH`: a branch of a GitHub repository (which holds the catalog too).
    Git(GitUrl),
}

/// A parsed `git://BRANCH[?repo=OWNER/REPO]` URL; `git://` alone is
/// [`crate::git::layout::DEFAULT_BRANCH`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitUrl {
    pub branch: String,
    /// `OWNER/REPO` when the URL names it; otherwise see [`GitUrl::resolve`].
    pub repository: Option<(String, String)>,
}

/// A `git://` store located: branch and repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitTarget {
    pub owner: String,
    pub repo: String,
    pub branch: String,
}

impl fmt::Display for GitTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "git://{} on {}/{}", self.branch, self.owner, self.repo)
    }
}

impl GitUrl {
    pub const FORM: &'static str = "git://BRANCH or git://BRANCH?repo=OWNER/REPO";

    /// Parses a `git://` URL; the error says what is wrong (without the URL).
    pub fn parse(url: &str) -> Result<GitUrl, String> {
        let rest = url
            .strip_prefix("git://")
            .ok_or_else(|| format!("not a git:// URL; expected {}", Self::FORM))?;
        let (branch, query) = rest.split_once('?').unwrap_or((rest, ""));
        let branch = if branch.is_empty() {
            crate::git::layout::DEFAULT_BRANCH
        } else {
            branch
        };
        validate_branch(branch)
            .map_err(|why| format!("branch name {branch:?} {why}; expected {}", Self::FORM))?;
        let mut repository = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("repo", value)) => repository = Some(parse_repository(value)?),
                _ => {
                    return Err(format!(
                        "unknown parameter {pair:?}; the only one is repo=OWNER/REPO"
                    ))
                }
            }
        }
        Ok(GitUrl {
            branch: branch.to_string(),
            repository,
        })
    }

    /// The repository the branch is in: the URL's `repo=`, else `GITHUB_REPOSITORY` (set in
    /// GitHub Actions, whose token can write there), else the command's GitHub scope.
    pub fn resolve(&self, scope_repo: Option<(&str, &str)>) -> Result<GitTarget, ConfigError> {
        let (owner, repo) = match &self.repository {
            Some((o, r)) => (o.clone(), r.clone()),
            None => match env::var(env::GITHUB_REPOSITORY) {
                Some(text) => parse_repository(text.trim()).map_err(|e| {
                    ConfigError(format!("{} {}: {e}", env::GITHUB_REPOSITORY, shown(&text)))
                })?,
                None => match scope_repo {
                    Some((o, r)) => (o.to_string(), r.to_string()),
                    None => {
                        return Err(ConfigError(format!(
                            "{} needs to know its repository: set {}=OWNER/REPO, write {}?repo=OWNER/REPO, or give the command a github:OWNER/REPO scope",
                            self,
                            env::GITHUB_REPOSITORY,
                            self
                        )))
                    }
                },
            },
        };
        Ok(GitTarget {
            owner,
            repo,
            branch: self.branch.clone(),
        })
    }
}

impl fmt::Display for GitUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "git://{}", self.branch)?;
        if let Some((o, r)) = &self.repository {
            write!(f, "?repo={o}/{r}")?;
        }
        Ok(())
    }
}

/// `OWNER/REPO`, checked by GitHub's naming rules.
fn parse_repository(text: &str) -> Result<(String, String), String> {
    let (owner, repo) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not OWNER/REPO"))?;
    crate::scope::Scope::github(owner, repo)
        .map_err(|e| format!("{text:?} is not a repository ({e})"))?;
    Ok((owner.to_string(), repo.to_string()))
}

/// Branch names this build writes: git's ref-name rules, in a conservative alphabet.
fn validate_branch(name: &str) -> Result<(), &'static str> {
    let alphabet = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if !alphabet {
        return Err("may only hold letters, digits, `-`, `_`, `.` and `/`");
    }
    let bad_component = name
        .split('/')
        .any(|c| c.is_empty() || c.starts_with('.') || c.ends_with('.') || c.ends_with(".lock"));
    if name.starts_with('-') || name.contains("..") || bad_component || name == "HEAD" {
        return Err("is not a valid git branch name");
    }
    Ok(())
}

/// A parsed `s3://BUCKET/PREFIX` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
}

/// A parsed catalog URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogUrl {
    /// `sqlite://PATH`.
    Sqlite(PathBuf),
    /// `dynamodb://TABLE`: the table name.
    Dynamo(String),
    /// The catalog inside a `git://` store's branch.
    Git(GitUrl),
}

const STORE_FORMS: &str =
    "accepted forms: file://PATH, file://~/PATH, a plain folder path, s3://BUCKET/PREFIX, or git://BRANCH";
const CATALOG_FORMS: &str =
    "accepted forms: sqlite://PATH, dynamodb://TABLE, or git://BRANCH (the store's own branch)";

impl StoreUrl {
    /// Parses a store URL given as `source` (a flag or variable name, for messages).
    pub fn parse(url: &str, source: Source<'_>) -> Result<Self, ConfigError> {
        let bad = |detail: String| ConfigError(format!("{source} {}: {detail}", shown(url)));
        if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                return Err(bad(format!("has no path; {STORE_FORMS}")));
            }
            return expand_home(path).map(StoreUrl::File).map_err(bad);
        }
        if url.starts_with("s3://") {
            return S3Url::parse(url).map(StoreUrl::S3).map_err(bad);
        }
        if url.starts_with("git://") {
            return GitUrl::parse(url).map(StoreUrl::Git).map_err(bad);
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(bad(format!(
                "the {} scheme is not supported; {STORE_FORMS}",
                quote(&format!("{scheme}://"))
            )));
        }
        if url.trim().is_empty() {
            return Err(ConfigError(format!("{source} is empty; {STORE_FORMS}")));
        }
        expand_home(url).map(StoreUrl::File).map_err(bad)
    }

    /// The URL in its canonical form (`file:///abs/path`, `s3://bucket/prefix`).
    pub fn to_url(&self) -> String {
        match self {
            StoreUrl::File(path) => format!("file://{}", path.display()),
            StoreUrl::S3(s3) => s3.to_string(),
            StoreUrl::Git(git) => git.to_string(),
        }
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_url())
    }
}

impl S3Url {
    pub const FORM: &'static str = "s3://BUCKET or s3://BUCKET/PREFIX";

    /// Parses `s3://BUCKET/PREFIX`; the error says what is wrong (without the URL, which the
    /// caller quotes).
    pub fn parse(url: &str) -> Result<S3Url, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("not an s3:// URL; expected {}", Self::FORM))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        validate_bucket_name(bucket).map_err(|reason| {
            format!("bucket name {bucket:?} {reason}; expected {}", Self::FORM)
        })?;
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() {
            crate::store::validate_key(prefix)
                .map_err(|e| format!("prefix {e}; expected {}", Self::FORM))?;
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// S3's bucket naming rules (the subset that matters for a clear early error).
fn validate_bucket_name(name: &str) -> Result<(), &'static str> {
    if name.len() < 3 || name.len() > 63 {
        return Err("must be 3–63 characters long");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    {
        return Err("may only hold lowercase letters, digits, `-` and `.`");
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
        return Err("must start and end with a letter or digit");
    }
    Ok(())
}

impl CatalogUrl {
    /// Parses a catalog URL given as `source` (a flag or variable name, for messages).
    pub fn parse(url: &str, source: Source<'_>) -> Result<Self, ConfigError> {
        let bad = |detail: String| ConfigError(format!("{source} {}: {detail}", shown(url)));
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(bad(format!("has no path; {CATALOG_FORMS}")));
            }
            return expand_home(path).map(CatalogUrl::Sqlite).map_err(bad);
        }
        if url.starts_with("dynamodb://") {
            return parse_table_url(url).map(CatalogUrl::Dynamo).map_err(bad);
        }
        if url.starts_with("git://") {
            return GitUrl::parse(url).map(CatalogUrl::Git).map_err(bad);
        }
        Err(bad(format!("is not supported; {CATALOG_FORMS}")))
    }

    /// The catalog that goes with `store` when none is given: SQLite inside a folder store.
    /// An S3 store has no folder to hold SQLite, so it needs an explicit catalog.
    pub fn default_for(store: &StoreUrl) -> Result<Self, ConfigError> {
        match store {
            StoreUrl::File(root) => Ok(CatalogUrl::Sqlite(root.join(CATALOG_FILE))),
            StoreUrl::Git(git) => Ok(CatalogUrl::Git(git.clone())),
            StoreUrl::S3(s3) => Err(ConfigError(format!(
                "the store s3://{}/… needs a catalog: pass --catalog dynamodb://TABLE (or set {}); create both with `backtrack init`",
                s3.bucket,
                env::CATALOG
            ))),
        }
    }

    pub fn to_url(&self) -> String {
        match self {
            CatalogUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            CatalogUrl::Dynamo(table) => format!("dynamodb://{table}"),
            CatalogUrl::Git(git) => git.to_string(),
        }
    }
}

impl fmt::Display for CatalogUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_url())
    }
}

/// Parses `dynamodb://TABLE` into the table name; the error says what is wrong.
fn parse_table_url(url: &str) -> Result<String, String> {
    const FORM: &str = "dynamodb://TABLE";
    let table = url
        .strip_prefix("dynamodb://")
        .ok_or_else(|| format!("not a dynamodb:// URL; expected {FORM}"))?
        .trim_end_matches('/');
    let valid = (3..=255).contains(&table.len())
        && table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        return Err(format!(
            "table name {table:?} must be 3–255 letters, digits, `_`, `-` or `.`; expected {FORM}"
        ));
    }
    Ok(table.to_string())
}

/// Where the archive lives: a store and the catalog that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locations {
    pub store: StoreUrl,
    pub catalog: CatalogUrl,
}

impl Locations {
    /// The store (default [`DEFAULT_STORE`]) and the catalog (default: SQLite inside a folder
    /// store), each named in messages as `--store` / `--catalog`; the CLI's flags fall back
    /// to [`env::STORE`] / [`env::CATALOG`] by the same names.
    pub fn parse(store: Option<&str>, catalog: Option<&str>) -> Result<Self, ConfigError> {
        let store = StoreUrl::parse(store.unwrap_or(DEFAULT_STORE), "--store")?;
        let catalog = match catalog {
            Some(url) => CatalogUrl::parse(url, "--catalog")?,
            None => CatalogUrl::default_for(&store)?,
        };
        // A git catalog is the store's own branch: one branch, one history, one commit
        // sequence for objects and the entries that name them.
        match (&store, &catalog) {
            (StoreUrl::Git(s), CatalogUrl::Git(c)) if s != c => Err(ConfigError(format!(
                "--catalog {c} must be the store's own branch ({s}); leave --catalog out with a git:// store"
            ))),
            (StoreUrl::Git(s), CatalogUrl::Sqlite(_) | CatalogUrl::Dynamo(_)) => Err(ConfigError(format!(
                "a git:// store keeps its catalog in its branch; leave --catalog out with --store {s}"
            ))),
            (StoreUrl::File(_) | StoreUrl::S3(_), CatalogUrl::Git(c)) => Err(ConfigError(format!(
                "--catalog {c} only goes with --store {c} (the catalog lives in the store's branch)"
            ))),
            _ => Ok(Locations { store, catalog }),
        }
    }
}

/// A URL as messages show it: credentials and query strings redacted, escaped, cut when long.
fn shown(url: &str) -> String {
    quote(&redact_url(url))
}

/// `~` and `~/…` against `HOME`.
fn expand_home(path: &str) -> Result<PathBuf, String> {
    if path == "~" || path.starts_with("~/") {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or("HOME is not set, so `~` cannot be expanded; give an absolute path")?;
        Ok(PathBuf::from(home).join(path.trim_start_matches('~').trim_start_matches('/')))
    } else {
        Ok(PathBuf::from(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        assert_eq!(
            StoreUrl::parse("file:///tmp/x", "--store").unwrap(),
            StoreUrl::File("/tmp/x".into())
        );
        assert_eq!(
            StoreUrl::parse("/tmp/y", "--store").unwrap(),
            StoreUrl::File("/tmp/y".into())
        );
        let e = StoreUrl::parse("ftp://x", "--store").unwrap_err().0;
        assert!(e.starts_with("--store \"ftp://x\""), "{e}");
        assert!(e.contains("accepted forms"), "{e}");
        let e = StoreUrl::parse("", "BACKTRACK_STORE").unwrap_err().0;
        assert!(e.starts_with("BACKTRACK_STORE is empty"), "{e}");
        let e = CatalogUrl::parse("mysql://x", "--catalog").unwrap_err().0;
        assert!(e.contains("sqlite://"), "{e}");
        assert!(e.contains("dynamodb://TABLE"), "{e}");
    }

    #[test]
    fn aws_urls() {
        assert_eq!(
            StoreUrl::parse("s3://my-bucket/team/bt/", "--store").unwrap(),
            StoreUrl::S3(S3Url {
                bucket: "my-bucket".into(),
                prefix: "team/bt".into()
            })
        );
        assert_eq!(S3Url::parse("s3://my-bucket").unwrap().prefix, "");
        for bad in [
            "s3://",
            "s3://B",
            "s3://ab",
            "s3://-ab",
            "s3://ok-bucket/a/../b",
            "s3://Bad_Bucket",
        ] {
            let e = StoreUrl::parse(bad, "--store").unwrap_err().0;
            assert!(e.contains("s3://BUCKET"), "{bad}: {e}");
        }
        assert_eq!(
            CatalogUrl::parse("dynamodb://backtrack-catalog", "--catalog").unwrap(),
            CatalogUrl::Dynamo("backtrack-catalog".into())
        );
        for bad in ["dynamodb://", "dynamodb://ab", "dynamodb://a b c"] {
            let e = CatalogUrl::parse(bad, "--catalog").unwrap_err().0;
            assert!(e.contains("dynamodb://TABLE"), "{bad}: {e}");
        }
        let e = Locations::parse(Some("s3://my-bucket/p"), None)
            .unwrap_err()
            .0;
        assert!(e.contains("--catalog dynamodb://TABLE"), "{e}");
        let both = Locations::parse(Some("s3://my-bucket/p"), Some("dynamodb://tbl")).unwrap();
        assert_eq!(both.catalog, CatalogUrl::Dynamo("tbl".into()));
        assert_eq!(both.store.to_url(), "s3://my-bucket/p");
    }

    #[test]
    fn git_urls() {
        let git = |u: &str| StoreUrl::parse(u, "--store");
        assert_eq!(
            git("git://").unwrap(),
            StoreUrl::Git(GitUrl {
                branch: "backtrack-archive".into(),
                repository: None
            })
        );
        assert_eq!(
            git("git://archive/issues?repo=acme/widgets").unwrap(),
            StoreUrl::Git(GitUrl {
                branch: "archive/issues".into(),
                repository: Some(("acme".into(), "widgets".into()))
            })
        );
        for bad in [
            "git://a..b",
            "git://x.lock",
            "git://-x",
            "git://a b",
            "git://ok?repo=nope",
            "git://ok?branch=x",
        ] {
            let e = git(bad).unwrap_err().0;
            assert!(
                e.contains("git://BRANCH") || e.contains("repo="),
                "{bad}: {e}"
            );
        }
        let l = Locations::parse(Some("git://backtrack-archive"), None).unwrap();
        assert_eq!(l.catalog.to_url(), "git://backtrack-archive");
        assert!(Locations::parse(Some("git://a"), Some("git://b")).is_err());
        assert!(Locations::parse(Some("git://a"), Some("sqlite:///x")).is_err());
        assert!(Locations::parse(Some("file:///x"), Some("git://a")).is_err());
        let url = GitUrl::parse("git://a?repo=acme/widgets").unwrap();
        assert_eq!(
            url.resolve(Some(("other", "repo"))).unwrap().to_string(),
            "git://a on acme/widgets",
            "the URL's repository wins"
        );
    }

    #[test]
    fn a_folder_store_carries_its_catalog() {
        let l = Locations::parse(Some("file:///srv/bt"), None).unwrap();
        assert_eq!(
            l.catalog,
            CatalogUrl::Sqlite("/srv/bt/catalog.sqlite".into())
        );
        assert_eq!(l.catalog.to_url(), "sqlite:///srv/bt/catalog.sqlite");
    }
}
