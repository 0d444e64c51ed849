/**
 * The bundle header's filter (`schema/audit-bundle.md` section 8): its form, whether an
 * event matches it, and the closure rule.
 * @module
 */

import { utf8 } from './bytes.js';

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/**
 * @param {unknown} value
 * @returns {boolean} whether `value` is a timestamp of the fixed form
 */
export function isTimestamp(value) {
  return typeof value === 'string' && TIMESTAMP.test(value);
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
export function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Byte order of the UTF-8 forms of two strings.
 * @param {string} a
 * @param {string} b
 * @returns {number}
 */
function compareBytes(a, b) {
  const x = utf8(a);
  const y = utf8(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/**
 * @typedef {object} Filter
 * @property {string | null} from
 * @property {string | null} until
 * @property {Map<string, Set<string>>} subjects
 */

/**
 * Reads a header's filter, or explains why it is not one.
 * @param {unknown} value
 * @returns {Filter | string} the filter, or the reason it is malformed
 */
export function parseFilter(value) {
  if (!isObject(value) || Object.keys(value).length !== 3) return 'the filter has from, subjects and until';
  const { from, until, subjects } = value;
  for (const bound of [from, until]) {
    if (bound !== null && !isTimestamp(bound)) return 'a time bound is not a timestamp';
  }
  if (!isObject(subjects)) return 'the subjects are not an object';
  const parsed = new Map();
  for (const [kind, ids] of Object.entries(subjects)) {
    if (!/^[a-z_]+$/.test(kind)) return `bad subject kind ${JSON.stringify(kind)}`;
    if (!Array.isArray(ids) || ids.length === 0) return `the ${kind} ids are not a non-empty list`;
    for (let i = 0; i < ids.length; i++) {
      if (typeof ids[i] !== 'string') return `a ${kind} id is not text`;
      if (i > 0 && compareBytes(ids[i - 1], ids[i]) >= 0) return `the ${kind} ids are not sorted without repeats`;
    }
    parsed.set(kind, new Set(ids));
  }
  return { from, until, subjects: parsed };
}

/**
 * Whether an envelope matches the filter.
 * @param {Filter} filter
 * @param {{recorded_at: string, stream_id: string, payload: unknown}} envelope
 * @returns {boolean}
 */
export function matches(filter, envelope) {
  if (filter.from !== null || filter.until !== null) {
    if (!isTimestamp(envelope.recorded_at)) return false;
    if (filter.from !== null && envelope.recorded_at < filter.from) return false;
    if (filter.until !== null && !(envelope.recorded_at < filter.until)) return false;
  }
  if (filter.subjects.size === 0) return true;
  const payload = envelope.payload;
  for (const [kind, ids] of filter.subjects) {
    const dash = envelope.stream_id.indexOf('-');
    if (dash >= 0 && envelope.stream_id.slice(0, dash) === kind && ids.has(envelope.stream_id.slice(dash + 1))) {
      return true;
    }
    const named = isObject(payload) ? payload[`${kind}_id`] : undefined;
    if (typeof named === 'string' && ids.has(named)) return true;
  }
  return false;
}

/**
 * The closure rule: a matching event that creates a stream `k-i` needs `i` listed under `k`
 * (filters with subjects only).
 * @param {Filter} filter
 * @param {{stream_id: string, stream_version: number}} envelope a matching envelope
 * @returns {boolean}
 */
export function closed(filter, envelope) {
  if (filter.subjects.size === 0 || envelope.stream_version !== 1) return true;
  const dash = envelope.stream_id.indexOf('-');
  if (dash < 0) return true;
  const ids = filter.subjects.get(envelope.stream_id.slice(0, dash));
  return ids !== undefined && ids.has(envelope.stream_id.slice(dash + 1));
}
