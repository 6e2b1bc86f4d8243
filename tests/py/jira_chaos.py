#!/usr/bin/env python3
"""Chaos made by a Jira client we did not write (PyPI `jira`, pycontribs), and the state
read back through it, for the rollback acceptance test (tests/e2e/jira_rollback.rs).

Usage: jira_chaos.py chaos|dump BASE_URL cloud|datacenter TOKEN PROJECT

`chaos` rewrites summaries and descriptions (on Cloud an ADF document with a list, a code
block, a mention and an emoji, written through the client's own session to REST v3),
walks statuses several hops (into Done with a resolution, and out of it), changes
assignees, priorities, labels, components, due dates and story points, moves an issue to
another epic, edits and deletes comments (one restricted to a role), adds a subtask,
deletes a subtask and deletes a component that issues use. Its last line is a JSON object
naming what it touched.

`dump` prints every issue of the project, field by field, as the client reads it, with its
comments (body, visibility, and the `backtrack.restored` property when set).
"""

import json
import sys


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def connect(url, flavor, token):
    from jira import JIRA

    if flavor == "cloud":
        return JIRA(server=url, basic_auth=("tester@example.com", token), max_retries=3)
    return JIRA(server=url, token_auth=token, max_retries=3)


def searcher(j, cloud):
    def search(jql, n=100, fields=None):
        if cloud:
            return list(j.enhanced_search_issues(jql, maxResults=n, fields=fields))
        return list(j.search_issues(jql, maxResults=n, fields=fields))

    return search


def walk_to(j, issue, status, fields=None):
    """Walks `issue` to `status` by the transitions the client offers, breadth first."""
    hops = []
    for _ in range(6):
        now = j.issue(issue.key, fields="status").fields.status.name
        if now == status:
            return hops
        ts = j.transitions(issue.key)
        direct = [t for t in ts if t["to"]["name"] == status]
        order = {"To Do": 0, "Reopened": 1, "In Progress": 2, "In Review": 3, "Done": 4}
        if direct:
            t = direct[0]
        else:
            # Towards the target along the usual flow.
            want = order[status]
            t = min(ts, key=lambda t: abs(order.get(t["to"]["name"], 9) - want))
        if t["to"]["name"] == "Done":
            j.transition_issue(issue.key, t["id"], fields={"resolution": {"name": "Won't Do"}})
        else:
            j.transition_issue(issue.key, t["id"])
        hops.append(t["to"]["name"])
    raise SystemExit(f"{issue.key} did not reach {status}")


