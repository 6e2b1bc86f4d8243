#!/usr/bin/env python3
"""Two Jira clients we did not write, unmodified, against the Jira sandbox.

Usage: jira_clients_compat.py BASE_URL cloud|datacenter TOKEN PROJECT

- PyPI `jira` (pycontribs): connects (serverInfo, fields), reads the project, its components
  and versions, walks every issue with `enhanced_search_issues` (Cloud: `search/jql` and page
  tokens) or `search_issues` (Data Center: `search` with startAt/total), reads the comment
  pages of issues with more comments than their embedded page, then writes: creates a story
  and a subtask, edits summary, description, labels and story points, assigns, moves the
  story through the workflow (and sees Done refused without a resolution), comments (with
  visibility), edits and deletes a comment, links and unlinks two issues, creates and
  deletes a component and a version, and deletes what it made; checks 404 and JQL refusals.
- PyPI `atlassian-python-api`: the same reads through its own calls (`jql`/`enhanced_jql`,
  `get_project_components`…), and writes through `create_issue`, `update_issue_field`,
  `set_issue_status`, `issue_add_comment`, `issue_edit_comment`, `assign_issue`,
  `create_issue_link`/`remove_issue_link`, `delete_issue`.

Any failure raises. The last line printed is a JSON summary the Rust test compares with the
sandbox's own counts.
"""

import json
import sys

from importlib.metadata import version


def log(*a):
    print(*a, flush=True)


def expect_error(fn, status, contains=None):
    """Calls fn and requires a JIRAError / HTTPError with this status (and message part)."""
    try:
        fn()
    except Exception as e:  # both clients raise their own error types
        code = getattr(e, "status_code", None)
        if code is None and getattr(e, "response", None) is not None:
            code = e.response.status_code
        text = str(e)
        if getattr(e, "response", None) is not None:
            text += " " + (e.response.text or "")
        assert code == status, f"expected HTTP {status}, got {code}: {text[:300]}"
        if contains:
            assert contains in text, f"expected {contains!r} in {text[:300]}"
        return text
    raise AssertionError(f"expected HTTP {status}, the call succeeded")


