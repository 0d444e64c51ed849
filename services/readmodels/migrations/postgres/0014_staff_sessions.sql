-- Signed-in sessions of the organisation's people on the pages, kept on the server so that
-- several Confide nodes on one database share them and signing out ends them everywhere. The
-- browser's cookie holds the tenant and a random secret; only the secret's SHA-256 is kept
-- here. A session ends when it has been idle too long (`last_seen_at`), when it reaches its
-- absolute lifetime (`expires_at`), or when its row is deleted (signing out). Roles are not
-- kept: they are read from the tenant's membership events on every request.
CREATE TABLE staff_sessions (
    tenant_id    text        NOT NULL,
    secret_hash  bytea       NOT NULL,
    user_id      text        NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, secret_hash)
);

ALTER TABLE staff_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE staff_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON staff_sessions
    USING (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on')
    WITH CHECK (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on');
