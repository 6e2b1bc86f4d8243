// Drives a `backtrack report` page in headless Chromium (Debian's, through playwright-core)
// and checks it against the diff JSON of the same comparison. Prints one JSON line of
// figures; exits 1 with the reasons when a check fails. Called by tests/e2e/report.rs.
//
// usage: node report.mjs --html FILE --diff FILE --shots DIR --name NAME
//                        [--hostile TEXT] [--plan-ops N]
import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const modules = process.env.BACKTRACK_PLAYWRIGHT;
if (!modules) { console.error('BACKTRACK_PLAYWRIGHT (the node_modules holding playwright-core) is unset: run through tests/run'); process.exit(2); }
const { chromium } = createRequire(path.join(modules, 'noop.js'))('playwright-core');
const diff = JSON.parse(fs.readFileSync(args.diff, 'utf8'));
const fileUrl = pathToFileURL(path.resolve(args.html)).href;
fs.mkdirSync(args.shots, { recursive: true });

const failures = [];
function check(ok, what) { if (!ok) failures.push(what); }

// The page's kinds of change, computed here from the diff JSON on its own.
function category(c) {
  if (c.kind === 'comment') return c.op === 'added' ? 'comment added' : c.op === 'removed' ? 'comment deleted' : 'comment edited';
  if (c.kind === 'issue') return c.field === '*' ? 'issue ' + c.op : c.field.replace(/_/g, ' ');
  return c.kind + ' ' + (c.field === '*' ? c.op : 'changed');
}
const expectedKinds = {};
for (const c of diff.changes) expectedKinds[category(c)] = (expectedKinds[category(c)] || 0) + 1;
const issuesWith = (cat) => new Set(diff.changes.filter((c) => (c.kind === 'issue' || c.kind === 'comment') && category(c) === cat).map((c) => c.issue)).size;

