-- Lists that grow, read a page at a time (a keyset: the rows after the last one seen, in key
-- order, with LIMIT), and the client directory.
--
-- `client_practitioners`: which practitioners a client is the client of (who registered
-- them, and who asked them for consent), written by an inline projection in the append's own
-- transaction and filled here from the log for the clients that came before it.
--
-- `client_name_tokens`: a blind index of clients' names. Names are sealed under each
-- client's key and never stored in clear; the application hashes each normalised token of a
-- name (and its prefixes) with a keyed hash under a key of the tenant's key store, and a
-- search hashes what is typed the same way. `client_name_index` records which clients were
-- indexed, so the clients registered before the index are indexed later. Erasing a client
-- deletes their tokens in the erasure's own transaction.
CREATE TABLE client_practitioners (
    tenant_id     text NOT NULL,
    practitioner  text NOT NULL,
    -- `client-<id>`, the client's stream.
    client_stream text NOT NULL,
    PRIMARY KEY (tenant_id, practitioner, client_stream)
);

CREATE TABLE client_name_index (
    tenant_id     text NOT NULL,
    client_stream text NOT NULL,
    PRIMARY KEY (tenant_id, client_stream)
);

CREATE TABLE client_name_tokens (
    tenant_id     text NOT NULL,
    -- HMAC-SHA-256 of one normalised token, hex.
    token         text NOT NULL,
    client_stream text NOT NULL,
    PRIMARY KEY (tenant_id, token, client_stream)
);
CREATE INDEX client_name_tokens_by_client ON client_name_tokens (tenant_id, client_stream);

-- A page of one kind's states in stream order (all clients) reads the index in that order.
CREATE INDEX aggregate_states_by_kind_stream ON aggregate_states (tenant_id, kind, stream_id);

