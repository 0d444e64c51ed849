//! The words of each notice, as plain text and HTML from one list of lines, in the language
//! of the client's form where it concerns a client (English or German; English for any other
//! tag), in English for staff. A notice says what happened and what to do, names recordings
//! and consents by id, and never carries recording content, a client's name or anything the
//! recipient may not know.

use std::fmt::Write as _;

/// One paragraph of a notice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A sentence.
    Text(String),
    /// A link the reader follows (shown as itself in the text).
    Link(String),
    /// A block kept as it is (a proof, a signed note), in a fixed-width font.
    Block(String),
}

/// A notice ready to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rendered {
    pub(crate) subject: String,
    pub(crate) lines: Vec<Line>,
    /// The BCP 47 tag it is written in.
    pub(crate) language: &'static str,
}

/// The languages notices are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lang {
    English,
    German,
}

impl Lang {
    /// The language of a form's tag: German for `de` and its regions, else English.
    pub(crate) fn of(tag: Option<&str>) -> Self {
        match tag.and_then(|t| t.split('-').next()) {
            Some(primary) if primary.eq_ignore_ascii_case("de") => Lang::German,
            _ => Lang::English,
        }
    }

    pub(crate) fn tag(self) -> &'static str {
        match self {
            Lang::English => "en",
            Lang::German => "de",
        }
    }

    /// The sentence in this language.
    pub(crate) fn pick(self, english: &str, german: &str) -> String {
        match self {
            Lang::English => english.to_owned(),
            Lang::German => german.to_owned(),
        }
    }
}

impl Rendered {
    /// The plain-text body: paragraphs separated by blank lines.
    pub(crate) fn text(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            match line {
                Line::Text(s) | Line::Link(s) | Line::Block(s) => text.push_str(s),
            }
            text.push_str("\n\n");
        }
        text.push_str(&self.footer());
        text.push('\n');
        text
    }

    /// The HTML body: the same paragraphs, escaped.
    pub(crate) fn html(&self) -> String {
        let mut html = format!(
            "<!doctype html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title></head><body>\n",
            self.language,
            escape(&self.subject)
        );
        for line in &self.lines {
            // Writing to a String cannot fail.
            let _ = match line {
                Line::Text(s) => writeln!(html, "<p>{}</p>", escape(s)),
                Line::Link(s) => writeln!(html, "<p><a href=\"{0}\">{0}</a></p>", escape(s)),
                Line::Block(s) => writeln!(html, "<pre>{}</pre>", escape(s)),
            };
        }
        let _ = writeln!(html, "<p><small>{}</small></p>", escape(&self.footer()));
        html.push_str("</body></html>\n");
        html
    }

    fn footer(&self) -> String {
        Lang::of(Some(self.language)).pick(
            "This message was sent by Confide on behalf of the organisation. Its delivery is recorded in the organisation's audit log.",
            "Diese Nachricht wurde von Confide im Auftrag der Organisation gesendet. Ihre Zustellung ist im Prüfprotokoll der Organisation festgehalten.",
        )
    }
}

/// Escapes text for HTML.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The consent request, to the client.
/// Under notified opt-out: the notice the practitioner gave, in writing, with the link to
/// read it and to opt out.
pub(crate) fn recording_notice(lang: Lang, organisation: &str, link: &str) -> Rendered {
    Rendered {
        subject: match lang {
            Lang::English => format!("{organisation} records your sessions: how to opt out"),
            Lang::German => format!(
                "{organisation} zeichnet Ihre Sitzungen auf: so widersprechen Sie"
            ),
        },
        lines: vec![
            Line::Text(match lang {
                Lang::English => format!(
                    "As your practitioner at {organisation} told you, your sessions are recorded for the purposes in the notice. You can read the notice, and opt out of one session or for good, through your own link:"
                ),
                Lang::German => format!(
                    "Wie Ihnen Ihre Beraterin oder Ihr Berater bei {organisation} gesagt hat, werden Ihre Sitzungen für die im Hinweis genannten Zwecke aufgezeichnet. Über Ihren persönlichen Link können Sie den Hinweis lesen und einer Sitzung oder dauerhaft widersprechen:"
                ),
            }),
            Line::Link(link.to_owned()),
            Line::Text(lang.pick(
                "The link is yours alone. Through it you can also see who listened to your recordings, and ask for a copy or for deletion.",
                "Der Link gehört nur Ihnen. Über ihn sehen Sie auch, wer Ihre Aufnahmen gehört hat, und können eine Kopie oder die Löschung verlangen.",
            )),
        ],
        language: lang.tag(),
    }
}

