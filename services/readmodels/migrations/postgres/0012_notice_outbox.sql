-- The outbox of notices (services/readmodels/src/outbox.rs). `notice_outbox` is kept by an
-- asynchronous projection of the log (its position in consumer_positions, written in the same
-- transaction as these rows) and rebuilt from it: one row per message, its id derived from the
-- event it answers, the notice and the recipient, and its state (`pending`, `cancelled`,
-- `delivered`, `failed`; the last two from the log's NoticeDelivered and NoticeFailed).
CREATE TABLE notice_outbox (
    tenant_id          text        NOT NULL,
    message_id         text        NOT NULL,
    notice             text        NOT NULL,
    recipient          text        NOT NULL,
    source_event_id    text        NOT NULL,
    source_sequence    bigint      NOT NULL,
    source_event_type  text        NOT NULL,
    source_stream      text        NOT NULL,
    due_at             timestamptz NOT NULL,
    state              text        NOT NULL,
    PRIMARY KEY (tenant_id, message_id)
);
CREATE INDEX notice_outbox_pending ON notice_outbox (tenant_id, due_at) WHERE state = 'pending';
CREATE INDEX notice_outbox_by_stream ON notice_outbox (tenant_id, source_stream);
CREATE INDEX notice_outbox_by_recipient ON notice_outbox (tenant_id, recipient);

-- The sender's own bookkeeping, which a rebuild of the outbox leaves alone: how many attempts,
-- when to try again, a send in flight (claimed before the message leaves, so a sender that
-- stops between sending and recording never sends it again), and when its outcome was recorded.
CREATE TABLE notice_attempts (
    tenant_id        text        NOT NULL,
    message_id       text        NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    in_flight_since  timestamptz,
    finished_at      timestamptz,
    last_error       text,
    PRIMARY KEY (tenant_id, message_id)
);

ALTER TABLE notice_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE notice_outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notice_outbox
    USING (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on')
    WITH CHECK (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on');

ALTER TABLE notice_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE notice_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notice_attempts
    USING (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on')
    WITH CHECK (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on');
