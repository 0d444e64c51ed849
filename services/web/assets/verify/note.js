/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, verifier key strings
 * (`<name>+<key id hex>+<base64(0x01 ‖ key)>`), and tlog-checkpoint bodies
 * (`schema/audit-bundle.md` section 6). Signatures are verified with WebCrypto's Ed25519.
 * @module
 */

import { fromBase64, utf8, toHex } from './bytes.js';
import { sha256 } from './sha256.js';

/** Thrown for a key, note or checkpoint that is not of its format. */
export class FormatError extends Error {}

const ED25519 = 0x01;
const SIGNATURE_PREFIX = '\u2014 ';

/**
 * @typedef {object} VerifierKey
 * @property {string} name
 * @property {number} keyId the 32-bit key id
 * @property {Uint8Array} publicKey the 32-byte Ed25519 key
 * @property {string} text the verifier key string
 * @property {Promise<CryptoKey>} [cryptoKey]
 */

/**
 * A key name: non-empty, no whitespace, no `+`.
 * @param {string} name
 * @returns {boolean}
 */
function validName(name) {
  return name.length > 0 && !/[\s+]/u.test(name);
}

/**
 * The key id of an Ed25519 key: the first four bytes, big-endian, of
 * SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key).
 * @param {string} name
 * @param {Uint8Array} publicKey
 * @returns {number}
 */
export function keyId(name, publicKey) {
  const hash = sha256(utf8(name), new Uint8Array([0x0a, ED25519]), publicKey);
  return new DataView(hash.buffer).getUint32(0);
}

/**
 * Parses a verifier key string; its key id must match its name and key.
 * @param {string} text
 * @returns {VerifierKey}
 * @throws {FormatError}
 */
export function parseVerifierKey(text) {
  // The name and the key id hold no `+`; the base64 key may.
  const match = typeof text === 'string' ? /^([^+]*)\+([^+]*)\+(.*)$/s.exec(text) : null;
  if (!match) throw new FormatError('a verifier key is <name>+<key id>+<key>');
  const [, name, idHex, keyText] = match;
  if (!validName(name)) throw new FormatError(`bad key name ${JSON.stringify(name)}`);
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new FormatError('the key id is not 8 lowercase hex digits');
  const blob = fromBase64(keyText);
  if (!blob || blob.length !== 33 || blob[0] !== ED25519) throw new FormatError('the key is not an Ed25519 key');
  const publicKey = blob.subarray(1);
  const id = parseInt(idHex, 16);
  if (keyId(name, publicKey) !== id) throw new FormatError('the key id does not match the name and key');
  return { name, keyId: id, publicKey, text };
}

/**
 * @param {VerifierKey} key
 * @returns {string} `<name>+<key id>`, as failures name signers
 */
export function keyLabel(key) {
  return `${key.name}+${key.keyId.toString(16).padStart(8, '0')}`;
}

/**
 * @typedef {object} SignatureLine
 * @property {string} name
 * @property {number} keyId
 * @property {Uint8Array} signature
 */

/**
 * Splits a signed note into its body (with its final newline) and signature lines.
 * @param {unknown} note
 * @returns {{body: string, signatures: SignatureLine[]}}
 * @throws {FormatError}
 */
export function parseNote(note) {
  if (typeof note !== 'string') throw new FormatError('a note is text');
  if (/[\x00-\x09\x0b-\x1f\x7f]/.test(note)) throw new FormatError('a note holds a control character');
  if (!note.endsWith('\n')) throw new FormatError('a note ends with a newline');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new FormatError('a note has a blank line before its signatures');
  const body = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  const signatures = [];
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw new FormatError('a signature line starts with an em dash and a space');
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(' ');
    if (space < 0) throw new FormatError('a signature line is <name> <signature>');
    const name = rest.slice(0, space);
    const blob = fromBase64(rest.slice(space + 1));
    if (!validName(name) || !blob || blob.length < 5) throw new FormatError('a malformed signature line');
    signatures.push({
      name,
      keyId: new DataView(blob.buffer, blob.byteOffset).getUint32(0),
      signature: blob.subarray(4),
    });
  }
  if (signatures.length === 0) throw new FormatError('a note has no signature');
  return { body, signatures };
}

/**
 * @param {VerifierKey} key
 * @returns {Promise<CryptoKey>}
 */
function importKey(key) {
  key.cryptoKey ??= crypto.subtle.importKey('raw', key.publicKey, { name: 'Ed25519' }, false, ['verify']);
  return key.cryptoKey;
}

/**
 * Checks a note's signatures against the accepted keys: the note is accepted when at least
 * one accepted key signed it and every signature line claiming an accepted key verifies.
 * @param {{body: string, signatures: SignatureLine[]}} note
 * @param {VerifierKey[]} accepted
 * @returns {Promise<{ok: true, signedBy: VerifierKey[]} | {ok: false, failure: 'UnknownSigner', claimed: string[]} | {ok: false, failure: 'BadCheckpointSignature', key: VerifierKey}>}
 */
export async function checkSignatures(note, accepted) {
  const body = utf8(note.body);
  const signedBy = [];
  for (const line of note.signatures) {
    const key = accepted.find((k) => k.name === line.name && k.keyId === line.keyId);
    if (!key) continue;
    let valid = false;
    if (line.signature.length === 64) {
      valid = await crypto.subtle.verify({ name: 'Ed25519' }, await importKey(key), line.signature, body);
    }
    if (!valid) return { ok: false, failure: 'BadCheckpointSignature', key };
    if (!signedBy.includes(key)) signedBy.push(key);
  }
  if (signedBy.length === 0) {
    return {
      ok: false,
      failure: 'UnknownSigner',
      claimed: note.signatures.map((s) => `${s.name}+${s.keyId.toString(16).padStart(8, '0')}`),
    };
  }
  return { ok: true, signedBy };
}

/**
 * @typedef {object} Checkpoint
 * @property {string} origin
 * @property {number} size
 * @property {Uint8Array} root
 * @property {string[]} extensions
 */

/**
 * Parses a checkpoint body: origin, decimal size without leading zeros, base64 root of 32
 * bytes, then extension lines, each line ending in a newline.
 * @param {string} body
 * @returns {Checkpoint}
 * @throws {FormatError}
 */
export function parseCheckpoint(body) {
  if (!body.endsWith('\n')) throw new FormatError('a checkpoint ends with a newline');
  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3) throw new FormatError('a checkpoint has an origin, a size and a root');
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (origin.length === 0) throw new FormatError('the origin is empty');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || Number(sizeText) > Number.MAX_SAFE_INTEGER) {
    throw new FormatError(`bad tree size ${JSON.stringify(sizeText)}`);
  }
  const root = fromBase64(rootText);
  if (!root || root.length !== 32) throw new FormatError('the root is not 32 bytes of base64');
  if (extensions.some((line) => line.length === 0)) throw new FormatError('an empty extension line');
  return { origin, size: Number(sizeText), root, extensions };
}

/**
 * Whether an origin is Confide's for the tenant: `<non-empty prefix>/<tenant_id>`.
 * @param {string} origin
 * @param {string} tenantId
 * @returns {boolean}
 */
export function originNamesTenant(origin, tenantId) {
  const suffix = `/${tenantId}`;
  return origin.endsWith(suffix) && origin.length > suffix.length;
}

/** @param {Checkpoint} checkpoint @returns {string} */
export function describeCheckpoint(checkpoint) {
  return `${checkpoint.origin} size ${checkpoint.size} root ${toHex(checkpoint.root)}`;
}