def pycontribs(url, cloud, token, project):
    from jira import JIRA
    from jira.exceptions import JIRAError  # noqa: F401 (imported for clarity of failures)

    if cloud:
        j = JIRA(server=url, basic_auth=("tester@example.com", token), max_retries=0)
    else:
        j = JIRA(server=url, token_auth=token, max_retries=0)
    info = j.server_info()
    assert (info["deploymentType"] == "Cloud") == cloud, info
    assert j._is_cloud == cloud
    me = j.myself()
    assert me["displayName"] == "Sandbox Admin", me
    fields = {f["name"]: f["id"] for f in j.fields()}
    sp = fields["Story Points"]
    assert sp.startswith("customfield_"), fields
    assert "Sprint" in fields and "Rank" in fields
    assert ("Epic Link" in fields) == (not cloud), sorted(fields)

    proj = j.project(project)
    assert proj.key == project
    components = j.project_components(project)
    versions = j.project_versions(project)
    statuses = {s.name for s in j.statuses()}
    assert {"To Do", "In Progress", "In Review", "Done", "Reopened"} <= statuses, statuses

    wanted = ["summary", "status", "comment", "parent", "subtasks", "issuetype", sp]
    jql = f"project = {project} ORDER BY key ASC"
    if cloud:
        issues = j.enhanced_search_issues(jql, maxResults=0, fields=wanted)
        # search_issues delegates to the enhanced search on Cloud for the first page.
        first = j.search_issues(jql, maxResults=7, fields=["summary"])
        assert len(first) == 7, len(first)
        approx = j.approximate_issue_count(f"project = {project}")
        assert approx == len(issues), (approx, len(issues))
    else:
        issues = j.search_issues(jql, maxResults=False, fields=wanted)
        assert issues.total == len(issues), (issues.total, len(issues))
    keys = [i.key for i in issues]
    assert len(set(keys)) == len(keys), "a page repeated issues"
    nums = [int(k.split("-")[1]) for k in keys]
    assert nums == sorted(nums), "ORDER BY key ASC was not followed"
    comments = 0
    extra_pages = 0
    epics = sum(1 for i in issues if i.fields.issuetype.name == "Epic")
    subtasks = sum(1 for i in issues if i.fields.issuetype.subtask)
    for i in issues:
        page = i.fields.comment
        comments += page.total
        if page.total > len(page.comments):
            # The embedded page is capped: read the rest the way clients must.
            seen = list(page.comments)
            start = len(seen)
            while start < page.total:
                more = j.comments(i.key, start_at=start, max_results=100)
                assert more, f"{i.key}: empty comment page at {start}"
                seen.extend(more)
                start += len(more)
                extra_pages += 1
            assert len({c.id for c in seen}) == page.total, i.key
    log(f"pycontribs: {len(issues)} issues, {comments} comments, {extra_pages} extra comment pages")

    # --- writes ---
    subtask_type = "Subtask" if cloud else "Sub-task"
    story = j.create_issue(
        project=project,
        summary="Sync epics from Markdown",
        issuetype={"name": "Story"},
        description="h2. Context\nCreated by the *jira* client.",
        labels=["synced"],
        components=[{"name": components[0].name}],
        **{sp: 3},
    )
    assert story.key.startswith(project + "-")
    sub = j.create_issue(
        project=project,
        summary="Write the parser",
        issuetype={"name": subtask_type},
        parent={"key": story.key},
    )
    assert sub.fields.parent.key == story.key
    story.update(
        summary="Sync epics from Markdown (v2)",
        description="h2. Context\nEdited.",
        fields={sp: 8},
    )
    story.add_field_value("labels", "markdown")
    story = j.issue(story.key)
    assert story.fields.summary == "Sync epics from Markdown (v2)"
    assert sorted(story.fields.labels) == ["markdown", "synced"], story.fields.labels
    assert getattr(story.fields, sp) == 8
    assert [s.key for s in story.fields.subtasks] == [sub.key]
    assert "Edited." in story.fields.description
    j.assign_issue(story, "alice")
    assert j.issue(story.key).fields.assignee.displayName == "Alice Martin"

    names = {t["name"]: t["id"] for t in j.transitions(story)}
    assert set(names) == {"Start Progress"}, names
    j.transition_issue(story, "Start Progress")
    expect_error(lambda: j.transition_issue(story, "61"), 400, "is not valid for this issue")
    expect_error(lambda: j.transition_issue(story, "Done"), 400, "Resolution is required")
    j.transition_issue(story, "Done", fields={"resolution": {"name": "Done"}},
                       comment="Shipped.")
    story = j.issue(story.key)
    assert story.fields.status.name == "Done"
    assert story.fields.resolution.name == "Done"
    assert story.fields.resolutiondate

    c1 = j.add_comment(story, "Looks good.")
    c2 = j.add_comment(story, "Internal note", visibility={"type": "role", "value": "Developers"})
    c1.update(body="Looks good, merged.")
    assert j.comment(story.key, c1.id).body == "Looks good, merged."
    assert j.comment(story.key, c2.id).visibility.value == "Developers"
    c2.delete()
    bodies = [c.body for c in j.comments(story)]
    assert bodies == ["Shipped.", "Looks good, merged."], bodies

    other = keys[0]
    j.create_issue_link("Blocks", story.key, other)
    links = j.issue(story.key).fields.issuelinks
    assert len(links) == 1 and links[0].outwardIssue.key == other, links
    assert any(l.inwardIssue.key == story.key for l in j.issue(other).fields.issuelinks
               if hasattr(l, "inwardIssue"))
    j.delete_issue_link(links[0].id)
    assert j.issue(story.key).fields.issuelinks == []

    comp = j.create_component("Sync engine", project, description="Made by the jira client")
    assert comp.name == "Sync engine"
    comp.delete()
    ver = j.create_version("9.9.9", project, description="Made by the jira client")
    assert ver.name == "9.9.9"
    ver.delete()

    expect_error(lambda: j.issue(f"{project}-99999"), 404, "Issue does not exist")
    expect_error(lambda: j.search_issues(f"project = {project} AND status = Nope"), 400,
                 "does not exist for the field 'status'")
    expect_error(lambda: j.search_issues(f"project = {project} status = Done"), 400,
                 "Error in the JQL Query")

    sub.delete()
    story.delete()
    expect_error(lambda: j.issue(story.key), 404)
    return {
        "issues": len(issues),
        "comments": comments,
        "epics": epics,
        "subtasks": subtasks,
        "components": len(components),
        "versions": len(versions),
        "extra_comment_pages": extra_pages,
    }


