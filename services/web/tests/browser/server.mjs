// A static HTTP server for the browser tests and the bench, on 127.0.0.1 and a port the
// system picks: services/web/assets/ under /assets/, a directory of files (the corpus, a
// bench bundle) under /files/, and pages given in memory. Every page is served with Confide's
// strict Content-Security-Policy, so inline script or style would be refused.

import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ASSETS = resolve(fileURLToPath(new URL('../../assets/', import.meta.url)));
const TYPES = {
  '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json', '.jsonl': 'application/x-ndjson',
  '.html': 'text/html; charset=utf-8', '.css': 'text/css',
};
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; worker-src 'self'";

/**
 * @param {{files: string, pages?: Record<string, string>}} options
 * @returns {Promise<{url: string, close: () => Promise<void>}>}
 */
export async function serve({ files, pages = {} }) {
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url, 'http://localhost').pathname);
    const headers = { 'content-security-policy': CSP, 'cache-control': 'no-store' };
    if (Object.hasOwn(pages, path)) {
      response.writeHead(200, { ...headers, 'content-type': TYPES[extname(path)] ?? 'text/plain' });
      response.end(pages[path]);
      return;
    }
    let root = null;
    let rest = '';
    if (path.startsWith('/assets/')) [root, rest] = [ASSETS, path.slice('/assets/'.length)];
    else if (path.startsWith('/files/')) [root, rest] = [resolve(files), path.slice('/files/'.length)];
    const file = root === null ? null : join(root, normalize(rest));
    let size = -1;
    try {
      if (file !== null && file.startsWith(root + '/')) size = statSync(file).isFile() ? statSync(file).size : -1;
    } catch {
      size = -1;
    }
    if (size < 0) {
      response.writeHead(404, headers);
      response.end();
      return;
    }
    response.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': size });
    createReadStream(file).pipe(response);
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((done) => server.close(() => done())),
  };
}

/** The harness page's module: runs one case in the verifier's Worker, as the auditor page does. */
export const HARNESS_JS = `
const worker = new Worker('/assets/verify/worker.js', { type: 'module' });
function run(message) {
  const progress = [];
  return new Promise((resolve) => {
    const listener = (event) => {
      if (event.data.type === 'progress') { progress.push(event.data); return; }
      worker.removeEventListener('message', listener);
      resolve({ ...event.data, progress });
    };
    worker.addEventListener('message', listener);
    worker.postMessage(message);
  });
}
window.runFile = (file, trustedKeys) => run({ kind: 'bundle', file, trustedKeys, previous: null });
window.runUrl = (url, trustedKeys) => run({ kind: 'bundle', url, trustedKeys, previous: null });
window.runCase = async (c) => {
  const blob = await (await fetch('/files/' + c.file)).blob();
  if (c.kind === 'receipt') return run({ kind: 'receipt', text: await blob.text(), trustedKeys: c.trustedKeys });
  const previous = c.previous ? await (await fetch('/files/' + c.previous)).text() : null;
  const file = new File([blob], c.file.split('/').pop());
  return run({ kind: 'bundle', file, trustedKeys: c.trustedKeys, previous });
};
window.harnessReady = true;
`;

export const HARNESS_HTML = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Verifier harness</title>
<script type="module" src="/harness.js"></script></head><body>
<label for="file">Bundle</label><input type="file" id="file"></body></html>`;
