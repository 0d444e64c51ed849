/**
 * The audit bundle verifier (`schema/audit-bundle.md`): reads a bundle once, line by line,
 * with memory bounded by one line plus the Merkle frontier, and stops at the first failure,
 * named as in the document's section 11.
 * @module
 */

import { parseHash, toHex, equalBytes } from './bytes.js';
import { parseCanonical } from './canonical.js';
import { Frontier, leafHash, rangeNodes, verifyConsistency } from './merkle.js';
import { Sha256 } from './sha256.js';
import {
  FormatError, checkSignatures, keyLabel, originNamesTenant, parseCheckpoint, parseNote, parseVerifierKey,
} from './note.js';
import { closed, isObject, isTimestamp, matches, parseFilter } from './filter.js';
import { lines } from './lines.js';
import { Tally } from './report.js';

/** A failure: its section 11 name, the line (1-based; 0 for the auditor's previous checkpoint). */
export class BundleFailure extends Error {
  /**
   * @param {string} name
   * @param {number} line
   * @param {string} detail
   */
  constructor(name, line, detail) {
    super(`${name}: ${line === 0 ? 'the previous checkpoint' : `line ${line}`}: ${detail}`);
    this.failure = name;
    this.line = line;
    this.detail = detail;
  }
}

/**
 * @typedef {object} VerifyOptions
 * @property {string[]} [trustedKeys] verifier key strings; without any, the bundle's own keys are used
 * @property {string | null} [previous] the auditor's previous checkpoint (a signed note)
 * @property {(bytesRead: number) => void} [onBytes] progress
 */

/**
 * @typedef {object} Summary
 * @property {string} tenant
 * @property {string} origin
 * @property {number} treeSize
 * @property {string} root hex
 * @property {string[]} signedBy `<name>+<key id>` of the keys that signed the checkpoint
 * @property {boolean} keysTrusted whether those were the auditor's trusted keys
 * @property {number} extends older checkpoints shown consistent
 * @property {number} events disclosed events
 * @property {number} consents consents named by the disclosed events, per client
 * @property {number} accesses grants, revocations, playbacks and refusals of recordings
 * @property {number} refusals refused playbacks
 * @property {number} hiddenInScan undisclosed leaves in the scanned range
 * @property {number} outsideScan leaves outside it
 * @property {number} lines lines in the bundle, the end line included
 * @property {unknown} filter the header's filter
 * @property {{start: number, end: number}} scan
 */

/**
 * @typedef {{ok: true, summary: Summary} | {ok: false, failure: string, line: number, detail: string}} Verdict
 */

const ENVELOPE_MEMBERS = [
  'event_id', 'event_type', 'metadata', 'payload', 'recorded_at', 'schema_version', 'sequence', 'stream_id',
  'stream_version', 'tenant_id',
];
/** The bytes around an event line's envelope: `{"envelope":` and `,"leaf":"<64 hex>","type":"event"}`. */
const EVENT_PREFIX = 12;
const EVENT_SUFFIX = 90;
const NEWLINE = new Uint8Array([10]);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** @param {unknown} value @param {string[]} names @returns {boolean} */
function hasExactly(value, names) {
  if (!isObject(value)) return false;
  const keys = Object.keys(value);
  return keys.length === names.length && names.every((name) => Object.hasOwn(value, name));
}

/** @param {unknown} value @param {number} [min] @param {number} [max] @returns {boolean} */
function isInteger(value, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return Number.isSafeInteger(value) && value >= min && value <= max;
}

/** @param {unknown} envelope @returns {boolean} */
function isEnvelope(envelope) {
  if (!hasExactly(envelope, ENVELOPE_MEMBERS)) return false;
  const e = /** @type {Record<string, unknown>} */ (envelope);
  return ['event_id', 'event_type', 'recorded_at', 'stream_id', 'tenant_id'].every((n) => typeof e[n] === 'string')
    && isInteger(e.schema_version, 0, 2 ** 32 - 1) && isInteger(e.sequence) && isInteger(e.stream_version, 1);
}

