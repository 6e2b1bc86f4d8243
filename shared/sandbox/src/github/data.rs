//! Deterministic seeding of the sandbox repository from [`SandboxOptions::seed`] (ChaCha8).
//!
//! The data looks like a real tracker: GitHub's default labels plus a few custom ones, five
//! milestones (some closed, some due), issues with Markdown bodies of varied length (some
//! null), ~10% pull requests, ~30% closed, and comments skewed so a few issues carry more than
//! 100 (per-issue pagination needs them). Timestamps span the two years before today (UTC
//! midnight, so a given seed gives the same data all day) and are consistent: a comment
//! follows its issue, `updated_at >= created_at`, closed issues have `closed_at`.

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::state::{
    unix_now, Comment, EventKind, Issue, Milestone, Pull, State, StateReason, Ts, User, UserKind,
};
use super::{pacific, SandboxOptions, DEFAULT_LOGIN};

const DAY: Ts = 86_400;
/// Issues that must carry more than 100 comments when there are enough comments.
const HOT_MIN_COMMENTS: u64 = 300;

/// GitHub's default labels (marked `default`) and a few custom ones.
const LABELS: &[(&str, &str, &str, bool)] = &[
    ("bug", "d73a4a", "Something isn't working", true),
    (
        "documentation",
        "0075ca",
        "Improvements or additions to documentation",
        true,
    ),
    (
        "duplicate",
        "cfd3d7",
        "This issue or pull request already exists",
        true,
    ),
    ("enhancement", "a2eeef", "New feature or request", true),
    ("good first issue", "7057ff", "Good for newcomers", true),
    ("help wanted", "008672", "Extra attention is needed", true),
    ("invalid", "e4e669", "This doesn't seem right", true),
    (
        "question",
        "d876e3",
        "Further information is requested",
        true,
    ),
    ("wontfix", "ffffff", "This will not be worked on", true),
    (
        "priority: high",
        "b60205",
        "Needs attention this cycle",
        false,
    ),
    ("area: api", "1d76db", "REST and webhook surface", false),
    ("needs triage", "fbca04", "", false),
];

/// `(login, display name, author_association)` of the people working on the repository.
const PEOPLE: &[(&str, &str, &str)] = &[
    ("alice", "Alice Martin", "MEMBER"),
    ("bob", "Bob Okafor", "MEMBER"),
    ("carol", "Carol Nguyen", "MEMBER"),
    ("dave", "Dave Kowalski", "COLLABORATOR"),
    ("erin", "Erin Silva", "COLLABORATOR"),
    ("frank", "Frank Meyer", "CONTRIBUTOR"),
    ("grace", "Grace Ito", "CONTRIBUTOR"),
    ("heidi", "Heidi Larsen", "NONE"),
];

const WORDS: &[&str] = &[
    "widget",
    "export",
    "parser",
    "cache",
    "token",
    "config",
    "timeout",
    "retry",
    "index",
    "schema",
    "render",
    "layout",
    "button",
    "form",
    "query",
    "request",
    "response",
    "header",
    "payload",
    "queue",
    "worker",
    "session",
    "upload",
    "download",
    "filter",
    "sort",
    "page",
    "label",
    "milestone",
    "theme",
    "locale",
    "build",
    "release",
    "deploy",
    "log",
    "metric",
    "the",
    "a",
    "when",
    "after",
    "before",
    "with",
    "without",
    "and",
    "or",
    "is",
    "fails",
    "breaks",
    "works",
    "returns",
    "ignores",
    "drops",
    "keeps",
    "shows",
    "hides",
    "slow",
    "empty",
    "large",
    "invalid",
    "missing",
    "duplicate",
    "stale",
    "unicode",
    "nested",
    "concurrent",
];

const TITLE_HEADS: &[&str] = &[
    "Crash when",
    "Error while",
    "Support",
    "Add option for",
    "Improve",
    "Document",
    "Flaky test in",
    "Slow",
    "Wrong result from",
    "Refactor",
    "Allow",
    "Deprecate",
];

const CODE: &[&str] = &[
    "```rust\nlet widget = Widget::builder().name(\"demo\").build()?;\nwidget.export(&path)?;\n```",
    "```sh\n$ widgets export --all --format json\nerror: timeout after 30s\n```",
    "```json\n{\"name\": \"demo\", \"size\": 0, \"tags\": []}\n```",
    "```python\nfor w in client.widgets(page=2):\n    print(w.name)\n```",
    "```\nthread 'main' panicked at src/export.rs:42:9:\nindex out of bounds\n```",
];

