//! Command-line flags as clap parses them. Validation into `backtrack` option types happens
//! in the command modules, so every rule lives next to the code that relies on it.

use std::net::SocketAddr;

use backtrack::config::env;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Snapshots, diffs and in-place rollback for issue trackers.
#[derive(Debug, Parser)]
#[command(name = "backtrack", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Args)]
pub struct Global {
    /// Where archives live: `file://PATH` (default `file://~/.backtrack`), a plain path, or
    /// `s3://BUCKET/PREFIX` (AWS settings from the environment: AWS_PROFILE, AWS_REGION,
    /// AWS_ENDPOINT_URL…).
    #[arg(long, global = true, env = env::STORE, value_name = "URL")]
    pub store: Option<String>,
    /// The catalog: `sqlite://PATH` or `dynamodb://TABLE`; default is a SQLite file inside a
    /// `file://` store (an `s3://` store needs `--catalog dynamodb://TABLE`).
    #[arg(long, global = true, env = env::CATALOG, value_name = "URL")]
    pub catalog: Option<String>,
    /// Machine-readable JSON on stdout; logs stay on stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// Less output (errors only).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// In a GitHub Actions step: also write the results as step outputs (`$GITHUB_OUTPUT`)
    /// and a job summary (`$GITHUB_STEP_SUMMARY`), so workflows read values, not prose.
    #[arg(long, global = true)]
    pub github_output: bool,
    /// Jira scopes: the site's flavour, `cloud` or `datacenter`, instead of reading it from
    /// the site's serverInfo.
    #[arg(long, global = true, env = env::JIRA_FLAVOR, value_name = "FLAVOR", value_parser = ["cloud", "datacenter"])]
    pub jira_flavor: Option<String>,
    /// An encrypted store's passphrase, read from this file (else from the environment:
    /// BACKTRACK_PASSPHRASE_FILE names a file, BACKTRACK_PASSPHRASE holds the passphrase).
    /// Never given as a flag value.
    #[arg(long, global = true, value_name = "FILE")]
    pub passphrase_file: Option<std::path::PathBuf>,
    /// A key file that opens an encrypted store instead of its passphrase (else
    /// BACKTRACK_KEY_FILE). `init --encrypt` and `key add-file` create it if missing.
    #[arg(long, global = true, value_name = "FILE")]
    pub key_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the store and catalog (folder, S3 bucket, DynamoDB table) unless they exist.
    Init(InitArgs),
    /// Manage an encrypted store's keys: list, change the passphrase, add a key file, remove.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Take, list, show and delete snapshots.
    #[command(subcommand)]
    Snapshot(SnapshotCmd),
    /// Show what changed between two snapshots, or a snapshot and the live tracker.
    Diff(DiffArgs),
    /// Write one self-contained HTML page: the snapshot timeline and the diff (and, with
    /// --plan, the rollback plan back to --from, read-only).
    Report(ReportArgs),
    /// Put a live tracker back to a snapshot's state (a preview unless --execute).
    Rollback(RollbackArgs),
    /// Roll the snapshot's scope back to that snapshot (same as `rollback SCOPE --to REF`).
    Restore(RestoreArgs),
    /// Post or update one sticky comment on a pull request or issue.
    #[command(subcommand)]
    Comment(CommentCmd),
    /// Apply retention to a scope's snapshots and collect unreferenced blobs (a preview
    /// unless --execute).
    Prune(PruneArgs),
    /// Re-read every manifest and blob and check their hashes.
    Verify(VerifyArgs),
    /// Write snapshots (manifests, blobs, catalog entries) into one portable archive file.
    Export(ExportArgs),
    /// Read an archive file into the store (a preview unless --execute).
    Import(ImportArgs),
    /// Copy snapshots into another store and catalog (resumable: run it again to finish).
    Copy(CopyArgs),
    /// Repair the catalog: `--reindex` rebuilds lost entries from the store's manifests.
    Repair(RepairArgs),
    /// Benchmarks that print figures (for the README; not part of the stable CLI).
    #[command(subcommand, hide = true)]
    Bench(BenchCmd),
    /// Run a tracker sandbox (a GitHub- or Jira-compatible emulator to rehearse against).
    Sandbox(SandboxArgs),
    /// A guided tour on a temporary store against an in-process sandbox.
    Demo(DemoArgs),
    /// Print shell completions (e.g. `backtrack completions bash > ~/.local/share/bash-completion/completions/backtrack`).
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command into a folder.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `backtrack.1` and a page for every command (`backtrack-snapshot-create.1`…)
    /// into this folder instead of printing `backtrack.1`.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCmd {
    /// Take a snapshot of a scope.
    Create(CreateArgs),
    /// List snapshots, newest first.
    List(ListArgs),
    /// Show one snapshot.
    Show(RefArgs),
    /// Delete a snapshot (its catalog entry and manifest; blobs go at the next prune).
    Delete(DeleteArgs),
    /// Protect a snapshot from deletion and retention.
    Pin(RefArgs),
    /// Remove a snapshot's protection.
    Unpin(RefArgs),
    /// Runs over whole organisations (`snapshot create github:ORG/*`, and the scheduled
    /// function's fan-out), newest first; with a run id, that run repository by repository.
    Runs(RunsArgs),
}

