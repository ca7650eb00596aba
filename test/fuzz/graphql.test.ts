/**
 * Fuzzing GraphQL (`/graphql`): 10,000 requests — generated documents over the real schema
 * (random fields, aliases, arguments of every literal kind, variables, inline fragments,
 * named fragments, directives, deep nesting), the mutations that take ids aimed at another
 * owner's objects or at garbage ids, garbage and huge bodies, odd methods and content
 * types, and missing, malformed, unknown and revoked tokens. Never a 5xx, never an
 * unexpected (masked, logged) error, never an answer without a valid token, never a write.
 * The "valid documents" (checked against the schema below) carry hostile ids and cursors, as
 * literals and as variables, into node(id), app(id), the mutations and every connection: with
 * a valid token each one runs (200), node and app answer null, the mutations a typed error,
 * and a cursor the API did not hand out is BAD_CURSOR.
 * A GET whose path + query is over 8 KiB is 414 and a body over 256 KiB is 413 before GraphQL
 * sees them; a document over the limits of server/graphql/limits.ts is 400 with the limit's
 * code, before the token is checked (README "Request limits", "GraphQL API").
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import fc from 'fast-check';
import { Lexer, parse, Source, specifiedRules, TokenKind, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, MAX_GRAPHQL_BODY_BYTES, type App } from '../../server/app.ts';
import type { Database } from '../../server/db/client.ts';
import { QUERY_LIMITS, queryLimitsRule } from '../../server/graphql/limits.ts';
import { getSchema } from '../../schema/index.ts';
import { createOwner, NO_RATE_LIMITS, TEST_PUBLIC_URL, testConfig } from '../helpers/server.ts';
import {
  anyBody,
  anyContentType,
  anyCookieHeader,
  changedTables,
  errorRecordingLogger,
  expectSaneResponse,
  expectUriTooLong,
  FUZZ_TIMEOUT_MS,
  fuzzParameters,
  headerValue,
  hostileString,
  snapshotTables,
  uriTooLong,
  WriteWatch,
  type TableSnapshot,
} from './support.ts';

const T0 = Date.now();
let db: Database;
let watch: WriteWatch;
let app: App;
let loggedErrors: string[];
let baseline: TableSnapshot;
/** The caller owns nothing but itself; the ids belong to another owner. */
let token: string;
let revokedToken: string;
const foreignIds: string[] = [];
/** Cursors of another owner's rows: well formed, so they page (to nothing), never an error. */
const foreignCursors: string[] = [];

beforeAll(async () => {
  watch = await WriteWatch.create();
  db = watch.db;
  const recording = errorRecordingLogger();
  loggedErrors = recording.errors;
  // A frozen clock: the token's lastUsedAt is written by the warm-up request, then never again.
  // Rate limits off: 10,000 requests from one in-process "client", most with one token, would
  // otherwise be 429s that measure the limiter (tested in test/http/request-limits.test.ts).
  app = createApp(testConfig({ rateLimits: NO_RATE_LIMITS }), { db, logger: recording.logger, now: () => new Date(T0) });
  await app.toolKeys.ensureKey();
  ({ token } = await createOwner(db, 'Caller'));
  const other = await createOwner(db, 'Other');
  const revoked = await createOwner(db, 'Revoked');
  revokedToken = revoked.token;
  await db.prisma.apiToken.updateMany({ where: { ownerId: revoked.ownerId }, data: { revokedAt: new Date(T0) } });
  const otherApp = await db.prisma.app.create({ data: { ownerId: other.ownerId, name: 'Theirs', exerciseUrl: 'https://ex.example.org/', isPublic: true } });
  const registration = await db.prisma.ltiRegistration.create({
    data: { appId: otherApp.id, issuer: 'https://lms.example.org', clientId: 'c', authLoginUrl: 'https://lms.example.org/a', authTokenUrl: 'https://lms.example.org/t', keysetUrl: 'https://lms.example.org/k', deploymentIds: ['1'] },
  });
  const otherToken = await db.prisma.apiToken.findFirstOrThrow({ where: { ownerId: other.ownerId } });
  foreignIds.push(
    encodeGlobalID('App', otherApp.id),
    encodeGlobalID('LtiRegistration', registration.id),
    encodeGlobalID('ApiToken', otherToken.id),
    encodeGlobalID('Grade', otherApp.id),
    encodeGlobalID('Launch', otherApp.id),
    otherApp.id,
    encodeGlobalID('App', '\u0000'),
    encodeGlobalID('Owner', other.ownerId),
    encodeGlobalID('Nope', 'x'),
    encodeGlobalID('App', "' OR 1=1 --"),
    encodeGlobalID('App', 'x'.repeat(5000)),
  );
  foreignCursors.push(b64(`GPC:S:${otherApp.id}`), b64(`GPC:S:${registration.id}`));
  const warmUp = await app.fetch(graphqlRequest('POST', { 'content-type': 'application/json', authorization: `Bearer ${token}` }, JSON.stringify({ query: '{ viewer { id } }' })));
  expect(warmUp.status).toBe(200);
  baseline = await snapshotTables(db);
  await watch.sync();
});
afterAll(async () => {
  await db?.close();
});

