-- Several reads in one round trip: the states of several streams, and the states linked to
-- several (subject, kind) pairs, each row tagged with the pair it answers (1-based). Each key
-- is looked up on its own (a lateral join per key), as confide_append_state does, so a
-- planner without statistics never scans the tenant. Row-level security applies as in 0008.

CREATE FUNCTION confide_states(p_tenant text, p_streams text[])
RETURNS TABLE (stream_id text, version bigint, state text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    RETURN QUERY
        SELECT x.stream_id, x.version, x.state
          FROM unnest(p_streams) AS w(stream_id)
          CROSS JOIN LATERAL (
              SELECT s.stream_id, s.version, s.state FROM aggregate_states s
               WHERE s.tenant_id = p_tenant AND s.stream_id = w.stream_id) x;
END $$;

CREATE FUNCTION confide_linked_states_of(p_tenant text, p_subjects text[], p_kinds text[])
RETURNS TABLE (wanted integer, stream_id text, version bigint, state text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    RETURN QUERY
        SELECT w.i::integer, x.stream_id, x.version, x.state
          FROM unnest(p_subjects, p_kinds) WITH ORDINALITY AS w(subject, kind, i)
          CROSS JOIN LATERAL (
              SELECT l.stream_id, s.version, s.state
                FROM stream_links l
                JOIN aggregate_states s
                  ON s.tenant_id = l.tenant_id AND s.stream_id = l.stream_id
               WHERE l.tenant_id = p_tenant AND l.subject = w.subject AND s.kind = w.kind) x
         ORDER BY w.i, x.stream_id;
END $$;
