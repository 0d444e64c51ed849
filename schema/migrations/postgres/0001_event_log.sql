-- The tamper-evident event log: one append-only Merkle log per tenant.
--
-- Every table's key starts with tenant_id. Row-level security keyed by the per-transaction
-- setting `confide.tenant_id` is the second wall behind the tenant argument every query takes;
-- `confide.all_tenants = 'on'` is set only by readers that must cross tenants (the global
-- reader and projection runners). FORCE makes the wall hold for the table owner as well, so the
-- service must connect as a role that is not a superuser.

-- One row per tenant: the head of its tree. Appends to a tenant serialise on this row, which
-- is what makes sequence numbers contiguous and commit order equal sequence order.
CREATE TABLE tenant_heads (
    tenant_id  text        NOT NULL PRIMARY KEY,
    tree_size  bigint      NOT NULL CHECK (tree_size > 0),
    root_hash  bytea       NOT NULL CHECK (length(root_hash) = 32),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Events are never updated or deleted. payload and metadata are stored as the exact RFC 8785
-- canonical JSON text that went into the leaf hash, so the hash can be recomputed from the row.
CREATE TABLE events (
    tenant_id      text        NOT NULL,
    sequence       bigint      NOT NULL CHECK (sequence >= 0),
    event_id       uuid        NOT NULL,
    stream_id      text        NOT NULL,
    stream_version bigint      NOT NULL CHECK (stream_version > 0),
    event_type     text        NOT NULL,
    schema_version integer     NOT NULL CHECK (schema_version > 0),
    payload        text        NOT NULL,
    metadata       text        NOT NULL,
    recorded_at    timestamptz NOT NULL,
    leaf_hash      bytea       NOT NULL CHECK (length(leaf_hash) = 32),
    -- The roots of the perfect subtrees this event completes, smallest first: appending leaf
    -- s completes the subtrees of levels 1..t, t being the number of trailing zero bits of
    -- s + 1. So node (level l, index i) is stored with event (i + 1) * 2^l - 1, at bytes
    -- [(l - 1) * 32, l * 32), and every proof reads only this table's primary key.
    subtree_roots  bytea       NOT NULL CHECK (length(subtree_roots) % 32 = 0),
    PRIMARY KEY (tenant_id, sequence),
    UNIQUE (tenant_id, event_id),
    UNIQUE (tenant_id, stream_id, stream_version)
);

-- Signed tree heads, kept forever.
CREATE TABLE checkpoints (
    tenant_id text        NOT NULL,
    tree_size bigint      NOT NULL,
    key_id    text        NOT NULL,
    root_hash bytea       NOT NULL CHECK (length(root_hash) = 32),
    note      text        NOT NULL,
    signed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, tree_size, key_id)
);

-- Durable positions of cross-tenant readers: the next sequence to read, per tenant.
CREATE TABLE consumer_positions (
    consumer   text        NOT NULL,
    tenant_id  text        NOT NULL,
    position   bigint      NOT NULL CHECK (position >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, tenant_id)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenant_heads', 'events', 'checkpoints', 'consumer_positions'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = current_setting('confide.tenant_id', true)
                   OR current_setting('confide.all_tenants', true) = 'on')
            WITH CHECK (tenant_id = current_setting('confide.tenant_id', true)
                   OR current_setting('confide.all_tenants', true) = 'on')$p$, t);
    END LOOP;
END $$;

-- Scopes the current transaction to one tenant (and never to all of them).
CREATE FUNCTION confide_use_tenant(p_tenant text) RETURNS void LANGUAGE sql AS $$
    SELECT set_config('confide.all_tenants', 'off', true), set_config('confide.tenant_id', p_tenant, true);
$$;

