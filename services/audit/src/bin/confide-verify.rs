//! `confide-verify`: verifies a Confide audit bundle offline and, if it verifies, derives
//! reports from it.
//!
//! ```text
//! confide-verify BUNDLE [--trusted-key VERIFIER_KEY]... [--previous CHECKPOINT_FILE]
//!                       [--csv OUT.csv] [--summary]
//! confide-verify --receipt RECEIPT_FILE --trusted-key VERIFIER_KEY...
//! ```
//!
//! Exit status: 0 when the bundle verifies, 1 when it does not (the reason is named on
//! standard error, e.g. `FAILED: PayloadAltered: line 812: event 4021 was altered …`),
//! 2 for a usage error or a file that cannot be read or written.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use confide_audit::checkpoint::NoteVerifier;
use confide_audit::receipt::{
    ReceiptProof, UNPROVEN_MEMBERS, check_receipt_claims, verify_receipt_proof,
};
use confide_audit::report::{ConsentTrail, CsvReport};
use confide_audit::verify::{self, VerifyOptions};

const USAGE: &str = "\
usage: confide-verify BUNDLE [--trusted-key VERIFIER_KEY]... [--previous CHECKPOINT_FILE]
                      [--csv OUT.csv] [--summary]
       confide-verify --receipt RECEIPT_FILE --trusted-key VERIFIER_KEY...

Verifies a Confide audit bundle (schema/audit-bundle.md) offline: checkpoint signatures,
canonical JSON, every event's leaf hash, contiguous coverage of the log, the range proof to
the checkpoint's root, the filter, the tenant, consistency with a previous checkpoint, and
the end line. BUNDLE may be - for standard input.

  --trusted-key KEY   a verifier key (name+keyid+base64) the checkpoint must be signed by;
                      repeat for several. Without it the bundle's own keys are used, which
                      only shows that the bundle is consistent with itself.
  --previous FILE     the last checkpoint (signed note) you verified for this tenant: the
                      bundle's checkpoint must extend it.
  --csv OUT.csv       write the consent and access events as CSV (only if the bundle verifies)
  --summary           print the consent trail per client
  --receipt FILE      instead of a bundle, check a consent receipt (the JSON that
                      consentReceipt answers, or its proof alone): that the consent's request
                      and ConsentGiven events are in a checkpoint signed by a trusted key, and
                      that the receipt says what they say (schema/consent-receipt.md)

Exit status: 0 verified, 1 verification failed (the reason is named), 2 usage or I/O error.";

struct Arguments {
    bundle: String,
    receipt: Option<PathBuf>,
    trusted_keys: Vec<NoteVerifier>,
    previous: Option<PathBuf>,
    csv: Option<PathBuf>,
    summary: bool,
}

fn parse_arguments() -> Result<Arguments, String> {
    let mut bundle = None;
    let mut trusted_keys = Vec::new();
    let mut previous = None;
    let mut csv = None;
    let mut summary = false;
    let mut receipt = None;
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        let mut value = |name: &str| {
            arguments
                .next()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match argument.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--trusted-key" => {
                let key = value("--trusted-key")?;
                let verifier = NoteVerifier::parse(&key)
                    .map_err(|error| format!("--trusted-key {key}: {error}"))?;
                trusted_keys.push(verifier);
            }
            "--previous" => previous = Some(PathBuf::from(value("--previous")?)),
            "--csv" => csv = Some(PathBuf::from(value("--csv")?)),
            "--summary" => summary = true,
            "--receipt" => receipt = Some(PathBuf::from(value("--receipt")?)),
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => {
                if bundle.replace(other.to_owned()).is_some() {
                    return Err("give exactly one bundle".to_owned());
                }
            }
        }
    }
    if receipt.is_some() {
        if bundle.is_some() {
            return Err("give a bundle or --receipt, not both".to_owned());
        }
        if trusted_keys.is_empty() {
            return Err(
                "--receipt needs the operator's --trusted-key: a receipt checked against no key proves nothing"
                    .to_owned(),
            );
        }
    }
    Ok(Arguments {
        bundle: match receipt {
            Some(_) => String::new(),
            None => bundle.ok_or("give the bundle to verify")?,
        },
        receipt,
        trusted_keys,
        previous,
        csv,
        summary,
    })
}

