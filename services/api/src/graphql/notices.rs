//! Notified opt-out (the coaching company's practice): the notice given at a client's first
//! session and at each later one, and the client's opt-outs, of one session or for good,
//! through their link or through staff.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::NaiveDate;
use confide_app::NoticeGiven;
use confide_domain::{ClientId, ConsentFormId, ConsentId};
use uuid::Uuid;

use super::mutation::{purpose_terms, view};
use super::types::{ConsentView, PurposeTermsInput};
use super::{ClientLink, client_link, id};
use crate::caller::{app, caller};
use crate::error::Result;

#[derive(Default)]
pub(super) struct NoticeMutation;

#[derive(InputObject)]
struct GiveNoticeInput {
    client_id: Uuid,
    /// The notice's text, published as a consent form.
    consent_form_id: Uuid,
    /// The version played; the latest when absent.
    form_version: Option<u32>,
    /// What is announced, purpose by purpose; a notice may name roles.
    purposes: Vec<PurposeTermsInput>,
    /// The session the notice was played at.
    session_on: NaiveDate,
}

#[derive(SimpleObject)]
struct GivenNotice {
    consent: ConsentView,
    /// The client's link, sent with the notice: with it they read the notice and opt out of
    /// a session or for good.
    client_link: ClientLink,
}

#[Object]
impl NoticeMutation {
    /// Under `notified_opt_out`: records the notice played at a client's first session (the
    /// practitioner), which the engagement's recordings then rest on unless the client opts out.
    async fn give_notice(&self, ctx: &Context<'_>, input: GiveNoticeInput) -> Result<GivenNotice> {
        let client_id = id(input.client_id, ClientId::from_uuid)?;
        let caller = caller(ctx)?;
        let notice = NoticeGiven {
            client_id,
            consent_form_id: id(input.consent_form_id, ConsentFormId::from_uuid)?,
            form_version: input.form_version,
            terms: purpose_terms(input.purposes)?,
            session_on: input.session_on,
        };
        let consent = app(ctx).give_notice(caller, notice).await?;
        Ok(GivenNotice {
            consent: view(&consent)?,
            client_link: client_link(ctx, &caller.tenant, client_id)?,
        })
    }

    /// Under `notified_opt_out`: records that the notice was played again at a later session.
    async fn give_session_notice(
        &self,
        ctx: &Context<'_>,
        consent_id: Uuid,
        session_on: NaiveDate,
    ) -> Result<ConsentView> {
        let consent_id = id(consent_id, ConsentId::from_uuid)?;
        view(
            &app(ctx)
                .give_session_notice(caller(ctx)?, consent_id, session_on)
                .await?,
        )
    }

    /// The client (through their link, or staff on their word) opts out of recording one
    /// session: a recording of it is refused.
    async fn opt_out_of_session(
        &self,
        ctx: &Context<'_>,
        consent_id: Uuid,
        session_on: NaiveDate,
    ) -> Result<ConsentView> {
        let consent_id = id(consent_id, ConsentId::from_uuid)?;
        view(
            &app(ctx)
                .opt_out_of_session(caller(ctx)?, consent_id, session_on)
                .await?,
        )
    }

    /// The client opts out for good: nothing more is recorded and the grants under the notice
    /// are revoked; with `deletionRequested` its recordings are destroyed and everyone who had
    /// access is told.
    async fn opt_out(
        &self,
        ctx: &Context<'_>,
        consent_id: Uuid,
        #[graphql(default)] deletion_requested: bool,
    ) -> Result<ConsentView> {
        let consent_id = id(consent_id, ConsentId::from_uuid)?;
        view(
            &app(ctx)
                .opt_out(caller(ctx)?, consent_id, deletion_requested)
                .await?,
        )
    }
}