function graphqlRequest(method: string, headers: Record<string, string>, body: BodyInit | undefined, query = ''): Request {
  const hasBody = method !== 'GET' && method !== 'HEAD' && body !== undefined;
  return new Request(`${TEST_PUBLIC_URL}/graphql${query}`, { method, headers, ...(hasBody ? { body } : {}) });
}

// ---------------------------------------------------------------------------------------
// Documents

const OBJECT_FIELDS = ['viewer', 'apps', 'app', 'node', 'toolKeys', 'edges', 'node', 'pageInfo', 'ltiTool', 'registrations', 'launches', 'grades', 'apiTokens', '__schema', '__type', 'types', 'fields', 'owner', 'grade', 'launch'];
const LEAF_FIELDS = ['id', 'name', '__typename', 'exerciseUrl', 'isPublic', 'launchUrl', 'hasNextPage', 'endCursor', 'kid', 'state', 'code', 'message', 'issuer', 'clientId', 'deploymentIds', 'createdAt', 'prefix', 'token', 'nope', 'x'];
/** Mutations that only ever find nothing for this caller (it owns no app, and the ids are someone else's or garbage). */
const MUTATIONS = ['deleteApp', 'removeLtiRegistration', 'retryGradeDelivery', 'retryFailedGradeDeliveries', 'revokeApiToken', 'rotateToolKey', 'updateApp', 'updateLtiRegistration', 'addLtiRegistration'];
const TYPES = ['App', 'Node', 'Query', 'Mutation', 'ApiToken', 'Error', 'NotFoundError', 'String', 'Nope', 'AppPayload'];
const ARG_NAMES = ['id', 'first', 'last', 'after', 'before', 'input', 'name', 'appId', 'if', 'x'];

const gqlString = hostileString.map((s) => JSON.stringify(s));
const idLiteral = fc.oneof(fc.constantFrom(...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(String)).map((i) => JSON.stringify(foreignIds[Number(i)] ?? '')), gqlString);

const valueArb: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 3, depthSize: 'small' },
    gqlString,
    idLiteral,
    fc.constantFrom('0', '-1', '2147483648', '99999999999999999999', '1.5', '1e400', 'true', 'false', 'null', 'ENUM', '$v', '$input', '""', '"""block"""'),
    fc.array(tie('value'), { maxLength: 3 }).map((vs) => `[${vs.join(', ')}]`),
    fc.array(fc.tuple(fc.constantFrom('id', 'name', 'exerciseUrl', 'isPublic', 'appId', 'issuer', 'clientId', 'deploymentIds', 'label', 'x'), tie('value')), { maxLength: 4 }).map((kvs) => `{ ${kvs.map(([k, v]) => `${k}: ${v}`).join(', ')} }`),
  ),
})).value;

const argsArb = fc.option(
  fc.array(fc.tuple(fc.constantFrom(...ARG_NAMES), valueArb), { minLength: 1, maxLength: 3 }).map((as) => `(${as.map(([k, v]) => `${k}: ${v}`).join(', ')})`),
  { nil: '' },
);
const aliasArb = fc.option(fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,8}$/).map((a) => `${a}: `), { nil: '' });
const directiveArb = fc.option(fc.constantFrom('@include(if: true)', '@skip(if: $v)', '@include(if: "x")', '@deprecated', '@unknown', '@skip'), { nil: '' });

