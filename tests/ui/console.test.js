// The web console in a real browser: Debian's chromium, driven by
// playwright-core, against a server that tests/e2e/400-console.sh started
// with a fleet of simulated routers. One "ok - ..." or "not ok - ..." line per
// check; page timings and the screenshots' folder as "# ..." lines.
//   env: JP_URL JP_TOKEN JP_SIM_SITE JP_OFFLINE_SITE JP_XSS_SITE JP_BACKUP_SITE JP_SHOTS
//        JP_FLEET (sites named fleet-NNNNN)
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');
const { AxeBuilder } = require('@axe-core/playwright');

const env = (k) => {
  if (!process.env[k]) throw new Error(`${k} is not set`);
  return process.env[k];
};
const URL0 = env('JP_URL'), TOKEN = env('JP_TOKEN'), SHOTS = env('JP_SHOTS');
const SIM = env('JP_SIM_SITE'), OFFLINE = env('JP_OFFLINE_SITE'), XSS = env('JP_XSS_SITE'), BACKUPS = env('JP_BACKUP_SITE');
const XSS_NAME = '<img src=x onerror=alert(1)>';
const EVIL_SCRIPT = ':put "</script><script>alert(2)</script><b>bold</b>"';
const T = 30000; // a step's patience: the machine is shared and loaded

let passed = 0, failed = 0;
const ok = (cond, what) => {
  console.log(`${cond ? 'ok' : 'not ok'} - console: ${what}`.replace(/\n/g, '\\n'));
  cond ? passed++ : failed++;
  return cond;
};
const eq = (what, want, got) => ok(JSON.stringify(want) === JSON.stringify(got),
  `${what}${JSON.stringify(want) === JSON.stringify(got) ? '' : ` (expected ${JSON.stringify(want)}, got ${JSON.stringify(got)})`}`);

async function apiGet(p) {
  const r = await fetch(URL0 + p, { headers: { Authorization: 'Bearer ' + TOKEN } });
  if (!r.ok) throw new Error(`GET ${p}: ${r.status}`);
  return r.json();
}
async function apiPostJob(site, script, headers) {
  const r = await fetch(`${URL0}/site/${site}/job`, {
    method: 'POST', body: script,
    headers: { Authorization: 'Bearer ' + TOKEN, 'Content-Type': 'text/plain', 'X-Idempotency-Key': require('crypto').randomUUID(), ...headers },
  });
  if (r.status !== 201) throw new Error(`POST /site/${site}/job: ${r.status}`);
  return r.json();
}
async function apiCount(p) { // every site of a filter, through the pages
  let n = 0, after = '';
  for (;;) {
    const r = await fetch(`${URL0}${p}&limit=1000${after ? '&after=' + after : ''}`, { headers: { Authorization: 'Bearer ' + TOKEN } });
    const l = await r.json();
    n += l.length;
    if (!r.headers.get('link')) return n;
    after = l[l.length - 1].id;
  }
}

// whether the element's text comes to match re within T
const shows = (page, sel, re) => page.waitForFunction(([s, src]) => {
  const e = document.querySelector(s);
  return e && new RegExp(src).test(e.textContent.trim());
}, [sel, re.source], { timeout: T }).then(() => true, () => false);

// queues a job from the site page's form
async function queue(page, script, description) {
  await page.getByLabel('RouterOS script').fill(script);
  await page.getByLabel('Description (3 to 100 characters)').fill(description);
  await page.getByRole('button', { name: 'Queue the job' }).click();
}

// the text of a card of the overview, as a number
const card = async (page, k) => Number(await page.locator(`[data-k="${k}"] .v`).textContent());

async function axe(page, name) {
  const r = await new AxeBuilder({ page }).analyze();
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  ok(bad.length === 0, `axe-core: no serious or critical violation on the ${name} page` +
    (bad.length ? ': ' + bad.map((v) => `${v.id} (${v.impact}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')})`).join('; ') : ''));
}

