// The JavaScript verifier in Debian's Chromium, in its Web Worker, on every case of the tamper
// corpus written by services/audit/tests/corpus.rs: the same verdict as the Rust verifier. Then
// the auditor's page and the client's receipt check, wired to their DOM contracts, under a
// strict Content-Security-Policy.
//
//   CONFIDE_CORPUS_DIR=/tmp/corpus node --test services/web/tests/browser/verifier.test.mjs
//
// With CI=true a missing browser fails; elsewhere the test is skipped.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { serve, HARNESS_HTML, HARNESS_JS } from './server.mjs';
import { comparableVerdict, expectedVerdict } from '../js/verdict.mjs';

const CHROMIUM = '/usr/bin/chromium';
const dir = process.env.CONFIDE_CORPUS_DIR;
const missing = !existsSync(CHROMIUM);
if (missing && process.env.CI === 'true') throw new Error(`${CHROMIUM} is needed (CI=true)`);
if (!dir) throw new Error('set CONFIDE_CORPUS_DIR to a corpus written by services/audit/tests/corpus.rs');

const cases = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).cases;

const AUDITOR_HTML = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Verify a bundle</title>
<script type="module" src="/assets/verify/auditor.js"></script></head><body><main><h1>Verify an audit bundle</h1>
<form id="verify-bundle" data-trusted-keys="KEYS"><label for="bundle-file">Bundle</label>
<input type="file" id="bundle-file"><button>Verify</button></form>
<div id="bundle-drop" tabindex="0">Drop a bundle here</div>
<progress id="verify-progress" max="100" hidden></progress>
<div id="verify-result" aria-live="polite"></div></main></body></html>`;

const RECEIPT_HTML = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Your receipt</title>
<script type="module" src="/assets/verify/receipt.js"></script></head><body><main>
<section id="receipt-check" data-receipt-url="URL" data-verifier-key="KEY"><h2>Receipt</h2>
<p id="receipt-result" aria-live="polite"></p></section></main></body></html>`;

