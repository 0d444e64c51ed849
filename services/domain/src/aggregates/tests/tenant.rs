use crate::aggregates::Aggregate;
use std::collections::BTreeSet;

use crate::aggregates::tenant::{Tenant, TenantCommand, TenantEvent};
use crate::context::{Actor, Ctx, SystemJob};
use crate::testing::*;
use crate::vocabulary::Role;

#[test]
fn create_tenant_sets_the_first_policy_and_administrator() {
    let empty = Tenant::default();
    let ctx = Ctx::new(
        tenant_id(),
        &empty,
        Actor::system(SystemJob::Provisioning),
        t(0, 9),
    );
    let state = given::<TenantEvent>([])
        .when(
            TenantCommand::CreateTenant {
                name: "Community Counselling".into(),
                policy: written_policy(),
                first_admin: user("admin"),
            },
            &ctx,
        )
        .then(vec![
            TenantEvent::TenantCreated {
                tenant_id: tenant_id(),
                name: "Community Counselling".into(),
                by: Actor::system(SystemJob::Provisioning),
                at: t(0, 9),
            },
            TenantEvent::TenantPolicySet {
                version: 1,
                policy: written_policy(),
                by: Actor::system(SystemJob::Provisioning),
                at: t(0, 9),
            },
            TenantEvent::MemberAdded {
                user_id: user("admin"),
                roles: BTreeSet::from([Role::OrgAdmin]),
                by: Actor::system(SystemJob::Provisioning),
                at: t(0, 9),
            },
        ]);
    assert_eq!(state.policy().map(|p| p.version), Some(1));
    assert!(
        state
            .roles_of(&user("admin"))
            .unwrap()
            .contains(&Role::OrgAdmin)
    );
}

#[test]
fn create_tenant_refuses_someone_making_another_person_admin() {
    let empty = Tenant::default();
    let ctx = Ctx::new(tenant_id(), &empty, by("mallory"), t(0, 9));
    given::<TenantEvent>([])
        .when(
            TenantCommand::CreateTenant {
                name: "Org".into(),
                policy: written_policy(),
                first_admin: user("admin"),
            },
            &ctx,
        )
        .then_error("forbidden", "first administrator");
}

#[test]
fn create_tenant_refuses_an_existing_tenant_and_a_bad_policy() {
    let tenant = tenant(written_policy());
    let ctx = as_user(&tenant, "admin", t(0, 9));
    given(tenant_events(written_policy()))
        .when(
            TenantCommand::CreateTenant {
                name: "Again".into(),
                policy: written_policy(),
                first_admin: user("admin"),
            },
            &ctx,
        )
        .then_error("conflict", "already exists");
    let empty = Tenant::default();
    let ctx = Ctx::new(tenant_id(), &empty, by("admin"), t(0, 9));
    let mut bad = written_policy();
    bad.retention_days = 0;
    given::<TenantEvent>([])
        .when(
            TenantCommand::CreateTenant {
                name: "Org".into(),
                policy: bad,
                first_admin: user("admin"),
            },
            &ctx,
        )
        .then_error("invalid", "retention");
}

#[test]
fn set_tenant_policy_mints_the_next_version() {
    let tenant = tenant(written_policy());
    let ctx = as_user(&tenant, "admin", t(1, 9));
    let mut policy = written_policy();
    policy.practitioner_self_access = false;
    let state = given(tenant_events(written_policy()))
        .when(
            TenantCommand::SetTenantPolicy {
                policy: policy.clone(),
            },
            &ctx,
        )
        .then(vec![TenantEvent::TenantPolicySet {
            version: 2,
            policy: policy.clone(),
            by: by("admin"),
            at: t(1, 9),
        }]);
    assert_eq!(state.policy().unwrap().version, 2);
    assert_eq!(state.policy().unwrap().policy, policy);
}

#[test]
fn set_tenant_policy_is_for_admins_and_refuses_no_change() {
    let tenant = tenant(written_policy());
    given(tenant_events(written_policy()))
        .when(
            TenantCommand::SetTenantPolicy {
                policy: notice_policy(),
            },
            &as_user(&tenant, "sam", t(1, 9)),
        )
        .then_error("forbidden", "org_admin");
    given(tenant_events(written_policy()))
        .when(
            TenantCommand::SetTenantPolicy {
                policy: written_policy(),
            },
            &as_user(&tenant, "admin", t(1, 9)),
        )
        .then_error("conflict", "already in force");
}

#[test]
fn another_tenants_context_finds_nothing() {
    let tenant = tenant(written_policy());
    let ctx = Ctx::new(other_tenant_id(), &tenant, by("admin"), t(1, 9));
    given(tenant_events(written_policy()))
        .when(
            TenantCommand::SetTenantPolicy {
                policy: notice_policy(),
            },
            &ctx,
        )
        .then_error("not_found", "tenant");
}

