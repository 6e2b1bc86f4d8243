#!/usr/bin/env python3
"""A day of changes made by a Jira client we did not write (PyPI `jira`, pycontribs),
for the diff acceptance test (tests/e2e/jira.rs).

Usage: jira_changes.py BASE_URL cloud|datacenter TOKEN PROJECT

Through the client's own calls, on issues it picks: edits one issue's summary,
description, labels, components and story points (the field found by name), moves it
through the workflow and reassigns it, adds a subtask under it, deletes a comment on
another issue, and moves a third issue to another epic (Cloud: `parent`; Data Center: the
Epic Link field). The last line printed is a JSON object saying what was changed, with the
values before and after as the client read them, for the test to find in the diff.
"""

import json
import sys


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def main():
    url, flavor, token, project = sys.argv[1:5]
    cloud = flavor == "cloud"
    from jira import JIRA

    if cloud:
        j = JIRA(server=url, basic_auth=("tester@example.com", token), max_retries=3)
    else:
        j = JIRA(server=url, token_auth=token, max_retries=3)

    def search(jql, n=100):
        if cloud:
            return list(j.enhanced_search_issues(jql, maxResults=n))
        return list(j.search_issues(jql, maxResults=n))

    fields = {f["name"]: f["id"] for f in j.fields()}
    points = fields.get("Story Points") or fields["Story point estimate"]
    epic_link = None if cloud else fields["Epic Link"]

    def epic_of(issue):
        if cloud:
            parent = getattr(issue.fields, "parent", None)
            return parent.key if parent is not None else None
        return getattr(issue.fields, epic_link, None)

    def display(user):
        return user.displayName if user is not None else None

    # The edited issue: a story in To Do, in an epic, not a subtask.
    edited = next(
        i for i in search(f'project = {project} AND issuetype = Story AND status = "To Do" ORDER BY key ASC')
        if epic_of(i) is not None
    )
    key = edited.key
    before = {
        "summary": edited.fields.summary,
        "status": edited.fields.status.name,
        "assignee": display(edited.fields.assignee),
        "labels": sorted(edited.fields.labels),
        "components": sorted(c.name for c in edited.fields.components),
        "story_points": getattr(edited.fields, points, None),
    }
    log("editing", key, before)

    all_components = sorted(c.name for c in j.project_components(project))
    new_component = next(c for c in all_components if c not in before["components"])
    labels = [l for l in before["labels"] if l != (before["labels"] or [None])[0]] + ["synced-from-markdown"]
    edited.update(fields={
        "summary": "Checkout: retry failed payments (synced)",
        "description": "h2. Acceptance\n* retries up to three times\n* shows a receipt",
        "labels": labels,
        "components": [{"name": c} for c in before["components"] + [new_component]],
        points: 8,
    })
    start = next(t for t in j.transitions(edited) if t["to"]["name"] == "In Progress")
    j.transition_issue(edited, start["id"])
    # The client resolves the login to the account (Cloud) or user (Data Center).
    j.assign_issue(edited, "bob" if before["assignee"] == "Alice Martin" else "alice")

    subtask_type = next(t for t in j.issue_types() if t.subtask)
    subtask = j.create_issue(fields={
        "project": {"key": project},
        "issuetype": {"id": subtask_type.id},
        "parent": {"key": key},
        "summary": "Write the retry tests",
    })
    log("created subtask", subtask.key)

    # A comment deleted on another issue.
    commented = next(
        i for i in search(f"project = {project} AND issuetype = Task ORDER BY key ASC", 50)
        if i.key != key and j.comments(i.key)
    )
    victim = j.comments(commented.key)[0]
    victim.delete()
    log("deleted comment", victim.id, "on", commented.key)

    # An issue moved to another epic.
    epics = [e.key for e in search(f"project = {project} AND issuetype = Epic ORDER BY key ASC")]
    moved = next(
        i for i in search(f"project = {project} AND issuetype in (Story, Task) ORDER BY key DESC")
        if i.key not in (key, commented.key) and epic_of(i) is not None
    )
    old_epic = epic_of(moved)
    new_epic = next(e for e in epics if e != old_epic)
    if cloud:
        moved.update(fields={"parent": {"key": new_epic}})
    else:
        moved.update(fields={epic_link: new_epic})
    log("moved", moved.key, old_epic, "->", new_epic)

    after = j.issue(key)
    print(json.dumps({
        "edited": key,
        "summary": [before["summary"], after.fields.summary],
        "status": [before["status"], after.fields.status.name],
        "assignee": [before["assignee"], display(after.fields.assignee)],
        "labels_added": sorted(set(after.fields.labels) - set(before["labels"])),
        "labels_removed": sorted(set(before["labels"]) - set(after.fields.labels)),
        "components_added": [new_component],
        "story_points": [before["story_points"], getattr(after.fields, points, None)],
        "subtask": subtask.key,
        "comment_deleted": {"issue": commented.key, "id": victim.id},
        "moved": {"issue": moved.key, "field": "parent" if cloud else "epic_link",
                  "from": old_epic, "to": new_epic},
    }))


if __name__ == "__main__":
    main()
