/**
 * Canonical JSON: RFC 8785 (JSON Canonicalization Scheme) restricted to integers in
 * ±(2^53 - 1), as `schema/audit-bundle.md` section 2 defines it.
 * @module
 */

/** Thrown for a value that has no canonical form (a fraction, a large number, a lone surrogate). */
export class NotCanonicalError extends Error {}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Whether a string is well-formed Unicode (no unpaired surrogate).
 * @param {string} text
 * @returns {boolean}
 */
export function isWellFormed(text) {
  return typeof text.isWellFormed === 'function' ? text.isWellFormed() : !LONE_SURROGATE.test(text);
}

/** Canonical member names seen before: names repeat from line to line. */
const names = new Map();

/** @param {string} name @returns {string} its canonical JSON */
function canonicalName(name) {
  let text = names.get(name);
  if (text === undefined) {
    text = canonicalize(name);
    if (names.size < 10_000) names.set(name, text);
  }
  return text;
}

/**
 * The canonical JSON text of a value.
 * @param {unknown} value
 * @returns {string}
 * @throws {NotCanonicalError}
 */
export function canonicalize(value) {
  if (value === null || value === true || value === false) return String(value);
  switch (typeof value) {
    case 'number':
      if (!Number.isSafeInteger(value)) throw new NotCanonicalError(`${value} is not an integer within ±(2^53 - 1)`);
      return Object.is(value, -0) ? '0' : String(value);
    case 'string':
      if (!isWellFormed(value)) throw new NotCanonicalError('a string holds an unpaired surrogate');
      // ECMAScript's JSON.stringify escapes strings exactly as RFC 8785 requires.
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + canonicalize(value[i]);
        return `${out}]`;
      }
      // Default string order is by UTF-16 code units, the order RFC 8785 prescribes.
      const members = Object.keys(value).sort();
      let out = '{';
      for (let i = 0; i < members.length; i++) {
        out += `${i > 0 ? ',' : ''}${canonicalName(members[i])}:${canonicalize(value[members[i]])}`;
      }
      return `${out}}`;
    }
    default:
      throw new NotCanonicalError(`${typeof value} is not JSON`);
  }
}

/**
 * Parses JSON text and tells whether it is exactly its value's canonical form. JSON.parse keeps
 * the last of repeated names and rounds large numbers; either way the canonical form of what it
 * read differs from the text, so repeats and inexact numbers are caught by the comparison. A
 * string escaping an unpaired surrogate is not text at all: not JSON, as far as the format goes.
 * @param {string} text
 * @returns {{value: unknown, json: true, canonical: boolean} | {json: false}}
 */
export function parseCanonical(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    return { json: false };
  }
  // Decoded UTF-8 holds no surrogate; only an escape can bring in an unpaired one.
  if (text.includes('\\u') && !isWellFormedDeep(value)) return { json: false };
  let canonical;
  try {
    canonical = canonicalize(value) === text;
  } catch {
    canonical = false;
  }
  return { value, json: true, canonical };
}

/**
 * Whether every string (and member name) in a parsed value is well-formed Unicode.
 * @param {unknown} value
 * @returns {boolean}
 */
function isWellFormedDeep(value) {
  if (typeof value === 'string') return isWellFormed(value);
  if (Array.isArray(value)) return value.every(isWellFormedDeep);
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).every(([name, member]) => isWellFormed(name) && isWellFormedDeep(member));
  }
  return true;
}
