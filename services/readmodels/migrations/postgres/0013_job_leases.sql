-- Leases on background work, so that with several Confide nodes on one database each job runs
-- on one node at a time, per tenant: the node that holds a (tenant, job) lease until
-- `expires_at` does the work; any other node skips that tenant. A node that dies stops
-- renewing, and once its lease expires the next node to ask takes it over. Expiry is judged
-- by the database's clock, the one clock every node shares. `fence` grows by one each time
-- the lease changes hands.
CREATE TABLE job_leases (
    tenant_id  text        NOT NULL,
    job        text        NOT NULL,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL,
    fence      bigint      NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, job)
);

ALTER TABLE job_leases ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_leases FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON job_leases
    USING (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on')
    WITH CHECK (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on');
