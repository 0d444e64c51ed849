-- A page of linked states starts at its cursor on both sides of the join. With the bound only
-- on the links, a planner without fresh statistics (after a bulk write, before autovacuum has
-- analysed the tables) joined each link against every state of the kind, and even with them a
-- merge join read the states from the tenant's first: a page cost grew with its position
-- (docs/performance.md, "Pages of long lists"). The bound repeated on the states lets every
-- plan start at the cursor.
CREATE OR REPLACE FUNCTION confide_linked_states_page(
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
           AND s.tenant_id = p_tenant AND s.stream_id > p_after
           AND s.kind = p_kind
         ORDER BY l.stream_id
         LIMIT p_limit;
END $$;