/** Verifies one bundle, fed line by line. */
class Verifier {
  /** @param {VerifyOptions} options */
  constructor(options) {
    this.trusted = (options.trustedKeys ?? []).map((key) => parseVerifierKey(key));
    this.previousNote = options.previous ?? null;
    this.state = 'header';
    this.lineNo = 0;
    this.keys = [];
    this.digest = new Sha256();
    this.frontier = new Frontier();
    this.next = 0;
    this.gap = null;
    this.events = 0;
    this.extends = 0;
    this.consistency = null;
    this.tally = new Tally();
  }

  /** @param {string} name @param {string} detail @param {number} [line] */
  fail(name, detail, line = this.lineNo) {
    throw new BundleFailure(name, line, detail);
  }

  /** @param {import('./lines.js').Line} line */
  async line(line) {
    this.lineNo++;
    if (this.state === 'ended') this.fail('TrailingData', 'data after the end line');
    if (line.tooLong) this.fail('Malformed', 'the line is longer than 64 MiB');
    if (!line.terminated) this.fail('Truncated', 'the line does not end with a newline');
    let text;
    try {
      text = strictUtf8.decode(line.bytes);
    } catch {
      this.fail('Malformed', 'the line is not UTF-8');
    }
    const parsed = parseCanonical(text);
    if (!parsed.json) this.fail('Malformed', 'the line is not JSON');
    if (!parsed.canonical) this.fail('NotCanonical', 'the line is not its canonical JSON');
    const value = parsed.value;
    if (!isObject(value) || typeof value.type !== 'string') this.fail('Malformed', 'the line is not an object with a type');

    const type = value.type;
    if (type === 'event' || type === 'skip' || type === 'end') {
      if (this.state === 'afterCheckpoint') await this.leaveCheckpoint();
      if (this.state !== 'segments') this.fail('Malformed', `a ${type} line before the checkpoint`);
      if (type === 'event') return this.eventLine(value, line.bytes);
      if (type === 'skip') return this.skipLine(value, line.bytes);
      return this.endLine(value);
    }
    if (type === 'header' && this.state === 'header') return this.headerLine(value, line.bytes);
    if (type === 'key' && (this.state === 'keys' || this.state === 'keysOrCheckpoint')) return this.keyLine(value, line.bytes);
    if (type === 'checkpoint' && this.state === 'keysOrCheckpoint') return this.checkpointLine(value, line.bytes);
    if (type === 'consistency' && this.state === 'afterCheckpoint' && this.consistency === null) {
      return this.consistencyLine(value, line.bytes);
    }
    this.fail('Malformed', `a ${JSON.stringify(type)} line is out of place`);
  }

  /** @param {Uint8Array} bytes */
  hashLine(bytes) {
    this.digest.update(bytes);
    this.digest.update(NEWLINE);
  }

  headerLine(value, bytes) {
    const names = ['exported_at', 'filter', 'format', 'generator', 'scan', 'tenant_id', 'type', 'version'];
    if (Object.hasOwn(value, 'format') && value.format !== 'confide-audit-bundle') {
      this.fail('UnsupportedVersion', `format ${JSON.stringify(value.format)}`);
    }
    if (Object.hasOwn(value, 'version') && value.version !== 1) this.fail('UnsupportedVersion', `version ${JSON.stringify(value.version)}`);
    if (!hasExactly(value, names)) this.fail('Malformed', 'the header does not have exactly its members');
    if (typeof value.tenant_id !== 'string' || value.tenant_id === '') this.fail('Malformed', 'the tenant is not a non-empty string');
    if (!isTimestamp(value.exported_at) || typeof value.generator !== 'string') this.fail('Malformed', 'bad exported_at or generator');
    const filter = parseFilter(value.filter);
    if (typeof filter === 'string') this.fail('Malformed', filter);
    const scan = value.scan;
    if (!hasExactly(scan, ['end', 'start']) || !isInteger(scan.start) || !isInteger(scan.end) || scan.start > scan.end) {
      this.fail('Malformed', 'the scan is not {start, end} with start ≤ end');
    }
    this.header = value;
    this.filter = filter;
    this.scan = scan;
    this.hashLine(bytes);
    this.state = 'keys';
  }

  keyLine(value, bytes) {
    if (!hasExactly(value, ['key', 'type']) || typeof value.key !== 'string') this.fail('Malformed', 'a key line is {key, type}');
    let key;
    try {
      key = parseVerifierKey(value.key);
    } catch (error) {
      this.fail('Malformed', `the key: ${error.message}`);
    }
    if (this.keys.some((k) => k.text === key.text)) this.fail('Malformed', 'a key listed twice');
    this.keys.push(key);
    this.hashLine(bytes);
    this.state = 'keysOrCheckpoint';
  }

