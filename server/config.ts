/**
 * Every setting the server reads, with its default, in one place. The entry points
 * (`main.ts`, and the `token` and `keys` commands) call `loadConfig(process.env)`; everything
 * else receives a `Config`. The README's configuration table mirrors `CONFIG_VARIABLES`
 * (a test keeps the names and defaults in sync).
 */

import { isPostgresUrl, unreadableDatabaseUrl } from './db/connection-url.ts';
import { parseCidr } from './http/outbound-policy.ts';

/** How long platforms may cache our keyset (the JWKS route's Cache-Control max-age). */
export const JWKS_MAX_AGE_SECONDS = 300;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

export interface Config {
  port: number;
  host: string;
  /** External base URL, without trailing slash; every URL we hand to an LMS starts with it. */
  publicUrl: string;
  /** A postgres:// URL, or undefined for the embedded PGlite database. */
  databaseUrl: string | undefined;
  /** PGlite data directory, used when `databaseUrl` is unset. */
  pgliteDir: string;
  logLevel: LogLevel;
  /** A new tool key is published this long before it signs (≥ our JWKS max-age). */
  toolKeyRotationLeadSeconds: number;
  /** A replaced tool key stays published this long after its successor starts signing. */
  toolKeyRetireGraceSeconds: number;
  /** How long an exercise page may use its launch credential. */
  launchCredentialTtlSeconds: number;
  /** Bearer token for /metrics; undefined disables the endpoint. */
  metricsToken: string | undefined;
  /** Proxies in front whose `X-Forwarded-For` entry is believed (0: use the socket address). */
  trustProxyHops: number;
  /** Requests per minute (also the burst) per client; 0 turns that limit off. Per process. */
  rateLimits: RateLimitConfig;
  /** Encrypts tool private keys at rest; undefined stores them in clear. */
  toolKeyEncryptionSecret: string | undefined;
  /** The secret being replaced: only decrypts (keys are re-encrypted with the new one at start). */
  toolKeyEncryptionSecretPrevious: string | undefined;
  /**
   * Special-use networks (canonical CIDRs) that outbound requests may reach anyway; every
   * other loopback, private, link-local… address is refused (server/http/outbound-policy.ts).
   */
  outboundAllowedNetworks: readonly string[];
  /** How long a claimed grade delivery is one process's; a killed process's claims expire after it. */
  gradeDeliveryLeaseSeconds: number;
  /** Timeout of one outbound grade request (access token or score POST). */
  gradeDeliveryTimeoutSeconds: number;
  /** How long a started login (sealed in its state cookie) may be finished. */
  loginStateTtlSeconds: number;
  /** How often launch refusals older than 30 days are deleted (the env name is from when logins were rows). */
  loginCleanupIntervalSeconds: number;
}

export interface RateLimitConfig {
  loginPerMinute: number;
  launchPerMinute: number;
  completionPerMinute: number;
  completionPerCredentialPerMinute: number;
  graphqlPerMinute: number;
  graphqlPerTokenPerMinute: number;
}

/**
 * Defaults sized for a school: hundreds of learners behind one NAT address open the same
 * unit at the start of class, and each launch is one login and one launch request.
 */
export const DEFAULT_RATE_LIMITS: RateLimitConfig = {
  loginPerMinute: 1200,
  launchPerMinute: 1200,
  completionPerMinute: 1200,
  completionPerCredentialPerMinute: 30,
  graphqlPerMinute: 600,
  graphqlPerTokenPerMinute: 300,
};

/** The environment variable of each rate limit. */
export const RATE_LIMIT_VARIABLES: Record<keyof RateLimitConfig, string> = {
  loginPerMinute: 'RATE_LIMIT_LOGIN_PER_MINUTE',
  launchPerMinute: 'RATE_LIMIT_LAUNCH_PER_MINUTE',
  completionPerMinute: 'RATE_LIMIT_COMPLETION_PER_MINUTE',
  completionPerCredentialPerMinute: 'RATE_LIMIT_COMPLETION_PER_CREDENTIAL_PER_MINUTE',
  graphqlPerMinute: 'RATE_LIMIT_GRAPHQL_PER_MINUTE',
  graphqlPerTokenPerMinute: 'RATE_LIMIT_GRAPHQL_PER_TOKEN_PER_MINUTE',
};

/** Shortest accepted key-encryption secret (32 characters, e.g. `openssl rand -base64 32` gives 44). */
export const MIN_KEY_ENCRYPTION_SECRET_LENGTH = 32;