const selectionArb: fc.Arbitrary<string> = fc.letrec<{ selection: string; field: string }>((tie) => ({
  selection: fc.array(tie('field'), { minLength: 1, maxLength: 4 }).map((fields) => `{ ${fields.join(' ')} }`),
  field: fc.oneof(
    { maxDepth: 4, depthSize: 'small' },
    fc.tuple(aliasArb, fc.constantFrom(...LEAF_FIELDS), argsArb, directiveArb).map((parts) => parts.join('')),
    fc.tuple(aliasArb, fc.constantFrom(...OBJECT_FIELDS), argsArb, directiveArb, tie('selection')).map(([a, f, args, d, s]) => `${a}${f}${args}${d} ${s}`),
    fc.tuple(fc.constantFrom(...TYPES), tie('selection')).map(([t, s]) => `... on ${t} ${s}`),
    fc.constantFrom('...F', '...Missing', '__typename'),
  ),
})).selection;

const mutationArb = fc
  .array(fc.tuple(aliasArb, fc.constantFrom(...MUTATIONS), fc.oneof(idLiteral.map((id) => `(input: { id: ${id} })`), idLiteral.map((id) => `(input: { appId: ${id}, issuer: "https://x.example.org", clientId: "c2", authLoginUrl: "https://x.example.org/a", authTokenUrl: "https://x.example.org/t", keysetUrl: "https://x.example.org/k", deploymentIds: ["1"] })`), idLiteral.map((id) => `(input: { id: ${id}, name: "renamed", isPublic: false })`), argsArb), selectionArb), { minLength: 1, maxLength: 3 })
  .map((ms) => `mutation M($v: Boolean) { ${ms.map(([a, m, args, s]) => `${a}${m}${args} ${s}`).join(' ')} }`);

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** A hostile string fit for a GraphQL string literal: lone surrogates cannot be written in one (parse error). */
const asLiteral = (s: string) => JSON.stringify(s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD'));
/** Short enough that two literals stay far inside the document length limit. */
const shortHostile = hostileString.map((s) => s.slice(0, 300));

/** Ids: other owners' objects' global ids, garbage, and well-made global ids around hostile ids. */
const hostileIdArb: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 0, max: 10 }).map((i) => foreignIds[i] ?? ''),
  hostileString,
  fc.tuple(fc.constantFrom('App', 'LtiRegistration', 'Grade', 'Owner', 'Nope', 'Query', 'NotFoundError', ''), hostileString).map(([t, id]) => encodeGlobalID(t, id)),
);
/** Cursors: crafted ones of every chunk type, garbage, and base64 of hostile ids after the real prefix. */
const hostileCursorArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    b64('GPC:S:\u0000'),
    b64('GPC:S:a\u0000b'),
    b64('GPC:N:5'),
    b64('GPC:O:{"gt":""}'),
    b64('GPC:D:0'),
    b64('GPC:I:1'),
    b64('GPC:Z:'),
    b64('GPC:T:["S:a"]'),
    b64('GPC:J:[1]'),
    b64('GPC:S:'),
    b64(`GPC:S:${'x'.repeat(65)}`),
    b64('XYZ:S:a'),
    'garbage',
    '',
  ),
  fc.integer({ min: 0, max: 1 }).map((i) => foreignCursors[i] ?? ''),
  hostileString,
  hostileString.map((id) => b64(`GPC:S:${id}`)),
);

/** A generated request document, with its own variables when it has any. */
interface Doc {
  query: string;
  variables?: Record<string, unknown>;
  /** Valid against the schema and within every limit: with a valid token it runs (200). */
  valid?: true;
  /** What `data` must then match (toMatchObject), where it is known. */
  data?: Record<string, unknown>;
}

const NOT_FOUND = { __typename: 'NotFoundError', code: 'ERR_NOT_FOUND' };