const browser = await chromium.launch({
  executablePath: process.env.BACKTRACK_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const figures = {};
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const blocked = [], consoleErrors = [], dialogs = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url === fileUrl) return route.continue();
    blocked.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });

  const t0 = Date.now();
  await page.goto(fileUrl, { waitUntil: 'load' });
  await page.waitForSelector('html[data-ready="1"]', { timeout: 15000 });
  figures.load_ms = Date.now() - t0;
  figures.fcp_ms = await page.evaluate(() => {
    const e = performance.getEntriesByName('first-contentful-paint')[0];
    return e ? Math.round(e.startTime) : null;
  });

  // Counts per kind equal the diff JSON's.
  for (const [key, value] of Object.entries(diff.summary)) {
    const shown = await page.textContent(`.count[data-key="${key}"] .n`);
    check(shown === String(value), `summary ${key}: page shows ${shown}, diff JSON has ${value}`);
  }
  const kindOptions = await page.$$eval('#f-kind option[data-count]', (os) => Object.fromEntries(os.map((o) => [o.value, Number(o.dataset.count)])));
  check(JSON.stringify(Object.keys(kindOptions).sort()) === JSON.stringify(Object.keys(expectedKinds).sort()),
    `kinds on the page ${JSON.stringify(kindOptions)} differ from the diff's ${JSON.stringify(expectedKinds)}`);
  for (const [k, n] of Object.entries(expectedKinds)) check(kindOptions[k] === n, `kind ${k}: page counts ${kindOptions[k]}, diff JSON ${n}`);
  const ops = await page.$$eval('#list details.issue', (ds) => ds.map((d) => d.dataset.op));
  const total = diff.issues.length;
  check(ops.length === Math.min(total, 100), `${ops.length} issue rows rendered of ${total}`);
  if (total <= 100) {
    for (const op of ['added', 'removed', 'changed']) {
      check(ops.filter((o) => o === op).length === diff.summary['issues_' + op],
        `${ops.filter((o) => o === op).length} rows ${op}, summary says ${diff.summary['issues_' + op]}`);
    }
  }
  const defsShown = await page.$$eval('#defs details.def', (ds) => ds.length);
  const defKeys = new Set(diff.changes.filter((c) => !['issue', 'comment'].includes(c.kind)).map((c) => c.kind + ' ' + c.key));
  check(defsShown === defKeys.size, `${defsShown} definition rows, diff has ${defKeys.size}`);
  figures.rows = ops.length;
  figures.definitions = defsShown;
  await page.screenshot({ path: path.join(args.shots, `${args.name}-light.png`), fullPage: true });

  // A collapsed issue expands, with its changes built on demand.
  const first = diff.issues[0];
  const firstRow = `#list details.issue[data-n="${first.number}"]`;
  check(await page.$eval(firstRow, (d) => !d.open && !d.querySelector('.body')), 'the first issue starts collapsed and unbuilt');
  await page.click(`${firstRow} > summary`);
  await page.waitForSelector(`${firstRow} > .body`, { timeout: 3000 }).catch(() => {});
  const built = await page.$eval(firstRow, (d) => ({ open: d.open, changes: d.querySelectorAll('.body .change').length }));
  const firstChanges = diff.changes.filter((c) => c.issue === first.number && (c.kind === 'issue' || c.kind === 'comment')).length;
  check(built.open && built.changes === firstChanges, `expanded issue ${first.number}: open ${built.open}, ${built.changes} changes shown, diff has ${firstChanges}`);
  // Its link goes to the issue on the tracker (only web addresses are ever linked).
  const href = await page.$eval(firstRow, (d) => { const a = d.querySelector('a.open'); return a ? a.getAttribute('href') : null; });
  check(href === (/^https?:\/\//.test(first.url || '') ? first.url : null), `issue link ${href}, the diff says ${first.url}`);

  // Side by side: a body diff switches layout.
  const bodyIssue = diff.changes.find((c) => c.kind === 'issue' && (c.field === 'body' || c.field === 'description') && c.hunks);
  if (bodyIssue) {
    const row = `#list details.issue[data-n="${bodyIssue.issue}"]`;
    if (!(await page.$eval(row, (d) => d.open))) await page.click(`${row} > summary`);
    // The toggle event, which builds the body, comes as a task after the click.
    await page.waitForSelector(`${row} > .body table.diff`, { timeout: 3000 }).catch(() => {});
    check(await page.$$eval(`${row} table.diff:not(.sbs)`, (t) => t.length) >= 1, 'an inline body diff');
    const minus = bodyIssue.hunks.flatMap((h) => h.lines).filter((l) => l.startsWith('-')).length;
    check(await page.$$eval(`${row} table.diff tr.minus`, (t) => t.length) === minus, 'inline diff shows every removed line');
    await page.check('#f-sbs');
    check(await page.$$eval(`${row} table.diff.sbs`, (t) => t.length) >= 1, 'side-by-side body diff after the toggle');
    await page.screenshot({ path: path.join(args.shots, `${args.name}-side-by-side.png`), fullPage: false });
    await page.uncheck('#f-sbs');
    figures.body_diff = true;
  }

  // Filters and search change what is visible.
  const visible = () => page.$$eval('#list details.issue', (ds) => ds.length);
  const someKind = Object.keys(expectedKinds).find((k) => !/^(label|milestone|component|version) /.test(k) && issuesWith(k) < total) || Object.keys(expectedKinds).find((k) => !/^(label|milestone|component|version) /.test(k));
  await page.selectOption('#f-kind', someKind);
  const byKind = await visible();
  check(byKind === issuesWith(someKind), `kind filter ${someKind}: ${byKind} rows, expected ${issuesWith(someKind)}`);
  figures.kind_filter = { kind: someKind, rows: byKind };
  await page.selectOption('#f-kind', '');
  check((await visible()) === Math.min(total, 100), 'clearing the kind filter shows every row again');
  const labels = await page.$$eval('#f-label option', (os) => os.map((o) => o.value).filter(Boolean));
  if (labels.length) {
    await page.selectOption('#f-label', labels[0]);
    const byLabel = await visible();
    check(byLabel < total || total === 1, `label filter ${labels[0]} narrows the list (${byLabel} of ${total})`);
    figures.label_filter = { label: labels[0], rows: byLabel };
    await page.selectOption('#f-label', '');
  }
  const authors = await page.$$eval('#f-author option', (os) => os.map((o) => o.value).filter(Boolean));
  figures.authors = authors.length;
  if (authors.length) {
    await page.selectOption('#f-author', authors[0]);
    figures.author_filter = { author: authors[0], rows: await visible() };
    check(figures.author_filter.rows <= total, 'author filter');
    await page.selectOption('#f-author', '');
  }
  const target = diff.issues[diff.issues.length - 1];
  const needle = target.title.slice(0, 24);
  await page.fill('#q', needle);
  await page.waitForFunction((n) => document.querySelector('#shown').dataset.issues !== String(n), total, { timeout: 3000 }).catch(() => {});
  const hits = await page.$$eval('#list details.issue', (ds) => ds.map((d) => Number(d.dataset.n)));
  check(hits.includes(target.number), `search ${JSON.stringify(needle)} finds issue ${target.number}`);
  const titleHits = diff.issues.filter((i) => i.title.toLowerCase().includes(needle.toLowerCase())).length;
  check(hits.length >= titleHits && hits.length < total + 1, `search shows ${hits.length} rows (${titleHits} titles match)`);
  figures.search = { needle, rows: hits.length };
  await page.fill('#q', 'zzz-no-such-text-zzz');
  await page.waitForFunction(() => document.querySelector('#shown').dataset.issues === '0', null, { timeout: 3000 }).catch(() => {});
  check((await visible()) === 0 && (await page.$('#list .empty')) !== null, 'a search that matches nothing says so');
  await page.fill('#q', '');
  await page.waitForFunction((n) => document.querySelector('#shown').dataset.issues === String(n), total, { timeout: 3000 }).catch(() => {});

  // Keyboard: / focuses search, j/k walk the issues, Enter toggles.
  await page.click('h1');
  await page.keyboard.press('/');
  check(await page.evaluate(() => document.activeElement.id === 'q'), '/ focuses the search box');
  await page.keyboard.press('Escape');
  await page.click('h1');
  await page.keyboard.press('j');
  const firstFocus = await page.evaluate(() => document.activeElement.tagName + ':' + (document.activeElement.parentNode.dataset.n || document.activeElement.parentNode.dataset.kind));
  check(firstFocus.startsWith('SUMMARY'), `j focuses the first row (focused ${firstFocus})`);
  if (total + defsShown > 1) {
    await page.keyboard.press('j');
    const second = await page.evaluate(() => document.activeElement.tagName + ':' + (document.activeElement.parentNode.dataset.n || document.activeElement.parentNode.dataset.kind));
    check(second.startsWith('SUMMARY') && second !== firstFocus, `j moves on (${firstFocus} → ${second})`);
    await page.keyboard.press('k');
    const back = await page.evaluate(() => document.activeElement.tagName + ':' + (document.activeElement.parentNode.dataset.n || document.activeElement.parentNode.dataset.kind));
    check(back === firstFocus, `k moves back (${back})`);
  }
  const wasOpen = await page.evaluate(() => document.activeElement.parentNode.open);
  await page.keyboard.press('Enter');
  check(await page.evaluate((w) => document.activeElement.parentNode.open === !w, wasOpen), 'Enter toggles the focused row');
  await page.keyboard.press('Shift+Tab');
  check(await page.evaluate(() => document.activeElement !== document.body), 'Shift+Tab moves focus within the page');

  // The hostile title is text, and nothing in it ran.
  if (args.hostile) {
    const asText = await page.$$eval('#list summary .title', (ts, h) => ts.some((t) => t.textContent === h), args.hostile);
    check(asText, 'the hostile title is shown as text');
    check(await page.evaluate(() => window.__xss === undefined), 'no script from tracker data ran (window.__xss set)');
    check(await page.$$eval('#list img, #list iframe, #list script, #defs img', (e) => e.length) === 0, 'no element from tracker data');
  }
  check(dialogs.length === 0, `dialogs opened: ${JSON.stringify(dialogs)}`);

  // The plan, read-only.
  if (args['plan-ops'] !== undefined) {
    const plan = await page.$eval('#plan', (p) => ({ hidden: p.hidden, ops: p.querySelectorAll('ol.ops li').length, buttons: p.querySelectorAll('button, form, input').length }));
    check(!plan.hidden && plan.ops === Number(args['plan-ops']) && plan.buttons === 0, `plan section ${JSON.stringify(plan)}, expected ${args['plan-ops']} ops, no controls`);
    await page.$eval('#plan', (p) => p.scrollIntoView());
    await page.screenshot({ path: path.join(args.shots, `${args.name}-plan.png`) });
  } else {
    check(await page.$eval('#plan', (p) => p.hidden), 'no plan section without --plan');
  }

  // Contrast (WCAG AA: 4.5:1 for text) of the page's text colours, light and dark.
  async function contrast() {
    return page.evaluate(() => {
      const rgb = (s) => (s.match(/[\d.]+/g) || []).slice(0, 4).map(Number);
      const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
        .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
      const bgOf = (e) => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length && (c.length < 4 || c[3] > 0)) return c; } return [255, 255, 255]; };
      const out = [];
      document.querySelectorAll('body, .meta, .badge, .count, a, summary .num, td, .chip, .hint, label, .shown, .who').forEach((e) => {
        if (!e.offsetParent && e !== document.body) return;
        const f = lum(rgb(getComputedStyle(e).color)), b = lum(bgOf(e));
        out.push({ sel: e.className || e.tagName, ratio: (Math.max(f, b) + 0.05) / (Math.min(f, b) + 0.05) });
      });
      return out;
    });
  }
  // The timeline tells every snapshot apart, however close in time they were taken: no two
  // markers' boxes, and no two bars', intersect.
  const boxes = (sel) => page.$$eval(sel, (es) => es.map((e) => {
    const b = e.getBoundingClientRect();
    return { l: b.left, t: b.top, r: b.right, b: b.bottom };
  }));
  const meets = (a, b) => a.l < b.r && b.l < a.r && a.t < b.b && b.t < a.b;
  for (const [what, sel] of [['markers', 'figure.chart svg circle'], ['bars', 'figure.chart svg rect']]) {
    const bs = await boxes(sel);
    figures['timeline_' + what] = bs.length;
    let overlaps = 0;
    for (let i = 0; i < bs.length; i++) for (let j = i + 1; j < bs.length; j++) if (meets(bs[i], bs[j])) overlaps++;
    check(overlaps === 0, `timeline: ${overlaps} pair(s) of ${what} overlap: ${JSON.stringify(bs)}`);
  }
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    const ratios = await contrast();
    const worst = ratios.reduce((a, r) => (r.ratio < a.ratio ? r : a), { ratio: 99 });
    figures['min_contrast_' + scheme] = Math.round(worst.ratio * 100) / 100;
    check(worst.ratio >= 4.5, `${scheme}: contrast ${worst.ratio.toFixed(2)} of ${worst.sel} is under 4.5`);
  }
  await page.screenshot({ path: path.join(args.shots, `${args.name}-dark.png`), fullPage: true });
  check(await page.evaluate(() => getComputedStyle(document.body).backgroundColor) !== 'rgb(255, 255, 255)', 'dark mode follows the system');
  await page.emulateMedia({ colorScheme: 'light', media: 'print' });
  check(await page.$eval('#filters', (f) => getComputedStyle(f).display === 'none'), 'print hides the filters');
  await page.emulateMedia({ media: 'screen' });

  check(consoleErrors.length === 0, `console errors: ${JSON.stringify(consoleErrors)}`);
  check(blocked.length === 0, `the page asked the network for ${JSON.stringify(blocked)}`);
  figures.blocked = blocked.length;
  figures.console_errors = consoleErrors.length;
  figures.bytes = fs.statSync(args.html).size;
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ok: failures.length === 0, failures, figures }));
process.exit(failures.length ? 1 : 0);
