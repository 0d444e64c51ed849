-- What an access decision about a recording reads, filed under what it decides on: the
-- consents whose scope includes the recording's session (`client:<id>:session:<date>`, and
-- `client:<id>:engagement` for those that cover every session), and the grants on the
-- recording to one grantee (`recording:<id>:<kind>:<id>`). The links projection files new
-- streams under these subjects as they are created; the streams already there are filed here,
-- from their states. A decision then reads a handful of rows by primary key, however many
-- consents the client has and however large the tenant.

-- Row-level security is forced on the owner too: this transaction sees every tenant.
SELECT set_config('confide.all_tenants', 'on', true);

INSERT INTO stream_links (tenant_id, subject, stream_id)
SELECT c.tenant_id,
       CASE WHEN c.core #>> '{scope,kind}' = 'session'
            THEN 'client:' || (c.core ->> 'client_id') || ':session:'
                 || (c.core #>> '{scope,session_on}')
            ELSE 'client:' || (c.core ->> 'client_id') || ':engagement'
       END,
       c.stream_id
  FROM (SELECT tenant_id, stream_id, state::jsonb -> 'core' AS core
          FROM aggregate_states WHERE kind = 'consent') c
 WHERE jsonb_typeof(c.core) = 'object'
ON CONFLICT DO NOTHING;

INSERT INTO stream_links (tenant_id, subject, stream_id)
SELECT g.tenant_id,
       'recording:' || (g.core ->> 'recording_id') || ':' || (g.core #>> '{grantee,kind}') || ':'
           || COALESCE(g.core #>> '{grantee,user_id}', g.core #>> '{grantee,client_id}'),
       g.stream_id
  FROM (SELECT tenant_id, stream_id, state::jsonb -> 'core' AS core
          FROM aggregate_states WHERE kind = 'grant') g
 WHERE jsonb_typeof(g.core) = 'object'
ON CONFLICT DO NOTHING;