export interface ConfigVariable {
  name: string;
  default: string;
  description: string;
}

export const CONFIG_VARIABLES: readonly ConfigVariable[] = [
  { name: 'PORT', default: '3000', description: 'TCP port to listen on (0 picks a free port).' },
  {
    name: 'HOST',
    default: '127.0.0.1',
    description: 'Interface to bind. Use 0.0.0.0 only behind a proxy or firewall.',
  },
  {
    name: 'PUBLIC_URL',
    default: 'http://localhost:$PORT',
    description:
      'External base URL used in every URL handed to an LMS (launch, login, keyset). Must be https unless the host is loopback; behind a proxy, the https URL the proxy serves.',
  },
  {
    name: 'DATABASE_URL',
    default: '(unset)',
    description: 'postgres://… selects PostgreSQL. Unset: the embedded PGlite database in PGLITE_DIR.',
  },
  {
    name: 'PGLITE_DIR',
    default: './data/pglite',
    description: 'Data directory of the embedded database (only when DATABASE_URL is unset).',
  },
  { name: 'LOG_LEVEL', default: 'info', description: 'One of debug, info, warn, error, silent.' },
  {
    name: 'TOOL_KEY_ROTATION_LEAD_SECONDS',
    default: '900',
    description:
      'After a tool key rotation, the new key is published this long before it signs anything (at least 300, the JWKS max-age).',
  },
  {
    name: 'TOOL_KEY_RETIRE_GRACE_SECONDS',
    default: '86400',
    description: 'A replaced tool key stays in the keyset this long after its successor starts signing.',
  },
  {
    name: 'LAUNCH_CREDENTIAL_TTL_SECONDS',
    default: '21600',
    description: 'How long an exercise page may report completion after a launch (6 hours).',
  },
  {
    name: 'METRICS_TOKEN',
    default: '(unset)',
    description: 'Enables Prometheus /metrics, readable with `Authorization: Bearer <METRICS_TOKEN>` (at least 16 characters).',
  },
  {
    name: 'TRUST_PROXY',
    default: '0',
    description:
      'How many proxies stand in front of the server. With 1 or more, the client address for rate limits is read from X-Forwarded-For, that many entries from the right; with 0 the header is ignored.',
  },
  {
    name: 'RATE_LIMIT_LOGIN_PER_MINUTE',
    default: String(DEFAULT_RATE_LIMITS.loginPerMinute),
    description: 'LTI login requests per client address per minute (also the burst); 0 turns the limit off; at most 1,000,000.',
  },
  {
    name: 'RATE_LIMIT_LAUNCH_PER_MINUTE',
    default: String(DEFAULT_RATE_LIMITS.launchPerMinute),
    description: 'LTI launch requests per client address per minute (also the burst); 0 turns the limit off; at most 1,000,000.',
  },
  {
    name: 'RATE_LIMIT_COMPLETION_PER_MINUTE',
    default: String(DEFAULT_RATE_LIMITS.completionPerMinute),
    description: 'Completion reports per client address per minute; 0 turns the limit off; at most 1,000,000.',
  },
  {
    name: 'RATE_LIMIT_COMPLETION_PER_CREDENTIAL_PER_MINUTE',
    default: String(DEFAULT_RATE_LIMITS.completionPerCredentialPerMinute),
    description: 'Completion reports per launch credential per minute; 0 turns the limit off; at most 1,000,000.',
  },
  {
    name: 'RATE_LIMIT_GRAPHQL_PER_MINUTE',
    default: String(DEFAULT_RATE_LIMITS.graphqlPerMinute),
    description: 'GraphQL requests per client address per minute; 0 turns the limit off; at most 1,000,000.',
  },
  {
    name: 'RATE_LIMIT_GRAPHQL_PER_TOKEN_PER_MINUTE',
    default: String(DEFAULT_RATE_LIMITS.graphqlPerTokenPerMinute),
    description: 'GraphQL requests per API token per minute; 0 turns the limit off; at most 1,000,000.',
  },
  {
    name: 'TOOL_KEY_ENCRYPTION_SECRET',
    default: '(unset)',
    description:
      'Encrypts the tool private keys in the database (at least 32 characters, e.g. `openssl rand -base64 32`). Once set, the server refuses to start without it. See docs/deployment.md.',
  },
  {
    name: 'TOOL_KEY_ENCRYPTION_SECRET_PREVIOUS',
    default: '(unset)',
    description:
      'While changing TOOL_KEY_ENCRYPTION_SECRET: the old secret. Keys encrypted with it are re-encrypted with the new one at start; remove it afterwards.',
  },
  {
    name: 'OUTBOUND_ALLOWED_NETWORKS',
    default: '(unset)',
    description:
      'Comma-separated CIDRs (e.g. 10.20.0.0/16, 127.0.0.1/32) that keyset, token and score requests may reach although they are loopback, private, link-local or otherwise special-use. Unset: only public addresses.',
  },
  {
    name: 'GRADE_DELIVERY_LEASE_SECONDS',
    default: '60',
    description:
      'A grade delivery claimed by a process is its own for this long; deliveries of a killed process are picked up by another (or the restarted one) once their lease expires. Must exceed twice GRADE_DELIVERY_TIMEOUT_SECONDS (2 to 3600).',
  },
  {
    name: 'GRADE_DELIVERY_TIMEOUT_SECONDS',
    default: '10',
    description: 'Timeout of one request to a platform\'s token or score endpoint while delivering a grade (1 to 300).',
  },
  {
    name: 'LOGIN_STATE_TTL_SECONDS',
    default: '600',
    description: 'How long a learner has between the login redirect and the launch (60 to 3600); the login lives in the browser\'s state cookie, not the database.',
  },
  {
    name: 'LOGIN_CLEANUP_INTERVAL_SECONDS',
    default: '60',
    description: 'How often launch refusals older than 30 days are deleted (1 to 3600). The name is from when logins were database rows.',
  },
];

