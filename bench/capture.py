#!/usr/bin/env python3
"""The capture benchmark: backtrack against python-github-backup on one sandbox, one machine.

Run it through `bench/run` (which builds the release binary and the Python venv first):

    bench/run [--issues 10000] [--comments 50000] [--latency-ms 50] [--days 30] [--json]

What happens, in order (every figure is measured, every target computed from them):

1. `backtrack sandbox` starts with I issues, C comments and L ms of latency on every API
   request, behind `bench/tls_proxy.py` (TLS with a throwaway CA): both tools speak https to
   the same terminator, as they would to GitHub Enterprise (`https://HOST/api/v3`).
2. This script lists everything once itself (per_page=100) to learn the live counts, the
   request floor and the raw JSON size of a full listing.
3. backtrack: a full snapshot (`--full` when the CLI has it); then 1% of issues and 1% of
   comments change through the REST API, a few comments and one issue are deleted, and an
   incremental snapshot follows; `backtrack diff` between the two must list the deletions.
   Then D simulated days (the sandbox's clock moves a day each time) of 1% churn and one
   comment deletion, one snapshot each.
4. The sandbox is reset to the initial data and python-github-backup (unmodified) backs up
   issues, comments, labels and milestones through the same terminator.

Requests are deltas of the sandbox's own counters (`GET /_sandbox/stats`, read on the local
port, which is not counted). Peak RSS is the tool process's `ru_maxrss` from wait4, taken by
a few-MB wrapper process per run (see `WRAPPER`); backtrack's own report of its high-water
mark (`BACKTRACK_PEAK_RSS_FILE`) is kept beside it as a cross-check. Stored bytes are the apparent sizes of the files each tool wrote; for
backtrack the SQLite catalog is reported separately, and on-disk (block) sizes are given too.
"""

from __future__ import annotations  # `str | None` annotations on Python 3.9

import argparse
import datetime
import importlib.metadata
import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from tls_proxy import make_certificates

OWNER, NAME = "acme", "widgets"
SCOPE = f"github:{OWNER}/{NAME}"
REPO = f"/repos/{OWNER}/{NAME}"
# The sandbox's default token: a public test value, not a credential.
TOKEN = "sandbox-token"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DAY = 86_400
WRITERS = 8  # concurrent churn writes (the sandbox serialises them; latency overlaps)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- the sandbox


