//! Deterministic seeding of the Jira project from [`Config::seed`] (ChaCha8).
//!
//! The data looks like a real backlog: epics created first and filled over time with
//! stories, tasks and bugs, subtasks under them; older work mostly Done (with a resolution
//! and its date), newer work in progress or to do; priorities, labels, components, fix
//! versions (released ones on done work), story points on stories, sprints over the last
//! sixteen weeks (closed, one active, one future), due dates, links (blocks, relates,
//! duplicates, clones), descriptions with headings, lists, code blocks, mentions, emoji and
//! links (ADF on Cloud, wiki markup on DC), and comments skewed so a few issues carry more
//! than Cloud embeds, some restricted to a role or group, some edited.
//!
//! Timestamps span the eighteen months before today (UTC midnight, so a seed gives the same
//! data all day) and are consistent: children follow their parents, comments follow their
//! issue, `updated` is the latest of all of them, a resolution date lies between creation
//! and the last update.

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::doc::{self, Block, Inline, Mention};
use super::state::catalog::{DONE, IN_PROGRESS, IN_REVIEW, MEDIUM, REOPENED, TO_DO};
use super::state::{
    now_ms, Comment, Component, CustomFields, Issue, Ms, Project, Sprint, State, User, Version,
};
use super::{Config, EpicStyle, Flavor, DEFAULT_ACCOUNT};

const DAY: Ms = 86_400_000;
const HOUR: Ms = 3_600_000;
/// Comments a hot issue carries: more than Cloud embeds, so the per-issue listing is needed.
const HOT_COMMENTS: (u64, u64) = (101, 140);
/// Seeded comments needed before any issue is made hot.
const HOT_MIN_TOTAL: u64 = 300;

/// `(name, display name, time zone)` of the people on the project.
const PEOPLE: &[(&str, &str, &str)] = &[
    ("alice", "Alice Martin", "Europe/Paris"),
    ("bob", "Bob Okafor", "Africa/Lagos"),
    ("carol", "Carol Nguyen", "America/Los_Angeles"),
    ("dave", "Dave Kowalski", "Europe/Warsaw"),
    ("erin", "Erin Silva", "America/Sao_Paulo"),
    ("frank", "Frank Meyer", "Europe/Berlin"),
    ("grace", "Grace Ito", "Asia/Tokyo"),
    ("heidi", "Heidi Larsen", "Europe/Oslo"),
];

const COMPONENTS: &[(&str, &str)] = &[
    ("Backend", "Services, queues and the domain model"),
    ("Frontend", "The web app and design system"),
    ("API", "Public REST API and webhooks"),
    ("Database", "Schema, migrations and query performance"),
    ("Infrastructure", "CI, deployment and observability"),
    ("Documentation", ""),
];

const LABELS: &[&str] = &[
    "backend",
    "frontend",
    "tech-debt",
    "customer-reported",
    "security",
    "performance",
    "ux",
    "needs-design",
    "regression",
    "quick-win",
    "q3-goal",
    "flaky-test",
];

const EPIC_THEMES: &[&str] = &[
    "Checkout redesign",
    "Search relevance v2",
    "Self-serve onboarding",
    "Billing migration to usage-based plans",
    "Mobile offline mode",
    "Audit log for admins",
    "SSO with SAML and SCIM",
    "Notifications overhaul",
    "Reporting dashboards",
    "API rate limiting",
    "Data export and GDPR tooling",
    "Performance budget for the web app",
    "Accessibility pass (WCAG 2.1 AA)",
    "Multi-region deployment",
    "Workflow automation rules",
    "Partner integrations marketplace",
];

const THINGS: &[&str] = &[
    "invoice PDF",
    "search results page",
    "password reset email",
    "CSV export",
    "webhook delivery",
    "session cookie",
    "cart total",
    "avatar upload",
    "audit log entry",
    "dashboard chart",
    "SAML assertion",
    "rate limiter",
    "pagination cursor",
    "date picker",
    "timezone conversion",
    "retry queue",
    "feature flag",
    "onboarding checklist",
    "API token",
    "notification digest",
];

const FAILS: &[&str] = &[
    "is empty",
    "shows the wrong currency",
    "times out",
    "is duplicated",
    "loses unsaved changes",
    "returns a 500",
    "renders off-screen",
    "ignores the user's locale",
    "is sent twice",
    "drops the last item",
];

