// A real OpenID Connect provider for the sign-in tests: oidc-provider (a certified
// implementation) on 127.0.0.1 and a port the system picks, with its development login
// (any password) and consent pages. It prints {"issuer": …} once it listens, then reads one
// line of JSON from stdin naming the client it is to know — {"clientId", "clientSecret",
// "redirectUri", "names": {subject: name}} — and prints {"ready": true}. It runs until stdin
// closes. Usage: node identity-provider.mjs (the Rust tests start it).
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import Provider from 'oidc-provider';

let handle = (_request, response) => {
  response.writeHead(503);
  response.end();
};
const server = createServer((request, response) => handle(request, response));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
console.log(JSON.stringify({ issuer }));

const lines = createInterface({ input: process.stdin });
const first = await new Promise((resolve) => lines.once('line', resolve));
const { clientId, clientSecret, redirectUri, names = {} } = JSON.parse(first);

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  pkce: { required: () => true },
  claims: { openid: ['sub'], profile: ['name'] },
  cookies: { keys: ['confide-test-provider-cookie-key'] },
  findAccount: (_ctx, id) => ({
    accountId: id,
    claims: () => ({ sub: id, name: names[id] ?? id }),
  }),
});
provider.on('server_error', (_ctx, error) => console.error('provider error:', error));
handle = provider.callback();
console.log(JSON.stringify({ ready: true }));

lines.on('close', () => {
  server.close();
  process.exit(0);
});
