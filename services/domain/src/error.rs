//! The one error type of the domain.
//!
//! Each variant is something a caller can act on; an edge maps them to its own vocabulary
//! (the API's wire codes are the API's). The domain does no I/O, so there is no
//! "unexpected" variant: every error here is a rule that refused.

use thiserror::Error;

/// Why a command was refused or a value did not parse.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DomainError {
    /// The entity does not exist in this tenant (or belongs to another tenant, which callers
    /// must not be able to tell apart from absence).
    #[error("{entity} not found")]
    NotFound {
        /// What was looked for, e.g. "recording".
        entity: &'static str,
    },

    /// The command does not fit the entity's current state (already exists, already
    /// destroyed, not yet stored, …).
    #[error("conflict: {rule}")]
    Conflict {
        /// The rule that refused, as a sentence.
        rule: String,
    },

    /// The actor may not do this: a missing role, or not the person the rule names.
    #[error("forbidden: {rule}")]
    Forbidden {
        /// The rule that refused, as a sentence.
        rule: String,
        /// The stable names of the reasons behind it, when there are several (an access
        /// decision's refusal reasons, say); empty when the rule says it all.
        reasons: Vec<&'static str>,
    },

    /// No consent in force covers what was asked; the client must consent first.
    #[error("consent required: {rule}")]
    ConsentRequired {
        /// The rule that refused, as a sentence.
        rule: String,
        /// The stable names of the consent's gaps (`ConsentGap::code`).
        reasons: Vec<&'static str>,
    },

    /// An input is malformed or out of range.
    #[error("invalid {field}: {rule}")]
    Invalid {
        /// The field or value at fault.
        field: &'static str,
        /// The rule it breaks, as a sentence.
        rule: String,
    },
}

impl DomainError {
    /// An `Invalid` error for `field`.
    pub fn invalid(field: &'static str, rule: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            rule: rule.into(),
        }
    }

    /// A `Conflict` error.
    pub fn conflict(rule: impl Into<String>) -> Self {
        Self::Conflict { rule: rule.into() }
    }

    /// A `Forbidden` error.
    pub fn forbidden(rule: impl Into<String>) -> Self {
        Self::Forbidden {
            rule: rule.into(),
            reasons: Vec::new(),
        }
    }

    /// A `ConsentRequired` error.
    pub fn consent_required(rule: impl Into<String>) -> Self {
        Self::ConsentRequired {
            rule: rule.into(),
            reasons: Vec::new(),
        }
    }

    /// The same refusal, naming the stable reasons behind it (kept on `Forbidden` and
    /// `ConsentRequired`; the other kinds have one reason, their rule).
    #[must_use]
    pub fn with_reasons(mut self, codes: impl IntoIterator<Item = &'static str>) -> Self {
        if let Self::Forbidden { reasons, .. } | Self::ConsentRequired { reasons, .. } = &mut self {
            reasons.extend(codes);
        }
        self
    }

    /// The stable reasons behind the refusal, if it names any.
    pub fn reasons(&self) -> &[&'static str] {
        match self {
            Self::Forbidden { reasons, .. } | Self::ConsentRequired { reasons, .. } => reasons,
            _ => &[],
        }
    }

    /// A `NotFound` error.
    pub fn not_found(entity: &'static str) -> Self {
        Self::NotFound { entity }
    }

    /// A stable machine-readable name of the kind of refusal, in the domain's own words.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::Forbidden { .. } => "forbidden",
            Self::ConsentRequired { .. } => "consent_required",
            Self::Invalid { .. } => "invalid",
        }
    }
}
