// The student counsellor's client and the course's auditor, in a real browser, one phase at
// a time (the Rust test `services/web/tests/browser.rs` does what other people do between
// them: a tutor plays, the destruction job runs). Usage: node story.mjs <phase>, with
// SCENARIO naming the JSON file the Rust test wrote.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { launch, newPage, assertGoodPage, assertQuiet, tabTo } from './harness.mjs';

const scenario = JSON.parse(readFileSync(process.env.SCENARIO, 'utf8'));
const phase = process.argv[2];
const base = scenario.base;

/** Opens the client's link: the secret is exchanged for a cookie and leaves the address bar. */
async function openLink(page) {
  const response = await page.goto(scenario.link);
  assert.equal(response.status(), 200);
  assert.equal(new URL(page.url()).pathname, '/me');
  assert.ok(!page.url().includes(scenario.link.split('/link/')[1]), 'the secret left the URL');
  const cookies = await page.context().cookies();
  const link = cookies.find((c) => c.name === 'confide_link');
  assert.ok(link && link.httpOnly, 'the link is kept in an HttpOnly cookie');
  assert.equal(await page.evaluate(() => document.cookie.includes('confide_link')), false);
}

const phases = {
  // Open the link, read the form, give consent with the keyboard alone.
  async give(browser) {
    const page = await newPage(browser);
    await openLink(page);
    await assertGoodPage(page, 'client-home-asked');
    await page.getByRole('link', { name: 'Recording consent' }).click();
    await page.waitForURL(`**/me/consents/${scenario.consent}`);
    const text = await page.locator('.form-text').innerText();
    assert.equal(text.trim(), scenario.formText.trim(), 'the form word for word');
    assert.ok((await page.content()).includes(scenario.formSha256), 'its SHA-256');
    await assertGoodPage(page, 'client-consent-asked');
    // By keyboard: Tab to the name, type it, Tab to the button, Enter.
    await tabTo(page, '#typed_name');
    await page.keyboard.type('Chris Client');
    await tabTo(page, '#give', 5);
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.match(page.url(), /done=given/, await page.locator('main').innerText());
    await page.getByRole('heading', { name: 'Thank you: your consent is given' }).waitFor();
    await assertGoodPage(page, 'client-consent-given');
    assertQuiet(page);
  },

  // See who listened and who was refused, then withdraw with deletion.
  async withdraw(browser) {
    const page = await newPage(browser);
    await openLink(page);
    await page.getByRole('link', { name: /See who accessed/ }).first().click();
    await page.waitForURL(`**/me/recordings/${scenario.recording}`);
    const rows = await page.locator('tbody tr').allInnerTexts();
    assert.ok(rows.some((r) => r.includes('ada') && r.includes('Allowed')), rows.join('\n'));
    assert.ok(rows.some((r) => r.includes('eve') && r.includes('Refused')), rows.join('\n'));
    await assertGoodPage(page, 'client-recording-access');
    await page.goto(`${base}/me/consents/${scenario.consent}`);
    await page.getByLabel('All of it', { exact: false }).check();
    await page.getByLabel('Also destroy the recordings it covers').check();
    await Promise.all([
      page.waitForURL('**done=withdrawn**'),
      page.getByRole('button', { name: 'Withdraw' }).click(),
    ]);
    const outcome = await page.locator('#outcome').innerText();
    assert.match(outcome, /Your withdrawal is recorded/);
    assert.match(outcome, /being destroyed/);
    assert.match(outcome, /Everyone who had access is being told: ada/);
    await assertGoodPage(page, 'client-consent-withdrawn');
  },

  // The recording destroyed; the receipt checked in the page.
  async destroyed(browser) {
    const page = await newPage(browser);
    await openLink(page);
    const home = await page.locator('#recordings-h ~ div table').innerText();
    assert.match(home, /Destroyed/);
    await page.goto(`${base}/me/recordings/${scenario.recording}`);
    const rows = await page.locator('tbody tr').allInnerTexts();
    assert.ok(rows.some((r) => r.includes('destroyed it')), rows.join('\n'));
    await page.goto(`${base}/me/consents/${scenario.consent}`);
    await page.locator('#receipt-result.result-ok, #receipt-result .result-ok').first().waitFor();
    assert.match(await page.locator('#receipt-result').innerText(), /genuine/i);
    await assertGoodPage(page, 'client-receipt-verified');
  },

  // The auditor signs in, exports the whole log, and verifies the bundle in the page; a
  // tampered copy is rejected by name.
  async auditor(browser) {
    const page = await newPage(browser);
    await page.goto(`${base}/audit`);
    await assertGoodPage(page, 'auditor-sign-in');
    await page.getByLabel('Your access token').fill(scenario.auditorToken);
    await Promise.all([page.waitForURL(`${base}/audit`), page.getByRole('button', { name: 'Sign in' }).click()]);
    await page.getByRole('button', { name: 'Export' }).click();
    await page.getByRole('heading', { name: 'Your export is ready' }).waitFor();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download the bundle' }).click(),
    ]);
    const bundle = `${process.env.WORK_DIR}/bundle.jsonl`;
    await download.saveAs(bundle);
    await page.locator('#bundle-file').setInputFiles(bundle);
    await page.locator('#verify-result.result-ok, #verify-result.result-failed').waitFor({ timeout: 30000 });
    const summary = await page.locator('#verify-result').innerText();
    assert.match(summary, /^Verified/, summary);
    await assertGoodPage(page, 'auditor-verified');

    // One event's payload edited: the page names the failure.
    const lines = readFileSync(bundle, 'utf8').split('\n');
    const at = lines.findIndex((l) => l.includes('"type":"event"') && l.includes('ConsentGiven'));
    assert.ok(at > 0, 'the bundle discloses the consent given');
    lines[at] = lines[at].replace('ConsentGiven', 'ConsentGivan');
    const tampered = `${process.env.WORK_DIR}/tampered.jsonl`;
    writeFileSync(tampered, lines.join('\n'));
    await page.locator('#bundle-file').setInputFiles(tampered);
    await page.locator('#verify-result.result-failed').waitFor({ timeout: 30000 });
    const failure = await page.locator('#verify-result').innerText();
    assert.match(failure, /Not verified/);
    writeFileSync(`${process.env.WORK_DIR}/tampered-failure.txt`, failure);
    await assertGoodPage(page, 'auditor-rejected');
  },
};

const browser = await launch();
try {
  assert.ok(phases[phase], `no phase ${phase}`);
  await phases[phase](browser);
  console.log(`phase ${phase}: passed`);
} finally {
  await browser.close();
}
