//! The value vocabulary of a consent: what the client agrees to for each purpose (the terms,
//! their audience, media and derivatives), which sessions it covers, what ends it by itself,
//! the evidence that it was given, and how much of it a withdrawal takes back.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregates::consent_form::FormRef;
use crate::ids::{CourseId, UserId};
use crate::vocabulary::{Derivative, Jurisdiction, Language, Medium, Purpose, Role, Sealed};

/// Which sessions a consent covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConsentScope {
    /// One session, named by its date.
    Session {
        /// The session's date.
        session_on: NaiveDate,
    },
    /// Every session of the engagement between this client and practitioner.
    Engagement,
}

impl ConsentScope {
    /// Whether the session on `session_on` is in scope.
    pub fn includes(self, session_on: NaiveDate) -> bool {
        match self {
            ConsentScope::Session { session_on: only } => only == session_on,
            ConsentScope::Engagement => true,
        }
    }
}

/// Who may hear a purpose's recordings: named people, or (in notified opt-out tenants only)
/// a named role. Never "my supervisor".
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Audience {
    /// Named people, by user id.
    pub users: BTreeSet<UserId>,
    /// Named roles; only a notice under `notified_opt_out` may name roles.
    pub roles: BTreeSet<Role>,
}

impl Audience {
    /// An audience of named people.
    pub fn users(users: impl IntoIterator<Item = UserId>) -> Self {
        Self {
            users: users.into_iter().collect(),
            roles: BTreeSet::new(),
        }
    }

    /// An audience of a named role.
    pub fn roles(roles: impl IntoIterator<Item = Role>) -> Self {
        Self {
            users: BTreeSet::new(),
            roles: roles.into_iter().collect(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.users.is_empty() && self.roles.is_empty()
    }
}

/// What the client agreed to for one purpose.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PurposeTerms {
    /// The purpose.
    pub purpose: Purpose,
    /// Who may hear it. Empty for `client_copy`, whose audience is the client.
    pub audience: Audience,
    /// Which media may be used for it.
    pub media: BTreeSet<Medium>,
    /// What may be derived for it.
    pub derivatives: BTreeSet<Derivative>,
}

/// A purpose's terms in force, with their partial withdrawals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurposeState {
    /// The terms as agreed, less any audience member withdrawn.
    pub terms: PurposeTerms,
    /// When the whole purpose was withdrawn, if it was.
    pub withdrawn_at: Option<DateTime<Utc>>,
}

/// What ends a consent by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expiry {
    /// A date and time.
    OnDate {
        /// The moment it ends.
        at: DateTime<Utc>,
    },
    /// An event elsewhere.
    OnEvent {
        /// Which event.
        trigger: ExpiryTrigger,
    },
}

/// An event that ends a consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExpiryTrigger {
    /// The course ends.
    CourseEnded {
        /// The course.
        course_id: CourseId,
    },
    /// The credentialing body decides on the submission.
    CredentialDecided,
}

/// Why a consent expired, as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExpiryCause {
    /// Its date passed.
    DateReached,
    /// Its triggering event happened.
    Triggered {
        /// The event.
        trigger: ExpiryTrigger,
    },
}

/// How consent was collected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectionMethod {
    /// The client signed through their client link.
    ClientLinkSignature,
    /// A paper form, signed and scanned by the practitioner.
    PaperFormScanned,
    /// Said aloud on a recording, confirmed by the practitioner.
    VerbalOnRecord,
}

/// The proof that consent was given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The form, version and SHA-256 of the exact text shown.
    pub form: FormRef,
    /// How it was collected.
    pub collected_by: CollectionMethod,
    /// The name the client typed (personal data, so sealed under the client's key).
    pub typed_name: Sealed,
    /// When the client signed.
    pub signed_at: DateTime<Utc>,
    /// The law the client consented under.
    pub jurisdiction: Jurisdiction,
    /// The language of the text shown.
    pub language: Language,
}

/// How much of a consent is withdrawn.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WithdrawalScope {
    /// All of it.
    Whole,
    /// One purpose; the others stay in force.
    Purpose {
        /// The purpose.
        purpose: Purpose,
    },
    /// One named person from one purpose's audience.
    AudienceMember {
        /// The purpose.
        purpose: Purpose,
        /// The person.
        user_id: UserId,
    },
}