fn main() -> ExitCode {
    let arguments = match parse_arguments() {
        Ok(arguments) => arguments,
        Err(message) => {
            if message.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("confide-verify: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&arguments) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("confide-verify: {message}");
            ExitCode::from(2)
        }
    }
}

/// The temporary CSV file: removed unless the bundle verifies and the report is moved into
/// place, so a CSV never exists for a bundle that failed.
struct PartialFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn run(arguments: &Arguments) -> Result<ExitCode, String> {
    if let Some(path) = &arguments.receipt {
        return check_receipt(path, &arguments.trusted_keys);
    }
    let previous = match &arguments.previous {
        // A signed note ends with exactly one newline; files saved by editors often carry
        // more, which would make the note malformed.
        Some(path) => Some(
            fs::read_to_string(path)
                .map(|note| format!("{}\n", note.trim_end_matches(['\n', '\r', ' '])))
                .map_err(|error| format!("reading {}: {error}", path.display()))?,
        ),
        None => None,
    };
    let options = VerifyOptions {
        trusted_keys: arguments.trusted_keys.clone(),
        previous,
    };
    let input: Box<dyn Read + Send> = if arguments.bundle == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(
            File::open(&arguments.bundle)
                .map_err(|error| format!("opening {}: {error}", arguments.bundle))?,
        )
    };

    let mut partial = None;
    let mut csv = match &arguments.csv {
        Some(path) => {
            let temporary = partial_path(path);
            let file = File::create(&temporary)
                .map_err(|error| format!("creating {}: {error}", temporary.display()))?;
            partial = Some(PartialFile {
                path: temporary,
                keep: false,
            });
            Some(
                CsvReport::new(io::BufWriter::new(file))
                    .map_err(|error| format!("writing the CSV: {error}"))?,
            )
        }
        None => None,
    };
    let mut trail = arguments.summary.then(ConsentTrail::new);

    let result = {
        let mut sinks = (csv.as_mut(), trail.as_mut());
        verify::verify_bundle(input, &options, &mut sinks)
    };
    let verified = match result {
        Ok(verified) => verified,
        Err(error) => {
            eprintln!("confide-verify: FAILED: {}: {error}", error.name());
            return Ok(ExitCode::from(1));
        }
    };

    if !verified.keys_trusted {
        eprintln!(
            "confide-verify: WARNING: no --trusted-key given: the checkpoint was checked against the keys the bundle itself lists ({}). Compare them with the keys the operator publishes.",
            verified
                .bundle_keys
                .iter()
                .map(|key| format!("{}+{:08x}", key.name(), key.key_id()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    print!("{verified}");

    if let (Some(report), Some(path), Some(partial)) = (csv, &arguments.csv, partial.as_mut()) {
        let (writer, rows) = report
            .finish(&verified)
            .map_err(|error| format!("writing the CSV: {error}"))?;
        let file = writer
            .into_inner()
            .map_err(|error| format!("writing the CSV: {}", error.error()))?;
        file.sync_all()
            .map_err(|error| format!("writing the CSV: {error}"))?;
        fs::rename(&partial.path, path)
            .map_err(|error| format!("moving the CSV to {}: {error}", path.display()))?;
        partial.keep = true;
        println!("csv:         {rows} rows written to {}", path.display());
    }
    if let Some(trail) = trail {
        let summary = trail
            .finish(&verified)
            .map_err(|error| format!("building the summary: {error}"))?;
        println!();
        print!("{summary}");
    }
    io::stdout()
        .flush()
        .map_err(|error| format!("writing the summary: {error}"))?;
    Ok(ExitCode::SUCCESS)
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Checks a consent receipt: its proof against the trusted keys and, when the receipt is
/// there too, that it says what the proven events say.
fn check_receipt(path: &Path, trusted: &[NoteVerifier]) -> Result<ExitCode, String> {
    let text =
        fs::read_to_string(path).map_err(|error| format!("reading {}: {error}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|error| format!("{} is not JSON: {error}", path.display()))?;
    // The GraphQL response, its `consentReceipt`, or the proof alone.
    let answer = json
        .pointer("/data/consentReceipt")
        .or_else(|| json.get("consentReceipt"))
        .unwrap_or(&json);
    let (receipt, proof) = match answer.get("proof") {
        Some(proof) => (answer.get("receipt"), proof),
        None => (None, answer),
    };
    let failed = |name: &str, detail: String| {
        eprintln!("confide-verify: FAILED: {name}: {detail}");
        Ok(ExitCode::from(1))
    };
    let proof: ReceiptProof = match serde_json::from_value(proof.clone()) {
        Ok(proof) => proof,
        Err(error) => return failed("MalformedProof", error.to_string()),
    };
    let verified = match verify_receipt_proof(&proof, trusted) {
        Ok(verified) => verified,
        Err(error) => return failed("ReceiptProof", error.to_string()),
    };
    if let Some(receipt) = receipt
        && let Err(error) = check_receipt_claims(receipt, &verified)
    {
        return failed("ReceiptMismatch", error.to_string());
    }
    let given = verified.given();
    println!("consent receipt verified");
    if receipt.is_some() {
        println!(
            "receipt:     every member is the logged events' (the terms: purposes, who may hear, media, derivatives, expiry and termination; the evidence: form, text, when, how, law, language; the ids), except these texts no event states:"
        );
        println!("not proven:  {}", UNPROVEN_MEMBERS.join(" "));
    } else {
        println!("receipt:     not given: only the proof was checked");
    }
    for event in &verified.events {
        println!(
            "event:       {} {} (version {}, sequence {}, recorded at {})",
            event.event_type,
            event.event_id,
            event.stream_version,
            event.sequence,
            event.recorded_at
        );
    }
    println!("stream:      {}", given.stream_id);
    println!("tenant:      {}", given.tenant_id);
    println!(
        "checkpoint:  {} events, root {} ({})",
        verified.checkpoint.size,
        hex::encode(verified.checkpoint.root),
        verified.checkpoint.origin
    );
    for key in &verified.signed_by {
        println!("signed by:   {}+{:08x} (trusted)", key.name(), key.key_id());
    }
    Ok(ExitCode::SUCCESS)
}
