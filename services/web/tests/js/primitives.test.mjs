// The verifier's primitives against fixed vectors: SHA-256 (FIPS 180-4 examples), RFC 8785
// canonical JSON (the RFC's own examples), RFC 9162 tree hashes (the Certificate Transparency
// test vectors), proofs generated from the RFC's definitions, and C2SP signed notes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { Sha256, sha256 } from '../../assets/verify/sha256.js';
import { toHex, toBase64, parseHash, fromBase64, utf8 } from '../../assets/verify/bytes.js';
import { canonicalize, parseCanonical } from '../../assets/verify/canonical.js';
import {
  Frontier, emptyRoot, leafHash, nodeHash, rangeNodes, verifyConsistency, verifyInclusion,
} from '../../assets/verify/merkle.js';
import { checkSignatures, keyId, parseCheckpoint, parseNote, parseVerifierKey } from '../../assets/verify/note.js';

const hex = (bytes) => toHex(bytes);
const fromHex = (text) => Uint8Array.from(text.match(/../g) ?? [], (b) => parseInt(b, 16));

test('SHA-256 of the FIPS 180-4 examples, and in pieces of every size', () => {
  assert.equal(hex(sha256()), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(hex(sha256(utf8('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(hex(sha256(utf8('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  assert.equal(hex(sha256(new Uint8Array(1_000_000).fill(0x61))),
    'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31 + 7) & 255);
  for (const piece of [1, 3, 55, 56, 63, 64, 65, 127, 999]) {
    const hasher = new Sha256();
    for (let at = 0; at < data.length; at += piece) hasher.update(data.subarray(at, at + piece));
    assert.equal(hex(hasher.digest()), createHash('sha256').update(data).digest('hex'), `pieces of ${piece}`);
  }
  for (let length = 0; length < 200; length++) {
    const bytes = data.subarray(0, length);
    assert.equal(hex(sha256(bytes)), createHash('sha256').update(bytes).digest('hex'), `${length} bytes`);
  }
});

test('canonical JSON: the RFC 8785 examples', () => {
  // Section 3.2.3: members sorted by UTF-16 code units.
  const sorted = { '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh',
    1: 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' };
  assert.equal(canonicalize(sorted),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",'
    + '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}');
  // Section 3.2.2.2: string escapes.
  assert.equal(canonicalize({ string: '\u20ac$\u000F\u000aA\'\u0042\u0022\u005c\\"/' }),
    '{"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}');
  assert.equal(canonicalize([null, true, false, 0, -0, -1, 9007199254740991, '\b\f\t']),
    '[null,true,false,0,0,-1,9007199254740991,"\\b\\f\\t"]');
  assert.equal(canonicalize({ b: [], a: {}, c: { z: 1, y: [2, { x: 3 }] } }), '{"a":{},"b":[],"c":{"y":[2,{"x":3}],"z":1}}');
  // Integers only, within ±(2^53 - 1); no unpaired surrogate.
  for (const bad of [1.5, 2 ** 53, -(2 ** 53), Infinity, '\ud800']) assert.throws(() => canonicalize(bad));
});

test('canonical JSON: a line is exactly its canonical form or it is not', () => {
  assert.deepEqual(parseCanonical('{"a":1,"b":[true,null]}'), { value: { a: 1, b: [true, null] }, json: true, canonical: true });
  for (const text of ['{"b":1,"a":2}', '{"a": 1}', ' {"a":1}', '{"a":1.0}', '{"a":1e2}', '{"a":1,"a":1}',
    '{"a":9007199254740993}', '{"a":"\\u0041"}', '{"a":"\\/"}', '{"a":-0}']) {
    assert.equal(parseCanonical(text).canonical, false, text);
  }
  assert.equal(parseCanonical('{"a":').json, false);
});

// RFC 9162's definitions, written plainly, to check the verifier's shortcuts against.
const mth = (leaves) => {
  if (leaves.length === 0) return emptyRoot();
  if (leaves.length === 1) return leafHash(leaves[0]);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
};
const split = (n) => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};
const path = (m, leaves) => {
  if (leaves.length <= 1) return [];
  const k = split(leaves.length);
  return m < k ? [...path(m, leaves.slice(0, k)), mth(leaves.slice(k))] : [...path(m - k, leaves.slice(k)), mth(leaves.slice(0, k))];
};
const subproof = (m, leaves, b) => {
  const n = leaves.length;
  if (m === n) return b ? [] : [mth(leaves)];
  const k = split(n);
  return m <= k ? [...subproof(m, leaves.slice(0, k), b), mth(leaves.slice(k))]
    : [...subproof(m - k, leaves.slice(k), false), mth(leaves.slice(0, k))];
};

// The Certificate Transparency test vectors (RFC 6962's tree, the same hashing as RFC 9162).
const CT_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(fromHex);
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

test('tree hashes: the Certificate Transparency vectors, leaf by leaf and by subtrees', () => {
  assert.equal(hex(emptyRoot()), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  for (let n = 1; n <= 8; n++) {
    const frontier = new Frontier();
    for (const leaf of CT_LEAVES.slice(0, n)) frontier.push(0, leafHash(leaf));
    assert.equal(hex(frontier.root()), CT_ROOTS[n - 1], `size ${n}`);
    assert.equal(hex(mth(CT_LEAVES.slice(0, n))), CT_ROOTS[n - 1]);
  }
});

test('range_nodes tiles every run, and pushing its subtrees gives the same root', () => {
  const leaves = Array.from({ length: 40 }, (_, i) => utf8(`event ${i}`));
  for (let a = 0; a <= 40; a++) {
    for (let b = a; b <= 40; b++) {
      const nodes = rangeNodes(a, b);
      assert.ok(nodes.length <= Math.max(1, 2 * Math.log2(Math.max(b - a, 1)) + 1), `${a}..${b}`);
      const frontier = new Frontier();
      for (const leaf of leaves.slice(0, a)) frontier.push(0, leafHash(leaf));
      let at = a;
      for (const { level, index } of nodes) {
        assert.equal(index * 2 ** level, at);
        frontier.push(level, mth(leaves.slice(at, at + 2 ** level)));
        at += 2 ** level;
      }
      assert.equal(at, b);
      assert.equal(hex(frontier.root()), hex(mth(leaves.slice(0, b))));
    }
  }
  assert.deepEqual(rangeNodes(0, 5), [{ level: 2, index: 0 }, { level: 0, index: 4 }]);
  assert.deepEqual(rangeNodes(3, 13), [{ level: 0, index: 3 }, { level: 2, index: 1 }, { level: 2, index: 2 }, { level: 0, index: 12 }]);
});

test('inclusion and consistency proofs verify, and fail when anything is changed', () => {
  const leaves = Array.from({ length: 17 }, (_, i) => utf8(`leaf ${i}`));
  for (let n = 1; n <= leaves.length; n++) {
    const root = mth(leaves.slice(0, n));
    for (let m = 0; m < n; m++) {
      const proof = path(m, leaves.slice(0, n));
      assert.ok(verifyInclusion(leafHash(leaves[m]), m, n, proof, root), `leaf ${m} of ${n}`);
      assert.ok(!verifyInclusion(leafHash(leaves[(m + 1) % n]), m, n, proof, root) || n === 1);
      if (proof.length > 0) assert.ok(!verifyInclusion(leafHash(leaves[m]), m, n, proof.slice(1), root));
    }
    for (let m = 1; m <= n; m++) {
      const old = mth(leaves.slice(0, m));
      const proof = m === n ? [] : subproof(m, leaves.slice(0, n), true);
      assert.ok(verifyConsistency(m, n, proof, old, root), `${m} to ${n}`);
      if (m < n) {
        assert.ok(!verifyConsistency(m, n, proof, mth(leaves.slice(1, m + 1)), root));
        assert.ok(!verifyConsistency(m, n, proof.slice(0, -1), old, root));
      }
    }
  }
});

test('C2SP signed notes with Ed25519, verified through WebCrypto', async () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  const id = keyId('confide.example', raw);
  const text = `confide.example+${id.toString(16).padStart(8, '0')}+${toBase64(new Uint8Array([1, ...raw]))}`;
  const key = parseVerifierKey(text);
  assert.equal(key.keyId, id);
  assert.throws(() => parseVerifierKey(text.replace('confide.example+', 'confide.exampl+')));

  const body = `confide.example/tenant-a\n5\n${toBase64(sha256(utf8('root')))}\n`;
  const signed = (b) => {
    const blob = new Uint8Array(4 + 64);
    new DataView(blob.buffer).setUint32(0, id);
    blob.set(sign(null, Buffer.from(b), privateKey), 4);
    return `${body}\n\u2014 confide.example ${toBase64(blob)}\n`;
  };
  const note = parseNote(signed(body));
  assert.deepEqual(await checkSignatures(note, [key]), { ok: true, signedBy: [key] });
  const checkpoint = parseCheckpoint(note.body);
  assert.equal(checkpoint.size, 5);
  assert.equal(checkpoint.origin, 'confide.example/tenant-a');

  const edited = parseNote(signed(body).replace('\n5\n', '\n4\n'));
  assert.equal((await checkSignatures(edited, [key])).failure, 'BadCheckpointSignature');
  const other = generateKeyPairSync('ed25519').publicKey;
  const otherRaw = Buffer.from(other.export({ format: 'jwk' }).x, 'base64url');
  const stranger = { name: 'confide.example', keyId: keyId('confide.example', otherRaw), publicKey: otherRaw };
  assert.equal((await checkSignatures(note, [stranger])).failure, 'UnknownSigner');

  for (const bad of ['no newline', 'body\n', `${body}\n`, `${body}\n- confide.example AAAA\n`]) {
    assert.throws(() => parseNote(bad), bad);
  }
  for (const bad of ['o\n05\nAAAA\n', 'o\n5\nAAAA\n', '\n5\n' + toBase64(new Uint8Array(32)) + '\n']) {
    assert.throws(() => parseCheckpoint(bad), bad);
  }
  assert.equal(parseHash('A'.repeat(64)), null);
  assert.equal(fromBase64('AQ'), null);
});
