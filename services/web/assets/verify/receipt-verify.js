/**
 * The consent receipt checker (`schema/consent-receipt.md`): the proof (the consent's
 * `ConsentRequested` to `ConsentGiven` events, each with its RFC 9162 inclusion path, and a
 * signed checkpoint) against the operator's verifier key, obtained out of band; then the
 * receipt's members against the proven events. Failures are named as `confide-verify
 * --receipt` names them: `MalformedProof`, `ReceiptProof`, `ReceiptMismatch`.
 * @module
 */

import { parseHash, toHex, utf8 } from './bytes.js';
import { parseCanonical } from './canonical.js';
import { leafHash, verifyInclusion } from './merkle.js';
import { checkSignatures, keyLabel, originNamesTenant, parseCheckpoint, parseNote, parseVerifierKey } from './note.js';
import { isObject } from './filter.js';
import { checkClaims, ClaimFailure } from './receipt-claims.js';

const ENVELOPE_MEMBERS = [
  'event_id', 'event_type', 'metadata', 'payload', 'recorded_at', 'schema_version', 'sequence', 'stream_id',
  'stream_version', 'tenant_id',
];

/** @param {unknown} value @param {string[]} names */
function hasExactly(value, names) {
  return isObject(value) && Object.keys(value).length === names.length && names.every((n) => Object.hasOwn(value, n));
}

/** @param {unknown} value */
function isCount(value) {
  return Number.isSafeInteger(value) && value >= 0;
}

class Failure extends Error {
  constructor(failure, reason, detail, claim = null) {
    super(detail);
    Object.assign(this, { failure, reason, detail, claim });
  }
}

/**
 * Reads the proof's JSON, exactly its members and types.
 * @param {unknown} proof
 */
function readProof(proof) {
  const malformed = (detail) => new Failure('MalformedProof', null, detail);
  if (!hasExactly(proof, ['checkpoint', 'events', 'treeSize'])) throw malformed('the proof is {events, treeSize, checkpoint}');
  if (!Array.isArray(proof.events) || !isCount(proof.treeSize) || typeof proof.checkpoint !== 'string') {
    throw malformed('a proof member has the wrong type');
  }
  const events = proof.events.map((event) => {
    if (!hasExactly(event, ['envelope', 'inclusionPath', 'sequence']) || typeof event.envelope !== 'string'
      || !isCount(event.sequence) || !Array.isArray(event.inclusionPath)) {
      throw malformed('an event is {envelope, sequence, inclusionPath}');
    }
    const path = event.inclusionPath.map(parseHash);
    if (path.some((hash) => hash === null)) throw malformed('a path hash is not 64 lowercase hex digits');
    return { envelope: event.envelope, sequence: event.sequence, path };
  });
  return { events, treeSize: proof.treeSize, checkpoint: proof.checkpoint };
}

/**
 * Checks the proof against the trusted keys.
 * @param {ReturnType<typeof readProof>} proof
 * @param {import('./note.js').VerifierKey[]} trusted
 */
