#!/usr/bin/env python3
"""Replay real GitHub traffic, recorded by PyGithub's test suite, against the sandbox.

Usage: pygithub_replay.py REPLAY_DIR BASE_URL TOKEN

REPLAY_DIR is `tests/ReplayData` from PyGithub's sdist: each file is one test's exchanges
with github.com (method, path, body, status, response), and `Class.setUp.txt` holds the
exchanges of that class's set-up. Every test that touches a repository's issues, comments,
labels, milestones, issue types, sub-issues, dependencies, events or reactions is replayed
(its set-up first), each against a freshly reset sandbox, and each exchange's status is
compared with the one GitHub answered.

The recorded repositories' identifiers are mapped onto the sandbox's: the repository itself,
issue numbers (to sandbox issues of the same kind and state), issue ids, comment, milestone,
event and reaction ids, and logins (to people who can be assigned). What the recording shows
existed before the test (labels it reads, an issue's labels and state as first seen, a
parent's sub-issues, an issue's blockers, a reaction it deletes) is set up in the sandbox
first; those set-up requests are not compared. Objects the test creates are mapped from the
sandbox's answers.

Exits non-zero if any status differs from GitHub's or any issue route GitHub served answers
404. The last stdout line is a JSON summary.
"""

import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

# Paths replayed: a repository's issues (and everything under them), labels and milestones,
# its issue types, and an organisation's issue types.
AREA = re.compile(r"^/(repos/[^/]+/[^/]+/(issues|labels|milestones|issue-types)(/|\?|$)"
                  r"|orgs/[^/]+/issue-types)")
# Recordings that are not GitHub's answers: PyGithub doctored this one to test a client
# corner (a list answering 204), and GraphQL tests interleave requests the sandbox does
# not serve.
EXCLUDED = {
    "PaginatedList.testNoFirstPage": "doctored recording: a list that answers 204",
}
EXCLUDED_PREFIXES = ("GraphQl.",)

OWNER, REPO = "acme", "widgets"


