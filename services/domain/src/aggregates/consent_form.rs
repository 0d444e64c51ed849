//! A consent form: versioned text that clients read before consenting, with the SHA-256 of
//! each version so the evidence of a consent can name the exact text that was shown.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregates::{Aggregate, not_found};
use crate::context::{Actor, Ctx};
use crate::error::DomainError;
use crate::events::domain_event;
use crate::ids::{ConsentFormId, TenantId};
use crate::vocabulary::{Language, Role, Sha256};

/// One published version of a form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormVersion {
    /// The title shown.
    pub title: String,
    /// The language of the text.
    pub language: Language,
    /// The SHA-256 of the exact UTF-8 text.
    pub text_sha256: Sha256,
}

/// A reference to one version of one form, as a consent holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FormRef {
    /// The form.
    pub consent_form_id: ConsentFormId,
    /// Its version.
    pub version: u32,
    /// The SHA-256 of that version's text.
    pub text_sha256: Sha256,
}

/// The consent form aggregate's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsentForm {
    id: Option<ConsentFormId>,
    tenant_id: Option<TenantId>,
    versions: BTreeMap<u32, FormVersion>,
    version: u64,
}

impl ConsentForm {
    /// The form's id, once published.
    pub fn id(&self) -> Option<ConsentFormId> {
        self.id
    }

    /// The tenant.
    pub fn tenant_id(&self) -> Option<&TenantId> {
        self.tenant_id.as_ref()
    }

    /// The latest version number (0 before the first).
    pub fn latest_version(&self) -> u32 {
        self.versions.keys().next_back().copied().unwrap_or(0)
    }

    /// One version.
    pub fn get(&self, version: u32) -> Option<&FormVersion> {
        self.versions.get(&version)
    }

    /// A reference to `version` of this form, if it exists in `tenant`.
    pub fn reference(&self, tenant: &TenantId, version: u32) -> Option<FormRef> {
        if self.tenant_id.as_ref() != Some(tenant) {
            return None;
        }
        let id = self.id?;
        self.versions.get(&version).map(|v| FormRef {
            consent_form_id: id,
            version,
            text_sha256: v.text_sha256,
        })
    }

    /// How many events have been applied.
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// What may be asked of a consent form.
#[derive(Clone, Debug, PartialEq)]
pub enum ConsentFormCommand {
    /// Publish the first version (takes new id 0) or the next version of an existing form.
    PublishConsentForm {
        /// The title.
        title: String,
        /// The language of the text.
        language: Language,
        /// The full text shown to clients.
        text: String,
    },
}

/// What a consent form records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ConsentFormEvent {
    /// A version of the form was published. The text itself is kept (it is not personal
    /// data) so a client or auditor can read exactly what was agreed to.
    ConsentFormPublished {
        /// The form.
        consent_form_id: ConsentFormId,
        /// The tenant.
        tenant_id: TenantId,
        /// 1, 2, 3, …
        version: u32,
        /// The title.
        title: String,
        /// The language.
        language: Language,
        /// The text.
        text: String,
        /// SHA-256 of the text's UTF-8 bytes.
        text_sha256: Sha256,
        /// Who acted.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

domain_event!(ConsentFormEvent {
    ConsentFormPublished => 1,
});

impl Aggregate for ConsentForm {
    type Command = ConsentFormCommand;
    type Event = ConsentFormEvent;

    fn decide(
        &self,
        command: ConsentFormCommand,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<ConsentFormEvent>, DomainError> {
        let ConsentFormCommand::PublishConsentForm {
            title,
            language,
            text,
        } = command;
        ctx.require_role(Role::OrgAdmin, "publish consent forms")?;
        let consent_form_id = match self.id {
            None => ConsentFormId::from_uuid(ctx.new_id(0)?)?,
            Some(id) if self.tenant_id.as_ref() == Some(ctx.tenant_id()) => id,
            Some(_) => return Err(not_found("consent form")),
        };
        crate::limits::text("title", &title, 200)?;
        crate::limits::text_block("text", &text, 100_000)?;
        let text_sha256 = Sha256::of(text.as_bytes());
        if let Some(latest) = self.versions.values().next_back()
            && latest.text_sha256 == text_sha256
            && latest.language == language
        {
            return Err(DomainError::conflict(
                "this text is already the latest version of the form",
            ));
        }
        Ok(vec![ConsentFormEvent::ConsentFormPublished {
            consent_form_id,
            tenant_id: ctx.tenant_id().clone(),
            version: self.latest_version() + 1,
            title,
            language,
            text,
            text_sha256,
            by: ctx.actor().clone(),
            at: ctx.now(),
        }])
    }

    fn apply(mut self, event: &ConsentFormEvent) -> Self {
        self.version += 1;
        let ConsentFormEvent::ConsentFormPublished {
            consent_form_id,
            tenant_id,
            version,
            title,
            language,
            text_sha256,
            ..
        } = event;
        self.id = Some(*consent_form_id);
        self.tenant_id = Some(tenant_id.clone());
        self.versions.insert(
            *version,
            FormVersion {
                title: title.clone(),
                language: language.clone(),
                text_sha256: *text_sha256,
            },
        );
        self
    }
}
