/**
 * Splits a byte stream into lines without holding more than one line: each line's bytes
 * without its newline, whether it ended with one, and a marker for a line longer than the
 * limit (which is not read whole).
 * @module
 */

/** A line may be at most 64 MiB, its newline included. */
export const MAX_LINE = 64 * 1024 * 1024;

/**
 * @typedef {object} Line
 * @property {Uint8Array} bytes the line without its newline
 * @property {boolean} terminated whether a newline ended it
 * @property {boolean} tooLong whether it exceeds the limit (then `bytes` is empty)
 */

/**
 * The chunks of a ReadableStream, an async iterable or an iterable of Uint8Array.
 * @param {ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Iterable<Uint8Array>} source
 * @returns {AsyncGenerator<Uint8Array>}
 */
export async function* chunks(source) {
  if (typeof source.getReader === 'function') {
    const reader = source.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  } else {
    yield* source;
  }
}

/**
 * @param {ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Iterable<Uint8Array>} source
 * @param {{maxLine?: number, onBytes?: (bytesRead: number) => void}} [options]
 * @returns {AsyncGenerator<Line>}
 */
export async function* lines(source, { maxLine = MAX_LINE, onBytes } = {}) {
  /** @type {Uint8Array[]} */
  let pending = [];
  let pendingLength = 0;
  let read = 0;
  const take = (tail) => {
    if (pending.length === 0) return tail;
    const out = new Uint8Array(pendingLength + tail.length);
    let at = 0;
    for (const piece of pending) {
      out.set(piece, at);
      at += piece.length;
    }
    out.set(tail, at);
    pending = [];
    pendingLength = 0;
    return out;
  };
  for await (const chunk of chunks(source)) {
    const bytes = chunk instanceof Uint8Array ? chunk : new Uint8Array(chunk);
    read += bytes.length;
    let start = 0;
    for (;;) {
      const newline = bytes.indexOf(10, start);
      if (newline < 0) break;
      if (pendingLength + newline - start + 1 > maxLine) {
        yield { bytes: new Uint8Array(0), terminated: true, tooLong: true };
        return;
      }
      yield { bytes: take(bytes.subarray(start, newline)), terminated: true, tooLong: false };
      start = newline + 1;
    }
    if (start < bytes.length) {
      if (pendingLength + bytes.length - start + 1 > maxLine) {
        yield { bytes: new Uint8Array(0), terminated: false, tooLong: true };
        return;
      }
      // Copy: the stream may reuse its chunk's buffer.
      pending.push(bytes.slice(start));
      pendingLength += bytes.length - start;
    }
    onBytes?.(read);
  }
  if (pendingLength > 0) yield { bytes: take(new Uint8Array(0)), terminated: false, tooLong: false };
}
