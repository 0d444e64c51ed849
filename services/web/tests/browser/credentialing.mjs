// The credentialing story through the organisation's pages, in a real browser: the coach
// signs in through the organisation's identity provider, registers a client and asks for
// consent that ends when the credentialing body decides; the client gives it through their
// link; the coach uploads the session and lets the assessor listen; the assessor signs in and
// plays it; the coach records the decision, and the assessor's next play is refused and the
// recording gone from their list. Usage: node credentialing.mjs, with SCENARIO naming the JSON
// file the Rust test `services/web/tests/staff_browser.rs` wrote.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launch, newPage, assertGoodPage, assertQuiet, signInWithProvider } from './harness.mjs';

const scenario = JSON.parse(readFileSync(process.env.SCENARIO, 'utf8'));
const base = scenario.base;

const browser = await launch();
try {
  // The coach: a client registered, consent asked until the credentialing body decides.
  const coach = await newPage(browser);
  await signInWithProvider(coach, base, scenario.coach, '/practice');
  await coach.getByLabel('Name', { exact: true }).fill('Jo Coachee');
  await coach.getByLabel(/^Contact/).fill('jo@example.org');
  await Promise.all([coach.waitForURL('**/practice/clients/**'), coach.getByRole('button', { name: 'Register' }).click()]);
  const clientPage = coach.url();
  await coach.getByLabel('Purpose').selectOption('credentialing');
  await coach.getByLabel(/^Who may listen/).fill(scenario.assessor);
  await coach.getByLabel('When the credentialing body decides').check();
  await coach.getByRole('button', { name: 'Ask for consent' }).click();
  await coach.locator('#link-ready').waitFor();
  const link = await coach.locator('#client-link').inputValue();

  // The client gives consent through the link.
  const client = await newPage(browser);
  await client.goto(link);
  await client.getByRole('link', { name: 'Recording consent' }).click();
  await client.getByLabel(/name/i).first().fill('Jo Coachee');
  await Promise.all([client.waitForURL('**done=given**'), client.locator('#give').click()]);

  // The coach stores the session and lets the assessor listen, until a day.
  await coach.goto(clientPage);
  await Promise.all([coach.waitForURL('**/practice/recordings/**'), coach.getByRole('button', { name: 'New recording' }).click()]);
  const recording = coach.url().split('/practice/recordings/')[1];
  await coach.locator('#media-file').setInputFiles(scenario.wav);
  await Promise.all([coach.waitForEvent('load'), coach.getByRole('button', { name: 'Upload' }).click()]);
  await coach.getByText('Stored, encrypted').waitFor();
  await coach.getByLabel('User id').fill(scenario.assessor);
  await coach.getByLabel('Purpose').selectOption('credentialing');
  await coach.getByLabel('Until (the last day)').fill(scenario.until);
  await Promise.all([coach.waitForURL('**done=grant**'), coach.getByRole('button', { name: 'Grant access' }).click()]);
  await coach.getByText('Access granted').waitFor();
  await assertGoodPage(coach, 'practice-credentialing-granted');

  // The assessor signs in and plays it.
  const assessor = await newPage(browser);
  await signInWithProvider(assessor, base, scenario.assessor, '/review?purpose=credentialing');
  await assessor.getByRole('link', { name: /^Session of/ }).click();
  await assessor.getByRole('button', { name: /^Play for/ }).click();
  await assessor.locator('#player').waitFor();
  await assessor.waitForFunction(() => document.getElementById('player').readyState >= 1);
  await assertGoodPage(assessor, 'review-credentialing-playing');

  // The credentialing body decides: the consent ends, and with it the assessor's access.
  await coach.goto(clientPage);
  await Promise.all([
    coach.waitForURL(clientPage),
    coach.getByRole('button', { name: 'The credentialing body has decided' }).click(),
  ]);
  await coach.locator('.badge', { hasText: 'Ended' }).waitFor();
  await assertGoodPage(coach, 'practice-credential-decided');
  await assessor.goto(`${base}/review/recordings/${recording}?purpose=credentialing`);
  await assessor.getByRole('button', { name: /^Play for/ }).click();
  await assessor.locator('#refused').waitFor();
  assert.equal(await assessor.locator('#player').count(), 0);
  // The refused play's page itself answers 403, as it should; nothing else may fail.
  assert.equal(assessor.problems.length, 1, assessor.problems.join('\n'));
  assert.match(assessor.problems[0], /403/);
  assessor.problems = [];
  await assessor.goto(`${base}/review?purpose=credentialing`);
  assert.equal(await assessor.getByRole('link', { name: /^Session of/ }).count(), 0);
  assertQuiet(assessor);
  assertQuiet(coach);
  console.log('credentialing story: passed');
} finally {
  await browser.close();
}
