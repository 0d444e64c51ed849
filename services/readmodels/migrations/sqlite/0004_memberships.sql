-- Who belongs to the tenant (see the PostgreSQL migration of the same name).
CREATE TABLE memberships (
    tenant_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    roles     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
) STRICT, WITHOUT ROWID;
