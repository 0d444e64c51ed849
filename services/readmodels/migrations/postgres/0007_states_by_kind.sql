-- Every state of one kind in a tenant (all its consents, all its grants) in one read: what a
-- list deciding access for many recordings at once needs.
CREATE INDEX aggregate_states_by_kind ON aggregate_states (tenant_id, kind);
