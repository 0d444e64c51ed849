/**
 * A consent receipt's members against the proven `ConsentRequested` and `ConsentGiven`
 * events (`schema/consent-receipt.md` sections 1 and 3). Each member is derived again from the
 * events, or fixed by the format, or one of the unproven texts; the first member that fails is
 * named by its JSON pointer.
 * @module
 */

import { canonicalize } from './canonical.js';
import { isObject } from './filter.js';

/** The Kantara Initiative Consent Receipt version the format issues. */
export const KANTARA_CR_VERSION = 'KI-CR-v1.1.0';

/** The members no logged event states, in the order the receipt lists them. */
export const UNPROVEN_MEMBERS = [
  '/piiControllers/0/piiController',
  '/piiControllers/0/contact',
  '/piiControllers/0/address/streetAddress',
  '/piiControllers/0/address/addressCountry',
  '/piiControllers/0/email',
  '/piiControllers/0/phone',
  '/piiControllers/0/piiControllerUrl',
  '/services/0/service',
];

const TRAINING = 'https://w3id.org/dpv#ProfessionalTraining';
/** The nearest W3C DPV purpose of each Confide purpose. */
const DPV = new Map([
  ['supervision', TRAINING],
  ['course_assessment', TRAINING],
  ['credentialing', TRAINING],
  ['practitioner_reflection', TRAINING],
  ['transcription', TRAINING],
  ['quality_assurance', 'https://w3id.org/dpv#ImproveExistingProductsAndServices'],
  ['client_copy', 'https://w3id.org/dpv#RequestedServiceProvision'],
  ['case_study', 'https://w3id.org/dpv#OrganisationGovernance'],
]);

/** A member that fails: `reason` is ClaimMismatch, MissingClaim, UnknownMember or UnprovableClaim. */
export class ClaimFailure extends Error {
  constructor(reason, pointer, detail) {
    // The whole receipt is named `/`.
    const claim = pointer === '' ? '/' : pointer;
    super(`${reason}: ${claim}: ${detail}`);
    this.reason = reason;
    this.claim = claim;
  }
}

/** The value is unknown: the events do not say (a newer receipt than this checker). */
class Unprovable {
  constructor(reason) {
    this.reason = reason;
  }
}

/** @param {unknown} value @returns {string} */
function json(value) {
  try {
    return canonicalize(value);
  } catch {
    return String(value);
  }
}

// What a member must be.
const logged = (value) => ({ kind: 'value', value });
const unproven = { kind: 'unproven' };
const oneOf = (values) => ({ kind: 'oneOf', values });
const object = (members) => ({ kind: 'object', members });
const items = (list) => ({ kind: 'items', list });
const purposes = (byPurpose) => ({ kind: 'purposes', byPurpose });

/** @param {unknown} value @param {string} path */
function at(value, path) {
  let v = value;
  for (const name of path.split('.')) v = isObject(v) ? v[name] : undefined;
  return v === undefined ? new Unprovable(`the events have no ${path}`) : v;
}