  /** The accepted keys: the trusted ones when given, else the bundle's. */
  accepted() {
    return this.trusted.length > 0 ? this.trusted : this.keys;
  }

  /**
   * Parses and checks a signed checkpoint note: its format, its signers, its body.
   * @param {unknown} note
   * @param {number} line
   */
  async signedCheckpoint(note, line) {
    let parsed;
    let checkpoint;
    try {
      parsed = parseNote(note);
    } catch (error) {
      this.fail('Malformed', `the note: ${error.message}`, line);
    }
    const signatures = await checkSignatures(parsed, this.accepted());
    if (!signatures.ok && signatures.failure === 'UnknownSigner') {
      this.fail('UnknownSigner', `signed by ${signatures.claimed.join(', ')}, none of them an accepted key`, line);
    }
    if (!signatures.ok) this.fail('BadCheckpointSignature', `the signature by ${signatures.key.text} does not verify`, line);
    try {
      checkpoint = parseCheckpoint(parsed.body);
    } catch (error) {
      if (!(error instanceof FormatError)) throw error;
      this.fail('Malformed', `the checkpoint: ${error.message}`, line);
    }
    return { checkpoint, signedBy: signatures.signedBy };
  }

  async checkpointLine(value, bytes) {
    if (!hasExactly(value, ['note', 'type'])) this.fail('Malformed', 'a checkpoint line is {note, type}');
    const { checkpoint, signedBy } = await this.signedCheckpoint(value.note, this.lineNo);
    if (!originNamesTenant(checkpoint.origin, this.header.tenant_id)) {
      this.fail('OriginMismatch', `the origin ${JSON.stringify(checkpoint.origin)} does not name tenant ${this.header.tenant_id}`);
    }
    if (this.scan.end > checkpoint.size) this.fail('Malformed', 'the scan ends beyond the tree');
    this.checkpoint = checkpoint;
    this.checkpointLineNo = this.lineNo;
    this.signedBy = signedBy;
    this.hashLine(bytes);
    this.state = 'afterCheckpoint';
  }

  async consistencyLine(value, bytes) {
    if (!hasExactly(value, ['note', 'proof', 'type']) || !Array.isArray(value.proof)) {
      this.fail('Malformed', 'a consistency line is {note, proof, type}');
    }
    const proof = value.proof.map(parseHash);
    if (proof.some((hash) => hash === null)) this.fail('Malformed', 'a proof hash is not 64 lowercase hex digits');
    const { checkpoint: old } = await this.signedCheckpoint(value.note, this.lineNo);
    const current = this.checkpoint;
    if (old.origin !== current.origin) this.fail('OriginMismatch', 'the older checkpoint is of another log');
    if (old.size > current.size) this.fail('CheckpointRollback', `the older checkpoint has ${old.size} events, the bundle's ${current.size}`);
    if (!verifyConsistency(old.size, current.size, proof, old.root, current.root)) {
      this.fail('InconsistentTrees', `the proof from size ${old.size} does not lead to the checkpoint`);
    }
    this.consistency = old;
    this.extends++;
    this.hashLine(bytes);
  }

  /** Checks the auditor's previous checkpoint, once the consistency line (if any) is read. */
  async leaveCheckpoint() {
    this.state = 'segments';
    if (this.previousNote === null) return;
    const { checkpoint: previous } = await this.signedCheckpoint(this.previousNote, 0);
    const current = this.checkpoint;
    if (previous.origin !== current.origin) this.fail('OriginMismatch', 'the previous checkpoint is of another log', 0);
    if (previous.size > current.size) {
      this.fail('CheckpointRollback', `the previous checkpoint has ${previous.size} events, the bundle's ${current.size}`, 0);
    }
    if (previous.size === current.size) {
      if (!equalBytes(previous.root, current.root)) this.fail('InconsistentTrees', 'same size, different roots', 0);
    } else {
      const proven = this.consistency;
      if (proven === null || proven.size !== previous.size) {
        this.fail('ConsistencyProofMissing', `the bundle proves nothing from size ${previous.size}`, 0);
      }
      if (!equalBytes(proven.root, previous.root)) this.fail('InconsistentTrees', 'the bundle proves consistency from another root', 0);
    }
    this.extends++;
  }