export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

type Env = Record<string, string | undefined>;

/** Validates the whole environment at once so the operator sees every problem together. */
export function loadConfig(env: Env): Config {
  const problems: string[] = [];
  const value = (name: string) => {
    const v = env[name]?.trim();
    return v === '' ? undefined : v;
  };

  let port = 3000;
  const rawPort = value('PORT');
  if (rawPort !== undefined) {
    port = Number(rawPort);
    if (!/^\d+$/.test(rawPort) || port > 65535) {
      problems.push(`PORT must be an integer from 0 to 65535, got "${rawPort}"`);
    }
  }

  const host = value('HOST') ?? '127.0.0.1';

  let publicUrl = `http://localhost:${port}`;
  const rawPublicUrl = value('PUBLIC_URL');
  if (rawPublicUrl !== undefined) {
    const parsed = parseUrl(rawPublicUrl);
    // Problems are printed: never repeat a password someone put in the URL.
    const shown = rawPublicUrl.replace(/^([^/]*\/\/)[^/?#]*@/, '$1***@');
    if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
      problems.push(`PUBLIC_URL must be an absolute http(s) URL, got "${shown}"`);
    } else if (parsed.protocol === 'http:' && !isLoopbackHost(parsed.hostname)) {
      problems.push(
        `PUBLIC_URL must use https unless its host is loopback (LMSs require https launch URLs), got "${shown}"`,
      );
    } else if (parsed.search || parsed.hash || parsed.username || parsed.password) {
      problems.push('PUBLIC_URL must not contain credentials, a query or a fragment');
    } else {
      publicUrl = `${parsed.origin}${parsed.pathname}`.replace(/\/+$/, '');
    }
  }

  const databaseUrl = value('DATABASE_URL');
  if (databaseUrl !== undefined && !isPostgresUrl(databaseUrl)) {
    problems.push('DATABASE_URL must be a postgres:// or postgresql:// URL (or unset for the embedded database)');
  } else if (databaseUrl !== undefined) {
    const unreadable = unreadableDatabaseUrl(databaseUrl);
    if (unreadable) problems.push(unreadable);
  }

  const logLevel = (value('LOG_LEVEL') ?? 'info').toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${value('LOG_LEVEL')}"`);
  }

  const seconds = (name: string, fallback: number, min: number, max: number): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) {
      problems.push(`${name} must be a whole number of seconds from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return n;
  };
  // Never shorter than our JWKS cache life: a platform must see a key before it meets it.
  const toolKeyRotationLeadSeconds = seconds('TOOL_KEY_ROTATION_LEAD_SECONDS', 900, JWKS_MAX_AGE_SECONDS, 30 * 86400);
  const toolKeyRetireGraceSeconds = seconds('TOOL_KEY_RETIRE_GRACE_SECONDS', 86400, 0, 365 * 86400);
  const launchCredentialTtlSeconds = seconds('LAUNCH_CREDENTIAL_TTL_SECONDS', 21600, 60, 30 * 86400);

  const gradeDeliveryTimeoutSeconds = seconds('GRADE_DELIVERY_TIMEOUT_SECONDS', 10, 1, 300);
  const gradeDeliveryLeaseSeconds = seconds('GRADE_DELIVERY_LEASE_SECONDS', 60, 2, 3600);
  // A delivery (a token request, then the score POST, each up to the timeout) must fit in
  // its lease, or a second process could send the same score meanwhile. (A 401 token refresh
  // or several grades of one learner in one batch take longer: rare, and only a repeat POST.)
  if (gradeDeliveryLeaseSeconds <= 2 * gradeDeliveryTimeoutSeconds) {
    problems.push(
      `GRADE_DELIVERY_LEASE_SECONDS (${gradeDeliveryLeaseSeconds}) must be more than twice GRADE_DELIVERY_TIMEOUT_SECONDS (${gradeDeliveryTimeoutSeconds})`,
    );
  }
  const loginStateTtlSeconds = seconds('LOGIN_STATE_TTL_SECONDS', 600, 60, 3600);
  const loginCleanupIntervalSeconds = seconds('LOGIN_CLEANUP_INTERVAL_SECONDS', 60, 1, 3600);

  const metricsToken = value('METRICS_TOKEN');
  if (metricsToken !== undefined && metricsToken.length < 16) {
    problems.push('METRICS_TOKEN must be at least 16 characters');
  }

  const wholeNumber = (name: string, fallback: number, max: number): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n > max) {
      problems.push(`${name} must be a whole number from 0 to ${max}, got "${raw}"`);
      return fallback;
    }
    return n;
  };
  const trustProxyHops = wholeNumber('TRUST_PROXY', 0, 10);
  const rateLimits = Object.fromEntries(
    Object.entries(RATE_LIMIT_VARIABLES).map(([key, name]) => [
      key,
      wholeNumber(name, DEFAULT_RATE_LIMITS[key as keyof RateLimitConfig], 1_000_000),
    ]),
  ) as unknown as RateLimitConfig;
  const toolKeyEncryptionSecret = value('TOOL_KEY_ENCRYPTION_SECRET');
  const toolKeyEncryptionSecretPrevious = value('TOOL_KEY_ENCRYPTION_SECRET_PREVIOUS');
  for (const [name, secret] of [
    ['TOOL_KEY_ENCRYPTION_SECRET', toolKeyEncryptionSecret],
    ['TOOL_KEY_ENCRYPTION_SECRET_PREVIOUS', toolKeyEncryptionSecretPrevious],
  ] as const) {
    if (secret !== undefined && secret.length < MIN_KEY_ENCRYPTION_SECRET_LENGTH) {
      problems.push(`${name} must be at least ${MIN_KEY_ENCRYPTION_SECRET_LENGTH} characters`);
    }
  }
  if (toolKeyEncryptionSecretPrevious !== undefined && toolKeyEncryptionSecret === undefined) {
    problems.push('TOOL_KEY_ENCRYPTION_SECRET_PREVIOUS needs TOOL_KEY_ENCRYPTION_SECRET (the secret to re-encrypt with)');
  }
  if (toolKeyEncryptionSecretPrevious !== undefined && toolKeyEncryptionSecretPrevious === toolKeyEncryptionSecret) {
    problems.push('TOOL_KEY_ENCRYPTION_SECRET_PREVIOUS must differ from TOOL_KEY_ENCRYPTION_SECRET');
  }
  const outboundAllowedNetworks: string[] = [];
  for (const entry of (value('OUTBOUND_ALLOWED_NETWORKS') ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
    const parsed = parseCidr(entry);
    if ('error' in parsed) problems.push(`OUTBOUND_ALLOWED_NETWORKS: ${parsed.error}`);
    else outboundAllowedNetworks.push(parsed.text);
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    port,
    host,
    publicUrl,
    databaseUrl,
    pgliteDir: value('PGLITE_DIR') ?? './data/pglite',
    logLevel,
    toolKeyRotationLeadSeconds,
    toolKeyRetireGraceSeconds,
    launchCredentialTtlSeconds,
    metricsToken,
    trustProxyHops,
    rateLimits,
    toolKeyEncryptionSecret,
    toolKeyEncryptionSecretPrevious,
    outboundAllowedNetworks,
    gradeDeliveryLeaseSeconds,
    gradeDeliveryTimeoutSeconds,
    loginStateTtlSeconds,
    loginCleanupIntervalSeconds,
  };
}

function parseUrl(s: string): URL | undefined {
  try {
    return new URL(s);
  } catch {
    return undefined;
  }
}
