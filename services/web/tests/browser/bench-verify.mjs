// Times the two verifiers on the same bundle in one run: confide-verify (Rust, release build)
// and the JavaScript verifier in Debian's Chromium (its Web Worker, the file streamed from a
// File), and how long the page's main thread went without a frame meanwhile.
//
//   node services/web/tests/browser/bench-verify.mjs [EVENTS] [ROUNDS]    # 100000 3
//
// Builds confide-verify and the write_bundle example of services/audit with cargo (in
// CARGO_TARGET_DIR, else target/), writes the bundle of EVENTS events to the temporary
// directory once, and keeps it for later runs.

import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve, HARNESS_HTML, HARNESS_JS } from './server.mjs';

const events = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 3);
const workspace = resolve(fileURLToPath(new URL('../../../../', import.meta.url)));
const target = process.env.CARGO_TARGET_DIR ?? join(workspace, 'target');

const run = (program, args, options = {}) => execFileSync(program, args, { cwd: workspace, encoding: 'utf8', ...options });

console.log('building confide-verify and write_bundle (release)…');
run('nice', ['-n', '19', 'cargo', 'build', '--release', '--quiet', '-p', 'confide-audit', '--bin', 'confide-verify',
  '--example', 'write_bundle'], { stdio: 'inherit' });
const bundle = join(tmpdir(), `confide-bench-${events}.jsonl`);
const writer = join(target, 'release/examples/write_bundle');
if (!existsSync(bundle)) run(writer, [bundle, String(events)]);
const key = run(writer, ['--key']).trim();
const bytes = statSync(bundle).size;
console.log(`bundle: ${bundle}, ${events} events, ${(bytes / 1e6).toFixed(1)} MB`);

const seconds = (ms) => `${(ms / 1000).toFixed(3)} s`;
const rate = (ms) => `${Math.round(events / (ms / 1000)).toLocaleString('en')} events/s, ${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;

const rust = [];
for (let i = 0; i < rounds; i++) {
  const start = performance.now();
  run(join(target, 'release/confide-verify'), [bundle, '--trusted-key', key]);
  rust.push(performance.now() - start);
}

const server = await serve({ files: dirname(bundle), pages: { '/favicon.ico': '', '/harness.html': HARNESS_HTML, '/harness.js': HARNESS_JS } });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const js = [];
let longestFrameGap = 0;
let summary;
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}/harness.html`);
  await page.waitForFunction(() => window.harnessReady === true);
  // A file chosen in a file input, as the auditor's page gets it: read from disk as streamed.
  await page.setInputFiles('#file', bundle);
  for (let i = 0; i < rounds; i++) {
    const result = await page.evaluate(async ({ key }) => {
      const file = document.getElementById('file').files[0];
      // The main thread's longest time without an animation frame while the Worker runs.
      let last = performance.now();
      let gap = 0;
      let running = true;
      const frame = (now) => {
        gap = Math.max(gap, now - last);
        last = now;
        if (running) requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
      const start = performance.now();
      const message = await window.runFile(file, [key]);
      const ms = performance.now() - start;
      running = false;
      return { ms, gap, message };
    }, { key });
    if (!result.message.verdict?.ok) throw new Error(`the JavaScript verifier failed: ${JSON.stringify(result.message)}`);
    js.push(result.ms);
    longestFrameGap = Math.max(longestFrameGap, result.gap);
    summary = result.message.verdict.summary;
  }
} finally {
  await browser.close();
  await server.close();
}

const best = (times) => Math.min(...times);
console.log(`confide-verify (Rust, ${rounds} rounds): ${rust.map(seconds).join(', ')}; best ${seconds(best(rust))} (${rate(best(rust))})`);
console.log(`JavaScript in Chromium's Worker (${rounds} rounds): ${js.map(seconds).join(', ')}; best ${seconds(best(js))} (${rate(best(js))})`);
console.log(`  longest main-thread gap between frames meanwhile: ${longestFrameGap.toFixed(0)} ms`);
console.log(`  verified: ${summary.events} events, ${summary.consents} consents, ${summary.accesses} accesses, ${summary.refusals} refusals`);
console.log(`ratio JavaScript / Rust: ${(best(js) / best(rust)).toFixed(1)}`);
