import { createPublicKey } from 'node:crypto';
import Fastify, { type FastifyRequest } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, gatewayError, isGatewayError, loadConfig, PRIORITY_CLASSES, type Env } from '@infergate/shared';
import { Authenticator } from './authenticator.js';
import { registerAuth } from './hook.js';

const KEY = 'sk-test-0123456789abcdef';
const OPS_KEY = 'sk-ops-0123456789abcdef';
const SECRET = 'jwt-secret-0123456789abcdef0123456789';
const now = () => Math.floor(Date.now() / 1000);

function authenticator(env: Env): Authenticator {
  return Authenticator.create(loadConfig('ingress', env));
}

/** The 401 message, or the principal when the headers are accepted. */
async function outcome(auth: Authenticator, headers: Record<string, string>) {
  try {
    return await auth.authenticate(headers);
  } catch (err) {
    expect(isGatewayError(err) && err.code).toBe('unauthorized');
    return (err as Error).message;
  }
}

function hs256(claims: Record<string, unknown>, secret = SECRET) {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(secret));
}

describe('API keys', () => {
  let auth: Authenticator;
  beforeAll(async () => {
    auth = authenticator({
      API_KEYS: `${KEY}\nops:${OPS_KEY}`,
      KEY_RATE_LIMIT_RPM: '100',
      KEY_POLICIES: JSON.stringify({ ops: { concurrent: 3, priority: 'high' } }),
    });
  });

  it('accepts a key as a bearer token or in x-api-key, and names it by its id', async () => {
    expect(await outcome(auth, { authorization: `Bearer ${KEY}` })).toMatchObject({ kind: 'key', id: expect.stringMatching(/^[0-9a-f]{8}$/) });
    expect(await outcome(auth, { authorization: `bearer  ${OPS_KEY}` })).toMatchObject({ kind: 'key', id: 'ops' });
    expect(await outcome(auth, { 'x-api-key': OPS_KEY })).toMatchObject({ id: 'ops' });
    // Either header carrying a valid key is enough, as at the NGINX edge.
    expect(await outcome(auth, { authorization: 'Bearer wrong', 'x-api-key': KEY })).toMatchObject({ kind: 'key' });
  });

  it('applies the key’s policy over the defaults', async () => {
    expect(await outcome(auth, { 'x-api-key': OPS_KEY })).toEqual({ kind: 'key', id: 'ops', rpm: 100, concurrent: 3, tpm: 0, dailyTokens: 0, monthlyTokens: 0, priority: PRIORITY_CLASSES.high, weight: 1 });
    expect(await outcome(auth, { 'x-api-key': KEY })).toMatchObject({ rpm: 100, concurrent: 0, priority: PRIORITY_CLASSES.normal });
  });

  it('refuses missing, wrong, near-miss and malformed credentials', async () => {
    expect(await outcome(auth, {})).toMatch(/required/);
    expect(await outcome(auth, { authorization: `Basic ${Buffer.from(`u:${KEY}`).toString('base64')}` })).toMatch(/required/);
    for (const wrong of [KEY.slice(0, -1), `${KEY}x`, KEY.toUpperCase(), ` ${KEY}x`]) {
      expect(await outcome(auth, { authorization: `Bearer ${wrong}` })).toBe('The API key is not valid.');
      expect(await outcome(auth, { 'x-api-key': wrong })).toBe('The API key is not valid.');
    }
    // A JWT is not an API key, and with no JWT configured it is just a wrong key.
    expect(await outcome(auth, { authorization: `Bearer ${await hs256({ sub: 'a', exp: now() + 60 })}` })).toBe('The API key is not valid.');
  });
});

