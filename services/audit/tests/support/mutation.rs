//! Random mutations of a bundle: flipped, inserted and deleted bytes, truncation, and deleted,
//! duplicated and swapped lines. Shared by the fuzz tests and the corpus writer.

use proptest::prelude::*;

#[derive(Clone, Debug)]
pub enum Mutation {
    FlipByte {
        at: prop::sample::Index,
        bits: u8,
    },
    InsertByte {
        at: prop::sample::Index,
        byte: u8,
    },
    DeleteByte {
        at: prop::sample::Index,
    },
    Truncate {
        at: prop::sample::Index,
    },
    DeleteLine {
        line: prop::sample::Index,
    },
    DuplicateLine {
        line: prop::sample::Index,
        to: prop::sample::Index,
    },
    SwapLines {
        a: prop::sample::Index,
        b: prop::sample::Index,
    },
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    let index = any::<prop::sample::Index>;
    prop_oneof![
        (index(), 1..=255u8).prop_map(|(at, bits)| Mutation::FlipByte { at, bits }),
        (index(), any::<u8>()).prop_map(|(at, byte)| Mutation::InsertByte { at, byte }),
        index().prop_map(|at| Mutation::DeleteByte { at }),
        index().prop_map(|at| Mutation::Truncate { at }),
        index().prop_map(|line| Mutation::DeleteLine { line }),
        (index(), index()).prop_map(|(line, to)| Mutation::DuplicateLine { line, to }),
        (index(), index()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
    ]
}

pub fn apply(bundle: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = bundle.to_vec();
    for mutation in mutations {
        let mut lines: Vec<Vec<u8>> = bytes
            .split_inclusive(|&b| b == b'\n')
            .map(<[u8]>::to_vec)
            .collect();
        match mutation {
            Mutation::FlipByte { at, bits } if !bytes.is_empty() => {
                let at = at.index(bytes.len());
                bytes[at] ^= bits;
                continue;
            }
            Mutation::InsertByte { at, byte } => {
                bytes.insert(at.index(bytes.len() + 1), *byte);
                continue;
            }
            Mutation::DeleteByte { at } if !bytes.is_empty() => {
                bytes.remove(at.index(bytes.len()));
                continue;
            }
            Mutation::Truncate { at } => {
                bytes.truncate(at.index(bytes.len().max(1)));
                continue;
            }
            Mutation::DeleteLine { line } if !lines.is_empty() => {
                lines.remove(line.index(lines.len()));
            }
            Mutation::DuplicateLine { line, to } if !lines.is_empty() => {
                let copy = lines[line.index(lines.len())].clone();
                lines.insert(to.index(lines.len() + 1), copy);
            }
            Mutation::SwapLines { a, b } if !lines.is_empty() => {
                let (a, b) = (a.index(lines.len()), b.index(lines.len()));
                lines.swap(a, b);
            }
            _ => continue,
        }
        bytes = lines.concat();
    }
    bytes
}