const INSTANT = /^([+-]?)(\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?Z$/;

/**
 * A logged instant: RFC 3339 in UTC (`Z`), a real date and time without leap second. Any
 * other form cannot be proven.
 * @param {unknown} text
 * @returns {{toSeconds: string, epochSeconds: number} | Unprovable}
 */
function instant(text) {
  const match = typeof text === 'string' ? INSTANT.exec(text) : null;
  const unprovable = new Unprovable(`${json(text)} is not an RFC 3339 instant in UTC`);
  if (!match) return unprovable;
  const [, sign, yearText, month, day, hour, minute, second] = match;
  const year = Number(`${sign}${yearText}`);
  const [mo, d, h, mi, se] = [month, day, hour, minute, second].map(Number);
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
  if (mo < 1 || mo > 12 || d < 1 || d > days || h > 23 || mi > 59 || se > 59) return unprovable;
  const date = new Date(0);
  date.setUTCFullYear(year, mo - 1, d);
  date.setUTCHours(h, mi, se, 0);
  const clock = text.slice(text.indexOf('T') + 1, text.indexOf('T') + 9);
  return { toSeconds: `${text.slice(0, text.indexOf('T'))}T${clock}Z`, epochSeconds: Math.floor(date.getTime() / 1000) };
}

/**
 * An instant to the second: `2027-06-30T00:00:00Z`.
 * @param {unknown} text
 */
function toSecond(text) {
  const at = instant(text);
  return at instanceof Unprovable ? at : at.toSeconds;
}

/** @param {unknown} expiry @returns {{termination: unknown, expiresAt: unknown}} */
function ending(expiry) {
  let ends;
  let expiresAt = null;
  if (expiry === null) ends = 'does not expire by itself';
  else if (isObject(expiry) && expiry.kind === 'on_date') {
    expiresAt = toSecond(expiry.at);
    ends = expiresAt instanceof Unprovable ? expiresAt : `expires at ${expiresAt}`;
  } else if (isObject(expiry) && expiry.kind === 'on_event' && isObject(expiry.trigger)
    && expiry.trigger.kind === 'course_ended' && typeof expiry.trigger.course_id === 'string') {
    ends = `expires when course ${expiry.trigger.course_id} ends`;
  } else if (isObject(expiry) && expiry.kind === 'on_event' && isObject(expiry.trigger)
    && expiry.trigger.kind === 'credential_decided') {
    ends = 'expires when the credentialing body decides';
  } else {
    ends = new Unprovable(`an expiry this checker does not know: ${json(expiry)}`);
    expiresAt = ends;
  }
  const termination = ends instanceof Unprovable ? ends : `${ends}; may be withdrawn at any time`;
  return { termination, expiresAt };
}

/**
 * What the receipt must say, from the proven events.
 * @param {{envelopes: object[], signedBy: {text: string}[]}} verified
 */
function expected(verified) {
  const requested = verified.envelopes[0];
  const given = verified.envelopes[verified.envelopes.length - 1];
  const terms = requested.payload;
  const evidence = at(given.payload, 'evidence');
  const expiry = at(terms, 'expiry');
  const { termination, expiresAt } = expiry instanceof Unprovable ? { termination: expiry, expiresAt: expiry } : ending(expiry);
  const signedAt = at(evidence, 'signed_at');
  const signed = instant(signedAt);
  const form = at(evidence, 'form');
  const termList = Array.isArray(terms?.terms) ? terms.terms : [];
  const kantara = new Map();
  const confide = new Map();
  for (const term of termList) {
    const purpose = at(term, 'purpose');
    if (typeof purpose !== 'string') continue;
    const dpv = DPV.get(purpose) ?? new Unprovable(`a purpose this checker does not know: ${purpose}`);
    const users = at(term, 'audience.users');
    const roles = at(term, 'audience.roles');
    const audience = Array.isArray(users) && Array.isArray(roles)
      ? [...users, ...roles.map((role) => `role: ${role}`)]
      : new Unprovable('the term has no audience');
    kantara.set(purpose, object([
      ['purpose', logged(purpose)],
      ['purposeCategory', logged(dpv instanceof Unprovable ? dpv : [dpv])],
      ['consentType', logged('EXPLICIT')],
      ['piiCategory', logged(at(term, 'media'))],
      ['primaryPurpose', logged(false)],
      ['termination', logged(termination)],
      ['thirdPartyDisclosure', logged(audience instanceof Unprovable ? audience : audience.length > 0)],
      ['thirdPartyName', logged(audience instanceof Unprovable ? audience : audience.join(', '))],
    ]));
    confide.set(purpose, object([
      ['purpose', logged(purpose)],
      ['dpvPurpose', logged(dpv)],
      ['audience', object([['users', logged(users)], ['roles', logged(roles)]])],
      ['media', logged(at(term, 'media'))],
      ['derivatives', logged(at(term, 'derivatives'))],
    ]));
  }
  const formId = at(form, 'consent_form_id');
  const formVersion = at(form, 'version');
  return object([
    ['version', logged(KANTARA_CR_VERSION)],
    ['jurisdiction', logged(at(evidence, 'jurisdiction'))],
    ['consentTimestamp', logged(signed instanceof Unprovable ? signed : signed.epochSeconds)],
    ['collectionMethod', logged(at(evidence, 'collected_by'))],
    ['consentReceiptID', logged(given.event_id)],
    ['publicKey', oneOf(verified.signedBy.map((key) => key.text))],
    ['language', logged(at(evidence, 'language'))],
    ['piiPrincipalId', logged(at(terms, 'client_id'))],
    ['piiControllers', items([object([
      ['piiController', unproven],
      ['onBehalf', logged(false)],
      ['contact', unproven],
      ['address', object([['streetAddress', unproven], ['addressCountry', unproven]])],
      ['email', unproven],
      ['phone', unproven],
      ['piiControllerUrl', unproven],
    ])])],
    ['policyUrl', logged(formId instanceof Unprovable || formVersion instanceof Unprovable
      ? new Unprovable('no form') : `urn:confide:consent-form:${formId}:${formVersion}`)],
    ['services', items([object([['service', unproven], ['purposes', purposes(kantara)]])])],
    ['sensitive', logged(true)],
    ['spiCat', logged(['health'])],
    ['confide', object([
      ['tenantId', logged(given.tenant_id)],
      ['consentId', logged(at(terms, 'consent_id'))],
      ['consentVersion', logged(given.stream_version)],
      ['consentForm', object([
        ['id', logged(formId)],
        ['version', logged(formVersion)],
        ['textSha256', logged(at(form, 'text_sha256'))],
      ])],
      ['scope', logged(at(terms, 'scope'))],
      ['courseId', logged(at(terms, 'course_id'))],
      ['expiry', logged(expiry)],
      ['expiresAt', logged(expiresAt)],
      ['signedAt', logged(toSecond(signedAt))],
      ['purposes', purposes(confide)],
      ['event', object([
        ['eventId', logged(given.event_id)],
        ['sequence', logged(given.sequence)],
        ['stream', logged(given.stream_id)],
      ])],
      ['unproven', logged(UNPROVEN_MEMBERS)],
    ])],
  ]);
}

/**
 * The JSON pointer of a member of the object at `at` (RFC 6901 escapes).
 * @param {string} at
 * @param {string} name
 */
function child(at, name) {
  return `${at}/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`;
}

/**
 * @param {unknown} value the receipt's member
 * @param {object} spec what it must be
 * @param {string} pointer its JSON pointer
 */
function check(value, spec, pointer) {
  const mismatch = (logged) => new ClaimFailure('ClaimMismatch', pointer, `the receipt says ${json(value)}, the events ${logged}`);
  switch (spec.kind) {
    case 'value':
      if (spec.value instanceof Unprovable) throw new ClaimFailure('UnprovableClaim', pointer, spec.value.reason);
      if (json(value) !== json(spec.value)) throw mismatch(json(spec.value));
      return;
    case 'unproven':
      if (typeof value !== 'string') throw mismatch('nothing: it must be text');
      return;
    case 'oneOf':
      if (!spec.values.includes(value)) throw mismatch(`one of ${json(spec.values)}`);
      return;
    case 'object':
      if (!isObject(value)) throw mismatch('an object');
      // A member the format does not have is named first (the first by name), as it cannot
      // be proven whatever the others say.
      for (const name of Object.keys(value).sort()) {
        if (!spec.members.some(([known]) => known === name)) {
          throw new ClaimFailure('UnknownMember', child(pointer, name), 'not a member of the receipt format');
        }
      }
      for (const [name, member] of spec.members) {
        if (!Object.hasOwn(value, name)) throw new ClaimFailure('MissingClaim', child(pointer, name), 'the member is missing');
        check(value[name], member, child(pointer, name));
      }
      return;
    case 'items':
      if (!Array.isArray(value) || value.length !== spec.list.length) throw mismatch(`${spec.list.length} item(s)`);
      spec.list.forEach((item, i) => check(value[i], item, `${pointer}/${i}`));
      return;
    case 'purposes': {
      if (!Array.isArray(value)) throw mismatch('a list of purposes');
      const seen = new Set();
      value.forEach((item, i) => {
        if (!isObject(item)) throw new ClaimFailure('ClaimMismatch', `${pointer}/${i}`, 'a purpose is an object');
        if (!Object.hasOwn(item, 'purpose')) throw new ClaimFailure('MissingClaim', `${pointer}/${i}/purpose`, 'the member is missing');
        const purpose = item.purpose;
        if (typeof purpose !== 'string' || !spec.byPurpose.has(purpose) || seen.has(purpose)) {
          throw new ClaimFailure('ClaimMismatch', `${pointer}/${i}/purpose`, `${json(purpose)} is not a purpose requested once`);
        }
        seen.add(purpose);
        check(item, spec.byPurpose.get(purpose), `${pointer}/${i}`);
      });
      if (seen.size !== spec.byPurpose.size) throw mismatch(`the purposes ${json([...spec.byPurpose.keys()])}`);
      return;
    }
    default:
      throw new Error(`unknown spec ${spec.kind}`);
  }
}

/**
 * Checks every member of the receipt against the verified events.
 * @param {unknown} receipt
 * @param {{envelopes: object[], signedBy: {text: string}[]}} verified
 * @throws {ClaimFailure}
 */
export function checkClaims(receipt, verified) {
  check(receipt, expected(verified), '');
}
