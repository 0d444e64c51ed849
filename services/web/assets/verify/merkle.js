/**
 * RFC 9162 Merkle tree hashing: leaf and node hashes, the tiling of a run of leaves into
 * perfect subtrees, the frontier that folds them into a root, and inclusion and consistency
 * proof verification (`schema/audit-bundle.md` section 5, RFC 9162 sections 2.1.3.2 and
 * 2.1.4.2). Sizes and indices are JavaScript numbers: exact up to 2^53.
 * @module
 */

import { sha256 } from './sha256.js';
import { equalBytes } from './bytes.js';

const LEAF = new Uint8Array([0]);
const NODE = new Uint8Array([1]);

/**
 * @param {Uint8Array} data the leaf data
 * @returns {Uint8Array} SHA-256(0x00 ‖ data)
 */
export function leafHash(data) {
  return sha256(LEAF, data);
}

/**
 * @param {Uint8Array} left
 * @param {Uint8Array} right
 * @returns {Uint8Array} SHA-256(0x01 ‖ left ‖ right)
 */
export function nodeHash(left, right) {
  return sha256(NODE, left, right);
}

/** @returns {Uint8Array} the root of the empty tree, SHA-256() */
export function emptyRoot() {
  return sha256();
}

/** @param {number} n @returns {number} trailing zero bits of n (63 for 0) */
function trailingZeros(n) {
  if (n === 0) return 63;
  let count = 0;
  while (n % 2 === 0) {
    n /= 2;
    count++;
  }
  return count;
}

/** @param {number} n (n ≥ 1) @returns {number} floor(log2 n) */
function log2Floor(n) {
  let level = 0;
  while (2 ** (level + 1) <= n) level++;
  return level;
}

/**
 * The perfect subtrees that tile the leaves [start, end), left to right: from the left, the
 * largest aligned subtree that fits.
 * @param {number} start
 * @param {number} end
 * @returns {Array<{level: number, index: number}>}
 */
export function rangeNodes(start, end) {
  const nodes = [];
  let p = start;
  while (p < end) {
    const level = Math.min(trailingZeros(p), log2Floor(end - p));
    nodes.push({ level, index: Math.floor(p / 2 ** level) });
    p += 2 ** level;
  }
  return nodes;
}

/**
 * The right edge of a tree being built: the roots of the perfect subtrees that tile
 * [0, size), largest first.
 */
export class Frontier {
  constructor() {
    /** @type {Uint8Array[]} */
    this.hashes = [];
    this.size = 0;
  }

  /**
   * Appends the root of a perfect subtree of 2^level leaves; `size` must be a multiple of it.
   * @param {number} level
   * @param {Uint8Array} hash
   */
  push(level, hash) {
    const width = 2 ** level;
    if (this.size % width !== 0) throw new Error(`a subtree of level ${level} cannot start at ${this.size}`);
    let h = hash;
    let above = Math.floor(this.size / width);
    while (above % 2 === 1) {
      h = nodeHash(this.hashes.pop(), h);
      above = Math.floor(above / 2);
    }
    this.hashes.push(h);
    this.size += width;
  }

  /** @returns {Uint8Array} the root of the tree of `size` leaves */
  root() {
    if (this.hashes.length === 0) return emptyRoot();
    let r = this.hashes[this.hashes.length - 1];
    for (let i = this.hashes.length - 2; i >= 0; i--) r = nodeHash(this.hashes[i], r);
    return r;
  }
}

/**
 * Verifies an RFC 9162 inclusion proof (section 2.1.3.2).
 * @param {Uint8Array} leaf the leaf hash
 * @param {number} index
 * @param {number} size
 * @param {Uint8Array[]} path
 * @param {Uint8Array} root
 * @returns {boolean}
 */
export function verifyInclusion(leaf, index, size, path, root) {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(r, root);
}

/**
 * Verifies an RFC 9162 consistency proof (section 2.1.4.2) from (size1, root1) to
 * (size2, root2). Equal sizes need an empty proof and equal roots; there is no proof from
 * the empty tree to a larger one.
 * @param {number} size1
 * @param {number} size2
 * @param {Uint8Array[]} proof
 * @param {Uint8Array} root1
 * @param {Uint8Array} root2
 * @returns {boolean}
 */
export function verifyConsistency(size1, size2, proof, root1, root2) {
  if (size1 > size2) return false;
  if (size1 === size2) return proof.length === 0 && equalBytes(root1, root2);
  // RFC 9162 defines no proof from the empty tree (section 2.1.4.2 needs first > 0).
  if (size1 === 0) return false;
  if (proof.length === 0) return false;
  let path = proof;
  if (isPowerOfTwo(size1)) path = [root1, ...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(fr, root1) && equalBytes(sr, root2);
}

/** @param {number} n @returns {boolean} */
function isPowerOfTwo(n) {
  return n > 0 && 2 ** log2Floor(n) === n;
}
