//! Signed tree heads: C2SP signed notes (<https://c2sp.org/signed-note>) with
//! Ed25519 keys, carrying C2SP tlog-checkpoint bodies
//! (<https://c2sp.org/tlog-checkpoint>).
//!
//! A checkpoint body is the origin line, the tree size in decimal, the root
//! hash in standard padded base64, and optional extension lines, each ending
//! in a newline:
//!
//! ```text
//! confide.example/tenant/7
//! 20852163
//! CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//! ```
//!
//! A signed note is the body, a blank line, and signature lines of the form
//! `— <key name> base64(key id || signature)`, the dash being U+2014. The
//! signature covers the whole body including its final newline. The key id
//! is the first four bytes, big-endian, of
//! `SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)`, and an
//! auditor configures a key as the verifier key string
//! `<name>+<8 hex digits of key id>+base64(0x01 || public key)`, the format of
//! `golang.org/x/mod/sumdb/note`.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// The signature type byte of Ed25519 in signed notes.
const ED25519_SIGNATURE_TYPE: u8 = 0x01;

/// The prefix of every signature line: an em dash (U+2014) and a space.
const SIGNATURE_LINE_PREFIX: &str = "\u{2014} ";

/// The most signature lines a note may carry. The signed-note spec asks
/// verifiers to cap them and to accept at least 16; this is the Go
/// reference implementation's limit.
const MAX_SIGNATURES: usize = 100;

/// Why a checkpoint, key or note was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The checkpoint body does not have the required shape.
    #[error("malformed checkpoint body: {0}")]
    MalformedCheckpoint(String),
    /// The checkpoint's origin line is empty.
    #[error("the checkpoint origin is empty")]
    EmptyOrigin,
    /// The tree size line is not a decimal number without leading zeros that
    /// fits in 64 bits.
    #[error("invalid tree size {0:?}: expected a decimal number without leading zeros")]
    InvalidTreeSize(String),
    /// The root hash line is not canonical standard padded base64.
    #[error("invalid root hash {0:?}: expected standard padded base64")]
    InvalidRootHash(String),
    /// The root hash decodes to the wrong number of bytes.
    #[error("the root hash is {0} bytes long, expected 32")]
    WrongRootHashLength(usize),
    /// A key name is empty or contains whitespace or '+'.
    #[error("invalid key name {0:?}: it must be non-empty, without whitespace or '+'")]
    InvalidKeyName(String),
    /// A signing key seed is not the base64 of 32 bytes.
    #[error("invalid signing key seed: {0}")]
    InvalidSeed(String),
    /// A verifier key string does not have the required shape.
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(String),
    /// A verifier key string states a key id that does not belong to its
    /// name and public key.
    #[error("the verifier key states key id {stated:08x} but its name and key give {computed:08x}")]
    VerifierKeyIdMismatch {
        /// The key id written in the key string.
        stated: u32,
        /// The key id computed from the name and public key.
        computed: u32,
    },
    /// The note is not a well-formed signed note.
    #[error("malformed note: {0}")]
    MalformedNote(String),
    /// The note carries no signature line by this verifier's key.
    #[error("the note has no signature by key {name}+{key_id:08x}")]
    NoSignatureByKey {
        /// The verifier's key name.
        name: String,
        /// The verifier's key id.
        key_id: u32,
    },
    /// A signature line by this verifier's key does not verify.
    #[error("the signature by key {name}+{key_id:08x} does not verify")]
    BadSignature {
        /// The verifier's key name.
        name: String,
        /// The verifier's key id.
        key_id: u32,
    },
}