  /**
   * Accounts for the leaves [start, end) of the current line.
   * @returns {boolean} whether the line is in order (else a gap was found: the lines after it
   *   decide whether an event was dropped, moved or inserted)
   */
  place(start, end) {
    const size = this.checkpoint.size;
    if (start > this.next) {
      this.gap = { line: this.lineNo, start, end, expected: this.next, supplier: 0 };
      this.state = 'gap';
      return false;
    }
    if (start < this.next) this.fail('EventInserted', `leaf ${start} is already covered`);
    if (end > size) this.fail('EventInserted', `leaves ${start}..${end} are beyond the tree of ${size}`);
    this.next = end;
    return true;
  }

  /**
   * After a gap, only where the following event and skip lines lie counts: one that covers
   * the early line's leaves again shows an insertion; one that supplies the missing leaf shows
   * a move; none, a drop. The first other line ends the search.
   * @param {import('./lines.js').Line} line
   * @returns {boolean} whether the search goes on
   */
  gapLine(line) {
    this.lineNo++;
    const value = line.terminated && !line.tooLong ? this.parse(line.bytes) : null;
    let range = null;
    if (value?.type === 'event' && hasExactly(value, ['envelope', 'leaf', 'type']) && parseHash(value.leaf)
      && isEnvelope(value.envelope)) {
      range = [value.envelope.sequence, value.envelope.sequence + 1];
    } else if (value?.type === 'skip' && this.skipRange(value)) {
      range = [value.start, value.end];
    }
    if (range === null) return false;
    const gap = this.gap;
    if (range[0] < gap.end && gap.start < range[1]) {
      this.fail('EventInserted', `leaf ${gap.start} is covered again later`, gap.line);
    }
    if (gap.supplier === 0 && range[0] <= gap.expected && gap.expected < range[1]) gap.supplier = this.lineNo;
    return true;
  }

  /** Names the failure a gap is, once the search has ended. */
  failGap() {
    const gap = this.gap;
    if (gap.supplier !== 0) this.fail('EventsOutOfOrder', `leaf ${gap.expected} comes after later leaves`, gap.supplier);
    this.fail('EventDropped', `leaf ${gap.expected} is missing`, gap.line);
  }

  /**
   * A line's JSON value if it is UTF-8, JSON and canonical, else null.
   * @param {Uint8Array} bytes
   */
  parse(bytes) {
    try {
      const parsed = parseCanonical(strictUtf8.decode(bytes));
      return parsed.json && parsed.canonical && isObject(parsed.value) ? parsed.value : null;
    } catch {
      return null;
    }
  }

  /**
   * Whether a skip line has its members, of their types (its run and number of hashes are
   * not looked at: an empty run covers nothing).
   * @param {Record<string, unknown>} value
   * @returns {boolean}
   */
  skipRange(value) {
    return hasExactly(value, ['end', 'hashes', 'start', 'type']) && isInteger(value.start) && isInteger(value.end)
      && Array.isArray(value.hashes) && value.hashes.every((hash) => parseHash(hash) !== null);
  }

  eventLine(value, bytes) {
    if (!hasExactly(value, ['envelope', 'leaf', 'type'])) this.fail('Malformed', 'an event line is {envelope, leaf, type}');
    const leaf = parseHash(value.leaf);
    if (leaf === null) this.fail('Malformed', 'the leaf is not 64 lowercase hex digits');
    const envelope = value.envelope;
    if (!isEnvelope(envelope)) this.fail('Malformed', 'the envelope does not have exactly its members and types');
    const sequence = envelope.sequence;
    if (!equalBytes(leafHash(bytes.subarray(EVENT_PREFIX, bytes.length - EVENT_SUFFIX)), leaf)) {
      this.fail('PayloadAltered', `event ${sequence} does not hash to its leaf`);
    }
    if (!this.place(sequence, sequence + 1)) return;
    if (envelope.tenant_id !== this.header.tenant_id) this.fail('WrongTenant', `event ${sequence} is of tenant ${envelope.tenant_id}`);
    if (sequence < this.scan.start || sequence >= this.scan.end) this.fail('OutsideScan', `event ${sequence} is outside the scan`);
    if (!matches(this.filter, envelope)) this.fail('FilterMismatch', `event ${sequence} does not match the filter`);
    if (!closed(this.filter, envelope)) this.fail('FilterNotClosed', `the filter does not list ${envelope.stream_id}`);
    this.frontier.push(0, leaf);
    this.digest.update(leaf);
    this.events++;
    this.tally.event(envelope);
  }