#[derive(Debug, Subcommand)]
pub enum CommentCmd {
    /// Create the comment that carries MARKER, or update it in place (never a second one).
    ///
    /// Uses GITHUB_TOKEN (or GH_TOKEN) and GITHUB_API_URL. Only a comment written by the
    /// token's own login is updated; a marked comment by anyone else is left alone and a new
    /// one posted. The body is cut at a line boundary to fit GitHub's 65,536-character limit,
    /// and the comment says what was cut.
    Upsert(UpsertArgs),
}

#[derive(Debug, Args)]
pub struct UpsertArgs {
    /// The repository, OWNER/REPO.
    #[arg(long)]
    pub repo: String,
    /// The pull request (or issue) number.
    #[arg(long, alias = "issue", value_name = "N")]
    pub pr: u64,
    /// Identifies the comment; written as a hidden `<!-- backtrack:MARKER -->` line.
    #[arg(long)]
    pub marker: String,
    /// A file with the comment's Markdown.
    #[arg(long, value_name = "FILE")]
    pub body_file: std::path::PathBuf,
    /// Only update an existing comment; do not create one.
    #[arg(long)]
    pub update_only: bool,
    /// Cap of the whole body, marker included, in characters (GitHub's limit is 65,536).
    #[arg(long, default_value_t = 65_536, value_name = "N")]
    pub max_chars: usize,
    /// The token's login, for tokens GitHub will not name (`GET /user` answers 403 for the
    /// Actions GITHUB_TOKEN and GitHub App tokens): `github-actions[bot]`, `APP-SLUG[bot]`.
    /// Only comments by the token's own login are ever updated.
    #[arg(long, env = backtrack::config::env::COMMENT_AUTHOR, value_name = "LOGIN")]
    pub author: Option<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// What to snapshot, e.g. `github:acme/widgets`; `github:ORG/*` snapshots every
    /// repository of ORG the credentials can see (listed afresh), each as its own scope, and
    /// exits 2 if any failed. With GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY_FILE set,
    /// backtrack authenticates as that GitHub App's installation on ORG.
    pub scope: String,
    /// With `github:ORG/*`: archived repositories too (skipped by default).
    #[arg(long)]
    pub include_archived: bool,
    /// With `github:ORG/*`: how many repositories are captured at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// A name to find the snapshot by later: up to 100 characters, unique within the scope,
    /// not `latest`, `live` or anything that looks like an id.
    #[arg(long)]
    pub name: Option<String>,
    /// Give the name even though a snapshot of the scope already has it; the name then
    /// refers to the newest of them.
    #[arg(long, requires = "name")]
    pub force: bool,
    /// Why the snapshot is taken.
    #[arg(long, default_value = "manual", value_parser = ["manual", "schedule", "merge", "push", "pre-rollback"])]
    pub trigger: String,
    /// Capture everything even when a parent snapshot exists (by default a snapshot lists
    /// only what changed since the newest completed one, and merges).
    #[arg(long)]
    pub full: bool,
    /// Take a full snapshot after this many incremental ones in a row, re-checking every id
    /// (0: never; deletions are still checked on every snapshot by counts).
    #[arg(long, value_name = "N", default_value_t = backtrack::snapshot::DEFAULT_RECONCILE_EVERY)]
    pub reconcile_every: u32,
    /// GitHub: the API a full capture reads comments through. `auto` uses GraphQL where the
    /// server answers it (a fifth of REST's rate-limit budget) and REST elsewhere.
    #[arg(long, env = backtrack::config::env::GITHUB_API, value_name = "API", value_parser = ["rest", "graphql", "auto"])]
    pub api: Option<String>,
    /// Stop after about N requests; the snapshot is then `partial` and the next `snapshot
    /// create` of the scope continues from where it stopped (GitHub and Jira).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: Option<u64>,
    /// Stop starting new pages after this long (e.g. `10m`, `1h`); as with --max-requests
    /// the snapshot is then `partial`.
    #[arg(long, value_name = "DUR")]
    pub max_duration: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this scope.
    pub scope: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// A run id (shows that run per repository), or `github:ORG/*` (lists only its runs).
    pub what: Option<String>,
    /// How many runs to list.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct RefArgs {
    /// A snapshot id, unique id prefix, or name.
    pub reference: String,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// A snapshot id, unique id prefix, or name.
    pub reference: String,
    /// Delete even a pinned snapshot.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Which tracker to emulate.
    #[arg(long, value_enum, default_value_t = SandboxTracker::Github)]
    pub tracker: SandboxTracker,
    /// Jira: cloud (REST v3 with ADF, search/jql with page tokens) or datacenter (REST v2
    /// with wiki markup, search with startAt/total). Default: cloud.
    #[arg(long, value_enum)]
    pub flavor: Option<JiraFlavor>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// GitHub: the repository to serve, OWNER/NAME (default acme/widgets). Repeat it (or
    /// give a comma-separated list) to serve several repositories of one owner, listed by
    /// `GET /orgs/{owner}/repos`; each is seeded like the first, with its own seed.
    #[arg(long, value_name = "OWNER/NAME", value_delimiter = ',')]
    pub repo: Vec<String>,
    /// GitHub: serve N repositories of ORG, named repo-01, repo-02… (instead of --repo).
    #[arg(long, value_name = "ORG:N", conflicts_with = "repo")]
    pub org_repos: Option<String>,
    /// GitHub: a served repository (NAME) that is archived: listed so, read-only.
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub archived: Vec<String>,
    /// GitHub: also play a GitHub App installed on the owner, whose private key (PEM, as
    /// GitHub issues it) is in FILE: JWTs it signs get installation tokens.
    #[arg(long, value_name = "FILE")]
    pub app_key: Option<std::path::PathBuf>,
    /// GitHub: the app's id (the JWT's `iss`).
    #[arg(long, default_value_t = 1, value_name = "ID", requires = "app_key")]
    pub app_id: u64,
    /// GitHub: the app's slug; its installation tokens act as SLUG[bot].
    #[arg(
        long,
        default_value = "backtrack-sandbox",
        value_name = "SLUG",
        requires = "app_key"
    )]
    pub app_slug: String,
    /// GitHub: how long an installation token lives, in seconds (GitHub: 3600).
    #[arg(
        long,
        default_value_t = 3600,
        value_name = "SECS",
        requires = "app_key"
    )]
    pub app_token_ttl: i64,
    /// Jira: the project key to serve (default PROJ).
    #[arg(long)]
    pub project: Option<String>,
    /// Jira: how many of the issues are epics (default: one in 25).
    #[arg(long)]
    pub epics: Option<u64>,
    /// Jira: the project's workflow: full (every status reaches every other) or restricted
    /// (Done is final: no Reopen). Default: full.
    #[arg(long, value_enum)]
    pub workflow: Option<JiraWorkflow>,
    /// Issues (and pull requests) to seed.
    #[arg(long, default_value_t = 120)]
    pub issues: u64,
    /// Comments to seed.
    #[arg(long, default_value_t = 600)]
    pub comments: u64,
    /// Seed of the generated data (same seed, same data).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Delay added to every API response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Fraction of API requests answered with a 5xx or a secondary-limit 403 (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Base URL used in `Link` headers and `*_url` fields (behind a TLS terminator).
    #[arg(long)]
    pub public_url: Option<String>,
    /// Simulate GitHub's secondary write limit: at most N writes per minute (0 = off).
    #[arg(long, default_value_t = 0)]
    pub writes_per_minute: u32,
    /// GitHub: enforce REST's primary rate limit, N requests per --rate-limit-window; once
    /// spent, requests get 403 with `x-ratelimit-remaining: 0` until the reset. Default:
    /// GitHub's 5,000 an hour reported, never enforced.
    #[arg(long, value_name = "N")]
    pub rate_limit: Option<u64>,
    /// GitHub: the --rate-limit window, in seconds (GitHub's is an hour).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 3600,
        requires = "rate_limit"
    )]
    pub rate_limit_window: u64,
    /// GitHub: answer `POST /graphql` with 404, like an Enterprise server without GraphQL.
    #[arg(long)]
    pub no_graphql: bool,
    /// Also accept TOKEN, authenticating as LOGIN (repeatable; one user per token). A seeded
    /// login (alice…) is that user, another login a new user outside the repository, and a
    /// login ending in [bot] an app's bot (github-actions[bot] behaves like GITHUB_TOKEN).
    /// Jira: LOGIN is an account (alice… or a new one); the token is its API token (Cloud)
    /// or personal access token (DC).
    #[arg(long = "token", value_name = "TOKEN=LOGIN")]
    pub tokens: Vec<String>,
}

