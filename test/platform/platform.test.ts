import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  SignJWT,
  type CryptoKey,
  type JSONWebKeySet,
  type JWTPayload,
} from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AGS_ENDPOINT_CLAIM,
  AGS_SCOPE,
  AuthRequestError,
  CLIENT_ASSERTION_TYPE,
  DEFAULT_RESOURCE_LINK_ID,
  LTI_CLAIM,
  SCORE_CONTENT_TYPE,
  startTestPlatform,
  type PlatformOptions,
  type TestPlatform,
} from '../helpers/platform.ts';

const TOOL = 'https://tool.example.test';
const LAUNCH_URL = `${TOOL}/lti/launch`;
const LOGIN_URL = `${TOOL}/lti/login`;

const running: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(running.splice(0).map((r) => r.close()));
});

async function platformFor(opts?: PlatformOptions): Promise<TestPlatform> {
  const platform = await startTestPlatform(opts);
  running.push(platform);
  return platform;
}

/** Verifies as a tool would: JWKS fetched over HTTP from the platform's keyset URL. */
async function verifyWithServedJwks(platform: TestPlatform, token: string, algorithms?: string[]) {
  const response = await fetch(platform.keysetUrl);
  const jwks = (await response.json()) as JSONWebKeySet;
  return jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: platform.issuer,
    audience: platform.clientId,
    ...(algorithms && { algorithms }),
  });
}

async function rejectionCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as { code: string }).code;
  }
  throw new Error('expected a rejection');
}

/** The tool side of a launch: its auth request to the platform, built from a login initiation. */
function authRequestUrl(platform: TestPlatform, initiation: URLSearchParams, overrides: Record<string, string | undefined> = {}) {
  const url = new URL(platform.authLoginUrl);
  const params: Record<string, string | undefined> = {
    scope: 'openid',
    response_type: 'id_token',
    response_mode: 'form_post',
    prompt: 'none',
    client_id: initiation.get('client_id') ?? undefined,
    redirect_uri: LAUNCH_URL,
    login_hint: initiation.get('login_hint') ?? undefined,
    lti_message_hint: initiation.get('lti_message_hint') ?? undefined,
    state: 'state-123',
    nonce: 'nonce-456',
    ...overrides,
  };
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value);
  return url.toString();
}

function initiationParams(platform: TestPlatform, sub?: string): URLSearchParams {
  const init = platform.loginInitiation(LOGIN_URL, { targetLinkUri: LAUNCH_URL, ...(sub && { sub }) });
  return new URL(init.url).searchParams;
}