/// The head of a log at one size, as a C2SP tlog-checkpoint body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `confide.example/tenant/7`.
    pub origin: String,
    /// The number of leaves in the tree.
    pub size: u64,
    /// The RFC 9162 root hash of the tree.
    pub root: Hash,
    /// Opaque extension lines, each non-empty, without their newlines.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note body: origin, size, base64 root and extension lines, each
    /// followed by a newline. A checkpoint whose origin or extensions break
    /// the rules of [`Checkpoint::parse_body`] gives a body that it rejects.
    pub fn to_body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        );
        for extension in &self.extensions {
            body.push_str(extension);
            body.push('\n');
        }
        body
    }

    /// Parses a checkpoint body strictly: every line ends in a newline, no
    /// line has leading or trailing whitespace or control characters, the
    /// size has no leading zeros, the root is canonical base64 of 32 bytes,
    /// and extension lines are non-empty.
    pub fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
        let malformed = |reason: &str| CheckpointError::MalformedCheckpoint(reason.to_owned());
        let Some(without_final_newline) = body.strip_suffix('\n') else {
            return Err(malformed("the body does not end with a newline"));
        };
        if body
            .chars()
            .any(|character| character.is_control() && character != '\n')
        {
            return Err(malformed("the body contains a control character"));
        }
        let mut lines = without_final_newline.split('\n');
        let origin = lines.next().unwrap_or_default();
        let (Some(size_line), Some(root_line)) = (lines.next(), lines.next()) else {
            return Err(malformed("the body has fewer than three lines"));
        };
        let extensions: Vec<String> = lines.map(str::to_owned).collect();

        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        if origin.trim() != origin {
            return Err(malformed("the origin has leading or trailing whitespace"));
        }
        let size = parse_tree_size(size_line)?;
        let root = parse_root_hash(root_line)?;
        for extension in &extensions {
            if extension.is_empty() {
                return Err(malformed("an extension line is empty"));
            }
            if extension.trim() != extension {
                return Err(malformed(
                    "an extension line has leading or trailing whitespace",
                ));
            }
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

fn parse_tree_size(line: &str) -> Result<u64, CheckpointError> {
    let invalid = || CheckpointError::InvalidTreeSize(line.to_owned());
    // `u64::from_str` alone would accept a leading '+'.
    if line.is_empty() || !line.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid());
    }
    if line.len() > 1 && line.starts_with('0') {
        return Err(invalid());
    }
    line.parse().map_err(|_| invalid())
}

fn parse_root_hash(line: &str) -> Result<Hash, CheckpointError> {
    // The STANDARD engine requires canonical padding and zero trailing bits,
    // so each hash has exactly one accepted encoding.
    let bytes = BASE64
        .decode(line)
        .map_err(|_| CheckpointError::InvalidRootHash(line.to_owned()))?;
    let length = bytes.len();
    bytes
        .try_into()
        .map_err(|_| CheckpointError::WrongRootHashLength(length))
}

/// Checks a key name against the signed-note rules: non-empty, no Unicode
/// whitespace, no '+' (the verifier key string uses '+' as its separator).
fn check_key_name(name: &str) -> Result<(), CheckpointError> {
    if name.is_empty()
        || name.chars().any(|character| {
            character.is_whitespace() || character == '+' || character.is_control()
        })
    {
        return Err(CheckpointError::InvalidKeyName(name.to_owned()));
    }
    Ok(())
}

/// `SHA-256(name || 0x0A || 0x01 || public key)[..4]`, big-endian.
fn ed25519_key_id(name: &str, key: &VerifyingKey) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', ED25519_SIGNATURE_TYPE]);
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Signs note bodies with an Ed25519 key under a key name.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    key_id: u32,
}