def chaos(j, url, flavor, project):
    cloud = flavor == "cloud"
    search = searcher(j, cloud)
    fields = {f["name"]: f["id"] for f in j.fields()}
    points = fields.get("Story Points") or fields["Story point estimate"]
    epic_link = None if cloud else fields["Epic Link"]

    def epic_of(issue):
        if cloud:
            parent = getattr(issue.fields, "parent", None)
            return parent.key if parent is not None else None
        return getattr(issue.fields, epic_link, None)

    did = {}
    todo = [i for i in search(f'project = {project} AND issuetype in (Story, Task) AND status = "To Do" ORDER BY key ASC')
            if epic_of(i) is not None]
    done = search(f'project = {project} AND issuetype in (Story, Task, Bug) AND status = Done ORDER BY key ASC')
    a, c = todo[0], todo[1]
    b = done[0]
    did["edited"] = a.key
    did["reopened"] = b.key

    # A: every field at once, then four hops into Done with a resolution.
    components = sorted(x.name for x in j.project_components(project))
    have = sorted(x.name for x in a.fields.components)
    extra = next(n for n in components if n not in have)
    users = ["alice", "bob", "carol"]
    assignee = next(u for u in users if (a.fields.assignee is None or u not in (a.fields.assignee.displayName or "").lower()))
    a.update(fields={
        "summary": "Checkout: retry failed payments (synced)",
        "labels": ["synced-from-markdown"],
        "components": [{"name": n} for n in have + [extra]],
        points: 13,
        "priority": {"name": "Highest"},
        "duedate": "2031-01-02",
    })
    j.assign_issue(a.key, assignee)
    if cloud:
        adf = {"type": "doc", "version": 1, "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Acceptance"}]},
            {"type": "bulletList", "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "retries up to three times"}]}]},
                {"type": "listItem", "content": [{"type": "paragraph", "content": [
                    {"type": "text", "text": "ping "},
                    {"type": "mention", "attrs": {"id": j.myself()["accountId"], "text": "@me"}},
                    {"type": "text", "text": " "},
                    {"type": "emoji", "attrs": {"shortName": ":rocket:", "text": "🚀"}},
                ]}]},
            ]},
            {"type": "codeBlock", "attrs": {"language": "rust"}, "content": [{"type": "text", "text": "fn retry() -> u8 { 3 }"}]},
        ]}
        r = j._session.put(f"{url}/rest/api/3/issue/{a.key}", data=json.dumps({"fields": {"description": adf}}))
        assert r.status_code == 204, r.text
    else:
        a.update(fields={"description": "h2. Acceptance\n* retries up to three times\n* ping [~alice] (/)\n{code:rust}\nfn retry() -> u8 { 3 }\n{code}"})
    did["a_hops"] = walk_to(j, a, "In Review") + walk_to(j, a, "Done")

    # B: out of Done, two hops, and a new summary.
    did["b_hops"] = walk_to(j, b, "In Progress")
    b.update(fields={"summary": "Reopened by the sync"})

    # C: moved to another epic, and its priority and labels changed.
    epics = [e.key for e in search(f"project = {project} AND issuetype = Epic ORDER BY key ASC")]
    old_epic = epic_of(c)
    new_epic = next(e for e in epics if e != old_epic)
    if cloud:
        c.update(fields={"parent": {"key": new_epic}, "labels": ["moved"]})
    else:
        c.update(fields={epic_link: new_epic, "labels": ["moved"]})
    did["moved"] = c.key

    # Comments: one edited, two deleted (one restricted to a role when there is one).
    commented = [i for i in search(f"project = {project} ORDER BY key ASC", 100, fields="comment")
                 if i.fields.comment.total >= 2]
    first = j.comments(commented[0].key)
    first[0].update(body="Edited by the sync script")
    did["comment_edited"] = first[0].id
    deleted = []
    restricted = None
    for i in commented[1:]:
        for m in j.comments(i.key):
            if getattr(m, "visibility", None) is not None and restricted is None:
                restricted = m
    victims = [restricted] if restricted is not None else []
    victims.append(j.comments(commented[-1].key)[-1])
    for m in victims:
        deleted.append(m.id)
        m.delete()
    did["comments_deleted"] = deleted

    # Subtasks: one added under A, one deleted.
    subtask_type = next(t for t in j.issue_types() if t.subtask)
    new = j.create_issue(fields={
        "project": {"key": project},
        "issuetype": {"id": subtask_type.id},
        "parent": {"key": a.key},
        "summary": "Write the retry tests",
    })
    did["subtask_added"] = new.key
    gone = next(i for i in search(f"project = {project} AND issuetype in subTaskIssueTypes() ORDER BY key DESC", 5)
                if i.key != new.key)
    gone.delete()
    did["subtask_deleted"] = gone.key

    # A component that issues use, deleted.
    used = {}
    for i in search(f"project = {project} ORDER BY key ASC", 100, fields="components"):
        for x in i.fields.components:
            used[x.name] = used.get(x.name, 0) + 1
    victim = next(x for x in j.project_components(project) if used.get(x.name) and x.name != extra)
    did["component_deleted"] = victim.name
    victim.delete()
    return did


def dump(j, flavor, project):
    cloud = flavor == "cloud"
    search = searcher(j, cloud)
    fields = {f["name"]: f["id"] for f in j.fields()}
    points = fields.get("Story Points") or fields["Story point estimate"]
    epic_link = None if cloud else fields["Epic Link"]
    out = {}
    for i in search(f"project = {project} ORDER BY key ASC", 1000, fields="*all"):
        f = i.fields
        person = lambda u: None if u is None else (getattr(u, "accountId", None) or getattr(u, "name", None))
        comments = []
        for m in j.comments(i.key):
            vis = getattr(m, "visibility", None)
            props = j._get_json(f"comment/{m.id}/properties")
            restored = None
            if any(p["key"] == "backtrack.restored" for p in props.get("keys", [])):
                restored = j._get_json(f"comment/{m.id}/properties/backtrack.restored")["value"]["original"]
            comments.append({
                "id": m.id,
                "body": m.body,
                "visibility": None if vis is None else [vis.type, vis.value],
                "restored": restored,
            })
        parent = getattr(f, "parent", None)
        out[i.key] = {
            "summary": f.summary,
            "description": f.description,
            "status": f.status.name,
            "resolution": None if f.resolution is None else f.resolution.name,
            "assignee": person(f.assignee),
            "priority": None if f.priority is None else f.priority.name,
            "labels": sorted(f.labels),
            "components": sorted(x.name for x in f.components),
            "fix_versions": sorted(x.name for x in f.fixVersions),
            "duedate": f.duedate,
            "story_points": getattr(f, points, None),
            "parent": None if parent is None else parent.key,
            "epic_link": None if cloud else getattr(f, epic_link, None),
            "comments": comments,
        }
    return out


def main():
    mode, url, flavor, token, project = sys.argv[1:6]
    j = connect(url, flavor, token)
    if mode == "chaos":
        print(json.dumps(chaos(j, url, flavor, project)))
    elif mode == "dump":
        print(json.dumps(dump(j, flavor, project)))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