/** Valid documents with hostile ids and cursors: they run (200) with the token, and get 401 without. */
const validDocumentArb: fc.Arbitrary<Doc> = fc.oneof(
  fc.constantFrom<Doc>(
    { query: '{ viewer { id name apiTokens(first: 5) { edges { node { id name prefix } } } } }', valid: true },
    { query: '{ apps(first: 100) { edges { node { id name } } pageInfo { hasNextPage } } }', valid: true, data: { apps: { edges: [], pageInfo: { hasNextPage: false } } } },
    { query: '{ toolKeys { kid } }', valid: true },
    { query: 'mutation { rotateToolKey { __typename ... on Error { code } } }', valid: true, data: { rotateToolKey: { __typename: 'ForbiddenError', code: 'ERR_FORBIDDEN' } } },
  ),
  // Ids as literals: node and app find nothing, whatever the id.
  fc.oneof(hostileIdArb.map((id) => id.slice(0, 300)), shortHostile).map((id): Doc => ({
    query: `{ node(id: ${asLiteral(id)}) { id __typename } app(id: ${asLiteral(id)}) { id name registrations(first: 5) { edges { node { id } } } } }`,
    valid: true,
    data: { node: null, app: null },
  })),
  // Ids as variables: any JSON string, lone surrogates and NULs included.
  hostileIdArb.map((id): Doc => ({
    query: 'query($id: ID!) { node(id: $id) { id __typename ... on App { name } } app(id: $id) { id launches(first: 5) { edges { node { id } } } } }',
    variables: { id },
    valid: true,
    data: { node: null, app: null },
  })),
  // Cursors as variables and literals, on the root list and on nested ones.
  fc.tuple(fc.integer({ min: -5, max: 200 }), fc.option(hostileCursorArb, { nil: undefined })).map(([first, after]): Doc => ({
    query: `query Q($after: String) { apps(first: ${first}, after: $after) { edges { cursor } } }`,
    ...(after === undefined ? {} : { variables: { after } }),
    valid: true,
  })),
  fc.tuple(hostileIdArb, hostileCursorArb, fc.constantFrom('registrations(first: 5, after: $c)', 'launches(last: 5, before: $c)', 'grades(after: $c)', 'launchRefusals(first: 1, after: $c)')).map(([id, c, connection]): Doc => ({
    query: `query($id: ID!, $c: String) { app(id: $id) { id ${connection} { edges { cursor node { id } } pageInfo { endCursor } } } }`,
    variables: { id, c },
    valid: true,
  })),
  fc.tuple(fc.oneof(hostileCursorArb.map((c) => c.slice(0, 400)), shortHostile), fc.constantFrom('first: 3, after', 'last: 3, before')).map(([c, args]): Doc => ({
    query: `{ apps(${args}: ${asLiteral(c)}) { edges { cursor } } viewer { name } }`,
    valid: true,
  })),
  // Mutations on someone else's or garbage ids: always not found, nothing written.
  fc.tuple(fc.constantFrom('deleteApp', 'removeLtiRegistration', 'retryGradeDelivery', 'revokeApiToken', 'updateApp', 'updateLtiRegistration'), hostileIdArb.map((id) => id.slice(0, 300))).map(([m, id]): Doc => ({
    query: `mutation { ${m}(input: { id: ${asLiteral(id)} }) { __typename ... on Error { code message } } }`,
    valid: true,
    data: { [m]: NOT_FOUND },
  })),
  // The same for the mutation that takes an app's id as appId.
  hostileIdArb.map((id): Doc => ({
    query: `mutation { retryFailedGradeDeliveries(input: { appId: ${asLiteral(id.slice(0, 300))} }) { __typename ... on Error { code message } } }`,
    valid: true,
    data: { retryFailedGradeDeliveries: NOT_FOUND },
  })),
  hostileIdArb.map((id): Doc => ({
    query: 'mutation($id: ID!) { updateApp(input: { id: $id, name: "renamed", isPublic: false }) { __typename ... on Error { code } } updateLtiRegistration(input: { id: $id, label: null }) { __typename ... on Error { code } } }',
    variables: { id },
    valid: true,
    data: { updateApp: NOT_FOUND, updateLtiRegistration: NOT_FOUND },
  })),
);

