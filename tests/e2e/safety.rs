//! Issue 21 acceptance, the safety items: input that used to panic is a one-line error;
//! tracker text with escape sequences reaches no terminal and no Markdown raw; one huge body
//! cannot hide the other changes from the capped PR comment; credentials in GITHUB_API_URL
//! and overlong inputs never reach a message; RUST_LOG is honoured.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use serde_json::{json, Value};

use crate::util::{http, Run, SandboxProc, User};

const SCOPE: &str = "github:acme/widgets";
const REPO: &str = "/repos/acme/widgets";

/// Stderr holds exactly one non-empty line, an `error:` one, and the exit code is 2.
fn assert_one_line_error(run: &Run, needle: &str) {
    assert_eq!(run.code, 2, "expected exit 2: {run:?}");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr: {run:?}");
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    assert!(
        lines[0].contains(needle),
        "{:?} should say {needle:?}",
        lines[0]
    );
}

/// Characters that act on a terminal (or hide text) instead of printing: C0 and C1 controls
/// other than line feed and tab, DEL, and bidirectional overrides and isolates.
fn acting_chars(text: &str) -> Vec<(usize, char)> {
    text.char_indices()
        .filter(|&(_, c)| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}')
        })
        .collect()
}

fn assert_no_raw_controls(what: &str, text: &str) {
    let bad = acting_chars(text);
    if let Some(&(at, c)) = bad.first() {
        let from = text[..at]
            .char_indices()
            .rev()
            .nth(40)
            .map_or(0, |(i, _)| i);
        panic!(
            "{what}: {} raw control character(s), the first U+{:04X} at byte {at}, after {:?}",
            bad.len(),
            c as u32,
            &text[from..at]
        );
    }
}

fn enc(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn ok(what: &str, (status, body): (u16, Value)) -> Value {
    assert!((200..300).contains(&status), "{what}: {status} {body}");
    body
}

/// Plain issues (not pull requests) in ascending number order.
fn plain_issues(sandbox: &SandboxProc) -> Vec<Value> {
    let mut issues: Vec<Value> = sandbox
        .list_all(&format!("{REPO}/issues?state=all"))
        .into_iter()
        .filter(|i| i.get("pull_request").is_none())
        .collect();
    issues.sort_by_key(|i| i["number"].as_u64());
    issues
}

fn pull_request(sandbox: &SandboxProc) -> u64 {
    sandbox
        .list_all(&format!("{REPO}/issues?state=all"))
        .iter()
        .find(|i| i.get("pull_request").is_some())
        .and_then(|i| i["number"].as_u64())
        .expect("the sandbox seeds pull requests")
}

#[test]
fn safety_a_token_with_a_control_character_is_a_one_line_error_naming_the_variable() {
    let sandbox = SandboxProc::start(&["--issues", "3", "--comments", "3"]);
    let user = User::new(&sandbox);
    let body = user.home.path().join("body.md");
    std::fs::write(&body, "hello").unwrap();
    let body = body.display().to_string();
    let commands: [&[&str]; 3] = [
        &["snapshot", "create", SCOPE],
        &["diff", SCOPE, "--from", "latest", "--to", "live"],
        &[
            "comment",
            "upsert",
            "--repo",
            "acme/widgets",
            "--pr",
            "1",
            "--marker",
            "m",
            "--body-file",
            &body,
        ],
    ];
    let secret = "ghp_S3CRETVALUE";
    for (bad, what) in [
        (format!("{secret}\u{1}en"), "a control character"),
        (format!("{secret}\u{7f}"), "a control character"),
        (format!("{secret}\u{1b}[2J"), "a control character"),
        (format!("{secret} x"), "a space"),
        (format!("“{secret}”"), "a non-ASCII character"),
    ] {
        for args in commands {
            for var in ["GITHUB_TOKEN", "GH_TOKEN"] {
                let mut cmd = user.command(args);
                cmd.env_remove("GITHUB_TOKEN").env(var, &bad);
                let out = cmd.output().unwrap();
                let run = Run {
                    code: out.status.code().unwrap_or(-1),
                    stdout: String::from_utf8_lossy(&out.stdout).to_string(),
                    stderr: String::from_utf8_lossy(&out.stderr).to_string(),
                };
                assert_one_line_error(&run, &format!("{var} contains {what}"));
                assert!(!run.stderr.contains(secret), "the token leaked: {run:?}");
                assert!(!run.stderr.contains("panicked"), "{run:?}");
            }
        }
    }
    // Not UTF-8 at all: said, not treated as "no token".
    let mut cmd = user.command(&["snapshot", "create", SCOPE]);
    cmd.env("GITHUB_TOKEN", OsStr::from_bytes(b"ghp_\xff\xfe"));
    let out = cmd.output().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    };
    assert_one_line_error(&run, "GITHUB_TOKEN is not valid UTF-8");
    // Nothing was written anywhere.
    assert_eq!(sandbox.stats()["writes"], 0);
    assert!(!user.store().join("blobs").exists());
}

