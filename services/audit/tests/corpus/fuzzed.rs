//! The fuzzer's mutations, from a fixed seed.

#[allow(unused_imports)]
use super::*;

pub(crate) fn fuzz_bundle() -> &'static [u8] {
    static BUNDLE: OnceLock<Vec<u8>> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let log = log(8);
        let signer = operator();
        let size = log.envelopes.len() as u64;
        let mut export = Export::everything(&log.envelopes, &log.tree, &signer);
        export.filter = with_client(with_client(Filter::everything(), 3), 5);
        export.scan = 3..size - 2;
        let old_note = checkpoint_note(&signer, 20, log.tree.root(20));
        export.previous = Some((old_note, log.tree.consistency(20, size)));
        export.write()
    })
}

pub(crate) fn runner() -> TestRunner {
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    )
}

pub(crate) fn mutated(corpus: &mut Corpus) {
    let original = fuzz_bundle();
    let mut runner = runner();
    let strategy = proptest::collection::vec(mutation(), 1..4);
    for n in 0..mutated_cases() {
        let mutations = strategy.new_tree(&mut runner).unwrap().current();
        let bytes = apply(original, &mutations);
        corpus.bundle("mutated", &format!("mutated-{n:03}"), &bytes, &trusted());
    }
    let original = lines(original);
    let keep = 0usize..12;
    let junk = proptest::collection::vec("[\\[\\]{}\",:0-9a-z\\\\ .\\-]{0,40}", 1..4);
    for n in 0..mutated_cases() / 4 {
        let keep = keep.new_tree(&mut runner).unwrap().current();
        let mut tail = original[..keep.min(original.len())].to_vec();
        tail.extend(junk.new_tree(&mut runner).unwrap().current());
        corpus.bundle(
            "hostile",
            &format!("hostile-{n:03}"),
            &join(&tail),
            &trusted(),
        );
    }
}
