//! What each write accepts and refuses, with GitHub's status and error body (the shapes
//! recorded from github.com that the module docs of `schema`, `pacific` and `state` cite).

use serde_json::{json, Value};

use super::{call, get, opts, send, start, AUTH, REPO};

const DOCS: &str = "https://docs.github.com/rest";

/// `{"message": "Validation Failed", "errors": [error], …}` for the operation at `page`.
fn failed(page: &str, error: Value) -> Value {
    json!({"message": "Validation Failed", "errors": [error],
           "documentation_url": format!("{DOCS}/{page}"), "status": "422"})
}

/// `{"message": "Invalid request.\n\n…", …}` for the operation at `page`.
fn invalid(page: &str, problems: &str) -> Value {
    json!({"message": format!("Invalid request.\n\n{problems}"),
           "documentation_url": format!("{DOCS}/{page}"), "status": "422"})
}

const CREATE_ISSUE: &str = "issues/issues#create-an-issue";
const UPDATE_ISSUE: &str = "issues/issues#update-an-issue";

#[tokio::test]
async fn sandbox_issue_writes_refuse_like_github() {
    let sb = start(opts()).await;
    let a = sb.local_addr();
    let issues = format!("{REPO}/issues");
    let cases: Vec<(&str, String, Value, u16, Value)> = vec![
        (
            "POST",
            issues.clone(),
            json!({"body": "no title"}),
            422,
            invalid(CREATE_ISSUE, "\"title\" wasn't supplied."),
        ),
        (
            "POST",
            issues.clone(),
            json!({"title": "x", "body": 42}),
            422,
            invalid(
                CREATE_ISSUE,
                "For 'properties/body', 42 is not a string or null.",
            ),
        ),
        (
            "POST",
            issues.clone(),
            json!({"title": "x", "labels": null}),
            422,
            invalid(
                CREATE_ISSUE,
                "For 'properties/labels', nil is not an array.",
            ),
        ),
        (
            "POST",
            issues.clone(),
            json!({"title": "x", "labels": "bug"}),
            422,
            invalid(
                CREATE_ISSUE,
                "For 'properties/labels', \"bug\" is not an array.",
            ),
        ),
        (
            "POST",
            issues.clone(),
            json!({"title": "", "body": "b"}),
            422,
            failed(
                CREATE_ISSUE,
                json!({"resource": "Issue", "code": "missing_field", "field": "title"}),
            ),
        ),
        (
            "POST",
            issues.clone(),
            json!({"title": "t".repeat(257)}),
            422,
            failed(
                CREATE_ISSUE,
                json!({"resource": "Issue", "code": "custom", "field": "title",
                       "message": "title is too long (maximum is 256 characters)"}),
            ),
        ),
        (
            "POST",
            issues.clone(),
            json!({"title": "x", "assignees": ["nobody-here"]}),
            422,
            failed(
                CREATE_ISSUE,
                json!({"value": "nobody-here", "resource": "Issue", "field": "assignees",
                       "code": "invalid"}),
            ),
        ),
        (
            "POST",
            issues.clone(),
            json!({"title": "x", "assignee": "nobody-here"}),
            422,
            failed(
                CREATE_ISSUE,
                json!({"value": "nobody-here", "resource": "Issue", "field": "assignee",
                       "code": "invalid"}),
            ),
        ),
        (
            "POST",
            issues.clone(),
            json!({"title": "x", "milestone": 99}),
            422,
            failed(
                CREATE_ISSUE,
                json!({"resource": "Issue", "field": "milestone", "code": "invalid"}),
            ),
        ),
        (
            "POST",
            issues.clone(),
            json!({"title": "x", "milestone": "v1.0"}),
            422,
            failed(
                CREATE_ISSUE,
                json!({"resource": "Issue", "field": "milestone", "code": "invalid"}),
            ),
        ),
        (
            "PATCH",
            format!("{issues}/5"),
            json!({"state": "shut"}),
            422,
            invalid(
                UPDATE_ISSUE,
                "For 'properties/state', \"shut\" is not a member of [\"open\", \"closed\"].",
            ),
        ),
        (
            "PATCH",
            format!("{issues}/5"),
            json!({"state": "closed", "state_reason": "wontfix"}),
            422,
            invalid(
                UPDATE_ISSUE,
                "For 'properties/state_reason', \"wontfix\" is not a member of \
                 [\"completed\", \"not_planned\", \"duplicate\", \"reopened\", nil].",
            ),
        ),
        (
            "PATCH",
            format!("{issues}/5"),
            json!({"milestone": {"title": "", "number": 0}}),
            422,
            invalid(
                UPDATE_ISSUE,
                "For 'properties/milestone', {\"number\" => 0, \"title\" => \"\"} is not an \
                 integer, string, or null.",
            ),
        ),
        (
            "PATCH",
            format!("{issues}/5"),
            json!({"title": null}),
            422,
            failed(
                UPDATE_ISSUE,
                json!({"resource": "Issue", "code": "missing_field", "field": "title"}),
            ),
        ),
        (
            "PATCH",
            format!("{issues}/5"),
            json!({"body": "b".repeat(262_145)}),
            422,
            failed(
                UPDATE_ISSUE,
                json!({"resource": "Issue", "code": "custom", "field": "body",
                       "message": "body is too long (maximum is 65536 characters)"}),
            ),
        ),
        (
            "PATCH",
            format!("{issues}/99999"),
            json!({"title": "x"}),
            404,
            json!({"message": "Not Found", "documentation_url": format!("{DOCS}/{UPDATE_ISSUE}"),
                   "status": "404"}),
        ),
    ];
    let before = sb.snapshot_counts();
    for (method, path, body, status, want) in cases {
        let r = send(a, method, &path, body.clone()).await;
        assert_eq!(r.status, status, "{method} {path} {body}: {:?}", r.json());
        assert_eq!(r.json(), want, "{method} {path} {body}");
    }
    assert_eq!(
        sb.snapshot_counts(),
        before,
        "a refused write changes nothing"
    );

    // Not JSON at all.
    let raw = call(
        a,
        "POST",
        &issues,
        &[AUTH, ("Content-Type", "application/json")],
        None,
    )
    .await;
    assert_eq!(
        raw.status, 422,
        "an empty body is an empty object: no title"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn sandbox_issue_writes_accept_what_github_accepts() {
    let sb = start(opts()).await;
    let a = sb.local_addr();
    let issues = format!("{REPO}/issues");

    // A number is a title; unknown labels are created (ededed, no description); a closed
    // milestone takes issues; 201 says where the new issue lives.
    let r = send(
        a,
        "POST",
        &issues,
        json!({"title": 59437, "labels": ["brand new", {"name": "bug"}], "milestone": "1",
               "assignee": "alice", "state": "closed"}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let made = r.json();
    assert_eq!(made["title"], "59437");
    assert_eq!(made["state"], "open", "a create ignores state");
    assert_eq!(made["body"], Value::Null);
    assert_eq!(made["milestone"]["number"], 1);
    assert_eq!(made["assignees"][0]["login"], "alice");
    assert_eq!(r.header("location"), made["url"].as_str());
    let new = get(a, &format!("{REPO}/labels/brand%20new")).await.json();
    assert_eq!(
        (new["color"].as_str(), new["description"].clone()),
        (Some("ededed"), Value::Null)
    );
    let n = made["number"].as_u64().unwrap_or(0);
    let path = format!("{issues}/{n}");

    // PyGithub clears a milestone with "".
    let r = send(a, "PATCH", &path, json!({"milestone": ""})).await;
    assert_eq!(
        (r.status, r.json()["milestone"].clone()),
        (200, Value::Null)
    );
    // state_reason counts only with a state.
    let r = send(a, "PATCH", &path, json!({"state_reason": "not_planned"})).await;
    assert_eq!(r.json()["state"], "open");
    let r = send(
        a,
        "PATCH",
        &path,
        json!({"state": "closed", "state_reason": "duplicate"}),
    )
    .await;
    assert_eq!(r.json()["state_reason"], "duplicate");
    // Closed again with another reason: the reason changes.
    let r = send(
        a,
        "PATCH",
        &path,
        json!({"state": "closed", "state_reason": "not_planned"}),
    )
    .await;
    assert_eq!(r.json()["state_reason"], "not_planned");
    let r = send(
        a,
        "PATCH",
        &path,
        json!({"state": "open", "state_reason": null}),
    )
    .await;
    assert_eq!(r.json()["state_reason"], "reopened");
    // Assignees as objects (the PATCH schema allows {"login"}), a body cleared with null.
    let r = send(
        a,
        "PATCH",
        &path,
        json!({"assignees": [{"login": "bob"}], "body": null, "title": 12}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["assignees"][0]["login"], "bob");
    assert_eq!(r.json()["title"], "12");
    // A name padded around an existing label's is refused, naming the label.
    let r = send(a, "PATCH", &path, json!({"labels": [" bug"]})).await;
    assert_eq!(
        r.json()["errors"][0],
        json!({"value": "bug", "resource": "Label", "field": "name", "code": "invalid"})
    );
    // The largest body GitHub keeps: 262,144 bytes.
    let r = send(a, "PATCH", &path, json!({"body": "é".repeat(131_072)})).await;
    assert_eq!(r.status, 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn sandbox_comment_writes_refuse_like_github() {
    let sb = start(opts()).await;
    let a = sb.local_addr();
    let create = "issues/comments#create-an-issue-comment";
    let comments = format!("{REPO}/issues/4/comments");
    for (body, want) in [
        (json!({}), invalid(create, "\"body\" wasn't supplied.")),
        (
            json!({"body": null}),
            invalid(create, "For 'properties/body', nil is not a string."),
        ),
        (
            json!({"body": ""}),
            failed(
                create,
                json!({"resource": "IssueComment", "code": "unprocessable", "field": "data",
                       "message": "Body cannot be blank"}),
            ),
        ),
        (
            json!({"body": "a".repeat(262_145)}),
            failed(
                create,
                json!({"resource": "IssueComment", "code": "unprocessable", "field": "data",
                       "message": "Body is too long (maximum is 65536 characters)"}),
            ),
        ),
    ] {
        let r = send(a, "POST", &comments, body.clone()).await;
        assert_eq!((r.status, r.json()), (422, want), "{body}");
    }
    let ok = send(a, "POST", &comments, json!({"body": "a".repeat(262_144)})).await;
    assert_eq!(ok.status, 201);
    assert_eq!(ok.header("location"), ok.json()["url"].as_str());
    let id = ok.json()["id"].as_u64().unwrap_or(0);
    let update = "issues/comments#update-an-issue-comment";
    let r = send(
        a,
        "PATCH",
        &format!("{REPO}/issues/comments/{id}"),
        json!({"body": " "}),
    )
    .await;
    assert_eq!(r.json()["errors"][0]["message"], "Body cannot be blank");
    assert_eq!(r.json()["documentation_url"], format!("{DOCS}/{update}"));
    let gone = call(
        a,
        "DELETE",
        &format!("{REPO}/issues/comments/{id}"),
        &[AUTH],
        None,
    )
    .await;
    assert_eq!(gone.status, 204);
    let again = send(
        a,
        "PATCH",
        &format!("{REPO}/issues/comments/{id}"),
        json!({"body": "x"}),
    )
    .await;
    assert_eq!(
        (again.status, again.json()),
        (
            404,
            json!({"message": "Not Found", "documentation_url": format!("{DOCS}/{update}"),
                   "status": "404"})
        )
    );
    let missing = send(
        a,
        "POST",
        &format!("{REPO}/issues/99999/comments"),
        json!({"body": "x"}),
    )
    .await;
    assert_eq!(missing.status, 404);
    sb.shutdown().await;
}

#[tokio::test]
async fn sandbox_label_and_milestone_writes_refuse_like_github() {
    let sb = start(opts()).await;
    let a = sb.local_addr();
    let create_label = "issues/labels#create-a-label";
    let labels = format!("{REPO}/labels");
    for (body, want) in [
        (
            json!({"color": "ffffff"}),
            invalid(create_label, "\"name\" wasn't supplied."),
        ),
        (
            json!({"name": "x", "color": "#5319e7"}),
            failed(
                create_label,
                json!({"resource": "Label", "code": "invalid", "field": "color"}),
            ),
        ),
        (
            json!({"name": "x", "color": "FB8500  "}),
            failed(
                create_label,
                json!({"resource": "Label", "code": "invalid", "field": "color"}),
            ),
        ),
        (
            json!({"name": "x", "color": "invalid"}),
            failed(
                create_label,
                json!({"resource": "Label", "code": "invalid", "field": "color"}),
            ),
        ),
        (
            json!({"name": "BUG"}),
            failed(
                create_label,
                json!({"resource": "Label", "code": "already_exists", "field": "name"}),
            ),
        ),
        (
            json!({"name": "x", "description": "d".repeat(101)}),
            failed(
                create_label,
                json!({"resource": "Label", "code": "custom", "field": "description",
                       "message": "description is too long (maximum is 100 characters)"}),
            ),
        ),
        (
            json!({"name": "n".repeat(51)}),
            failed(
                create_label,
                json!({"resource": "Label", "code": "custom", "field": "name",
                       "message": "name is too long (maximum is 50 characters)"}),
            ),
        ),
    ] {
        let r = send(a, "POST", &labels, body.clone()).await;
        assert_eq!((r.status, r.json()), (422, want), "{body}");
    }
    let made = send(
        a,
        "POST",
        &labels,
        json!({"name": "x", "color": "BADA55",
                                               "description": "d".repeat(100)}),
    )
    .await;
    assert_eq!(made.status, 201);
    assert_eq!(made.json()["color"], "BADA55");
    assert_eq!(made.header("location"), made.json()["url"].as_str());
    let r = send(
        a,
        "PATCH",
        &format!("{labels}/x"),
        json!({"new_name": "Bug"}),
    )
    .await;
    assert_eq!(r.json()["errors"][0]["code"], "already_exists");
    assert_eq!(
        r.json()["documentation_url"],
        format!("{DOCS}/issues/labels#update-a-label")
    );
    let r = send(
        a,
        "PATCH",
        &format!("{labels}/nope"),
        json!({"color": "000000"}),
    )
    .await;
    assert_eq!(r.status, 404);

    let create_ms = "issues/milestones#create-a-milestone";
    let milestones = format!("{REPO}/milestones");
    for (body, want) in [
        (
            json!({"state": "open"}),
            invalid(create_ms, "\"title\" wasn't supplied."),
        ),
        (
            json!({"title": "v1.0"}),
            failed(
                create_ms,
                json!({"resource": "Milestone", "code": "already_exists", "field": "title"}),
            ),
        ),
        (
            json!({"title": "x", "due_on": "soon"}),
            failed(
                create_ms,
                json!({"resource": "Milestone", "code": "invalid", "field": "due_on"}),
            ),
        ),
        (
            json!({"title": "x", "state": "done"}),
            invalid(
                create_ms,
                "For 'properties/state', \"done\" is not a member of [\"open\", \"closed\"].",
            ),
        ),
    ] {
        let r = send(a, "POST", &milestones, body.clone()).await;
        assert_eq!((r.status, r.json()), (422, want), "{body}");
    }
    // Titles are unique as written: another case is another milestone.
    let r = send(
        a,
        "POST",
        &milestones,
        json!({"title": "V1.0", "due_on": "2031-01-02"}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(r.json()["due_on"], "2031-01-02T08:00:00Z");
    assert_eq!(r.header("location"), r.json()["url"].as_str());
    let n = r.json()["number"].as_u64().unwrap_or(0);
    let r = send(
        a,
        "PATCH",
        &format!("{milestones}/{n}"),
        json!({"due_on": "2031-07-01T23:30:00-07:00"}),
    )
    .await;
    assert_eq!(r.json()["due_on"], "2031-07-01T07:00:00Z");
    let r = send(
        a,
        "PATCH",
        &format!("{milestones}/{n}"),
        json!({"due_on": null}),
    )
    .await;
    assert_eq!(r.json()["due_on"], Value::Null);
    let r = send(
        a,
        "PATCH",
        &format!("{milestones}/{n}"),
        json!({"title": "v1.1"}),
    )
    .await;
    assert_eq!(r.json()["errors"][0]["code"], "already_exists");
    assert_eq!(
        r.json()["documentation_url"],
        format!("{DOCS}/issues/milestones#update-a-milestone")
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn sandbox_issue_label_writes() {
    let sb = start(opts()).await;
    let a = sb.local_addr();
    let path = format!("{REPO}/issues/6/labels");
    // Every body form GitHub takes: a bare array, {"labels": [...]}, objects, a bare string.
    for body in [
        json!(["bug"]),
        json!({"labels": ["question"]}),
        json!({"labels": [{"name": "wontfix"}]}),
        json!("invalid"),
    ] {
        let r = send(a, "POST", &path, body.clone()).await;
        assert_eq!(r.status, 200, "{body}: {:?}", r.json());
    }
    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .map(|ls| {
                ls.iter()
                    .filter_map(|l| l["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let now = names(get(a, &path).await.json());
    for want in ["bug", "question", "wontfix", "invalid"] {
        assert!(now.iter().any(|n| n == want), "{now:?}");
    }
    let r = send(a, "PUT", &path, json!({"labels": ["Fresh one"]})).await;
    assert_eq!(names(r.json()), ["Fresh one"]);
    let r = send(a, "POST", &path, json!({"labels": 5})).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["message"],
        "Invalid request.\n\nFor 'properties/labels', 5 is not an array."
    );
    assert_eq!(
        r.json()["documentation_url"],
        format!("{DOCS}/issues/labels#add-labels-to-an-issue")
    );
    let r = call(a, "DELETE", &format!("{path}/bug"), &[AUTH], None).await;
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (404, "Label does not exist".into())
    );
    let r = call(a, "DELETE", &format!("{path}/fresh%20one"), &[AUTH], None).await;
    assert_eq!((r.status, r.json()), (200, json!([])));
    let r = send(a, "PUT", &path, json!([])).await;
    assert_eq!((r.status, r.json()), (200, json!([])));
    let r = call(a, "DELETE", &path, &[AUTH], None).await;
    assert_eq!(r.status, 204);
    sb.shutdown().await;
}