-- Takes the tenant's head row for the rest of the transaction: the path an append falls back
-- to after losing a compare-and-swap, so that a busy tenant cannot starve a writer.
CREATE FUNCTION confide_lock_tenant(p_tenant text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    PERFORM 1 FROM tenant_heads h WHERE h.tenant_id = p_tenant FOR UPDATE;
END $$;

-- What an append must know before it can hash: the tenant's head, the current version of every
-- stream it writes or is conditioned on, and which of its event ids already exist. One statement,
-- so all three come from one snapshot. Streams and event ids are looked up one key at a time:
-- a set-based `= ANY(...)` lets a planner without statistics (a young table) scan the tenant.
CREATE FUNCTION confide_append_state(p_tenant text, p_streams text[], p_event_ids uuid[])
RETURNS TABLE (kind text, key text, num bigint, bytes bytea) LANGUAGE plpgsql AS $$
DECLARE
    v_size bigint;
    v_levels integer[];
    v_sequences bigint[];
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    SELECT h.tree_size INTO v_size FROM tenant_heads h WHERE h.tenant_id = p_tenant;
    IF NOT FOUND THEN
        v_size := 0;
    END IF;
    -- The right edge of the tree: one perfect subtree per bit of the size, each stored with
    -- the event that completed it. Events never change, so these stay right even if an
    -- append commits after the size was read (the write's compare-and-swap catches that).
    SELECT array_agg(l ORDER BY l DESC), array_agg(((v_size >> l) << l) - 1 ORDER BY l DESC)
      INTO v_levels, v_sequences
      FROM generate_series(0, 62) AS l
     WHERE (v_size >> l) & 1 = 1;
    RETURN QUERY
        SELECT 'head'::text, NULL::text, v_size, NULL::bytea
        UNION ALL
        SELECT 'frontier'::text, f.level::text, f.sequence,
               (SELECT CASE WHEN f.level = 0 THEN e.leaf_hash
                            ELSE substring(e.subtree_roots FROM (f.level - 1) * 32 + 1 FOR 32)
                       END
                  FROM events e WHERE e.tenant_id = p_tenant AND e.sequence = f.sequence)
          FROM unnest(v_levels, v_sequences) AS f(level, sequence)
        UNION ALL
        SELECT 'stream'::text, s.stream_id,
               (SELECT e.stream_version FROM events e
                 WHERE e.tenant_id = p_tenant AND e.stream_id = s.stream_id
                 ORDER BY e.stream_version DESC LIMIT 1),
               NULL::bytea
          FROM unnest(p_streams) AS s(stream_id)
        UNION ALL
        SELECT 'event'::text, found.event_id::text, found.sequence, NULL::bytea
          FROM (SELECT i.event_id,
                       (SELECT e.sequence FROM events e
                         WHERE e.tenant_id = p_tenant AND e.event_id = i.event_id) AS sequence
                  FROM unnest(p_event_ids) AS i(event_id)) found
         WHERE found.sequence IS NOT NULL;
END $$;

-- Writes a planned append if, and only if, the tenant's tree is still exactly where the
-- writer planned it (compare-and-swap on the head row's size and root) and every stream in
-- p_check_streams is at the version the writer planned with. Nothing is written otherwise.
-- Answers 'written'; 'moved' (read the head again and plan anew); or 'conflict', a space, the
-- stream's actual version, a space and the stream. The head row stays locked until the
-- transaction ends, so a later append to this tenant commits after this one.
CREATE FUNCTION confide_append(
    p_tenant text, p_old_size bigint, p_old_root bytea,
    p_new_size bigint, p_root bytea, p_recorded_at timestamptz,
    p_event_ids uuid[], p_stream_ids text[], p_stream_versions bigint[], p_event_types text[],
    p_schema_versions integer[], p_payloads text[], p_metadata text[], p_leaf_hashes bytea[],
    p_subtree_roots bytea[], p_check_streams text[], p_check_versions bigint[])
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_stream text;
    v_actual bigint;
BEGIN
    -- confide_use_tenant, inlined: this is the hot path.
    PERFORM set_config('confide.all_tenants', 'off', true), set_config('confide.tenant_id', p_tenant, true);
    IF p_old_size = 0 THEN
        INSERT INTO tenant_heads (tenant_id, tree_size, root_hash, updated_at)
        SELECT p_tenant, p_new_size, p_root, p_recorded_at
         WHERE NOT EXISTS (SELECT 1 FROM unnest(p_check_streams, p_check_versions) AS c(s, v)
                            WHERE c.v <> 0)
        ON CONFLICT (tenant_id) DO NOTHING;
    ELSE
        -- Taking the head and checking the expected versions in one statement: if the head
        -- matches, no append has committed since the writer's view, so the versions it sees
        -- are the current ones.
        UPDATE tenant_heads h SET tree_size = p_new_size, root_hash = p_root, updated_at = p_recorded_at
         WHERE h.tenant_id = p_tenant AND h.tree_size = p_old_size AND h.root_hash = p_old_root
           AND NOT EXISTS (
               SELECT 1 FROM unnest(p_check_streams, p_check_versions) AS c(stream_id, expected)
                WHERE c.expected <> COALESCE(
                      (SELECT e.stream_version FROM events e
                        WHERE e.tenant_id = p_tenant AND e.stream_id = c.stream_id
                        ORDER BY e.stream_version DESC LIMIT 1), 0));
    END IF;
    IF NOT FOUND THEN
        -- Say which: a stream not at its expected version, or a head that moved.
        SELECT c.stream_id, c.actual INTO v_stream, v_actual
          FROM (SELECT s.stream_id, s.expected,
                       COALESCE((SELECT e.stream_version FROM events e
                                  WHERE e.tenant_id = p_tenant AND e.stream_id = s.stream_id
                                  ORDER BY e.stream_version DESC LIMIT 1), 0) AS actual
                  FROM unnest(p_check_streams, p_check_versions) AS s(stream_id, expected)) c
         WHERE c.actual <> c.expected
         LIMIT 1;
        IF FOUND THEN
            RETURN 'conflict ' || v_actual || ' ' || v_stream;
        END IF;
        RETURN 'moved';
    END IF;
    INSERT INTO events (tenant_id, sequence, event_id, stream_id, stream_version, event_type,
                        schema_version, payload, metadata, recorded_at, leaf_hash, subtree_roots)
    SELECT p_tenant, p_old_size + u.ord - 1, u.event_id, u.stream_id, u.stream_version,
           u.event_type, u.schema_version, u.payload, u.metadata, p_recorded_at, u.leaf_hash,
           u.subtree_roots
      FROM unnest(p_event_ids, p_stream_ids, p_stream_versions, p_event_types,
                  p_schema_versions, p_payloads, p_metadata, p_leaf_hashes, p_subtree_roots)
           WITH ORDINALITY AS u(event_id, stream_id, stream_version, event_type,
                                schema_version, payload, metadata, leaf_hash, subtree_roots, ord);
    RETURN 'written';
END $$;

-- Reads a stream in version order: the hot path of loading an aggregate.
CREATE FUNCTION confide_read_stream(p_tenant text, p_stream text, p_from_version bigint, p_limit bigint)
RETURNS SETOF events LANGUAGE plpgsql AS $$
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    RETURN QUERY
        SELECT * FROM events e
         WHERE e.tenant_id = p_tenant AND e.stream_id = p_stream AND e.stream_version >= p_from_version
         ORDER BY e.stream_version LIMIT p_limit;
END $$;

-- Reads a tenant's log in sequence order.
CREATE FUNCTION confide_read_tenant(p_tenant text, p_from bigint, p_limit bigint)
RETURNS SETOF events LANGUAGE plpgsql AS $$
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    RETURN QUERY
        SELECT * FROM events e
         WHERE e.tenant_id = p_tenant AND e.sequence >= p_from
         ORDER BY e.sequence LIMIT p_limit;
END $$;

-- The head of a tenant's tree (no row for a tenant with no events).
CREATE FUNCTION confide_tree_head(p_tenant text)
RETURNS TABLE (tree_size bigint, root_hash bytea) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    RETURN QUERY SELECT h.tree_size, h.root_hash FROM tenant_heads h WHERE h.tenant_id = p_tenant;
END $$;

-- The size of every tenant's log: what a catch-up reader plans its reads from.
CREATE FUNCTION confide_tenant_sizes()
RETURNS TABLE (tenant_id text, tree_size bigint) LANGUAGE plpgsql AS $$
DECLARE
    v_caller text := coalesce(current_setting('confide.all_tenants', true), 'off');
BEGIN
    PERFORM set_config('confide.all_tenants', 'on', true);
    RETURN QUERY SELECT h.tenant_id, h.tree_size FROM tenant_heads h ORDER BY h.tenant_id;
    PERFORM set_config('confide.all_tenants', v_caller, true);
END $$;

-- The perfect-subtree hashes a proof needs, fetched in one round trip: node (level l, index i)
-- from the event that completed it, p_sequences[k] = (i + 1) * 2^l - 1, computed by the
-- caller. (Row-level security keeps a predicate with arithmetic in it from using the index,
-- so the lookup compares the key with plain values.)
CREATE FUNCTION confide_read_nodes(p_tenant text, p_levels smallint[], p_sequences bigint[])
RETURNS TABLE (level smallint, sequence bigint, hash bytea) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM confide_use_tenant(p_tenant);
    RETURN QUERY
        SELECT found.level, found.sequence, found.hash FROM (
            SELECT w.level, w.sequence,
                   (SELECT CASE WHEN w.level = 0 THEN e.leaf_hash
                                ELSE substring(e.subtree_roots FROM (w.level - 1) * 32 + 1 FOR 32)
                           END
                      FROM events e
                     WHERE e.tenant_id = p_tenant AND e.sequence = w.sequence) AS hash
              FROM unnest(p_levels, p_sequences) AS w(level, sequence)) found
         WHERE length(found.hash) = 32;
END $$;

-- The cross-tenant reader: for every tenant whose tree is longer than the caller's position,
-- its next events in sequence order, tenants in id order, until p_limit events are found.
-- Within a tenant, sequence order is commit order (appends serialise on the head row), so a
-- reader that only ever advances per tenant, in sequence order, over what it can see can
-- never skip an event that commits late. JIT is off: the planner's row estimates for this
-- query are far above what it reads, and compiling would cost more than running.
CREATE FUNCTION confide_read_all(p_tenants text[], p_positions bigint[], p_limit bigint)
RETURNS SETOF events LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_caller text := coalesce(current_setting('confide.all_tenants', true), 'off');
    v_left bigint := p_limit;
    v_read bigint;
    v_head record;
BEGIN
    PERFORM set_config('confide.all_tenants', 'on', true);
    FOR v_head IN
        SELECT h.tenant_id, COALESCE(p.pos, 0) AS pos
          FROM tenant_heads h
          LEFT JOIN unnest(p_tenants, p_positions) AS p(tenant_id, pos) ON p.tenant_id = h.tenant_id
         WHERE h.tree_size > COALESCE(p.pos, 0)
         ORDER BY h.tenant_id
    LOOP
        EXIT WHEN v_left <= 0;
        RETURN QUERY
            SELECT * FROM events e
             WHERE e.tenant_id = v_head.tenant_id AND e.sequence >= v_head.pos
             ORDER BY e.sequence LIMIT v_left;
        GET DIAGNOSTICS v_read = ROW_COUNT;
        v_left := v_left - v_read;
    END LOOP;
    -- A projection runner's transaction already reads every tenant; leave it as it was.
    PERFORM set_config('confide.all_tenants', v_caller, true);
END $$;
