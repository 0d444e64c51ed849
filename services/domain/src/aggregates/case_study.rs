//! A case study: a practitioner's report about one or more clients, each of whom must have
//! given `case_study` consent. Before publishing, the text is checked for the clients' names;
//! published to a named funder it becomes a permanent record, kept after its sources are
//! destroyed.
//!
//! The text and the names are ciphertext in the log, so the application decrypts them and
//! passes the plaintext in; the domain checks that the plaintext is the text drafted (by its
//! SHA-256) and that no name occurs in it.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregates::consent::{Consent, Use};
use crate::aggregates::{Aggregate, not_found};
use crate::context::{Actor, Ctx};
use crate::error::DomainError;
use crate::events::domain_event;
use crate::ids::{CaseStudyId, ClientId, TenantId, UserId};
use crate::vocabulary::{Purpose, Role, Sealed, Sha256};

/// Where a case study is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStudyStatus {
    /// Being written.
    Draft,
    /// Published to a funder: permanent.
    Published,
    /// Thrown away before publishing.
    Discarded,
}

/// The case study aggregate's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseStudy {
    id: Option<CaseStudyId>,
    tenant_id: Option<TenantId>,
    author: Option<UserId>,
    clients: BTreeSet<ClientId>,
    body: Option<Sealed>,
    body_sha256: Option<Sha256>,
    status: Option<CaseStudyStatus>,
    funder: Option<UserId>,
    version: u64,
}

impl CaseStudy {
    /// The id.
    pub fn id(&self) -> Option<CaseStudyId> {
        self.id
    }

    /// The author.
    pub fn author(&self) -> Option<&UserId> {
        self.author.as_ref()
    }

    /// The clients it is about.
    pub fn clients(&self) -> &BTreeSet<ClientId> {
        &self.clients
    }

    /// The sealed text (under the clients' keys' vault encoding), as last revised.
    pub fn body(&self) -> Option<&Sealed> {
        self.body.as_ref()
    }

    /// SHA-256 of the text as last revised.
    pub fn body_sha256(&self) -> Option<Sha256> {
        self.body_sha256
    }

    /// Whether the acting user may read it: an `org_admin` of its tenant, its author, or the
    /// funder it was published to (a funder reads nothing else).
    pub fn readable_by(&self, ctx: &Ctx<'_>) -> bool {
        if self.tenant_id.as_ref() != Some(ctx.tenant_id()) {
            return false;
        }
        let user = ctx.user();
        let published = self.status == Some(CaseStudyStatus::Published);
        ctx.has_role(Role::OrgAdmin)
            || (user.is_some() && user == self.author.as_ref() && ctx.has_role(Role::Practitioner))
            || (published
                && user.is_some()
                && user == self.funder.as_ref()
                && ctx.has_role(Role::Funder))
    }

    /// The status.
    pub fn status(&self) -> Option<CaseStudyStatus> {
        self.status
    }

    /// The funder it was published to.
    pub fn funder(&self) -> Option<&UserId> {
        self.funder.as_ref()
    }