class Sandbox:
    """REST access to the sandbox on its local http port (for setup, churn and counters)."""

    def __init__(self, local_url: str):
        self.url = local_url.rstrip("/")

    def call(self, method: str, path: str, body=None) -> tuple[int, dict, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"token {TOKEN}")
        req.add_header("Accept", "application/vnd.github+json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def json(self, method: str, path: str, body=None, ok=(200, 201)):
        status, _, raw = self.call(method, path, body)
        if status not in ok:
            raise RuntimeError(f"{method} {path} answered {status}: {raw[:300]!r}")
        return json.loads(raw) if raw else None

    def stats(self) -> dict:
        return self.json("GET", "/_sandbox/stats")

    def reset(self) -> dict:
        return self.json("POST", "/_sandbox/reset")

    def advance_clock(self, secs: int) -> None:
        self.json("POST", "/_sandbox/clock", {"advance_secs": secs})

    def list_all(self, path: str, params: dict, pool: ThreadPoolExecutor) -> tuple[list, int, int]:
        """Every item of a listing at per_page=100, pages fetched concurrently.
        Returns (items, pages, body bytes)."""
        def page(n: int) -> tuple[list, int, dict]:
            q = urllib.parse.urlencode({**params, "per_page": 100, "page": n})
            status, headers, raw = self.call("GET", f"{path}?{q}")
            if status != 200:
                raise RuntimeError(f"GET {path} page {n} answered {status}")
            return json.loads(raw), len(raw), headers

        first, nbytes, headers = page(1)
        last = last_page(headers.get("Link") or headers.get("link") or "")
        items = list(first)
        for chunk, size, _ in pool.map(page, range(2, last + 1)):
            items.extend(chunk)
            nbytes += size
        return items, last, nbytes


def last_page(link: str) -> int:
    for part in link.split(","):
        if 'rel="last"' in part:
            url = part[part.find("<") + 1: part.find(">")]
            query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
            return int(query.get("page", ["1"])[0])
    return 1


def delta(before: dict, after: dict) -> dict:
    d = {k: after.get(k, 0) - before.get(k, 0)
         for k in ("total", "writes", "not_modified", "response_bytes")}
    routes = after.get("by_route", {})
    d["by_route"] = {r: n - before.get("by_route", {}).get(r, 0) for r, n in routes.items()
                     if n != before.get("by_route", {}).get(r, 0)}
    return d


# ---------------------------------------------------------------------------- processes


class Proc:
    """A tool run: wall time, peak RSS (ru_maxrss of that process), exit code, stdout."""

    def __init__(self, wall: float, rss_kb: int, code: int, stdout: str):
        self.wall, self.rss_kb, self.code, self.stdout = wall, rss_kb, code, stdout


# Runs one command and writes "wall_seconds max_rss_kb exit_code" to argv[1]. It exists
# because a child's ru_maxrss includes whatever its parent's memory was at fork/exec time
# (Linux records the old address space's high-water mark on exec): spawned straight from
# this script, whose model of the repository can hold 100 MB, a small tool would inherit
# this script's figure. From this few-MB wrapper, the floor is the wrapper's own size.
WRAPPER = """
import os, sys, time
t = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{time.monotonic() - t} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def run_measured(cmd: list[str], env: dict, log_path: str) -> Proc:
    out_path, figures = log_path + ".stdout", log_path + ".figures"
    with open(out_path, "wb") as out, open(log_path, "ab") as err:
        subprocess.run([sys.executable, "-I", "-S", "-c", WRAPPER, figures, *cmd], env=env,
                       stdout=out, stderr=err, stdin=subprocess.DEVNULL, check=False)
    with open(figures) as f:
        wall, rss_kb, code = f.read().split()
    with open(out_path, encoding="utf-8", errors="replace") as f:
        stdout = f.read()
    return Proc(float(wall), int(rss_kb), int(code), stdout)


def tree_bytes(path: str, skip_prefix: str | None = None) -> tuple[int, int, int]:
    """(apparent bytes, on-disk bytes, files) under `path`, leaving out files whose name
    starts with `skip_prefix`."""
    apparent = disk = files = 0
    for d, _, names in os.walk(path):
        for n in names:
            if skip_prefix and n.startswith(skip_prefix):
                continue
            st = os.lstat(os.path.join(d, n))
            apparent += st.st_size
            disk += st.st_blocks * 512
            files += 1
    return apparent, disk, files


def catalog_bytes(store: str) -> int:
    return sum(os.path.getsize(os.path.join(store, n)) for n in os.listdir(store)
               if n.startswith("catalog.sqlite"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_stack(args, work: str):
    """Starts the sandbox and the TLS terminator in front of it.
    Returns (processes, public https URL, local http URL, CA file)."""
    # The sandbox must know the terminator's URL before it starts (its Link headers and
    # *_url fields point there), so that one port is picked ahead; the sandbox's own port is
    # ephemeral and read back from its second stdout line.
    tls_port = free_port()
    public = f"https://127.0.0.1:{tls_port}"
    log(f"seeding the sandbox: {args.issues} issues, {args.comments} comments, "
        f"{args.latency_ms} ms latency")
    sandbox = subprocess.Popen(
        [args.backtrack, "sandbox", "--addr", "127.0.0.1:0", "--issues", str(args.issues),
         "--comments", str(args.comments), "--latency-ms", str(args.latency_ms),
         "--seed", str(args.seed), "--public-url", public + "/"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=open(os.path.join(work, "logs", "sandbox.log"), "wb"), text=True)
    procs = [sandbox]
    first, local = sandbox.stdout.readline().strip(), sandbox.stdout.readline().strip()
    if not local.startswith("http://"):
        stop(procs)
        raise RuntimeError(f"the sandbox printed {first!r}, {local!r}; see {work}/logs/sandbox.log")
    os.makedirs(os.path.join(work, "certs"), exist_ok=True)
    ca, cert, key = make_certificates(os.path.join(work, "certs"))
    proxy = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "tls_proxy.py"), "--cert", cert, "--key", key,
         "--listen", str(tls_port), "--target", local.removeprefix("http://")],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=open(os.path.join(work, "logs", "tls_proxy.log"), "wb"), text=True)
    procs.append(proxy)
    if not proxy.stdout.readline().strip().isdigit():
        stop(procs)
        raise RuntimeError(f"tls_proxy.py did not start; see {work}/logs/tls_proxy.log")
    return procs, public, local, ca


def stop(procs: list) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


# ---------------------------------------------------------------------------- the data model


class Model:
    """What this script knows of the repository, to pick what to change."""

    def __init__(self, issues: list, comments: list, labels: list):
        self.issues = {i["number"]: i["state"] for i in issues}
        self.prs = {i["number"] for i in issues if "pull_request" in i}
        self.comments = {c["id"]: int(c["issue_url"].rsplit("/", 1)[1]) for c in comments}
        self.labels = [label["name"] for label in labels]


def iso(ts: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))


def next_since(sb: Sandbox) -> str:
    """A `since` value one second after the newest issue or comment: the sandbox's clock moves
    at least one second per write, so exactly what changes from now on is at or after it."""
    newest = []
    for path in (f"{REPO}/issues?state=all", f"{REPO}/issues/comments?"):
        items = sb.json("GET", f"{path}&sort=updated&direction=desc&per_page=1")
        newest += [iso(i["updated_at"]) for i in items]
    t = max(newest) + datetime.timedelta(seconds=1)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def count_since(sb: Sandbox, since: str, pool) -> tuple[int, int]:
    issues, _, _ = sb.list_all(f"{REPO}/issues", {"state": "all", "since": since}, pool)
    comments, _, _ = sb.list_all(f"{REPO}/issues/comments", {"since": since}, pool)
    return len(issues), len(comments)


def churn_floor(changed_issues: int, changed_comments: int, plain_pages: int) -> int:
    """The fewest requests that capture a change: one `since` page per 100 changed issues and
    per 100 changed comments (at least one each, to learn that nothing changed), plus the
    label and milestone pages, revalidated (free 304s when unchanged)."""
    return (max(1, math.ceil(changed_issues / 100)) + max(1, math.ceil(changed_comments / 100))
            + plain_pages)


def churn(sb: Sandbox, model: Model, rng: random.Random, fraction: float, tag: str,
          delete_comments: int, delete_issues: int, pool) -> dict:
    """Changes `fraction` of issues and of comments through the REST API (issue title, body,
    labels or state; comment edits, a quarter of the comment churn as new comments), then
    deletes some comments and issues. Returns what was done."""
    n_issues = max(1, round(len(model.issues) * fraction))
    n_comments = max(1, round(len(model.comments) * fraction))
    numbers = rng.sample(sorted(model.issues), n_issues)
    calls = []
    for k, n in enumerate(numbers):
        kind = k % 4
        if kind == 0:
            body = {"title": f"Edited on {tag}: issue {n} needs another look"}
        elif kind == 1:
            body = {"body": f"Updated on {tag}.\n\nSteps to reproduce:\n1. open widget {n}\n"
                            f"2. press the button\n\nExpected: it works. Actual: it does not."}
        elif kind == 2:
            body = {"labels": rng.sample(model.labels, min(len(model.labels), rng.randint(1, 3)))}
        elif model.issues[n] == "open":
            body = {"state": "closed", "state_reason": "completed"}
            model.issues[n] = "closed"
        else:
            body = {"state": "open"}
            model.issues[n] = "open"
        calls.append(("PATCH", f"{REPO}/issues/{n}", body))
    n_new = n_comments // 4
    for cid in rng.sample(sorted(model.comments), n_comments - n_new):
        calls.append(("PATCH", f"{REPO}/issues/comments/{cid}",
                      {"body": f"Edited on {tag}: on second thought, comment {cid} was wrong."}))
    targets = rng.choices(sorted(model.issues), k=n_new)
    for n in targets:
        calls.append(("POST", f"{REPO}/issues/{n}/comments",
                      {"body": f"New on {tag}: I can reproduce this on widget {n} too."}))

    def send(call):
        return sb.json(*call)

    for call, result in zip(calls, pool.map(send, calls)):
        if call[0] == "POST":
            model.comments[result["id"]] = int(call[1].split("/")[-2])

    deleted_comments = rng.sample(sorted(model.comments), delete_comments)
    deleted_issues = []
    if delete_issues:
        # Issues with comments whose comments were not just deleted, so that each deletion
        # is seen on its own.
        has_comments = sorted({n for c, n in model.comments.items()
                               if c not in deleted_comments and n not in model.prs})
        deleted_issues = rng.sample(has_comments, delete_issues)
    for cid in deleted_comments:
        sb.json("DELETE", f"{REPO}/issues/comments/{cid}", ok=(204,))
        model.comments.pop(cid, None)
    for n in deleted_issues:
        sb.json("DELETE", f"{REPO}/issues/{n}", ok=(204,))
        model.issues.pop(n, None)
        for cid in [c for c, i in model.comments.items() if i == n]:
            model.comments.pop(cid)
    return {"issues_edited": n_issues, "comments_edited": n_comments - n_new,
            "comments_added": n_new, "comments_deleted": deleted_comments,
            "issues_deleted": deleted_issues}


# ---------------------------------------------------------------------------- the tools


class Backtrack:
    def __init__(self, args, work: str, api_url: str, ca: str, sb: Sandbox):
        self.bin, self.sb = args.backtrack, sb
        self.store = os.path.join(work, "backtrack-store")
        self.logs = os.path.join(work, "logs")
        os.makedirs(self.logs, exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("GITHUB_", "GH_", "BACKTRACK_"))}
        env.update(GITHUB_API_URL=api_url, GITHUB_TOKEN=TOKEN, SSL_CERT_FILE=ca,
                   BACKTRACK_STORE=f"file://{self.store}")
        self.env = env
        help_text = subprocess.run([self.bin, "snapshot", "create", "--help"], env=env,
                                   capture_output=True, text=True).stdout
        self.has_full = "--full" in help_text
        self.runs = 0

    def snapshot(self, label: str, full: bool) -> dict:
        self.runs += 1
        rss_file = os.path.join(self.logs, f"{self.runs:02d}-{label}.rss")
        cmd = [self.bin, "--json", "snapshot", "create", SCOPE, "--trigger", "schedule"]
        if full and self.has_full:
            cmd.append("--full")
        before = self.sb.stats()
        p = run_measured(cmd, {**self.env, "BACKTRACK_PEAK_RSS_FILE": rss_file},
                         os.path.join(self.logs, f"{self.runs:02d}-{label}.log"))
        after = self.sb.stats()
        if p.code != 0:
            raise RuntimeError(f"backtrack snapshot ({label}) exited {p.code}; "
                               f"see {self.logs}/{self.runs:02d}-{label}.log")
        report = json.loads(p.stdout)
        d = delta(before, after)
        if report.get("requests") not in (None, d["total"]):
            log(f"note: the sandbox counted {d['total']} requests, backtrack reported "
                f"{report['requests']} ({label})")
        objects, on_disk, files = tree_bytes(self.store, skip_prefix="catalog.sqlite")
        try:
            hook_kb = int(open(rss_file).read().strip() or 0)
        except (OSError, ValueError):
            hook_kb = 0
        return {
            "id": report["id"], "mode": report.get("mode"), "deleted": report.get("deleted"),
            "requests": d["total"], "requests_reported": report.get("requests"),
            "not_modified": d["not_modified"], "response_bytes": d["response_bytes"],
            "by_route": d["by_route"],
            "wall_s": round(p.wall, 3), "peak_rss_mb": round(p.rss_kb / 1024, 1),
            "peak_rss_mb_self_reported": round(hook_kb / 1024, 1),
            "stored_new_reported": (report.get("bytes") or {}).get("stored_new"),
            "store_object_bytes": objects, "store_on_disk_bytes": on_disk,
            "store_files": files, "catalog_bytes": catalog_bytes(self.store),
        }

    def diff(self, a: str, b: str) -> dict:
        out = os.path.join(self.logs, "diff.json")
        cmd = [self.bin, "diff", SCOPE, "--from", a, "--to", b, "--format", "json", "-o", out]
        p = run_measured(cmd, self.env, os.path.join(self.logs, "diff.log"))
        if p.code != 0:
            raise RuntimeError(f"backtrack diff exited {p.code}; see {self.logs}/diff.log")
        with open(out) as f:
            return json.load(f)


def github_backup(args, work: str, public: str, ca: str, sb: Sandbox) -> dict:
    out = os.path.join(work, "github-backup-out")
    exe = args.github_backup or shutil.which("github-backup",
                                             path=os.path.dirname(sys.executable))
    if exe is None:
        raise RuntimeError("github-backup not found: bench/run installs it (PyPI github-backup)")
    host = public.removeprefix("https://")
    cmd = [exe, "-t", TOKEN, "-H", host, "-o", out, "--issues", "--issue-comments",
           "--labels", "--milestones", "-R", NAME, OWNER]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GH_"))}
    env.update(SSL_CERT_FILE=ca, REQUESTS_CA_BUNDLE=ca)
    before = sb.stats()
    p = run_measured(cmd, env, os.path.join(work, "logs", "github-backup.log"))
    after = sb.stats()
    if p.code != 0:
        raise RuntimeError(f"github-backup exited {p.code}; see {work}/logs/github-backup.log")
    d = delta(before, after)
    apparent, on_disk, files = tree_bytes(out)
    issues_dir = os.path.join(out, "repositories", NAME, "issues")
    issues = comments = 0
    for n in os.listdir(issues_dir):
        if n.endswith(".json"):
            with open(os.path.join(issues_dir, n)) as f:
                issues += 1
                comments += len(json.load(f).get("comment_data") or [])
    return {"version": importlib.metadata.version("github-backup"),
            "requests": d["total"], "not_modified": d["not_modified"],
            "response_bytes": d["response_bytes"], "by_route": d["by_route"],
            "wall_s": round(p.wall, 3),
            "peak_rss_mb": round(p.rss_kb / 1024, 1), "stored_bytes": apparent,
            "stored_on_disk_bytes": on_disk, "files": files,
            "issues_saved": issues, "comments_saved": comments}


# ---------------------------------------------------------------------------- the report


def target(name: str, value, limit, ok) -> dict:
    return {"target": name, "value": value, "limit": limit,
            "pass": None if ok is None else bool(ok)}


def incremental_days(days: dict) -> list[bool]:
    modes = days.get("mode_per_day") or ["incremental"] * days["snapshots"]
    return [m == "incremental" for m in modes]


def evaluate(r: dict) -> list[dict]:
    full, inc, days, pgb = r["full"], r["incremental"], r["days"], r.get("github_backup")
    floor = r["floors"]["full"]
    t = [target("full snapshot requests <= 1.05 x floor", full["requests"],
                round(1.05 * floor, 1), full["requests"] <= 1.05 * floor)]
    if pgb:
        rq = pgb["requests"] / max(1, full["requests"])
        wl = pgb["wall_s"] / max(1e-9, full["wall_s"])
        t.append(target(">= 15x fewer requests than python-github-backup", round(rq, 1), 15,
                        rq >= 15))
        t.append(target(">= 10x less wall time than python-github-backup", round(wl, 1), 10,
                        wl >= 10))
    else:
        t.append(target("python-github-backup comparison", "skipped", None, None))
    churn_cap = r["floors"]["incremental"]
    t.append(target("incremental requests <= churn floor (its 304 revalidations included)",
                    inc["requests"], churn_cap, inc["requests"] <= churn_cap))
    t.append(target("deletions listed by diff (comments and issue)", r["deletions"]["found"],
                    r["deletions"]["expected"], r["deletions"]["ok"]))
    if inc.get("deleted") is not None:
        t.append(target("deletions recorded by the incremental snapshot", inc["deleted"],
                        r["deletions"]["expected"], inc["deleted"] >= r["deletions"]["expected"]))
    if days["snapshots"]:
        # Every --reconcile-every'th snapshot lists everything again by design: it is shown
        # on its own row and not held to the churn floor.
        over = [req - fl for req, fl, inc_day in zip(days["requests_per_day"], days["floors"],
                                                      incremental_days(days)) if inc_day]
        if over:
            t.append(target("daily incremental requests <= churn floor (worst day, over it)",
                            max(over), 0, max(over) <= 0))
        cap = 1.5 * full["store_object_bytes"]
        t.append(target(f"store after {days['snapshots']} dailies <= 1.5 x one full",
                        days["store_object_bytes"], int(cap), days["store_object_bytes"] <= cap))
    raw_cap = 0.2 * r["raw_json_bytes"]
    t.append(target("full snapshot stored <= 20% of raw JSON", full["store_object_bytes"],
                    int(raw_cap), full["store_object_bytes"] <= raw_cap))
    t.append(target("full snapshot peak RSS <= 150 MB", full["peak_rss_mb"], 150,
                    full["peak_rss_mb"] <= 150))
    return t


def mb(n: int) -> str:
    return f"{n / 1e6:,.2f} MB"


def table(r: dict) -> str:
    full, inc, days, pgb = r["full"], r["incremental"], r["days"], r.get("github_backup")
    fl = r["floors"]
    rows = [("", "requests", "wall s", "peak RSS MB", "stored bytes")]
    rows.append(("backtrack full", f"{full['requests']} (floor {fl['full']})",
                 f"{full['wall_s']:.1f}", f"{full['peak_rss_mb']:.1f}",
                 f"{full['store_object_bytes']:,}"))
    if pgb:
        rows.append(("python-github-backup", str(pgb["requests"]), f"{pgb['wall_s']:.1f}",
                     f"{pgb['peak_rss_mb']:.1f}", f"{pgb['stored_bytes']:,}"))
        ratio = lambda a, b: f"{a / b:.1f}x" if b else "-"  # noqa: E731
        rows.append(("ratio (github-backup / backtrack)",
                     ratio(pgb["requests"], full["requests"]), ratio(pgb["wall_s"], full["wall_s"]),
                     ratio(pgb["peak_rss_mb"], full["peak_rss_mb"]),
                     ratio(pgb["stored_bytes"], full["store_object_bytes"])))
    rows.append(("backtrack incremental (1% + deletes)",
                 f"{inc['requests']} (churn floor {fl['incremental']}; {inc['not_modified']} 304s)",
                 f"{inc['wall_s']:.1f}", f"{inc['peak_rss_mb']:.1f}",
                 f"+{inc['store_object_bytes'] - full['store_object_bytes']:,}"))
    if days["snapshots"]:
        inc_days = incremental_days(days)
        pick = lambda key, want: [v for v, i in zip(days[key], inc_days) if i == want]  # noqa: E731
        per, floors = pick("requests_per_day", True), pick("floors", True)
        if per:
            rows.append((f"backtrack {len(per)} daily incrementals (1%)",
                         f"{sum(per)} ({min(per)}-{max(per)}/day; floors {min(floors)}-{max(floors)})",
                         f"{sum(pick('wall_s_per_day', True)):.1f}",
                         f"{max(pick('peak_rss_mb_per_day', True)):.1f}",
                         f"{days['store_object_bytes']:,} total"))
        for day, i in enumerate(inc_days, 1):
            if not i:
                rows.append((f"day {day}: reconciliation (full, by design)",
                             str(days["requests_per_day"][day - 1]),
                             f"{days['wall_s_per_day'][day - 1]:.1f}",
                             f"{days['peak_rss_mb_per_day'][day - 1]:.1f}", "(in the total above)"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    s = r["sizes"]
    lines.append("")
    lines.append(f"sizes: {s['issues']} issues, {s['comments']} comments, {s['labels']} labels, "
                 f"{s['milestones']} milestones; {s['latency_ms']} ms latency per request; "
                 f"both tools over https through the same TLS terminator")
    lines.append(f"raw JSON of a full listing (per_page=100): {mb(r['raw_json_bytes'])}; "
                 f"backtrack full stored {mb(full['store_object_bytes'])} in objects "
                 f"({mb(full['store_on_disk_bytes'])} on disk) + catalog "
                 f"{mb(full['catalog_bytes'])}")
    if pgb:
        lines.append(f"python-github-backup {pgb['version']}: saved {pgb['issues_saved']} issues, "
                     f"{pgb['comments_saved']} comments ({mb(pgb['stored_on_disk_bytes'])} on disk)")
    lines.append("")
    for t in r["targets"]:
        mark = {True: "PASS", False: "FAIL", None: "n/a "}[t["pass"]]
        limit = "" if t["limit"] is None else f" (limit {t['limit']})"
        lines.append(f"[{mark}] {t['target']}: {t['value']}{limit}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backtrack", help="the backtrack binary (release build; bench/run passes it)")
    ap.add_argument("--github-backup", help="the github-backup script (default: beside python)")
    ap.add_argument("--issues", type=int, default=10_000)
    ap.add_argument("--comments", type=int, default=50_000)
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--days", type=int, default=30, help="simulated days of churn")
    ap.add_argument("--churn", type=float, default=0.01, help="fraction changed per round")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--skip-github-backup", action="store_true",
                    help="leave python-github-backup out (its run dominates at full size)")
    ap.add_argument("--workdir", default=os.path.join(ROOT, "target", "bench"),
                    help="stores and logs go here (emptied first; default target/bench)")
    ap.add_argument("--json", action="store_true", help="all figures as JSON on stdout")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--report", metavar="FILE",
                    help="print the table of a run saved with --json, run nothing")
    args = ap.parse_args()
    if args.report:
        with open(args.report) as f:
            r = json.load(f)
        r["targets"] = evaluate(r)
        print(table(r))
        return 0
    if not args.backtrack:
        ap.error("--backtrack is required (bench/run passes it)")
    if not 0 < args.churn <= 1:
        ap.error("--churn must be in (0, 1]")

    work = os.path.abspath(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "logs"))
    procs = []
    try:
        procs, public, local, ca = start_stack(args, work)
        sb = Sandbox(local)
        pool = ThreadPoolExecutor(WRITERS)
        r = {"sizes": {"issues": args.issues, "comments": args.comments,
                       "latency_ms": args.latency_ms, "churn": args.churn, "days": args.days},
             "workdir": work}

        log("listing everything once (counts, floor, raw JSON size)")
        issues, i_pages, i_bytes = sb.list_all(f"{REPO}/issues", {"state": "all"}, pool)
        comments, c_pages, c_bytes = sb.list_all(f"{REPO}/issues/comments", {}, pool)
        labels, l_pages, l_bytes = sb.list_all(f"{REPO}/labels", {}, pool)
        milestones, m_pages, m_bytes = sb.list_all(f"{REPO}/milestones", {"state": "all"}, pool)
        r["sizes"].update(labels=len(labels), milestones=len(milestones))
        r["raw_json_bytes"] = i_bytes + c_bytes + l_bytes + m_bytes
        plain_pages = l_pages + m_pages
        r["floors"] = {"full": i_pages + c_pages + plain_pages}
        model = Model(issues, comments, labels)
        del issues, comments

        bt = Backtrack(args, work, public + "/api/v3", ca, sb)
        log(f"backtrack full snapshot{' (--full)' if bt.has_full else ''}")
        r["full"] = bt.snapshot("full", full=True)

        rng = random.Random(args.seed)
        sb.advance_clock(DAY)
        since = next_since(sb)
        log(f"churn {args.churn:.0%} with deletions, then an incremental snapshot")
        done = churn(sb, model, rng, args.churn, "day 0", delete_comments=3, delete_issues=1,
                     pool=pool)
        n_i, n_c = count_since(sb, since, pool)
        r["churn"] = {**done, "issues_since": n_i, "comments_since": n_c}
        r["floors"]["incremental"] = churn_floor(n_i, n_c, plain_pages)
        r["incremental"] = bt.snapshot("incremental", full=False)

        diff = bt.diff(r["full"]["id"], r["incremental"]["id"])
        removed = {(c["kind"], str(c["key"])) for c in diff.get("changes", [])
                   if c.get("op") == "removed" and c.get("field") == "*"}
        expected = ([("comment", str(c)) for c in done["comments_deleted"]]
                    + [("issue", str(n)) for n in done["issues_deleted"]])
        found = [e for e in expected if e in removed]
        r["deletions"] = {"expected": len(expected), "found": len(found),
                          "missing": [f"{k} {v}" for k, v in expected if (k, v) not in removed],
                          "ok": len(found) == len(expected)}

        days = {"snapshots": 0, "requests_per_day": [], "not_modified_per_day": [],
                "floors": [], "wall_s_per_day": [], "peak_rss_mb_per_day": [],
                "store_object_bytes": r["incremental"]["store_object_bytes"]}
        for day in range(1, args.days + 1):
            sb.advance_clock(DAY)
            since = next_since(sb)
            churn(sb, model, rng, args.churn, f"day {day}", delete_comments=1, delete_issues=0,
                  pool=pool)
            n_i, n_c = count_since(sb, since, pool)
            snap = bt.snapshot(f"day{day:02d}", full=False)
            days["snapshots"] += 1
            days["requests_per_day"].append(snap["requests"])
            days.setdefault("mode_per_day", []).append(snap["mode"])
            days["not_modified_per_day"].append(snap["not_modified"])
            days["floors"].append(churn_floor(n_i, n_c, plain_pages))
            days["wall_s_per_day"].append(snap["wall_s"])
            days["peak_rss_mb_per_day"].append(snap["peak_rss_mb"])
            days["store_object_bytes"] = snap["store_object_bytes"]
            days["store_on_disk_bytes"] = snap["store_on_disk_bytes"]
            days["catalog_bytes"] = snap["catalog_bytes"]
            log(f"day {day}: {snap['requests']} requests, {snap['wall_s']:.1f} s, "
                f"store {snap['store_object_bytes']:,} bytes")
        r["days"] = days

        if not args.skip_github_backup:
            sb.reset()
            log("python-github-backup on the initial data (sequential; the slow part)")
            r["github_backup"] = github_backup(args, work, public, ca, sb)
        pool.shutdown()
    finally:
        stop(procs)

    r["targets"] = evaluate(r)
    text = table(r)
    if args.json:
        print(text, file=sys.stderr)
        print(json.dumps(r, indent=2))
    else:
        print(text)
    failed = any(t["pass"] is False for t in r["targets"])
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
