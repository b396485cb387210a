/* jobplane console: a client of the public JSON API, nothing more.
 *
 * Pages (the part after '#'): /  the fleet overview,  /sites  the sites,
 * /sites/{id}  one site,  /sites/{id}/jobs/{jobId}  one job with its log.
 * The credential (a JWT or an API key) is kept in sessionStorage: for this
 * tab, until it closes or "Sign out". The page in view is read again every
 * REFRESH_MS while the tab is visible; a part is redrawn only when what the
 * server answered changed. Text from routers and operators only ever
 * becomes DOM text (h() below); nothing is parsed as HTML. */
'use strict';

const REFRESH_MS = 3000;
const PAGE = 50; /* sites per page */
const JOB_PAGE = 20;
const KEY = 'jobplane.credential';

/* ---- DOM ------------------------------------------------------------- */

/* h('tag', {attr: value, onclick: fn}, child, ...): children are nodes or
 * strings (text nodes), arrays are flattened, null/false skipped. */
function h(tag, attrs, ...kids) {
  const el = tag === 'svg' || tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.replace(/^svg:/, ''))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  const add = (c) => {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) c.forEach(add);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  };
  kids.forEach(add);
  return el;
}
const $ = (sel, root) => (root || document).querySelector(sel);
const main = () => document.getElementById('main');
function announce(text) {
  const a = document.getElementById('announce');
  a.textContent = '';
  setTimeout(() => { a.textContent = text; }, 50);
}
/* Redraws box with build(data) only when data differs from the last draw. */
function draw(box, data, build) {
  const sig = JSON.stringify(data);
  if (box.dataset.sig === sig) return;
  box.dataset.sig = sig;
  box.replaceChildren(...[].concat(build(data)));
}
function message(box, kind, text) {
  box.className = 'msg ' + kind;
  box.textContent = text;
}

/* ---- time ------------------------------------------------------------ */

function ago(ts) {
  if (!ts) return 'never';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(ts)) / 1000));
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  return Math.floor(s / 86400) + ' d ago';
}
const local = (ts) => new Date(ts).toLocaleString();
function when(ts) {
  return ts ? h('time', { datetime: ts, title: local(ts) }, ago(ts)) : h('span', { class: 'muted' }, '—');
}
function uptime(s) {
  if (s === null || s === undefined) return '—';
  const d = Math.floor(s / 86400), hh = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + 'd ' : '') + hh + 'h ' + m + 'm';
}

/* ---- the API --------------------------------------------------------- */

class ApiError extends Error {
  constructor(status, code, text) { super(text); this.status = status; this.code = code; }
}
const credential = () => sessionStorage.getItem(KEY);

/* api(method, path, {body, headers, text}) -> {data, res}; throws ApiError.
 * A 401 ends the session: the sign-in form says why. */
