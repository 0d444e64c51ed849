-- Leases on background work (see the PostgreSQL migration of the same name). SQLite is one
-- process's database, so its lease is always held by the one node there is; the table is kept
-- so that both schemas have the same tables.
CREATE TABLE job_leases (
    tenant_id  TEXT    NOT NULL,
    job        TEXT    NOT NULL,
    holder     TEXT    NOT NULL,
    expires_at TEXT    NOT NULL,
    fence      INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, job)
) STRICT, WITHOUT ROWID;