/// Trackers `backtrack sandbox` can emulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SandboxTracker {
    Github,
    Jira,
}

/// Workflows the Jira sandbox can give its project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JiraWorkflow {
    Full,
    Restricted,
}

/// Jira flavours `backtrack sandbox --tracker jira` can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JiraFlavor {
    Cloud,
    Datacenter,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Which tracker the tour runs on: a GitHub repository, or a Jira epic.
    #[arg(long, value_enum, default_value = "github")]
    pub tracker: SandboxTracker,
    /// Issues in the demo repository (or Jira project).
    #[arg(long, default_value_t = 60)]
    pub issues: u64,
    /// Comments in the demo repository (or Jira project).
    #[arg(long, default_value_t = 240)]
    pub comments: u64,
}

/// Flags shared by `rollback` and `restore`.
#[derive(Debug, Args)]
pub struct RollbackFlags {
    /// Only these issues (and their comments): numbers, comma-separated (`12,15,#20`); on
    /// Jira, issue keys (`PROJ-12,PROJ-15`).
    #[arg(long, value_name = "KEYS", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Only these fields: title, body, state, labels, assignees, milestone, comments; GitHub
    /// also type, lock, parent (sub-issue links and order), dependencies; Jira also summary,
    /// description, status, assignee, components, fix_versions, priority, due_date,
    /// story_points, parent.
    #[arg(long, value_name = "F", value_delimiter = ',')]
    pub fields: Vec<String>,
    /// Apply the plan (default: preview only, nothing is written).
    #[arg(long)]
    pub execute: bool,
    /// Do not ask for confirmation (required with --execute when not on a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// With --execute: run the plan even if it changed since the preview (the tracker moved
    /// in between), saying how many operations were added or dropped. Without it a changed
    /// plan is shown and asked about again, or with --yes refused (exit 3).
    #[arg(long, requires = "execute")]
    pub replan: bool,
    /// With --execute: the plan you confirmed earlier, as the `fingerprint` a preview gives
    /// (`--json`). Execution refuses (exit 3, showing what changed) when the plan is no
    /// longer that one; for scripts that preview in one step and execute in another.
    #[arg(long, value_name = "FINGERPRINT", requires = "execute")]
    pub plan: Option<String>,
    /// Only undo what these actors changed since the snapshot (GitHub logins; repeatable),
    /// as the repository's issue events record it; everyone else's later work stays. The
    /// preview names changes no event attributes (body and comment edits, definitions).
    #[arg(long, value_name = "ACTOR")]
    pub by: Vec<String>,
    /// Only undo changes made at or after this time (RFC 3339, or a day: 2026-11-30).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Also close issues created after the snapshot.
    #[arg(long)]
    pub close_new_issues: bool,
    /// Also delete comments added after the snapshot.
    #[arg(long)]
    pub delete_new_comments: bool,
    /// Jira: also delete subtasks created after the snapshot.
    #[arg(long)]
    pub delete_new_subtasks: bool,
    /// Jira: also delete issues created after the snapshot (with their subtasks).
    #[arg(long)]
    pub delete_new_issues: bool,
    /// Jira: recreate deleted issues and subtasks under new keys (with their fields, status,
    /// comments and an attribution line naming the old key).
    #[arg(long)]
    pub recreate_deleted: bool,
    /// Minimum gap between two writes, in milliseconds (GitHub allows about 80 per minute;
    /// Jira Cloud's budget is larger, so the same default stays well under it).
    #[arg(long, default_value_t = 750, value_name = "MS")]
    pub write_interval_ms: u64,
    /// At most this many writes per rolling hour (GitHub: 500; 0 = no cap).
    #[arg(long, default_value_t = 500, value_name = "N")]
    pub writes_per_hour: u32,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The scope to roll back, e.g. `github:acme/widgets`.
    pub scope: String,
    /// The snapshot to go back to: id, unique id prefix, name, or `latest`.
    #[arg(long, default_value = "latest", value_name = "REF")]
    pub to: String,
    #[command(flatten)]
    pub flags: RollbackFlags,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The snapshot to restore: id, unique id prefix, or name.
    pub reference: String,
    /// Copy the snapshot into this other scope of the same tracker instead of restoring it
    /// in place (`github:OWNER/OTHER`: labels, milestones, issues and comments with
    /// attribution lines, states and sub-issue links; `jira:OTHER`: components, versions,
    /// every issue parents first with attribution, statuses, comments and links). The
    /// destination must exist.
    #[arg(long, value_name = "SCOPE")]
    pub into: Option<String>,
    #[command(flatten)]
    pub flags: RollbackFlags,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The scope to compare, e.g. `github:acme/widgets`.
    pub scope: String,
    /// The older side: a snapshot id, unique id prefix, name, `latest`, or `live`.
    #[arg(long, default_value = "latest", value_name = "REF")]
    pub from: String,
    /// The newer side: a snapshot id, unique id prefix, name, `latest`, or `live`.
    #[arg(long, default_value = "live", value_name = "REF")]
    pub to: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Exit with 1 when there are changes, 0 when there are none.
    #[arg(long)]
    pub exit_code: bool,
    /// Leave pull requests out of the comparison.
    #[arg(long)]
    pub no_prs: bool,
    /// Cap of the Markdown output, in characters.
    #[arg(long, default_value_t = 65_000, value_name = "N")]
    pub max_chars: usize,
    /// Write the output to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Also write the same diff as a self-contained HTML page (what `backtrack report`
    /// writes), without reading the tracker again.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The scope to report on, e.g. `github:acme/widgets` or `jira:PROJ`.
    pub scope: String,
    /// The older side: a snapshot id, unique id prefix, name, `latest`, or `live`.
    #[arg(long, default_value = "latest", value_name = "REF")]
    pub from: String,
    /// The newer side: a snapshot id, unique id prefix, name, `latest`, or `live`.
    #[arg(long, default_value = "live", value_name = "REF")]
    pub to: String,
    /// The timeline shows snapshots taken within this long before now (e.g. 30d, 12h, 2w);
    /// default: all of them (the newest 120).
    #[arg(long, value_name = "DUR")]
    pub since: Option<String>,
    /// Also show the rollback plan that would put the live tracker back to --from, with
    /// what it cannot restore (read-only; nothing is written).
    #[arg(long)]
    pub plan: bool,
    /// Leave pull requests out of the comparison.
    #[arg(long)]
    pub no_prs: bool,
    /// The HTML file to write.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: std::path::PathBuf,
}

