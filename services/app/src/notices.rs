//! Notified opt-out (`docs/design.md` section 2, the coaching company's practice): in a tenant
//! whose consent model is `notified_opt_out`, sessions are recorded after a notice rather than a
//! signature. The first session's notice creates the record, each later session's notice is
//! recorded on it, and the client may opt out of one session or for good, through their link
//! or through the practitioner or an org_admin.

use chrono::NaiveDate;
use confide_domain::aggregates::client::Client;
use confide_domain::aggregates::consent::{Consent, ConsentCommand, NoticeTerms, PurposeTerms};
use confide_domain::aggregates::consent_form::ConsentForm;
use confide_domain::{Actor, ClientId, ConsentFormId, ConsentId, DomainError};
use uuid::Uuid;

use crate::{App, AppError, Caller, stream};

/// What a practitioner announces at a client's first recorded session.
#[derive(Clone, Debug)]
pub struct NoticeGiven {
    pub client_id: ClientId,
    /// The notice's text, published as a consent form.
    pub consent_form_id: ConsentFormId,
    /// The version played; the latest when absent.
    pub form_version: Option<u32>,
    /// The purposes announced, with the roles or people who may hear them.
    pub terms: Vec<PurposeTerms>,
    /// The session it was played at.
    pub session_on: NaiveDate,
}

impl App {
    /// Records the notice played at a client's first session, which creates the record the
    /// engagement's recordings rest on (the practitioner, or an org_admin naming them).
    pub async fn give_notice(
        &self,
        caller: &Caller,
        notice: NoticeGiven,
    ) -> Result<Consent, AppError> {
        let Actor::User { user_id } = &caller.actor else {
            return Err(DomainError::forbidden("a client link cannot give a notice").into());
        };
        let practitioner = user_id.clone();
        let consent_id = ConsentId::from_uuid(Uuid::now_v7())?;
        self.transact(&caller.tenant, &caller.actor, move |work| {
            let (notice, practitioner) = (notice.clone(), practitioner.clone());
            Box::pin(async move {
                let client: Client = work.load(&stream(notice.client_id)).await?;
                let form: ConsentForm = work.load(&stream(notice.consent_form_id)).await?;
                let form_version = notice.form_version.unwrap_or_else(|| form.latest_version());
                let target = stream(consent_id);
                let consent: Consent = work.load(&target).await?;
                let command = ConsentCommand::GiveNotice {
                    notice: Box::new(NoticeTerms {
                        client,
                        practitioner,
                        terms: notice.terms,
                        form,
                        form_version,
                    }),
                    session_on: notice.session_on,
                };
                work.decide(&target, &consent, command, &[consent_id.as_uuid()])
            })
        })
        .await?;
        self.consent(caller, consent_id).await
    }

    /// Records that the notice was played again at a later session.
    pub async fn give_session_notice(
        &self,
        caller: &Caller,
        consent_id: ConsentId,
        session_on: NaiveDate,
    ) -> Result<Consent, AppError> {
        let command = ConsentCommand::GiveSessionNotice { session_on };
        self.execute::<Consent>(
            &caller.tenant,
            &caller.actor,
            &stream(consent_id),
            command,
            &[],
        )
        .await?;
        self.consent(caller, consent_id).await
    }

    /// The client opts out of one session: it is not recorded (a recording of it is refused).
    pub async fn opt_out_of_session(
        &self,
        caller: &Caller,
        consent_id: ConsentId,
        session_on: NaiveDate,
    ) -> Result<Consent, AppError> {
        self.consent_of_caller(caller, consent_id).await?;
        let command = ConsentCommand::OptOutOfSession { session_on };
        self.change_consent(caller, consent_id, command).await?;
        self.consent(caller, consent_id).await
    }

    /// The client opts out for good: nothing more is recorded, the grants under the notice
    /// are revoked, and with a deletion request its recordings are scheduled for destruction
    /// and everyone who had access is told, in the same append.
    pub async fn opt_out(
        &self,
        caller: &Caller,
        consent_id: ConsentId,
        deletion_requested: bool,
    ) -> Result<Consent, AppError> {
        self.consent_of_caller(caller, consent_id).await?;
        let command = ConsentCommand::OptOutForGood { deletion_requested };
        self.change_consent(caller, consent_id, command).await?;
        self.consent(caller, consent_id).await
    }
}