impl NoteSigner {
    /// A signer for `key` under `name`, which must be non-empty and contain
    /// neither whitespace nor '+'.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, CheckpointError> {
        check_key_name(name)?;
        let key_id = ed25519_key_id(name, &key.verifying_key());
        Ok(Self {
            name: name.to_owned(),
            key,
            key_id,
        })
    }

    /// A signer with a fresh key from the operating system's CSPRNG.
    pub fn generate(name: &str) -> Result<Self, CheckpointError> {
        Self::new(name, SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// A signer from the standard base64 of a 32-byte Ed25519 seed, as
    /// [`NoteSigner::seed_base64`] writes it. Trailing newlines, as a key
    /// file may end with, are ignored.
    pub fn from_seed_base64(name: &str, seed: &str) -> Result<Self, CheckpointError> {
        let bytes = BASE64
            .decode(seed.trim_end_matches('\n'))
            .map_err(|error| CheckpointError::InvalidSeed(error.to_string()))?;
        let seed: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            CheckpointError::InvalidSeed(format!("{} bytes, expected 32", bytes.len()))
        })?;
        Self::new(name, SigningKey::from_bytes(&seed))
    }

    /// The 32-byte seed in standard base64. This is the secret key: the
    /// caller stores it with file mode 600 or in a secret store.
    pub fn seed_base64(&self) -> String {
        BASE64.encode(self.key.to_bytes())
    }

    /// The key id of this signer's key under its name.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier for this signer's signatures.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `body` and returns the whole signed note: the body, a blank line
    /// and this key's signature line. The body must be note text as
    /// [`Checkpoint::to_body`] makes it: non-empty, ending in a newline,
    /// without control characters other than newlines; other text gives a
    /// note that [`NoteVerifier::verify`] rejects.
    pub fn sign(&self, body: &str) -> String {
        debug_assert!(
            body.ends_with('\n') && !has_control_other_than_newline(body),
            "not valid note text: {body:?}"
        );
        let signature = self.key.sign(body.as_bytes());
        let mut blob = Vec::with_capacity(4 + Signature::BYTE_SIZE);
        blob.extend_from_slice(&self.key_id.to_be_bytes());
        blob.extend_from_slice(&signature.to_bytes());
        format!(
            "{body}\n{SIGNATURE_LINE_PREFIX}{} {}\n",
            self.name,
            BASE64.encode(blob)
        )
    }
}

impl fmt::Debug for NoteSigner {
    // Written by hand so that the key material never reaches a log.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

/// Verifies signed notes against one Ed25519 key under one name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses a verifier key string `<name>+<8 lowercase hex digits of key
    /// id>+base64(0x01 || 32-byte public key)` and checks that the key id
    /// belongs to the name and key.
    pub fn parse(verifier_key: &str) -> Result<Self, CheckpointError> {
        let malformed = |reason: &str| CheckpointError::MalformedVerifierKey(reason.to_owned());
        // The name has no '+', but the base64 may, so split at most twice.
        let mut parts = verifier_key.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_base64)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("expected <name>+<key id>+<key>"));
        };
        check_key_name(name)?;
        if id_hex.len() != 8
            || !id_hex
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
        {
            return Err(malformed("the key id is not 8 lowercase hex digits"));
        }
        let stated = u32::from_str_radix(id_hex, 16)
            .map_err(|_| malformed("the key id is not 8 lowercase hex digits"))?;
        let key_bytes = BASE64
            .decode(key_base64)
            .map_err(|_| malformed("the key is not standard padded base64"))?;
        let Some((&signature_type, public_key)) = key_bytes.split_first() else {
            return Err(malformed("the key is empty"));
        };
        if signature_type != ED25519_SIGNATURE_TYPE {
            return Err(malformed("the key is not an Ed25519 key (type byte 0x01)"));
        }
        let public_key: [u8; 32] = public_key
            .try_into()
            .map_err(|_| malformed("the Ed25519 public key is not 32 bytes long"))?;
        let key = VerifyingKey::from_bytes(&public_key)
            .map_err(|_| malformed("the Ed25519 public key is not a valid curve point"))?;
        let computed = ed25519_key_id(name, &key);
        if stated != computed {
            return Err(CheckpointError::VerifierKeyIdMismatch { stated, computed });
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: computed,
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Checks that `note` is a well-formed signed note carrying a valid
    /// signature by this key, and returns its body (the signed text,
    /// including its final newline). Signatures by other keys are ignored,
    /// as the signed-note spec requires; every signature line with this key's
    /// name and key id must verify.
    pub fn verify(&self, note: &str) -> Result<String, CheckpointError> {
        let malformed = |reason: &str| CheckpointError::MalformedNote(reason.to_owned());
        if has_control_other_than_newline(note) {
            return Err(malformed(
                "the note contains a control character other than newline",
            ));
        }
        // The body may contain blank lines; the last one separates it from
        // the signatures.
        let Some(separator) = note.rfind("\n\n") else {
            return Err(malformed(
                "no blank line separates the text from the signatures",
            ));
        };
        let body = &note[..=separator];
        let signature_block = &note[separator + 2..];
        let Some(signature_lines) = signature_block.strip_suffix('\n') else {
            return Err(malformed("the signatures do not end with a newline"));
        };
        if signature_lines.is_empty() {
            return Err(malformed("the note has no signature lines"));
        }

        let mut ours = Vec::new();
        for (count, line) in signature_lines.split('\n').enumerate() {
            if count == MAX_SIGNATURES {
                return Err(malformed("the note has too many signature lines"));
            }
            let (name, key_id, signature) = parse_signature_line(line)?;
            if name == self.name && key_id == self.key_id {
                ours.push(signature);
            }
        }
        if ours.is_empty() {
            return Err(CheckpointError::NoSignatureByKey {
                name: self.name.clone(),
                key_id: self.key_id,
            });
        }
        let bad_signature = || CheckpointError::BadSignature {
            name: self.name.clone(),
            key_id: self.key_id,
        };
        for signature in ours {
            let signature = Signature::from_slice(&signature).map_err(|_| bad_signature())?;
            self.key
                .verify_strict(body.as_bytes(), &signature)
                .map_err(|_| bad_signature())?;
        }
        Ok(body.to_owned())
    }
}

