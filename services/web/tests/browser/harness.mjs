// Shared by the browser tests: Debian's Chromium driven by Playwright's driver (no browser
// download), axe-core run in each page, screenshots at desktop and phone widths, and a check
// that a page holds at 320 px without scrolling sideways.
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const CHROMIUM = process.env.CONFIDE_CHROMIUM || '/usr/bin/chromium';

/** Launches headless Chromium. */
export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // A fake microphone and camera, allowed without asking, for recording in the page.
    args: [
      '--no-sandbox',
      '--disable-dev-shm-usage',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
    ],
  });
}

/**
 * A page in a fresh context (its own cookies) at `width` × 900, that fails the test on any
 * console error or Content-Security-Policy violation.
 */
export async function newPage(browser, width = 1280) {
  const context = await browser.newContext({
    viewport: { width, height: 900 },
    acceptDownloads: true,
  });
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error') page.problems.push(message.text());
  });
  page.on('pageerror', (error) => page.problems.push(String(error)));
  return page;
}

/** No console error or CSP violation so far. */
export function assertQuiet(page) {
  assert.deepEqual(page.problems, [], `console errors on ${page.url()}`);
}

/** Runs axe-core (WCAG 2.0–2.2 A and AA) in the page; fails on any violation. */
export async function assertAccessible(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
    }),
  );
  const violations = result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5),
  }));
  assert.deepEqual(violations, [], `axe-core violations on ${name}`);
  return result.passes.length;
}

/** The page holds at its width: nothing scrolls sideways. */
export async function assertFits(page, name) {
  const [scroll, width] = await page.evaluate(() => [
    document.documentElement.scrollWidth,
    window.innerWidth,
  ]);
  assert.ok(scroll <= width, `${name} scrolls sideways at ${width}px (${scroll}px wide)`);
}

/**
 * Checks the page as a person meets it: axe at desktop width, then at 320 px (axe again, no
 * sideways scrolling), with a screenshot of each when SCREENSHOTS names a folder.
 */
export async function assertGoodPage(page, name) {
  await assertAccessible(page, name);
  const dir = process.env.SCREENSHOTS;
  if (dir) {
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: `${dir}/${name}-desktop.png`, fullPage: true });
  }
  const desktop = page.viewportSize();
  await page.setViewportSize({ width: 320, height: 800 });
  await assertFits(page, `${name} at 320px`);
  await assertAccessible(page, `${name} at 320px`);
  if (dir) await page.screenshot({ path: `${dir}/${name}-phone.png`, fullPage: true });
  await page.setViewportSize(desktop);
  assertQuiet(page);
}

/** Presses Tab until `selector` has the focus (at most `limit` times). */
export async function tabTo(page, selector, limit = 60) {
  for (let i = 0; i < limit; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
  }
  assert.fail(`Tab never reached ${selector} on ${page.url()}`);
}

/**
 * Signs `user` in through the organisation's identity provider, as a person does: the
 * sign-in page's button, the provider's login (any password at the test provider) and
 * consent, and back to Confide at `next`. With `keyboard`, Confide's own button is reached
 * with Tab and pressed with Enter.
 */
export async function signInWithProvider(page, base, user, next = '/practice', { keyboard = false } = {}) {
  await page.goto(`${base}/sign-in?next=${encodeURIComponent(next)}`);
  if (keyboard) {
    await tabTo(page, 'a.button');
    await page.keyboard.press('Enter');
  } else {
    await page.getByRole('link', { name: 'Sign in with your organisation' }).click();
  }
  await page.locator('input[name=login]').fill(user);
  await page.locator('input[name=password]').fill('any password');
  const back = page.waitForURL((url) => url.href.startsWith(base));
  await page.getByRole('button', { name: 'Sign-in' }).click();
  const consent = page.getByRole('button', { name: 'Continue' });
  await Promise.race([back, consent.waitFor().then(() => consent.click()).catch(() => {})]);
  await back;
  // The provider's own pages ask for a web font, which cannot be fetched here.
  page.problems = [];
}
