-- Each stream's folded state, and each recording's retention (see the PostgreSQL migration of
-- the same name).
CREATE TABLE aggregate_states (
    tenant_id TEXT    NOT NULL,
    stream_id TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    version   INTEGER NOT NULL,
    state     TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, stream_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE retention (
    tenant_id     TEXT NOT NULL,
    recording_id  TEXT NOT NULL,
    consent_id    TEXT NOT NULL,
    course_id     TEXT,
    destroy_after TEXT,
    reason        TEXT,
    scheduled_for TEXT,
    PRIMARY KEY (tenant_id, recording_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX retention_by_consent ON retention (tenant_id, consent_id);
CREATE INDEX retention_by_course ON retention (tenant_id, course_id);
CREATE INDEX retention_by_due ON retention (tenant_id, destroy_after);