def exchanges(path):
    """The exchanges of one replay file: 10 lines each, then a blank line."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out, i = [], 0
    while i + 10 <= len(lines):
        if lines[i] == "":
            i += 1
            continue
        _proto, method, _host, _port, url, headers, body, status, _rh, rbody = lines[i:i + 10]
        out.append({"method": method, "url": url, "headers": headers,
                    "body": None if body == "None" else body,
                    "status": int(status), "rbody": rbody})
        i += 11
    return out


def template(path):
    """A route template for reporting: numbers and names replaced."""
    p = path.split("?")[0]
    p = re.sub(r"^/repos/[^/]+/[^/]+", "/repos/{owner}/{repo}", p)
    p = re.sub(r"^/orgs/[^/]+", "/orgs/{org}", p)
    p = re.sub(r"/issues/comments/\d+", "/issues/comments/{comment_id}", p)
    p = re.sub(r"/issues/events/\d+", "/issues/events/{event_id}", p)
    p = re.sub(r"/issues/\d+", "/issues/{issue_number}", p)
    p = re.sub(r"/milestones/\d+", "/milestones/{milestone_number}", p)
    p = re.sub(r"/reactions/\d+", "/reactions/{reaction_id}", p)
    p = re.sub(r"/blocked_by/\d+", "/blocked_by/{issue_id}", p)
    p = re.sub(r"/labels/[^/]+$", "/labels/{name}", p)
    return p


def parse_json(text):
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return None


def walk(v):
    """Every JSON object inside `v`."""
    if isinstance(v, dict):
        yield v
        for x in v.values():
            yield from walk(x)
    elif isinstance(v, list):
        for x in v:
            yield from walk(x)


class Sandbox:
    def __init__(self, base, token):
        self.base = base.rstrip("/")
        self.token = token
        self.etags = {}

    def call(self, method, path, body=None, headers=None):
        data = None if body is None else body.encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"token {self.token}")
        req.add_header("Accept", "application/vnd.github+json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, raw, etag = r.status, r.read(), r.headers.get("ETag")
        except urllib.error.HTTPError as e:
            status, raw, etag = e.code, e.read(), e.headers.get("ETag")
        if etag and method == "GET":
            self.etags[path] = etag
        return status, parse_json(raw.decode() or "null")

    def get_all(self, path):
        out, page = [], 1
        while True:
            sep = "&" if "?" in path else "?"
            status, items = self.call("GET", f"{path}{sep}per_page=100&page={page}")
            if status != 200 or not items:
                return out
            out.extend(items)
            if len(items) < 100:
                return out
            page += 1


class World:
    """The mapping of one recorded test's identifiers onto a freshly reset sandbox."""

    def __init__(self, sb, recorded):
        self.sb = sb
        self.recorded = recorded
        repo = f"/repos/{OWNER}/{REPO}"
        self.pool = sb.get_all(f"{repo}/issues?state=all&direction=asc")
        self.comments_pool = sb.get_all(f"{repo}/issues/comments")
        self.milestones_pool = [m["number"] for m in sb.get_all(f"{repo}/milestones?state=all")]
        self.events_pool = [e["id"] for e in sb.get_all(f"{repo}/issues/events")]
        people = []
        for i in self.pool:
            for a in i.get("assignees") or []:
                if a["login"] not in people:
                    people.append(a["login"])
        self.people = people
        self.issues = {}       # (repo, number) -> sandbox issue (its JSON)
        self.issue_ids = {}    # recorded issue id -> (repo, number)
        self.comments = {}     # recorded comment id -> sandbox comment id
        self.milestones = {}   # (repo, number) -> sandbox number
        self.events = {}       # recorded event id -> sandbox event id
        self.reactions = {}    # recorded reaction id -> sandbox reaction id
        self.logins = {}       # recorded login (lower) -> sandbox login
        self.learn_recorded()

    # ----- what the recording says about its own world -----

    def learn_recorded(self):
        """Issue ids and kinds, from every issue object in every recorded answer."""
        self.kind = {}  # (repo, number) -> (is_pr, open)
        for e in self.recorded:
            for o in walk(parse_json(e["rbody"])):
                url = o.get("url") if isinstance(o.get("url"), str) else ""
                m = re.search(r"/repos/([^/]+/[^/]+)/issues/(\d+)$", url)
                if not m or "number" not in o:
                    continue
                key = (m.group(1).lower(), int(m.group(2)))
                if "id" in o:
                    self.issue_ids.setdefault(o["id"], key)
                self.kind.setdefault(key, ("pull_request" in o, o.get("state") != "closed"))

    # ----- mapping -----

    def issue(self, repo, number):
        key = (repo.lower(), number)
        if key not in self.issues:
            is_pr, is_open = self.kind.get(key, (False, True))
            taken = {i["number"] for i in self.issues.values()}
            candidates = [i for i in self.pool if i["number"] not in taken and not i["locked"]
                          and ("pull_request" in i) == is_pr]
            same_state = [i for i in candidates if (i["state"] == "open") == is_open]
            pick = (same_state or candidates)[0]
            self.issues[key] = pick
        return self.issues[key]

    def issue_id(self, recorded_id):
        key = self.issue_ids.get(recorded_id)
        if key is None:
            # An id the recording never showed as an issue: any fresh issue stands for it.
            key = ("?", recorded_id)
            self.kind.setdefault(key, (False, True))
        return self.issue(*key)["id"]

    def comment(self, recorded_id, number=None):
        if recorded_id not in self.comments:
            taken = set(self.comments.values())
            free = [c for c in self.comments_pool if c["id"] not in taken]
            on_issue = [c for c in free if number is not None
                        and c["issue_url"].endswith(f"/issues/{number}")]
            # No comment left to stand for it: an id that does not exist, so the replay
            # reports the difference instead of stopping.
            self.comments[recorded_id] = (on_issue or free or [{"id": 0}])[0]["id"]
        return self.comments[recorded_id]

    def milestone(self, repo, number):
        key = (repo.lower(), number)
        if key not in self.milestones:
            taken = set(self.milestones.values())
            free = [m for m in self.milestones_pool if m not in taken]
            self.milestones[key] = (free or [0])[0]
        return self.milestones[key]

    def event(self, recorded_id):
        if recorded_id not in self.events:
            taken = set(self.events.values())
            self.events[recorded_id] = ([e for e in self.events_pool if e not in taken] or [0])[0]
        return self.events[recorded_id]

    def login(self, login):
        if login in ("*", "none"):
            return login
        key = login.lower()
        if key not in self.logins:
            taken = set(self.logins.values())
            free = [p for p in self.people if p not in taken] or self.people or [login]
            self.logins[key] = free[0]
        return self.logins[key]

    def path(self, url):
        """The sandbox path (and query) for a recorded one."""
        path, _, query = url.partition("?")
        m = re.match(r"^/repos/([^/]+/[^/]+)(/.*)?$", path)
        if m:
            repo, rest = m.group(1), m.group(2) or ""
            rest = re.sub(r"^/issues/comments/(\d+)",
                          lambda x: f"/issues/comments/{self.comment(int(x.group(1)))}", rest)
            rest = re.sub(r"^/issues/events/(\d+)",
                          lambda x: f"/issues/events/{self.event(int(x.group(1)))}", rest)
            rest = re.sub(r"^/issues/(\d+)",
                          lambda x: f"/issues/{self.issue(repo, int(x.group(1)))['number']}", rest)
            rest = re.sub(r"^/milestones/(\d+)",
                          lambda x: f"/milestones/{self.milestone(repo, int(x.group(1)))}", rest)
            rest = re.sub(r"/blocked_by/(\d+)$",
                          lambda x: f"/blocked_by/{self.issue_id(int(x.group(1)))}", rest)
            mr = re.search(r"/reactions/(\d+)$", rest)
            if mr:
                subject = f"/repos/{OWNER}/{REPO}{rest[:mr.start()]}/reactions"
                rest = f"{rest[:mr.start()]}/reactions/{self.reaction(int(mr.group(1)), subject)}"
            path = f"/repos/{OWNER}/{REPO}{rest}"
            if query:
                pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
                mapped = []
                for k, v in pairs:
                    if k == "milestone" and v.isdigit():
                        v = str(self.milestone(repo, int(v)))
                    elif k in ("assignee", "creator", "mentioned"):
                        v = self.login(v)
                    mapped.append((k, v))
                path += "?" + urllib.parse.urlencode(mapped)
            return path
        path = re.sub(r"^/orgs/[^/]+", f"/orgs/{OWNER}", path)
        return path + (f"?{query}" if query else "")

    def reaction(self, recorded_id, subject):
        """A reaction the test deletes without having created it: make one to delete."""
        if recorded_id not in self.reactions:
            _, r = self.sb.call("POST", subject, json.dumps({"content": "heart"}))
            self.reactions[recorded_id] = r.get("id", 0) if isinstance(r, dict) else 0
        return self.reactions[recorded_id]

    def body(self, raw, repo):
        if raw is None:
            return None
        v = parse_json(raw)
        if not isinstance(v, dict):
            return raw
        for k in ("sub_issue_id", "issue_id", "after_id", "before_id"):
            if isinstance(v.get(k), int):
                v[k] = self.issue_id(v[k])
        if isinstance(v.get("milestone"), int):
            v["milestone"] = self.milestone(repo, v["milestone"])
        if isinstance(v.get("assignee"), str):
            v["assignee"] = self.login(v["assignee"])
        if isinstance(v.get("assignees"), list):
            v["assignees"] = [self.login(a) if isinstance(a, str) else a for a in v["assignees"]]
        return json.dumps(v)

    # ----- what existed before the test -----

    def prime(self):
        """Sets up what the recording shows existed before each object's first write."""
        repo_api = f"/repos/{OWNER}/{REPO}"
        written = set()
        label_names = set()
        # Labels the test creates did not exist before it (a class's set-up may have been
        # recorded at another time, when they did).
        self.created_labels = {
            (parse_json(e["body"]) or {}).get("name", "").lower()
            for e in self.recorded
            if e["method"] == "POST" and re.match(r"^/repos/[^/]+/[^/]+/labels$", e["url"])
            and e["status"] == 201
        }
        for e in self.recorded:
            path, _, query = e["url"].partition("?")
            m = re.match(r"^/repos/([^/]+/[^/]+)(/.*)?$", path)
            if not m or not AREA.match(e["url"]):
                continue
            repo, rest = m.group(1), m.group(2) or ""
            for name in self.labels_named(rest, query, e):
                if name.lower() not in self.created_labels:
                    label_names.add(name)
            resp = parse_json(e["rbody"])
            mi = re.match(r"^/issues/(\d+)(/.*)?$", rest)
            if not mi:
                continue
            number, tail = int(mi.group(1)), mi.group(2) or ""
            key = (repo.lower(), number)
            if e["method"] != "GET":
                written.add((key, tail.split("/")[1] if tail else ""))
                continue
            if e["status"] != 200:
                continue
            if tail == "" and (key, "issue") not in written:
                written.add((key, "issue"))
                self.prime_issue(repo, number, resp)
            elif tail == "/labels" and (key, "labels") not in written:
                written.add((key, "labels"))
                self.prime_labels(repo, number, resp)
            elif tail == "/sub_issues" and (key, "sub_issues") not in written \
                    and (key, "sub_issue") not in written:
                written.add((key, "sub_issues"))
                parent = self.issue(repo, number)["number"]
                for child in resp or []:
                    self.sb.call("POST", f"{repo_api}/issues/{parent}/sub_issues",
                                 json.dumps({"sub_issue_id": self.issue_id(child["id"]),
                                             "replace_parent": True}))
            elif tail == "/dependencies/blocked_by" and (key, "dependencies") not in written:
                written.add((key, "dependencies"))
                me = self.issue(repo, number)["number"]
                for other in resp or []:
                    self.sb.call("POST", f"{repo_api}/issues/{me}/dependencies/blocked_by",
                                 json.dumps({"issue_id": self.issue_id(other["id"])}))
        for name in sorted(label_names):
            status, _ = self.sb.call("GET", f"{repo_api}/labels/{urllib.parse.quote(name, safe='')}")
            if status == 404:
                self.sb.call("POST", f"{repo_api}/labels", json.dumps({"name": name}))

    def labels_named(self, rest, query, e):
        names = []
        m = re.match(r"^(/issues/\d+)?/labels/([^/]+)$", rest)
        if m and not (e["method"] == "DELETE" and m.group(1) is None):
            names.append(urllib.parse.unquote(m.group(2)))
        for k, v in urllib.parse.parse_qsl(query):
            if k == "labels":
                names.extend(n.strip() for n in v.split(",") if n.strip())
        return names

    def prime_labels(self, repo, number, labels):
        """An issue's labels as the recording first lists them."""
        n = self.issue(repo, number)["number"]
        names = [lb["name"] for lb in labels or [] if isinstance(lb, dict)
                 and lb.get("name", "").lower() not in self.created_labels]
        self.sb.call("PUT", f"/repos/{OWNER}/{REPO}/issues/{n}/labels",
                     json.dumps({"labels": names}))

    def prime_issue(self, repo, number, resp):
        """An issue's labels, state and lock as the recording first shows them."""
        if not isinstance(resp, dict):
            return
        n = self.issue(repo, number)["number"]
        api = f"/repos/{OWNER}/{REPO}/issues/{n}"
        self.prime_labels(repo, number, resp.get("labels"))
        self.sb.call("PATCH", api, json.dumps({"state": resp.get("state", "open")}))
        if resp.get("locked"):
            self.sb.call("PUT", f"{api}/lock", "{}")

    # ----- after a replayed write -----

    def learn(self, e, answer, repo):
        """Maps what a recorded create made onto what the sandbox made."""
        rec = parse_json(e["rbody"])
        if not (isinstance(rec, dict) and isinstance(answer, dict)):
            return
        path = e["url"].split("?")[0]
        if e["method"] == "POST" and path.endswith("/comments") and "id" in rec:
            self.comments[rec["id"]] = answer.get("id")
        elif e["method"] == "POST" and re.search(r"/reactions$", path) and "id" in rec:
            self.reactions[rec["id"]] = answer.get("id")
        elif e["method"] == "POST" and path.endswith("/milestones") and "number" in rec:
            self.milestones[(repo.lower(), rec["number"])] = answer.get("number")
        elif e["method"] == "POST" and path.endswith("/issues") and "number" in rec:
            self.issues[(repo.lower(), rec["number"])] = answer
            self.issue_ids[rec["id"]] = (repo.lower(), rec["number"])