async function checkProof(proof, trusted) {
  const failed = (reason, detail) => new Failure('ReceiptProof', reason, detail);
  let note;
  let checkpoint;
  try {
    note = parseNote(proof.checkpoint);
  } catch (error) {
    throw failed('MalformedNote', error.message);
  }
  const signatures = await checkSignatures(note, trusted);
  if (!signatures.ok && signatures.failure === 'UnknownSigner') {
    throw failed('UntrustedCheckpoint', `the checkpoint is not signed by a trusted key (it claims ${signatures.claimed.join(', ')})`);
  }
  if (!signatures.ok) throw failed('BadCheckpointSignature', `the signature by ${signatures.key.text} does not verify`);
  try {
    checkpoint = parseCheckpoint(note.body);
  } catch (error) {
    throw failed('MalformedCheckpoint', error.message);
  }
  if (checkpoint.size !== proof.treeSize) {
    throw failed('TreeSizeMismatch', `the proof is for ${proof.treeSize} events, the checkpoint has ${checkpoint.size}`);
  }
  const envelopes = [];
  for (const [position, event] of proof.events.entries()) {
    const parsed = parseCanonical(event.envelope);
    const envelope = parsed.json ? parsed.value : undefined;
    if (!hasExactly(envelope, ENVELOPE_MEMBERS)) throw failed('MalformedEnvelope', `envelope ${position} is not an event envelope`);
    if (!parsed.canonical) throw failed('NotCanonical', `envelope ${position} is not its canonical JSON`);
    if (envelope.sequence !== event.sequence) {
      throw failed('SequenceMismatch', `envelope ${position} is event ${envelope.sequence}, the proof says ${event.sequence}`);
    }
    const first = envelopes[0] ?? envelope;
    if (envelope.tenant_id !== first.tenant_id || envelope.stream_id !== first.stream_id
      || envelope.stream_version !== position + 1) {
      throw failed('NotOneStream', `envelope ${position} is not version ${position + 1} of stream ${first.stream_id}`);
    }
    if (!originNamesTenant(checkpoint.origin, envelope.tenant_id)) {
      throw failed('OriginMismatch', `the checkpoint's origin ${checkpoint.origin} is not the log of tenant ${envelope.tenant_id}`);
    }
    if (!verifyInclusion(leafHash(utf8(event.envelope)), event.sequence, proof.treeSize, event.path, checkpoint.root)) {
      throw failed('Inclusion', `envelope ${position} is not in the checkpoint's tree`);
    }
    envelopes.push(envelope);
  }
  if (envelopes.length === 0) throw failed('NoEvents', 'the proof holds no events');
  if (envelopes[0].event_type !== 'ConsentRequested') throw failed('NotConsentRequested', 'the first event is not ConsentRequested');
  if (envelopes[envelopes.length - 1].event_type !== 'ConsentGiven') throw failed('NotConsentGiven', 'the last event is not ConsentGiven');
  return { envelopes, checkpoint, signedBy: signatures.signedBy };
}

/**
 * @typedef {{ok: true, summary: {events: number, treeSize: number, root: string, origin: string, stream: string,
 *   tenant: string, receiptChecked: boolean, signedBy: string[], eventTypes: string[]}}
 *   | {ok: false, failure: string, reason: string | null, claim: string | null, detail: string}} ReceiptVerdict
 */

/**
 * Checks what `consentReceipt` answers (the GraphQL response, its `consentReceipt`, or the
 * proof alone) against the operator's verifier keys.
 * @param {string | object} answerOrText
 * @param {string[]} trustedKeys verifier key strings; at least one
 * @returns {Promise<ReceiptVerdict>}
 */
export async function verifyReceiptAnswer(answerOrText, trustedKeys) {
  try {
    if (!trustedKeys || trustedKeys.length === 0) {
      throw new Failure('UsageError', null, 'a receipt checked against no key proves nothing: give the operator\'s verifier key');
    }
    let trusted;
    try {
      trusted = trustedKeys.map((key) => parseVerifierKey(key));
    } catch (error) {
      throw new Failure('UsageError', null, `the verifier key: ${error.message}`);
    }
    let json = answerOrText;
    if (typeof json === 'string') {
      try {
        json = JSON.parse(json);
      } catch {
        throw new Failure('MalformedProof', null, 'the receipt is not JSON');
      }
    }
    const answer = json?.data?.consentReceipt ?? json?.consentReceipt ?? json;
    const hasProof = isObject(answer) && Object.hasOwn(answer, 'proof');
    const receipt = hasProof && Object.hasOwn(answer, 'receipt') ? answer.receipt : undefined;
    const proof = readProof(hasProof ? answer.proof : answer);
    const verified = await checkProof(proof, trusted);
    if (receipt !== undefined) {
      try {
        checkClaims(receipt, verified);
      } catch (error) {
        if (!(error instanceof ClaimFailure)) throw error;
        throw new Failure('ReceiptMismatch', error.reason, error.message, error.claim);
      }
    }
    const given = verified.envelopes[verified.envelopes.length - 1];
    return {
      ok: true,
      summary: {
        events: verified.envelopes.length,
        treeSize: verified.checkpoint.size,
        root: toHex(verified.checkpoint.root),
        origin: verified.checkpoint.origin,
        stream: given.stream_id,
        tenant: given.tenant_id,
        receiptChecked: receipt !== undefined,
        signedBy: verified.signedBy.map(keyLabel),
        eventTypes: verified.envelopes.map((e) => e.event_type),
      },
    };
  } catch (error) {
    if (!(error instanceof Failure)) throw error;
    return { ok: false, failure: error.failure, reason: error.reason, claim: error.claim, detail: error.detail };
  }
}
