import { readdirSync, readFileSync } from 'node:fs';
import { getIntrospectionQuery, Kind, parse, validate, type DocumentNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../server/app.ts';
import type { Database } from '../../server/db/client.ts';
import { QUERY_LIMITS, queryLimitsRule, type QueryLimits } from '../../server/graphql/limits.ts';
import { getSchema } from '../../schema/index.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { createOwner, createTestApp, TEST_PUBLIC_URL } from '../helpers/server.ts';

let db: Database;
let app: App;
let token: string;
beforeAll(async () => {
  db = await createTestDatabase();
  app = createTestApp(db);
  token = (await createOwner(db)).token;
});
afterAll(() => db.close());

async function post(query: string): Promise<{ status: number; body: { data?: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> } }> {
  const response = await app.fetch(
    new Request(`${TEST_PUBLIC_URL}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query }),
    }),
  );
  return { status: response.status, body: (await response.json()) as never };
}

const INTROSPECTION = getIntrospectionQuery({
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
});

/** Each operation of a file with the fragments it may use. */
function operationsOf(text: string): Array<[string, DocumentNode]> {
  const doc = parse(text, { maxTokens: QUERY_LIMITS.maxTokens });
  const fragments = doc.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
  return doc.definitions
    .filter((d) => d.kind === Kind.OPERATION_DEFINITION)
    .map((op) => [op.name?.value ?? '(anonymous)', { ...doc, definitions: [op, ...fragments] }]);
}

const ownOperations: Array<[string, string]> = ['dashboard/src/operations', 'test/operations'].flatMap((dir) =>
  readdirSync(new URL(`../../${dir}`, import.meta.url))
    .filter((f) => f.endsWith('.graphql'))
    .map((f): [string, string] => [`${dir}/${f}`, readFileSync(new URL(`../../${dir}/${f}`, import.meta.url), 'utf8')]),
);

describe('our own operations stay well inside the limits', () => {
  const half: QueryLimits = {
    maxDocumentLength: QUERY_LIMITS.maxDocumentLength / 2,
    maxTokens: QUERY_LIMITS.maxTokens / 2,
    maxDepth: QUERY_LIMITS.maxDepth / 2,
    maxAliases: QUERY_LIMITS.maxAliases / 2,
    maxCost: QUERY_LIMITS.maxCost / 2,
  };

  it('found the operation files', () => {
    expect(ownOperations.length).toBeGreaterThanOrEqual(8);
  });

  it.each(ownOperations)('%s: every operation within half of each limit', (_file, text) => {
    expect(text.length).toBeLessThanOrEqual(half.maxDocumentLength);
    expect(() => parse(text, { maxTokens: half.maxTokens })).not.toThrow();
    for (const [name, doc] of operationsOf(text)) {
      expect({ name, errors: validate(getSchema(), doc, [queryLimitsRule(half)]).map((e) => e.message) }).toEqual({ name, errors: [] });
    }
  });

  it('the standard introspection query passes the limits (and works over HTTP)', async () => {
    expect(validate(getSchema(), parse(INTROSPECTION), [queryLimitsRule()])).toEqual([]);
    const { status, body } = await post(INTROSPECTION);
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(body.data).toHaveProperty('__schema.queryType.name', 'Query');
  });
});

describe('documents over the limits get a clear 400, and nothing runs', () => {
  const expectRefused = async (query: string, code: string, message: RegExp) => {
    const { status, body } = await post(query);
    expect(status).toBe(400);
    expect(body.data).toBeUndefined();
    expect(body.errors?.[0]?.extensions?.code).toBe(code);
    expect(body.errors?.[0]?.message).toMatch(message);
  };

  it('too deep', async () => {
    let typeRef = 'name';
    for (let i = 0; i < QUERY_LIMITS.maxDepth; i++) typeRef = `ofType { ${typeRef} }`;
    // __type(1) fields(2) type(3), maxDepth ofTypes, name: 24 levels.
    await expectRefused(`{ __type(name: "App") { fields { type { ${typeRef} } } } }`, 'QUERY_TOO_DEEP', /is 24 levels deep; at most 20/);
    // Through the schema's own cycle (app → launches → app …), with small pages.
    let cycle = 'id';
    for (let i = 0; i < 5; i++) cycle = `launches(first: 1) { edges { node { app { ${cycle} } } } }`;
    await expectRefused(`{ apps(first: 1) { edges { node { ${cycle} } } } }`, 'QUERY_TOO_DEEP', /levels deep/);
  });

  it('too costly: nested pages multiply', async () => {
    await expectRefused(
      '{ apps(first: 100) { edges { node { launches(first: 100) { edges { node { id } } } } } } }',
      'QUERY_TOO_COSTLY',
      /may resolve 32201 fields; at most 10000/,
    );
    // A page size from a variable counts as the largest page.
    await expectRefused(
      'query($n: Int) { apps(first: $n) { edges { node { launches(first: $n) { edges { node { id } } } } } } }',
      'QUERY_TOO_COSTLY',
      /may resolve 32201 fields/,
    );
    // The same shape with small pages is fine.
    const { status, body } = await post('{ apps(first: 10) { edges { node { launches(first: 10) { edges { node { id } } } } } } }');
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
  });

  it('too costly: a page is costed as it is fetched, `first` before `last`', async () => {
    const nested = (args: string) => `{ apps(${args}) { edges { node { launches(${args}) { edges { node { id } } } } } } }`;
    // `last` pages as large as `first`.
    await expectRefused(nested('last: 100'), 'QUERY_TOO_COSTLY', /may resolve 32201 fields/);
    // With both, the server fetches `first` items: a small `last` written after it must not hide them.
    await expectRefused(nested('first: 100, last: 1'), 'QUERY_TOO_COSTLY', /may resolve 32201 fields/);
    await expectRefused(nested('last: 1, first: 100'), 'QUERY_TOO_COSTLY', /may resolve 32201 fields/);
    // A variable `first` counts as the largest page, whatever literal `last` comes with it.
    await expectRefused(
      'query($n: Int) { apps(first: $n, last: 1) { edges { node { launches(first: $n, last: 1) { edges { node { id } } } } } } }',
      'QUERY_TOO_COSTLY',
      /may resolve 32201 fields/,
    );
    // `first: null` is no page size: `last` is.
    await expectRefused(nested('first: null, last: 100'), 'QUERY_TOO_COSTLY', /may resolve 32201 fields/);
    // And the other way round, a small `first` is what is fetched, and what is costed.
    const small = await post(nested('first: 1, last: 100'));
    expect(small.status).toBe(200);
    expect(small.body.errors).toBeUndefined();
  });

  it('a field batched for the whole page (failedGradeCount) costs one per app and alias', async () => {
    // One grouped count for every app and alias (test/graphql/retry-failed-grades.test.ts).
    const aliases = Array.from({ length: 30 }, (_, i) => `c${i}: failedGradeCount`).join(' ');
    const document = `{ apps(first: 100) { edges { node { ${aliases} } } } }`;
    // 1 + 100 × (1 + 1 + 30).
    expect(validate(getSchema(), parse(document), [queryLimitsRule({ ...QUERY_LIMITS, maxCost: 3200 })]).map((e) => e.message)).toEqual([
      'Operation may resolve 3201 fields; at most 3200 are allowed. Ask for smaller pages (first or last) or fewer fields.',
    ]);
    const { status, body } = await post(document);
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
  });

  it('so does an app’s page of launches, grades or refusals (one statement per app), however small', async () => {
    for (const field of ['launches', 'grades', 'launchRefusals']) {
      const aliases = Array.from({ length: 30 }, (_, i) => `p${i}: ${field}(first: 0) { pageInfo { hasNextPage } }`).join(' ');
      // 1 + 100 × (1 + 1 + 30 × (20 + 0 + 1 + 1)).
      await expectRefused(`{ apps(first: 100) { edges { node { ${aliases} } } } }`, 'QUERY_TOO_COSTLY', /may resolve 66201 fields/);
    }
  });

  it('a left-out page size is costed as the default page (it is fetched as such)', async () => {
    const defaults = '{ apps { edges { node { launches { edges { node { id } } } } } } }';
    const { status, body } = await post(defaults);
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    // 1 + 20 × (2 + 20 + 20 × 3): the default page (20) at both levels, not the largest (100),
    // and 20 more for each app's own statement reading its launches.
    expect(validate(getSchema(), parse(defaults), [queryLimitsRule({ ...QUERY_LIMITS, maxCost: 1000 })]).map((e) => e.message)).toEqual([
      'Operation may resolve 1641 fields; at most 1000 are allowed. Ask for smaller pages (first or last) or fewer fields.',
    ]);
  });

  it('a page larger than the largest one is costed as the largest one (it is fetched as such)', async () => {
    const { status, body } = await post('{ apps(first: 1000) { edges { node { launches(first: 10) { edges { node { id } } } } } } }');
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(validate(getSchema(), parse('{ apps(first: 1000) { edges { node { launches(first: 100) { edges { node { id } } } } } } }'), [queryLimitsRule()]).map((e) => e.message)).toEqual([
      'Operation may resolve 32201 fields; at most 10000 are allowed. Ask for smaller pages (first or last) or fewer fields.',
    ]);
  });

  it('too many aliases', async () => {
    const fields = Array.from({ length: QUERY_LIMITS.maxAliases + 1 }, (_, i) => `v${i}: viewer { name }`).join(' ');
    await expectRefused(`{ ${fields} }`, 'QUERY_TOO_MANY_ALIASES', /31 aliases; at most 30/);
    const ok = await post(`{ ${Array.from({ length: QUERY_LIMITS.maxAliases }, (_, i) => `v${i}: viewer { name }`).join(' ')} }`);
    expect(ok.status).toBe(200);
  });

  it('too long', async () => {
    await expectRefused(`{ viewer { name } } # ${'x'.repeat(QUERY_LIMITS.maxDocumentLength)}`, 'QUERY_TOO_LONG', /characters; at most 20000/);
  });

  it('too many tokens: parsing stops', async () => {
    await expectRefused(`{ viewer { ${'name '.repeat(QUERY_LIMITS.maxTokens)} } }`, 'QUERY_TOO_MANY_TOKENS', /more than 2000 tokens/);
    // Comments are not tokens: a commented document within the length limit is fine.
    const { status } = await post(`{ viewer { name } } ${'# comment\n'.repeat(1000)}`);
    expect(status).toBe(200);
  });

  it('a fragment bomb is measured once per fragment, not expanded', async () => {
    // Each fragment spreads the previous one twice: 2^25 fields when expanded.
    const fragments = ['fragment F0 on Owner { name }'];
    for (let i = 1; i <= 25; i++) fragments.push(`fragment F${i} on Owner { ...F${i - 1} ...F${i - 1} }`);
    const started = performance.now();
    await expectRefused(`{ viewer { ...F25 } } ${fragments.join(' ')}`, 'QUERY_TOO_COSTLY', /may resolve \d+ fields/);
    // Not a timing assertion on speed, a guard against exponential work: 2^25 steps would take far longer.
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