const WHEN: &[&str] = &[
    "after a page refresh",
    "for users in UTC+13",
    "on Safari 17",
    "when the list has more than 100 items",
    "right after sign-up",
    "with a very long name",
    "behind a corporate proxy",
    "on the second attempt",
    "when two tabs are open",
    "during a deploy",
];

const ROLES: &[&str] = &[
    "admin",
    "new user",
    "billing owner",
    "support agent",
    "developer",
];

const ACTIONS: &[&str] = &[
    "filter the list by status",
    "export my data",
    "see who changed a setting",
    "invite teammates in bulk",
    "undo an accidental delete",
    "pick a default workspace",
    "get a weekly summary",
    "rotate an API token",
    "pay by invoice",
    "search across archived items",
];

const TASKS: &[&str] = &[
    "Upgrade tokio to the latest minor",
    "Add tracing spans to the checkout flow",
    "Remove the legacy v1 endpoints",
    "Set up alerting for queue depth",
    "Document the release process",
    "Migrate the sessions table to the new schema",
    "Write a load test for search",
    "Rotate the signing keys",
    "Clean up unused feature flags",
    "Add an index on orders.created_at",
];

const SUBTASKS: &[&str] = &[
    "Write unit tests",
    "Update the API docs",
    "Implement the backend endpoint",
    "Build the UI component",
    "Add a migration",
    "QA on staging",
    "Add metrics and dashboards",
    "Update the changelog",
    "Review copy with design",
    "Handle the error states",
];

const SENTENCES: &[&str] = &[
    "This came up in the last customer call and blocks the rollout for two accounts.",
    "We agreed to keep the change behind a feature flag until the migration is done.",
    "The current behaviour was never specified, so tests only cover the happy path.",
    "Support has seen a handful of tickets about this over the last month.",
    "There is a workaround, but it needs an admin and most teams do not have one.",
    "The fix should stay small; the larger refactor is tracked separately.",
    "Logs show the retry kicking in, then giving up after the third attempt.",
    "Design signed off on the flow; copy is still being reviewed.",
    "Performance is fine below a thousand rows and degrades quickly after that.",
    "We need to keep the old payload shape until mobile clients catch up.",
];

const COMMENTS: &[&str] = &[
    "I can reproduce this on staging.",
    "Pushed a fix, ready for review.",
    "Could we split this into two tickets? The second part is much larger.",
    "Moving to the next sprint, we ran out of time.",
    "Confirmed fixed on production.",
    "This is a duplicate of an older report, linking it.",
    "What is the expected behaviour for archived items?",
    "Added a test that fails before the change and passes after.",
    "Heads-up: this touches the billing code, please loop in finance.",
    "Looks good to me.",
    "Customer confirmed the workaround is enough for now.",
    "The flaky test was the cause, not the code under test.",
];

const EMOJI: &[(&str, &str, &str)] = &[
    (":thumbsup:", "👍", "(y)"),
    (":smile:", "😄", ":D"),
    (":white_check_mark:", "✅", "(/)"),
    (":warning:", "⚠️", "(!)"),
    (":tada:", "🎉", "(*)"),
];

const CODE: &[(&str, &str)] = &[
    (
        "rust",
        "let page = client.search(jql).next_page_token(token).await?;\nassert!(page.is_last);",
    ),
    ("json", "{\n  \"status\": 500,\n  \"error\": \"upstream timeout\"\n}"),
    (
        "sql",
        "SELECT id, created_at\nFROM orders\nWHERE created_at > now() - interval '1 day';",
    ),
    ("bash", "curl -s https://status.example.com/api/health | jq .status"),
    (
        "python",
        "def retry(fn, attempts=3):\n    for i in range(attempts):\n        try:\n            return fn()\n        except TimeoutError:\n            continue",
    ),
];

/// `t`, or if it would reach `anchor`, a random moment in the three hours before it (so
/// late timestamps don't pile up on one millisecond).
fn before(rng: &mut ChaCha8Rng, t: Ms, anchor: Ms) -> Ms {
    if t < anchor {
        t
    } else {
        anchor - rng.random_range(1..3 * HOUR)
    }
}