/// Output formats of `diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A snapshot reference or a scope (`github:OWNER/REPO`); omit with --all.
    pub target: Option<String>,
    /// Every snapshot in the catalog.
    #[arg(long, conflicts_with = "target")]
    pub all: bool,
    /// Record the manifest hash of snapshots written before manifests were hashed, for
    /// each one that checks out whole (every later read then checks it).
    #[arg(long)]
    pub record_hashes: bool,
}

/// Which snapshots `export` and `copy` take.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Snapshots: ids, unique id prefixes, names, `latest`, or a scope for all of its
    /// snapshots. None: every snapshot (narrowed by the filters).
    #[arg(value_name = "REF")]
    pub refs: Vec<String>,
    /// Only snapshots of this scope (repeatable).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Only snapshots taken at or after this time: RFC 3339, a date (2026-11-30), or a
    /// duration before now (7d).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only snapshots taken before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only snapshots whose name matches this glob (`*`, `?`).
    #[arg(long, value_name = "GLOB")]
    pub name: Option<String>,
    /// Leave out failed captures (their catalog entries travel otherwise).
    #[arg(long)]
    pub only_completed: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// From an encrypted store: write the archive in plaintext. Without it the archive
    /// stays encrypted under the store's key (with its key slots), so only the store's
    /// passphrase or key file opens it.
    #[arg(long)]
    pub decrypt: bool,
    /// The archive file to write, or `-` for stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: String,
}

