//! Writes a complete audit bundle of N realistic events (the synthetic tenant log of the
//! tests: clients registered, consent requested and given, recordings, grants, playbacks with
//! their basis, refusals, withdrawals and destruction), signed by the tests' operator key, and
//! prints that key. For benchmarks of the verifiers on the same file.
//!
//! ```text
//! cargo run --release -p confide-audit --example write_bundle -- OUT.jsonl 100000
//! cargo run --release -p confide-audit --example write_bundle -- --key   # the key alone
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // A tool for benchmarks: a panic is a failure.

#[path = "../tests/support/mod.rs"]
mod support;

use support::{Export, Tree, operator};

fn main() {
    let mut arguments = std::env::args().skip(1).peekable();
    let signer = operator();
    if arguments.peek().map(String::as_str) == Some("--key") {
        println!("{}", signer.verifier());
        return;
    }
    let (Some(out), Some(events)) = (arguments.next(), arguments.next()) else {
        eprintln!("usage: write_bundle OUT.jsonl EVENTS");
        std::process::exit(2);
    };
    let events: usize = events.parse().expect("EVENTS is a number");
    // About eleven events per client.
    let mut envelopes = support::synthetic_log(events / 10 + 1);
    assert!(envelopes.len() >= events);
    envelopes.truncate(events);
    let tree = Tree::new(&envelopes);
    let bundle = Export::everything(&envelopes, &tree, &signer).write();
    std::fs::write(&out, &bundle).expect("writing the bundle");
    println!("{}", signer.verifier());
}