describe('JWT bearer tokens', () => {
  let auth: Authenticator;
  beforeAll(async () => {
    auth = authenticator({
      API_KEYS: KEY,
      JWT_SECRET: SECRET,
      JWT_ISSUER: 'https://issuer.example',
      JWT_AUDIENCE: 'infergate',
      JWT_CLOCK_SKEW_SECONDS: '30',
      KEY_POLICIES: JSON.stringify({ acme: { rpm: 5, priority: 'low' } }),
    });
  });
  const valid = { iss: 'https://issuer.example', aud: 'infergate', sub: 'acme' };

  it('names the tenant from the claim and applies its policy; API keys still work beside JWT', async () => {
    const token = await hs256({ ...valid, exp: now() + 60 });
    expect(await outcome(auth, { authorization: `Bearer ${token}` })).toEqual({ kind: 'tenant', id: 'acme', rpm: 5, concurrent: 0, tpm: 0, dailyTokens: 0, monthlyTokens: 0, priority: PRIORITY_CLASSES.low, weight: 1 });
    expect(await outcome(auth, { 'x-api-key': KEY })).toMatchObject({ kind: 'key' });
  });

  it('tolerates clock skew on exp and nbf, and no more', async () => {
    const ok = (claims: Record<string, unknown>) => hs256({ ...valid, ...claims }).then((t) => outcome(auth, { authorization: `Bearer ${t}` }));
    expect(await ok({ exp: now() - 10 })).toMatchObject({ id: 'acme' });
    expect(await ok({ exp: now() - 120 })).toBe('The token has expired.');
    expect(await ok({ exp: now() + 60, nbf: now() + 10 })).toMatchObject({ id: 'acme' });
    expect(await ok({ exp: now() + 600, nbf: now() + 120 })).toBe('The token\'s "nbf" claim is not accepted.');
  });

  it('refuses a wrong issuer, audience, secret, a missing exp, a missing tenant, and unsigned or re-signed tokens', async () => {
    const refused = async (token: string) => outcome(auth, { authorization: `Bearer ${token}` });
    const exp = now() + 60;
    expect(await refused(await hs256({ ...valid, exp, iss: 'https://other.example' }))).toBe('The token\'s "iss" claim is not accepted.');
    expect(await refused(await hs256({ ...valid, exp, aud: 'other' }))).toBe('The token\'s "aud" claim is not accepted.');
    expect(await refused(await hs256({ ...valid, exp }, `${SECRET}x`))).toBe('The token is not valid.');
    expect(await refused(await hs256(valid))).toBe('The token\'s "exp" claim is not accepted.');
    expect(await refused(await hs256({ ...valid, exp, sub: undefined }))).toBe('The token\'s "sub" claim does not name a tenant.');
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ ...valid, exp })).toString('base64url')}.`;
    expect(await refused(unsigned)).toBe('The API key is not valid.');
    const hs384 = await new SignJWT({ ...valid, exp }).setProtectedHeader({ alg: 'HS384' }).sign(Buffer.from(SECRET));
    expect(await refused(hs384)).toBe('The token is not valid.');
  });
});

describe('JWT with a local JWKS', () => {
  let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
  let ec: Awaited<ReturnType<typeof generateKeyPair>>;
  let auth: Authenticator;
  let publicJwks: JWK[];
  beforeAll(async () => {
    rsa = await generateKeyPair('RS256', { extractable: true });
    ec = await generateKeyPair('ES256', { extractable: true });
    publicJwks = [
      { ...(await exportJWK(rsa.publicKey)), kid: 'r1' },
      { ...(await exportJWK(ec.publicKey)), kid: 'e1' },
    ];
    auth = authenticator({ JWT_JWKS: JSON.stringify({ keys: publicJwks }), JWT_TENANT_CLAIM: 'org' });
  });

  it('verifies RS256 and ES256 tokens and reads the configured tenant claim', async () => {
    const exp = now() + 60;
    const rs = await new SignJWT({ org: 'initech', exp }).setProtectedHeader({ alg: 'RS256', kid: 'r1' }).sign(rsa.privateKey);
    const es = await new SignJWT({ org: 'globex', exp }).setProtectedHeader({ alg: 'ES256', kid: 'e1' }).sign(ec.privateKey);
    expect(await outcome(auth, { authorization: `Bearer ${rs}` })).toMatchObject({ kind: 'tenant', id: 'initech' });
    expect(await outcome(auth, { authorization: `Bearer ${es}` })).toMatchObject({ kind: 'tenant', id: 'globex' });
  });

  it('refuses a token signed by another key, and HS256 signed with the public key (algorithm confusion)', async () => {
    const exp = now() + 60;
    const stranger = await generateKeyPair('RS256');
    const forged = await new SignJWT({ org: 'initech', exp }).setProtectedHeader({ alg: 'RS256', kid: 'r1' }).sign(stranger.privateKey);
    expect(await outcome(auth, { authorization: `Bearer ${forged}` })).toBe('The token is not valid.');
    const pem = createPublicKey({ key: publicJwks[0]!, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const confused = await new SignJWT({ org: 'initech', exp }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(pem));
    expect(await outcome(auth, { authorization: `Bearer ${confused}` })).toBe('The token is not valid.');
  });

  it('refuses at start-up a JWKS holding a private or symmetric key: the config schema names each', async () => {
    const privateJwk = await exportJWK(rsa.privateKey);
    const attempt = () => loadConfig('ingress', { JWT_JWKS: JSON.stringify({ keys: [privateJwk, { kty: 'oct', k: 'c2VjcmV0' }] }) });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(expect.objectContaining({
      problems: [expect.stringMatching(/^JWT_JWKS: key 1: is a private key/), expect.stringMatching(/^JWT_JWKS: key 2: kty must be RSA or EC/)],
    }));
  });
});

describe('the onRequest hook', () => {
  /** Probes and self-guarded routes at the root, the client API in a scope with the hook, as buildApp composes them. */
  async function app(env: Env) {
    const a = Fastify();
    a.setErrorHandler((err, _req, reply) => {
      const g = isGatewayError(err) ? err : gatewayError('internal');
      void reply.code(g.status).send(g.toBody());
    });
    const auth = authenticator(env);
    a.decorateRequest('principal', null);
    const principal = async (request: FastifyRequest) => ({ principal: request.principal?.id ?? null });
    for (const path of ['/health', '/livez', '/readyz', '/metrics', '/admin', '/admin/api/jobs']) a.get(path, principal);
    await a.register(async (scope) => {
      registerAuth(scope, auth);
      scope.setNotFoundHandler(async (_request, reply) => reply.code(404).send());
      for (const path of ['/v1/models', '/administrator']) scope.get(path, principal);
    });
    return a;
  }

  it('leaves probes and self-guarded routes open and guards everything else', async () => {
    const a = await app({ API_KEYS: KEY });
    const status = async (url: string, headers: Record<string, string> = {}) => (await a.inject({ url, headers })).statusCode;
    for (const open of ['/health', '/livez', '/readyz?full=1', '/metrics', '/admin', '/admin/api/jobs']) expect(await status(open), open).toBe(200);
    for (const guarded of ['/v1/models', '/administrator', '/nowhere']) expect(await status(guarded), guarded).toBe(401);
    expect(await status('/v1/models', { 'x-api-key': KEY })).toBe(200);
  });

  it('lets everyone in when no keys or JWT are configured', async () => {
    const a = await app({ ALLOW_OPEN_ACCESS: 'true' });
    const res = await a.inject({ url: '/v1/models' });
    expect([res.statusCode, res.json()]).toEqual([200, { principal: null }]);
  });
});

describe('FORWARD_PATHS', () => {
  /** The forwarded paths the config schema resolves, or its ConfigError. */
  const forwardPaths = (entries: readonly string[]) =>
    loadConfig('ingress', { ALLOW_OPEN_ACCESS: 'true', FORWARD_PATHS: entries.join(',') }).FORWARD_PATHS;

  it('defaults to both engines’ inference paths and none of their admin routes', () => {
    const paths = forwardPaths(['defaults']);
    expect(paths).toContain('/v1/chat/completions');
    expect(paths).toContain('/infill');
    expect(paths).toContain('/pooling');
    const admin = /slots|props|lora|profile|server_info|reset_prefix_cache|sleep|wake_up|collective_rpc|models\/(load|unload)|stream/;
    expect(paths.filter((p) => admin.test(p))).toEqual([]);
  });

  it('narrows to one engine kind and extends with plain paths', () => {
    expect(forwardPaths(['vllm'])).not.toContain('/infill');
    expect(forwardPaths(['vllm', '/v1/audio/speech', '/extra/:id'])).toEqual(expect.arrayContaining(['/pooling', '/v1/audio/speech', '/extra/:id']));
  });

  it('refuses unknown groups, unsafe paths and the ingress’s own routes', () => {
    expect(() => forwardPaths(['llama'])).toThrow(ConfigError);
    for (const bad of ['//x', '/a/../b', '/a%2Fb', '/health', '/admin/x', '/metrics', '/a b']) expect(() => forwardPaths([bad]), bad).toThrow(ConfigError);
  });
});
