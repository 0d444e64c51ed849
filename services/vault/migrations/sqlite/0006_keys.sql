-- The vault's data keys, wrapped under the master key; a destroyed key keeps its row with
-- `wrapped` cleared (see the PostgreSQL migration of the same name).
CREATE TABLE data_keys (
    tenant_id    TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    wrapped      BLOB,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    destroyed_at TEXT,
    PRIMARY KEY (tenant_id, key_id),
    CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL))
) STRICT, WITHOUT ROWID;
