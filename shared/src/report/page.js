// backtrack report: renders the embedded diff. Tracker text only ever enters the DOM as
// text (textContent / text nodes), never as markup.
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('data').textContent);
  var diff = data.diff;
  var facts = data.facts || { items: {}, comments: {} };
  var DEFS = { label: 'Labels', milestone: 'Milestones', component: 'Components', version: 'Versions' };
  var CHUNK = 100;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) {
      var k = arguments[i];
      if (k === null || k === undefined) continue;
      parent.appendChild(typeof k === 'string' ? document.createTextNode(k) : k);
    }
    return parent;
  }
  function safeUrl(u) {
    return typeof u === 'string' && /^https?:\/\//i.test(u) ? u : null;
  }
  function show(v) {
    if (v === null || v === undefined || v === '') return '(none)';
    if (typeof v === 'string') return v;
    return JSON.stringify(v);
  }
  function badge(text, kind) { return el('span', 'badge b-' + kind, text); }

  // What kind of change, for the kind filter and its counts.
  function category(c) {
    if (c.kind === 'comment') {
      return c.op === 'added' ? 'comment added' : c.op === 'removed' ? 'comment deleted' : 'comment edited';
    }
    if (c.kind === 'issue') {
      if (c.field === '*') return 'issue ' + c.op;
      return c.field.replace(/_/g, ' ');
    }
    return c.kind + ' ' + (c.field === '*' ? c.op : 'changed');
  }

  // Issues with their changes; definition changes by kind and key.
  var groups = [], byNumber = {}, defGroups = [], defByKey = {};
  diff.issues.forEach(function (entry) {
    var g = { entry: entry, changes: [], cats: {}, hay: null, el: null };
    groups.push(g);
    byNumber[entry.number] = g;
  });
  var catCount = {};
  diff.changes.forEach(function (c) {
    var cat = category(c);
    catCount[cat] = (catCount[cat] || 0) + 1;
    if (DEFS[c.kind]) {
      var k = c.kind + '\u0000' + c.key;
      var d = defByKey[k];
      if (!d) { d = defByKey[k] = { kind: c.kind, key: c.key, changes: [], cats: {} }; defGroups.push(d); }
      d.changes.push(c);
      d.cats[cat] = true;
      return;
    }
    var g = byNumber[c.issue];
    if (g) { g.changes.push(c); g.cats[cat] = true; }
  });
  function itemFacts(g) { return facts.items[g.entry.number] || { labels: [] }; }
  function authorsOf(g) {
    var out = {}, f = itemFacts(g);
    if (f.author) out[f.author] = true;
    g.changes.forEach(function (c) {
      if (c.kind !== 'comment') return;
      var a = facts.comments[c.key] || (c.after && c.after.author) || (c.before && c.before.author);
      if (typeof a === 'string' && a) out[a] = true;
    });
    return out;
  }
  function labelsOf(g) {
    var out = {};
    (itemFacts(g).labels || []).forEach(function (l) { out[l] = true; });
    g.changes.forEach(function (c) {
      if (c.field === 'labels') { [c.before, c.after].forEach(function (v) { if (typeof v === 'string') out[v] = true; }); }
    });
    return out;
  }
  groups.forEach(function (g) { g.labels = labelsOf(g); g.authors = authorsOf(g); });

  // Summary counts: the diff's own figures.
  var counts = document.getElementById('counts');
  Object.keys(diff.summary).forEach(function (k) {
    var n = diff.summary[k];
    var box = el('div', 'count');
    box.setAttribute('data-key', k);
    add(box, el('span', 'n', n), k.replace(/_/g, ' '));
    counts.appendChild(box);
  });

  // Filters.
  var q = document.getElementById('q');
  var fKind = document.getElementById('f-kind');
  var fLabel = document.getElementById('f-label');
  var fAuthor = document.getElementById('f-author');
  var fSbs = document.getElementById('f-sbs');
  function options(select, values, counted) {
    values.forEach(function (v) {
      var o = el('option', null, counted ? v + ' (' + counted[v] + ')' : v);
      o.value = v;
      if (counted) o.setAttribute('data-count', counted[v]);
      select.appendChild(o);
    });
  }
  options(fKind, Object.keys(catCount).sort(), catCount);
  var allLabels = {}, allAuthors = {};
  groups.forEach(function (g) {
    Object.keys(g.labels).forEach(function (l) { allLabels[l] = true; });
    Object.keys(g.authors).forEach(function (a) { allAuthors[a] = true; });
  });
  defGroups.forEach(function (d) { if (d.kind === 'label') allLabels[d.key] = true; });
  options(fLabel, Object.keys(allLabels).sort(), null);
  options(fAuthor, Object.keys(allAuthors).sort(), null);

  function haystack(g) {
    if (g.hay === null) {
      var parts = [g.entry.title, String(g.entry.number), g.entry.key || ''];
      g.changes.forEach(function (c) {
        parts.push(c.key);
        [c.before, c.after].forEach(function (v) {
          if (v !== null && v !== undefined) parts.push(typeof v === 'string' ? v : JSON.stringify(v));
        });
        (c.hunks || []).forEach(function (h) { parts.push(h.lines.join('\n')); });
      });
      Object.keys(g.labels).forEach(function (l) { parts.push(l); });
      Object.keys(g.authors).forEach(function (a) { parts.push(a); });
      g.hay = parts.join('\n').toLowerCase();
    }
    return g.hay;
  }
  function matches(g, f) {
    if (f.kind && !g.cats[f.kind]) return false;
    if (f.label && !g.labels[f.label]) return false;
    if (f.author && !g.authors[f.author]) return false;
    if (f.q && haystack(g).indexOf(f.q) < 0) return false;
    return true;
  }
  function defMatches(d, f) {
    if (f.author) return false;
    if (f.kind && !d.cats[f.kind]) return false;
    if (f.label && !(d.kind === 'label' && d.key === f.label)) return false;
    if (f.q) {
      var text = (d.key + '\n' + d.changes.map(function (c) { return show(c.before) + '\n' + show(c.after); }).join('\n')).toLowerCase();
      if (text.indexOf(f.q) < 0) return false;
    }
    return true;
  }

  // Line diffs.
  function hunkRows(c, sbs) {
    var table = el('table', 'diff' + (sbs ? ' sbs' : ''));
    // Column widths up front: a fixed layout takes them from the first row otherwise,
    // which is the hunk header spanning them all.
    var cols = el('colgroup');
    (sbs ? ['ln', 'code', 'ln', 'code'] : ['ln', 'ln', 'code']).forEach(function (c) { cols.appendChild(el('col', c)); });
    table.appendChild(cols);
    var tb = el('tbody');
    table.appendChild(tb);
    (c.hunks || []).forEach(function (h) {
      var hr = el('tr', 'hunk');
      var td = el('td', null, '@@ -' + h.old_start + ',' + h.old_lines + ' +' + h.new_start + ',' + h.new_lines + ' @@');
      td.colSpan = sbs ? 4 : 3;
      add(tb, add(hr, td));
      var o = h.old_start, n = h.new_start;
      if (h.old_lines === 0) o += 1;
      if (h.new_lines === 0) n += 1;
      if (!sbs) {
        h.lines.forEach(function (line) {
          var s = line.charAt(0), cls = s === '+' ? 'plus' : s === '-' ? 'minus' : '';
          var tr = el('tr', cls);
          add(tr, el('td', 'ln', s === '+' ? '' : o), el('td', 'ln', s === '-' ? '' : n), el('td', 'code', line));
          if (s !== '+') o++;
          if (s !== '-') n++;
          tb.appendChild(tr);
        });
        return;
      }
      var i = 0, L = h.lines;
      while (i < L.length) {
        if (L[i].charAt(0) === ' ') {
          var tr = el('tr');
          add(tr, el('td', 'ln', o++), el('td', 'code', L[i].slice(1)), el('td', 'ln', n++), el('td', 'code', L[i].slice(1)));
          tb.appendChild(tr);
          i++;
          continue;
        }
        var del = [], ins = [];
        while (i < L.length && L[i].charAt(0) === '-') del.push(L[i++].slice(1));
        while (i < L.length && L[i].charAt(0) === '+') ins.push(L[i++].slice(1));
        for (var j = 0; j < Math.max(del.length, ins.length); j++) {
          var r = el('tr');
          if (j < del.length) add(r, el('td', 'ln', o++), el('td', 'code minus', del[j]));
          else add(r, el('td', 'ln'), el('td', 'code'));
          if (j < ins.length) add(r, el('td', 'ln', n++), el('td', 'code plus', ins[j]));
          else add(r, el('td', 'ln'), el('td', 'code'));
          tb.appendChild(r);
        }
      }
    });
    return table;
  }

  function whole(v, textKey) {
    var box = el('div', 'whole');
    if (!v || typeof v !== 'object') { box.appendChild(el('span', 'value', show(v))); return box; }
    var dl = el('dl');
    Object.keys(v).forEach(function (k) {
      if (k === textKey || v[k] === null || (Array.isArray(v[k]) && !v[k].length)) return;
      add(dl, el('dt', null, k.replace(/_/g, ' ')), el('dd', 'value', Array.isArray(v[k]) ? v[k].join(', ') : show(v[k])));
    });
    box.appendChild(dl);
    if (v[textKey]) box.appendChild(el('pre', 'text', v[textKey]));
    return box;
  }

  function changeView(c) {
    var row = el('div', 'change');
    row.setAttribute('data-cat', category(c));
    if (c.kind === 'comment') {
      row.className = 'change comment';
      var who = facts.comments[c.key] || (c.after && c.after.author) || (c.before && c.before.author);
      var head = el('div', 'who');
      add(head, badge(c.op === 'removed' ? 'deleted' : c.op === 'changed' ? 'edited' : 'added', c.op),
        'comment ' + c.key + (who ? ' by ' + who : ''));
      row.appendChild(head);
      if (c.field === '*') {
        var v = c.op === 'added' ? c.after : c.before;
        row.appendChild(el('pre', 'text', v && typeof v === 'object' ? v.body : show(v)));
      } else if (c.hunks) {
        row.appendChild(hunkRows(c, fSbs.checked));
      } else {
        add(row, el('span', 'value before', show(c.before)), el('span', 'arrow', '→'), el('span', 'value', show(c.after)));
      }
      return row;
    }
    if (c.field === '*') {
      add(row, badge(c.op, c.op));
      row.appendChild(whole(c.op === 'added' ? c.after : c.before, data.tracker === 'jira' ? 'description' : 'body'));
      return row;
    }
    row.appendChild(el('span', 'field', c.field.replace(/_/g, ' ')));
    if (c.hunks) { row.appendChild(hunkRows(c, fSbs.checked)); return row; }
    if (c.op === 'added' || c.op === 'removed') {
      add(row, el('span', 'chip ' + (c.op === 'added' ? 'plus' : 'minus'), (c.op === 'added' ? '+ ' : '− ') + show(c.op === 'added' ? c.after : c.before)));
      return row;
    }
    add(row, el('span', 'value before', show(c.before)), el('span', 'arrow', '→'), el('span', 'value', show(c.after)));
    return row;
  }

  function issueLabel(entry) { return entry.key || '#' + entry.number; }

  function issueRow(g) {
    var e = g.entry;
    var det = el('details', 'issue');
    det.setAttribute('data-n', e.number);
    det.setAttribute('data-op', e.op);
    var sum = el('summary');
    add(sum, el('span', 'num', issueLabel(e)), el('span', 'title', e.title), badge(e.op, e.op));
    if (e.pull_request) sum.appendChild(badge('pull request', 'pr'));
    g.changes.forEach(function (c) {
      if (c.field === 'state' || c.field === 'status') sum.appendChild(badge(show(c.before) + ' → ' + show(c.after), 'neutral'));
    });
    sum.appendChild(el('span', 'n-changes', g.changes.length + (g.changes.length === 1 ? ' change' : ' changes')));
    det.appendChild(sum);
    det.fill = function () { fillIssue(det, g); };
    det.addEventListener('toggle', function () {
      if (det.open && !det.querySelector('.body')) det.fill();
    });
    g.el = det;
    return det;
  }
  function fillIssue(det, g) {
    var body = el('div', 'body');
    var url = safeUrl(g.entry.url);
    var f = itemFacts(g);
    var meta = el('p', 'meta');
    if (url) {
      var a = el('a', 'open', 'Open ' + issueLabel(g.entry) + ' on ' + (data.tracker === 'jira' ? 'Jira' : 'GitHub'));
      a.href = url;
      a.rel = 'noopener noreferrer';
      a.target = '_blank';
      meta.appendChild(a);
    }
    if (f.author) add(meta, (url ? ' · ' : '') + (data.tracker === 'jira' ? 'reporter ' : 'opened by ') + f.author);
    if (f.labels && f.labels.length) {
      add(meta, ' · ');
      f.labels.forEach(function (l) { meta.appendChild(el('span', 'chip b-neutral badge', l)); });
    }
    body.appendChild(meta);
    g.changes.forEach(function (c) { body.appendChild(changeView(c)); });
    det.appendChild(body);
  }

  function defRow(d) {
    var det = el('details', 'def');
    det.setAttribute('data-kind', d.kind);
    var sum = el('summary');
    var op = d.changes.some(function (c) { return c.field === '*' && c.op === 'removed'; }) ? 'removed'
      : d.changes.some(function (c) { return c.field === '*' && c.op === 'added'; }) ? 'added' : 'changed';
    add(sum, el('span', 'num', d.kind), el('span', 'title', d.key), badge(op === 'removed' ? 'deleted' : op, op));
    det.appendChild(sum);
    det.addEventListener('toggle', function () {
      if (det.open && !det.querySelector('.body')) det.fill();
    });
    det.fill = function () {
      var body = el('div', 'body');
      d.changes.forEach(function (c) {
        body.appendChild(changeView(c));
        if (c.issues && c.issues.length) {
          var keys = c.issue_keys && c.issue_keys.length ? c.issue_keys : c.issues.map(function (n) { return '#' + n; });
          body.appendChild(el('p', 'folded', (c.op === 'removed' ? 'Removed from ' : 'Carried by ') + keys.length + ' issue(s): ' + keys.join(', ')));
        }
      });
      det.appendChild(body);
    };
    return det;
  }

  // The list: rows built a chunk at a time as the reader scrolls.
  var list = document.getElementById('list');
  var defsBox = document.getElementById('defs');
  var shown = document.getElementById('shown');
  var more = document.getElementById('more');
  var current = [], rendered = 0;
  function renderMore() {
    var frag = document.createDocumentFragment();
    var end = Math.min(current.length, rendered + CHUNK);
    for (; rendered < end; rendered++) frag.appendChild(current[rendered].el || issueRow(current[rendered]));
    list.appendChild(frag);
  }
  function filters() {
    return { q: q.value.trim().toLowerCase(), kind: fKind.value, label: fLabel.value, author: fAuthor.value };
  }
  function apply() {
    var f = filters();
    current = groups.filter(function (g) { return matches(g, f); });
    var defs = defGroups.filter(function (d) { return defMatches(d, f); });
    list.textContent = '';
    rendered = 0;
    renderMore();
    defsBox.textContent = '';
    var lastKind = null;
    defs.forEach(function (d) {
      if (d.kind !== lastKind) { defsBox.appendChild(el('h3', null, DEFS[d.kind])); lastKind = d.kind; }
      defsBox.appendChild(d.el || (d.el = defRow(d)));
    });
    if (!current.length && !defs.length) list.appendChild(el('p', 'empty', diff.changes.length ? 'Nothing matches these filters.' : 'No changes.'));
    shown.textContent = 'Showing ' + current.length + ' of ' + groups.length + ' issue(s) and ' + defs.length + ' of ' + defGroups.length + ' definition(s).';
    shown.setAttribute('data-issues', current.length);
    shown.setAttribute('data-defs', defs.length);
    // For benchmarks and tests: what the list last showed.
    window.__lastApply = { q: f.q, issues: current.length };
  }
  var timer = null;
  q.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(apply, 120); });
  [fKind, fLabel, fAuthor].forEach(function (s) { s.addEventListener('change', apply); });
  fSbs.addEventListener('change', function () {
    // Re-render open issues' bodies in the chosen layout.
    Array.prototype.forEach.call(document.querySelectorAll('details.issue, details.def'), function (d) {
      var b = d.querySelector('.body');
      if (!b) return;
      d.removeChild(b);
      if (d.open) d.fill();
    });
  });
  if ('IntersectionObserver' in window) {
    new IntersectionObserver(function (es) {
      if (es.some(function (e) { return e.isIntersecting; }) && rendered < current.length) renderMore();
    }, { rootMargin: '800px' }).observe(more);
  }
  document.getElementById('expand-all').addEventListener('click', function () {
    Array.prototype.forEach.call(list.querySelectorAll('details.issue'), function (d) { d.open = true; });
  });
  document.getElementById('collapse-all').addEventListener('click', function () {
    Array.prototype.forEach.call(document.querySelectorAll('details[open]'), function (d) { d.open = false; });
  });

  // Keyboard: / search, j/k next/previous issue (loading more at the end), o open link.
  function summaries() { return Array.prototype.slice.call(document.querySelectorAll('#defs summary, #list summary')); }
  document.addEventListener('keydown', function (ev) {
    var t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA')) {
      if (ev.key === 'Escape' && t === q) { q.blur(); }
      return;
    }
    if (ev.key === '/') { ev.preventDefault(); q.focus(); q.select(); return; }
    if (ev.key === 'j' || ev.key === 'k') {
      var all = summaries();
      var at = all.indexOf(t);
      var next = ev.key === 'j' ? at + 1 : Math.max(at - 1, 0);
      if (ev.key === 'j' && next >= all.length && rendered < current.length) { renderMore(); all = summaries(); }
      if (all[next]) { ev.preventDefault(); all[next].focus(); all[next].scrollIntoView({ block: 'nearest' }); }
      return;
    }
    if (ev.key === 'o' && t && t.tagName === 'SUMMARY') {
      var det = t.parentNode;
      if (!det.querySelector('.body')) { det.open = true; det.fill(); }
      var a = det.querySelector('a.open');
      if (a) a.click();
    }
  });

  // Printing: everything that matches, expanded.
  window.addEventListener('beforeprint', function () {
    while (rendered < current.length) renderMore();
    Array.prototype.forEach.call(document.querySelectorAll('details.issue, details.def'), function (d) { d.open = true; });
  });

  // The rollback plan, read-only.
  if (data.plan) {
    var p = data.plan, box = document.getElementById('plan-body');
    document.getElementById('plan').hidden = false;
    add(box, el('p', null, 'Putting the live tracker back to snapshot ' + p.target + (p.target_name ? ' (' + p.target_name + ')' : '') +
      ' takes ' + p.ops.length + ' write(s). Fingerprint ' + p.fingerprint + ' (what `rollback --execute --plan` confirms).'));
    if (p.ops.length) {
      var ol = el('ol', 'ops');
      p.ops.forEach(function (o) { var li = el('li', null, o.text); li.value = o.index + 1; ol.appendChild(li); });
      box.appendChild(ol);
    } else {
      box.appendChild(el('p', 'empty', 'Nothing to restore: the live state already matches.'));
    }
    if (p.irrecoverable.length) {
      add(box, el('h3', 'loss', 'Cannot be restored (' + p.irrecoverable.length + ')'));
      var ul = el('ul', 'losses');
      p.irrecoverable.forEach(function (i) {
        var li = el('li');
        add(li, el('span', 'loss', '✗ ' + i.what), ' — ' + i.reason);
        ul.appendChild(li);
      });
      box.appendChild(ul);
    }
  }

  apply();
  document.documentElement.setAttribute('data-ready', '1');
  if (window.performance && performance.mark) performance.mark('backtrack-ready');
})();
