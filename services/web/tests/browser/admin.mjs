// The coaching company's administrator, in a real browser (the Rust test
// `services/web/tests/admin_browser.rs` sets the organisation up and makes the plays): sign
// in, set the policy to notified opt-out, add a member, publish a form's next version, create
// a course, enrol a student and end it, see what is due for destruction, read the access log
// with its refused attempt and download it as CSV. axe-core checks every page at 1280 and
// 320 px. Usage: node admin.mjs, with SCENARIO naming the JSON file the Rust test wrote.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launch, newPage, assertGoodPage, assertQuiet } from './harness.mjs';

const scenario = JSON.parse(readFileSync(process.env.SCENARIO, 'utf8'));
const base = scenario.base;

/** Clicks `button` and waits for the page the form's redirect leads to. */
async function submit(page, button) {
  await Promise.all([page.waitForNavigation(), button.click()]);
  assert.equal((await page.locator('h1').count()) > 0, true);
}

async function administer(browser) {
  const page = await newPage(browser);
  // Signed out, the administration sends to sign-in; sign in with a token.
  await page.goto(`${base}/audit`);
  await page.getByLabel('Your access token').fill(scenario.adminToken);
  await Promise.all([page.waitForURL(`${base}/audit`), page.getByRole('button', { name: 'Sign in' }).click()]);

  // Members: add one with two roles.
  await page.goto(`${base}/admin`);
  await assertGoodPage(page, 'admin-members');
  await page.getByLabel('User id').fill('rita');
  await page.locator('form[action="/admin/members"] input[value="reviewer"]').check();
  await page.locator('form[action="/admin/members"] input[value="tutor"]').check();
  await submit(page, page.getByRole('button', { name: 'Add member' }));
  assert.ok((await page.locator('tbody').innerText()).includes('rita'));

  // Policy: the coaching company's notified opt-out.
  await page.getByRole('link', { name: 'Policy' }).click();
  await assertGoodPage(page, 'admin-policy');
  await page.getByLabel('Recorded by default after a notice').check();
  await submit(page, page.getByRole('button', { name: 'Save a new version' }));
  assert.ok(await page.getByLabel('Recorded by default after a notice').isChecked());
  assert.match(await page.locator('.lead').innerText(), /version 2/);

  // Forms: the next version of the form.
  await page.getByRole('link', { name: 'Consent forms' }).click();
  await page.getByLabel('Which form').selectOption({ index: 1 });
  await page.getByLabel('Title').fill('Coaching notice, revised');
  await page.getByLabel('The text clients read').fill('Your coaching sessions are recorded unless you opt out.');
  await submit(page, page.getByRole('button', { name: 'Publish' }));
  assert.ok((await page.locator('main').innerText()).includes('Coaching notice, revised'));
  await assertGoodPage(page, 'admin-forms');

  // Courses: create, enrol, end after the confirmation.
  await page.getByRole('link', { name: 'Courses' }).click();
  await page.getByLabel('Title').fill('Coaching certificate');
  await page.getByLabel('Starts on').fill('2026-09-01');
  await page.getByLabel('Ends on').fill('2027-06-30');
  await page.getByLabel(/Tutors/).fill('ada');
  await submit(page, page.getByRole('button', { name: 'Create course' }));
  await page.getByLabel('Enrol a student').fill('sam');
  await submit(page, page.getByRole('button', { name: 'Enrol' }));
  await assertGoodPage(page, 'admin-course');
  await page.getByLabel(/I understand/).check();
  await submit(page, page.getByRole('button', { name: 'End the course' }));
  assert.match(await page.locator('main').innerText(), /Ended on/);
  await page.getByRole('link', { name: 'Courses', exact: true }).click();
  await assertGoodPage(page, 'admin-courses');

  // What falls due within a year.
  await page.goto(`${base}/admin/duties?days=400`);
  assert.match(await page.locator('#due-h ~ div table').innerText(), /retention period has passed/);
  await assertGoodPage(page, 'admin-duties');

  // The access log: the refused attempt, then the CSV.
  await page.getByRole('link', { name: 'Access log' }).click();
  const rows = await page.locator('tbody tr').allInnerTexts();
  assert.ok(rows.some((r) => r.includes('eve') && r.includes('Refused')), rows.join('\n'));
  assert.ok(rows.some((r) => r.includes('ada') && r.includes('Allowed')), rows.join('\n'));
  await assertGoodPage(page, 'admin-access-log');
  await page.getByLabel('Outcome').selectOption('refused');
  await submit(page, page.getByRole('button', { name: 'Show' }));
  assert.equal(await page.locator('tbody tr').count(), 1);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download these rows as CSV' }).click(),
  ]);
  const csv = readFileSync(await download.path(), 'utf8').split('\r\n').filter((l) => l);
  assert.equal(csv[0], 'when (UTC),sequence,person,as,recording,purpose,medium,outcome,reasons');
  assert.equal(csv.length, 2, csv.join('\n'));
  assert.match(csv[1], /,eve,member,.*,refused,/);
  assertQuiet(page);
}

const browser = await launch();
try {
  await administer(browser);
  console.log('admin: passed');
} finally {
  await browser.close();
}