pub(crate) fn consent_request(lang: Lang, organisation: &str, link: &str) -> Rendered {
    Rendered {
        subject: match lang {
            Lang::English => format!("{organisation} asks for your consent to record your sessions"),
            Lang::German => format!(
                "{organisation} bittet um Ihre Einwilligung, Ihre Sitzungen aufzuzeichnen"
            ),
        },
        lines: vec![
            Line::Text(match lang {
                Lang::English => format!(
                    "Your practitioner at {organisation} asks for your consent to record your sessions. Read the form, then give or refuse your consent, through your own link:"
                ),
                Lang::German => format!(
                    "Ihre Beraterin oder Ihr Berater bei {organisation} bittet um Ihre Einwilligung, Ihre Sitzungen aufzuzeichnen. Lesen Sie das Formular und erteilen oder verweigern Sie Ihre Einwilligung über Ihren persönlichen Link:"
                ),
            }),
            Line::Link(link.to_owned()),
            Line::Text(lang.pick(
                "The link is yours alone. Through it you can also withdraw your consent at any time, see who listened to your recordings, and ask for a copy or for deletion. Nothing is recorded unless you agree.",
                "Der Link gehört nur Ihnen. Über ihn können Sie Ihre Einwilligung jederzeit widerrufen, sehen, wer Ihre Aufnahmen gehört hat, und eine Kopie oder die Löschung verlangen. Ohne Ihre Zustimmung wird nichts aufgezeichnet.",
            )),
        ],
        language: lang.tag(),
    }
}

/// A subject request's decision, to the client.
pub(crate) fn request_decided(
    lang: Lang,
    organisation: &str,
    kind: &str,
    outcome: &str,
    reason: Option<&str>,
) -> Rendered {
    let (kind, outcome) = match lang {
        Lang::English => (kind.replace('_', " "), outcome.replace('_', " ")),
        Lang::German => (
            match kind {
                "access" => "Auskunft",
                "copy" => "Kopie",
                "erasure" => "Löschung",
                "portability" => "Datenübertragbarkeit",
                other => other,
            }
            .to_owned(),
            match outcome {
                "granted" => "stattgegeben",
                "partially_granted" => "teilweise stattgegeben",
                "refused" => "abgelehnt",
                other => other,
            }
            .to_owned(),
        ),
    };
    let mut lines = vec![Line::Text(match lang {
        Lang::English => format!("{organisation} has decided your request ({kind}): {outcome}."),
        Lang::German => {
            format!("{organisation} hat über Ihren Antrag ({kind}) entschieden: {outcome}.")
        }
    })];
    if let Some(reason) = reason {
        lines.push(Line::Text(match lang {
            Lang::English => format!("The reason given: {reason}"),
            Lang::German => format!("Die Begründung: {reason}"),
        }));
    }
    lines.push(Line::Text(lang.pick(
        "You can see your requests and your recordings through your link.",
        "Ihre Anträge und Aufnahmen sehen Sie über Ihren Link.",
    )));
    Rendered {
        subject: lang.pick(
            "Your request has been decided",
            "Über Ihren Antrag wurde entschieden",
        ),
        lines,
        language: lang.tag(),
    }
}

/// What a destruction certificate states, with the proof that the destruction is in the log.
pub(crate) struct Certificate<'a> {
    pub(crate) organisation: &'a str,
    pub(crate) recording_id: String,
    pub(crate) session_on: Option<String>,
    pub(crate) destroyed_at: String,
    pub(crate) reason: String,
    pub(crate) key_id: Option<String>,
    pub(crate) object_sha256s: Vec<String>,
    pub(crate) log: String,
    pub(crate) sequence: u64,
    pub(crate) leaf_hash: String,
    pub(crate) inclusion_path: Vec<String>,
    pub(crate) checkpoint: String,
    pub(crate) checkpoint_key: String,
}