#[test]
fn add_member_records_who_made_whom_what() {
    let tenant = tenant(written_policy());
    let ctx = as_user(&tenant, "admin", t(1, 9));
    let state = given(tenant_events(written_policy()))
        .when(
            TenantCommand::AddMember {
                user_id: user("newtutor"),
                roles: BTreeSet::from([Role::Tutor]),
            },
            &ctx,
        )
        .then(vec![TenantEvent::MemberAdded {
            user_id: user("newtutor"),
            roles: BTreeSet::from([Role::Tutor]),
            by: by("admin"),
            at: t(1, 9),
        }]);
    let member = &state.members()[&user("newtutor")];
    assert_eq!(member.added_by, by("admin"));
    assert_eq!(member.added_at, t(1, 9));
}

#[test]
fn add_member_refuses_existing_members_no_roles_and_non_admins() {
    let tenant = tenant(written_policy());
    let admin = as_user(&tenant, "admin", t(1, 9));
    let h = given::<TenantEvent>(tenant_events(written_policy()));
    h.when(
        TenantCommand::AddMember {
            user_id: user("sam"),
            roles: BTreeSet::from([Role::Tutor]),
        },
        &admin,
    )
    .then_error("conflict", "already a member");
    h.when(
        TenantCommand::AddMember {
            user_id: user("x"),
            roles: BTreeSet::new(),
        },
        &admin,
    )
    .then_error("invalid", "at least one role");
    h.when(
        TenantCommand::AddMember {
            user_id: user("x"),
            roles: BTreeSet::from([Role::OrgAdmin]),
        },
        &as_user(&tenant, "ada", t(1, 9)),
    )
    .then_error("forbidden", "org_admin");
}

#[test]
fn change_member_roles_keeps_the_previous_roles_on_record() {
    let tenant = tenant(written_policy());
    let ctx = as_user(&tenant, "admin", t(1, 9));
    let roles = BTreeSet::from([Role::Practitioner, Role::Tutor]);
    given(tenant_events(written_policy()))
        .when(
            TenantCommand::ChangeMemberRoles {
                user_id: user("sam"),
                roles: roles.clone(),
            },
            &ctx,
        )
        .then(vec![TenantEvent::MemberRolesChanged {
            user_id: user("sam"),
            previous_roles: BTreeSet::from([Role::Practitioner]),
            roles,
            by: by("admin"),
            at: t(1, 9),
        }]);
}

#[test]
fn the_last_admin_cannot_give_up_the_role() {
    let tenant = tenant(written_policy());
    let ctx = as_user(&tenant, "admin", t(1, 9));
    given(tenant_events(written_policy()))
        .when(
            TenantCommand::ChangeMemberRoles {
                user_id: user("admin"),
                roles: BTreeSet::from([Role::Tutor]),
            },
            &ctx,
        )
        .then_error("conflict", "last org_admin");
}

#[test]
fn remove_member_lets_members_leave_but_keeps_an_admin() {
    let tenant = tenant(written_policy());
    given(tenant_events(written_policy()))
        .when(
            TenantCommand::RemoveMember {
                user_id: user("bob"),
            },
            &as_user(&tenant, "bob", t(1, 9)),
        )
        .then(vec![TenantEvent::MemberRemoved {
            user_id: user("bob"),
            by: by("bob"),
            at: t(1, 9),
        }]);
    given(tenant_events(written_policy()))
        .when(
            TenantCommand::RemoveMember {
                user_id: user("bob"),
            },
            &as_user(&tenant, "ada", t(1, 9)),
        )
        .then_error("forbidden", "org_admin");
    given(tenant_events(written_policy()))
        .when(
            TenantCommand::RemoveMember {
                user_id: user("admin"),
            },
            &as_user(&tenant, "admin", t(1, 9)),
        )
        .then_error("conflict", "last org_admin");
    given(tenant_events(written_policy()))
        .when(
            TenantCommand::RemoveMember {
                user_id: user("nobody"),
            },
            &as_user(&tenant, "admin", t(1, 9)),
        )
        .then_error("not_found", "member");
}

#[test]
fn roles_come_from_the_log_not_the_token() {
    // A context whose tenant aggregate is another tenant's grants no roles at all.
    let other = Tenant::from_events(&tenant_events_for(other_tenant_id(), written_policy()));
    let ctx = Ctx::new(tenant_id(), &other, by("admin"), t(1, 9));
    assert!(ctx.roles().is_empty());
    assert!(ctx.policy().is_err());
}
