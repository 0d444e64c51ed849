-- Signed-in sessions of the organisation's people on the pages (see the PostgreSQL migration
-- of the same name): the cookie holds the tenant and a random secret, this table only the
-- secret's SHA-256. Moments are milliseconds since 1970 (UTC), so that they compare as
-- numbers.
CREATE TABLE staff_sessions (
    tenant_id    TEXT NOT NULL,
    secret_hash  BLOB NOT NULL,
    user_id      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, secret_hash)
) STRICT, WITHOUT ROWID;
