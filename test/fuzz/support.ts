/**
 * Shared pieces of the property-based fuzz tests (test/fuzz/*.test.ts): run settings
 * (FUZZ_SEED, FUZZ_RUNS), the database snapshot that proves a refused request changed
 * nothing, a logger that catches unexpected errors, and hostile building blocks.
 */
import fc from 'fast-check';
import { pino } from 'pino';
import { expect } from 'vitest';
import { MAX_URL_BYTES } from '../../server/app.ts';
import type { Database } from '../../server/db/client.ts';
import { LTI_ERRORS } from '../../server/lti/errors.ts';
import type { RefusalAuditLimits } from '../../server/lti/refusal-audit.ts';
import { REQUEST_ID_HEADER } from '../../server/request-id.ts';
import { createTestDatabase } from '../helpers/db.ts';
import type { Logger } from '../../server/logger.ts';

/** Fixed default, so a plain `npm test` is reproducible; FUZZ_SEED explores other inputs. */
const DEFAULT_SEED = 20_260_707;
/** The issue asks for at least 10,000 generated inputs per route. */
const DEFAULT_RUNS = 10_000;

/**
 * 10,000 requests take 20–40 s on an idle 2-core machine; a busy CI runner may need more
 * than vitest's default 30 s. Speed is not what these tests measure.
 */
export const FUZZ_TIMEOUT_MS = 300_000;

/**
 * fast-check parameters for one property, printing the seed so a failure reproduces with
 * `FUZZ_SEED=<seed> npx vitest run test/fuzz/<file>`. FUZZ_RUNS changes the number of runs.
 */