def tests(replay_dir):
    """`(name, [exchange…])` for every test that touches the replayed routes."""
    files = sorted(os.listdir(replay_dir))
    out = []
    for fn in files:
        if not fn.endswith(".txt") or ".setUp." in fn:
            continue
        name = fn[:-4]
        if name in EXCLUDED or name.startswith(EXCLUDED_PREFIXES):
            continue
        try:
            ex = exchanges(os.path.join(replay_dir, fn))
        except (ValueError, IndexError):
            continue  # binary downloads (release assets), not API exchanges
        if not any(AREA.match(e["url"]) for e in ex):
            continue
        cls = name.split(".")[0]
        setup = os.path.join(replay_dir, f"{cls}.setUp.txt")
        pre = exchanges(setup) if os.path.exists(setup) else []
        out.append((name, pre + ex))
    return out


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    replay_dir, base, token = sys.argv[1:]
    sb = Sandbox(base, token)
    replayed, agreed, mismatches, routes = 0, 0, [], {}
    selected = tests(replay_dir)
    for name, recorded in selected:
        sb.call("POST", "/_sandbox/reset")
        sb.etags.clear()
        world = World(sb, recorded)
        world.prime()
        for e in recorded:
            if not AREA.match(e["url"]):
                continue
            m = re.match(r"^/repos/([^/]+/[^/]+)", e["url"])
            repo = m.group(1) if m else ""
            path = world.path(e["url"])
            headers = {}
            if "If-None-Match" in e["headers"] or e["status"] == 304:
                if path not in sb.etags:
                    sb.call("GET", path)
                headers["If-None-Match"] = sb.etags.get(path, '"none"')
            status, answer = sb.call(e["method"], path, world.body(e["body"], repo), headers)
            replayed += 1
            route = f"{e['method']} {template(e['url'])}"
            routes.setdefault(route, [0, 0])
            routes[route][0] += 1
            if status == e["status"]:
                agreed += 1
                routes[route][1] += 1
                world.learn(e, answer, repo)
            else:
                detail = answer.get("message") if isinstance(answer, dict) else None
                mismatches.append({"test": name, "request": f"{e['method']} {e['url']}",
                                   "sandbox_path": path, "github": e["status"],
                                   "sandbox": status, "message": detail})
                print(f"MISMATCH {name}: {e['method']} {e['url']} -> GitHub {e['status']}, "
                      f"sandbox {status} ({detail})")
    served_404 = [m for m in mismatches if m["sandbox"] == 404]
    for route, (n, ok) in sorted(routes.items()):
        print(f"{ok:4}/{n:<4} {route}")
    print(json.dumps({"tests": len(selected), "exchanges": replayed, "agreed": agreed,
                      "mismatches": len(mismatches), "answered_404": len(served_404),
                      "routes": sorted(routes)}))
    return 0 if not mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
