-- The recording list: one row per recording, kept by an asynchronous projection (its
-- position is in consumer_positions, written in the same transaction as these rows).
CREATE TABLE recording_list (
    tenant_id        text        NOT NULL,
    recording_id     uuid        NOT NULL,
    client_id        uuid        NOT NULL,
    practitioner     text        NOT NULL,
    session_on       date        NOT NULL,
    medium           text        NOT NULL,
    status           text        NOT NULL,
    destruction_due  timestamptz,
    plays            bigint      NOT NULL DEFAULT 0,
    refusals         bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, recording_id)
);

ALTER TABLE recording_list ENABLE ROW LEVEL SECURITY;
ALTER TABLE recording_list FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON recording_list
    USING (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on')
    WITH CHECK (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on');
