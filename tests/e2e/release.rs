//! What a release ships beside the binary, and how the CLI behaves in the places it is
//! installed into: shell completions that their shells parse, a man page that `man`
//! renders, no ANSI escapes where no terminal reads them (pipes, files, CI logs) or where
//! `NO_COLOR` asks, and `--github-output` writing a workflow step's outputs and summary.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::{bin, SandboxProc, User};

const ESC: char = '\u{1b}';

/// Whether `text` holds an SGR (colour or style) sequence, `ESC [ digits/; m`. Cursor
/// movement from the progress line on a terminal is not colour.
fn has_sgr(text: &str) -> bool {
    text.match_indices("\u{1b}[").any(|(i, m)| {
        let rest = &text[i + m.len()..];
        let params = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(rest.len());
        rest[params..].starts_with('m')
    })
}

fn backtrack(args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run backtrack")
}

fn has(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn completions_parse_in_their_shells_and_know_the_commands() {
    for (shell, checker) in [("bash", "bash"), ("zsh", "zsh"), ("fish", "fish")] {
        let out = backtrack(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = String::from_utf8(out.stdout).unwrap();
        for word in ["snapshot", "rollback", "execute", "store", "completions"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
        // bash is always here; zsh and fish are checked where installed.
        if checker == "bash" || has(checker) {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join(format!("backtrack.{shell}"));
            std::fs::write(&file, &script).unwrap();
            let check = Command::new(checker).arg("-n").arg(&file).output().unwrap();
            assert!(
                check.status.success(),
                "{checker} -n rejects the completions: {}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
    // bash: the completion function is registered and offers the subcommands.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backtrack.bash");
    std::fs::write(&file, backtrack(&["completions", "bash"]).stdout).unwrap();
    let complete = |word: &str| {
        let probe = format!(
            ". {}; COMP_WORDS=(backtrack {word}); COMP_CWORD=1; COMP_LINE='backtrack {word}'; COMP_POINT=${{#COMP_LINE}}; _backtrack backtrack {word} backtrack; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        );
        let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(complete("snap"), "snapshot");
    assert_eq!(complete("rol"), "rollback");
    let bad = backtrack(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("possible values"));
}

/// `man -l FILE` as plain text (no terminal: no formatting escapes).
fn man(page: &Path) -> String {
    let out = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
        .expect("run man (install man-db)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "man -l {}: {stderr}",
        page.display()
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn man_pages_render() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("printed.1");
    let out = backtrack(&["man"]);
    assert!(out.status.success());
    std::fs::write(&top, &out.stdout).unwrap();
    let text = man(&top);
    for needle in [
        "NAME",
        "SYNOPSIS",
        "backtrack",
        "--store",
        "snapshot",
        "rollback",
    ] {
        assert!(text.contains(needle), "the page lacks {needle}:\n{text}");
    }
    // One page per command, for the tarball's man/ folder.
    let pages = dir.path().join("man");
    let out = backtrack(&["man", "--dir", pages.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for want in [
        "backtrack.1",
        "backtrack-rollback.1",
        "backtrack-snapshot-create.1",
    ] {
        assert!(names.iter().any(|n| n == want), "no {want} in {names:?}");
    }
    assert!(!names.iter().any(|n| n.contains("bench")), "{names:?}");
    let rollback = man(&pages.join("backtrack-rollback.1"));
    assert!(rollback.contains("--execute"), "{rollback}");
}

/// Runs `backtrack demo` with stdout on a pseudo-terminal (util-linux `script`).
fn demo_on_a_terminal(no_color: Option<&str>) -> String {
    let home = tempfile::tempdir().unwrap();
    let cmd = format!("{} demo --issues 8 --comments 16", bin().display());
    let mut script = Command::new("script");
    script
        .args(["-qefc", &cmd, "/dev/null"])
        .env("HOME", home.path())
        .env("TERM", "xterm-256color")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_API_URL")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    if let Some(v) = no_color {
        script.env("NO_COLOR", v);
    }
    let out = script.output().expect("run script (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Verification clean"), "{text}");
    text
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    // Into a pipe: plain text.
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["demo", "--issues", "8", "--comments", "16"])
        .env("HOME", home.path())
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_API_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let piped = String::from_utf8_lossy(&out.stdout);
    assert!(piped.contains("Verification clean"), "{piped}");
    assert!(
        !piped.contains(ESC),
        "escapes written into a pipe:\n{piped:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains(ESC),
        "escapes on a piped stderr:\n{stderr:?}"
    );

    // On a terminal the tour is styled…
    let coloured = demo_on_a_terminal(None);
    assert!(has_sgr(&coloured), "no styling on a terminal");
    // …unless NO_COLOR says otherwise (any non-empty value; empty means unset).
    let plain = demo_on_a_terminal(Some("1"));
    assert!(!has_sgr(&plain), "NO_COLOR ignored:\n{plain:?}");
    let empty = demo_on_a_terminal(Some(""));
    assert!(has_sgr(&empty), "an empty NO_COLOR turned colour off");
}

/// Parses a `$GITHUB_OUTPUT` file as the runner does: `name=value` lines and heredocs.
fn step_outputs(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
            out.push((name.to_string(), value.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            out.push((name.to_string(), value.to_string()));
        }
    }
    out
}

#[test]
fn github_output_sets_step_outputs_and_the_summary() {
    let sandbox = SandboxProc::start(&["--issues", "12", "--comments", "20"]);
    let user = User::new(&sandbox);
    let step = tempfile::tempdir().unwrap();
    let output = step.path().join("output");
    let summary = step.path().join("summary");
    let run = |args: &[&str]| {
        let out = user
            .command(args)
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .output()
            .unwrap();
        assert!(
            out.status.code().unwrap_or(-1) <= 1,
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let outputs = step_outputs(&std::fs::read_to_string(&output).unwrap_or_default());
        let text = std::fs::read_to_string(&summary).unwrap_or_default();
        std::fs::remove_file(&output).ok();
        std::fs::remove_file(&summary).ok();
        (outputs, text)
    };
    let scope = "github:acme/widgets";

    // A name with backticks and a newline-free odd value still makes one clean output.
    let (outputs, text) = run(&[
        "--github-output",
        "snapshot",
        "create",
        scope,
        "--name",
        "before `sync`",
    ]);
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    assert_eq!(outputs[0].0, "snapshot-id");
    let id = outputs[0].1.clone();
    assert_eq!(id.len(), 26, "{id}");
    assert!(
        text.contains("### ✅ backtrack: snapshot of `github:acme/widgets`"),
        "{text}"
    );
    assert!(
        text.contains(&format!("Took snapshot `{id}` (name `` before `sync` ``)")),
        "{text}"
    );
    assert!(text.contains("12 issues"), "{text}");

    // list: the newest completed snapshot.
    let (outputs, text) = run(&["--github-output", "snapshot", "list", scope]);
    assert_eq!(outputs, vec![("snapshot-id".to_string(), id.clone())]);
    assert!(
        text.contains(&id) && text.contains("snapshots of"),
        "{text}"
    );

    // diff: no change, then one.
    let md = step.path().join("diff.md");
    let md_arg = md.to_str().unwrap();
    let diff = [
        "--github-output",
        "diff",
        scope,
        "--format",
        "markdown",
        "--exit-code",
        "-o",
        md_arg,
    ];
    let (outputs, _) = run(&diff);
    assert!(
        outputs.contains(&("changes".into(), "false".into())),
        "{outputs:?}"
    );
    let (status, _) = sandbox.api(
        "PATCH",
        "/repos/acme/widgets/issues/1",
        Some(serde_json::json!({"title": "Renamed by a script"})),
    );
    assert_eq!(status, 200);
    let (outputs, text) = run(&diff);
    assert!(
        outputs.contains(&("changes".into(), "true".into())),
        "{outputs:?}"
    );
    assert!(
        outputs.contains(&("diff-markdown-file".into(), md_arg.to_string())),
        "{outputs:?}"
    );
    assert!(text.contains("Renamed by a script"), "{text}");

    // rollback: a preview writes nothing and says so; execute names the way back.
    let writes = sandbox.stats()["writes"].as_u64().unwrap();
    let (outputs, text) = run(&["--github-output", "rollback", scope, "--to", &id]);
    assert_eq!(outputs, vec![("changes".to_string(), "true".to_string())]);
    assert!(text.contains("rollback preview"), "{text}");
    assert_eq!(sandbox.stats()["writes"].as_u64().unwrap(), writes);
    let (outputs, text) = run(&[
        "--github-output",
        "rollback",
        scope,
        "--to",
        &id,
        "--execute",
        "--yes",
        "--write-interval-ms",
        "0",
    ]);
    let pre = outputs
        .iter()
        .find(|(k, _)| k == "snapshot-id")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("{outputs:?}"));
    assert_ne!(pre, id);
    assert!(
        outputs.contains(&("changes".into(), "true".into())),
        "{outputs:?}"
    );
    assert!(text.contains("rolled back `github:acme/widgets`"), "{text}");
    assert!(
        text.contains(&format!("Pre-rollback snapshot `{pre}`")),
        "{text}"
    );

    // Outside a workflow step the flag is refused before any work, with the remedy.
    let requests = sandbox.stats()["total"].as_u64().unwrap();
    let out = user
        .command(&["--github-output", "snapshot", "create", scope])
        .env_remove("GITHUB_OUTPUT")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--github-output needs GITHUB_OUTPUT"),
        "{out:?}"
    );
    assert_eq!(sandbox.stats()["total"].as_u64().unwrap(), requests);
}

/// The Action's install step on a ref with no release (a branch): it builds from source and
/// says so first, with how long that takes. `cargo` is a stand-in that installs the suite's
/// binary where `cargo install --root` would, so the test costs no build.
#[test]
fn action_install_without_a_release_says_it_builds_from_source() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("fake-bin");
    std::fs::create_dir_all(&fake).unwrap();
    let cargo = fake.join("cargo");
    std::fs::write(
        &cargo,
        format!(
            "#!/bin/sh\nwhile [ $# -gt 0 ]; do if [ \"$1\" = --root ]; then root=\"$2\"; fi; shift; done\nmkdir -p \"$root/bin\" && cp '{}' \"$root/bin/backtrack\"\n",
            bin().display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&cargo)
        .status()
        .unwrap();
    let output = tmp.path().join("output");
    let path = format!(
        "{}:{}",
        fake.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg(root.join("action/scripts/install.sh"))
        .env("PATH", path)
        .env("ACTION_REF", "my-feature-branch")
        .env("GITHUB_ACTION_PATH", &root)
        .env("RUNNER_TEMP", tmp.path())
        .env("GITHUB_OUTPUT", &output)
        .env_remove("INPUT_BINARY")
        .env_remove("INPUT_VERSION")
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let notice = stdout
        .lines()
        .find(|l| l.starts_with("::notice title=backtrack is built from source::"))
        .unwrap_or_else(|| panic!("no notice:\n{stdout}"));
    assert!(
        notice.contains("No release binary for my-feature-branch")
            && notice.contains("minutes on this")
            && notice.contains("uses: backtrack-dev/backtrack@v1"),
        "{notice}"
    );
    let built = tmp.path().join("backtrack-cargo/bin/backtrack");
    assert!(stdout.contains("(built from source)"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        format!("path={}\n", built.display())
    );
}

/// The SAM template a release ships: `sam deploy` in a folder holding it and the four zips
/// must deploy the released binaries without a Rust build. The test writes it the way the
/// release workflow does, lints it as the suite lints infra/template.yaml, and packages it
/// (`sam package`, the upload half of `sam deploy`) against moto with a stand-in zip per
/// function: each function's code must come from its own zip.
#[test]
fn the_release_template_deploys_the_released_zips_without_a_build() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let sam = root.join(".venv-sam/bin/sam");
    assert!(
        sam.exists(),
        "{} is missing: run the suite with tests/run, which creates .venv-sam",
        sam.display()
    );
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect(
        "AWS_ENDPOINT_URL is not set: run the suite with tests/run, which starts moto server",
    );
    let dir = tempfile::tempdir().unwrap();
    let version = "v9.8.7";
    let out = Command::new("python3")
        .arg(root.join(".github/scripts/release-template.py"))
        .args([version, &dir.path().display().to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let functions = ["snapshot", "diff", "restore", "catalog"];
    let template_name = format!("backtrack-{version}-template.yaml");
    let template = std::fs::read_to_string(dir.path().join(&template_name)).unwrap();
    assert!(
        !template.contains("BuildMethod") && !template.contains("CodeUri: .."),
        "{template}"
    );
    for fn_ in functions {
        let zip = format!("backtrack-lambda-{fn_}-{version}-arm64.zip");
        assert!(
            template.contains(&format!("CodeUri: {zip}")),
            "no CodeUri for {fn_}"
        );
        // A stand-in zip whose content differs per function, so the uploads differ.
        let bootstrap = dir.path().join("bootstrap");
        std::fs::write(&bootstrap, format!("#!/bin/sh\n# {fn_}\n")).unwrap();
        let zipped = Command::new("python3")
            .args(["-c", "import sys, zipfile; zipfile.ZipFile(sys.argv[1], 'w').write(sys.argv[2], 'bootstrap')"])
            .arg(dir.path().join(&zip))
            .arg(&bootstrap)
            .status()
            .unwrap();
        assert!(zipped.success());
    }
    let sam_env = |cmd: &mut Command| {
        cmd.current_dir(dir.path())
            .env("SAM_CLI_TELEMETRY", "0")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .stdin(Stdio::null());
    };
    let mut lint = Command::new(&sam);
    lint.args(["validate", "--lint", "--template", &template_name]);
    sam_env(&mut lint);
    let linted = lint.output().unwrap();
    assert!(
        linted.status.success(),
        "{}{}",
        String::from_utf8_lossy(&linted.stdout),
        String::from_utf8_lossy(&linted.stderr)
    );

    let bucket = format!("release-template-{}", std::process::id());
    let made = Command::new(root.join(".venv/bin/python"))
        .args(["-c", "import sys, boto3; boto3.client('s3', endpoint_url=sys.argv[1]).create_bucket(Bucket=sys.argv[2])"])
        .args([&endpoint, &bucket])
        .status()
        .unwrap();
    assert!(made.success(), "cannot create the bucket on moto");
    let mut package = Command::new(&sam);
    package.args([
        "package",
        "--template-file",
        &template_name,
        "--s3-bucket",
        &bucket,
        "--output-template-file",
        "packaged.yaml",
    ]);
    sam_env(&mut package);
    let packaged = package.output().unwrap();
    assert!(
        packaged.status.success(),
        "{}{}",
        String::from_utf8_lossy(&packaged.stdout),
        String::from_utf8_lossy(&packaged.stderr)
    );
    let packaged = std::fs::read_to_string(dir.path().join("packaged.yaml")).unwrap();
    let mut uris: Vec<&str> = packaged
        .lines()
        .filter_map(|l| l.trim().strip_prefix("CodeUri: "))
        .collect();
    assert_eq!(uris.len(), functions.len(), "{packaged}");
    assert!(
        uris.iter()
            .all(|u| u.starts_with(&format!("s3://{bucket}/"))),
        "{uris:?}"
    );
    uris.sort_unstable();
    uris.dedup();
    assert_eq!(
        uris.len(),
        functions.len(),
        "two functions share one upload: {uris:?}"
    );
}

/// `backtrack … | head`: the reader leaves after what it wanted, and the command ends
/// quietly (exit 0, no panic), as Unix tools do — it used to panic in `println!` on the
/// closed pipe (exit 101).
#[test]
fn a_closed_pipe_ends_output_quietly() {
    use std::io::{BufRead, BufReader};
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin())
        .arg("demo")
        .env("HOME", home.path())
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_API_URL")
        .env_remove("BACKTRACK_STORE")
        .env_remove("BACKTRACK_CATALOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("backtrack demo"), "{first}");
    // The pipe is closed here: the rest of the tour writes into nothing.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
