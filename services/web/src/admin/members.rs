//! `/admin`: the organisation's members and their roles; add a member, change their roles,
//! remove them.

use std::collections::BTreeSet;
use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use confide_domain::{DomainError, Role};
use serde::Deserialize;

use super::{Frame, administrator, back, user_id};
use crate::WebState;
use crate::client::Empty;
use crate::error::PageError;
use crate::security::{Checked, CsrfToken};
use crate::session::StaffCaller;

/// A role as the page offers it: its name in the log, and what it lets someone do.
pub(crate) struct RoleChoice {
    pub(crate) name: &'static str,
    pub(crate) says: &'static str,
}

/// Every role, with what it means.
pub(crate) fn role_choices() -> Vec<RoleChoice> {
    Role::ALL
        .iter()
        .map(|role| RoleChoice {
            name: role.as_str(),
            says: match role {
                Role::OrgAdmin => "runs the organisation: members, policy, forms and courses",
                Role::Practitioner => "registers clients, asks their consent and records sessions",
                Role::Tutor => "assesses the recordings of a course's students, as consent allows",
                Role::Reviewer => "reviews recordings for quality, as consent allows",
                Role::Assessor => "plays only what a grant names",
                Role::Auditor => "reads and exports the log; never plays a recording",
                Role::Funder => "reads the case studies published to them",
            },
        })
        .collect()
}

struct MemberRow {
    id: String,
    roles: Vec<&'static str>,
    added: String,
}

#[derive(Template)]
#[template(path = "admin_members.html")]
struct MembersPage {
    t: &'static crate::texts::Texts,
    csrf: String,
    frame: Frame,
    members: Vec<MemberRow>,
    roles: Vec<RoleChoice>,
}

/// `GET /admin`: the members and their roles.
pub(crate) async fn page(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Result<Response, PageError> {
    let caller = match administrator(&state, caller, "/admin").await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    let tenant = state.app.tenant(&caller).await?;
    let members = tenant
        .members()
        .iter()
        .map(|(id, membership)| MemberRow {
            id: id.to_string(),
            roles: membership.roles.iter().map(|r| r.as_str()).collect(),
            added: crate::words::moment(crate::words::Lang::En, membership.added_at),
        })
        .collect();
    let page = MembersPage {
        t: &crate::texts::EN,
        csrf,
        frame: Frame::of(&state, &caller, "/admin", "Members and roles").await?,
        members,
        roles: role_choices(),
    };
    Ok(Html(page.render()?).into_response())
}

#[derive(Deserialize)]
pub(crate) struct MemberForm {
    #[serde(default)]
    user: String,
    /// The roles ticked, as `role=a&role=b`.
    #[serde(default, rename = "role")]
    roles: Vec<String>,
}

fn roles(names: &[String]) -> Result<BTreeSet<Role>, DomainError> {
    let roles = names
        .iter()
        .map(|name| Role::parse(name))
        .collect::<Result<BTreeSet<_>, _>>()?;
    if roles.is_empty() {
        return Err(DomainError::invalid("role", "choose at least one role"));
    }
    Ok(roles)
}

/// The form's fields, repeated ones (the roles) kept.
fn member_form(body: &[(String, String)]) -> MemberForm {
    let mut form = MemberForm {
        user: String::new(),
        roles: Vec::new(),
    };
    for (name, value) in body {
        match name.as_str() {
            "user" => form.user = value.clone(),
            "role" => form.roles.push(value.clone()),
            _ => {}
        }
    }
    form
}

/// `POST /admin/members`: adds a member with the roles ticked.
pub(crate) async fn add(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Checked(body): Checked<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let caller = match administrator(&state, caller, "/admin").await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    let form = member_form(&body);
    state
        .app
        .add_member(&caller, user_id("user", &form.user)?, roles(&form.roles)?)
        .await?;
    Ok(back("/admin"))
}

/// `POST /admin/members/{user}/roles`: replaces a member's roles with those ticked.
pub(crate) async fn change(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Path(user): Path<String>,
    Checked(body): Checked<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let caller = match administrator(&state, caller, "/admin").await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    let form = member_form(&body);
    state
        .app
        .change_member_roles(&caller, user_id("user", &user)?, roles(&form.roles)?)
        .await?;
    Ok(back("/admin"))
}

/// `POST /admin/members/{user}/remove`.
pub(crate) async fn remove(
    State(state): State<Arc<WebState>>,
    StaffCaller(caller): StaffCaller,
    Path(user): Path<String>,
    Checked(_): Checked<Empty>,
) -> Result<Response, PageError> {
    let caller = match administrator(&state, caller, "/admin").await? {
        Ok(caller) => caller,
        Err(response) => return Ok(response),
    };
    state
        .app
        .remove_member(&caller, user_id("user", &user)?)
        .await?;
    Ok(back("/admin"))
}