def atlassian_api(url, cloud, token, project):
    from atlassian import Jira

    if cloud:
        j = Jira(url=url, username="tester@example.com", password=token, cloud=True)
    else:
        j = Jira(url=url, token=token)
    info = j.get_server_info()
    assert (info["deploymentType"] == "Cloud") == cloud, info
    assert j.myself()["displayName"] == "Sandbox Admin"
    fields = {f["name"]: f["id"] for f in j.get_all_fields()}
    sp = fields["Story Points"]
    assert j.get_project(project)["key"] == project
    components = j.get_project_components(project)
    versions = j.get_project_versions(project)

    jql = f"project = {project} ORDER BY key ASC"
    keys = []
    comments = 0
    if cloud:
        token_ = None
        while True:
            page = j.enhanced_jql(jql, fields="summary,comment", nextPageToken=token_, limit=100)
            assert "total" not in page, "Cloud's enhanced search has no total"
            keys += [i["key"] for i in page["issues"]]
            comments += sum(i["fields"]["comment"]["total"] for i in page["issues"])
            token_ = page.get("nextPageToken")
            if page.get("isLast", token_ is None):
                break
    else:
        start = 0
        while True:
            page = j.jql(jql, fields="summary,comment", start=start, limit=100)
            keys += [i["key"] for i in page["issues"]]
            comments += sum(i["fields"]["comment"]["total"] for i in page["issues"])
            start += len(page["issues"])
            if start >= page["total"] or not page["issues"]:
                break
    assert len(set(keys)) == len(keys)
    log(f"atlassian-python-api: {len(keys)} issues, {comments} comments")

    created = j.create_issue(fields={
        "project": {"key": project},
        "summary": "Created by atlassian-python-api",
        "issuetype": {"name": "Task"},
        "description": "Plain *wiki* text.",
        sp: 2,
    })
    key = created["key"]
    j.update_issue_field(key, {"summary": "Edited by atlassian-python-api", "labels": ["apy"]})
    issue = j.issue(key)
    assert issue["fields"]["summary"] == "Edited by atlassian-python-api"
    assert issue["fields"]["labels"] == ["apy"]
    j.assign_issue(key, issue["fields"]["reporter"]["accountId" if cloud else "name"])
    j.set_issue_status(key, "In Progress")
    j.set_issue_status(key, "Done", fields={"resolution": {"name": "Won't Do"}})
    assert j.get_issue_status(key) == "Done"
    c = j.issue_add_comment(key, "A comment")
    j.issue_edit_comment(key, c["id"], "An edited comment")
    got = j.issue_get_comments(key)
    assert [x["body"] for x in got["comments"]] == ["An edited comment"], got
    j.create_issue_link({
        "type": {"name": "Relates"},
        "inwardIssue": {"key": key},
        "outwardIssue": {"key": keys[0]},
    })
    link_id = j.issue(key)["fields"]["issuelinks"][0]["id"]
    assert j.get_issue_link(link_id)["type"]["name"] == "Relates"
    j.remove_issue_link(link_id)
    j.delete_issue(key)
    assert not j.issue_exists(key)
    return {
        "issues": len(keys),
        "comments": comments,
        "components": len(components),
        "versions": len(versions),
    }


def main():
    if len(sys.argv) != 5 or sys.argv[2] not in ("cloud", "datacenter"):
        print(__doc__)
        sys.exit(2)
    url, flavor, token, project = sys.argv[1:]
    cloud = flavor == "cloud"
    log(f"jira {version('jira')}, atlassian-python-api {version('atlassian-python-api')}, {flavor}")
    first = pycontribs(url, cloud, token, project)
    second = atlassian_api(url, cloud, token, project)
    print(json.dumps({"pycontribs": first, "atlassian": second}))


if __name__ == "__main__":
    main()