/// The key names and key ids of the well-formed signature lines of `note`, whether or not
/// the signatures verify: for telling an auditor which keys a note claims to be signed by.
/// A note without a signature block gives an empty list.
pub fn claimed_signers(note: &str) -> Vec<(String, u32)> {
    let Some(separator) = note.rfind("\n\n") else {
        return Vec::new();
    };
    note[separator + 2..]
        .lines()
        .take(MAX_SIGNATURES)
        .filter_map(|line| parse_signature_line(line).ok())
        .map(|(name, key_id, _)| (name.to_owned(), key_id))
        .collect()
}

/// Whether `text` has a character the signed-note spec forbids: an ASCII
/// control character (below U+0020) other than newline.
fn has_control_other_than_newline(text: &str) -> bool {
    text.chars()
        .any(|character| character < '\u{20}' && character != '\n')
}

/// Splits `— <name> <base64(key id || signature)>` into its name, key id and
/// signature bytes.
fn parse_signature_line(line: &str) -> Result<(&str, u32, Vec<u8>), CheckpointError> {
    let malformed = |reason: &str| CheckpointError::MalformedNote(reason.to_owned());
    let Some(rest) = line.strip_prefix(SIGNATURE_LINE_PREFIX) else {
        return Err(malformed(
            "a signature line does not start with an em dash and a space",
        ));
    };
    let Some((name, blob_base64)) = rest.split_once(' ') else {
        return Err(malformed(
            "a signature line has no signature after the key name",
        ));
    };
    check_key_name(name).map_err(|_| malformed("a signature line has an invalid key name"))?;
    let blob = BASE64
        .decode(blob_base64)
        .map_err(|_| malformed("a signature is not standard padded base64"))?;
    if blob.len() < 5 {
        return Err(malformed(
            "a signature is shorter than a key id and one byte",
        ));
    }
    let key_id = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]);
    Ok((name, key_id, blob[4..].to_vec()))
}

impl fmt::Display for NoteVerifier {
    /// The verifier key string, the inverse of [`NoteVerifier::parse`].
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key_bytes = Vec::with_capacity(33);
        key_bytes.push(ED25519_SIGNATURE_TYPE);
        key_bytes.extend_from_slice(self.key.as_bytes());
        write!(
            formatter,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(key_bytes)
        )
    }
}

