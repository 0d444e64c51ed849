// What of a verdict the Rust and JavaScript verifiers must agree on: ok or not, the failure
// names and for bundles the line they are reported at, for receipts the reason and the member
// named, and for verified bundles the summary.

const BUNDLE_SUMMARY = [
  'events', 'consents', 'accesses', 'refusals', 'hiddenInScan', 'outsideScan', 'lines', 'treeSize', 'root', 'origin',
  'keysTrusted', 'extends',
];
// Receipt failures' reasons that schema/consent-receipt.md names; the others are the Rust
// checker's own words for a failed proof.
const DOC_REASONS = new Set(['ClaimMismatch', 'MissingClaim', 'UnknownMember', 'UnprovableClaim', 'NotOneStream']);
const RECEIPT_SUMMARY = ['events', 'treeSize', 'root', 'stream', 'receiptChecked'];

/** @param {object} summary @param {string[]} names */
function pick(summary, names) {
  return Object.fromEntries(names.map((name) => [name, summary[name]]));
}

/**
 * The manifest's expectation, in the comparable form.
 * @param {'bundle' | 'receipt'} kind
 * @param {object} expect
 */
export function expectedVerdict(kind, expect) {
  if (expect.ok) return { ok: true, summary: pick(expect.summary, kind === 'bundle' ? BUNDLE_SUMMARY : RECEIPT_SUMMARY) };
  if (kind === 'bundle') return { ok: false, failures: expect.failures, line: expect.line };
  const reason = DOC_REASONS.has(expect.reason) ? expect.reason : null;
  return { ok: false, failures: expect.failures, reason, claim: expect.claim ?? null };
}

/**
 * A JavaScript verdict, in the comparable form.
 * @param {'bundle' | 'receipt'} kind
 * @param {object} verdict
 */
export function comparableVerdict(kind, verdict) {
  if (verdict.ok) return { ok: true, summary: pick(verdict.summary, kind === 'bundle' ? BUNDLE_SUMMARY : RECEIPT_SUMMARY) };
  if (kind === 'bundle') return { ok: false, failures: [verdict.failure], line: verdict.line };
  const reason = DOC_REASONS.has(verdict.reason) ? verdict.reason : null;
  return { ok: false, failures: [verdict.failure], reason, claim: verdict.claim ?? null };
}
