-- The recording list (see the PostgreSQL migration of the same name).
CREATE TABLE recording_list (
    tenant_id        TEXT    NOT NULL,
    recording_id     BLOB    NOT NULL,
    client_id        BLOB    NOT NULL,
    practitioner     TEXT    NOT NULL,
    session_on       TEXT    NOT NULL,
    medium           TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    destruction_due  TEXT,
    plays            INTEGER NOT NULL DEFAULT 0,
    refusals         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, recording_id)
) STRICT, WITHOUT ROWID;
