//! Tokens from an identity provider that shares nothing with Confide's JWT library: PyJWT
//! signs them with its own Ed25519 and RSA keys, published as a JWK set; the real binary
//! trusts that set and accepts exactly the tokens it should.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

mod common;

use std::process::Command;

use common::{Confide, code};
use serde_json::{Value, json};

#[tokio::test]
async fn tokens_signed_by_pyjwt_are_accepted_and_bad_ones_refused() {
    let dir = std::env::temp_dir().join(format!("confide-idp-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks = dir.join("jwks.json");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../e2e/idp.py");
    let output = Command::new("python3")
        .args([script, jwks.to_str().unwrap(), "clinic", "admin"])
        .output()
        .expect("running python3");
    assert!(
        output.status.success(),
        "the independent issuer needs python3 with PyJWT and cryptography (.ci/test installs them): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tokens: Value = serde_json::from_slice(&output.stdout).unwrap();

    let server = Confide::start(&[
        ("CONFIDE_JWKS_FILE", jwks.to_str().unwrap()),
        ("CONFIDE_TOKEN_ISSUER", "https://idp.example.org"),
        ("CONFIDE_TOKEN_AUDIENCE", "confide"),
    ])
    .await;
    server.create_tenant("clinic", "admin", "written_opt_in");

    for alg in ["eddsa", "rs256"] {
        let tenant = server.ok(
            tokens[alg].as_str().unwrap(),
            "{ tenant { id members { userId roles } } }",
            json!({}),
        );
        assert_eq!(
            tenant["tenant"],
            json!({ "id": "clinic", "members": [{ "userId": "admin", "roles": ["ORG_ADMIN"] }] }),
            "{alg}"
        );
    }
    for (kind, token) in tokens["refused"].as_object().unwrap() {
        let (status, response) =
            server.graphql(token.as_str().unwrap(), "{ tenant { id } }", json!({}));
        assert_eq!(status, 401, "{kind}: {response}");
        assert_eq!(code(&response), "UNAUTHENTICATED", "{kind}");
        assert!(response["data"].is_null(), "{kind}");
    }
}