describe('registration and keyset', () => {
  it('exposes Open edX-shaped URLs and a keyset with one kid-only RSA key', async () => {
    const platform = await platformFor();
    expect(platform.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(platform.clientId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(platform.registration()).toEqual({
      issuer: platform.issuer,
      clientId: platform.clientId,
      authLoginUrl: `${platform.issuer}/api/lti_consumer/v1/launch/`,
      authTokenUrl: `${platform.issuer}/api/lti_consumer/v1/token/${platform.clientId}`,
      keysetUrl: `${platform.issuer}/api/lti_consumer/v1/public_keysets/${platform.clientId}`,
      deploymentIds: ['1'],
    });
    expect(platform.keysetFetches).toBe(0);
    const response = await fetch(platform.keysetUrl);
    expect(response.status).toBe(200);
    const jwks = (await response.json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys).toHaveLength(1);
    expect(Object.keys(jwks.keys[0]!).sort()).toEqual(['e', 'kid', 'kty', 'n']);
    expect(jwks.keys[0]!.kid).toBe(platform.kid);
    expect(platform.keysetFetches).toBe(1);
  });

  it('publishes alg and use when asked, for EC keys too', async () => {
    const platform = await platformFor({ alg: 'ES256', publishAlg: true });
    const jwks = (await (await fetch(platform.keysetUrl)).json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: platform.kid });
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });

  it('puts a query string in line item URLs, one line item per resource link', async () => {
    const platform = await platformFor();
    const lineitem = new URL(platform.lineitemUrl());
    expect(lineitem.pathname).toMatch(/^\/api\/lti_consumer\/v1\/lti\/1\/lti-ags\/\d+$/);
    expect(lineitem.searchParams.get('resource_link_id')).toBe(DEFAULT_RESOURCE_LINK_ID);
    expect(platform.lineitemUrl()).toBe(lineitem.toString());
    expect(platform.lineitemUrl('other-block')).not.toBe(platform.lineitemUrl());
  });
});

describe('mintIdToken', () => {
  it('mints an Open edX launch that verifies against the served JWKS', async () => {
    const platform = await platformFor();
    const token = await platform.mintIdToken({ nonce: 'n-1', targetLinkUri: LAUNCH_URL, sub: 'learner-1' });
    const { payload, protectedHeader } = await verifyWithServedJwks(platform, token);
    expect(protectedHeader).toEqual({ alg: 'RS256', kid: platform.kid, typ: 'JWT' });
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(payload).not.toHaveProperty('nbf');
    expect(payload).not.toHaveProperty('name');
    expect(payload).not.toHaveProperty('email');
    expect(payload).toMatchObject({
      iss: platform.issuer,
      aud: platform.clientId,
      azp: platform.clientId,
      sub: 'learner-1',
      nonce: 'n-1',
      [LTI_CLAIM.messageType]: 'LtiResourceLinkRequest',
      [LTI_CLAIM.version]: '1.3.0',
      [LTI_CLAIM.deploymentId]: '1',
      [LTI_CLAIM.targetLinkUri]: LAUNCH_URL,
      [LTI_CLAIM.resourceLink]: { id: DEFAULT_RESOURCE_LINK_ID },
      [LTI_CLAIM.roles]: expect.arrayContaining(['http://purl.imsglobal.org/vocab/lis/v2/membership#Learner']),
      [LTI_CLAIM.context]: { id: 'course-v1:Org+Course+Run' },
      [LTI_CLAIM.toolPlatform]: { product_family_code: 'openedx' },
      [LTI_CLAIM.launchPresentation]: { document_target: 'iframe' },
      [AGS_ENDPOINT_CLAIM]: {
        lineitem: platform.lineitemUrl(),
        lineitems: platform.lineitemsUrl,
        scope: [AGS_SCOPE.lineitemReadonly, AGS_SCOPE.resultReadonly, AGS_SCOPE.score],
      },
    });
  });

  it('mints a Canvas-style launch: aud array with azp, composite deployment id', async () => {
    const platform = await platformFor({ variant: 'canvas', alg: 'RS512' });
    expect(platform.deploymentId).toMatch(/^\d+:[0-9a-f]{40}$/);
    const token = await platform.mintIdToken({ nonce: 'n', targetLinkUri: LAUNCH_URL });
    const { payload, protectedHeader } = await verifyWithServedJwks(platform, token);
    expect(protectedHeader.alg).toBe('RS512');
    expect(payload.aud).toEqual([platform.clientId, 'other']);
    expect(payload.azp).toBe(platform.clientId);
    expect(payload[LTI_CLAIM.deploymentId]).toBe(platform.deploymentId);
    expect(payload.sub).toMatch(/^[0-9a-f]{32}$/);
  });

  it('replaces and deletes claims and header members', async () => {
    const platform = await platformFor();
    const token = await platform.mintIdToken({
      nonce: 'n',
      targetLinkUri: LAUNCH_URL,
      claims: { [LTI_CLAIM.roles]: ['urn:unknown:role'], name: 'Ada', [AGS_ENDPOINT_CLAIM]: undefined, azp: undefined },
      header: { typ: undefined, cty: 'x' },
    });
    const { payload, protectedHeader } = await verifyWithServedJwks(platform, token);
    expect(protectedHeader).toEqual({ alg: 'RS256', kid: platform.kid, cty: 'x' });
    expect(payload[LTI_CLAIM.roles]).toEqual(['urn:unknown:role']);
    expect(payload.name).toBe('Ada');
    expect(payload).not.toHaveProperty(AGS_ENDPOINT_CLAIM);
    expect(payload).not.toHaveProperty('azp');
  });

  it('a replaced kid is not found in the JWKS', async () => {
    const platform = await platformFor();
    const token = await platform.mintIdToken({ nonce: 'n', targetLinkUri: LAUNCH_URL, header: { kid: 'nope' } });
    expect(decodeProtectedHeader(token).kid).toBe('nope');
    expect(await rejectionCode(verifyWithServedJwks(platform, token))).toBe('ERR_JWKS_NO_MATCHING_KEY');
  });

  it('a deleted header alg is written after signing, so jose refuses the token', async () => {
    const platform = await platformFor();
    const token = await platform.mintIdToken({ nonce: 'n', targetLinkUri: LAUNCH_URL, header: { alg: undefined } });
    expect(decodeProtectedHeader(token)).toEqual({ kid: platform.kid, typ: 'JWT' });
    expect(await rejectionCode(verifyWithServedJwks(platform, token))).toBe('ERR_JWS_INVALID');
  });

  it("signWith 'none' builds an unsigned token that jose refuses", async () => {
    const platform = await platformFor();
    const token = await platform.mintIdToken({ nonce: 'n', targetLinkUri: LAUNCH_URL, signWith: 'none' });
    expect(token.endsWith('.')).toBe(true);
    expect(decodeProtectedHeader(token).alg).toBe('none');
    expect(decodeJwt(token).nonce).toBe('n');
    expect(await rejectionCode(verifyWithServedJwks(platform, token))).toBe('ERR_JOSE_NOT_SUPPORTED');
    expect(await rejectionCode(verifyWithServedJwks(platform, token, ['RS256']))).toBe('ERR_JOSE_ALG_NOT_ALLOWED');
  });

  it('HS256 signs with the client id as secret, and the JWKS refuses it', async () => {
    const platform = await platformFor();
    const token = await platform.mintIdToken({ nonce: 'n', targetLinkUri: LAUNCH_URL, alg: 'HS256' });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', kid: platform.kid, typ: 'JWT' });
    const secret = new TextEncoder().encode(platform.clientId);
    await expect(jwtVerify(token, secret)).resolves.toMatchObject({ payload: { nonce: 'n' } });
    expect(await rejectionCode(verifyWithServedJwks(platform, token))).toBe('ERR_JOSE_NOT_SUPPORTED');
    expect(await rejectionCode(verifyWithServedJwks(platform, token, ['RS256']))).toBe('ERR_JOSE_ALG_NOT_ALLOWED');
  });

  it("signWith 'foreign-key' carries the platform kid but fails signature verification", async () => {
    const platform = await platformFor();
    const token = await platform.mintIdToken({ nonce: 'n', targetLinkUri: LAUNCH_URL, signWith: 'foreign-key' });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'RS256', kid: platform.kid, typ: 'JWT' });
    expect(await rejectionCode(verifyWithServedJwks(platform, token))).toBe('ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  });

  it('signs another alg of the same key type with the platform key, and refuses a mismatched type', async () => {
    const platform = await platformFor();
    const token = await platform.mintIdToken({ nonce: 'n', targetLinkUri: LAUNCH_URL, alg: 'PS256' });
    await expect(verifyWithServedJwks(platform, token)).resolves.toMatchObject({ protectedHeader: { alg: 'PS256' } });
    await expect(platform.mintIdToken({ nonce: 'n', targetLinkUri: LAUNCH_URL, alg: 'ES256' })).rejects.toThrow(TypeError);
  });

  it('follows the (faked) clock and shifts iat/exp/nbf', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
    const platform = await platformFor();
    const t0 = Date.UTC(2030, 0, 1) / 1000;
    const shifted = decodeJwt(
      await platform.mintIdToken({
        nonce: 'n',
        targetLinkUri: LAUNCH_URL,
        iatOffsetSeconds: -7200,
        expiresInSeconds: 60,
        nbfOffsetSeconds: 0,
      }),
    );
    expect(shifted).toMatchObject({ iat: t0 - 7200, exp: t0 - 7140, nbf: t0 - 7200 });
    const expired = await platform.mintIdToken({ nonce: 'n', targetLinkUri: LAUNCH_URL, iatOffsetSeconds: -7200 });
    expect(await rejectionCode(verifyWithServedJwks(platform, expired))).toBe('ERR_JWT_EXPIRED');
  });
});

describe('rotateKey', () => {
  it('serves only the new kid; tokens signed before no longer verify', async () => {
    const platform = await platformFor();
    const before = await platform.mintIdToken({ nonce: 'n', targetLinkUri: LAUNCH_URL });
    const { oldKid, newKid } = await platform.rotateKey();
    expect(newKid).not.toBe(oldKid);
    expect(platform.kid).toBe(newKid);
    const jwks = (await (await fetch(platform.keysetUrl)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((k) => k.kid)).toEqual([newKid]);
    expect(await rejectionCode(verifyWithServedJwks(platform, before))).toBe('ERR_JWKS_NO_MATCHING_KEY');
    const after = await platform.mintIdToken({ nonce: 'n', targetLinkUri: LAUNCH_URL });
    await expect(verifyWithServedJwks(platform, after)).resolves.toMatchObject({ protectedHeader: { kid: newKid } });
  });
});

describe('loginInitiation', () => {
  it('is a GET with lti_deployment_id=1 for Open edX', async () => {
    const platform = await platformFor();
    const init = platform.loginInitiation(`${LOGIN_URL}?app=7`, {
      targetLinkUri: LAUNCH_URL,
      sub: 'learner-1',
      messageHint: 'hint-1',
      extra: { lti_storage_target: '_parent' },
    });
    expect(init.method).toBe('GET');
    expect(init.body).toBeUndefined();
    const url = new URL(init.url);
    expect(`${url.origin}${url.pathname}`).toBe(LOGIN_URL);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      app: '7',
      iss: platform.issuer,
      client_id: platform.clientId,
      lti_deployment_id: '1',
      target_link_uri: LAUNCH_URL,
      login_hint: 'learner-1',
      lti_message_hint: 'hint-1',
      lti_storage_target: '_parent',
    });
  });

  it('is a form POST with deployment_id for Canvas', async () => {
    const platform = await platformFor({ variant: 'canvas' });
    const init = platform.loginInitiation(LOGIN_URL, { targetLinkUri: LAUNCH_URL });
    expect(init).toMatchObject({ method: 'POST', url: LOGIN_URL });
    expect(init.body?.get('deployment_id')).toBe(platform.deploymentId);
    expect(init.body?.has('lti_deployment_id')).toBe(false);
    expect(init.body?.get('login_hint')).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('authorize', () => {
  it('answers a valid auth request with a launch for the initiated user', async () => {
    const platform = await platformFor();
    const initiation = initiationParams(platform, 'learner-9');
    const result = await platform.authorize(authRequestUrl(platform, initiation), { expectedRedirectUri: LAUNCH_URL });
    expect(result).toMatchObject({ state: 'state-123', nonce: 'nonce-456', redirectUri: LAUNCH_URL });
    const { payload } = await verifyWithServedJwks(platform, result.idToken);
    expect(payload).toMatchObject({ sub: 'learner-9', nonce: 'nonce-456', [LTI_CLAIM.targetLinkUri]: LAUNCH_URL });
  });

  it('applies overrides given at login initiation and at authorize()', async () => {
    const platform = await platformFor();
    const init = platform.loginInitiation(LOGIN_URL, {
      targetLinkUri: LAUNCH_URL,
      launch: { claims: { name: 'Ada', email: 'ada@example.org' }, resourceLinkId: 'block-2' },
    });
    const result = await platform.authorize(authRequestUrl(platform, new URL(init.url).searchParams), {
      claims: { email: undefined },
    });
    const payload = decodeJwt(result.idToken);
    expect(payload.name).toBe('Ada');
    expect(payload).not.toHaveProperty('email');
    expect(payload[LTI_CLAIM.resourceLink]).toMatchObject({ id: 'block-2' });
    expect((payload[AGS_ENDPOINT_CLAIM] as { lineitem: string }).lineitem).toBe(platform.lineitemUrl('block-2'));
  });

  it.each([
    ['nonce', { nonce: undefined }],
    ['state', { state: undefined }],
    ['response_type', { response_type: 'code' }],
    ['response_mode', { response_mode: 'query' }],
    ['scope', { scope: 'profile' }],
    ['prompt', { prompt: 'login' }],
    ['client_id', { client_id: 'someone-else' }],
    ['login_hint', { login_hint: 'another-user' }],
    ['lti_message_hint', { lti_message_hint: 'never-issued' }],
  ])('refuses a request with a bad %s', async (parameter, overrides) => {
    const platform = await platformFor();
    const url = authRequestUrl(platform, initiationParams(platform), overrides);
    await expect(platform.authorize(url)).rejects.toMatchObject({ code: 'ERR_AUTH_REQUEST', parameter });
  });

  it('refuses a redirect_uri other than the expected or registered one', async () => {
    const platform = await platformFor();
    const url = authRequestUrl(platform, initiationParams(platform), { redirect_uri: `${TOOL}/elsewhere` });
    const error = await platform.authorize(url, { expectedRedirectUri: LAUNCH_URL }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthRequestError);
    expect(error).toMatchObject({ parameter: 'redirect_uri', message: expect.stringContaining(LAUNCH_URL) });
    platform.setToolLaunchUrl(LAUNCH_URL);
    await expect(platform.authorize(url)).rejects.toMatchObject({ parameter: 'redirect_uri' });
  });

  it('refuses a request sent elsewhere than the auth login URL', async () => {
    const platform = await platformFor();
    const url = authRequestUrl(platform, initiationParams(platform)).replace('/launch/', '/launch-other/');
    await expect(platform.authorize(url)).rejects.toMatchObject({ parameter: 'endpoint' });
  });

  it('forgets message hints after 600 s', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
    const platform = await platformFor();
    const url = authRequestUrl(platform, initiationParams(platform));
    vi.setSystemTime(new Date('2030-01-01T00:09:59Z'));
    await expect(platform.authorize(url)).resolves.toMatchObject({ state: 'state-123' });
    vi.setSystemTime(new Date('2030-01-01T00:10:00Z'));
    await expect(platform.authorize(url)).rejects.toMatchObject({ parameter: 'lti_message_hint' });
  });
});

describe('auth login endpoint (HTTP)', () => {
  it('answers with an auto-submitting form posting id_token and state to redirect_uri', async () => {
    const platform = await platformFor();
    platform.setToolLaunchUrl(LAUNCH_URL);
    const response = await fetch(authRequestUrl(platform, initiationParams(platform, 'learner-3')));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await response.text();
    expect(page).toContain(`<form id="lti-launch" method="post" action="${LAUNCH_URL}">`);
    expect(page).toContain('<input type="hidden" name="state" value="state-123">');
    expect(page).toContain('.submit()');
    const idToken = /name="id_token" value="([^"]+)"/.exec(page)?.[1];
    const { payload } = await verifyWithServedJwks(platform, idToken!);
    expect(payload).toMatchObject({ sub: 'learner-3', nonce: 'nonce-456' });
  });

  it('accepts the auth request as a form POST too, and shows an error page for a bad one', async () => {
    const platform = await platformFor();
    const params = new URL(authRequestUrl(platform, initiationParams(platform))).searchParams;
    const ok = await fetch(platform.authLoginUrl, { method: 'POST', body: params });
    expect(ok.status).toBe(200);
    params.delete('nonce');
    const bad = await fetch(platform.authLoginUrl, { method: 'POST', body: params });
    expect(bad.status).toBe(400);
    const page = await bad.text();
    expect(page).toContain('nonce: missing');
    expect(page).not.toContain(' at ');
  });
});

/** A tool's key pair and a JWKS server for it, as the token endpoint fetches it. */
async function startToolKeyset(): Promise<{ url: string; privateKey: CryptoKey; kid: string; fetches: () => number }> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const kid = randomUUID();
  const body = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] });
  let fetches = 0;
  const server: Server = createServer((_req, res) => {
    fetches += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  running.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
  server.unref();
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/jwks`, privateKey, kid, fetches: () => fetches };
}

async function clientAssertion(
  platform: TestPlatform,
  key: { privateKey: CryptoKey; kid: string },
  claims: JWTPayload = {},
): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: platform.clientId,
    sub: platform.clientId,
    aud: platform.authTokenUrl,
    iat,
    exp: iat + 300,
    jti: randomUUID(),
    ...claims,
  })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

function tokenForm(assertion: string, scope = `${AGS_SCOPE.score} ${AGS_SCOPE.lineitemReadonly}`): URLSearchParams {
  return new URLSearchParams({
    grant_type: 'client_credentials',
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: assertion,
    scope,
  });
}

async function postToken(platform: TestPlatform, form: URLSearchParams) {
  const response = await fetch(platform.authTokenUrl, { method: 'POST', body: form });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('token endpoint', () => {
  it('grants a token for a correctly signed client assertion, fetching the tool keyset each time', async () => {
    const platform = await platformFor();
    const tool = await startToolKeyset();
    platform.setToolKeysetUrl(tool.url);
    const assertion = await clientAssertion(platform, tool);
    const scope = `${AGS_SCOPE.score} ${AGS_SCOPE.lineitemReadonly} https://example.org/unknown-scope`;
    const { status, body } = await postToken(platform, tokenForm(assertion, scope));
    expect(status).toBe(200);
    expect(body).toEqual({
      access_token: expect.any(String),
      token_type: 'bearer',
      expires_in: 3600,
      scope: `${AGS_SCOPE.score} ${AGS_SCOPE.lineitemReadonly}`,
    });
    await postToken(platform, tokenForm(await clientAssertion(platform, tool)));
    expect(tool.fetches()).toBe(2);
    expect(platform.tokenRequests[0]).toMatchObject({
      ok: true,
      assertionHeader: { alg: 'RS256', kid: tool.kid },
      assertionPayload: { iss: platform.clientId, aud: platform.authTokenUrl },
    });
    expect(platform.tokenRequests[0]!.form.get('client_assertion')).toBe(assertion);
  });

  it('refuses a wrong aud and a reused jti with invalid_grant', async () => {
    const platform = await platformFor();
    const tool = await startToolKeyset();
    platform.setToolKeysetUrl(tool.url);
    const wrongAud = await clientAssertion(platform, tool, { aud: `${platform.issuer}/other` });
    expect(await postToken(platform, tokenForm(wrongAud))).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const assertion = await clientAssertion(platform, tool);
    expect((await postToken(platform, tokenForm(assertion))).status).toBe(200);
    expect(await postToken(platform, tokenForm(assertion))).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant', error_description: expect.stringContaining('already used') },
    });
    expect(platform.tokenRequests.map((r) => r.ok)).toEqual([false, true, false]);
    expect(platform.tokenRequests[0]!.error).toMatch(/^invalid_grant: .*aud/);
  });

  it('refuses bad grants, foreign signatures and a missing tool keyset', async () => {
    const platform = await platformFor();
    const tool = await startToolKeyset();
    const assertion = await clientAssertion(platform, tool);
    expect(await postToken(platform, tokenForm(assertion))).toMatchObject({ status: 400, body: { error: 'invalid_client' } });
    platform.setToolKeysetUrl(tool.url);
    const form = tokenForm(assertion);
    form.set('grant_type', 'authorization_code');
    expect(await postToken(platform, form)).toMatchObject({ body: { error: 'unsupported_grant_type' } });
    form.delete('scope');
    expect(await postToken(platform, form)).toMatchObject({ body: { error: 'invalid_request' } });
    const stranger = { ...(await generateKeyPair('RS256')), kid: tool.kid };
    expect(await postToken(platform, tokenForm(await clientAssertion(platform, stranger)))).toMatchObject({
      status: 400,
      body: { error: 'invalid_client' },
    });
    const wrongIss = await clientAssertion(platform, tool, { iss: 'someone-else' });
    expect(await postToken(platform, tokenForm(wrongIss))).toMatchObject({ body: { error: 'invalid_grant' } });
    const expired = await clientAssertion(platform, tool, { exp: Math.floor(Date.now() / 1000) - 1 });
    expect(await postToken(platform, tokenForm(expired))).toMatchObject({ body: { error: 'invalid_grant' } });
    const noJti = await clientAssertion(platform, tool, { jti: undefined });
    expect(await postToken(platform, tokenForm(noJti))).toMatchObject({ body: { error: 'invalid_grant' } });
    expect(platform.tokenRequests.filter((r) => r.ok)).toEqual([]);
  });

  it('plays queued faults first, then behaves normally', async () => {
    const platform = await platformFor();
    const tool = await startToolKeyset();
    platform.setToolKeysetUrl(tool.url);
    platform.failNext('token', { status: 503 }, { status: 401, body: 'nope' });
    const first = await fetch(platform.authTokenUrl, { method: 'POST', body: tokenForm(await clientAssertion(platform, tool)) });
    expect(first.status).toBe(503);
    const second = await fetch(platform.authTokenUrl, { method: 'POST', body: tokenForm(await clientAssertion(platform, tool)) });
    expect([second.status, await second.text()]).toEqual([401, 'nope']);
    expect((await postToken(platform, tokenForm(await clientAssertion(platform, tool)))).status).toBe(200);
    expect(platform.tokenRequests.map((r) => r.error)).toEqual(['fault: 503', 'fault: 401', undefined]);
    expect(tool.fetches()).toBe(1);
  });
});

