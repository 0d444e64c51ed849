-- Which streams concern what (see the PostgreSQL migration of the same name).
CREATE TABLE stream_links (
    tenant_id TEXT NOT NULL,
    subject   TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, subject, stream_id)
) STRICT, WITHOUT ROWID;
