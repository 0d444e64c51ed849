// The student counsellor's story through the organisation's pages, in a real browser: the
// practitioner signs in through the organisation's identity provider, registers a client,
// asks for consent and hands over the link; the client gives consent through it; the
// practitioner creates a recording and uploads it with the page's script; the tutor plays,
// seeks, comments at the current moment and downloads the comments as WebVTT; the next
// session is recorded in the browser and the client asks part-way to stop; the client
// withdraws; the tutor's next play is refused with the reasons shown. Usage: node
// staff-story.mjs, with SCENARIO naming the JSON file the Rust test
// `services/web/tests/staff_browser.rs` wrote.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launch, newPage, assertGoodPage, assertQuiet, signInWithProvider } from './harness.mjs';

const scenario = JSON.parse(readFileSync(process.env.SCENARIO, 'utf8'));
const base = scenario.base;

const browser = await launch();
try {
  // The practitioner: the client registered, consent asked, the link handed over.
  const sam = await newPage(browser);
  await signInWithProvider(sam, base, scenario.practitioner, '/practice');
  assert.equal(new URL(sam.url()).pathname, '/practice');
  await assertGoodPage(sam, 'practice-clients');
  await sam.getByLabel('Name', { exact: true }).fill('Chris Client');
  await sam.getByLabel(/^Contact/).fill('chris@example.org');
  await Promise.all([sam.waitForURL('**/practice/clients/**'), sam.getByRole('button', { name: 'Register' }).click()]);
  await sam.getByRole('heading', { name: 'Chris Client' }).waitFor();
  const clientPage = sam.url();
  await sam.getByLabel('Purpose').selectOption('course_assessment');
  await sam.getByLabel(/^Who may listen/).fill('ada');
  await sam.getByRole('button', { name: 'Ask for consent' }).click();
  await sam.locator('#link-ready').waitFor();
  const link = await sam.locator('#client-link').inputValue();
  assert.match(link, /\/link\//);
  await assertGoodPage(sam, 'practice-consent-asked');

  // The client gives consent through the link.
  const client = await newPage(browser);
  await client.goto(link);
  await client.getByRole('link', { name: 'Recording consent' }).click();
  await client.getByLabel(/name/i).first().fill('Chris Client');
  await Promise.all([client.waitForURL('**done=given**'), client.locator('#give').click()]);

  // The practitioner records the session: a recording, uploaded by the page's script.
  await sam.goto(clientPage);
  await Promise.all([sam.waitForURL('**/practice/recordings/**'), sam.getByRole('button', { name: 'New recording' }).click()]);
  const recording = sam.url().split('/practice/recordings/')[1];
  await assertGoodPage(sam, 'practice-recording-new');
  await sam.locator('#media-file').setInputFiles(scenario.wav);
  await Promise.all([sam.waitForEvent('load'), sam.getByRole('button', { name: 'Upload' }).click()]);
  await sam.getByText('Stored, encrypted').waitFor();
  await sam.getByLabel('Moment (m:ss)').fill('0:01');
  await sam.getByLabel('Label').fill('Opening');
  await sam.getByRole('button', { name: 'Add the bookmark' }).click();
  await sam.getByText('Opening').waitFor();
  await assertGoodPage(sam, 'practice-recording-stored');
  await sam.getByRole('link', { name: 'Destroy this recording…' }).click();
  await sam.getByText('This cannot be undone').waitFor();
  await assertGoodPage(sam, 'practice-destroy-confirm');

  // The tutor plays, seeks, comments at the current moment and exports the comments.
  const ada = await newPage(browser);
  await signInWithProvider(ada, base, scenario.tutor, '/review?purpose=course_assessment');
  assert.equal(new URL(ada.url()).pathname, '/review');
  await assertGoodPage(ada, 'review-list');
  await ada.getByRole('link', { name: /^Session of/ }).click();
  await ada.getByRole('button', { name: /^Play for/ }).click();
  await ada.locator('#player').waitFor();
  await ada.waitForFunction(() => document.getElementById('player').readyState >= 1);
  await ada.locator('a.seek').first().click();
  await ada.waitForFunction(() => Math.abs(document.getElementById('player').currentTime - 1) < 0.1);
  await ada.getByRole('button', { name: 'Use the current moment' }).click();
  assert.equal(await ada.getByLabel('Moment (m:ss)').inputValue(), '0:01');
  await ada.getByLabel('Comment', { exact: true }).fill('Good opening');
  await assertGoodPage(ada, 'review-playing');
  await Promise.all([ada.waitForURL('**done=comment**'), ada.getByRole('button', { name: 'Save the comment' }).click()]);
  await ada.getByText('Good opening').waitFor();
  const [download] = await Promise.all([
    ada.waitForEvent('download'),
    ada.getByRole('link', { name: /WebVTT/ }).click(),
  ]);
  const vtt = readFileSync(await download.path(), 'utf8');
  assert.match(vtt, /^WEBVTT\n\n1\n00:00:01\.000 --> 00:00:06\.000\nGood opening\n$/);
  await assertGoodPage(ada, 'review-commented');

  // The next session is recorded in the practitioner's browser (Chromium's fake microphone);
  // part-way the client asks to stop: the moment is recorded, and what is stored ends there.
  await sam.goto(clientPage);
  await Promise.all([sam.waitForURL('**/practice/recordings/**'), sam.getByRole('button', { name: 'New recording' }).click()]);
  await sam.getByRole('button', { name: 'Start recording' }).click();
  await sam.getByText('Recording. Press Stop').waitFor();
  await sam.waitForTimeout(1500); // the length of what is recorded, not a wait for readiness
  await Promise.all([
    sam.waitForEvent('load').catch(async (e) => {
      throw new Error(`${e}: the page says ${await sam.locator('#upload-status').innerText()}`);
    }),
    sam.getByRole('button', { name: 'The client asks to stop' }).click(),
  ]);
  const stoppedAt = await sam.locator('#stop-recorded').innerText();
  assert.match(stoppedAt, /asked to stop the recording at 0:01/);
  await sam.getByText('Stored, encrypted').waitFor();
  await assertGoodPage(sam, 'practice-recording-client-stop');

    // The client withdraws; the tutor's next play is refused, with the reasons.
  await client.goto(`${base}/me`);
  await client.getByRole('link', { name: 'Recording consent' }).click();
  await client.getByLabel('All of it', { exact: false }).check();
  await Promise.all([client.waitForURL('**done=withdrawn**'), client.getByRole('button', { name: 'Withdraw' }).click()]);
  await ada.goto(`${base}/review/recordings/${recording}?purpose=course_assessment`);
  await ada.getByRole('button', { name: /^Play for/ }).click();
  await ada.locator('#refused').waitFor();
  assert.match(await ada.locator('#refused').innerText(), /You may not play this recording/);
  assert.equal(await ada.locator('#player').count(), 0);
  // The refused play's page itself answers 403, as it should; nothing else may fail.
  assert.equal(ada.problems.length, 1, ada.problems.join('\n'));
  assert.match(ada.problems[0], /403/);
  ada.problems = [];
  await assertGoodPage(ada, 'review-refused');
  assertQuiet(sam);
  console.log('staff story: passed');
} finally {
  await browser.close();
}
