-- Each stream's folded state (consents, grants, recordings' access state, courses, the
-- tenant's policy and memberships, ...), written by an inline projection in the append's own
-- transaction, so a decision reads one row instead of folding a stream and never sees a state
-- older than the log.
CREATE TABLE aggregate_states (
    tenant_id text   NOT NULL,
    stream_id text   NOT NULL,
    -- The aggregate: `tenant`, `consent`, `recording`, `grant`, ...
    kind      text   NOT NULL,
    -- How many events of the stream the state has folded: the stream's version.
    version   bigint NOT NULL,
    -- The aggregate's state as JSON.
    state     text   NOT NULL,
    PRIMARY KEY (tenant_id, stream_id)
);

-- When each recording must be destroyed: recomputed in the same transaction whenever its
-- recording, consent, course or the tenant's policy changes.
CREATE TABLE retention (
    tenant_id     text NOT NULL,
    recording_id  text NOT NULL,
    consent_id    text NOT NULL,
    course_id     text,
    -- Null once destroyed.
    destroy_after timestamptz,
    -- Why (a `DestructionReason` as JSON); null with `destroy_after`.
    reason        text,
    -- The destruction already scheduled on the recording, if any.
    scheduled_for timestamptz,
    PRIMARY KEY (tenant_id, recording_id)
);
CREATE INDEX retention_by_consent ON retention (tenant_id, consent_id);
CREATE INDEX retention_by_course ON retention (tenant_id, course_id);
CREATE INDEX retention_by_due ON retention (tenant_id, destroy_after);

ALTER TABLE aggregate_states ENABLE ROW LEVEL SECURITY;
ALTER TABLE aggregate_states FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON aggregate_states
    USING (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on')
    WITH CHECK (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on');

ALTER TABLE retention ENABLE ROW LEVEL SECURITY;
ALTER TABLE retention FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON retention
    USING (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on')
    WITH CHECK (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on');