async function api(method, path, opts = {}) {
  const headers = Object.assign({ Authorization: 'Bearer ' + credential() }, opts.headers || {});
  let res;
  try {
    res = await fetch(path, { method, headers, body: opts.body, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', 'The server did not answer (' + e.message + ').');
  }
  if (!res.ok) {
    let code = '', text = res.status + ' ' + res.statusText;
    try { const e = await res.json(); code = e.code || ''; text = e.message || text; } catch (_) { /* not JSON */ }
    if (res.status === 401 && !opts.signIn) signOut('Signed out: the server refused the credential (' + text + ').');
    throw new ApiError(res.status, code, text);
  }
  const data = res.status === 204 ? null : opts.text ? await res.text() : await res.json();
  return { data, res };
}
/* the cursor of a Link: <...?...&NAME=ID>; rel="next" header, or null */
function nextCursor(res, name) {
  const link = res.headers.get('Link') || '';
  const m = /<([^>]*)>;\s*rel="next"/.exec(link);
  return m ? new URL(m[1], location.origin).searchParams.get(name) : null;
}
function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') u.set(k, v);
  return u.toString();
}
/* a random UUID (v4) for an idempotency key; crypto.randomUUID needs https */
function uuid4() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/* ---- shared pieces ---------------------------------------------------- */

/* Keyset paging: the cursors of the pages seen, Previous and Next buttons
 * (ids idp + 'prev', idp + 'next') that move along them and call go(). */
function pager(idp, prevText, nextText, name, go) {
  const p = {
    cursors: [''], at: 0,
    prev: h('button', { type: 'button', class: 'secondary', id: idp + 'prev' }, prevText),
    next: h('button', { type: 'button', class: 'secondary', id: idp + 'next' }, nextText),
    cursor: () => p.cursors[p.at],
    reset() { p.cursors = ['']; p.at = 0; },
    /* after a page's answer: its Link names the next page, or none */
    update(res) {
      const more = nextCursor(res, name);
      p.cursors.length = p.at + 1;
      if (more) p.cursors.push(more);
      p.prev.disabled = p.at === 0;
      p.next.disabled = !more;
    },
  };
  p.prev.addEventListener('click', () => { if (p.at > 0) { p.at--; go(); } });
  p.next.addEventListener('click', () => { if (p.cursors[p.at + 1] !== undefined) { p.at++; go(); } });
  return p;
}

const badge = (status) => h('span', { class: 'badge ' + status }, status);
function pulse(site) {
  return [h('span', { class: 'dot ' + (site.has_pulse ? 'on' : 'off'), 'aria-hidden': 'true' }),
    site.has_pulse ? 'online' : 'offline',
    site.last_seen_at ? [' · ', when(site.last_seen_at)] : site.adopted_at ? '' : ' · never adopted'];
}
/* a table in a focusable scrolling region; rows: arrays of cells */
function table(label, heads, rows, empty) {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('div', { class: 'table-wrap', role: 'region', 'aria-label': label, tabindex: '0' },
    h('table', {}, h('caption', { class: 'sr-only' }, label),
      h('thead', {}, h('tr', {}, heads.map((t) => h('th', { scope: 'col', class: t.cls || null }, t.text || t)))),
      h('tbody', {}, rows.map((r) => h('tr', r.attrs || {}, r.cells.map((c) =>
        c && c.td ? h('td', c.td, c.v) : h('td', {}, c)))))));
}
const siteLink = (id, name) => h('a', { href: '#/sites/' + id }, name || id);
const jobLink = (siteId, job, text) => h('a', { href: '#/sites/' + siteId + '/jobs/' + job.id }, text);
function copyButton(getText, label) {
  const b = h('button', { type: 'button', class: 'secondary' }, label || 'Copy');
  b.addEventListener('click', async () => {
    const t = getText();
    try {
      await navigator.clipboard.writeText(t);
    } catch (_) { /* plain http other than localhost: select it for the user */
      const ta = h('textarea', { 'aria-hidden': 'true', class: 'sr-only' });
      ta.value = t;
      document.body.append(ta);
      ta.select();
      document.execCommand('copy');
      ta.remove();
    }
    b.textContent = 'Copied';
    announce('Copied to the clipboard');
    setTimeout(() => { b.textContent = label || 'Copy'; }, 2000);
  });
  return b;
}

/* ---- sign in ----------------------------------------------------------- */

let page = null; /* {refresh} of the page in view */

function signOut(why) {
  sessionStorage.removeItem(KEY);
  page = null;
  showSignIn(why);
}

function showSignIn(why) {
  document.getElementById('nav').hidden = true;
  const err = h('p', { class: 'msg error', role: 'alert', id: 'signin-error' });
  if (why) message(err, 'error', why);
  const input = h('input', { id: 'credential', type: 'password', autocomplete: 'off', required: true,
    'aria-describedby': 'credential-help', spellcheck: 'false', class: 'mono' });
  const form = h('form', { class: 'panel', 'aria-labelledby': 'signin-title' },
    h('label', { for: 'credential' }, 'Operator token or API key'),
    input,
    h('p', { id: 'credential-help', class: 'muted' },
      'A JWT (jobplane token mints one) or an API key (id:team:secret). It needs sites:read and jobs:read; ' +
      'it is kept in this browser tab only, until the tab closes or you sign out.'),
    h('button', { type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const tok = input.value.trim();
    if (!tok) return message(err, 'error', 'Paste a token or an API key first.');
    sessionStorage.setItem(KEY, tok);
    try {
      await api('GET', '/overview', { signIn: true });
      err.textContent = '';
      if (!location.hash || location.hash === '#') location.hash = '#/';
      route();
    } catch (e) {
      sessionStorage.removeItem(KEY);
      const why = e.status === 401 ? 'The server refused this credential: ' + e.message
        : e.status === 403 ? 'This credential is valid but lacks the scopes sites:read and jobs:read.'
          : e.message;
      message(err, 'error', why);
      input.focus();
    }
  });
  main().replaceChildren(h('h1', { id: 'signin-title' }, 'Sign in to jobplane'), err, form);
  document.title = 'Sign in · jobplane';
  input.focus();
}

/* ---- overview ---------------------------------------------------------- */

function overviewPage() {
  const cards = h('div', { class: 'cards', id: 'cards' });
  const failures = h('div', { id: 'failures' });
  const stuck = h('div', { id: 'stuck' });
  const rollouts = h('section', { id: 'rollouts', 'aria-labelledby': 'h-rollouts', hidden: true });
  const err = h('p', { class: 'msg', role: 'alert' });
  main().replaceChildren(h('h1', {}, 'Fleet overview'), err,
    h('section', { 'aria-label': 'Counts' }, cards),
    h('section', { 'aria-labelledby': 'h-failures' }, h('h2', { id: 'h-failures' }, 'Newest failures'), failures),
    h('section', { 'aria-labelledby': 'h-stuck' }, h('h2', { id: 'h-stuck' }, 'Stuck jobs'), stuck),
    rollouts);
  const card = (k, label, v, href, alert) => h(href ? 'a' : 'div',
    { class: 'card' + (alert && v ? ' alert' : ''), href: href || null, 'data-k': k },
    h('span', { class: 'v' }, String(v)), h('span', { class: 'k' }, label));
  const jobRows = (list, stamp) => list.map((j) => ({
    cells: [when(j[stamp]), { td: { class: 'wrap' }, v: siteLink(j.site_id, j.site_name) },
      { td: { class: 'wrap' }, v: jobLink(j.site_id, j, j.description) }, badge(j.status)],
  }));
  return {
    title: 'Overview',
    async refresh() {
      let o;
      try { o = (await api('GET', '/overview')).data; } catch (e) { return message(err, 'error', e.message); }
      message(err, '', '');
      draw(cards, [o.sites, o.jobs, o.stuck_after], () => [
        card('sites.online', 'sites online', o.sites.online, '#/sites?pulse=true'),
        card('sites.offline', 'sites offline', o.sites.offline, '#/sites?pulse=false', true),
        card('sites.unadopted', 'never adopted', o.sites.unadopted),
        card('jobs.pending', 'jobs pending', o.jobs.pending),
        card('jobs.delivered', 'jobs delivered', o.jobs.delivered),
        card('jobs.running', 'jobs running', o.jobs.running),
        card('jobs.stuck', `stuck (delivered > ${Math.round(o.stuck_after / 60)} min)`, o.jobs.stuck, null, true),
        card('jobs.failed_24h', 'failed in 24 h', o.jobs.failed_24h, null, true),
      ]);
      draw(failures, o.failures, (l) => table('Newest failures',
        ['Failed', 'Site', 'Job', 'State'], jobRows(l, 'failed_at'), 'No job has failed.'));
      draw(stuck, o.stuck, (l) => table('Stuck jobs',
        ['Queued', 'Site', 'Job', 'State'], jobRows(l, 'created_at'), 'No job is stuck.'));
      rollouts.hidden = !o.rollouts || !o.rollouts.length;
      draw(rollouts, o.rollouts, (l) => [h('h2', { id: 'h-rollouts' }, 'Running rollouts'),
        table('Running rollouts', ['Rollout', 'State', 'Wave', 'Progress'], (l || []).map((r) => {
          const t = r.targets, done = t.completed + t.failed + t.skipped + t.cancelled;
          const pct = t.total ? Math.round(100 * done / t.total) : 0;
          const bar = h('span', { class: 'progress', role: 'progressbar', 'aria-label': 'Progress of ' + r.description,
            'aria-valuemin': '0', 'aria-valuemax': String(t.total), 'aria-valuenow': String(done) }, h('span'));
          bar.firstChild.style.width = pct + '%';
          return { cells: [{ td: { class: 'wrap' }, v: r.description }, badge(r.status),
            r.wave === 0 ? 'canary' : `${r.wave} of ${r.waves}`,
            [bar, `${done} of ${t.total} finished: ${t.completed} completed, ${t.failed} failed; ${t.queued} queued, ${t.waiting} waiting`]] };
        }), 'No rollout is running.')]);
    },
  };
}

/* ---- sites --------------------------------------------------------------- */

function sitesPage(params) {
  const state = { q: '', pulse: params.get('pulse') || '', version: '' };
  const q = h('input', { id: 'f-q', type: 'search', autocomplete: 'off', placeholder: 'name or identity' });
  const pulseSel = h('select', { id: 'f-pulse' }, h('option', { value: '' }, 'all'),
    h('option', { value: 'true' }, 'online'), h('option', { value: 'false' }, 'offline'));
  pulseSel.value = state.pulse;
  const ver = h('input', { id: 'f-version', type: 'text', autocomplete: 'off', placeholder: '7.15', size: '8' });
  const list = h('div', { id: 'site-list' });
  const info = h('span', { class: 'muted', id: 'page-info', 'aria-live': 'polite' });
  const pg = pager('', 'Previous', 'Next', 'after', () => self.refresh());
  const err = h('p', { class: 'msg', role: 'alert' });
  const addBox = h('div', { id: 'add-site' });
  let timer = null, seq = 0;
  const reload = () => { pg.reset(); delete list.dataset.sig; self.refresh(); };
  q.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => { state.q = q.value.trim(); reload(); }, 250); });
  ver.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => { state.version = ver.value.trim(); reload(); }, 250); });
  pulseSel.addEventListener('change', () => { state.pulse = pulseSel.value; reload(); });
  main().replaceChildren(
    h('h1', {}, 'Sites'), err,
    h('form', { role: 'search', class: 'row', 'aria-label': 'Filter the sites', onsubmit: (e) => e.preventDefault() },
      h('div', {}, h('label', { for: 'f-q' }, 'Search'), q),
      h('div', {}, h('label', { for: 'f-pulse' }, 'Status'), pulseSel),
      h('div', {}, h('label', { for: 'f-version' }, 'RouterOS version'), ver)),
    h('div', { class: 'pager' }, pg.prev, pg.next, info),
    list,
    h('h2', {}, 'Add a site'), addBox);
  addBox.append(addSiteForm());
  const self = {
    title: 'Sites',
    async refresh() {
      const my = ++seq;
      const path = '/sites?' + qs({ limit: PAGE, include: 'last_job', after: pg.cursor(),
        q: state.q, has_pulse: state.pulse, version: state.version });
      const t0 = performance.now();
      let r;
      try { r = await api('GET', path); } catch (e) { return message(err, 'error', e.message); }
      if (my !== seq) return; /* a newer request was made meanwhile */
      message(err, '', '');
      pg.update(r.res);
      draw(list, r.data, (l) => table('Sites', ['Name', 'Identity', 'Status', 'RouterOS', { text: 'Model', cls: 'hide-narrow' }, 'Last job'],
        l.map((s) => ({
          attrs: { 'data-site': s.id },
          cells: [{ td: { class: 'wrap' }, v: siteLink(s.id, s.name) }, { td: { class: 'wrap' }, v: s.identity || '—' },
            pulse(s), s.software_version || '—', { td: { class: 'hide-narrow' }, v: s.model || s.board_name || '—' },
            s.last_job ? [badge(s.last_job.status), ' ', when(s.last_job.created_at)] : h('span', { class: 'muted' }, 'none')],
        })), 'No site matches.'));
      info.textContent = r.data.length ? `Page ${pg.at + 1}: sites ${pg.at * PAGE + 1}–${pg.at * PAGE + r.data.length}` : '';
      list.dataset.ms = String(Math.round(performance.now() - t0));
    },
  };
  return self;
}

