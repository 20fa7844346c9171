// `helm test` for ropc-gateway: a password grant at the token endpoint, then the protected
// path through the gateway without a token (expects 401) and with the access token (expects
// TEST_EXPECT_STATUS). Runs with the gateway image's node; never prints a token or a secret.
const { readFileSync } = require('node:fs');

function env(name) {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}
const secretFile = (file) => readFileSync(file, 'utf8').replace(/\r?\n$/, '');
// RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding.
const formEncode = (s) => encodeURIComponent(s).replace(/%20/g, '+');

async function main() {
  const base = env('GATEWAY_URL').replace(/\/$/, '');
  const clientId = env('TEST_CLIENT_ID');
  const form = new URLSearchParams({ grant_type: 'password', username: env('TEST_USERNAME'), password: secretFile(env('TEST_PASSWORD_FILE')) });
  if (process.env.TEST_SCOPE) form.set('scope', process.env.TEST_SCOPE);
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (process.env.TEST_CLIENT_SECRET_FILE) {
    const secret = secretFile(process.env.TEST_CLIENT_SECRET_FILE);
    headers.authorization = `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(secret)}`).toString('base64')}`;
  } else {
    form.set('client_id', clientId);
  }
  const tokenUrl = base + env('TOKEN_PATH');
  const tokenRes = await fetch(tokenUrl, { method: 'POST', headers, body: form.toString() });
  const body = await tokenRes.json().catch(() => ({}));
  if (tokenRes.status !== 200 || typeof body.access_token !== 'string') {
    throw new Error(`POST ${tokenUrl}: ${tokenRes.status} ${JSON.stringify({ error: body.error, error_description: body.error_description })}`);
  }
  console.log(`token endpoint: 200, token_type ${body.token_type}, expires_in ${body.expires_in}, scope ${body.scope ?? '(as requested)'}`);

  const resourceUrl = base + env('TEST_PATH');
  const anonymous = await fetch(resourceUrl);
  if (anonymous.status !== 401) throw new Error(`GET ${resourceUrl} without a token: ${anonymous.status}, expected 401 (is the path protected?)`);
  console.log(`without a token: 401 (${anonymous.headers.get('www-authenticate')})`);

  const expected = Number(env('TEST_EXPECT_STATUS'));
  const res = await fetch(resourceUrl, { headers: { authorization: `Bearer ${body.access_token}` } });
  if (res.status !== expected) throw new Error(`GET ${resourceUrl} with the token: ${res.status}, expected ${expected}`);
  console.log(`with the token: ${res.status}`);
}

main().then(
  () => console.log('ropc-gateway helm test passed'),
  (err) => {
    console.error(`ropc-gateway helm test failed: ${err.message}`);
    process.exit(1);
  },
);
