-- The tamper-evident event log: one append-only Merkle log per tenant. SQLite has a single
-- writer, so appends are serialised by the database itself; every query still carries the tenant.

CREATE TABLE tenant_heads (
    tenant_id  TEXT    NOT NULL PRIMARY KEY,
    tree_size  INTEGER NOT NULL CHECK (tree_size > 0),
    root_hash  BLOB    NOT NULL CHECK (length(root_hash) = 32),
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE events (
    tenant_id      TEXT    NOT NULL,
    sequence       INTEGER NOT NULL CHECK (sequence >= 0),
    event_id       BLOB    NOT NULL,
    stream_id      TEXT    NOT NULL,
    stream_version INTEGER NOT NULL CHECK (stream_version > 0),
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL CHECK (schema_version > 0),
    payload        TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    recorded_at    TEXT    NOT NULL,
    leaf_hash      BLOB    NOT NULL CHECK (length(leaf_hash) = 32),
    -- The roots of the perfect subtrees this event completes, smallest first (see the
    -- PostgreSQL schema): node (l, i) is at bytes [(l - 1) * 32, l * 32) of event
    -- (i + 1) * 2^l - 1.
    subtree_roots  BLOB    NOT NULL CHECK (length(subtree_roots) % 32 = 0),
    PRIMARY KEY (tenant_id, sequence),
    UNIQUE (tenant_id, event_id),
    UNIQUE (tenant_id, stream_id, stream_version)
) STRICT, WITHOUT ROWID;

CREATE TABLE checkpoints (
    tenant_id TEXT    NOT NULL,
    tree_size INTEGER NOT NULL,
    key_id    TEXT    NOT NULL,
    root_hash BLOB    NOT NULL CHECK (length(root_hash) = 32),
    note      TEXT    NOT NULL,
    signed_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (tenant_id, tree_size, key_id)
) STRICT;

CREATE TABLE consumer_positions (
    consumer   TEXT    NOT NULL,
    tenant_id  TEXT    NOT NULL,
    position   INTEGER NOT NULL CHECK (position >= 0),
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (consumer, tenant_id)
) STRICT;
