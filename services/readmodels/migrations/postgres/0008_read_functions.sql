-- Reads of the read models in one round trip each. Every table forces row-level security
-- keyed by the tenant set for the transaction; these functions set it themselves, inside the
-- statement's own transaction, so a read needs neither BEGIN, a separate set_config, nor
-- COMMIT. They see only what the policies let the tenant see, like any other read.

CREATE FUNCTION confide_state(p_tenant text, p_stream text)
RETURNS TABLE (version bigint, state text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    RETURN QUERY
        SELECT s.version, s.state FROM aggregate_states s
         WHERE s.tenant_id = p_tenant AND s.stream_id = p_stream;
END $$;

CREATE FUNCTION confide_linked_states(p_tenant text, p_subject text, p_kind text)
RETURNS TABLE (stream_id text, version bigint, state text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    RETURN QUERY
        SELECT l.stream_id, s.version, s.state
          FROM stream_links l
          JOIN aggregate_states s ON s.tenant_id = l.tenant_id AND s.stream_id = l.stream_id
         WHERE l.tenant_id = p_tenant AND l.subject = p_subject AND s.kind = p_kind
         ORDER BY l.stream_id;
END $$;

CREATE FUNCTION confide_states_of_kind(p_tenant text, p_kind text)
RETURNS TABLE (stream_id text, version bigint, state text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    RETURN QUERY
        SELECT s.stream_id, s.version, s.state FROM aggregate_states s
         WHERE s.tenant_id = p_tenant AND s.kind = p_kind
         ORDER BY s.stream_id;
END $$;

CREATE FUNCTION confide_due_before(p_tenant text, p_before timestamptz)
RETURNS TABLE (recording_id text, destroy_after timestamptz, reason text, scheduled_for timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    RETURN QUERY
        SELECT r.recording_id, r.destroy_after, r.reason, r.scheduled_for FROM retention r
         WHERE r.tenant_id = p_tenant AND r.destroy_after < p_before
         ORDER BY r.destroy_after, r.recording_id;
END $$;
