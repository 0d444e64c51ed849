-- Lists that grow, read a page at a time, and the client directory (see the PostgreSQL
-- migration of the same name).
CREATE TABLE client_practitioners (
    tenant_id     TEXT NOT NULL,
    practitioner  TEXT NOT NULL,
    client_stream TEXT NOT NULL,
    PRIMARY KEY (tenant_id, practitioner, client_stream)
) STRICT, WITHOUT ROWID;

CREATE TABLE client_name_index (
    tenant_id     TEXT NOT NULL,
    client_stream TEXT NOT NULL,
    PRIMARY KEY (tenant_id, client_stream)
) STRICT, WITHOUT ROWID;

CREATE TABLE client_name_tokens (
    tenant_id     TEXT NOT NULL,
    token         TEXT NOT NULL,
    client_stream TEXT NOT NULL,
    PRIMARY KEY (tenant_id, token, client_stream)
) STRICT, WITHOUT ROWID;
CREATE INDEX client_name_tokens_by_client ON client_name_tokens (tenant_id, client_stream);

-- The practitioners of the clients registered, and asked for consent, before this table.
INSERT INTO client_practitioners (tenant_id, practitioner, client_stream)
SELECT tenant_id, json_extract(payload, '$.by.user_id'),
       'client-' || json_extract(payload, '$.client_id')
  FROM events
 WHERE event_type = 'ClientRegistered' AND json_extract(payload, '$.by.kind') = 'user'
UNION
SELECT tenant_id, json_extract(payload, '$.practitioner'),
       'client-' || json_extract(payload, '$.client_id')
  FROM events
 WHERE event_type IN ('ConsentRequested', 'ConsentNoticeGiven')
ON CONFLICT DO NOTHING;