function postScore(url: string, token: string | undefined, body: Record<string, unknown>, contentType = SCORE_CONTENT_TYPE) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': contentType, ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });
}

function scoresUrl(lineitem: string): string {
  const url = new URL(lineitem);
  url.pathname += '/scores';
  return url.toString();
}

function score(userId: string, timestamp: string, scoreGiven = 1) {
  return { userId, scoreGiven, scoreMaximum: 1, activityProgress: 'Completed', gradingProgress: 'FullyGraded', timestamp };
}

describe('scores endpoint', () => {
  it('records a valid score posted with a token from the token endpoint', async () => {
    const platform = await platformFor();
    const tool = await startToolKeyset();
    platform.setToolKeysetUrl(tool.url);
    const { body } = await postToken(platform, tokenForm(await clientAssertion(platform, tool)));
    const token = body.access_token as string;
    const url = scoresUrl(platform.lineitemUrl());
    expect(url).toMatch(/\/lti-ags\/\d+\/scores\?resource_link_id=/);
    const sent = score('learner-1', '2030-01-01T00:00:00.000Z');
    const response = await postScore(url, token, sent);
    expect(response.status).toBe(200);
    expect(platform.scores).toEqual([
      {
        lineitem: platform.lineitemUrl(),
        authorization: `Bearer ${token}`,
        contentType: SCORE_CONTENT_TYPE,
        body: sent,
        storedAt: expect.any(Number),
        answeredAt: expect.any(Number),
      },
    ]);
  });

  it('scoreAnswerDelayMs: stores the score at once, answers after the delay', async () => {
    const platform = await platformFor({ scoreAnswerDelayMs: () => 300 });
    const url = scoresUrl(platform.lineitemUrl());
    const answer = postScore(url, platform.issueAccessToken(), score('learner-1', '2030-01-01T00:00:00.000Z'));
    await vi.waitFor(() => expect(platform.scores).toHaveLength(1), { timeout: 2_000, interval: 10 });
    expect(platform.scores[0]!.answeredAt).toBeUndefined();
    expect((await answer).status).toBe(200);
    const { storedAt, answeredAt } = platform.scores[0]!;
    expect(answeredAt! - storedAt).toBeGreaterThanOrEqual(290);
  });

  it('answers 403 without a valid token or the score scope, 415 for another media type', async () => {
    const platform = await platformFor();
    const url = scoresUrl(platform.lineitemUrl());
    const sent = score('learner-1', '2030-01-01T00:00:00.000Z');
    expect((await postScore(url, undefined, sent)).status).toBe(403);
    expect((await postScore(url, 'made-up', sent)).status).toBe(403);
    expect((await postScore(url, platform.issueAccessToken([AGS_SCOPE.lineitemReadonly]), sent)).status).toBe(403);
    expect((await postScore(url, platform.issueAccessToken(), sent, 'application/json')).status).toBe(415);
    expect(platform.scores).toEqual([]);
    expect(platform.scoreAttempts.map((a) => a.status)).toEqual([403, 403, 403, 415]);
  });

  it('answers 403 once the token has expired', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
    const platform = await platformFor();
    const token = platform.issueAccessToken();
    vi.setSystemTime(new Date('2030-01-01T01:00:00Z'));
    expect((await postScore(scoresUrl(platform.lineitemUrl()), token, score('u', '2030-01-01T01:00:00Z'))).status).toBe(403);
  });

  it('answers 400 for a timestamp not later than the last one stored for that user', async () => {
    const platform = await platformFor();
    const token = platform.issueAccessToken();
    const url = scoresUrl(platform.lineitemUrl());
    expect((await postScore(url, token, score('u1', '2030-01-01T00:00:01.000Z'))).status).toBe(200);
    expect((await postScore(url, token, score('u1', '2030-01-01T00:00:01.000Z'))).status).toBe(400);
    expect((await postScore(url, token, score('u1', '2030-01-01T00:00:00.999Z'))).status).toBe(400);
    expect((await postScore(url, token, score('u2', '2030-01-01T00:00:00.000Z'))).status).toBe(200);
    expect((await postScore(url, token, score('u1', '2030-01-01T00:00:01.001Z', 0.5))).status).toBe(200);
    expect(platform.scores.map((s) => [s.body.userId, s.body.scoreGiven])).toEqual([
      ['u1', 1],
      ['u2', 1],
      ['u1', 0.5],
    ]);
  });

  it('validates the body as Open edX does', async () => {
    const platform = await platformFor();
    const token = platform.issueAccessToken();
    const url = scoresUrl(platform.lineitemUrl());
    const base = score('u', '2030-01-01T00:00:00.000Z');
    expect((await postScore(url, token, { ...base, timestamp: 'yesterday' })).status).toBe(400);
    expect((await postScore(url, token, { ...base, scoreMaximum: undefined })).status).toBe(400);
    expect((await postScore(url, token, { ...base, userId: undefined })).status).toBe(400);
    expect((await postScore(url, token, { ...base, activityProgress: 'Done' })).status).toBe(500);
    expect(platform.scores).toEqual([]);
  });

  it('answers 404 when the line item query string is lost or /scores is appended after it', async () => {
    const platform = await platformFor();
    const token = platform.issueAccessToken();
    const lineitem = platform.lineitemUrl();
    const sent = score('u', '2030-01-01T00:00:00.000Z');
    expect((await postScore(`${lineitem.split('?')[0]}/scores`, token, sent)).status).toBe(404);
    expect((await postScore(`${lineitem}/scores`, token, sent)).status).toBe(404);
    expect(platform.scores).toEqual([]);
  });

  it('plays queued faults in order, then stores normally', async () => {
    const platform = await platformFor();
    const token = platform.issueAccessToken();
    const url = scoresUrl(platform.lineitemUrl());
    platform.failNext('scores', { status: 503 }, { status: 429, headers: { 'retry-after': '1' } }, { hangMs: 50 });
    const first = await postScore(url, token, score('u', '2030-01-01T00:00:00.000Z'));
    expect(first.status).toBe(503);
    const second = await postScore(url, token, score('u', '2030-01-01T00:00:00.000Z'));
    expect([second.status, second.headers.get('retry-after')]).toEqual([429, '1']);
    const started = performance.now();
    const third = await postScore(url, token, score('u', '2030-01-01T00:00:00.000Z'));
    expect(third.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(platform.scores).toHaveLength(1);
    expect(platform.scoreAttempts.map((a) => [a.status, a.error])).toEqual([
      [503, 'fault: 503'],
      [429, 'fault: 429'],
      [200, undefined],
    ]);
  });

  it('close() ends a hanging request at once', async () => {
    const platform = await startTestPlatform();
    platform.failNext('scores', { hangMs: 60_000, status: 503 });
    const pending = postScore(scoresUrl(platform.lineitemUrl()), platform.issueAccessToken(), score('u', '2030-01-01T00:00:00Z'));
    await new Promise((resolve) => setTimeout(resolve, 100)); // let the request reach the fault
    expect(platform.scoreAttempts).toEqual([]);
    // The fault hangs for 60 s, twice the test's timeout: a close() that waited for it fails the test.
    await platform.close();
    await expect(pending).rejects.toThrow();
  });
});
