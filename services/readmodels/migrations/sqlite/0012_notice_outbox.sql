-- The outbox of notices and the sender's bookkeeping (see the PostgreSQL migration of the
-- same name).
CREATE TABLE notice_outbox (
    tenant_id          TEXT    NOT NULL,
    message_id         TEXT    NOT NULL,
    notice             TEXT    NOT NULL,
    recipient          TEXT    NOT NULL,
    source_event_id    TEXT    NOT NULL,
    source_sequence    INTEGER NOT NULL,
    source_event_type  TEXT    NOT NULL,
    source_stream      TEXT    NOT NULL,
    due_at             TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, message_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX notice_outbox_pending ON notice_outbox (tenant_id, due_at) WHERE state = 'pending';
CREATE INDEX notice_outbox_by_stream ON notice_outbox (tenant_id, source_stream);
CREATE INDEX notice_outbox_by_recipient ON notice_outbox (tenant_id, recipient);

CREATE TABLE notice_attempts (
    tenant_id        TEXT    NOT NULL,
    message_id       TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    in_flight_since  TEXT,
    finished_at      TEXT,
    last_error       TEXT,
    PRIMARY KEY (tenant_id, message_id)
) STRICT, WITHOUT ROWID;
