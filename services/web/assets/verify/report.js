/**
 * The counts a verified bundle's summary gives, as `confide-verify --summary` derives them
 * (`schema/audit-bundle.md` section 13): the consents per client, and the accesses to each
 * recording (grants, revocations, playbacks, refusals), resolving which consent, recording
 * and client each event concerns from its stream and from the events that create relations.
 * @module
 */

import { isObject } from './filter.js';

const CONSENT = new Set([
  'ConsentRequested', 'ConsentGiven', 'ConsentRefused', 'ConsentWithdrawn', 'ConsentPurposeWithdrawn',
  'ConsentAudienceMemberWithdrawn', 'ConsentExpired', 'ConsentSuperseded', 'ConsentNoticeGiven',
  'SessionNoticeGiven', 'ConsentOptedOutOfSession', 'ConsentOptedOut', 'WithdrawalNoticeIssued',
]);
const ACCESS = new Set(['AccessGranted', 'AccessRevoked', 'PlaybackStarted', 'PlaybackRefused']);
const RECORDING = new Set(['RecordingCreated', 'RecordingDestructionScheduled', 'RecordingDestroyed']);

/** @param {unknown} value @param {string} name @returns {string} */
function text(value, name) {
  const member = isObject(value) ? value[name] : undefined;
  return typeof member === 'string' ? member : '';
}

/** Counts consents, accesses and refusals over the disclosed events, in order. */
export class Tally {
  constructor() {
    this.consentClient = new Map();
    this.recordingClient = new Map();
    this.recordingConsent = new Map();
    this.grantRecording = new Map();
    /** @type {Set<string>} client and consent pairs */
    this.consents = new Set();
    this.accesses = 0;
    this.refusals = 0;
  }

  /**
   * @param {{event_type: string, stream_id: string, payload: unknown}} envelope
   */
  event(envelope) {
    const type = envelope.event_type;
    if (!CONSENT.has(type) && !ACCESS.has(type) && !RECORDING.has(type)) return;
    const payload = envelope.payload;
    const dash = envelope.stream_id.indexOf('-');
    const [kind, entity] = dash < 0 ? ['', ''] : [envelope.stream_id.slice(0, dash), envelope.stream_id.slice(dash + 1)];
    let consent = [text(payload, 'consent_id'), text(isObject(payload) ? payload.basis : null, 'consent_id'),
      text(isObject(payload) ? payload.reason : null, 'consent_id')].find((id) => id !== '') ?? '';
    let recording = text(payload, 'recording_id');
    let client = '';
    if (kind === 'consent') consent = entity;
    else if (kind === 'recording') recording = entity;
    else if (kind === 'client') client = entity;
    else if (kind === 'grant' && recording === '') recording = this.grantRecording.get(entity) ?? '';
    const payloadClient = text(payload, 'client_id');
    if (payloadClient !== '' && client === '') client = payloadClient;
    if ((type === 'ConsentRequested' || type === 'ConsentNoticeGiven') && payloadClient !== '') {
      this.consentClient.set(consent, payloadClient);
    } else if (type === 'RecordingCreated' && payloadClient !== '') {
      this.recordingClient.set(recording, payloadClient);
      this.recordingConsent.set(recording, consent);
    } else if (type === 'AccessGranted') {
      this.grantRecording.set(entity, recording);
    }
    if (client === '') client = this.recordingClient.get(recording) ?? this.consentClient.get(consent) ?? '';
    if (consent === '') consent = this.recordingConsent.get(recording) ?? '';

    if (CONSENT.has(type)) {
      if (consent !== '') this.consents.add(JSON.stringify([client, consent]));
    } else if (recording !== '' && !RECORDING.has(type)) {
      this.accesses++;
      if (type === 'PlaybackRefused') this.refusals++;
    }
  }
}
