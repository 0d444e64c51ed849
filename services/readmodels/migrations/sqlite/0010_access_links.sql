-- What an access decision about a recording reads, filed under what it decides on (see the
-- PostgreSQL migration of the same name): the streams already there, from their states.
INSERT INTO stream_links (tenant_id, subject, stream_id)
SELECT tenant_id,
       CASE WHEN json_extract(state, '$.core.scope.kind') = 'session'
            THEN 'client:' || json_extract(state, '$.core.client_id') || ':session:'
                 || json_extract(state, '$.core.scope.session_on')
            ELSE 'client:' || json_extract(state, '$.core.client_id') || ':engagement'
       END,
       stream_id
  FROM aggregate_states
 WHERE kind = 'consent' AND json_type(state, '$.core') = 'object'
ON CONFLICT DO NOTHING;

INSERT INTO stream_links (tenant_id, subject, stream_id)
SELECT tenant_id,
       'recording:' || json_extract(state, '$.core.recording_id') || ':'
           || json_extract(state, '$.core.grantee.kind') || ':'
           || COALESCE(json_extract(state, '$.core.grantee.user_id'),
                       json_extract(state, '$.core.grantee.client_id')),
       stream_id
  FROM aggregate_states
 WHERE kind = 'grant' AND json_type(state, '$.core') = 'object'
ON CONFLICT DO NOTHING;