/// A user the seed does not have (a `--token` account): ids derived from the name.
pub(crate) fn new_user(st: &State, name: &str, seed: u64) -> User {
    let h = name.bytes().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    User {
        account_id: format!(
            "712020:{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            h as u32,
            (h >> 32) as u16,
            (h >> 48) as u16 & 0xfff,
            (h >> 20) as u16 & 0xfff,
            h & 0xffff_ffff_ffff
        ),
        name: name.to_owned(),
        key: format!("JIRAUSER{}", 10_100 + st.users.len() as u64),
        display: name.to_owned(),
        email: format!("{name}@example.com"),
        time_zone: "UTC",
        active: true,
    }
}

fn account_id(rng: &mut ChaCha8Rng) -> String {
    // Cloud's classic 24-hex account ids.
    let a: u64 = rng.random();
    let b: u32 = rng.random();
    format!("{:016x}{:08x}", a, b)
}

/// Builds the initial store for `cfg`.
pub(crate) fn seed(cfg: &Config) -> State {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let cloud = cfg.flavor == Flavor::Cloud;
    let anchor = now_ms() / DAY * DAY;
    let start = anchor - 540 * DAY;

    let mut users = vec![User {
        account_id: account_id(&mut rng),
        name: DEFAULT_ACCOUNT.into(),
        key: "JIRAUSER10000".into(),
        display: "Sandbox Admin".into(),
        email: "sandbox-admin@example.com".into(),
        time_zone: "UTC",
        active: true,
    }];
    for (k, (name, display, tz)) in PEOPLE.iter().enumerate() {
        users.push(User {
            account_id: account_id(&mut rng),
            name: (*name).into(),
            key: format!("JIRAUSER{}", 10_101 + k),
            display: (*display).into(),
            email: format!("{name}@example.com"),
            time_zone: tz,
            active: true,
        });
    }
    let people: Vec<usize> = (1..users.len()).collect();
    let mentions: Vec<Mention> = users[1..]
        .iter()
        .map(|u| Mention {
            id: if cloud {
                u.account_id.clone()
            } else {
                u.name.clone()
            },
            display: u.display.clone(),
        })
        .collect();
    let project = Project {
        id: if cloud { 10_000 } else { 10_100 },
        key: cfg.project.clone(),
        name: format!("{} Platform", title_case(&cfg.project)),
        description: "The product team's main software project.".into(),
        lead: 1,
    };
    let fields = CustomFields::for_seed(cfg.flavor, cfg.seed);
    let style = cfg.epic_style();
    let mut st = State::new(cfg.flavor, style, project, users, fields);
    if let Some(roles) = &cfg.roles {
        st.roles = roles.clone();
    }
    if let Some(groups) = &cfg.groups {
        st.groups = groups.clone();
    }
    if cfg.workflow == super::Workflow::Restricted {
        st.transitions = super::state::catalog::restricted_workflow(&st.statuses);
    }

    for (k, (name, desc)) in COMPONENTS.iter().enumerate() {
        st.insert_component(Component {
            id: 10_000 + k as u64,
            name: (*name).into(),
            description: (!desc.is_empty()).then(|| (*desc).to_owned()),
            lead: Some(people[k % people.len()]),
            assignee_type: "PROJECT_DEFAULT".into(),
        });
    }
    let versions = seed_versions(&mut st, start, anchor);
    seed_sprints(&mut st, anchor);

    let ctx = Gen {
        cloud,
        mentions: &mentions,
        people: &people,
        anchor,
        start,
    };
    let n = cfg.issues;
    let epics = cfg.epics.unwrap_or((n / 25).max(1)).min(n);
    let epic_at: std::collections::BTreeSet<u64> =
        (0..epics).map(|j| j * n / epics.max(1)).collect();
    let span = (anchor - start - 2 * DAY).max(1);
    let mut issues: Vec<Issue> = Vec::with_capacity(n as usize);
    // Indexes (into `issues`) of recent epics and recent standard issues, for parents.
    let mut recent_epics: Vec<usize> = Vec::new();
    let mut recent_standard: Vec<usize> = Vec::new();
    for k in 0..n {
        let created = start
            + (span as i128 * k as i128 / n.max(1) as i128) as Ms
            + rng.random_range(0..(span / n.max(1) as Ms).max(1));
        let kind = if epic_at.contains(&k) {
            Kind::Epic
        } else if !recent_standard.is_empty() && rng.random_bool(0.22) {
            Kind::Subtask
        } else {
            match rng.random_range(0..100u8) {
                0..=54 => Kind::Story,
                55..=79 => Kind::Task,
                _ => Kind::Bug,
            }
        };
        let reporter = *people.choose(&mut rng).unwrap_or(&1);
        let mut i = st.blank_issue(kind.type_index(), reporter, created);
        i.priority = match rng.random_range(0..100u8) {
            0..=4 => 0,
            5..=24 => 1,
            25..=74 => MEDIUM,
            75..=89 => 3,
            _ => 4,
        };
        match kind {
            Kind::Subtask => {
                let pick = recent_standard[rng.random_range(0..recent_standard.len())];
                let parent = &issues[pick];
                i.parent = Some(parent.id);
                i.summary = format!(
                    "{} ({})",
                    SUBTASKS
                        .choose(&mut rng)
                        .copied()
                        .unwrap_or("Write unit tests"),
                    short(&parent.summary)
                );
                i.components = parent.components.clone();
            }
            Kind::Epic => {
                let theme = EPIC_THEMES[(k as usize * 7 + cfg.seed as usize) % EPIC_THEMES.len()];
                i.summary = if (k / (EPIC_THEMES.len() as u64).max(1)) > 0 {
                    format!("{theme} (phase {})", k / EPIC_THEMES.len() as u64 + 1)
                } else {
                    theme.to_owned()
                };
                if style == EpicStyle::EpicLink {
                    i.epic_name = Some(short(&i.summary));
                }
            }
            _ => {
                i.summary = summary(&mut rng, kind);
                if !recent_epics.is_empty() && rng.random_bool(0.8) {
                    let e = recent_epics
                        [recent_epics.len() - 1 - rng.random_range(0..recent_epics.len().min(3))];
                    match style {
                        EpicStyle::Parent => i.parent = Some(issues[e].id),
                        EpicStyle::EpicLink => i.epic_link = Some(issues[e].id),
                    }
                }
                if kind == Kind::Story && rng.random_bool(0.85) {
                    i.story_points = [1.0, 2.0, 3.0, 5.0, 8.0, 13.0].choose(&mut rng).copied();
                }
                let how_many = rng.random_range(0..=2usize);
                let mut comps: Vec<u64> = st.components.keys().copied().collect();
                comps.shuffle(&mut rng);
                i.components = comps.into_iter().take(how_many).collect();
            }
        }
        let how_many = rng.random_range(0..=3usize);
        let mut labels: Vec<&str> = LABELS.to_vec();
        labels.shuffle(&mut rng);
        i.labels = labels
            .into_iter()
            .take(how_many)
            .map(str::to_owned)
            .collect();
        if kind == Kind::Bug && rng.random_bool(0.4) {
            let env = format!(
                "{} on {}",
                ["Chrome 126", "Firefox 128", "Safari 17.5", "Edge 126"]
                    .choose(&mut rng)
                    .copied()
                    .unwrap_or("Chrome 126"),
                ["macOS 14", "Windows 11", "Ubuntu 24.04", "iOS 17"]
                    .choose(&mut rng)
                    .copied()
                    .unwrap_or("macOS 14")
            );
            i.environment = Some(doc::render(
                &[Block::Para(vec![Inline::Text(env)])],
                cloud,
                cloud,
            ));
        }
        if !rng.random_bool(0.12) {
            i.description = Some(description(&mut rng, &ctx, kind, &i.summary));
        }
        // Status by age: older work is mostly done.
        let frac = k as f64 / n.max(1) as f64;
        let roll: f64 = rng.random();
        let p_done = 0.85 - 0.65 * frac;
        i.status = if roll < p_done {
            DONE
        } else if roll < p_done + 0.03 {
            REOPENED
        } else if roll < p_done + 0.11 {
            IN_REVIEW
        } else if roll < p_done + 0.30 {
            IN_PROGRESS
        } else {
            TO_DO
        };
        if i.status != TO_DO || rng.random_bool(0.5) {
            i.assignee = people.choose(&mut rng).copied();
        }
        let room = (anchor - HOUR - created).max(HOUR);
        let mut last = created + rng.random_range(0..room.min(45 * DAY));
        i.status_changed = if i.status == TO_DO { created } else { last };
        if i.status == DONE {
            i.resolution = Some(match rng.random_range(0..100u8) {
                0..=79 => 0,
                80..=87 => 1,
                88..=94 => 2,
                _ => 3,
            });
            i.resolution_date = Some(last);
            let released: Vec<u64> = versions
                .iter()
                .filter(|(_, rel)| rel.is_some_and(|r| r >= last))
                .map(|(id, _)| *id)
                .collect();
            if let Some(v) = released.first() {
                if kind != Kind::Subtask && rng.random_bool(0.7) {
                    i.fix_versions = vec![*v];
                }
            }
        } else {
            if kind != Kind::Subtask && rng.random_bool(0.35) {
                let open: Vec<u64> = versions
                    .iter()
                    .filter(|(_, rel)| rel.is_none_or(|r| r > anchor))
                    .map(|(id, _)| *id)
                    .collect();
                i.fix_versions = open.choose(&mut rng).copied().into_iter().collect();
            }
            if rng.random_bool(0.25) {
                let due = created + rng.random_range(14..90) * DAY;
                i.due = chrono::DateTime::from_timestamp_millis(due).map(|d| d.date_naive());
            }
        }
        if kind == Kind::Bug && rng.random_bool(0.3) {
            i.versions = versions.first().map(|(id, _)| *id).into_iter().collect();
        }
        // Sprints: work created in the last sixteen weeks sits in the sprint of its time;
        // unfinished work also carries over into the next one.
        if kind != Kind::Epic && kind != Kind::Subtask {
            let hits: Vec<u64> = st
                .sprints
                .iter()
                .filter(|s| created < s.end && s.start > created - 14 * DAY)
                .map(|s| s.id)
                .take(if i.status == DONE { 1 } else { 2 })
                .collect();
            if !hits.is_empty() && rng.random_bool(0.75) {
                i.sprints = hits;
            }
        }
        if rng.random_bool(0.3) {
            if let Some(&w) = people.choose(&mut rng) {
                if !i.watchers.contains(&w) {
                    i.watchers.push(w);
                }
            }
        }
        i.votes = if rng.random_bool(0.1) {
            rng.random_range(1..6)
        } else {
            0
        };
        last = last.max(created);
        i.updated = last;
        let idx = issues.len();
        issues.push(i);
        match kind {
            Kind::Epic => recent_epics.push(idx),
            Kind::Subtask => {}
            _ => {
                recent_standard.push(idx);
                if recent_standard.len() > 20 {
                    recent_standard.remove(0);
                }
            }
        }
    }

    let comments = seed_comments(&mut rng, &mut issues, cfg.comments, &ctx);
    let link_pairs = seed_links(&mut rng, &mut issues, anchor);
    for i in issues {
        st.insert_issue(i);
    }
    for c in comments {
        st.insert_comment(c);
    }
    for (t, a, b) in link_pairs {
        st.insert_link(t, a, b);
    }
    st.clock = anchor;
    // Restrictions to roles or groups this site lacks: the comment is public.
    let (roles, groups) = (st.roles.clone(), st.groups.clone());
    for c in st.comments.values_mut() {
        let known = c.visibility.as_ref().is_none_or(|(k, v)| {
            let names = if k == "role" { &roles } else { &groups };
            names.iter().any(|n| n.eq_ignore_ascii_case(v))
        });
        if !known {
            c.visibility = None;
        }
    }
    st
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Epic,
    Story,
    Task,
    Bug,
    Subtask,
}