impl FromStr for NoteVerifier {
    type Err = CheckpointError;

    fn from_str(verifier_key: &str) -> Result<Self, Self::Err> {
        Self::parse(verifier_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known-answer vectors from golang.org/x/mod/sumdb/note, note_test.go
    // (TestNewVerifier, TestSign, TestOpen, TestVerifierList). The signer key
    // string there is "PRIVATE+KEY+PeterNeumann+c74f20a3+" followed by
    // base64(0x01 || 32-byte Ed25519 seed).
    const PETER_SIGNER_KEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VERIFIER_KEY: &str =
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const ENOCH_VERIFIER_KEY: &str =
        "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const PETER_SIGNATURE_LINE: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIGNATURE_LINE: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    fn peter_signer() -> NoteSigner {
        // The base64 itself may contain '+', so split off the first four fields.
        let encoded = PETER_SIGNER_KEY.splitn(5, '+').nth(4).unwrap();
        let decoded = BASE64.decode(encoded).unwrap();
        assert_eq!(decoded[0], ED25519_SIGNATURE_TYPE);
        NoteSigner::from_seed_base64("PeterNeumann", &BASE64.encode(&decoded[1..])).unwrap()
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "confide.example/tenant/7".to_owned(),
            size: 20_852_163,
            root: crate::merkle::leaf_hash(b"some root"),
            extensions: vec![],
        }
    }

    #[test]
    fn reproduces_the_go_reference_key_id_verifier_key_and_signature() {
        let signer = peter_signer();
        assert_eq!(signer.key_id(), 0xc74f20a3);
        assert_eq!(signer.name(), "PeterNeumann");
        assert_eq!(signer.verifier().to_string(), PETER_VERIFIER_KEY);
        // Ed25519 signatures are deterministic, so the note must match the
        // Go implementation's byte for byte.
        let note = signer.sign(GO_TEXT);
        assert_eq!(note, format!("{GO_TEXT}\n{PETER_SIGNATURE_LINE}"));
    }

    #[test]
    fn verifies_the_go_reference_notes() {
        let peter = NoteVerifier::parse(PETER_VERIFIER_KEY).unwrap();
        let enoch = NoteVerifier::parse(ENOCH_VERIFIER_KEY).unwrap();
        assert_eq!(peter.key_id(), 0xc74f20a3);
        assert_eq!(enoch.key_id(), 0xaf0cfe78);
        assert_eq!(enoch.name(), "EnochRoot");

        let both = format!("{GO_TEXT}\n{PETER_SIGNATURE_LINE}{ENOCH_SIGNATURE_LINE}");
        assert_eq!(peter.verify(&both).unwrap(), GO_TEXT);
        assert_eq!(enoch.verify(&both).unwrap(), GO_TEXT);

        let only_peter = format!("{GO_TEXT}\n{PETER_SIGNATURE_LINE}");
        assert_eq!(
            enoch.verify(&only_peter),
            Err(CheckpointError::NoSignatureByKey {
                name: "EnochRoot".to_owned(),
                key_id: 0xaf0cfe78
            })
        );

        // TestOpen's "invalid signature": four base64 characters inserted.
        let (head, tail) = PETER_SIGNATURE_LINE.split_at(60);
        let mangled = format!("{GO_TEXT}\n{head}ABCD{tail}");
        assert!(matches!(
            peter.verify(&mangled),
            Err(CheckpointError::BadSignature { .. })
        ));
    }

