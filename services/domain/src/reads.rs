//! Who may read what: the read side's permissions, beside the access decision (which is
//! about playing media). Each function takes the organisation as it now stands and the
//! actor, and refuses with the sentence the caller is shown.

use std::collections::BTreeSet;

use crate::aggregates::consent::ConsentCore;
use crate::aggregates::recording::Recording;
use crate::aggregates::tenant::Tenant;
use crate::{AccessDecision, Actor, ClientId, DomainError, Role, UserId};

/// The roles `actor` holds in `organisation` (from membership events, never a token); none
/// for a client link or a system job.
pub fn roles_of(organisation: &Tenant, actor: &Actor) -> BTreeSet<Role> {
    match actor {
        Actor::User { user_id } => organisation.roles_of(user_id).cloned().unwrap_or_default(),
        _ => BTreeSet::new(),
    }
}

/// A member of the organisation: a user, not a client link.
pub fn member(actor: &Actor) -> Result<(), DomainError> {
    match actor {
        Actor::User { .. } => Ok(()),
        _ => Err(DomainError::forbidden("a client link cannot do this")),
    }
}

/// A member holding at least one role: who the organisation's own records (its members,
/// consents, courses) are shown to. A valid token of the tenant is not enough; an external
/// assessor, for one, reaches only what a grant gives them.
pub fn organisation_member(organisation: &Tenant, actor: &Actor) -> Result<(), DomainError> {
    member(actor)?;
    if roles_of(organisation, actor).is_empty() {
        return Err(DomainError::forbidden(
            "only the organisation's members see this",
        ));
    }
    Ok(())
}

/// A user of the tenant with no role in it (an external assessor): sees only the recordings
/// they may play.
pub fn outsider(organisation: &Tenant, actor: &Actor) -> bool {
    roles_of(organisation, actor).is_empty()
}

/// A client link reaches only its own client.
pub fn own_client(actor: &Actor, client: ClientId) -> Result<(), DomainError> {
    match actor {
        Actor::ClientLink { client_id } if *client_id != client => Err(DomainError::forbidden(
            "a client link reaches only its own client",
        )),
        _ => Ok(()),
    }
}

/// A client's records (their consents): their own client link, or a member of the
/// organisation.
pub fn client_records(
    organisation: &Tenant,
    actor: &Actor,
    client: ClientId,
) -> Result<(), DomainError> {
    match actor {
        Actor::ClientLink { .. } => own_client(actor, client),
        _ => organisation_member(organisation, actor),
    }
}

/// The log itself and its checkpoints: an auditor or an org_admin.
pub fn log(organisation: &Tenant, actor: &Actor) -> Result<(), DomainError> {
    let held = roles_of(organisation, actor);
    if held.contains(&Role::Auditor) || held.contains(&Role::OrgAdmin) {
        Ok(())
    } else {
        Err(DomainError::forbidden(
            "the log is read by an auditor or an org_admin",
        ))
    }
}

/// Subject requests: a client link its own client's; an org_admin or practitioner the
/// organisation's, or one client's. Returns whose requests the actor sees (`None`: all).
pub fn subject_requests(
    organisation: &Tenant,
    actor: &Actor,
    asked: Option<ClientId>,
) -> Result<Option<ClientId>, DomainError> {
    if let Actor::ClientLink { client_id } = actor {
        if let Some(asked) = asked {
            own_client(actor, asked)?;
        }
        return Ok(Some(*client_id));
    }
    let held = roles_of(organisation, actor);
    if !held.contains(&Role::OrgAdmin) && !held.contains(&Role::Practitioner) {
        return Err(DomainError::forbidden(
            "subject requests are read by an org_admin or a practitioner",
        ));
    }
    Ok(asked)
}

/// A consent's receipt: its client, its practitioner, an auditor or an org_admin.
pub fn consent_receipt(
    organisation: &Tenant,
    actor: &Actor,
    consent: &ConsentCore,
) -> Result<(), DomainError> {
    if let Actor::ClientLink { .. } = actor {
        return own_client(actor, consent.client_id);
    }
    organisation_member(organisation, actor)?;
    let Actor::User { user_id } = actor else {
        return Err(DomainError::forbidden("only a member may ask"));
    };
    let held = roles_of(organisation, actor);
    if held.contains(&Role::OrgAdmin)
        || held.contains(&Role::Auditor)
        || *user_id == consent.practitioner
    {
        Ok(())
    } else {
        Err(DomainError::forbidden(
            "a consent's receipt is read by its client, its practitioner, an auditor or an \
             org_admin",
        ))
    }
}

