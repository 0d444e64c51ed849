/**
 * Wires the auditor's page: a bundle chosen in `#bundle-file` (form `#verify-bundle`) or
 * dropped on `#bundle-drop` is verified in a Worker; `#verify-progress` shows the bytes read and
 * `#verify-result` the verdict. Trusted verifier keys, when the page gives them, are in the
 * form's `data-trusted-keys` (separated by spaces); without any, the bundle is checked against
 * its own keys and the result says so.
 * @module
 */

import { renderVerdict } from './render.js';

const form = /** @type {HTMLFormElement} */ (document.getElementById('verify-bundle'));
const input = /** @type {HTMLInputElement} */ (document.getElementById('bundle-file'));
const drop = /** @type {HTMLElement} */ (document.getElementById('bundle-drop'));
const progress = /** @type {HTMLProgressElement} */ (document.getElementById('verify-progress'));
const result = /** @type {HTMLElement} */ (document.getElementById('verify-result'));

/** @type {Worker | null} */
let worker = null;

/** @param {Blob} file */
function verify(file) {
  worker?.terminate();
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  const trustedKeys = (form.dataset.trustedKeys ?? '').split(/\s+/).filter(Boolean);
  progress.value = 0;
  progress.hidden = false;
  result.replaceChildren();
  result.classList.remove('result-ok', 'result-failed');
  result.setAttribute('aria-busy', 'true');
  worker.addEventListener('message', (event) => {
    const message = event.data;
    if (message.type === 'progress') {
      progress.value = message.total > 0 ? Math.round((100 * message.read) / message.total) : 0;
      return;
    }
    progress.hidden = true;
    result.removeAttribute('aria-busy');
    if (message.type === 'result') renderVerdict(result, message.verdict);
    else renderVerdict(result, { ok: false, failure: 'Error', line: 0, detail: message.message });
    worker?.terminate();
    worker = null;
  });
  worker.postMessage({ kind: 'bundle', file, trustedKeys });
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (input.files?.[0]) verify(input.files[0]);
});
input.addEventListener('change', () => {
  if (input.files?.[0]) verify(input.files[0]);
});

if (!drop.hasAttribute('tabindex')) drop.tabIndex = 0;
drop.addEventListener('dragover', (event) => event.preventDefault());
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  const file = event.dataTransfer?.files?.[0];
  if (file) verify(file);
});
// From the keyboard, the drop zone opens the file chooser.
drop.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' || event.key === ' ') {
    event.preventDefault();
    input.click();
  }
});