    #[test]
    fn rejects_the_go_reference_malformed_notes() {
        let peter = NoteVerifier::parse(PETER_VERIFIER_KEY).unwrap();
        // TestOpen's badMsgs.
        let bad_notes = [
            GO_TEXT.to_owned(),
            format!("{GO_TEXT}\n"),
            format!("{GO_TEXT}\n{}", PETER_SIGNATURE_LINE.trim_end_matches('\n')),
            format!("\u{1}{GO_TEXT}\n{PETER_SIGNATURE_LINE}"),
            format!(
                "{GO_TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
            ),
            format!("{GO_TEXT}\n{PETER_SIGNATURE_LINE}Unexpected line.\n"),
            format!("{GO_TEXT}\n{}", PETER_SIGNATURE_LINE.repeat(101)),
        ];
        for note in bad_notes {
            assert!(
                matches!(peter.verify(&note), Err(CheckpointError::MalformedNote(_))),
                "{note:?}"
            );
        }
    }

    #[test]
    fn rejects_mangled_verifier_keys() {
        // TestNewVerifier's extra cases: a wrong-length key and an unknown
        // algorithm, each with a key id adjusted to match.
        for key in [
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3",
        ] {
            assert!(NoteVerifier::parse(key).is_err(), "{key}");
        }
        assert_eq!(
            NoteVerifier::parse(
                "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(CheckpointError::VerifierKeyIdMismatch {
                stated: 0xc74f20a4,
                computed: 0xc74f20a3
            })
        );
        // Like TestNewVerifier: every proper substring and every one-byte
        // change of the key string is rejected.
        let bytes = PETER_VERIFIER_KEY.as_bytes();
        for start in 0..bytes.len() {
            for end in start + 1..=bytes.len() {
                if (start, end) != (0, bytes.len()) {
                    let part = &PETER_VERIFIER_KEY[start..end];
                    assert!(NoteVerifier::parse(part).is_err(), "{part}");
                }
            }
        }
        for position in 0..bytes.len() {
            let mut changed = bytes.to_vec();
            changed[position] += 1;
            let changed = String::from_utf8(changed).unwrap();
            assert!(NoteVerifier::parse(&changed).is_err(), "{changed}");
        }
    }

    #[test]
    fn claimed_signers_lists_every_well_formed_signature_line() {
        let both = format!("{GO_TEXT}\n{PETER_SIGNATURE_LINE}{ENOCH_SIGNATURE_LINE}");
        assert_eq!(
            claimed_signers(&both),
            vec![
                ("PeterNeumann".to_owned(), 0xc74f20a3),
                ("EnochRoot".to_owned(), 0xaf0cfe78)
            ]
        );
        assert!(claimed_signers(GO_TEXT).is_empty());
    }

    #[test]
    fn sign_verify_parse_round_trip() {
        let signer = NoteSigner::generate("confide.example/tenant/7").unwrap();
        let mut checkpoint = checkpoint();
        checkpoint.extensions = vec!["an extension".to_owned(), "another".to_owned()];
        let note = signer.sign(&checkpoint.to_body());
        let body = signer.verifier().verify(&note).unwrap();
        assert_eq!(body, checkpoint.to_body());
        assert_eq!(Checkpoint::parse_body(&body).unwrap(), checkpoint);
    }

    #[test]
    fn verifier_key_string_round_trips() {
        let signer = NoteSigner::generate("confide.example/tenant/7").unwrap();
        let verifier = signer.verifier();
        let text = verifier.to_string();
        assert!(text.starts_with(&format!(
            "confide.example/tenant/7+{:08x}+",
            signer.key_id()
        )));
        let parsed: NoteVerifier = text.parse().unwrap();
        assert_eq!(parsed, verifier);
        assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn seed_round_trips_and_debug_hides_it() {
        let signer = NoteSigner::generate("log").unwrap();
        let seed = signer.seed_base64();
        let restored = NoteSigner::from_seed_base64("log", &seed).unwrap();
        assert_eq!(restored.verifier(), signer.verifier());
        assert_eq!(restored.sign("x\n"), signer.sign("x\n"));

        let debug = format!("{signer:?}");
        assert!(debug.contains("log") && debug.contains(&format!("{:08x}", signer.key_id())));
        assert!(!debug.contains(&seed), "{debug}");
        let seed_hex = hex::encode(BASE64.decode(&seed).unwrap());
        assert!(!debug.contains(&seed_hex), "{debug}");
        assert!(!debug.to_lowercase().contains(&seed_hex[..16]), "{debug}");
    }

    #[test]
    fn rejects_invalid_names_and_seeds() {
        for name in ["", "a b", "a+b", "tab\there", "line\nbreak", "nbsp\u{a0}"] {
            assert_eq!(
                NoteSigner::generate(name).err(),
                Some(CheckpointError::InvalidKeyName(name.to_owned()))
            );
        }
        assert!(matches!(
            NoteSigner::from_seed_base64("log", "not base64!"),
            Err(CheckpointError::InvalidSeed(_))
        ));
        assert!(matches!(
            NoteSigner::from_seed_base64("log", &BASE64.encode([7u8; 31])),
            Err(CheckpointError::InvalidSeed(_))
        ));
    }

    #[test]
    fn a_note_signed_by_another_key_is_rejected() {
        let ours = NoteSigner::generate("confide.example/tenant/7").unwrap();
        let body = checkpoint().to_body();

        // Another key under another name: there is no signature of ours.
        let stranger = NoteSigner::generate("someone.else").unwrap();
        assert_eq!(
            ours.verifier().verify(&stranger.sign(&body)),
            Err(CheckpointError::NoSignatureByKey {
                name: ours.name().to_owned(),
                key_id: ours.key_id()
            })
        );

        // Another key under our name has another key id, so it is not ours
        // either (unless the ids collide, which is 1 in 2^32).
        let impostor = NoteSigner::generate(ours.name()).unwrap();
        assert_ne!(impostor.key_id(), ours.key_id());
        assert!(matches!(
            ours.verifier().verify(&impostor.sign(&body)),
            Err(CheckpointError::NoSignatureByKey { .. })
        ));

        // A signature line that claims our name and key id but was made by
        // another key is a bad signature, not a missing one.
        let forged_note = impostor.sign(&body);
        let forged_line = forged_note.strip_prefix(&format!("{body}\n")).unwrap();
        let blob = forged_line
            .trim_end_matches('\n')
            .rsplit(' ')
            .next()
            .unwrap();
        let mut bytes = BASE64.decode(blob).unwrap();
        bytes[..4].copy_from_slice(&ours.key_id().to_be_bytes());
        let forged = format!(
            "{body}\n\u{2014} {} {}\n",
            ours.name(),
            BASE64.encode(bytes)
        );
        assert_eq!(
            ours.verifier().verify(&forged),
            Err(CheckpointError::BadSignature {
                name: ours.name().to_owned(),
                key_id: ours.key_id()
            })
        );

        // Our signature next to the forged one: the forged one still spoils
        // the note, as the spec recommends.
        let both = format!(
            "{}{}",
            ours.sign(&body),
            forged.strip_prefix(&format!("{body}\n")).unwrap()
        );
        assert!(matches!(
            ours.verifier().verify(&both),
            Err(CheckpointError::BadSignature { .. })
        ));
        // And our signature next to an unrelated one verifies.
        let with_stranger = format!(
            "{}{}",
            ours.sign(&body),
            stranger
                .sign(&body)
                .strip_prefix(&format!("{body}\n"))
                .unwrap()
        );
        assert_eq!(ours.verifier().verify(&with_stranger).unwrap(), body);
    }

    #[test]
    fn any_one_byte_edit_of_the_body_fails() {
        let signer = NoteSigner::generate("confide.example/tenant/7").unwrap();
        let body = checkpoint().to_body();
        let note = signer.sign(&body);
        let verifier = signer.verifier();
        for position in 0..body.len() - 1 {
            let mut edited = note.clone().into_bytes();
            // Keep the text ASCII so it stays valid UTF-8; skip newlines so
            // the note keeps its shape and only the signature can catch it.
            if edited[position] == b'\n' {
                continue;
            }
            edited[position] = if edited[position] == b'x' { b'y' } else { b'x' };
            let edited = String::from_utf8(edited).unwrap();
            assert!(
                matches!(
                    verifier.verify(&edited),
                    Err(CheckpointError::BadSignature { .. })
                ),
                "edit at {position}"
            );
        }
    }

    #[test]
    fn checkpoint_body_has_the_c2sp_shape() {
        let checkpoint = Checkpoint {
            origin: "example.com/behind-the-sofa".to_owned(),
            size: 20_852_163,
            root: BASE64
                .decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
                .unwrap()
                .try_into()
                .unwrap(),
            extensions: vec![],
        };
        // The example body of c2sp.org/tlog-checkpoint.
        let body =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        assert_eq!(checkpoint.to_body(), body);
        assert_eq!(Checkpoint::parse_body(body).unwrap(), checkpoint);

        let empty_tree = "log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
        let parsed = Checkpoint::parse_body(empty_tree).unwrap();
        assert_eq!(parsed.size, 0);
        assert_eq!(parsed.root, crate::merkle::empty_root());
    }

    #[test]
    fn parse_body_is_strict() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        // Each case is a body and a test that the error is the expected one.
        type Expectation = fn(&CheckpointError) -> bool;
        let cases: [(String, Expectation); 16] = [
            (format!("log\n1\n{root}"), |e| {
                matches!(e, CheckpointError::MalformedCheckpoint(_))
            }),
            ("log\n1\n".to_owned(), |e| {
                matches!(e, CheckpointError::MalformedCheckpoint(_))
            }),
            (format!("\n1\n{root}\n"), |e| {
                *e == CheckpointError::EmptyOrigin
            }),
            (format!(" log\n1\n{root}\n"), |e| {
                matches!(e, CheckpointError::MalformedCheckpoint(_))
            }),
            (format!("log \n1\n{root}\n"), |e| {
                matches!(e, CheckpointError::MalformedCheckpoint(_))
            }),
            (format!("log\n01\n{root}\n"), |e| {
                matches!(e, CheckpointError::InvalidTreeSize(_))
            }),
            (format!("log\n 1\n{root}\n"), |e| {
                matches!(e, CheckpointError::InvalidTreeSize(_))
            }),
            (format!("log\n+1\n{root}\n"), |e| {
                matches!(e, CheckpointError::InvalidTreeSize(_))
            }),
            (format!("log\n18446744073709551616\n{root}\n"), |e| {
                matches!(e, CheckpointError::InvalidTreeSize(_))
            }),
            (format!("log\n1\n{root} \n"), |e| {
                matches!(e, CheckpointError::InvalidRootHash(_))
            }),
            (format!("log\n1\n{}\n", root.trim_end_matches('=')), |e| {
                matches!(e, CheckpointError::InvalidRootHash(_))
            }),
            // The same bytes with non-zero trailing bits in the last character.
            (format!("log\n1\n{}3=\n", &root[..root.len() - 2]), |e| {
                matches!(e, CheckpointError::InvalidRootHash(_))
            }),
            (format!("log\n1\n{}\n", BASE64.encode([1u8; 31])), |e| {
                *e == CheckpointError::WrongRootHashLength(31)
            }),
            (format!("log\n1\n{root}\n\n"), |e| {
                matches!(e, CheckpointError::MalformedCheckpoint(_))
            }),
            (format!("log\n1\n{root}\nextension\r\n"), |e| {
                matches!(e, CheckpointError::MalformedCheckpoint(_))
            }),
            (format!("log\r\n1\n{root}\n"), |e| {
                matches!(e, CheckpointError::MalformedCheckpoint(_))
            }),
        ];
        for (body, expected) in cases {
            let error = Checkpoint::parse_body(&body).unwrap_err();
            assert!(expected(&error), "{body:?} gave {error:?}");
        }
        // The valid form of the same lines parses.
        Checkpoint::parse_body(&format!("log\n1\n{root}\nextension\n")).unwrap();
    }
}