    /// How many events have been applied.
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// What may be asked of a case study.
#[derive(Clone, Debug, PartialEq)]
pub enum CaseStudyCommand {
    /// Start a case study (takes new id 0).
    DraftCaseStudy {
        /// The clients it is about.
        clients: BTreeSet<ClientId>,
        /// The sealed text.
        body: Sealed,
        /// SHA-256 of the plaintext, so publishing can prove which text it checked.
        body_sha256: Sha256,
        /// The clients' consents, as loaded.
        consents: Vec<Consent>,
    },
    /// Replace the text.
    ReviseCaseStudy {
        /// The sealed text.
        body: Sealed,
        /// SHA-256 of the plaintext.
        body_sha256: Sha256,
    },
    /// Publish to a funder, after checking the text for the clients' names.
    PublishCaseStudy {
        /// A member with the funder role.
        funder: UserId,
        /// The decrypted text.
        plaintext: String,
        /// The decrypted names of the clients (at least one per client).
        client_names: Vec<String>,
        /// The clients' consents, as loaded (they must still be in force).
        consents: Vec<Consent>,
    },
    /// Throw away a draft.
    DiscardCaseStudy,
}

/// What a case study records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum CaseStudyEvent {
    /// A case study was started.
    CaseStudyDrafted {
        /// The case study.
        case_study_id: CaseStudyId,
        /// The tenant.
        tenant_id: TenantId,
        /// The author.
        author: UserId,
        /// The clients.
        clients: BTreeSet<ClientId>,
        /// The sealed text.
        body: Sealed,
        /// SHA-256 of the plaintext.
        body_sha256: Sha256,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// The text was replaced.
    CaseStudyRevised {
        /// The sealed text.
        body: Sealed,
        /// SHA-256 of the plaintext.
        body_sha256: Sha256,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// It was published to a funder and is now permanent.
    CaseStudyPublished {
        /// The funder.
        funder: UserId,
        /// SHA-256 of the text checked and published.
        body_sha256: Sha256,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// A draft was thrown away.
    CaseStudyDiscarded {
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

domain_event!(CaseStudyEvent {
    CaseStudyDrafted => 1,
    CaseStudyRevised => 1,
    CaseStudyPublished => 1,
    CaseStudyDiscarded => 1,
});

/// Splits text into lowercase words (runs of letters and digits), the unit of the name check.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Which of `names` occur in `text`, by index. A name occurs if any of its words of two or
/// more characters appears as a whole word: a first name alone identifies a client to
/// someone who knows them, while matching single letters ("J.") would flag every text.
pub fn names_found(text: &str, names: &[String]) -> Vec<usize> {
    let text_words: HashSet<String> = words(text).collect();
    names
        .iter()
        .enumerate()
        .filter(|(_, name)| words(name).any(|w| w.chars().count() >= 2 && text_words.contains(&w)))
        .map(|(i, _)| i)
        .collect()
}

fn check_consents(
    clients: &BTreeSet<ClientId>,
    author: &UserId,
    consents: &[Consent],
    ctx: &Ctx<'_>,
) -> Result<(), DomainError> {
    let model = ctx.policy()?.policy.consent_model;
    for client in clients {
        let covered = consents.iter().any(|c| {
            c.coverage(&Use {
                tenant_id: ctx.tenant_id(),
                model,
                client_id: *client,
                practitioner: author,
                session_on: None,
                at: ctx.now(),
                purpose: Some(Purpose::CaseStudy),
                medium: None,
                derivative: None,
                listener: None,
            })
            .is_ok()
        });
        if !covered {
            return Err(DomainError::consent_required(format!(
                "client {client} has no case_study consent in force with {author}"
            )));
        }
    }
    Ok(())
}

impl Aggregate for CaseStudy {
    type Command = CaseStudyCommand;
    type Event = CaseStudyEvent;

    fn decide(
        &self,
        command: CaseStudyCommand,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<CaseStudyEvent>, DomainError> {
        let by = ctx.actor().clone();
        let at = ctx.now();
        if let CaseStudyCommand::DraftCaseStudy {
            clients,
            body,
            body_sha256,
            consents,
        } = command
        {
            if self.id.is_some() {
                return Err(DomainError::conflict("the case study already exists"));
            }
            let author = ctx
                .require_role(Role::Practitioner, "write case studies")?
                .clone();
            if clients.is_empty() {
                return Err(DomainError::invalid(
                    "clients",
                    "a case study is about at least one client",
                ));
            }
            check_consents(&clients, &author, &consents, ctx)?;
            let case_study_id = CaseStudyId::from_uuid(ctx.new_id(0)?)?;
            return Ok(vec![CaseStudyEvent::CaseStudyDrafted {
                case_study_id,
                tenant_id: ctx.tenant_id().clone(),
                author,
                clients,
                body,
                body_sha256,
                by,
                at,
            }]);
        }
        if self.tenant_id.as_ref() != Some(ctx.tenant_id()) {
            return Err(not_found("case study"));
        }
        let Some(author) = self.author.clone() else {
            return Err(not_found("case study"));
        };
        let is_author = ctx.user() == Some(&author) && ctx.has_role(Role::Practitioner);
        match self.status {
            Some(CaseStudyStatus::Published) => {
                return Err(DomainError::conflict(
                    "published to a funder, a case study is a permanent record",
                ));
            }
            Some(CaseStudyStatus::Discarded) => {
                return Err(DomainError::conflict("the case study was discarded"));
            }
            _ => {}
        }
        match command {
            CaseStudyCommand::DraftCaseStudy { .. } => {
                Err(DomainError::conflict("the case study already exists"))
            }
            CaseStudyCommand::ReviseCaseStudy { body, body_sha256 } => {
                if !is_author {
                    return Err(DomainError::forbidden(
                        "only the author revises a case study",
                    ));
                }
                Ok(vec![CaseStudyEvent::CaseStudyRevised {
                    body,
                    body_sha256,
                    by,
                    at,
                }])
            }
            CaseStudyCommand::PublishCaseStudy {
                funder,
                plaintext,
                client_names,
                consents,
            } => {
                if !(is_author || ctx.has_role(Role::OrgAdmin)) {
                    return Err(DomainError::forbidden(
                        "a case study is published by its author or an org_admin",
                    ));
                }
                let funder_ok = ctx
                    .tenant()
                    .and_then(|t| t.roles_of(&funder))
                    .is_some_and(|r| r.contains(&Role::Funder));
                if !funder_ok {
                    return Err(DomainError::invalid(
                        "funder",
                        format!("{funder} is not a member with the funder role"),
                    ));
                }
                let body_sha256 = Sha256::of(plaintext.as_bytes());
                if Some(body_sha256) != self.body_sha256 {
                    return Err(DomainError::invalid(
                        "plaintext",
                        "the text checked is not the text drafted (its SHA-256 differs)",
                    ));
                }
                if client_names.len() < self.clients.len()
                    || client_names.iter().any(|n| n.trim().is_empty())
                {
                    return Err(DomainError::invalid(
                        "client_names",
                        "the name check needs every client's name",
                    ));
                }
                let found = names_found(&plaintext, &client_names);
                if !found.is_empty() {
                    // The names themselves stay out of the message: errors get logged, and a
                    // client's name in a log defeats the encryption of the events.
                    return Err(DomainError::invalid(
                        "plaintext",
                        format!(
                            "the text contains client names (name numbers {} of those given); remove them before publishing",
                            found
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                check_consents(&self.clients, &author, &consents, ctx)?;
                Ok(vec![CaseStudyEvent::CaseStudyPublished {
                    funder,
                    body_sha256,
                    by,
                    at,
                }])
            }
            CaseStudyCommand::DiscardCaseStudy => {
                if !(is_author || ctx.has_role(Role::OrgAdmin)) {
                    return Err(DomainError::forbidden(
                        "a draft is discarded by its author or an org_admin",
                    ));
                }
                Ok(vec![CaseStudyEvent::CaseStudyDiscarded { by, at }])
            }
        }
    }

    fn apply(mut self, event: &CaseStudyEvent) -> Self {
        self.version += 1;
        match event {
            CaseStudyEvent::CaseStudyDrafted {
                case_study_id,
                tenant_id,
                author,
                clients,
                body,
                body_sha256,
                ..
            } => {
                self.id = Some(*case_study_id);
                self.body = Some(body.clone());
                self.tenant_id = Some(tenant_id.clone());
                self.author = Some(author.clone());
                self.clients = clients.clone();
                self.body_sha256 = Some(*body_sha256);
                self.status = Some(CaseStudyStatus::Draft);
            }
            CaseStudyEvent::CaseStudyRevised {
                body, body_sha256, ..
            } => {
                self.body = Some(body.clone());
                self.body_sha256 = Some(*body_sha256);
            }
            CaseStudyEvent::CaseStudyPublished { funder, .. } => {
                self.status = Some(CaseStudyStatus::Published);
                self.funder = Some(funder.clone());
            }
            CaseStudyEvent::CaseStudyDiscarded { .. } => {
                self.status = Some(CaseStudyStatus::Discarded);
            }
        }
        self
    }
}
