"""Capture benchmark: backtrack (full, incremental, 30 daily snapshots) against
python-github-backup on the same sandbox data, in one run on one machine.

Both tools reach the sandbox through the same TLS terminator (python-github-backup only
speaks https://HOST/api/v3), with the same injected latency. Requests are counted by the
sandbox itself (`/_sandbox/stats`), peak RSS is the child's own (`wait4` rusage), stored
bytes are the apparent size of what each tool wrote. Run through `bench/run`.
"""

import argparse
import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from tls_proxy import make_certificates

SCOPE = "github:acme/widgets"
REPO = "/repos/acme/widgets"
TOKEN = "sandbox-token"
HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sandbox:
    """The sandbox process, and a plain-HTTP client for churn and counters."""

    def __init__(self, binary, args, work):
        self.tls_port, port = free_port(), free_port()
        # With --public-url the sandbox announces that URL, so it gets a known local port.
        self.proc = subprocess.Popen(
            [binary, "sandbox", "--addr", f"127.0.0.1:{port}",
             "--public-url", f"https://127.0.0.1:{self.tls_port}/", *args],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if not self.proc.stdout.readline().startswith("https://"):
            sys.exit("the sandbox did not start")
        self.url = f"http://127.0.0.1:{port}"
        ca, cert, key = make_certificates(work)
        self.cert = ca
        target = self.url.removeprefix("http://").rstrip("/")
        self.proxy = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "tls_proxy.py"), "--cert", cert, "--key", key,
             "--listen", str(self.tls_port), "--target", target],
            stdout=subprocess.PIPE, text=True)
        self.proxy.stdout.readline()
        self.https = f"https://127.0.0.1:{self.tls_port}"

    def close(self):
        for p in (self.proxy, self.proc):
            p.terminate()
            p.wait()

    def call(self, method, path, body=None, raw=False):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url.rstrip("/") + path, data=data, method=method)
        req.add_header("Authorization", f"token {TOKEN}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for attempt in range(5):
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    payload = r.read()
                    if raw:
                        return payload
                    return json.loads(payload) if payload else None
            except urllib.error.HTTPError as e:
                if e.code < 500 or attempt == 4:
                    raise SystemExit(f"{method} {path}: HTTP {e.code} {e.read()[:200]!r}")
                time.sleep(0.2)
        return None

    def total(self):
        return self.call("GET", "/_sandbox/stats")["total"]

    def listing(self, path):
        """Every item of a listing, and the raw bytes of its pages."""
        items, size, page = [], 0, 1
        sep = "&" if "?" in path else "?"
        while True:
            body = self.call("GET", f"{path}{sep}per_page=100&page={page}", raw=True)
            size += len(body)
            chunk = json.loads(body)
            if not chunk:
                return items, size
            items += chunk
            page += 1


def measure(cmd, env, cwd=None):
    """Runs `cmd`; returns (stdout, wall seconds, peak RSS in MB). RUSAGE_CHILDREN
    accumulates over every child a process ever waited for, so each run happens under a
    one-shot Python wrapper whose only child is `cmd`."""
    wrapper = ("import resource,subprocess,sys,json,time;"
               "t=time.monotonic();p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
               "w=time.monotonic()-t;"
               "r=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss;"
               "sys.stderr.write(p.stderr);"
               "print(json.dumps({'rc':p.returncode,'out':p.stdout,'wall':w,'rss_kb':r}))")
    proc = subprocess.run([sys.executable, "-c", wrapper, *cmd], env=env, cwd=cwd,
                          capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"{' '.join(cmd[:3])} failed: {proc.stderr[-2000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if res["rc"] != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} exited {res['rc']}: {proc.stderr[-2000:]}")
    return res["out"], res["wall"], res["rss_kb"] / 1024


def tree_bytes(path, skip=()):
    apparent = blocks = 0
    for root, _, files in os.walk(path):
        for f in files:
            if f in skip:
                continue
            st = os.stat(os.path.join(root, f))
            apparent += st.st_size
            blocks += st.st_blocks * 512
    return apparent, blocks


class Churn:
    """Changes a fraction of issues and comments through the REST API, as a sync script
    or a busy team would: titles, bodies, labels, state; comment edits."""

    def __init__(self, sandbox, seed):
        self.sb = sandbox
        self.rng = random.Random(seed)
        self.labels = [lbl["name"] for lbl in sandbox.listing(f"{REPO}/labels")[0]]

    def day(self, issues, comments, fraction, deletions=False):
        sb, rng = self.sb, self.rng
        changed_issues = set()
        for n in rng.sample(sorted(issues), max(1, round(len(issues) * fraction))):
            edit = rng.choice(["title", "body", "labels", "state"])
            body = {
                "title": {"title": f"Edited title {rng.randrange(10**9)}"},
                "body": {"body": f"Edited body {rng.randrange(10**9)}"},
                "labels": {"labels": rng.sample(self.labels, 2)},
                "state": {"state": rng.choice(["open", "closed"])},
            }[edit]
            sb.call("PATCH", f"{REPO}/issues/{n}", body)
            changed_issues.add(n)
        ids = sorted(comments)
        for cid in rng.sample(ids, max(1, round(len(ids) * fraction))):
            sb.call("PATCH", f"{REPO}/issues/comments/{cid}", {"body": f"Edited {rng.randrange(10**9)}"})
        changed_comments = max(1, round(len(ids) * fraction))
        gone_issues, gone_comments = [], []
        if deletions:
            for cid in rng.sample(ids, 3):
                issue = comments.pop(cid)
                if issue in issues:
                    sb.call("DELETE", f"{REPO}/issues/comments/{cid}")
                    gone_comments.append(cid)
                    changed_issues.add(issue)
            victim = rng.choice(sorted(issues - changed_issues))
            sb.call("DELETE", f"{REPO}/issues/{victim}")
            issues.discard(victim)
            orphans = [c for c, i in comments.items() if i == victim]
            for c in orphans:
                comments.pop(c)
            gone_issues.append(victim)
            gone_comments += orphans
        return len(changed_issues), changed_comments, gone_issues, gone_comments


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--issues", type=int, default=10_000)
    ap.add_argument("--comments", type=int, default=50_000)
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--churn", type=float, default=0.01, help="fraction changed per day")
    ap.add_argument("--backtrack", help="the backtrack binary (release build)")
    ap.add_argument("--github-backup", default=shutil.which("github-backup"))
    ap.add_argument("--skip-github-backup", action="store_true")
    ap.add_argument("--json", action="store_true", help="print all figures as JSON too")
    ap.add_argument("--workdir", help="keep everything here instead of a temporary folder")
    ap.add_argument("--report", metavar="FILE", help="print the table of a run saved with --json, run nothing")
    args = ap.parse_args()
    if args.report:
        with open(args.report) as fh:
            text = fh.read()
        report(args, json.loads(text[text.index("\n{") + 1:]))
        return

    if not args.backtrack:
        ap.error("--backtrack is required (bench/run passes it)")
    work = args.workdir or tempfile.mkdtemp(prefix="backtrack-bench-")
    os.makedirs(work, exist_ok=True)
    print(f"# sandbox: {args.issues} issues, {args.comments} comments, {args.latency_ms} ms latency; work in {work}",
          file=sys.stderr)
    sb = Sandbox(args.backtrack, ["--issues", str(args.issues), "--comments", str(args.comments),
                                  "--latency-ms", str(args.latency_ms)], work)
    try:
        figures = run(args, sb, work)
    finally:
        sb.close()
    report(args, figures)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


def run(args, sb, work):
    f = {"issues": args.issues, "comments": args.comments, "latency_ms": args.latency_ms,
         "days": args.days, "churn": args.churn}
    # The raw JSON a full listing returns (what both tools read), measured on the side.
    issues_raw, ib = sb.listing(f"{REPO}/issues?state=all")
    comments_raw, cb = sb.listing(f"{REPO}/issues/comments")
    labels_raw, lb = sb.listing(f"{REPO}/labels")
    milestones_raw, mb = sb.listing(f"{REPO}/milestones?state=all")
    f["raw_json_bytes"] = ib + cb + lb + mb
    plain_pages = max(1, math.ceil(len(labels_raw) / 100)) + max(1, math.ceil(len(milestones_raw) / 100))
    f["floor"] = math.ceil(len(issues_raw) / 100) + math.ceil(len(comments_raw) / 100) + plain_pages

    env = dict(os.environ, GITHUB_TOKEN=TOKEN, GITHUB_API_URL=sb.https, SSL_CERT_FILE=sb.cert,
               REQUESTS_CA_BUNDLE=sb.cert)
    env.pop("GH_TOKEN", None)

    if not args.skip_github_backup:
        if not args.github_backup:
            raise SystemExit("github-backup not found: bench/run installs it (PyPI github-backup)")
        out_dir = os.path.join(work, "github-backup")
        before = sb.total()
        _, wall, rss = measure([args.github_backup, "acme", "-t", TOKEN, "-H", f"127.0.0.1:{sb.tls_port}",
                                "-R", "widgets", "--issues", "--issue-comments", "--labels", "--milestones",
                                "-o", out_dir, "-q"], env)
        apparent, blocks = tree_bytes(out_dir)
        f["github_backup"] = {"requests": sb.total() - before, "wall_s": wall, "rss_mb": rss,
                              "stored_bytes": apparent, "disk_bytes": blocks}
        print(f"# github-backup: {f['github_backup']}", file=sys.stderr)

    store = os.path.join(work, "backtrack")
    env["BACKTRACK_STORE"] = f"file://{store}"

    def snapshot(extra=()):
        before = sb.total()
        out, wall, rss = measure([args.backtrack, "--json", "snapshot", "create", SCOPE, *extra], env)
        rep = json.loads(out)
        spent = sb.total() - before
        if spent != rep["requests"]:
            print(f"# note: sandbox counted {spent} requests, backtrack {rep['requests']}", file=sys.stderr)
        apparent, blocks = tree_bytes(store, skip=("catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"))
        return {"id": rep["id"], "mode": rep["mode"], "requests": spent, "not_modified": rep["not_modified"],
                "deleted": rep.get("deleted", 0), "wall_s": wall, "rss_mb": rss,
                "stored_new": rep["bytes"]["stored_new"], "store_bytes": apparent, "disk_bytes": blocks}

    full = snapshot(["--full"])
    f["full"] = full
    print(f"# backtrack full: {full}", file=sys.stderr)

    issues = {i["number"] for i in issues_raw}
    comments = {c["id"]: int(c["issue_url"].rsplit("/", 1)[1]) for c in comments_raw}
    churn = Churn(sb, seed=8)
    sb.call("POST", "/_sandbox/clock", {"advance_secs": 86_400})
    ci, cc, gone_i, gone_c = churn.day(issues, comments, args.churn, deletions=True)
    inc = snapshot()
    # The issue's churn floor: a page per 100 changed issues and comments, plus the label
    # and milestone pages (free when revalidated by a 304).
    inc["churn_floor"] = math.ceil(ci / 100) + math.ceil(cc / 100) + plain_pages
    inc["expected_deleted"] = len(gone_i) + len(gone_c)
    diff = subprocess.run([args.backtrack, "--json", "diff", SCOPE, "--from", full["id"], "--to", inc["id"],
                           "--format", "json"], env=env, capture_output=True, text=True, check=True).stdout
    shown = [n for n in gone_i if f'"number":{n}' in diff.replace(" ", "")]
    shown += [c for c in gone_c if str(c) in diff]
    inc["deletions_in_diff"] = len(shown)
    f["incremental"] = inc
    print(f"# backtrack incremental: {inc}", file=sys.stderr)

    daily = []
    for day in range(args.days):
        sb.call("POST", "/_sandbox/clock", {"advance_secs": 86_400})
        ci, cc, _, _ = churn.day(issues, comments, args.churn)
        d = snapshot()
        d["churn_floor"] = math.ceil(ci / 100) + math.ceil(cc / 100) + plain_pages
        daily.append(d)
        print(f"# day {day + 1}: {d['mode']} {d['requests']} requests, {d['stored_new']} B new",
              file=sys.stderr)
    f["daily"] = daily
    return f


def report(args, f):
    full, inc, daily = f["full"], f["incremental"], f["daily"]
    gb = f.get("github_backup")
    lines = []
    hdr = f"{'':34} {'requests':>10} {'wall s':>9} {'peak RSS MB':>12} {'stored bytes':>14}"
    lines.append(hdr)
    lines.append("-" * len(hdr))

    def row(name, req, wall, rss, stored):
        def fmt(v, spec):
            return format(v, spec) if v is not None else "-"
        lines.append(f"{name:34} {fmt(req, '>10')} {fmt(wall, '>9.2f')} {fmt(rss, '>12.0f')} {fmt(stored, '>14,')}")

    row(f"backtrack full (floor {f['floor']})", full["requests"], full["wall_s"], full["rss_mb"], full["store_bytes"])
    if gb:
        row("python-github-backup", gb["requests"], gb["wall_s"], gb["rss_mb"], gb["stored_bytes"])
        lines.append(f"{'ratio backtrack / github-backup':34} {full['requests'] / gb['requests']:>10.3f} "
                     f"{full['wall_s'] / gb['wall_s']:>9.3f} {full['rss_mb'] / gb['rss_mb']:>12.2f} "
                     f"{full['store_bytes'] / gb['stored_bytes']:>14.3f}")
    row(f"incremental 1% (+{inc['expected_deleted']} deleted)", inc["requests"], inc["wall_s"], inc["rss_mb"], inc["stored_new"])
    # Every --reconcile-every'th snapshot (30 by default) lists everything again: shown on
    # its own row rather than averaged into the daily ones.
    incs = [d for d in daily if d["mode"] == "incremental"]
    fulls = [d for d in daily if d["mode"] != "incremental"]
    if incs:
        row(f"{len(incs)} daily 1% (mean; bytes: sum)", round(sum(d["requests"] for d in incs) / len(incs), 1),
            sum(d["wall_s"] for d in incs) / len(incs), max(d["rss_mb"] for d in incs),
            sum(d["stored_new"] for d in incs))
    for d in fulls:
        row(f"day {daily.index(d) + 1}: reconciliation (full)", d["requests"], d["wall_s"], d["rss_mb"], d["stored_new"])
    lines.append("")
    lines.append(f"raw JSON of a full listing: {f['raw_json_bytes']:,} bytes")

    checks = []

    def check(label, ok, detail):
        checks.append((label, ok, detail))

    check("full requests <= 1.05 x floor", full["requests"] <= 1.05 * f["floor"],
          f"{full['requests']} / {f['floor']} = {full['requests'] / f['floor']:.3f}")
    if gb:
        check(">= 15x fewer requests than github-backup", gb["requests"] >= 15 * full["requests"],
              f"{gb['requests'] / full['requests']:.1f}x")
        check(">= 10x less wall time than github-backup", gb["wall_s"] >= 10 * full["wall_s"],
              f"{gb['wall_s'] / full['wall_s']:.1f}x")
    check("incremental requests <= churn floor (304s included)", inc["requests"] <= inc["churn_floor"],
          f"{inc['requests']} for a floor of {inc['churn_floor']} ({inc['not_modified']} of them 304s): "
          f"{inc['requests'] - inc['churn_floor']:+d} = 2 count probes + the search for the deleted records")
    check("deletions detected", inc["deleted"] >= inc["expected_deleted"] and inc["deletions_in_diff"] == inc["expected_deleted"],
          f"{inc['deleted']} recorded, {inc['deletions_in_diff']} of {inc['expected_deleted']} shown by diff")
    if incs:
        worst = max(d["requests"] - d["churn_floor"] for d in incs)
        check("daily incremental requests <= churn floor (304s included)", worst <= 0,
              f"worst day {worst:+d} over the floor: 2 count probes + 1 overlap page per listing")
        total = daily[-1]["store_bytes"]
        check(f"full + {len(daily) + 1} later snapshots stored <= 1.5 x one full", total <= 1.5 * full["store_bytes"],
              f"{total:,} / {full['store_bytes']:,} = {total / full['store_bytes']:.2f}")
    check("full snapshot <= 20% of raw JSON", full["store_bytes"] <= 0.2 * f["raw_json_bytes"],
          f"{full['store_bytes'] / f['raw_json_bytes']:.1%}")
    check("full snapshot peak RSS <= 150 MB", full["rss_mb"] <= 150, f"{full['rss_mb']:.0f} MB")
    lines.append("")
    for label, ok, detail in checks:
        lines.append(f"{'PASS' if ok else 'FAIL'}  {label}: {detail}")
    print("\n".join(lines))
    if args.json:
        f["checks"] = [{"check": c, "pass": ok, "detail": d} for c, ok, d in checks]
        print(json.dumps(f, indent=2))


if __name__ == "__main__":
    main()