ALTER TABLE client_practitioners ENABLE ROW LEVEL SECURITY;
ALTER TABLE client_practitioners FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON client_practitioners
    USING (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on')
    WITH CHECK (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on');

ALTER TABLE client_name_index ENABLE ROW LEVEL SECURITY;
ALTER TABLE client_name_index FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON client_name_index
    USING (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on')
    WITH CHECK (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on');

ALTER TABLE client_name_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE client_name_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON client_name_tokens
    USING (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on')
    WITH CHECK (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on');

-- The practitioners of the clients registered, and asked for consent, before this table
-- (every tenant's, as the projection runners read).
SELECT set_config('confide.all_tenants', 'on', true);
INSERT INTO client_practitioners (tenant_id, practitioner, client_stream)
SELECT tenant_id, payload::jsonb -> 'by' ->> 'user_id', 'client-' || (payload::jsonb ->> 'client_id')
  FROM events
 WHERE event_type = 'ClientRegistered' AND payload::jsonb -> 'by' ->> 'kind' = 'user'
UNION
SELECT tenant_id, payload::jsonb ->> 'practitioner', 'client-' || (payload::jsonb ->> 'client_id')
  FROM events
 WHERE event_type IN ('ConsentRequested', 'ConsentNoticeGiven')
ON CONFLICT DO NOTHING;
SELECT set_config('confide.all_tenants', 'off', true);

-- The states of `p_kind` after the stream `p_after`, in stream order, at most `p_limit`.
CREATE FUNCTION confide_states_of_kind_page(p_tenant text, p_kind text, p_after text, p_limit integer)
RETURNS TABLE (stream_id text, version bigint, state text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    RETURN QUERY
        SELECT s.stream_id, s.version, s.state FROM aggregate_states s
         WHERE s.tenant_id = p_tenant AND s.kind = p_kind AND s.stream_id > p_after
         ORDER BY s.stream_id
         LIMIT p_limit;
END $$;

-- The states of `p_kind` linked to `p_subject` after the stream `p_after`, in stream order.
CREATE FUNCTION confide_linked_states_page(
    p_tenant text, p_subject text, p_kind text, p_after text, p_limit integer)
RETURNS TABLE (stream_id text, version bigint, state text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    RETURN QUERY
        SELECT l.stream_id, s.version, s.state
          FROM stream_links l
          JOIN aggregate_states s ON s.tenant_id = l.tenant_id AND s.stream_id = l.stream_id
         WHERE l.tenant_id = p_tenant AND l.subject = p_subject AND l.stream_id > p_after
           AND s.kind = p_kind
         ORDER BY l.stream_id
         LIMIT p_limit;
END $$;

-- A page of clients after `p_after`: of one practitioner (or all, when null), whose name has
-- every token of `p_tokens` (or any name, when null).
CREATE FUNCTION confide_clients_page(
    p_tenant text, p_practitioner text, p_tokens text[], p_after text, p_limit integer)
RETURNS TABLE (stream_id text, version bigint, state text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    IF p_tokens IS NOT NULL THEN
        RETURN QUERY
            SELECT s.stream_id, s.version, s.state
              FROM (SELECT t.client_stream FROM client_name_tokens t
                     WHERE t.tenant_id = p_tenant AND t.token = ANY (p_tokens)
                       AND t.client_stream > p_after
                       AND (p_practitioner IS NULL OR EXISTS (
                            SELECT 1 FROM client_practitioners p
                             WHERE p.tenant_id = t.tenant_id AND p.practitioner = p_practitioner
                               AND p.client_stream = t.client_stream))
                     GROUP BY t.client_stream
                    HAVING count(DISTINCT t.token) = cardinality(p_tokens)
                     ORDER BY t.client_stream
                     LIMIT p_limit) m
              JOIN aggregate_states s ON s.tenant_id = p_tenant AND s.stream_id = m.client_stream
             ORDER BY s.stream_id;
    ELSIF p_practitioner IS NOT NULL THEN
        RETURN QUERY
            SELECT s.stream_id, s.version, s.state
              FROM client_practitioners p
              JOIN aggregate_states s ON s.tenant_id = p.tenant_id AND s.stream_id = p.client_stream
             WHERE p.tenant_id = p_tenant AND p.practitioner = p_practitioner
               AND p.client_stream > p_after
             ORDER BY p.client_stream
             LIMIT p_limit;
    ELSE
        RETURN QUERY
            SELECT s.stream_id, s.version, s.state FROM aggregate_states s
             WHERE s.tenant_id = p_tenant AND s.kind = 'client' AND s.stream_id > p_after
             ORDER BY s.stream_id
             LIMIT p_limit;
    END IF;
END $$;

-- Records a client's name tokens (none for an erased client) and that the client is indexed.
CREATE FUNCTION confide_index_client_name(p_tenant text, p_client text, p_tokens text[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    INSERT INTO client_name_tokens (tenant_id, token, client_stream)
    SELECT p_tenant, t, p_client FROM unnest(p_tokens) AS t
    ON CONFLICT DO NOTHING;
    INSERT INTO client_name_index (tenant_id, client_stream) VALUES (p_tenant, p_client)
    ON CONFLICT DO NOTHING;
END $$;

-- Forgets a client's name tokens (an erased client found by a search).
CREATE FUNCTION confide_forget_client_name(p_tenant text, p_client text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    DELETE FROM client_name_tokens WHERE tenant_id = p_tenant AND client_stream = p_client;
END $$;

-- Clients not indexed yet, at most `p_limit`.
CREATE FUNCTION confide_unindexed_clients(p_tenant text, p_limit integer)
RETURNS TABLE (stream_id text, version bigint, state text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    RETURN QUERY
        SELECT s.stream_id, s.version, s.state FROM aggregate_states s
         WHERE s.tenant_id = p_tenant AND s.kind = 'client'
           AND NOT EXISTS (SELECT 1 FROM client_name_index i
                            WHERE i.tenant_id = s.tenant_id AND i.client_stream = s.stream_id)
         ORDER BY s.stream_id
         LIMIT p_limit;
END $$;