/// The user a token names when the seed has no such login: someone outside the repository
/// (no association, not assignable), or a GitHub App's bot for a `[bot]` login. GitHub
/// Actions' bot gets its real ids, as clients sometimes recognise it by them.
fn token_user(login: &str, k: u64, start: Ts) -> User {
    let kind = match login.strip_suffix("[bot]") {
        Some("github-actions") => UserKind::Bot { app: 15_368 },
        Some(_) => UserKind::Bot { app: 950_000 + k },
        None => UserKind::User,
    };
    let id = match (login, kind) {
        ("github-actions[bot]", _) => 41_898_282,
        (_, UserKind::Bot { .. }) => 9_250_000 + k,
        _ => 9_300_000 + k,
    };
    User {
        id,
        login: login.to_owned(),
        name: None,
        kind,
        association: "NONE",
        assignable: false,
        created_at: start - (200 + 11 * k as Ts) * DAY,
    }
}

/// Builds the initial store for `opts`.
pub(crate) fn seed(opts: &SandboxOptions) -> State {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let anchor = unix_now() / DAY * DAY;
    let start = anchor - 730 * DAY;
    let repo_id = 500_000 + opts.seed % 400_000;

    let mut users = vec![
        User {
            id: 9_000_001,
            login: DEFAULT_LOGIN.into(),
            name: Some("Sandbox Admin".into()),
            kind: UserKind::User,
            association: "MEMBER",
            assignable: true,
            created_at: start - 900 * DAY,
        },
        User {
            id: 9_000_002,
            login: opts.owner.clone(),
            name: Some(opts.owner.clone()),
            kind: UserKind::Organization,
            association: "OWNER",
            assignable: false,
            created_at: start - 1000 * DAY,
        },
    ];
    for (k, (login, name, assoc)) in PEOPLE.iter().enumerate() {
        users.push(User {
            id: 9_100_000 + k as u64 * 7 + 1,
            login: (*login).into(),
            name: Some((*name).into()),
            kind: UserKind::User,
            association: assoc,
            assignable: true,
            created_at: start - (400 + 37 * k as Ts) * DAY,
        });
    }
    let people: Vec<usize> = (2..users.len()).collect();
    // After `people`: users who only hold a token author nothing in the seed, so extra tokens
    // never change the seeded data.
    for (k, t) in opts.tokens.iter().enumerate() {
        if !users.iter().any(|u| u.login.eq_ignore_ascii_case(&t.login)) {
            users.push(token_user(&t.login, k as u64, start));
        }
    }
    let mut st = State::new(&opts.owner, &opts.repo, repo_id, users);
    st.repo_created_at = start - 30 * DAY;
    if !opts.empty_repository {
        st.git = super::git::GitDb::with_initial_commit(
            "main",
            "README.md",
            &format!("# {}\n\nServed by the backtrack sandbox.\n", opts.repo),
            super::git::Person {
                name: "Sandbox Admin".into(),
                email: "9000001+sandbox-admin@users.noreply.github.com".into(),
                time: st.repo_created_at,
            },
        );
    }

    for (name, color, desc, default) in LABELS {
        st.insert_label(name, color, (!desc.is_empty()).then_some(*desc));
        if *default {
            st.set_label_default(name);
        }
    }
    let label_ids: Vec<u64> = st.labels.keys().copied().collect();
    seed_milestones(&mut st, start, anchor);
    let milestone_numbers: Vec<u64> = st.milestones.keys().copied().collect();

    // Issues first (not yet stored: their updated_at depends on their comments).
    let n = opts.issues;
    let span = (anchor - start - DAY).max(1);
    let mut issues: Vec<Issue> = Vec::with_capacity(n as usize);
    for k in 0..n {
        let created = start
            + (span as i128 * k as i128 / n.max(1) as i128) as Ts
            + rng.random_range(0..(span / n.max(1) as Ts).max(1));
        let is_pr = rng.random_bool(0.10);
        let closed = rng.random_bool(0.30);
        let closed_at = closed.then(|| {
            let room = (anchor - created - 60).max(60);
            created + rng.random_range(60..=room.min(120 * DAY))
        });
        let how_many = rng.random_range(0..=3usize);
        let mut labels: Vec<u64> = label_ids.sample(&mut rng, how_many).copied().collect();
        labels.sort_unstable();
        let assignees: Vec<usize> = if rng.random_bool(0.55) {
            let how_many = rng.random_range(1..=2usize);
            people.sample(&mut rng, how_many).copied().collect()
        } else {
            Vec::new()
        };
        let milestone = if rng.random_bool(0.4) {
            milestone_numbers.choose(&mut rng).copied()
        } else {
            None
        };
        let state_reason = match (closed, is_pr) {
            (true, false) if rng.random_bool(0.8) => Some(StateReason::Completed),
            (true, false) => Some(StateReason::NotPlanned),
            _ => None,
        };
        let pull = is_pr.then(|| Pull {
            merged_at: closed_at.filter(|_| rng.random_bool(0.75)),
        });
        let edited = created + rng.random_range(0..(3 * DAY)).min(anchor - created);
        issues.push(Issue {
            id: 0,
            number: k + 1,
            title: title(&mut rng),
            body: (!rng.random_bool(0.06)).then(|| issue_body(&mut rng)),
            user: *people.choose(&mut rng).unwrap_or(&0),
            labels,
            assignees,
            milestone,
            open: !closed,
            state_reason,
            locked: rng.random_bool(0.01),
            lock_reason: None,
            issue_type: None,
            parent: None,
            sub_issues: Vec::new(),
            blocked_by: Vec::new(),
            blocking: Vec::new(),
            pinned_comment: None,
            comment_ids: Vec::new(),
            created_at: created,
            updated_at: edited.max(closed_at.unwrap_or(created)),
            closed_at,
            closed_by: closed.then(|| *people.choose(&mut rng).unwrap_or(&0)),
            pull,
            deleted: false,
        });
    }

    let comments = seed_comments(&mut rng, &mut issues, opts.comments, &people, anchor);
    for issue in issues {
        st.push_issue(issue);
    }
    for c in comments {
        st.push_comment(c);
    }
    // The history GitHub would list: who closed each closed issue, and when.
    let mut closings: Vec<(Ts, u64, usize, Option<&'static str>)> = st
        .issues
        .iter()
        .filter_map(|i| {
            let at = i.closed_at?;
            Some((
                at,
                i.number,
                i.closed_by?,
                i.state_reason.map(|r| r.as_str()),
            ))
        })
        .collect();
    closings.sort_unstable();
    for (at, number, actor, reason) in closings {
        st.record(number, actor, EventKind::Closed { reason }, at);
    }
    st.clock = anchor;
    st
}

/// `(title, description, open, created days after start, due days after today)`.
type MilestonePlan = (&'static str, Option<&'static str>, bool, Ts, Option<Ts>);

fn seed_milestones(st: &mut State, start: Ts, anchor: Ts) {
    let plan: [MilestonePlan; 5] = [
        ("v1.0", Some("First stable release"), false, 10, Some(-500)),
        ("v1.1", Some("Bug fixes after 1.0"), false, 240, Some(-300)),
        ("v1.2", Some("Export and import"), true, 480, Some(30)),
        ("v2.0", Some("The API redesign"), true, 600, Some(180)),
        ("Backlog", None, true, 20, None),
    ];
    for (k, (title, desc, open, created, due)) in plan.into_iter().enumerate() {
        let created_at = start + created * DAY;
        let closed_at = (!open).then(|| anchor + due.unwrap_or(0) * DAY + DAY);
        st.insert_milestone(Milestone {
            id: 0,
            number: k as u64 + 1,
            title: title.into(),
            description: desc.map(str::to_owned),
            open,
            creator: 2 + k % PEOPLE.len().min(3),
            created_at,
            updated_at: closed_at.unwrap_or(created_at + 5 * DAY),
            closed_at,
            // Midnight Pacific time, as GitHub stores every due date.
            due_on: due.and_then(|d| pacific::due_on_day_of(anchor + d * DAY)),
            open_issues: 0,
            closed_issues: 0,
        });
    }
}

/// Comments, skewed across issues, sorted by creation time (ids follow that order).
fn seed_comments(
    rng: &mut ChaCha8Rng,
    issues: &mut [Issue],
    total: u64,
    people: &[usize],
    anchor: Ts,
) -> Vec<Comment> {
    let n = issues.len();
    if n == 0 || total == 0 {
        return Vec::new();
    }
    let mut counts = vec![0u64; n];
    let mut left = total;
    // A few hot threads of 101+ comments: at least two once there are enough comments.
    if total >= HOT_MIN_COMMENTS && n >= 2 {
        let hot = (total / 5000).clamp(2, 20) as usize;
        let mut picks: Vec<usize> = (0..n).collect();
        picks.shuffle(rng);
        for &i in picks.iter().take(hot.min(n)) {
            let k = (101 + rng.random_range(0..40u64)).min(left);
            counts[i] += k;
            left -= k;
        }
    }
    // The rest follows a skewed popularity: rank r of a random permutation gets ~1/sqrt(r).
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    for _ in 0..left {
        let u: f64 = rng.random();
        let rank = ((u * u) * n as f64) as usize;
        counts[order[rank.min(n - 1)]] += 1;
    }

    let mut out = Vec::with_capacity(total as usize);
    for (i, issue) in issues.iter_mut().enumerate() {
        let window = (anchor - issue.created_at - 60).clamp(60, 200 * DAY);
        for _ in 0..counts[i] {
            let created = issue.created_at + 60 + rng.random_range(0..window);
            let updated = if rng.random_bool(0.15) {
                (created + rng.random_range(60..3 * DAY)).min(anchor.max(created))
            } else {
                created
            };
            issue.updated_at = issue.updated_at.max(updated);
            out.push(Comment {
                id: 0,
                issue: issue.number,
                user: *people.choose(rng).unwrap_or(&0),
                body: comment_body(rng),
                created_at: created,
                updated_at: updated,
            });
        }
    }
    out.sort_by_key(|c| (c.created_at, c.issue));
    out
}

fn title(rng: &mut ChaCha8Rng) -> String {
    let head = TITLE_HEADS.choose(rng).copied().unwrap_or("Fix");
    let a = WORDS[rng.random_range(0..36)];
    let b = WORDS[rng.random_range(0..36)];
    let tail = WORDS.choose(rng).copied().unwrap_or("widget");
    format!("{head} {a} {b} {tail}")
}

fn sentence(rng: &mut ChaCha8Rng, out: &mut String) {
    let len = rng.random_range(6..16);
    for w in 0..len {
        let word = WORDS.choose(rng).copied().unwrap_or("widget");
        if w == 0 {
            let mut cs = word.chars();
            if let Some(c) = cs.next() {
                out.extend(c.to_uppercase());
                out.push_str(cs.as_str());
            }
        } else {
            out.push(' ');
            out.push_str(word);
        }
    }
    out.push_str(". ");
}

/// A paragraph of a number of sentences drawn from `sentences`.
fn paragraph(rng: &mut ChaCha8Rng, out: &mut String, sentences: std::ops::Range<usize>) {
    for _ in 0..rng.random_range(sentences) {
        sentence(rng, out);
    }
    out.truncate(out.trim_end().len());
    out.push_str("\n\n");
}

fn issue_body(rng: &mut ChaCha8Rng) -> String {
    let mut s = String::new();
    match rng.random_range(0..10u8) {
        // Short one-liners.
        0..=2 => paragraph(rng, &mut s, 1..3),
        // Bug-report template.
        3..=6 => {
            s.push_str("### Steps to reproduce\n\n");
            for k in 1..=rng.random_range(2..5) {
                s.push_str(&format!("{k}. "));
                sentence(rng, &mut s);
                s.push('\n');
            }
            s.push_str("\n### Expected behaviour\n\n");
            paragraph(rng, &mut s, 1..2);
            s.push_str("### Actual behaviour\n\n");
            paragraph(rng, &mut s, 1..3);
            s.push_str(CODE.choose(rng).copied().unwrap_or("```\n```"));
            s.push_str("\n\n- [ ] regression test\n- [x] reproduced on main\n");
        }
        // Long design notes.
        _ => {
            s.push_str("## Motivation\n\n");
            for _ in 0..rng.random_range(2..6) {
                paragraph(rng, &mut s, 2..6);
            }
            s.push_str("## Proposal\n\n");
            for _ in 0..rng.random_range(2..6) {
                s.push_str("* ");
                sentence(rng, &mut s);
                s.push('\n');
            }
            s.push('\n');
            s.push_str(CODE.choose(rng).copied().unwrap_or("```\n```"));
            s.push_str("\n\n> **Note**\n> ");
            sentence(rng, &mut s);
            s.push('\n');
        }
    }
    s.truncate(s.trim_end().len());
    s
}

fn comment_body(rng: &mut ChaCha8Rng) -> String {
    let mut s = String::new();
    match rng.random_range(0..10u8) {
        0 => s.push_str(["+1", "LGTM :+1:", "Thanks!", "Same here."][rng.random_range(0..4)]),
        1 => {
            s.push_str("> ");
            sentence(rng, &mut s);
            s.push_str("\n\n");
            paragraph(rng, &mut s, 1..2);
        }
        2 => {
            paragraph(rng, &mut s, 1..2);
            s.push_str(CODE.choose(rng).copied().unwrap_or("```\n```"));
        }
        _ => paragraph(rng, &mut s, 1..4),
    }
    s.truncate(s.trim_end().len());
    s
}