  skipLine(value, bytes) {
    if (!hasExactly(value, ['end', 'hashes', 'start', 'type']) || !isInteger(value.start) || !isInteger(value.end)
      || !Array.isArray(value.hashes)) {
      this.fail('Malformed', 'a skip line is {end, hashes, start, type}');
    }
    const { start, end } = value;
    if (start >= end) this.fail('Malformed', 'an empty skip run');
    const hashes = value.hashes.map(parseHash);
    if (hashes.some((hash) => hash === null)) this.fail('Malformed', 'a hash is not 64 lowercase hex digits');
    const nodes = rangeNodes(start, end);
    if (nodes.length !== hashes.length) this.fail('Malformed', `leaves ${start}..${end} take ${nodes.length} hashes`);
    if (!this.place(start, end)) return;
    nodes.forEach((node, i) => this.frontier.push(node.level, hashes[i]));
    this.hashLine(bytes);
  }

  endLine(value) {
    if (!hasExactly(value, ['digest', 'events', 'lines', 'type']) || !isInteger(value.events) || !isInteger(value.lines)) {
      this.fail('Malformed', 'an end line is {digest, events, lines, type}');
    }
    const digest = parseHash(value.digest);
    if (digest === null) this.fail('Malformed', 'the digest is not 64 lowercase hex digits');
    if (this.next < this.checkpoint.size) this.fail('EventDropped', `leaf ${this.next} is missing`);
    if (!equalBytes(this.frontier.root(), this.checkpoint.root)) {
      this.fail('BadInclusionProof', `the leaves and hashes do not lead to the root of the checkpoint on line ${this.checkpointLineNo}`);
    }
    if (value.events !== this.events || value.lines !== this.lineNo - 1) {
      this.fail('CountMismatch', `${this.events} events and ${this.lineNo - 1} lines, not ${value.events} and ${value.lines}`);
    }
    if (!equalBytes(this.digest.digest(), digest)) this.fail('DigestMismatch', 'the digest of the lines is not the end line\'s');
    this.state = 'ended';
  }

  /** @returns {Summary} */
  finish() {
    if (this.state === 'gap') this.failGap();
    if (this.state !== 'ended') this.fail('Truncated', 'the end line is missing', this.lineNo + 1);
    const scanned = this.scan.end - this.scan.start;
    return {
      tenant: this.header.tenant_id,
      origin: this.checkpoint.origin,
      treeSize: this.checkpoint.size,
      root: toHex(this.checkpoint.root),
      signedBy: this.signedBy.map(keyLabel),
      keysTrusted: this.trusted.length > 0,
      extends: this.extends,
      events: this.events,
      consents: this.tally.consents.size,
      accesses: this.tally.accesses,
      refusals: this.tally.refusals,
      hiddenInScan: scanned - this.events,
      outsideScan: this.checkpoint.size - scanned,
      lines: this.lineNo,
      filter: this.header.filter,
      scan: { start: this.scan.start, end: this.scan.end },
    };
  }
}

/**
 * Verifies a bundle read from a byte stream.
 * @param {ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Iterable<Uint8Array>} source
 * @param {VerifyOptions} [options]
 * @returns {Promise<Verdict>}
 */
export async function verifyBundle(source, options = {}) {
  let verifier;
  try {
    verifier = new Verifier(options);
  } catch (error) {
    return { ok: false, failure: 'UsageError', line: 0, detail: `a trusted key: ${error.message}` };
  }
  try {
    for await (const line of lines(source, { onBytes: options.onBytes })) {
      if (verifier.state !== 'gap') await verifier.line(line);
      else if (!verifier.gapLine(line)) verifier.failGap();
    }
    return { ok: true, summary: verifier.finish() };
  } catch (error) {
    if (error instanceof BundleFailure) return { ok: false, failure: error.failure, line: error.line, detail: error.detail };
    throw error;
  }
}