function addSiteForm() {
  const name = h('input', { id: 'new-name', type: 'text', required: true, maxlength: '100', autocomplete: 'off' });
  const serial = h('input', { id: 'new-serial', type: 'text', maxlength: '64', autocomplete: 'off', class: 'mono' });
  const out = h('div', { 'aria-live': 'polite' });
  const err = h('p', { class: 'msg', role: 'alert' });
  const form = h('form', { class: 'panel', 'aria-label': 'Add a site' },
    h('div', { class: 'row' },
      h('div', {}, h('label', { for: 'new-name' }, 'Name'), name),
      h('div', {}, h('label', { for: 'new-serial' }, 'Expected serial number (optional)'), serial),
      h('div', {}, h('button', { type: 'submit' }, 'Create site'))),
    err, out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { name: name.value };
    if (serial.value.trim()) body.expected_serial = serial.value.trim();
    try {
      const { data } = await api('POST', '/sites', { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
      message(err, '', '');
      const line = data.bootstrap;
      out.replaceChildren(
        h('p', {}, 'Site ', siteLink(data.id, data.name), ' created. Paste this line into the router\'s terminal before ',
          h('time', { datetime: data.bootstrap_expires_at }, local(data.bootstrap_expires_at)), ':'),
        h('pre', { id: 'bootstrap', class: 'mono' }, line),
        copyButton(() => line, 'Copy the bootstrap line'));
      name.value = '';
      serial.value = '';
    } catch (e) { message(err, 'error', e.message); }
  });
  return form;
}

/* ---- one site ------------------------------------------------------------ */

/* an SVG line chart of points [{t: ms, v: number}] with a time axis */
function chart(points, { title, cls, fmt, max }) {
  const W = 600, H = 180, L = 56, R = 10, T = 10, B = 28;
  const vals = points.filter((p) => p.v !== null && p.v !== undefined);
  const label = vals.length
    ? `${title}: ${vals.length} samples from ${local(vals[0].t)} to ${local(vals[vals.length - 1].t)}, latest ${fmt(vals[vals.length - 1].v)}, highest ${fmt(Math.max(...vals.map((p) => p.v)))}`
    : `${title}: no samples yet`;
  const svg = h('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label });
  svg.append(h('svg:title', {}, label));
  const axis = (x1, y1, x2, y2) => h('svg:line', { class: 'axis', x1, y1, x2, y2 });
  svg.append(axis(L, T, L, H - B), axis(L, H - B, W - R, H - B));
  if (vals.length < 2) {
    svg.append(h('svg:text', { x: L + 10, y: H / 2 }, vals.length ? 'one sample so far' : 'no samples yet'));
    return svg;
  }
  const t0 = vals[0].t, t1 = vals[vals.length - 1].t;
  const top = max || Math.max(1, ...vals.map((p) => p.v)) * 1.1;
  const x = (t) => L + (W - L - R) * (t1 === t0 ? 0 : (t - t0) / (t1 - t0));
  const y = (v) => H - B - (H - B - T) * (v / top);
  for (const f of [0, 0.5, 1]) {
    svg.append(h('svg:text', { x: L - 6, y: y(top * f) + 4, 'text-anchor': 'end' }, fmt(top * f)));
    svg.append(axis(L - 3, y(top * f), L, y(top * f)));
  }
  const span = t1 - t0, long = span > 86400e3;
  for (let i = 0; i <= 4; i++) {
    const t = t0 + span * i / 4, d = new Date(t);
    const text = (long ? d.toLocaleDateString([], { day: '2-digit', month: '2-digit' }) + ' ' : '') +
      d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: span < 600e3 ? '2-digit' : undefined });
    svg.append(axis(x(t), H - B, x(t), H - B + 4),
      h('svg:text', { x: x(t), y: H - 8, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle' }, text));
  }
  svg.append(h('svg:polyline', { class: 'line ' + cls, points: vals.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ') }));
  return svg;
}
function bytes(b) { /* 512 B, 12.3 KiB, 248 MiB */
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return (i && b < 10 ? b.toFixed(1) : Math.round(b)) + ' ' + units[i];
}

function sitePage(id) {
  const head = h('div');
  const facts = h('div', { id: 'facts' });
  const charts = h('div', { class: 'charts', id: 'charts' });
  const jobs = h('div', { id: 'jobs' });
  const backups = h('div', { id: 'backups' });
  const diff = h('div', { id: 'diff', 'aria-live': 'polite' });
  const err = h('p', { class: 'msg', role: 'alert' });
  const state = { armed: null };
  const pg = pager('jobs-', 'Newer', 'Older', 'before', () => self.refresh());
  const backupBtn = h('button', { type: 'button', class: 'secondary', id: 'request-backup' }, 'Back up now');
  const bmsg = h('p', { class: 'msg', role: 'status' });
  backupBtn.addEventListener('click', async () => {
    try { await api('POST', '/backup/' + id); message(bmsg, 'ok', 'Backup job queued.'); self.refresh(); } catch (e) { message(bmsg, 'error', e.message); }
  });
  main().replaceChildren(
    h('p', { class: 'crumbs' }, h('a', { href: '#/sites' }, 'Sites')), head, err,
    h('div', { class: 'grid2' },
      h('section', { 'aria-labelledby': 'h-facts' }, h('h2', { id: 'h-facts' }, 'Router'), facts),
      h('section', { 'aria-labelledby': 'h-queue' }, h('h2', { id: 'h-queue' }, 'Queue a job'), jobForm(id, () => self.refresh()))),
    h('section', { 'aria-labelledby': 'h-load' }, h('h2', { id: 'h-load' }, 'Load, last 24 hours'), charts),
    h('section', { 'aria-labelledby': 'h-jobs' }, h('h2', { id: 'h-jobs' }, 'Jobs'), jobs, h('div', { class: 'pager' }, pg.prev, pg.next)),
    h('section', { 'aria-labelledby': 'h-backups' }, h('h2', { id: 'h-backups' }, 'Backups'), backupBtn, bmsg, backups, diff));

  /* a pending job's Cancel: the first press arms it (for 6 s), the second
   * cancels; a redraw meanwhile keeps it armed */
  function label(button, job) {
    const armed = state.armed === job.id;
    button.textContent = armed ? 'Confirm cancel' : 'Cancel';
    button.setAttribute('aria-label', (armed ? 'Confirm: cancel the job ' : 'Cancel the job ') + job.description);
  }
  async function cancel(job, button) {
    if (state.armed !== job.id) {
      state.armed = job.id;
      label(button, job);
      setTimeout(() => {
        if (state.armed !== job.id) return;
        state.armed = null;
        const b = jobs.querySelector(`[data-cancel="${job.id}"]`);
        if (b) label(b, job);
      }, 6000);
      return;
    }
    state.armed = null;
    try {
      await api('DELETE', `/site/${id}/job/${job.id}`);
      announce('Job cancelled');
      message(err, 'ok', `Job "${job.description}" cancelled.`);
    } catch (e) { message(err, 'error', e.message); }
    delete jobs.dataset.sig;
    self.refresh();
  }
  const self = {
    title: 'Site',
    async refresh() {
      let site, list, bl, stats;
      const day = (d) => d.toISOString().slice(0, 10);
      try {
        [site, list, bl, stats] = await Promise.all([
          api('GET', '/sites/' + id),
          api('GET', `/site/${id}/job?` + qs({ limit: JOB_PAGE, before: pg.cursor() })),
          api('GET', '/backup/' + id).catch((e) => (e.status === 403 ? { data: null } : Promise.reject(e))),
          api('GET', `/sites/${id}/mikrotik-stats?` + qs({ start_date: day(new Date(Date.now() - 86400e3)), end_date: day(new Date()) })),
        ]);
      } catch (e) { return message(err, 'error', e.message); }
      if (page !== self) return; /* the user went elsewhere meanwhile */
      const s = site.data;
      this.title = s.name;
      document.title = s.name + ' · jobplane';
      draw(head, s.name, () => h('h1', {}, s.name));
      draw(facts, s, () => h('dl', { class: 'facts' }, [
        ['Status', pulse(s)], ['Identity', s.identity || '—'], ['RouterOS', s.software_version || '—'],
        ['Model', s.model || '—'], ['Board', s.board_name || '—'], ['Architecture', s.architecture_name || '—'],
        ['Serial number', s.serial_number || '—'], ['Uptime', uptime(s.uptime)],
        ['Last seen from', s.last_seen_from || '—'], ['Adopted', s.adopted_at ? [when(s.adopted_at), s.adopted_from ? ' from ' + s.adopted_from : ''] : 'not yet'],
        ['Site id', h('code', {}, s.id)],
      ].map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
      const cut = Date.now() - 86400e3;
      const pts = stats.data.map((p) => ({ t: Date.parse(p.created_at), cpu: p.cpu_load, mem: p.memory_free })).filter((p) => p.t >= cut);
      draw(charts, pts, () => [
        h('figure', {}, h('figcaption', {}, 'CPU load'), chart(pts.map((p) => ({ t: p.t, v: p.cpu })), { title: 'CPU load', cls: 'cpu', fmt: (v) => Math.round(v) + ' %', max: 100 })),
        h('figure', {}, h('figcaption', {}, 'Free memory'), chart(pts.map((p) => ({ t: p.t, v: p.mem })), { title: 'Free memory', cls: 'mem', fmt: bytes })),
      ]);
      pg.update(list.res);
      draw(jobs, list.data, () => table('Jobs of this site, newest first',
        ['Created', 'Job', 'State', 'Finished', 'Flags', 'Action'],
        list.data.map((j) => {
          const act = j.status === 'pending' ? h('button', { type: 'button', class: 'danger', 'data-cancel': j.id }) : '';
          if (act) {
            label(act, j);
            act.addEventListener('click', () => cancel(j, act));
          }
          const flags = [j.should_backup && 'backup', j.express_execute && 'express', j.needs_acknowledgement && 'ack'].filter(Boolean).join(', ');
          return {
            attrs: { 'data-job': j.id },
            cells: [when(j.created_at), { td: { class: 'wrap' }, v: jobLink(id, j, j.description) }, badge(j.status),
              when(j.completed_at || j.failed_at), flags || '—', act],
          };
        }), 'No job yet.'));
      draw(backups, bl.data, (l) => l === null ? h('p', { class: 'muted' }, 'This credential may not read backups (backups:read).') : backupList(id, l, diff));
    },
  };
  return self;
}

function backupList(id, l, diffBox) {
  if (!l.length) return h('p', { class: 'muted' }, 'No backup yet.');
  const radio = (group, i, f) => h('input', { type: 'radio', name: group, value: f.filename, id: `${group}-${i}`,
    'aria-label': `${group === 'from' ? 'Compare from' : 'Compare to'} ${f.filename}`, checked: group === 'from' ? i === 1 : i === 0 });
  const form = h('form', { 'aria-label': 'Compare two backups' },
    table('Backups, newest first', ['From', 'To', 'File', 'Taken', 'Size', 'Content'],
      l.map((f, i) => ({ cells: [radio('from', i, f), radio('to', i, f), h('code', {}, f.filename), when(f.created_at), f.size,
        f.unchanged ? 'same as the one before' : 'changed'] })), ''),
    h('div', { class: 'pager' }, h('button', { type: 'submit', id: 'show-diff', disabled: l.length < 2 }, 'Show the difference')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const from = form.elements.from.value, to = form.elements.to.value;
    try {
      const { data } = await api('GET', `/sites/${id}/backups/${encodeURIComponent(from)}/diff/${encodeURIComponent(to)}`, { text: true });
      diffBox.replaceChildren(h('h3', {}, `Changes from ${from} to ${to}`), data ? diffView(data) : h('p', {}, 'The two backups are the same.'));
    } catch (e) { diffBox.replaceChildren(h('p', { class: 'msg error', role: 'alert' }, e.message)); }
  });
  return form;
}

/* a unified diff, each line keeping its + or - (colour is not the only sign) */
function diffView(text) {
  const lines = text.replace(/\n$/, '').split('\n');
  return h('pre', { class: 'diff', tabindex: '0', 'aria-label': 'Unified diff' }, lines.map((l) => {
    const cls = l.startsWith('+++') || l.startsWith('---') ? 'meta' : l[0] === '+' ? 'add' : l[0] === '-' ? 'del' : l.startsWith('@@') ? 'hunk' : '';
    return h('span', { class: cls || null }, l || ' ');
  }));
}

function jobForm(siteId, done) {
  let key = uuid4();
  const script = h('textarea', { id: 'job-script', class: 'mono', rows: '7', required: true, spellcheck: 'false', maxlength: '10000' });
  const desc = h('input', { id: 'job-desc', type: 'text', required: true, minlength: '3', maxlength: '100' });
  const sw = (idv, text, on) => h('label', { class: 'check', for: idv }, h('input', { type: 'checkbox', id: idv, checked: on }), text);
  const keyOut = h('code', { id: 'job-key' }, key);
  const msg = h('p', { class: 'msg', role: 'status' });
  const confirm = h('input', { id: 'job-confirm', type: 'number', min: '30', max: '3600', step: '1', inputmode: 'numeric', placeholder: 'none' });
  const form = h('form', { class: 'panel', 'aria-label': 'Queue a job' },
    h('label', { for: 'job-script' }, 'RouterOS script'), script,
    h('label', { for: 'job-desc' }, 'Description (3 to 100 characters)'), desc,
    h('fieldset', {}, h('legend', {}, 'Options'),
      sw('job-backup', 'Back up the configuration first', false),
      sw('job-express', 'Express delivery', false),
      sw('job-ack', 'Needs acknowledgement (the router reports busy and done)', true)),
    h('fieldset', {}, h('legend', {}, 'On the router'),
      sw('job-dry', 'Dry run: parse the script, run nothing', false),
      sw('job-output', 'Capture what the script prints (RouterOS 7.13+)', false),
      h('label', { for: 'job-confirm' }, 'Revert unless confirmed within (seconds, 30 to 3600; empty: no revert)'), confirm),
    h('p', { class: 'muted' }, 'Idempotency key: ', keyOut, ' (sending again with it queues nothing twice)'),
    h('button', { type: 'submit' }, 'Queue the job'), msg);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const b = (idv) => String($('#' + idv, form).checked);
    try {
      const { data, res } = await api('POST', `/site/${siteId}/job`, {
        body: script.value,
        headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Idempotency-Key': key, 'X-Description': desc.value,
          'X-Backup': b('job-backup'), 'X-Express-Execute': b('job-express'), 'X-Needs-Ack': b('job-ack'),
          'X-Dry-Run': b('job-dry'), 'X-Capture-Output': b('job-output'),
          ...(confirm.value.trim() ? { 'X-Confirm-Within': confirm.value.trim() } : {}) },
      });
      message(msg, 'ok', res.status === 201 ? `Queued "${data.description}".` : `Already queued with this key: "${data.description}".`);
      key = uuid4();
      keyOut.textContent = key;
      script.value = '';
      desc.value = '';
      done();
    } catch (e) { message(msg, 'error', e.message); }
  });
  return form;
}

/* ---- one job ----------------------------------------------------------- */

/* what the job asked of the router beyond running its script */
function routerSide(j) {
  const o = [];
  if (j.dry_run) o.push('dry run: parsed, nothing runs');
  if (j.expects_reboot) o.push('expects a reboot');
  if (j.capture_output) o.push('its output is captured');
  if (j.confirm_within) o.push(`reverted unless confirmed within ${j.confirm_within} s`);
  if (j.backup_sensitive) o.push('its backup keeps secrets (encrypted)');
  return o.length ? o.join('; ') : 'runs the script';
}

function jobPage(siteId, jobId) {
  const head = h('div'), facts = h('div'), script = h('div'), output = h('div'), log = h('div', { id: 'log' });
  const err = h('p', { class: 'msg', role: 'alert' });
  const crumb = h('a', { href: '#/sites/' + siteId, id: 'site-crumb' }, 'site');
  main().replaceChildren(h('p', { class: 'crumbs' }, h('a', { href: '#/sites' }, 'Sites'), ' / ', crumb),
    head, err, facts,
    h('section', { 'aria-labelledby': 'h-script' }, h('h2', { id: 'h-script' }, 'Script'), script),
    output,
    h('section', { 'aria-labelledby': 'h-log' }, h('h2', { id: 'h-log' }, 'Log'), log));
  const self = {
    title: 'Job',
    async refresh() {
      let j, site, lines, out = null;
      try {
        [j, site] = await Promise.all([api('GET', `/site/${siteId}/job/${jobId}`), api('GET', '/sites/' + siteId)]);
        j = j.data;
        lines = (await api('GET', '/' + j.log_url)).data;
        if (j.capture_output) out = (await api('GET', `/site/${siteId}/job/${jobId}/output`, { text: true })).data;
      } catch (e) { return message(err, 'error', e.status === 404 ? 'No such job: it was cancelled, or it is older than the retention.' : e.message); }
      if (page !== self) return; /* the user went elsewhere meanwhile */
      crumb.textContent = site.data.name;
      document.title = j.description + ' · jobplane';
      draw(head, [j.description, j.status], () => h('h1', {}, j.description, ' ', badge(j.status)));
      draw(facts, j, () => h('dl', { class: 'facts', id: 'job-facts' }, [
        ['State', badge(j.status)], ['Created', [when(j.created_at), ' (' + local(j.created_at) + ')']],
        ['Started', when(j.started_at)], ['Completed', when(j.completed_at)], ['Failed', when(j.failed_at)],
        ...(j.reverted_at ? [['Reverted', when(j.reverted_at)]] : []),
        ['Token', h('code', {}, j.token)], ['Idempotency key', h('code', {}, j.idempotency_key)],
        ['Backup before', j.should_backup ? (j.associated_backup ? h('code', {}, j.associated_backup) : 'asked, none yet') : 'no'],
        ['Express', j.express_execute ? 'yes' : 'no'], ['Acknowledged', j.needs_acknowledgement ? 'yes' : 'no'],
        ['On the router', routerSide(j)],
        ['Rollout', j.rollout_id || '—'],
      ].map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
      draw(script, j.script, () => h('pre', { class: 'mono', id: 'job-script-text', tabindex: '0', 'aria-label': 'Script' }, j.script));
      draw(output, [j.capture_output, out], () => (j.capture_output
        ? h('section', { 'aria-labelledby': 'h-output' }, h('h2', { id: 'h-output' }, 'Output'),
          out === null ? h('p', { class: 'muted' }, 'Nothing arrived yet.')
            : h('pre', { class: 'mono', id: 'job-output', tabindex: '0', 'aria-label': 'What the script printed' }, out))
        : h('div')));
      draw(log, lines, (l) => table('Log of the job', ['Time', 'Message'],
        l.map((e) => ({ cells: [h('time', { datetime: e.timestamp }, local(e.timestamp)), { td: { class: 'wrap mono' }, v: e.message }] })),
        'No log line yet.'));
    },
  };
  return self;
}

/* ---- routing and the refresh loop ---------------------------------------- */

const UUID = '([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})';
const ROUTES = [
  [new RegExp('^/$'), () => overviewPage(), 'overview'],
  [new RegExp('^/sites$'), (m, p) => sitesPage(p), 'sites'],
  [new RegExp(`^/sites/${UUID}$`), (m) => sitePage(m[1]), 'sites'],
  [new RegExp(`^/sites/${UUID}/jobs/${UUID}$`), (m) => jobPage(m[1], m[2]), 'sites'],
];

function route() {
  if (!credential()) return showSignIn();
  document.getElementById('nav').hidden = false;
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query] = raw.split('?');
  const params = new URLSearchParams(query || '');
  for (const [re, make, nav] of ROUTES) {
    const m = re.exec(path);
    if (!m) continue;
    for (const a of document.querySelectorAll('[data-nav]'))
      if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    page = make(m, params);
    document.title = page.title + ' · jobplane';
    page.refresh();
    return;
  }
  page = null;
  main().replaceChildren(h('h1', {}, 'Not found'), h('p', {}, 'No page here. ', h('a', { href: '#/' }, 'Back to the overview')));
}

let busy = false;
setInterval(async () => {
  if (!page || busy || document.hidden) return;
  busy = true;
  try { await page.refresh(); } finally { busy = false; }
}, REFRESH_MS);

window.addEventListener('hashchange', () => { route(); main().focus(); });
document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('signout').addEventListener('click', () => signOut('Signed out.'));
  document.getElementById('skip').addEventListener('click', (e) => { e.preventDefault(); main().focus(); });
  route();
});
