// First paint of `backtrack report` pages in headless Chromium (Debian's, through
// playwright-core), for the README: per file, the median over --runs fresh pages of
// first-contentful-paint, the page's own "ready" mark (every row of the first screen built,
// filters filled), a search over every change (typing to the list updated, less the 120 ms
// typing pause), and expanding the first issue. Network requests are refused, as in the tests.
//
// usage: BACKTRACK_PLAYWRIGHT=…/node_modules node bench/report-paint.mjs [--runs N] FILE.html…
import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';

const argv = process.argv.slice(2);
let runs = 5;
const files = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--runs') runs = Number(argv[++i]);
  else files.push(argv[i]);
}
const modules = process.env.BACKTRACK_PLAYWRIGHT;
if (!modules || !files.length) { console.error('usage: BACKTRACK_PLAYWRIGHT=DIR node bench/report-paint.mjs [--runs N] FILE.html…'); process.exit(2); }
const { chromium } = createRequire(path.join(modules, 'noop.js'))('playwright-core');
const browser = await chromium.launch({
  executablePath: process.env.BACKTRACK_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const results = [];
try {
  for (const file of files) {
    const url = pathToFileURL(path.resolve(file)).href;
    const m = { fcp: [], ready: [], search: [], expand: [] };
    let rows = 0, changes = 0;
    for (let r = 0; r < runs; r++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      await context.route('**/*', (route) => (route.request().url() === url ? route.continue() : route.abort()));
      const page = await context.newPage();
      await page.goto(url, { waitUntil: 'load' });
      await page.waitForSelector('html[data-ready="1"]', { timeout: 60000 });
      const t = await page.evaluate(() => ({
        fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
        ready: (performance.getEntriesByName('backtrack-ready')[0] || {}).startTime,
        changes: JSON.parse(document.getElementById('data').textContent).diff.changes.length,
        rows: document.querySelectorAll('#list details.issue').length,
      }));
      m.fcp.push(t.fcp); m.ready.push(t.ready); rows = t.rows; changes = t.changes;
      const s0 = Date.now();
      await page.fill('#q', 'line three');
      await page.waitForFunction(() => window.__lastApply && window.__lastApply.q === 'line three', null, { timeout: 30000 }).catch(() => {});
      m.search.push(Date.now() - s0 - 120);
      await page.fill('#q', '');
      await page.waitForFunction(() => window.__lastApply && window.__lastApply.q === '', null, { timeout: 30000 }).catch(() => {});
      const e0 = Date.now();
      await page.click('#list details.issue > summary');
      await page.waitForSelector('#list details.issue[open] > .body', { timeout: 10000 });
      m.expand.push(Date.now() - e0);
      await context.close();
    }
    results.push({
      file: path.basename(file), bytes: fs.statSync(file).size, changes, first_screen_rows: rows, runs,
      fcp_ms: Math.round(median(m.fcp)), ready_ms: Math.round(median(m.ready)),
      search_ms: Math.round(median(m.search)), expand_ms: Math.round(median(m.expand)),
    });
  }
} finally {
  await browser.close();
}
for (const r of results) {
  console.log(`${r.file}: ${r.changes} changes, ${(r.bytes / 1e6).toFixed(2)} MB; median of ${r.runs}: first contentful paint ${r.fcp_ms} ms, ready ${r.ready_ms} ms (${r.first_screen_rows} rows built), search over every change ${r.search_ms} ms, expand an issue ${r.expand_ms} ms`);
}
console.log(JSON.stringify(results));
