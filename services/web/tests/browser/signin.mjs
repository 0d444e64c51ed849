// Signing in through the organisation's identity provider, in a real browser: the sign-in
// page; a tutor who belongs to two organisations chooses one (a forged choice of a third is
// refused) and signs out; someone the provider knows but no organisation has added is told
// so. Usage: node signin.mjs, with SCENARIO naming the JSON file the Rust test
// `services/web/tests/signin_browser.rs` wrote.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launch, newPage, assertGoodPage, signInWithProvider, tabTo } from './harness.mjs';

const scenario = JSON.parse(readFileSync(process.env.SCENARIO, 'utf8'));
const base = scenario.base;

const browser = await launch();
try {
  // Signed out, a staff page sends to sign-in, which offers the organisation's provider.
  const ada = await newPage(browser);
  await ada.goto(`${base}/review?purpose=course_assessment`);
  assert.equal(new URL(ada.url()).pathname, '/sign-in');
  await ada.getByRole('link', { name: 'Sign in with your organisation' }).waitFor();
  await assertGoodPage(ada, 'signin');

  // A member of two organisations chooses one, by keyboard alone on Confide's pages.
  await signInWithProvider(ada, base, scenario.tutor, '/review?purpose=course_assessment', { keyboard: true });
  await ada.getByRole('heading', { name: 'Choose your organisation' }).waitFor();
  for (const name of scenario.organisations) await ada.getByLabel(name).waitFor();
  await assertGoodPage(ada, 'signin-choose');
  // A choice forged for an organisation she does not belong to signs her in nowhere.
  const csrf = (await ada.context().cookies()).find((c) => c.name === 'confide_csrf').value;
  const forged = await ada.request.post(`${base}/sign-in/choose`, {
    form: { csrf, tenant: scenario.elsewhere },
    maxRedirects: 0,
  });
  assert.equal(forged.status(), 403);
  assert.match(await forged.text(), /No organisation here has added you/);
  await tabTo(ada, `input[name=tenant][value="${scenario.chosen}"]`);
  await ada.keyboard.press('Space');
  await tabTo(ada, 'button[type=submit]');
  await Promise.all([ada.waitForURL('**/review?purpose=course_assessment'), ada.keyboard.press('Enter')]);
  await ada.getByRole('heading', { level: 1 }).waitFor();
  const cookies = await ada.context().cookies();
  const session = cookies.find((c) => c.name === 'confide_staff');
  assert.ok(session.httpOnly, 'the session cookie is HttpOnly');
  assert.equal(session.sameSite, 'Lax');
  assert.equal(cookies.find((c) => c.name === 'confide_sign_in'), undefined, 'the sign-in in progress is forgotten');
  assert.ok(session.value.startsWith(`${scenario.chosen}.`), 'the session is in the tenant chosen');

  // Signing out ends the session: the staff pages send to sign-in again.
  await Promise.all([ada.waitForURL('**/sign-in?signed-out=1'), ada.getByRole('button', { name: 'Sign out' }).click()]);
  await ada.getByText('You are signed out.').waitFor();
  await ada.goto(`${base}/review?purpose=course_assessment`);
  assert.equal(new URL(ada.url()).pathname, '/sign-in');

  // Someone the provider knows, whom no organisation has added.
  const stranger = await newPage(browser);
  await signInWithProvider(stranger, base, scenario.stranger, '/practice');
  await stranger.getByRole('heading', { name: 'No organisation here has added you' }).waitFor();
  assert.match(await stranger.locator('main').innerText(), new RegExp(scenario.stranger));
  await assertGoodPage(stranger, 'signin-not-member');
  assert.equal((await stranger.context().cookies()).find((c) => c.name === 'confide_staff'), undefined);
  console.log('sign-in: passed');
} finally {
  await browser.close();
}