const documentArb: fc.Arbitrary<Doc> = fc.oneof(
  { weight: 4, arbitrary: validDocumentArb },
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom('', 'query ', 'query Q($v: Boolean, $input: ID) ', 'subscription ', 'query Q($v: Nope) '), selectionArb, fc.constantFrom('', ' fragment F on App { id name }', ' fragment F on Nope { x }', ' fragment F on App { ...F }')).map(([op, s, f]) => ({ query: `${op}${s}${f}` })) },
  { weight: 3, arbitrary: mutationArb.map((query) => ({ query })) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 3000 }).map((n) => ({ query: `${'{ viewer '.repeat(n)}${'}'.repeat(n)}` })) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 2000 }).map((n) => ({ query: `{ ${Array.from({ length: n }, (_, i) => `a${i}: __typename`).join(' ')} }` })) },
  { weight: 1, arbitrary: hostileString.map((query) => ({ query })) },
);

// ---------------------------------------------------------------------------------------
// The document limits (server/graphql/limits.ts, README "GraphQL API")

type LimitCode = 'QUERY_TOO_LONG' | 'QUERY_TOO_MANY_TOKENS' | 'QUERY_TOO_DEEP' | 'QUERY_TOO_MANY_ALIASES';

/** More than `max` lexical tokens before the end (comments are not tokens); a lexing error first: not counted as too many. */
function moreTokensThan(document: string, max: number): boolean {
  const lexer = new Lexer(new Source(document));
  try {
    for (let count = 0; count <= max; count++) if (lexer.advance().kind === TokenKind.EOF) return false;
    return true;
  } catch {
    return false;
  }
}

/**
 * The limit a document breaks, as far as the model knows it: length and tokens for every
 * document (checked before parsing, after authentication), and for the two generated
 * families that exist to be big, the validation limit each breaks once it parses: n nested
 * `viewer` levels (n ≥ 100 > 20 levels) and n aliased `__typename` fields (n ≥ 100 > 30 aliases).
 */
