// The JavaScript verifier against the tamper corpus that the Rust verifier's test writes
// (services/audit/tests/corpus.rs): for every case, the same verdict, the same failure name,
// and for verified bundles the same summary.
//
//   CONFIDE_CORPUS_DIR=/tmp/corpus cargo test -p confide-audit --test corpus   # writes and runs
//   CONFIDE_CORPUS_DIR=/tmp/corpus node --test services/web/tests/js/          # runs again

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyBundle } from '../../assets/verify/bundle.js';
import { verifyReceiptAnswer } from '../../assets/verify/receipt-verify.js';
import { expectedVerdict, comparableVerdict } from './verdict.mjs';

const dir = process.env.CONFIDE_CORPUS_DIR;

test('the corpus is given', () => {
  assert.ok(dir, 'set CONFIDE_CORPUS_DIR to a corpus written by services/audit/tests/corpus.rs');
});

const cases = dir ? JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).cases : [];

for (const kind of ['bundle', 'receipt']) {
  test(`${kind}s`, async (t) => {
    for (const c of cases.filter((c) => c.kind === kind)) {
      await t.test(c.name, async () => {
        let verdict;
        if (kind === 'bundle') {
          const previous = c.previous ? readFileSync(join(dir, c.previous), 'utf8') : null;
          verdict = await verifyBundle(createReadStream(join(dir, c.file)), { trustedKeys: c.trustedKeys, previous });
        } else {
          verdict = await verifyReceiptAnswer(readFileSync(join(dir, c.file), 'utf8'), c.trustedKeys);
        }
        assert.deepEqual(comparableVerdict(kind, verdict), expectedVerdict(kind, c.expect), verdict.detail);
      });
    }
  });
}
