/**
 * Wires the client's receipt check: `<section id="receipt-check" data-receipt-url="…"
 * data-verifier-key="…">` fetches the receipt (same origin, with cookies), checks it against the
 * operator's verifier key, and writes a plain-words result into `#receipt-result`. The format
 * (`schema/consent-receipt.md` section 3) trusts only a key obtained out of band: the receipt's
 * own `publicKey` is a claim to check, never the anchor, so without `data-verifier-key` the
 * receipt is not checked.
 * @module
 */

import { verifyReceiptAnswer } from './receipt-verify.js';

const section = /** @type {HTMLElement} */ (document.getElementById('receipt-check'));
const result = /** @type {HTMLElement} */ (document.getElementById('receipt-result'));

/**
 * @param {import('./receipt-verify.js').ReceiptVerdict} verdict
 * @returns {string}
 */
export function describe(verdict) {
  if (verdict.ok) {
    const s = verdict.summary;
    return `This receipt is genuine: ${s.events} events proven in the organisation's signed log at checkpoint `
      + `${s.treeSize} (${s.origin}, root ${s.root.slice(0, 16)}…).`;
  }
  const member = verdict.claim ? ` at ${verdict.claim}` : '';
  const reason = verdict.reason ? ` (${verdict.reason}${member})` : '';
  return `This receipt could not be verified: ${verdict.failure}${reason}. ${verdict.detail}`;
}

async function check() {
  const key = section.dataset.verifierKey;
  if (!key) {
    result.textContent = 'This receipt cannot be checked here: the page does not give the organisation\'s verifier key.';
    return;
  }
  result.textContent = 'Checking the receipt…';
  try {
    const response = await fetch(section.dataset.receiptUrl ?? '', {
      credentials: 'same-origin',
      headers: { accept: 'application/json' },
    });
    if (!response.ok) throw new Error(`the receipt could not be fetched (${response.status})`);
    const verdict = await verifyReceiptAnswer(await response.text(), [key]);
    result.textContent = describe(verdict);
    result.classList.add(verdict.ok ? 'result-ok' : 'result-failed');
  } catch (error) {
    result.textContent = `This receipt could not be checked: ${error.message}`;
    result.classList.add('result-failed');
  }
}

check();