/// Label names, milestone titles, issue titles, bodies and comments carrying terminal escape
/// sequences (an OSC 52 clipboard write, a screen clear, BEL, BS, NUL, a C1 CSI) and a
/// right-to-left override.
const OSC52: &str = "\u{1b}]52;c;cHduZWQ=\u{7}";
const CLEAR: &str = "\u{1b}[2J\u{1b}[H";

#[test]
fn safety_tracker_text_with_escape_sequences_reaches_no_terminal_and_no_markdown_raw() {
    let sandbox = SandboxProc::start(&["--issues", "12", "--comments", "12", "--seed", "5"]);
    let user = User::new(&sandbox);
    let issues = plain_issues(&sandbox);
    let (a, b) = (
        issues[0]["number"].as_u64().unwrap(),
        issues[1]["number"].as_u64().unwrap(),
    );

    let label = format!("bug{OSC52}{CLEAR}");
    let milestone = format!("v1{CLEAR}\u{8}\u{0}\u{9b}31m");
    let title = format!("Pay {CLEAR}now \u{202e}exe.txt\u{202c}");
    ok(
        "label",
        sandbox.api(
            "POST",
            &format!("{REPO}/labels"),
            Some(json!({"name": label, "color": "ff0000"})),
        ),
    );
    let m = ok(
        "milestone",
        sandbox.api(
            "POST",
            &format!("{REPO}/milestones"),
            Some(json!({"title": milestone})),
        ),
    );
    ok(
        "issue",
        sandbox.api(
            "PATCH",
            &format!("{REPO}/issues/{a}"),
            Some(
                json!({"title": title, "body": format!("first\n{OSC52}\n{CLEAR}third\u{7}"),
                        "labels": [label], "milestone": m["number"]}),
            ),
        ),
    );
    ok(
        "comment",
        sandbox.api(
            "POST",
            &format!("{REPO}/issues/{b}/comments"),
            Some(json!({"body": format!("hi {CLEAR}{OSC52}")})),
        ),
    );
    user.run(&["snapshot", "create", SCOPE, "--name", "base"])
        .ok();

    // Wreck it: the label and milestone go, the title and body are overwritten, and new
    // hostile text arrives.
    ok(
        "delete label",
        sandbox.api("DELETE", &format!("{REPO}/labels/{}", enc(&label)), None),
    );
    ok(
        "delete milestone",
        sandbox.api(
            "DELETE",
            &format!("{REPO}/milestones/{}", m["number"]),
            None,
        ),
    );
    ok(
        "issue",
        sandbox.api(
            "PATCH",
            &format!("{REPO}/issues/{a}"),
            Some(json!({"title": "plain", "body": "plain"})),
        ),
    );
    ok(
        "issue b",
        sandbox.api(
            "PATCH",
            &format!("{REPO}/issues/{b}"),
            Some(json!({"title": format!("b {OSC52}"), "body": "\u{0}\u{8}\u{1b}[1A"})),
        ),
    );

    let mut outputs = Vec::new();
    for args in [
        vec![
            "diff", SCOPE, "--from", "base", "--to", "live", "--format", "text",
        ],
        vec![
            "diff", SCOPE, "--from", "base", "--to", "live", "--format", "markdown",
        ],
        vec!["rollback", SCOPE, "--to", "base"],
        vec!["rollback", SCOPE, "--to", "base", "--execute", "--yes"],
        vec![
            "diff", SCOPE, "--from", "latest", "--to", "base", "--format", "markdown",
        ],
        vec!["snapshot", "list"],
        vec!["snapshot", "show", "base"],
    ] {
        let run = user.run(&args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        assert_no_raw_controls(&format!("{args:?} stdout"), &run.stdout);
        assert_no_raw_controls(&format!("{args:?} stderr"), &run.stderr);
        outputs.push(run.stdout);
    }
    // The hostile text is shown, visibly, not dropped.
    let text_diff = &outputs[0];
    assert!(
        text_diff.contains("bug␛]52;c;cHduZWQ=␇␛[2J␛[H"),
        "{text_diff}"
    );
    assert!(text_diff.contains("<U+202E>exe.txt<U+202C>"), "{text_diff}");
    let markdown = &outputs[1];
    assert!(
        markdown.contains("␛[2J␛[H") && markdown.contains("␀"),
        "{markdown}"
    );
    let preview = &outputs[2];
    assert!(
        preview.contains("recreate label \"bug␛]52;c;cHduZWQ=␇␛[2J␛[H\""),
        "{preview}"
    );
    assert!(preview.contains("v1␛[2J␛[H␈␀<U+009B>31m"), "{preview}");
    assert!(outputs[3].contains("Verification: clean"), "{}", outputs[3]);

    // The rollback restored the hostile names exactly: escaping is for display only.
    let labels = sandbox.list_all(&format!("{REPO}/labels"));
    assert!(labels.iter().any(|l| l["name"] == label.as_str()));
    let (_, issue) = sandbox.api("GET", &format!("{REPO}/issues/{a}"), None);
    assert_eq!(issue["title"], title.as_str());

    // Snapshot names are user text too: one with a right-to-left override, if the store takes
    // it, is listed visibly.
    let named = user.run(&["snapshot", "create", SCOPE, "--name", "evil\u{202e}gnp.exe"]);
    if named.code == 0 {
        for args in [
            vec!["snapshot", "list"],
            vec!["snapshot", "show", "evil\u{202e}gnp.exe"],
        ] {
            let run = user.run(&args).ok();
            assert_no_raw_controls(&format!("{args:?}"), &run.stdout);
            assert!(run.stdout.contains("evil<U+202E>gnp.exe"), "{}", run.stdout);
        }
    }
}

/// A 65,536-character description (GitHub's limit) on the lowest-numbered changed issue and
/// seven small changes: the capped Markdown, and the PR comment made from it, list all eight.
#[test]
fn safety_one_huge_body_leaves_every_other_changed_issue_listed_in_the_capped_comment() {
    let sandbox = SandboxProc::start(&["--issues", "20", "--comments", "10", "--seed", "9"]);
    let user = User::new(&sandbox);
    user.run(&["snapshot", "create", SCOPE]).ok();
    let issues = plain_issues(&sandbox);
    let changed: Vec<u64> = issues
        .iter()
        .take(8)
        .map(|i| i["number"].as_u64().unwrap())
        .collect();
    let line = format!("{}\n", "lorem ipsum dolor sit amet ".repeat(4).trim_end());
    let mut huge = line.repeat(65_536 / line.len());
    huge.push_str(&"x".repeat(65_536 - huge.len()));
    assert_eq!(huge.chars().count(), 65_536);
    ok(
        "huge body",
        sandbox.api(
            "PATCH",
            &format!("{REPO}/issues/{}", changed[0]),
            Some(json!({"body": huge})),
        ),
    );
    for n in &changed[1..] {
        ok(
            "title",
            sandbox.api(
                "PATCH",
                &format!("{REPO}/issues/{n}"),
                Some(json!({"title": format!("Renamed #{n}")})),
            ),
        );
    }

    // The Action's rendering: 64,000 characters, leaving room for the comment's framing.
    let md_file = user.home.path().join("diff.md");
    let run = user.run(&[
        "diff",
        SCOPE,
        "--format",
        "markdown",
        "--max-chars",
        "64000",
        "--exit-code",
        "-o",
        md_file.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let md = std::fs::read_to_string(&md_file).unwrap();
    assert!(
        md.chars().count() <= 64_000,
        "{} characters",
        md.chars().count()
    );
    for n in &changed {
        assert!(md.contains(&format!("#{n}</a>")), "#{n} is not listed");
    }
    for n in &changed[1..] {
        assert!(
            md.contains(&format!("+Renamed #{n}")),
            "#{n}'s change is not shown"
        );
    }
    assert!(!md.contains("are not shown"), "an issue was dropped");
    assert!(
        md.contains("1 of 8 listed issues is shortened"),
        "the cut is not said"
    );
    assert!(
        md.contains("cut to fit the comment"),
        "the huge body does not say it was cut"
    );
    assert_eq!(
        md.matches("<details>").count(),
        md.matches("</details>").count()
    );

    // Posted as the sticky comment: the same, within GitHub's limit.
    let pr = pull_request(&sandbox);
    let run = user.run(&[
        "--json",
        "comment",
        "upsert",
        "--repo",
        "acme/widgets",
        "--pr",
        &pr.to_string(),
        "--marker",
        "diff github:acme/widgets",
        "--body-file",
        md_file.to_str().unwrap(),
    ]);
    let report = run.ok().json();
    assert_eq!(report["action"], "created", "{report}");
    assert_eq!(report["truncated"], false, "{report}");
    let (_, comment) = sandbox.api(
        "GET",
        &format!("{REPO}/issues/comments/{}", report["id"]),
        None,
    );
    let body = comment["body"].as_str().unwrap();
    assert!(body.chars().count() <= 65_536);
    for n in &changed {
        assert!(
            body.contains(&format!("#{n}</a>")),
            "#{n} is not in the comment"
        );
    }
}

#[test]
fn safety_credentials_in_the_api_url_appear_in_no_error_log_or_output() {
    let sandbox = SandboxProc::start(&["--issues", "4", "--comments", "4"]);
    let mut user = User::new(&sandbox);
    let secret = "pa55w0rd-in-url";
    user.api_url = sandbox
        .url
        .replacen("http://", &format!("http://someone:{secret}@"), 1);
    // It works (the token authenticates; the URL's credentials are dropped), at every level.
    for args in [
        vec!["-vv", "--json", "snapshot", "create", SCOPE],
        vec!["-vv", "diff", SCOPE, "--format", "json"],
        vec!["-vv", "rollback", SCOPE, "--to", "latest"],
    ] {
        let run = user.run(&args).ok();
        for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !text.contains(secret),
                "{args:?} {what} shows the password:\n{text}"
            );
            assert!(
                !text.contains("someone:"),
                "{args:?} {what} shows the user:\n{text}"
            );
        }
        assert!(
            run.stderr.contains("DEBUG"),
            "-vv logs at debug: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("GITHUB_API_URL carries credentials"),
            "{}",
            run.stderr
        );
    }
    // With RUST_LOG=trace too.
    let mut cmd = user.command(&["snapshot", "create", SCOPE]);
    cmd.env("RUST_LOG", "trace");
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TRACE") && !stderr.contains(secret));

    // Unreachable, and unparseable: the errors quote the URL redacted.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for url in [
        format!("http://someone:{secret}@127.0.0.1:{port}/api/v3"),
        format!("http://someone:{secret}@[not-a-host/api/v3"),
        format!("ftp://someone:{secret}@example.com/"),
    ] {
        user.api_url = url;
        let run = user.run(&["-vv", "snapshot", "create", SCOPE]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(!run.stderr.contains(secret), "{}", run.stderr);
        assert!(run.stderr.contains("GITHUB_API_URL"), "{}", run.stderr);
    }
}

#[test]
fn safety_errors_quote_long_input_shortened_with_its_length() {
    let sandbox = SandboxProc::start(&["--issues", "2", "--comments", "2"]);
    let user = User::new(&sandbox);
    let long = "x".repeat(10_000);
    let spaced = "a b ".repeat(2_500);
    let store = format!("ftp://{long}");
    for args in [
        vec!["snapshot", "create", &long],
        vec!["snapshot", "create", SCOPE, "--name", &spaced],
        vec!["snapshot", "show", &long],
        vec!["--store", &store, "snapshot", "list"],
        vec!["prune", SCOPE, "--keep-within", &long],
        vec![
            "comment",
            "upsert",
            "--repo",
            &long,
            "--pr",
            "1",
            "--marker",
            "m",
            "--body-file",
            "/dev/null",
        ],
        vec![
            "comment",
            "upsert",
            "--repo",
            "acme/widgets",
            "--pr",
            &long,
            "--marker",
            "m",
            "--body-file",
            "/dev/null",
        ],
    ] {
        let run = user.run(&args);
        assert_eq!(run.code, 2, "{run:?}");
        let first = args.iter().find(|a| a.len() > 100).unwrap();
        assert!(
            run.stderr.chars().count() < 1_000,
            "{} characters of error for {} characters of input: {}…",
            run.stderr.chars().count(),
            first.len(),
            run.stderr.chars().take(300).collect::<String>()
        );
        assert!(
            run.stderr.contains(",0"),
            "the length is not said: {}",
            run.stderr
        );
        assert!(run.stderr.contains(" characters)"), "{}", run.stderr);
    }
}

#[test]
fn safety_rust_log_is_honoured() {
    let sandbox = SandboxProc::start(&["--issues", "2", "--comments", "2"]);
    let user = User::new(&sandbox);
    let stderr = |envs: &[(&str, &str)], args: &[&str]| {
        let mut cmd = user.command(args);
        cmd.env_remove("RUST_LOG").env_remove("BACKTRACK_LOG");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let args = ["snapshot", "create", SCOPE];
    assert!(!stderr(&[], &args).contains("DEBUG"));
    assert!(stderr(&[("RUST_LOG", "debug")], &args).contains("DEBUG"));
    // BACKTRACK_LOG wins over RUST_LOG.
    assert!(!stderr(&[("RUST_LOG", "debug"), ("BACKTRACK_LOG", "error")], &args).contains("DEBUG"));
    // A broken filter is said, and the default used.
    let err = stderr(&[("RUST_LOG", "backtrack=loud")], &args);
    assert!(
        err.contains("RUST_LOG") && err.contains("not a log filter"),
        "{err}"
    );
}

/// `comment upsert` as a user, as the Actions bot and as an App bot: a comment that carries
/// the marker but was written by someone else is never edited, whatever its age.
#[test]
fn safety_a_marker_planted_by_another_user_is_never_edited() {
    let sandbox = SandboxProc::start(&[
        "--issues",
        "6",
        "--comments",
        "4",
        "--token",
        "mallory-token=mallory",
        "--token",
        "actions-token=github-actions[bot]",
        "--token",
        "app-token=acme-reporter[bot]",
    ]);
    let user = User::new(&sandbox);
    let pr = pull_request(&sandbox).to_string();
    let marker = "diff github:acme/widgets";
    let post_as = |token: &str, body: &str| -> u64 {
        let (status, c) = http(
            &sandbox.url,
            "POST",
            &format!("{REPO}/issues/{pr}/comments"),
            Some(json!({ "body": body })),
            Some(token),
        );
        assert_eq!(status, 201, "{c}");
        c["id"].as_u64().unwrap()
    };
    let body_of = |id: u64| -> String {
        let (status, c) = sandbox.api("GET", &format!("{REPO}/issues/comments/{id}"), None);
        assert_eq!(status, 200, "{c}");
        c["body"].as_str().unwrap().to_string()
    };
    // Mallory plants the marker first, so hers is the oldest marked comment.
    let planted = format!("<!-- backtrack:{marker} -->\nAll clear, merge away");
    let mallory = post_as("mallory-token", &planted);
    let upsert = |token: &str, author: Option<&str>, text: &str| -> Run {
        let file = user.home.path().join("report.md");
        std::fs::write(&file, text).unwrap();
        let mut cmd = user.command(&[
            "--json",
            "comment",
            "upsert",
            "--repo",
            "acme/widgets",
            "--pr",
            &pr,
            "--marker",
            marker,
            "--body-file",
            file.to_str().unwrap(),
        ]);
        cmd.env("GITHUB_TOKEN", token)
            .env_remove("BACKTRACK_COMMENT_AUTHOR");
        if let Some(a) = author {
            cmd.env("BACKTRACK_COMMENT_AUTHOR", a);
        }
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    };

    // A user's token: GET /user names sandbox-admin; Mallory's comment is ignored and said.
    let first = upsert("sandbox-token", None, "report one").ok().json();
    assert_eq!(first["action"], "created", "{first}");
    assert_eq!(first["author"], "sandbox-admin");
    assert_eq!(
        first["ignored"],
        json!([{"id": mallory, "author": "mallory"}])
    );
    let ours = first["id"].as_u64().unwrap();
    assert_ne!(ours, mallory);
    let second = upsert("sandbox-token", None, "report two").ok().json();
    assert_eq!(
        (&second["action"], second["id"].as_u64()),
        (&json!("updated"), Some(ours))
    );
    assert!(body_of(ours).ends_with("report two"));

    // A newer planted marker does not win either.
    let later = post_as(
        "mallory-token",
        &format!("<!-- backtrack:{marker} -->\nme too"),
    );
    let third = upsert("sandbox-token", None, "report three").ok().json();
    assert_eq!(third["id"].as_u64(), Some(ours), "{third}");
    assert_eq!(third["ignored"].as_array().unwrap().len(), 2);

    // The Actions token: GitHub will not say who it is (403 on GET /user), so without a
    // declared identity nothing is guessed and nothing is written.
    let writes = sandbox.stats()["writes"].as_u64().unwrap();
    let refused = upsert("actions-token", None, "bot report");
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("--author"), "{}", refused.stderr);
    assert_eq!(sandbox.stats()["writes"].as_u64().unwrap(), writes);
    // Declared (as the Action does for its own token): its own comment, then updated.
    let bot = upsert("actions-token", Some("github-actions[bot]"), "bot report")
        .ok()
        .json();
    assert_eq!(bot["action"], "created", "{bot}");
    let bot_id = bot["id"].as_u64().unwrap();
    assert!(![mallory, later, ours].contains(&bot_id));
    let bot2 = upsert("actions-token", Some("github-actions[bot]"), "bot report 2")
        .ok()
        .json();
    assert_eq!(
        (&bot2["action"], bot2["id"].as_u64()),
        (&json!("updated"), Some(bot_id))
    );
    // An App's bot is a third identity again.
    let app = upsert("app-token", Some("acme-reporter[bot]"), "app report")
        .ok()
        .json();
    assert_eq!(app["action"], "created", "{app}");
    assert_eq!(app["ignored"].as_array().unwrap().len(), 4, "{app}");

    // Nobody else's comment was ever edited.
    assert_eq!(body_of(mallory), planted);
    assert!(body_of(later).ends_with("me too"));
    assert!(body_of(ours).ends_with("report three"));
    assert!(body_of(bot_id).ends_with("bot report 2"));
}