async function shoot(browser, name, hash, ready, signedIn = true, then = null) {
  for (const [w, hgt] of [[1280, 900], [390, 844]]) {
    for (const scheme of w === 1280 ? ['light', 'dark'] : ['light']) {
      const ctx = await browser.newContext({ viewport: { width: w, height: hgt }, colorScheme: scheme });
      if (signedIn) await ctx.addInitScript((t) => sessionStorage.setItem('jobplane.credential', t), TOKEN);
      const p = await ctx.newPage();
      await p.goto(URL0 + '/' + hash);
      await p.locator(ready).first().waitFor({ timeout: T });
      if (then) await then(p);
      await p.waitForTimeout(300);
      const file = path.join(SHOTS, `${name}-${w}${scheme === 'dark' ? '-dark' : ''}.png`);
      await p.screenshot({ path: file, fullPage: true });
      if (w === 390) { // nothing wider than the phone but the scrolling tables
        const over = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        ok(over <= 0, `the ${name} page fits 390 px without scrolling sideways (${over} px over)`);
      }
      await ctx.close();
    }
  }
}

(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(T);
  const dialogs = [], errors = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 40[134]/.test(m.text())) errors.push(m.text()); });
  try {
    // ---- the page and its headers
    const res = await page.goto(URL0 + '/');
    const hd = res.headers();
    ok(/script-src 'self'/.test(hd['content-security-policy'] || '') && !/unsafe-inline/.test(hd['content-security-policy']),
      `a Content-Security-Policy with scripts from the server only: ${hd['content-security-policy']}`);
    eq('X-Frame-Options', 'DENY', hd['x-frame-options']);
    eq('Referrer-Policy', 'no-referrer', hd['referrer-policy']);
    const external = await page.evaluate(() => [...document.querySelectorAll('script[src], link[href]')]
      .map((e) => e.src || e.href).filter((u) => new URL(u).origin !== location.origin));
    eq('nothing is loaded from elsewhere', [], external);

    // ---- sign in
    await page.locator('#credential').waitFor();
    await axe(page, 'sign-in');
    await page.fill('#credential', 'eyJhbGciOiJIUzI1NiJ9.eyJ0ZWFtIjoidDEifQ.bad-signature');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const refused = await shows(page, '#signin-error', /refused this credential/);
    ok(refused, `a wrong token is refused with a clear message: "${await page.locator('#signin-error').textContent()}"`);
    ok(await page.locator('#credential').isVisible(), 'a wrong token stays on the sign-in form');
    await page.fill('#credential', TOKEN);
    await page.keyboard.press('Enter'); // the keyboard signs in too
    ok(await shows(page, 'h1', /^Fleet overview$/), 'a minted token signs in and shows the overview');
    await page.locator('[data-k="sites.online"]').waitFor();

    // ---- the overview against the API (the fleet is settled: one router stopped)
    const o = await apiGet('/overview');
    const online = await apiCount('/sites?has_pulse=true'), offline = await apiCount('/sites?has_pulse=false');
    await page.waitForFunction(([a, b]) => document.querySelector('[data-k="sites.online"] .v').textContent === String(a) &&
      document.querySelector('[data-k="sites.offline"] .v').textContent === String(b), [online, offline], { timeout: T }).catch(() => {});
    eq('sites online: the card is the count of GET /sites?has_pulse=true', online, await card(page, 'sites.online'));
    eq('sites offline: the card is the count of GET /sites?has_pulse=false', offline, await card(page, 'sites.offline'));
    ok(offline >= 1 && (await apiGet('/sites/' + OFFLINE)).has_pulse === false, `the stopped router is offline (${offline} offline)`);
    for (const k of ['pending', 'delivered', 'running', 'stuck', 'failed_24h'])
      eq(`jobs ${k}: the card is the API's`, o.jobs[k], await card(page, 'jobs.' + k));
    ok(await shows(page, '#rollouts', /console rollout.*launched.*0 of 2 finished: 0 completed, 0 failed; 2 queued, 0 waiting/),
      `the running rollout is shown with its progress: "${(await page.locator('#rollouts').textContent()).slice(0, 200)}"`);
    await axe(page, 'overview');

    // ---- queue a job from the form, watch it complete
    await page.goto(`${URL0}/#/sites/${SIM}`);
    await page.locator('#facts dl').waitFor();
    await queue(page, ':put "hello from the console"', 'console smoke job');
    await page.getByText('Queued "console smoke job".').waitFor();
    const row = page.locator('tr', { hasText: 'console smoke job' });
    const seen = [];
    const t0 = Date.now();
    while (Date.now() - t0 < 60000) {
      const st = (await row.locator('.badge').textContent().catch(() => '')).trim();
      if (st && seen[seen.length - 1] !== st) seen.push(st);
      if (st === 'completed' || st === 'failed') break;
      await page.waitForTimeout(200);
    }
    eq('the queued job reaches completed on the simulated router, without a reload', 'completed', seen[seen.length - 1]);
    ok(seen[0] === 'pending' || seen[0] === 'delivered' || seen[0] === 'running',
      `the job was first shown unfinished, then updated live (seen: ${seen.join(' -> ')})`);
    const sjobs = await apiGet(`/site/${SIM}/job?limit=5`);
    const made = sjobs.find((j) => j.description === 'console smoke job');
    ok(made && made.status === 'completed' && made.needs_acknowledgement === true && /^[0-9a-f-]{36}$/.test(made.idempotency_key),
      'the API has the job completed, with an acknowledgement and a generated idempotency key');
    await axe(page, 'site');

    // ---- a failing job shows failed, with its log
    await queue(page, ':error "boom from the console"', 'console failing job');
    const frow = page.locator('tr', { hasText: 'console failing job' });
    await frow.locator('.badge', { hasText: 'failed' }).waitFor({ timeout: 60000 }).catch(() => {});
    eq('a job that fails is shown failed', 'failed', (await frow.locator('.badge').textContent()).trim());
    await frow.getByRole('link', { name: 'console failing job' }).click();
    await page.locator('#log table').waitFor();
    const logText = await page.locator('#log').textContent();
    ok(/fail/i.test(logText), `the failed job's page shows its log: "${logText.slice(0, 160)}"`);
    await axe(page, 'job');

    // ---- a job's router-side options, and what it printed
    const cap = await apiPostJob(SIM, ':put "printed on the router"', { 'X-Description': 'console output job', 'X-Capture-Output': 'true' });
    await page.goto(`${URL0}/#/sites/${SIM}/jobs/${cap.id}`);
    await page.locator('#job-output').waitFor({ timeout: 60000 });
    eq('a job whose output is captured shows what the router printed', 'printed on the router', (await page.locator('#job-output').textContent()).trim());
    ok((await page.locator('#job-facts').textContent()).includes('its output is captured'), 'its facts name what it asked of the router');

    // ---- the form's router-side options: a dry run, a confirmation window
    await page.goto(`${URL0}/#/sites/${SIM}`);
    await page.locator('#facts dl').waitFor();
    await page.getByLabel('Dry run: parse the script, run nothing').check();
    await queue(page, ':put "dry"', 'console dry run');
    await page.getByText('Queued "console dry run".').waitFor();
    await page.getByLabel('Dry run: parse the script, run nothing').uncheck();
    await page.getByLabel(/Revert unless confirmed within/).fill('30');
    await queue(page, '/ip address add address=10.7.7.1/24 interface=ether1', 'console confirmed job');
    await page.getByText('Queued "console confirmed job".').waitFor();
    const queued = await apiGet(`/site/${SIM}/job?limit=10`);
    const dryJob = queued.find((j) => j.description === 'console dry run'), confJob = queued.find((j) => j.description === 'console confirmed job');
    ok(dryJob && dryJob.dry_run === true && dryJob.confirm_within === null, 'the form queues a dry run');
    ok(confJob && confJob.confirm_within === 30 && confJob.dry_run === false, 'the form queues a job with a confirmation window');
    const confRow = page.locator('tr', { hasText: 'console confirmed job' });
    await confRow.locator('.badge', { hasText: 'completed' }).waitFor({ timeout: 60000 }).catch(() => {});
    eq('the simulated router runs it and the server confirms it: completed', 'completed', (await confRow.locator('.badge').textContent()).trim());

    // ---- cancel a pending job (the offline router never takes it)
    await page.goto(`${URL0}/#/sites/${OFFLINE}`);
    await page.locator('#facts dl').waitFor();
    await queue(page, ':put "never runs"', 'console job to cancel');
    const crow = page.locator('tr', { hasText: 'console job to cancel' });
    await crow.getByRole('button', { name: /Cancel the job/ }).click();
    await crow.getByRole('button', { name: /Confirm: cancel/ }).click();
    await page.getByText('Job "console job to cancel" cancelled.').waitFor();
    await crow.waitFor({ state: 'detached' });
    const left = await apiGet(`/site/${OFFLINE}/job`);
    ok(!left.some((j) => j.description === 'console job to cancel'), 'a pending job cancelled in the console is gone from the API');

    // ---- a diff of two backups
    await page.goto(`${URL0}/#/sites/${BACKUPS}`);
    await page.locator('#show-diff').waitFor();
    await page.locator('#show-diff').click();
    await page.locator('#diff pre.diff').waitFor();
    const adds = await page.locator('#diff .add').allTextContents(), dels = await page.locator('#diff .del').allTextContents();
    ok(adds.some((l) => l.includes('+/ip address add address=10.9.9.1/24')), `the diff shows the added line, green and with its + (${adds.length} added)`);
    ok(dels.some((l) => l.includes('-/ip address add address=10.1.1.1/24')), `the diff shows the removed line, red and with its - (${dels.length} removed)`);
    const cls = await page.locator('#diff .add').first().evaluate((e) => getComputedStyle(e).backgroundColor);
    ok(cls !== 'rgba(0, 0, 0, 0)', `added lines are coloured (${cls})`);
    await axe(page, 'backups with a diff');

    // ---- hostile text stays text
    await page.goto(`${URL0}/#/sites/${XSS}`);
    await page.locator('#facts dl').waitFor();
    eq('a site named like HTML is shown as its text', XSS_NAME, (await page.locator('h1').textContent()).trim());
    eq('no img element came of the name', 0, await page.locator('main img').count());
    await queue(page, EVIL_SCRIPT, '<b>not bold</b> job');
    await page.getByRole('link', { name: '<b>not bold</b> job' }).click();
    await page.locator('#job-script-text').waitFor();
    eq('a script with </script> is shown as its text', EVIL_SCRIPT, await page.locator('#job-script-text').textContent());
    eq('no b or script element came of it', 0, await page.locator('main b, main script').count());
    await page.goto(`${URL0}/#/sites`);
    await page.fill('#f-q', '<img');
    await page.locator(`tr[data-site="${XSS}"]`).waitFor();
    ok((await page.locator(`tr[data-site="${XSS}"]`).textContent()).includes(XSS_NAME), 'the sites table shows the name as text');
    eq('no dialog opened on any page', [], dialogs);

    // ---- the sites table: 25,000 sites, paged and searched (a page of its own)
    await page.goto(`${URL0}/#/`);
    await page.getByRole('link', { name: 'Sites', exact: true }).click();
    await page.waitForFunction(() => document.querySelectorAll('tr[data-site]').length === 50);
    const timing = async (what, act, until, arg) => {
      const t = Date.now();
      await act();
      const shown = await page.waitForFunction(until, arg, { timeout: T }).then(() => true, () => false);
      if (!shown)
        throw new Error(`${what} not shown: the pager says "${await page.locator('#page-info').textContent()}",` +
          ` ${await page.locator('tr[data-site]').count()} rows, Next ${await page.locator('#next').isDisabled() ? 'disabled' : 'enabled'},` +
          ` the search "${await page.locator('#f-q').inputValue()}"`);
      const ms = Date.now() - t;
      console.log(`# sites table: ${what}: ${ms} ms (shown), server ${await page.locator('#site-list').getAttribute('data-ms')} ms`);
      return ms;
    };
    const pageInfo = () => page.locator('#page-info').textContent();
    for (let i = 2; i <= 4; i++) {
      await timing(`page ${i}`, () => page.click('#next'), (n) => document.getElementById('page-info').textContent.startsWith(`Page ${n}:`), i);
      eq(`page ${i} holds 50 sites`, 50, await page.locator('tr[data-site]').count());
    }
    ok((await pageInfo()).includes('sites 151–200'), `the pager counts the rows: "${await pageInfo()}"`);
    await page.click('#prev');
    ok(await shows(page, '#page-info', /^Page 3: sites 101–150/), 'Previous goes back a page');
    const name = 'fleet-12345';
    await timing(`search "${name}"`, () => page.fill('#f-q', name),
      () => document.querySelectorAll('tr[data-site]').length === 1);
    eq('a search by name finds the one site', name, (await page.locator('tr[data-site] a').first().textContent()).trim());
    await timing('search "fleet-0"', () => page.fill('#f-q', 'fleet-0'),
      () => document.getElementById('page-info').textContent.startsWith('Page 1:') && document.querySelectorAll('tr[data-site]').length === 50);
    const fleet0 = await apiCount('/sites?q=fleet-0');
    ok(fleet0 > 50 && !(await page.locator('#next').isDisabled()), `a search with ${fleet0} matches pages (Next is enabled)`);
    await page.fill('#f-q', '');
    await page.selectOption('#f-pulse', 'true');
    await page.waitForFunction((n) => document.querySelectorAll('tr[data-site]').length === n, online);
    eq('the online filter lists the online sites', online, await page.locator('tr[data-site]').count());
    await axe(page, 'sites');

    // ---- add a site: its bootstrap line, with a copy button
    await page.getByLabel('Name', { exact: true }).fill('added from the console');
    await page.getByRole('button', { name: 'Create site' }).click();
    const boot = await page.locator('#bootstrap').textContent();
    ok(/\/adopt\/[0-9A-Za-z]{22}/.test(boot), `adding a site shows its bootstrap line: ${boot.slice(0, 80)}...`);
    await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(URL0).origin });
    await page.getByRole('button', { name: 'Copy the bootstrap line' }).click();
    eq('the copy button puts the line on the clipboard', boot, await page.evaluate(() => navigator.clipboard.readText()));

    // ---- keyboard: the skip link and a visible focus
    await page.goto(`${URL0}/#/`);
    await page.reload();
    await page.locator('[data-k="sites.online"]').waitFor();
    await page.keyboard.press('Tab');
    eq('the first Tab reaches the skip link', 'Skip to content', await page.evaluate(() => document.activeElement.textContent));
    await page.keyboard.press('Enter');
    eq('the skip link moves the focus to the content', 'main', await page.evaluate(() => document.activeElement.id));
    await page.keyboard.press('Tab');
    eq('the next Tab reaches the first card', 'sites.online', await page.evaluate(() => document.activeElement.dataset.k));
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    ok(outline !== 'none', `the focused control shows a focus outline (${outline})`);

    eq('no script error in the page', [], errors);

    // ---- screenshots of each page, at 1280 and 390 px
    const job = (await apiGet(`/site/${SIM}/job?limit=1`))[0];
    await shoot(browser, 'sign-in', '', '#credential', false);
    await shoot(browser, 'overview', '#/', '[data-k="sites.online"]');
    await shoot(browser, 'sites', '#/sites', 'tr[data-site]');
    await shoot(browser, 'site', `#/sites/${SIM}`, '#charts svg polyline');
    await shoot(browser, 'backups', `#/sites/${BACKUPS}`, '#show-diff', true, async (p) => {
      await p.locator('#show-diff').click();
      await p.locator('#diff pre.diff').waitFor({ timeout: T });
    });
    await shoot(browser, 'job', `#/sites/${SIM}/jobs/${job.id}`, '#log table');
    const shots = fs.readdirSync(SHOTS).filter((f) => f.endsWith('.png'));
    ok(shots.length >= 18, `${shots.length} screenshots written`);
    console.log(`# screenshots: ${SHOTS}`);
  } catch (e) {
    ok(false, 'the console test ran to its end: ' + e.message.split('\n')[0]);
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
})();
