-- The vault's data keys: one row per key of a tenant (a client's key for their personal data in
-- events, a recording's key for its media). `wrapped` is the key encrypted under the master
-- key, with the tenant and key id bound as associated data, so a wrapped key copied into
-- another row does not unwrap. Destroying a key (crypto-shredding) clears `wrapped` and sets
-- `destroyed_at`: the row stays as a tombstone, so "destroyed" can be told from "never
-- existed" and a destroyed key's id is never issued again.
CREATE TABLE data_keys (
    tenant_id    text        NOT NULL,
    key_id       text        NOT NULL,
    -- XChaCha20-Poly1305 under the master key: nonce (24 bytes) then ciphertext and tag.
    -- Null once destroyed.
    wrapped      bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    destroyed_at timestamptz,
    PRIMARY KEY (tenant_id, key_id),
    CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL))
);

ALTER TABLE data_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE data_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON data_keys
    USING (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on')
    WITH CHECK (tenant_id = current_setting('confide.tenant_id', true)
           OR current_setting('confide.all_tenants', true) = 'on');