impl Kind {
    /// Index into the catalog's issue types.
    fn type_index(self) -> usize {
        match self {
            Kind::Epic => 0,
            Kind::Story => 1,
            Kind::Task => 2,
            Kind::Bug => 3,
            Kind::Subtask => 4,
        }
    }
}

/// What text generation needs.
struct Gen<'a> {
    cloud: bool,
    mentions: &'a [Mention],
    people: &'a [usize],
    anchor: Ms,
    start: Ms,
}

fn title_case(key: &str) -> String {
    let mut cs = key.chars();
    match cs.next() {
        Some(f) => f
            .to_uppercase()
            .chain(cs.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// The first few words of a summary, for subtask and epic names.
fn short(s: &str) -> String {
    let words: Vec<&str> = s.split_whitespace().take(4).collect();
    words.join(" ")
}

fn summary(rng: &mut ChaCha8Rng, kind: Kind) -> String {
    let thing = THINGS.choose(rng).copied().unwrap_or("CSV export");
    match kind {
        Kind::Bug => format!(
            "{} {} {}",
            capitalise(thing),
            FAILS.choose(rng).copied().unwrap_or("times out"),
            WHEN.choose(rng).copied().unwrap_or("after a page refresh")
        ),
        Kind::Task => TASKS
            .choose(rng)
            .copied()
            .unwrap_or("Document the release process")
            .to_owned(),
        _ => {
            if rng.random_bool(0.5) {
                format!(
                    "As a {}, I want to {}",
                    ROLES.choose(rng).copied().unwrap_or("admin"),
                    ACTIONS.choose(rng).copied().unwrap_or("export my data")
                )
            } else {
                format!("Improve the {thing}")
            }
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut cs = s.chars();
    match cs.next() {
        Some(f) => f.to_uppercase().chain(cs).collect(),
        None => String::new(),
    }
}

fn mention(rng: &mut ChaCha8Rng, g: &Gen<'_>) -> Inline {
    let m = g.mentions.choose(rng).cloned().unwrap_or(Mention {
        id: "sandbox-admin".into(),
        display: "Sandbox Admin".into(),
    });
    Inline::Mention(m)
}

fn emoji(rng: &mut ChaCha8Rng) -> Inline {
    let (s, t, w) = EMOJI
        .choose(rng)
        .copied()
        .unwrap_or((":smile:", "😄", ":D"));
    Inline::Emoji(s, t, w)
}

fn description(rng: &mut ChaCha8Rng, g: &Gen<'_>, kind: Kind, summary: &str) -> doc::Doc {
    let mut blocks = Vec::new();
    let sentence = |rng: &mut ChaCha8Rng| {
        SENTENCES
            .choose(rng)
            .copied()
            .unwrap_or("We need to look into this.")
            .to_owned()
    };
    match kind {
        Kind::Bug => {
            blocks.push(Block::Heading(
                3,
                vec![Inline::Text("Steps to reproduce".into())],
            ));
            let steps = rng.random_range(2..5);
            blocks.push(Block::Ordered(
                (0..steps)
                    .map(|s| {
                        vec![Inline::Text(match s {
                            0 => "Sign in as a regular user".to_owned(),
                            1 => format!(
                                "Open the {}",
                                THINGS.choose(rng).copied().unwrap_or("dashboard")
                            ),
                            _ => format!("Wait {} seconds and refresh", rng.random_range(2..30)),
                        })]
                    })
                    .collect(),
            ));
            blocks.push(Block::Heading(3, vec![Inline::Text("Expected".into())]));
            blocks.push(Block::Para(vec![Inline::Text(sentence(rng))]));
            if rng.random_bool(0.5) {
                let (lang, code) = CODE.choose(rng).copied().unwrap_or(("json", "{}"));
                blocks.push(Block::Code(lang, code.to_owned()));
            }
            if rng.random_bool(0.3) {
                blocks.push(Block::Quote(vec![Inline::Text(
                    "Reported by a customer through support.".into(),
                )]));
            }
        }
        Kind::Epic => {
            blocks.push(Block::Heading(2, vec![Inline::Text("Goal".into())]));
            blocks.push(Block::Para(vec![
                Inline::Text(format!("{summary}. ")),
                Inline::Text(sentence(rng)),
            ]));
            blocks.push(Block::Rule);
            blocks.push(Block::Heading(2, vec![Inline::Text("Scope".into())]));
            blocks.push(Block::Bullets(
                (0..rng.random_range(2..5))
                    .map(|_| {
                        vec![Inline::Text(capitalise(
                            ACTIONS.choose(rng).copied().unwrap_or("export data"),
                        ))]
                    })
                    .collect(),
            ));
            blocks.push(Block::Para(vec![
                Inline::Text("Owner: ".into()),
                mention(rng, g),
                Inline::Text(" · Spec: ".into()),
                Inline::Link {
                    text: "design doc".into(),
                    href: format!(
                        "https://wiki.example.com/specs/{}",
                        rng.random_range(100..999)
                    ),
                },
            ]));
        }
        _ => {
            let mut first = vec![Inline::Text(sentence(rng))];
            if rng.random_bool(0.3) {
                first.push(Inline::Text(" cc ".into()));
                first.push(mention(rng, g));
            }
            if rng.random_bool(0.2) {
                first.push(Inline::Text(" ".into()));
                first.push(emoji(rng));
            }
            blocks.push(Block::Para(first));
            if rng.random_bool(0.6) {
                blocks.push(Block::Heading(
                    3,
                    vec![Inline::Text("Acceptance criteria".into())],
                ));
                blocks.push(Block::Bullets(
                    (0..rng.random_range(2..5))
                        .map(|_| {
                            vec![
                                Inline::Text("The ".into()),
                                Inline::Strong(
                                    THINGS.choose(rng).copied().unwrap_or("page").into(),
                                ),
                                Inline::Text(format!(
                                    " {}",
                                    [
                                        "works offline",
                                        "is covered by tests",
                                        "handles errors",
                                        "is documented"
                                    ]
                                    .choose(rng)
                                    .copied()
                                    .unwrap_or("works")
                                )),
                            ]
                        })
                        .collect(),
                ));
            }
            if rng.random_bool(0.25) {
                let (lang, code) = CODE.choose(rng).copied().unwrap_or(("json", "{}"));
                blocks.push(Block::Code(lang, code.to_owned()));
            }
            if rng.random_bool(0.2) {
                blocks.push(Block::Para(vec![
                    Inline::Text("See ".into()),
                    Inline::Link {
                        text: "the RFC".into(),
                        href: "https://example.com/rfc/42".into(),
                    },
                    Inline::Text(" and run ".into()),
                    Inline::Code("make check".into()),
                    Inline::Text(" first.".into()),
                ]));
            }
        }
    }
    doc::render(&blocks, g.cloud, g.cloud)
}

fn comment_body(rng: &mut ChaCha8Rng, g: &Gen<'_>) -> doc::Doc {
    let mut first = Vec::new();
    if rng.random_bool(0.2) {
        first.push(mention(rng, g));
        first.push(Inline::Text(" ".into()));
    }
    first.push(Inline::Text(
        COMMENTS
            .choose(rng)
            .copied()
            .unwrap_or("Looks good to me.")
            .into(),
    ));
    if rng.random_bool(0.15) {
        first.push(Inline::Text(" ".into()));
        first.push(emoji(rng));
    }
    let mut blocks = vec![Block::Para(first)];
    if rng.random_bool(0.1) {
        let (lang, code) = CODE.choose(rng).copied().unwrap_or(("json", "{}"));
        blocks.push(Block::Code(lang, code.to_owned()));
    } else if rng.random_bool(0.1) {
        blocks.push(Block::Bullets(vec![
            vec![
                Inline::Em("Before:".into()),
                Inline::Text(" 1.2s p95".into()),
            ],
            vec![
                Inline::Em("After:".into()),
                Inline::Text(" 310ms p95".into()),
            ],
        ]));
    }
    doc::render(&blocks, g.cloud, g.cloud)
}

/// Comments, skewed across issues, in creation order (ids follow it); moves each issue's
/// `updated` to its last comment.
fn seed_comments(
    rng: &mut ChaCha8Rng,
    issues: &mut [Issue],
    total: u64,
    g: &Gen<'_>,
) -> Vec<Comment> {
    let n = issues.len();
    if n == 0 || total == 0 {
        return Vec::new();
    }
    let mut counts = vec![0u64; n];
    let mut left = total;
    if total >= HOT_MIN_TOTAL && n >= 2 {
        let hot = (total / 5000).clamp(2, 20) as usize;
        let mut picks: Vec<usize> = (0..n).collect();
        picks.shuffle(rng);
        for &i in picks.iter().take(hot.min(n)) {
            let k = rng.random_range(HOT_COMMENTS.0..=HOT_COMMENTS.1).min(left);
            counts[i] += k;
            left -= k;
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    for _ in 0..left {
        let u: f64 = rng.random();
        let rank = ((u * u) * n as f64) as usize;
        counts[order[rank.min(n - 1)]] += 1;
    }
    let mut out = Vec::with_capacity(total as usize);
    for (idx, issue) in issues.iter_mut().enumerate() {
        let window = (g.anchor - HOUR - issue.created).clamp(HOUR, 200 * DAY);
        for _ in 0..counts[idx] {
            let created = issue.created + 60_000 + rng.random_range(0..window);
            let created = before(rng, created, g.anchor).max(g.start);
            let updated = if rng.random_bool(0.1) {
                let edited = created + rng.random_range(60_000..2 * DAY);
                before(rng, edited, g.anchor).max(created)
            } else {
                created
            };
            issue.updated = issue.updated.max(updated);
            let author = *g.people.choose(rng).unwrap_or(&1);
            let visibility = match rng.random_range(0..100u8) {
                0..=6 => Some(("role".to_owned(), "Developers".to_owned())),
                7..=9 => Some(("group".to_owned(), "jira-software-users".to_owned())),
                _ => None,
            };
            out.push(Comment {
                id: 0,
                issue: issue.id,
                author,
                update_author: author,
                body: comment_body(rng, g),
                created,
                updated,
                visibility,
                properties: Default::default(),
            });
        }
    }
    out.sort_by_key(|c| (c.created, c.issue));
    out
}

/// Links between issues: about one issue in twelve links to another.
fn seed_links(rng: &mut ChaCha8Rng, issues: &mut [Issue], anchor: Ms) -> Vec<(usize, u64, u64)> {
    let n = issues.len();
    let mut out = Vec::new();
    if n < 2 {
        return out;
    }
    for a in 0..n {
        if !rng.random_bool(0.08) {
            continue;
        }
        let b = rng.random_range(0..n);
        if b == a {
            continue;
        }
        let t = match rng.random_range(0..10u8) {
            0..=3 => 0, // Blocks
            4 => 1,     // Cloners
            5 => 2,     // Duplicate
            _ => 3,     // Relates
        };
        let (inward, outward) = (issues[a].id, issues[b].id);
        if out
            .iter()
            .any(|&(_, x, y)| (x, y) == (inward, outward) || (x, y) == (outward, inward))
        {
            continue;
        }
        // Linking is an update of both issues.
        let at = issues[a].created.max(issues[b].created) + HOUR;
        let at = before(rng, at, anchor);
        for k in [a, b] {
            issues[k].updated = issues[k].updated.max(at);
        }
        out.push((t, inward, outward));
    }
    out
}

/// Six versions: three released, one archived among them, three planned.
fn seed_versions(st: &mut State, start: Ms, anchor: Ms) -> Vec<(u64, Option<Ms>)> {
    let span = anchor - start;
    let plan: [(&str, Option<Ms>, bool, bool); 6] = [
        ("1.0", Some(start + span / 4), true, true),
        ("1.1", Some(start + span / 2), true, false),
        ("1.2", Some(start + span * 3 / 4), true, false),
        ("2.0", Some(anchor + 30 * DAY), false, false),
        ("2.1", Some(anchor + 75 * DAY), false, false),
        ("3.0", None, false, false),
    ];
    let mut out = Vec::new();
    for (k, (name, release, released, archived)) in plan.into_iter().enumerate() {
        let id = 10_000 + k as u64;
        let date = |ms: Ms| chrono::DateTime::from_timestamp_millis(ms).map(|d| d.date_naive());
        st.insert_version(super::state::Version {
            id,
            name: name.into(),
            description: Some(format!("Release {name}")),
            released,
            archived,
            start_date: release.and_then(|r| date(r - 60 * DAY)),
            release_date: release.and_then(date),
        });
        out.push((id, release));
    }
    let _: Option<&Version> = st.versions.values().next();
    out
}

/// Eight two-week sprints on board 1: six closed, one active, one future.
fn seed_sprints(st: &mut State, anchor: Ms) {
    let first = anchor - 13 * 7 * DAY;
    for k in 0..8u64 {
        let s = first + k as Ms * 14 * DAY;
        let state = match k {
            0..=5 => "closed",
            6 => "active",
            _ => "future",
        };
        st.sprints.push(Sprint {
            id: k + 1,
            name: format!("{} Sprint {}", st.project.key, k + 1),
            state,
            board: 1,
            goal: if k % 2 == 0 {
                "Ship the next slice of the roadmap".into()
            } else {
                String::new()
            },
            start: s,
            end: s + 14 * DAY,
            complete: (state == "closed").then_some(s + 14 * DAY),
        });
    }
}