/// What to do with a snapshot the destination already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnDuplicate {
    /// Refuse the whole import; nothing is written.
    Error,
    /// Keep the destination's snapshot.
    Skip,
    /// Replace it with the archive's (identical ones are left alone; pinned ones refused).
    Overwrite,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The archive file (`backtrack export` writes them). Read twice — checked whole, then
    /// written — so it must be a file, not a pipe. An encrypted archive goes into a store
    /// with its key, or into an empty store, which it makes encrypted with that key (give
    /// the passphrase or key file of the store it came from).
    pub file: std::path::PathBuf,
    #[arg(long, value_enum, default_value_t = OnDuplicate::Error)]
    pub on_duplicate: OnDuplicate,
    /// Write; without it, import checks the file and shows what it would do.
    #[arg(long)]
    pub execute: bool,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// The destination store (same forms as --store).
    #[arg(long, value_name = "URL")]
    pub to_store: String,
    /// The destination catalog (same forms as --catalog; default: SQLite inside a
    /// `file://` destination store).
    #[arg(long, value_name = "URL")]
    pub to_catalog: Option<String>,
    /// Snapshots the destination already has are skipped, so a copy run again after an
    /// interruption finishes the job.
    #[arg(long, value_enum, default_value_t = OnDuplicate::Skip)]
    pub on_duplicate: OnDuplicate,
    /// Only show what would be copied.
    #[arg(long)]
    pub dry_run: bool,
    /// From an encrypted store into an unencrypted one: allow the plaintext copy.
    #[arg(long)]
    pub decrypt: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Encrypt the store (a new one): a random repository key, wrapped by the passphrase
    /// (BACKTRACK_PASSPHRASE or --passphrase-file) and, with --key-file, by a key file.
    #[arg(long)]
    pub encrypt: bool,
    /// Argon2id memory cost of the passphrase wrapping, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = backtrack::crypt::KdfParams::default().memory_kib, requires = "encrypt")]
    pub argon2_memory_kib: u32,
    /// Argon2id passes of the passphrase wrapping.
    #[arg(long, value_name = "N", default_value_t = backtrack::crypt::KdfParams::default().iterations, requires = "encrypt")]
    pub argon2_iterations: u32,
}

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// The store's key slots: id, kind, created, Argon2id parameters.
    List,
    /// Change the passphrase: the new one from BACKTRACK_NEW_PASSPHRASE or
    /// --new-passphrase-file; the old one (or a key file) unlocks. The repository key stays.
    Passwd {
        /// A file holding the new passphrase.
        #[arg(long, value_name = "FILE")]
        new_passphrase_file: Option<std::path::PathBuf>,
        /// Argon2id memory cost of the new wrapping, in KiB.
        #[arg(long, value_name = "KIB", default_value_t = backtrack::crypt::KdfParams::default().memory_kib)]
        argon2_memory_kib: u32,
        /// Argon2id passes of the new wrapping.
        #[arg(long, value_name = "N", default_value_t = backtrack::crypt::KdfParams::default().iterations)]
        argon2_iterations: u32,
    },
    /// Add a key file that opens the store (created with random contents if missing).
    AddFile {
        /// The key file to add.
        #[arg(value_name = "FILE")]
        path: std::path::PathBuf,
    },
    /// Remove a key slot by id (`key list`); the store's last slot cannot be removed.
    Remove {
        #[arg(value_name = "ID")]
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// Add a completed entry for every manifest the catalog lacks (creating the catalog if it
    /// is gone). Names, scopes, triggers and dates come back; pins, expiry dates, capture
    /// figures, failed captures and rollback jobs do not.
    #[arg(long)]
    pub reindex: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Diff two snapshots of a large sandbox repository with a fraction of issues changed.
    Diff(BenchDiffArgs),
    /// Capture a Jira project (Cloud and Data Center) against the request floor and a naive
    /// per-issue client, on one sandbox with per-request latency.
    Jira(BenchJiraArgs),
    /// GitHub API requests of snapshots kept in a git:// archive branch, split by kind.
    GitStore(BenchGitArgs),
    /// Size and generation time of `backtrack report` at 1% churn and at 10,000 changes
    /// (bench/report adds the first paint in headless Chromium).
    Report(BenchReportArgs),
    /// Snapshot wall time into a plain store and into an encrypted one, alternating, on
    /// one sandbox: what encryption costs a capture.
    Encryption(BenchEncryptionArgs),
    /// A full GitHub snapshot through REST and through GraphQL side by side: requests,
    /// GraphQL points, wall time at a per-request latency, peak RSS, stored bytes.
    Capture(BenchCaptureArgs),
}

