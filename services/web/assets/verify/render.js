/**
 * Renders a bundle verdict as accessible HTML: a heading ("Verified" or "Not verified"), then
 * the failure's name with its sentence in a list, or the summary as a description list. Built
 * from DOM nodes and text, never from markup, so nothing in a bundle can inject any.
 * @module
 */

/** What each failure name of `schema/audit-bundle.md` section 11 means. */
export const FAILURE_SENTENCES = {
  Truncated: 'The bundle is cut short: a line or the end line is missing.',
  Malformed: 'A line is not what the format allows there.',
  NotCanonical: 'A line is not in its canonical JSON form.',
  UnsupportedVersion: 'The bundle is of a format or version this verifier does not know.',
  UnknownSigner: 'No accepted key signed the checkpoint.',
  BadCheckpointSignature: 'A signature of an accepted key does not verify: the checkpoint was edited.',
  OriginMismatch: 'The checkpoint is not of this tenant’s log, or the checkpoints are of different logs.',
  CheckpointRollback: 'An older checkpoint is larger than the bundle’s: an old checkpoint is passed off as current.',
  InconsistentTrees: 'The checkpoints are not of one growing log.',
  ConsistencyProofMissing: 'The bundle does not prove that it extends the previous checkpoint.',
  PayloadAltered: 'An event was altered: it does not hash to its leaf.',
  EventDropped: 'An event is missing from the log.',
  EventsOutOfOrder: 'Events are out of order.',
  EventInserted: 'An event was inserted or duplicated.',
  WrongTenant: 'An event belongs to another tenant.',
  OutsideScan: 'An event outside the scanned range is disclosed.',
  FilterMismatch: 'A disclosed event does not match the filter.',
  FilterNotClosed: 'The filter leaves out a stream that a disclosed event creates.',
  BadInclusionProof: 'The events and hashes do not lead to the signed root.',
  CountMismatch: 'The end line’s counts are wrong.',
  DigestMismatch: 'The end line’s digest is wrong: a line was changed.',
  TrailingData: 'There is data after the end line.',
};

/**
 * @param {string} tag
 * @param {string} [text]
 * @returns {HTMLElement}
 */
function element(tag, text) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * @param {HTMLElement} container
 * @param {import('./bundle.js').Verdict} verdict
 */
export function renderVerdict(container, verdict) {
  container.replaceChildren();
  container.classList.remove('result-ok', 'result-failed');
  container.classList.add(verdict.ok ? 'result-ok' : 'result-failed');
  container.append(element('h2', verdict.ok ? 'Verified' : 'Not verified'));
  if (!verdict.ok) {
    const list = element('ul');
    const item = element('li');
    const where = verdict.line === 0 ? 'the previous checkpoint' : `line ${verdict.line}`;
    item.append(element('strong', verdict.failure), ` (${where}): `,
      FAILURE_SENTENCES[verdict.failure] ?? '', ` ${verdict.detail}`);
    list.append(item);
    container.append(list);
    return;
  }
  const s = verdict.summary;
  const rows = [
    ['Tenant', s.tenant],
    ['Checkpoint', `${s.origin}, ${s.treeSize} events, root ${s.root}`],
    ['Signed by', `${s.signedBy.join(', ')} (${s.keysTrusted ? 'trusted keys' : 'the bundle’s own keys only: compare them with the operator’s published key'})`],
    ['Older checkpoints shown consistent', String(s.extends)],
    ['Events disclosed', String(s.events)],
    ['Consents', String(s.consents)],
    ['Accesses', String(s.accesses)],
    ['Refusals', String(s.refusals)],
    ['Hidden in the scanned range (the exporter’s claim)', String(s.hiddenInScan)],
    ['Outside the scanned range', String(s.outsideScan)],
    ['Scanned range', `${s.scan.start} to ${s.scan.end}`],
  ];
  const list = element('dl');
  for (const [term, description] of rows) list.append(element('dt', term), element('dd', description));
  container.append(list);
}
