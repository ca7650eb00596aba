import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type ExecutionResult } from 'graphql';
import { createApp, type App } from '../../server/app.ts';
import { issueApiToken } from '../../server/auth/api-tokens.ts';
import { loadConfig, type Config, type RateLimitConfig } from '../../server/config.ts';
import type { Database } from '../../server/db/client.ts';
import { createTestLogger, registerTestSecret } from './test-logger.ts';

export const TEST_PUBLIC_URL = 'https://tool.example.test';

/**
 * For OUTBOUND_ALLOWED_NETWORKS when a test's platform listens on this machine. Never a
 * default: a test that needs loopback says so, and every other test runs with the
 * production policy (only public addresses).
 */
export const LOOPBACK_NETWORKS: readonly string[] = ['127.0.0.0/8', '::1/128'];

/**
 * Every rate limit off (0), for tests that send many requests as one client (in-process
 * `app.fetch` without an address counts them all as one): the fuzz, and the rate-limit tests,
 * which then turn on only the limit under test. Rate limits have their own tests
 * (test/http/request-limits.test.ts).
 */
export const NO_RATE_LIMITS: RateLimitConfig = {
  loginPerMinute: 0,
  launchPerMinute: 0,
  completionPerMinute: 0,
  completionPerCredentialPerMinute: 0,
  graphqlPerMinute: 0,
  graphqlPerTokenPerMinute: 0,
};

export function testConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({ PUBLIC_URL: TEST_PUBLIC_URL, LOG_LEVEL: 'silent' }), ...overrides };
}

export interface TestOwner {
  ownerId: string;
  token: string;
}

export async function createOwner(db: Database, name = 'Owner'): Promise<TestOwner> {
  const owner = await db.prisma.owner.create({ data: { name } });
  const { token } = await issueApiToken(db.prisma, owner.id, 'test');
  return { ownerId: owner.id, token: registerTestSecret(token, 'API token') };
}

export interface GraphQLClient {
  /** Runs a typed operation; throws if the response has top-level errors. */
  run<R, V>(doc: TypedDocumentNode<R, V>, variables: V): Promise<R>;
  /** Runs a typed operation and returns the raw HTTP status and body. */
  raw<R, V>(doc: TypedDocumentNode<R, V>, variables: V): Promise<{ status: number; body: ExecutionResult<R> }>;
}

export function graphqlClient(app: App, token: string | undefined): GraphQLClient {
  const raw = async <R, V>(doc: TypedDocumentNode<R, V>, variables: V) => {
    const response = await app.fetch(
      new Request(`${TEST_PUBLIC_URL}/graphql`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query: print(doc), variables }),
      }),
    );
    return { status: response.status, body: (await response.json()) as ExecutionResult<R> };
  };
  return {
    raw,
    async run(doc, variables) {
      const { status, body } = await raw(doc, variables);
      if (body.errors?.length || !body.data) {
        throw new Error(`GraphQL ${status}: ${JSON.stringify(body.errors)}`);
      }
      return body.data;
    },
  };
}

/** Registers the configuration's secrets with the end-of-run log scan. */
export function registerConfigSecrets(config: Config): void {
  registerTestSecret(config.metricsToken, 'METRICS_TOKEN');
  registerTestSecret(config.toolKeyEncryptionSecret, 'TOOL_KEY_ENCRYPTION_SECRET');
  registerTestSecret(config.toolKeyEncryptionSecretPrevious, 'TOOL_KEY_ENCRYPTION_SECRET_PREVIOUS');
}

export function createTestApp(db: Database, config: Config = testConfig()): App {
  registerConfigSecrets(config);
  return createApp(config, { db, logger: createTestLogger() });
}
