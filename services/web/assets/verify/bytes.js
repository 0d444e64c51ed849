/**
 * Byte helpers for the verifier: lowercase hex, standard padded base64, UTF-8, and byte
 * comparison. Strict: anything that is not exactly the expected form is rejected.
 * @module
 */

const HEX = '0123456789abcdef';
const encoder = new TextEncoder();

/**
 * @param {Uint8Array} bytes
 * @returns {string} lowercase hex
 */
export function toHex(bytes) {
  let out = '';
  for (const byte of bytes) out += HEX[byte >> 4] + HEX[byte & 15];
  return out;
}

/**
 * Parses a SHA-256 value written as 64 lowercase hex digits.
 * @param {unknown} text
 * @returns {Uint8Array | null} the 32 bytes, or null when `text` is not of that form
 */
export function parseHash(text) {
  if (typeof text !== 'string' || text.length !== 64) return null;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    const high = NIBBLE[text.charCodeAt(2 * i)] ?? 16;
    const low = NIBBLE[text.charCodeAt(2 * i + 1)] ?? 16;
    if (high > 15 || low > 15) return null;
    out[i] = (high << 4) | low;
  }
  return out;
}

/** The value of each lowercase hex digit by its character code; 16 for any other. */
const NIBBLE = new Uint8Array(128).fill(16);
for (let i = 0; i < 16; i++) NIBBLE[HEX.charCodeAt(i)] = i;

/**
 * Decodes standard padded base64 (RFC 4648 section 4), refusing any other form.
 * @param {string} text
 * @returns {Uint8Array | null}
 */
export function fromBase64(text) {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  let binary;
  try {
    binary = atob(text);
  } catch {
    return null;
  }
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  // Canonical encoding only: the unused bits of the last character must be zero.
  if (toBase64(out) !== text) return null;
  return out;
}

/**
 * @param {Uint8Array} bytes
 * @returns {string} standard padded base64
 */
export function toBase64(bytes) {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * @param {string} text
 * @returns {Uint8Array} its UTF-8 bytes
 */
export function utf8(text) {
  return encoder.encode(text);
}

/**
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 * @returns {boolean}
 */
export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * @param {...Uint8Array} parts
 * @returns {Uint8Array} the parts joined
 */
export function concatBytes(...parts) {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