#[derive(Debug, Args)]
pub struct BenchCaptureArgs {
    #[arg(long, default_value_t = 10_000)]
    pub issues: u64,
    #[arg(long, default_value_t = 50_000)]
    pub comments: u64,
    /// Delay the sandbox adds to every request, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub latency_ms: u64,
}

#[derive(Debug, Args)]
pub struct BenchEncryptionArgs {
    #[arg(long, default_value_t = 10_000)]
    pub issues: u64,
    #[arg(long, default_value_t = 50_000)]
    pub comments: u64,
    /// Delay the sandbox adds to every request, in milliseconds (0: the worst case for
    /// encryption's share of the time).
    #[arg(long, default_value_t = 50)]
    pub latency_ms: u64,
    /// Snapshots per kind of store (each into a new store), alternating plain and encrypted.
    #[arg(long, default_value_t = 2)]
    pub rounds: u32,
}

#[derive(Debug, Args)]
pub struct BenchReportArgs {
    #[arg(long, default_value_t = 10_000)]
    pub issues: u64,
    #[arg(long, default_value_t = 50_000)]
    pub comments: u64,
    /// Fraction of issues changed for the first report.
    #[arg(long, default_value_t = 0.01)]
    pub churn: f64,
    /// Changes in the second report (two per edited issue).
    #[arg(long, default_value_t = 10_000)]
    pub changes: usize,
    /// Where the two reports are written.
    #[arg(long, default_value = "target/bench-report")]
    pub out: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct BenchJiraArgs {
    #[arg(long, default_value_t = 5_000)]
    pub issues: u64,
    #[arg(long, default_value_t = 25_000)]
    pub comments: u64,
    /// Latency the sandbox adds to every request.
    #[arg(long, default_value_t = 50)]
    pub latency_ms: u64,
    /// Only this flavour (default: both).
    #[arg(long)]
    pub flavor: Option<JiraFlavor>,
    /// Requests the naive client keeps in flight (scripts usually make one at a time).
    #[arg(long, default_value_t = 1)]
    pub naive_concurrency: usize,
    /// Leave the naive client out (it takes minutes at the defaults).
    #[arg(long)]
    pub skip_naive: bool,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Every figure as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchGitArgs {
    #[arg(long, default_value_t = 1_000)]
    pub issues: u64,
    #[arg(long, default_value_t = 5_000)]
    pub comments: u64,
    /// Fraction of issues changed before the second (incremental) snapshot.
    #[arg(long, default_value_t = 0.01)]
    pub churn: f64,
}

#[derive(Debug, Args)]
pub struct BenchDiffArgs {
    #[arg(long, default_value_t = 10_000)]
    pub issues: u64,
    #[arg(long, default_value_t = 50_000)]
    pub comments: u64,
    /// Fraction of issues changed between the two snapshots.
    #[arg(long, default_value_t = 0.01)]
    pub churn: f64,
    /// Timed repetitions of the diff command.
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The scope whose snapshots to prune.
    pub scope: String,
    /// Keep the newest N completed snapshots (0 with --keep-within: keep by age only).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub keep_last: usize,
    /// Also keep every completed snapshot younger than this (e.g. 30d, 12h, 2w).
    #[arg(long, value_name = "DUR")]
    pub keep_within: Option<String>,
    /// Leave unreferenced blobs younger than this (a second line of defence: running
    /// captures are kept safe by the store lease, which makes prune wait for them).
    #[arg(long, default_value = "1h", value_name = "DUR")]
    pub grace: String,
    /// Delete (default: show what would be deleted).
    #[arg(long)]
    pub execute: bool,
}
