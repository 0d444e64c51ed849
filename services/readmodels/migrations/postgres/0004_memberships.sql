-- Who belongs to the tenant, with which roles: an inline projection of the tenant stream.
CREATE TABLE memberships (
    tenant_id text NOT NULL,
    user_id   text NOT NULL,
    -- Role names, sorted, comma-separated.
    roles     text NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memberships
    USING (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on')
    WITH CHECK (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on');
