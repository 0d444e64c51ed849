-- Which streams concern what: the consents and recordings about a client, the grants on a
-- recording or under a consent. Written by an inline projection in the append's own
-- transaction, so an access decision or a withdrawal's cascade never misses a stream.
CREATE TABLE stream_links (
    tenant_id text NOT NULL,
    -- `client:<id>`, `recording:<id>` or `consent:<id>`.
    subject   text NOT NULL,
    stream_id text NOT NULL,
    PRIMARY KEY (tenant_id, subject, stream_id)
);

ALTER TABLE stream_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE stream_links FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON stream_links
    USING (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on')
    WITH CHECK (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on');