export function fuzzParameters(name: string): { seed: number; numRuns: number } {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : DEFAULT_SEED;
  const numRuns = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : DEFAULT_RUNS;
  if (!Number.isSafeInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, got ${process.env.FUZZ_SEED}`);
  if (!Number.isSafeInteger(numRuns) || numRuns < 1) throw new Error(`FUZZ_RUNS must be a positive integer, got ${process.env.FUZZ_RUNS}`);
  console.info(`[fuzz] ${name}: seed=${seed} runs=${numRuns} (reproduce: FUZZ_SEED=${seed} FUZZ_RUNS=${numRuns})`);
  return { seed, numRuns };
}

// ---------------------------------------------------------------------------------------
// Server settings for the fuzz

/**
 * The refused-launch audit trail without its throttle (10 rows per app and code per minute,
 * 1,000 pairs tracked): then every refusal of an existing app stores exactly one row, which
 * the login and launch fuzz predict. The throttle has its own test (test/lti/refusal-audit.test.ts).
 */
export const UNTHROTTLED_REFUSAL_AUDIT: RefusalAuditLimits = { perAppAndCode: Number.MAX_SAFE_INTEGER, maxKeys: Number.MAX_SAFE_INTEGER, windowMs: 60_000 };

/** Path + query over 8 KiB: the server answers 414 before routing (server/app.ts, README "Request limits"). */
export function uriTooLong(url: string): boolean {
  const { pathname, search } = new URL(url);
  return pathname.length + search.length > MAX_URL_BYTES;
}

/** The 414 for a too-long URI: the LTI error page (ERR_LTI_URI_TOO_LONG) under /lti/, JSON elsewhere. */
export function expectUriTooLong(request: Request, response: Response, body: string): void {
  expect(response.status).toBe(414);
  const lti = new URL(request.url).pathname.startsWith('/lti/');
  if (request.method === 'HEAD') {
    // No body to read the code from: the page's type says which answer it was.
    expect(response.headers.get('content-type')).toMatch(lti ? /^text\/html/ : /^application\/json/);
  } else if (lti) {
    expect(expectLtiRefusal(response, body)).toBe('ERR_LTI_URI_TOO_LONG');
  } else {
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(JSON.parse(body)).toMatchObject({ error: 'uri_too_long' });
  }
}

// ---------------------------------------------------------------------------------------
// "No database change": the business tables, in one place.

/**
 * Every table a request could write. A refused request must leave all of them exactly as
 * they were (and a login, refused or not, writes none: it is stateless). Add new tables here.
 * ServerSecret holds the login state MAC key: created once per database (the fuzz creates it
 * before its baseline), never by a request after that. The one table a refusal does write,
 * the audit trail of refused logins and launches (`AUDIT_TABLE`), is deliberately not among
 * them: its rows are counted apart (`observe(…).audited`) and predicted by the login and
 * launch fuzz.
 */
export const GUARDED_TABLES = ['Owner', 'ApiToken', 'App', 'LtiRegistration', 'ToolKey', 'ServerSecret', 'Launch', 'Grade'] as const;
export type GuardedTable = (typeof GUARDED_TABLES)[number];
export type TableSnapshot = Record<GuardedTable, { rows: number; digest: string }>;
/** Rows written (inserted, updated or deleted) per table by one request. */
export type Writes = Partial<Record<GuardedTable, number>>;
/** The audit log of refused logins and launches (server/lti/refusal-audit.ts): a refusal of an existing app adds one row. */
export const AUDIT_TABLE = 'LaunchRefusal';

const SNAPSHOT_SQL = GUARDED_TABLES.map(
  (table) =>
    `SELECT '${table}' AS "table", count(*)::int AS "rows", coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') AS "digest" FROM "${table}" t`,
).join(' UNION ALL ');

/** Row counts and a digest of all columns of every guarded table, in one statement (≈10 ms). */
export async function snapshotTables(db: Database): Promise<TableSnapshot> {
  const rows = await db.prisma.$queryRawUnsafe<Array<{ table: GuardedTable; rows: number; digest: string }>>(SNAPSHOT_SQL);
  return Object.fromEntries(rows.map((r) => [r.table, { rows: Number(r.rows), digest: r.digest }])) as TableSnapshot;
}

/** The tables whose rows differ between two snapshots (empty: nothing changed). */
export function changedTables(before: TableSnapshot, after: TableSnapshot): GuardedTable[] {
  return GUARDED_TABLES.filter((t) => before[t].rows !== after[t].rows || before[t].digest !== after[t].digest);
}

/**
 * Per-request write detection, cheap enough for 10,000 requests: test-only row triggers
 * count every INSERT/UPDATE/DELETE (and TRUNCATE) on the guarded tables and on the audit
 * table, even one that writes back the same values. A request whose statements were all
 * plain SELECTs (the server defines no writing SQL functions) cannot have written, so the
 * counters are read only when it ran anything else. Statements are seen through `onQuery`,
 * which both the Prisma client and the hot path's SQL runner (server/db/sql-runner.ts,
 * `db.sql`: login and launch) call; a refusal's audit INSERT is one such statement, so a
 * refused request always has its counters read — and must show writes only in `audited`.
 * The full snapshot (`snapshotTables`) backs this up at the start and end of each run.
 */
export class WriteWatch {
  #writeCapable = 0;
  #counters = new Map<string, number>();
  private constructor(readonly db: Database) {}

  /** A fresh test database with the write counters installed. */
  static async create(): Promise<WriteWatch> {
    let watch: WriteWatch | undefined;
    const db = await createTestDatabase({
      onQuery: (sql) => {
        if (watch && !/^\s*SELECT\b/i.test(sql)) watch.#writeCapable++;
      },
    });
    watch = new WriteWatch(db);
    await db.prisma.$executeRawUnsafe('CREATE TABLE fuzz_writes (tbl text PRIMARY KEY, n bigint NOT NULL)');
    await db.prisma.$executeRawUnsafe(`CREATE FUNCTION fuzz_count_write() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO fuzz_writes VALUES (TG_TABLE_NAME, 1) ON CONFLICT (tbl) DO UPDATE SET n = fuzz_writes.n + 1;
        RETURN NULL;
      END $$`);
    for (const table of [...GUARDED_TABLES, AUDIT_TABLE]) {
      await db.prisma.$executeRawUnsafe(`CREATE TRIGGER fuzz_rows AFTER INSERT OR UPDATE OR DELETE ON "${table}" FOR EACH ROW EXECUTE FUNCTION fuzz_count_write()`);
      await db.prisma.$executeRawUnsafe(`CREATE TRIGGER fuzz_truncate AFTER TRUNCATE ON "${table}" FOR EACH STATEMENT EXECUTE FUNCTION fuzz_count_write()`);
    }
    return watch;
  }

  async #readCounters(): Promise<Map<string, number>> {
    const rows = await this.db.prisma.$queryRawUnsafe<Array<{ tbl: string; n: bigint | number }>>('SELECT tbl, n FROM fuzz_writes');
    return new Map(rows.map((r) => [r.tbl, Number(r.n)]));
  }

  /** Forget writes made so far (setup, or the test's own clean-up). */
  async sync(): Promise<void> {
    this.#counters = await this.#readCounters();
  }

  /**
   * Runs `fn` (one request) and reports the rows it wrote per guarded table, and apart from
   * them the rows it wrote to the audit table (`audited`).
   */
  async observe<T>(fn: () => Promise<T>): Promise<{ result: T; writes: Writes; audited: number }> {
    const before = this.#writeCapable;
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      // A check inside `fn` failed: forget this request's writes, so that fast-check's
      // shrinking replays are not charged with them (the failure reported is the real one).
      if (this.#writeCapable !== before) await this.sync();
      throw err;
    }
    if (this.#writeCapable === before) return { result, writes: {}, audited: 0 };
    const counters = await this.#readCounters();
    const writes: Writes = {};
    for (const table of GUARDED_TABLES) {
      const n = (counters.get(table) ?? 0) - (this.#counters.get(table) ?? 0);
      if (n !== 0) writes[table] = n;
    }
    const audited = (counters.get(AUDIT_TABLE) ?? 0) - (this.#counters.get(AUDIT_TABLE) ?? 0);
    this.#counters = counters;
    return { result, writes, audited };
  }
}

/** One stored refusal, as the login and launch fuzz predict it. */
export interface AuditRow {
  appId: string;
  route: 'LOGIN' | 'LAUNCH';
  code: string;
}

/**
 * Every audit row, as sorted keys (what `AuditModel` predicts), and how many of them
 * name a registration that is not their app's (must be none).
 */
async function auditRows(db: Database): Promise<{ rows: string[]; foreignRegistrations: number }> {
  const rows = await db.prisma.$queryRawUnsafe<Array<{ appId: string; route: string; code: string; foreign: boolean }>>(
    `SELECT f."appId", f."route"::text AS "route", f."code", (f."registrationId" IS NOT NULL AND r."appId" IS DISTINCT FROM f."appId") AS "foreign"
     FROM "${AUDIT_TABLE}" f LEFT JOIN "LtiRegistration" r ON r."id" = f."registrationId"`,
  );
  return { rows: rows.map((r) => auditKey(r as AuditRow)).sort(), foreignRegistrations: rows.filter((r) => r.foreign).length };
}

export const auditKey = (row: AuditRow): string => `${row.appId} ${row.route} ${row.code}`;

/** The audit rows a run should leave: those before it, plus one per predicted refusal of an existing app. */
export class AuditModel {
  readonly #db: Database;
  readonly #expected: string[];

  /** A model starting from the rows already stored. */
  static async read(db: Database): Promise<AuditModel> {
    return new AuditModel(db, (await auditRows(db)).rows);
  }

  private constructor(db: Database, before: string[]) {
    this.#db = db;
    this.#expected = [...before];
  }

  add(row: AuditRow): void {
    this.#expected.push(auditKey(row));
  }

  /** The stored trail holds exactly the predicted refusals (app, route, code), none with another app's registration. */
  async expectStored(): Promise<void> {
    const stored = await auditRows(this.#db);
    expect(stored.rows).toEqual([...this.#expected].sort());
    expect(stored.foreignRegistrations).toBe(0);
  }
}

// ---------------------------------------------------------------------------------------
// Unexpected errors

/**
 * A logger that keeps every `error`-level line: the server logs unexpected failures
 * (the masked GraphQL "Unexpected error.", ERR_LTI_INTERNAL, "completion failed") there,
 * so an empty list means no request took an unexpected path, even one answered < 500.
 */
export function errorRecordingLogger(): { logger: Logger; errors: string[] } {
  const errors: string[] = [];
  const logger = pino({ level: 'error', base: undefined }, { write: (line: string) => void errors.push(line) });
  return { logger, errors };
}

// ---------------------------------------------------------------------------------------
// Response checks

/** What every answer must satisfy: no 5xx, and a body that matches its content type. */
export async function expectSaneResponse(response: Response, method: string, loggedErrors: string[] = []): Promise<string> {
  const body = await response.text();
  const context = `status ${response.status}, logged: ${loggedErrors.join('\n').slice(0, 2000)}`;
  expect(response.status, context).toBeGreaterThanOrEqual(200);
  expect(response.status, context).toBeLessThan(500);
  // Every answer carries its request id (the client's, if acceptable, else a new one).
  expect(response.headers.get(REQUEST_ID_HEADER)).toMatch(/^[A-Za-z0-9._:-]{8,128}$/);
  if (method !== 'HEAD' && body.length > 0) expect(response.headers.get('content-type')).toBeTruthy();
  const type = response.headers.get('content-type') ?? '';
  if (/json/.test(type) && method !== 'HEAD') expect(() => JSON.parse(body)).not.toThrow();
  // Nothing that looks like a stack trace or source path ever reaches a client.
  expect(body).not.toMatch(/\bat .*:\d+:\d+|node_modules|\.ts:\d/);
  return body;
}

/** An LTI refusal page: its code's status, HTML, no cookie, no redirect. Returns the code. */
export function expectLtiRefusal(response: Response, body: string): string {
  const code = body.match(/<code>(ERR_LTI_[A-Z_]+)<\/code>/)?.[1];
  expect(code, `an ERR_LTI_ code on the page (status ${response.status})`).toBeDefined();
  expect(response.status).toBe(LTI_ERRORS[code as keyof typeof LTI_ERRORS][0]);
  expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  expect(response.headers.get('set-cookie')).toBeNull();
  expect(response.headers.get('location')).toBeNull();
  return code!;
}

// ---------------------------------------------------------------------------------------
// Hostile building blocks

/** Strings that have broken parsers, databases and HTML pages before. */
const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\uFEFF',
  '\uD800',
  '\u202Eevil',
  '%',
  '%00',
  '%ZZ',
  '%C3%28',
  '%FF%FE',
  '%E0%80%80',
  '%u0041',
  '+',
  '&',
  '=',
  ';',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  '"; DROP TABLE "App"; --',
  '${7*7}',
  'null',
  'undefined',
  '[]',
  '{}',
  '0',
  '-1',
  '1e309',
  'NaN',
  'true',
  '__proto__',
  'constructor',
  'https://evil.example.org/',
  'javascript:alert(1)',
  'http://127.0.0.1:1/',
  '\r\nSet-Cookie: x=1',
];

/** A hostile string: nasty constants, random unicode (lone surrogates included), or long runs. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('a', '%', '\u0000', 'é', '😀'), fc.integer({ min: 1_000, max: 6_000 })).map(([c, n]) => c.repeat(n)) },
);

/** Query/form components written raw (not through URLSearchParams), so broken encodings survive. */
export const rawComponent: fc.Arbitrary<string> = fc.oneof(
  hostileString.map((s) => encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, '\uFFFD'))),
  fc.constantFrom('%', '%Z', '%ZZ', '%00', '%C3%28', '%FF', '%ED%A0%80', '%F4%90%80%80', '%%%', 'a%2', '%0D%0A', '+%2B+'),
  fc.string({ unit: fc.constantFrom('a', '%', '2', 'F', 'Z', '&', '=', '+', ';', '#', '?'), maxLength: 30 }),
);

/** HTTP methods a client can send (fetch refuses CONNECT, TRACE and TRACK). */
export const anyMethod = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'PROPFIND', 'FOO', 'post', 'get');

/** Content types: the right one, near misses, and nonsense. */
export const anyContentType = fc.oneof(
  fc.constantFrom(
    'application/x-www-form-urlencoded',
    'application/x-www-form-urlencoded; charset=utf-8',
    'APPLICATION/X-WWW-FORM-URLENCODED',
    'application/x-www-form-urlencodedx',
    'application/json',
    'application/json; charset=utf-16',
    'application/graphql',
    'application/graphql-response+json',
    'multipart/form-data; boundary=x',
    'text/plain',
    'text/html',
    '*/*',
    ';',
    'application/',
  ),
  fc.string({ unit: fc.constantFrom('a', '/', ';', '=', ' ', 'x', '-', '+', '*'), maxLength: 30 }),
);

/** A header value fetch accepts (visible ASCII and Latin-1, no CR/LF/NUL). */
export const headerValue: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 80 }),
  fc.string({ unit: fc.integer({ min: 0xa0, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 10 }),
  fc.integer({ min: 100, max: 9_000 }).map((n) => 'c'.repeat(n)),
);

/** Random cookie headers: garbage pairs, no '=', duplicated names, huge values. */
export const anyCookieHeader: fc.Arbitrary<string | undefined> = fc.option(
  fc.oneof(
    headerValue,
    fc
      .array(fc.tuple(fc.oneof(fc.constantFrom('lti_state_', 'lti_state_x', '', '='), fc.stringMatching(/^[a-zA-Z0-9_-]{0,20}$/)), fc.stringMatching(/^[!#-+\--:<-\[\]-~]{0,50}$/)), { maxLength: 6 })
      .map((pairs) => pairs.map(([n, v]) => `${n}=${v}`).join('; ')),
  ),
  { nil: undefined },
);

/** Bytes for a request body: empty, random, invalid UTF-8, JSON-ish, or large. */
export const anyBody: fc.Arbitrary<Uint8Array<ArrayBuffer> | string | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => new Uint8Array(bytes)),
  fc.constantFrom(new Uint8Array([0xc3, 0x28]), new Uint8Array([0xff, 0xfe, 0x00]), new Uint8Array([0xed, 0xa0, 0x80])),
  hostileString,
  fc.json({ maxDepth: 4 }),
  fc.integer({ min: 1, max: 400 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
  fc.integer({ min: 60_000, max: 70_000 }).map((n) => 'x'.repeat(n)),
);

/** A base64url segment of random bytes or of (possibly broken) JSON. */
const base64urlSegment: fc.Arbitrary<string> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('base64url')),
  fc.json({ maxDepth: 2 }).map((j) => Buffer.from(j).toString('base64url')),
  hostileString.map((s) => Buffer.from(s).toString('base64url')),
  fc.stringMatching(/^[A-Za-z0-9_\-+/=.]{0,40}$/),
);

const b64json = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWS header that looks plausible: alg none/HMAC/RSA/odd, missing or huge or odd kid. */
export const jwtHeader: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    alg: fc.oneof(fc.constantFrom('none', 'None', 'HS256', 'HS512', 'RS256', 'ES256', 'PS256', 'EdDSA', 'RS1', ''), fc.jsonValue({ maxDepth: 1 })),
    kid: fc.oneof(fc.string({ maxLength: 20 }), fc.integer({ min: 1_000, max: 40_000 }).map((n) => 'k'.repeat(n)), fc.jsonValue({ maxDepth: 1 })),
    typ: fc.constantFrom('JWT', 'at+jwt', ''),
    crit: fc.constantFrom(['exp'], ['b64'], []),
    b64: fc.boolean(),
    jku: fc.constant('https://evil.example.org/jwks'),
  },
  { requiredKeys: [] },
);

/** JWT-shaped garbage: random segments, plausible headers over junk, wrong segment counts. */
export const jwtShapedGarbage: fc.Arbitrary<string> = fc.oneof(
  fc.array(base64urlSegment, { minLength: 1, maxLength: 6 }).map((parts) => parts.join('.')),
  fc.tuple(jwtHeader, base64urlSegment, base64urlSegment).map(([h, p, s]) => `${b64json(h)}.${p}.${s}`),
  fc.tuple(jwtHeader, fc.jsonValue({ maxDepth: 3 }), base64urlSegment).map(([h, p, s]) => `${b64json(h)}.${b64json(p)}.${s}`),
  fc.tuple(jwtHeader, base64urlSegment).map(([h, p]) => `${b64json(h)}.${p}.`),
  hostileString,
);