function brokenLimit(document: string): LimitCode | undefined {
  if (document.length > QUERY_LIMITS.maxDocumentLength) return 'QUERY_TOO_LONG';
  if (moreTokensThan(document, QUERY_LIMITS.maxTokens)) return 'QUERY_TOO_MANY_TOKENS';
  const nested = /^((?:\{ viewer )+)(\}+)$/.exec(document);
  if (nested && nested[1]!.length / 9 === nested[2]!.length && nested[2]!.length > QUERY_LIMITS.maxDepth) return 'QUERY_TOO_DEEP';
  const aliased = /^\{ ((?:a\d+: __typename ?)+)\}$/.exec(document);
  if (aliased && aliased[1]!.split(': ').length - 1 > QUERY_LIMITS.maxAliases) return 'QUERY_TOO_MANY_ALIASES';
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Requests

type Auth = 'valid' | 'none' | 'garbage' | 'revoked' | 'unknown' | 'scheme';

const sampleArb = fc.record({
  auth: fc.oneof({ weight: 6, arbitrary: fc.constant<Auth>('valid') }, { weight: 1, arbitrary: fc.constantFrom<Auth>('none', 'garbage', 'revoked', 'unknown', 'scheme') }),
  garbageAuth: headerValue,
  unknownToken: fc.stringMatching(/^[A-Za-z0-9_-]{43}$/),
  transport: fc.oneof(
    { weight: 8, arbitrary: fc.constant('json' as const) },
    { weight: 1, arbitrary: fc.constantFrom('get' as const, 'graphqlBody' as const, 'garbage' as const, 'shape' as const, 'oversized' as const) },
  ),
  method: fc.oneof({ weight: 10, arbitrary: fc.constant('POST') }, { weight: 1, arbitrary: fc.constantFrom('PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD') }),
  document: documentArb,
  variables: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, fc.record({ after: hostileString }), fc.dictionary(fc.constantFrom('v', 'input', 'x'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), fc.jsonValue({ maxDepth: 1 })),
  operationName: fc.option(fc.oneof(fc.constantFrom('Q', 'M', 'Nope'), hostileString), { nil: undefined, freq: 4 }),
  badShape: fc.jsonValue({ maxDepth: 3 }),
  contentType: fc.oneof({ weight: 6, arbitrary: fc.constant('application/json') }, { weight: 1, arbitrary: anyContentType }),
  accept: fc.oneof(
    { weight: 8, arbitrary: fc.constant('application/graphql-response+json, application/json') },
    { weight: 1, arbitrary: fc.constantFrom(undefined, 'application/graphql-response+json', 'application/json', 'text/event-stream', 'multipart/mixed', 'text/html', '*/*') },
    { weight: 1, arbitrary: headerValue },
  ),
  body: anyBody,
  cookie: anyCookieHeader,
});

describe('fuzz: GraphQL', () => {
  it('never 5xx, never an unexpected error, nothing without a token, writes nothing', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(sampleArb, async (sample) => {
        loggedErrors.length = 0;
        const authorization = {
          valid: `Bearer ${token}`,
          none: undefined,
          garbage: sample.garbageAuth,
          revoked: `Bearer ${revokedToken}`,
          unknown: `Bearer lmt_${sample.unknownToken}`,
          scheme: `Basic ${token}`,
        }[sample.auth];
        const headers: Record<string, string> = {
          ...(authorization !== undefined ? { authorization } : {}),
          ...(sample.accept !== undefined ? { accept: sample.accept } : {}),
          ...(sample.cookie !== undefined ? { cookie: sample.cookie } : {}),
        };
        let method: string = sample.method;
        let body: BodyInit | undefined;
        let query = '';
        const document = sample.document.query;
        // A document with variables of its own sends those; the others get the generated ones.
        const variables = sample.document.variables ?? sample.variables;
        const payload = { query: document, variables, operationName: sample.operationName };
        switch (sample.transport) {
          case 'json':
            body = JSON.stringify(payload);
            headers['content-type'] = sample.contentType;
            break;
          case 'get':
            method = 'GET';
            query = `?${new URLSearchParams({ query: document.replace(/[\uD800-\uDFFF]/g, ''), ...(variables !== undefined ? { variables: JSON.stringify(variables) } : {}) })}`;
            break;
          case 'graphqlBody':
            body = document;
            headers['content-type'] = 'application/graphql';
            break;
          case 'garbage':
            body = sample.body;
            headers['content-type'] = sample.contentType;
            break;
          case 'shape':
            body = JSON.stringify(sample.badShape);
            headers['content-type'] = 'application/json';
            break;
          case 'oversized':
            // A short document with a variable just past the body limit (server/app.ts MAX_GRAPHQL_BODY_BYTES).
            body = JSON.stringify({ ...payload, variables: { pad: 'x'.repeat(MAX_GRAPHQL_BODY_BYTES) } });
            headers['content-type'] = sample.contentType;
            break;
        }
        const normalised = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'].includes(method.toUpperCase()) ? method.toUpperCase() : method;
        const request = graphqlRequest(method, headers, body, query);
        // Read within 256 KiB before yoga buffers it: any method that sends a body (GET and HEAD send none).
        const bodyBytes = body === undefined || normalised === 'GET' || normalised === 'HEAD' ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : (body as Uint8Array).byteLength;
        const bodyTooLarge = bodyBytes > MAX_GRAPHQL_BODY_BYTES;
        // A well-formed POST carrying the document, with a valid token: the document limits decide
        // (without one, the 401 comes first: nothing about the document is answered).
        const wellFormed =
          normalised === 'POST' &&
          sample.accept === 'application/graphql-response+json, application/json' &&
          ((sample.transport === 'json' && sample.contentType === 'application/json' && (variables === undefined || (typeof variables === 'object' && variables !== null && !Array.isArray(variables)))) ||
            sample.transport === 'graphqlBody');
        let limit = wellFormed && !bodyTooLarge && sample.auth === 'valid' ? brokenLimit(document) : undefined;
        // Depth and aliases are validation rules: an operationName that names no operation fails first.
        if ((limit === 'QUERY_TOO_DEEP' || limit === 'QUERY_TOO_MANY_ALIASES') && sample.operationName !== undefined) limit = undefined;

        let text = '';
        const { result: response, writes } = await watch.observe(async () => {
          const answer = await app.fetch(request);
          text = await expectSaneResponse(answer, normalised, loggedErrors);
          return answer;
        });
        // A masked "Unexpected error." is logged: the fuzz treats it like a 500.
        expect(loggedErrors).toEqual([]);
        expect(text).not.toContain('Unexpected error');
        expect(writes).toEqual({});
        if (uriTooLong(request.url)) {
          // Only the GET transport puts the document in the URL; the 414 comes before auth.
          expectUriTooLong(request, response, text);
        } else if (bodyTooLarge) {
          expect(response.status).toBe(413);
          expect(JSON.parse(text)).toMatchObject({ errors: [{ extensions: { code: 'BODY_TOO_LARGE' } }] });
          seen.set('BODY_TOO_LARGE', (seen.get('BODY_TOO_LARGE') ?? 0) + 1);
        } else if (limit !== undefined) {
          // 400 even for `application/json` clients, before any field runs.
          expect(response.status).toBe(400);
          const answer = JSON.parse(text) as { data?: unknown; errors: Array<{ extensions?: { code?: string } }> };
          expect(answer.data ?? null).toBeNull();
          expect(answer.errors.map((e) => e.extensions?.code)).toContain(limit);
          seen.set(limit, (seen.get(limit) ?? 0) + 1);
        } else if (sample.document.valid && sample.auth === 'valid' && wellFormed && sample.transport === 'json' && sample.operationName === undefined) {
          // A valid document, sent properly with a valid token, runs: 200 with `data` (a
          // document that failed validation would have none), whatever ids and cursors it holds.
          expect(response.status, text).toBe(200);
          const answer = JSON.parse(text) as { data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
          expect(answer, text).toHaveProperty('data');
          if (sample.document.data) expect(answer.data, text).toMatchObject(sample.document.data);
          const codes = (answer.errors ?? []).map((e) => e.extensions?.code ?? e.message);
          // The one error a valid document meets besides Pothos' own argument checks (e.g. a negative `first`).
          if (codes.includes('BAD_CURSOR')) {
            expect(codes).toEqual(['BAD_CURSOR']);
            expect(answer.data).toBeNull();
            seen.set('BAD_CURSOR', (seen.get('BAD_CURSOR') ?? 0) + 1);
          }
          seen.set('VALID_RAN', (seen.get('VALID_RAN') ?? 0) + 1);
        } else if (sample.auth !== 'valid') {
          // Without a valid token: 401 before the request is looked at (a CORS preflight, which
          // carries no data, excepted), whatever the method, media type or document.
          if (normalised === 'OPTIONS' && response.status === 204) expect(text).toBe('');
          else {
            expect(response.status, text).toBe(401);
            expect(JSON.parse(text)).toMatchObject({ errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] });
          }
        }
        seen.set(String(response.status), (seen.get(String(response.status)) ?? 0) + 1);
      }),
      fuzzParameters('graphql'),
    );
    expect(changedTables(baseline, await snapshotTables(db))).toEqual([]);
    console.info('[fuzz] graphql statuses:', Object.fromEntries(seen));
    // (QUERY_TOO_DEEP is predicted too, but rare here; test/graphql/query-limits.test.ts covers it.)
    for (const status of ['200', '400', '401', '414', 'BODY_TOO_LARGE', 'QUERY_TOO_LONG', 'QUERY_TOO_MANY_TOKENS', 'QUERY_TOO_MANY_ALIASES', 'VALID_RAN', 'BAD_CURSOR']) expect(seen.get(status) ?? 0, status).toBeGreaterThan(0);
  }, FUZZ_TIMEOUT_MS);

  it('every "valid document" is valid against the schema and within every limit', () => {
    // Otherwise its hostile ids and cursors would be refused by validation and never reach a resolver.
    fc.assert(
      fc.property(validDocumentArb, (doc) => {
        expect(brokenLimit(doc.query)).toBeUndefined();
        expect(validate(getSchema(), parse(doc.query), [...specifiedRules, queryLimitsRule()]).map((e) => e.message)).toEqual([]);
      }),
      fuzzParameters('graphql valid documents'),
    );
    // Ten thousand documents validated: 8 s alone, four times that on a busy machine.
  }, FUZZ_TIMEOUT_MS);
});