test('the verifier in Chromium', { skip: missing && `${CHROMIUM} is not installed` }, async (t) => {
  const firstValid = (kind) => cases.find((c) => c.kind === kind && c.expect.ok && c.trustedKeys.length > 0);
  const bundle = firstValid('bundle');
  const receipt = firstValid('receipt');
  const failing = cases.find((c) => c.kind === 'receipt' && !c.expect.ok && c.expect.reason === 'ClaimMismatch');
  const server = await serve({
    files: dir,
    pages: {
      '/favicon.ico': '',
      '/harness.html': HARNESS_HTML,
      '/harness.js': HARNESS_JS,
      '/auditor.html': AUDITOR_HTML.replace('KEYS', bundle.trustedKeys.join(' ')),
      '/receipt.html': RECEIPT_HTML.replace('URL', `/files/${receipt.file}`).replace('KEY', receipt.trustedKeys[0]),
      '/receipt-failing.html': RECEIPT_HTML.replace('URL', `/files/${failing.file}`).replace('KEY', failing.trustedKeys[0]),
    },
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const errors = [];
  try {
    const page = await browser.newPage();
    page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${server.url}/harness.html`);
    await page.waitForFunction(() => window.harnessReady === true);

    for (const kind of ['bundle', 'receipt']) {
      await t.test(`${kind}s in the Worker`, async (t) => {
        for (const c of cases.filter((c) => c.kind === kind)) {
          await t.test(c.name, async () => {
            const message = await page.evaluate((c) => window.runCase(c), c);
            assert.equal(message.type, 'result', message.message);
            assert.deepEqual(comparableVerdict(kind, message.verdict), expectedVerdict(kind, c.expect), message.verdict.detail);
          });
        }
      });
    }

    await t.test('the Worker streams a bundle from a URL too, and reports the bytes read', async () => {
      const big = cases.filter((c) => c.kind === 'bundle' && c.expect.ok && c.trustedKeys.length > 0)
        .sort((a, b) => b.expect.summary.events - a.expect.summary.events)[0];
      const message = await page.evaluate(({ url, keys }) => window.runUrl(url, keys), { url: `/files/${big.file}`, keys: big.trustedKeys });
      assert.deepEqual(comparableVerdict('bundle', message.verdict), expectedVerdict('bundle', big.expect));
      const size = statSync(join(dir, big.file)).size;
      assert.ok(message.progress.length >= 1);
      assert.deepEqual(message.progress.at(-1), { type: 'progress', read: size, total: size });
    });

    await t.test('the auditor page verifies a chosen file and renders the summary', async () => {
      const auditor = await browser.newPage();
      auditor.on('pageerror', (error) => errors.push(error.message));
      await auditor.goto(`${server.url}/auditor.html`);
      await auditor.setInputFiles('#bundle-file', join(dir, bundle.file));
      await auditor.waitForSelector('#verify-result h2');
      assert.equal(await auditor.textContent('#verify-result h2'), 'Verified');
      assert.equal(await auditor.getAttribute('#verify-result', 'class'), 'result-ok');
      const terms = await auditor.$$eval('#verify-result dt', (nodes) => nodes.map((n) => n.textContent));
      const values = await auditor.$$eval('#verify-result dd', (nodes) => nodes.map((n) => n.textContent));
      assert.equal(values[terms.indexOf('Events disclosed')], String(bundle.expect.summary.events));
      assert.equal(await auditor.isHidden('#verify-progress'), true);

      const tampered = cases.find((c) => c.name === 'bundle-payload-edited');
      await auditor.setInputFiles('#bundle-file', join(dir, tampered.file));
      await auditor.waitForFunction(() => document.querySelector('#verify-result h2')?.textContent === 'Not verified');
      assert.match(await auditor.textContent('#verify-result li'), /^PayloadAltered/);
      assert.equal(await auditor.getAttribute('#verify-result', 'class'), 'result-failed');
      // The drop zone can be reached from the keyboard.
      assert.equal(await auditor.getAttribute('#bundle-drop', 'tabindex'), '0');
      await auditor.close();
    });

    await t.test('a file dropped on the drop zone, or chosen from it with the keyboard, is verified', async () => {
      const auditor = await browser.newPage();
      auditor.on('pageerror', (error) => errors.push(error.message));
      // Listening from the start makes Playwright intercept file choosers before the key press.
      auditor.on('filechooser', () => {});
      await auditor.goto(`${server.url}/auditor.html`);
      const tampered = cases.find((c) => c.name === 'bundle-dropped-middle');
      await auditor.evaluate(async (path) => {
        const blob = await (await fetch(path)).blob();
        const transfer = new DataTransfer();
        transfer.items.add(new File([blob], 'bundle.jsonl'));
        const drop = document.getElementById('bundle-drop');
        drop.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
        drop.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
      }, `/files/${tampered.file}`);
      await auditor.waitForSelector('#verify-result li');
      assert.match(await auditor.textContent('#verify-result li'), /^EventDropped/);

      await auditor.focus('#bundle-drop');
      const [chooser] = await Promise.all([auditor.waitForEvent('filechooser'), auditor.keyboard.press('Enter')]);
      await chooser.setFiles(join(dir, bundle.file));
      await auditor.waitForFunction(() => document.querySelector('#verify-result h2')?.textContent === 'Verified');
      await auditor.close();
    });

    await t.test('the rendered results pass axe-core', async () => {
      // axe is injected for the check alone, so this page's context lets it past the CSP.
      const context = await browser.newContext({ bypassCSP: true });
      const auditor = await context.newPage();
      await auditor.goto(`${server.url}/auditor.html`);
      const axe = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
      for (const name of [bundle.name, 'bundle-payload-edited']) {
        const c = cases.find((c) => c.name === name);
        await auditor.setInputFiles('#bundle-file', join(dir, c.file));
        await auditor.waitForFunction((ok) => document.querySelector('#verify-result h2')?.textContent === (ok ? 'Verified' : 'Not verified'), c.expect.ok);
        await auditor.evaluate(axe);
        const violations = await auditor.evaluate(async () => (await window.axe.run(document)).violations.map((v) => `${v.id}: ${v.help}`));
        assert.deepEqual(violations, [], name);
      }
      await context.close();
    });

    await t.test('the receipt check says whether the receipt is genuine', async () => {
      const genuine = await browser.newPage();
      await genuine.goto(`${server.url}/receipt.html`);
      await genuine.waitForFunction(() => /genuine|could not/.test(document.querySelector('#receipt-result').textContent));
      assert.match(await genuine.textContent('#receipt-result'),
        new RegExp(`^This receipt is genuine: ${receipt.expect.summary.events} events proven in the organisation's signed log at checkpoint ${receipt.expect.summary.treeSize} `));
      const forged = await browser.newPage();
      await forged.goto(`${server.url}/receipt-failing.html`);
      await forged.waitForFunction(() => /genuine|could not/.test(document.querySelector('#receipt-result').textContent));
      assert.match(await forged.textContent('#receipt-result'), new RegExp(`ReceiptMismatch \\(ClaimMismatch at ${failing.expect.claim}\\)`));
    });

    assert.deepEqual(errors, [], 'no script error or CSP violation');
  } finally {
    await browser.close();
    await server.close();
  }
});