/// A recording's bookmarks and comments: its practitioner, or whoever may play it now
/// (`access`, decided as a playback would be). Notes about a session are about the client, so
/// nobody else reads them, an org_admin included.
pub fn recording_notes(
    recording: &Recording,
    actor: &Actor,
    access: &AccessDecision,
) -> Result<(), DomainError> {
    let practitioner = recording.core().map(|c| &c.practitioner);
    let is_practitioner = matches!(actor, Actor::User { user_id } if Some(user_id) == practitioner);
    if is_practitioner || access.is_allowed() {
        Ok(())
    } else {
        Err(DomainError::forbidden(
            "a recording's notes are read by its practitioner and by those who may play it",
        ))
    }
}

/// A recording's access history (who played it, who was refused, grants, destruction): its
/// client through their link, or a member who may read the client's records. To a client
/// link, another client's recording does not exist.
pub fn access_history(
    organisation: &Tenant,
    actor: &Actor,
    client: ClientId,
) -> Result<(), DomainError> {
    match actor {
        Actor::ClientLink { client_id } if *client_id != client => {
            Err(DomainError::not_found("recording"))
        }
        _ => client_records(organisation, actor, client),
    }
}

/// The list of clients, with their names: an org_admin sees every client, a practitioner
/// their own (those they registered or asked for consent). Returns whose clients the actor
/// sees (`None`: all).
pub fn client_list(organisation: &Tenant, actor: &Actor) -> Result<Option<UserId>, DomainError> {
    let held = roles_of(organisation, actor);
    match actor {
        Actor::User { .. } if held.contains(&Role::OrgAdmin) => Ok(None),
        Actor::User { user_id } if held.contains(&Role::Practitioner) => Ok(Some(user_id.clone())),
        _ => Err(DomainError::forbidden(
            "clients are listed for an org_admin or a practitioner",
        )),
    }
}

/// The organisation's consent forms and their versions: an org_admin or a practitioner.
pub fn consent_forms(organisation: &Tenant, actor: &Actor) -> Result<(), DomainError> {
    let held = roles_of(organisation, actor);
    if held.contains(&Role::OrgAdmin) || held.contains(&Role::Practitioner) {
        Ok(())
    } else {
        Err(DomainError::forbidden(
            "consent forms are listed for an org_admin or a practitioner",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    use crate::testing::{by, client_id, tenant, user, written_policy};

    fn other_client() -> ClientId {
        ClientId::from_uuid(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0999))
            .expect("a v7 UUID")
    }

    #[test]
    fn a_client_link_reads_its_own_recordings_history_and_finds_no_other() {
        let organisation = tenant(written_policy());
        let own = Actor::client(client_id());
        assert!(access_history(&organisation, &own, client_id()).is_ok());
        let err = access_history(&organisation, &Actor::client(other_client()), client_id());
        assert_eq!(err.map_err(|e| e.code()), Err("not_found"));
        assert!(access_history(&organisation, &by("ada"), client_id()).is_ok());
        let stranger = access_history(&organisation, &by("stranger"), client_id());
        assert_eq!(stranger.map_err(|e| e.code()), Err("forbidden"));
    }

    #[test]
    fn clients_are_listed_for_an_org_admin_in_full_and_a_practitioner_in_part() {
        let organisation = tenant(written_policy());
        assert_eq!(client_list(&organisation, &by("admin")).ok(), Some(None));
        assert_eq!(
            client_list(&organisation, &by("sam")).ok(),
            Some(Some(user("sam")))
        );
        for actor in [by("ada"), by("aude"), Actor::client(client_id())] {
            assert!(client_list(&organisation, &actor).is_err(), "{actor:?}");
            let forms = consent_forms(&organisation, &actor);
            assert!(forms.is_err(), "{actor:?}");
        }
        assert!(consent_forms(&organisation, &by("pat")).is_ok());
    }
}