/// The destruction certificate, to the client.
pub(crate) fn destruction_certificate(lang: Lang, c: &Certificate<'_>) -> Rendered {
    let none = lang.pick("none", "keiner");
    let mut facts = String::new();
    let mut put = |label: &str, value: &str| {
        let _ = writeln!(facts, "{label}: {value}");
    };
    put(&lang.pick("Recording", "Aufnahme"), &c.recording_id);
    if let Some(day) = &c.session_on {
        put(&lang.pick("Session", "Sitzung"), day);
    }
    put(&lang.pick("Destroyed at", "Vernichtet am"), &c.destroyed_at);
    put(&lang.pick("Reason", "Grund"), &c.reason);
    put(
        &lang.pick("Key destroyed", "Vernichteter Schlüssel"),
        c.key_id.as_deref().unwrap_or(&none),
    );
    for digest in &c.object_sha256s {
        put(
            &lang.pick("Object deleted (SHA-256)", "Gelöschtes Objekt (SHA-256)"),
            digest,
        );
    }
    let mut proof = String::new();
    let _ = writeln!(proof, "log: {}", c.log);
    let _ = writeln!(proof, "event: RecordingDestroyed");
    let _ = writeln!(proof, "sequence: {}", c.sequence);
    let _ = writeln!(proof, "leaf hash: {}", c.leaf_hash);
    let _ = writeln!(proof, "inclusion path:");
    for hash in &c.inclusion_path {
        let _ = writeln!(proof, "  {hash}");
    }
    let _ = writeln!(proof, "checkpoint key: {}", c.checkpoint_key);
    let _ = writeln!(proof, "checkpoint:");
    proof.push_str(&c.checkpoint);
    Rendered {
        subject: lang.pick(
            "Certificate: your recording has been destroyed",
            "Bescheinigung: Ihre Aufnahme wurde vernichtet",
        ),
        lines: vec![
            Line::Text(match lang {
                Lang::English => format!(
                    "{} has destroyed a recording of one of your sessions. Its encryption key was destroyed first, so no copy of it, in any backup, can be read again; then its stored objects were deleted.",
                    c.organisation
                ),
                Lang::German => format!(
                    "{} hat eine Aufnahme einer Ihrer Sitzungen vernichtet. Zuerst wurde ihr Schlüssel vernichtet, sodass keine Kopie, auch in keiner Sicherung, je wieder gelesen werden kann; dann wurden die gespeicherten Objekte gelöscht.",
                    c.organisation
                ),
            }),
            Line::Block(facts),
            Line::Text(lang.pick(
                "Proof: the destruction is event number below of the organisation's tamper-evident log. The inclusion path and the signed checkpoint let anyone check, with the organisation's checkpoint key, that this event is in the log and cannot be removed or changed unnoticed.",
                "Nachweis: Die Vernichtung ist das unten genannte Ereignis im manipulationssicheren Protokoll der Organisation. Mit dem Einschlusspfad, dem signierten Prüfpunkt und dem Prüfpunktschlüssel der Organisation kann jede Person nachprüfen, dass dieses Ereignis im Protokoll steht und nicht unbemerkt entfernt oder verändert werden kann.",
            )),
            Line::Block(proof),
        ],
        language: lang.tag(),
    }
}

/// A notice to staff (always English): a subject and its sentences.
pub(crate) fn staff(subject: String, sentences: Vec<String>) -> Rendered {
    Rendered {
        subject,
        lines: sentences.into_iter().map(Line::Text).collect(),
        language: "en",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_the_text_escaped_in_the_forms_language() {
        let rendered = consent_request(
            Lang::of(Some("de-AT")),
            "Beratung <Nord> & Süd",
            "https://confide.example.org/c/abc?x=1&y=2",
        );
        assert_eq!(rendered.language, "de");
        assert!(rendered.subject.contains("Einwilligung"));
        let html = rendered.html();
        assert!(html.contains("<html lang=\"de\">"));
        assert!(html.contains("Beratung &lt;Nord&gt; &amp; Süd"));
        assert!(html.contains("href=\"https://confide.example.org/c/abc?x=1&amp;y=2\""));
        let text = rendered.text();
        assert!(text.contains("https://confide.example.org/c/abc?x=1&y=2"));
        assert_eq!(Lang::of(Some("fr")), Lang::English);
        assert_eq!(Lang::of(None), Lang::English);
    }
}
