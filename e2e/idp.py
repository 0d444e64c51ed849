"""An identity provider independent of Confide's JWT library: PyJWT with `cryptography`.

Writes the provider's public keys as a JWK set to the path given, then prints, as one JSON
object, tokens it signed for tenant and user named on the command line: good ones with
EdDSA and RS256, and the kinds a server must refuse.
"""

import base64
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

ISSUER = "https://idp.example.org"
AUDIENCE = "confide"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> None:
    jwks_path, tenant, user = sys.argv[1], sys.argv[2], sys.argv[3]
    ed = ed25519.Ed25519PrivateKey.generate()
    rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger = ed25519.Ed25519PrivateKey.generate()
    ed_public = ed.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    numbers = rs.public_key().public_numbers()
    jwks = {
        "keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": b64(ed_public), "kid": "idp-ed", "alg": "EdDSA", "use": "sig"},
            {
                "kty": "RSA",
                "n": b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                "e": b64(numbers.e.to_bytes(3, "big")),
                "kid": "idp-rs",
                "alg": "RS256",
                "use": "sig",
            },
        ]
    }
    with open(jwks_path, "w") as f:
        json.dump(jwks, f)

    now = int(time.time())

    def claims(**changes):
        base = {"sub": user, "tenant": tenant, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600}
        base.update(changes)
        return base

    rs_public_pem = rs.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # HS256 keyed with the RSA public key: the classic algorithm confusion attack. PyJWT
    # refuses to do it, so the token is put together by hand.
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "idp-rs"}).encode())
    payload = b64(json.dumps(claims()).encode())
    import hashlib
    import hmac

    confused = f"{header}.{payload}." + b64(
        hmac.new(rs_public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    )
    unsigned = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." + payload + "."
    tokens = {
        "eddsa": jwt.encode(claims(), ed, algorithm="EdDSA", headers={"kid": "idp-ed"}),
        "rs256": jwt.encode(claims(), rs, algorithm="RS256", headers={"kid": "idp-rs"}),
        "refused": {
            "expired": jwt.encode(claims(exp=now - 600, iat=now - 4200), ed, algorithm="EdDSA", headers={"kid": "idp-ed"}),
            "not_yet_valid": jwt.encode(claims(nbf=now + 3600), ed, algorithm="EdDSA", headers={"kid": "idp-ed"}),
            "wrong_issuer": jwt.encode(claims(iss="https://evil.example"), ed, algorithm="EdDSA", headers={"kid": "idp-ed"}),
            "wrong_audience": jwt.encode(claims(aud="another-service"), rs, algorithm="RS256", headers={"kid": "idp-rs"}),
            "unknown_key": jwt.encode(claims(), stranger, algorithm="EdDSA", headers={"kid": "idp-other"}),
            "key_of_another_kid": jwt.encode(claims(), stranger, algorithm="EdDSA", headers={"kid": "idp-ed"}),
            "alg_mismatch": jwt.encode(claims(), ed, algorithm="EdDSA", headers={"kid": "idp-rs"}),
            "algorithm_confusion": confused,
            "alg_none": unsigned,
        },
    }
    print(json.dumps(tokens))


if __name__ == "__main__":
    main()
