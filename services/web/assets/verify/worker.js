/**
 * A Web Worker that verifies off the page's thread, so a bundle of 100,000 events never
 * freezes it. Messages in:
 *   {kind: 'bundle', file: Blob} or {kind: 'bundle', url: string}, with optional
 *     trustedKeys: string[] and previous: string (a signed checkpoint note);
 *   {kind: 'receipt', text: string, trustedKeys: string[]}.
 * Messages out: {type: 'progress', read, total} while reading (bytes), then
 * {type: 'result', verdict} or {type: 'error', message}.
 *
 * The bundle is streamed (`blob.stream()` or the response body) and split into lines as
 * bytes, not decoded text: the end line's digest is over the lines' exact bytes, and a line
 * that is not UTF-8 must fail as that line.
 * @module
 */

import { verifyBundle } from './bundle.js';
import { verifyReceiptAnswer } from './receipt-verify.js';

/** Progress is posted at most once per this many bytes. */
const PROGRESS_STEP = 1 << 20;

/**
 * @param {{file?: Blob, url?: string}} request
 * @returns {Promise<{stream: ReadableStream<Uint8Array>, total: number}>}
 */
async function open(request) {
  if (request.file) return { stream: request.file.stream(), total: request.file.size };
  const response = await fetch(request.url, { credentials: 'same-origin' });
  if (!response.ok || !response.body) throw new Error(`fetching the bundle failed: ${response.status}`);
  return { stream: response.body, total: Number(response.headers.get('content-length')) || 0 };
}

self.addEventListener('message', async (event) => {
  const request = event.data;
  try {
    if (request.kind === 'receipt') {
      self.postMessage({ type: 'result', verdict: await verifyReceiptAnswer(request.text, request.trustedKeys) });
      return;
    }
    const { stream, total } = await open(request);
    let posted = 0;
    const onBytes = (read) => {
      if (read - posted >= PROGRESS_STEP || read === total) {
        posted = read;
        self.postMessage({ type: 'progress', read, total });
      }
    };
    const verdict = await verifyBundle(stream, {
      trustedKeys: request.trustedKeys ?? [],
      previous: request.previous ?? null,
      onBytes,
    });
    self.postMessage({ type: 'result', verdict });
  } catch (error) {
    self.postMessage({ type: 'error', message: String(error?.message ?? error) });
  }
});
