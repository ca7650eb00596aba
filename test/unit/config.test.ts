import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../../server/config.ts';

describe('loadConfig', () => {
  it('has safe defaults', () => {
    expect(loadConfig({})).toEqual({
      port: 3000,
      host: '127.0.0.1',
      publicUrl: 'http://localhost:3000',
      databaseUrl: undefined,
      pgliteDir: './data/pglite',
      logLevel: 'info',
      toolKeyRotationLeadSeconds: 900,
      toolKeyRetireGraceSeconds: 86400,
      launchCredentialTtlSeconds: 21600,
      metricsToken: undefined,
      trustProxyHops: 0,
      rateLimits: {
        loginPerMinute: 1200,
        launchPerMinute: 1200,
        completionPerMinute: 1200,
        completionPerCredentialPerMinute: 30,
        graphqlPerMinute: 600,
        graphqlPerTokenPerMinute: 300,
      },
      toolKeyEncryptionSecret: undefined,
      toolKeyEncryptionSecretPrevious: undefined,
      outboundAllowedNetworks: [],
      gradeDeliveryLeaseSeconds: 60,
      gradeDeliveryTimeoutSeconds: 10,
      loginStateTtlSeconds: 600,
      loginCleanupIntervalSeconds: 60,
    });
  });

  it('normalises PUBLIC_URL and reads every variable', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      PUBLIC_URL: 'https://tool.example.org/lti-apps/',
      DATABASE_URL: 'postgres://u:p@db:5432/lti',
      PGLITE_DIR: '/var/lib/lti',
      LOG_LEVEL: 'WARN',
      TOOL_KEY_ROTATION_LEAD_SECONDS: '300',
      TOOL_KEY_RETIRE_GRACE_SECONDS: '60',
      LAUNCH_CREDENTIAL_TTL_SECONDS: '3600',
      METRICS_TOKEN: 'm'.repeat(16),
      TRUST_PROXY: '2',
      RATE_LIMIT_LOGIN_PER_MINUTE: '10',
      RATE_LIMIT_LAUNCH_PER_MINUTE: '11',
      RATE_LIMIT_COMPLETION_PER_MINUTE: '12',
      RATE_LIMIT_COMPLETION_PER_CREDENTIAL_PER_MINUTE: '13',
      RATE_LIMIT_GRAPHQL_PER_MINUTE: '0',
      RATE_LIMIT_GRAPHQL_PER_TOKEN_PER_MINUTE: '15',
      TOOL_KEY_ENCRYPTION_SECRET: 's'.repeat(32),
      TOOL_KEY_ENCRYPTION_SECRET_PREVIOUS: 'p'.repeat(32),
      OUTBOUND_ALLOWED_NETWORKS: ' 10.20.0.0/16, 127.0.0.1 ,FD00::/8,',
      GRADE_DELIVERY_LEASE_SECONDS: '7',
      GRADE_DELIVERY_TIMEOUT_SECONDS: '3',
      LOGIN_STATE_TTL_SECONDS: '60',
      LOGIN_CLEANUP_INTERVAL_SECONDS: '5',
    });
    expect(config).toEqual({
      port: 8080,
      host: '0.0.0.0',
      publicUrl: 'https://tool.example.org/lti-apps',
      databaseUrl: 'postgres://u:p@db:5432/lti',
      pgliteDir: '/var/lib/lti',
      logLevel: 'warn',
      toolKeyRotationLeadSeconds: 300,
      toolKeyRetireGraceSeconds: 60,
      launchCredentialTtlSeconds: 3600,
      metricsToken: 'm'.repeat(16),
      trustProxyHops: 2,
      rateLimits: {
        loginPerMinute: 10,
        launchPerMinute: 11,
        completionPerMinute: 12,
        completionPerCredentialPerMinute: 13,
        graphqlPerMinute: 0,
        graphqlPerTokenPerMinute: 15,
      },
      toolKeyEncryptionSecret: 's'.repeat(32),
      toolKeyEncryptionSecretPrevious: 'p'.repeat(32),
      outboundAllowedNetworks: ['10.20.0.0/16', '127.0.0.1/32', 'fd00::/8'],
      gradeDeliveryLeaseSeconds: 7,
      gradeDeliveryTimeoutSeconds: 3,
      loginStateTtlSeconds: 60,
      loginCleanupIntervalSeconds: 5,
    });
  });

  it.each([
    ['TRUST_PROXY', 'yes'],
    ['TRUST_PROXY', '11'],
    ['TRUST_PROXY', '-1'],
    ['RATE_LIMIT_LAUNCH_PER_MINUTE', '1.5'],
    ['RATE_LIMIT_GRAPHQL_PER_MINUTE', 'many'],
    ['RATE_LIMIT_COMPLETION_PER_CREDENTIAL_PER_MINUTE', '1000001'],
  ])('refuses %s=%s', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`${name} must be a whole number`));
  });

  it('refuses a short key-encryption secret, and a previous secret without a current one or equal to it', () => {
    expect(() => loadConfig({ TOOL_KEY_ENCRYPTION_SECRET: 's'.repeat(31) })).toThrow(/TOOL_KEY_ENCRYPTION_SECRET must be at least 32/);
    expect(() => loadConfig({ TOOL_KEY_ENCRYPTION_SECRET_PREVIOUS: 'p'.repeat(32) })).toThrow(
      /TOOL_KEY_ENCRYPTION_SECRET_PREVIOUS needs TOOL_KEY_ENCRYPTION_SECRET/,
    );
    expect(() =>
      loadConfig({ TOOL_KEY_ENCRYPTION_SECRET: 's'.repeat(32), TOOL_KEY_ENCRYPTION_SECRET_PREVIOUS: 's'.repeat(32) }),
    ).toThrow(/must differ/);
    expect(() =>
      loadConfig({ TOOL_KEY_ENCRYPTION_SECRET: 's'.repeat(32), TOOL_KEY_ENCRYPTION_SECRET_PREVIOUS: 'short' }),
    ).toThrow(/TOOL_KEY_ENCRYPTION_SECRET_PREVIOUS must be at least 32/);
  });

  it('refuses a grade delivery lease a live delivery could outlast (token request + score POST)', () => {
    expect(() => loadConfig({ GRADE_DELIVERY_LEASE_SECONDS: '20' })).toThrow(
      /GRADE_DELIVERY_LEASE_SECONDS \(20\) must be more than twice GRADE_DELIVERY_TIMEOUT_SECONDS \(10\)/,
    );
    expect(loadConfig({ GRADE_DELIVERY_LEASE_SECONDS: '21' }).gradeDeliveryLeaseSeconds).toBe(21);
    expect(loadConfig({ GRADE_DELIVERY_LEASE_SECONDS: '5', GRADE_DELIVERY_TIMEOUT_SECONDS: '2' }).gradeDeliveryLeaseSeconds).toBe(5);
  });

  it.each([
    ['GRADE_DELIVERY_LEASE_SECONDS', '1'],
    ['GRADE_DELIVERY_LEASE_SECONDS', '3601'],
    ['GRADE_DELIVERY_LEASE_SECONDS', '60s'],
    ['GRADE_DELIVERY_TIMEOUT_SECONDS', '0'],
    ['GRADE_DELIVERY_TIMEOUT_SECONDS', '301'],
    ['LOGIN_STATE_TTL_SECONDS', '59'],
    ['LOGIN_STATE_TTL_SECONDS', '3601'],
    ['LOGIN_CLEANUP_INTERVAL_SECONDS', '0'],
    ['LOGIN_CLEANUP_INTERVAL_SECONDS', '-1'],
  ])('refuses %s=%s', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`${name} must be`));
  });

  it('reports every problem at once', () => {
    try {
      loadConfig({
        PORT: '99999',
        PUBLIC_URL: 'http://tool.example.org',
        DATABASE_URL: 'mysql://x',
        LOG_LEVEL: 'loud',
        LAUNCH_CREDENTIAL_TTL_SECONDS: '5',
        TOOL_KEY_ROTATION_LEAD_SECONDS: '299',
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems;
      expect(problems).toHaveLength(6);
      expect(problems.join('\n')).toMatch(
        /PORT[\s\S]*PUBLIC_URL must use https[\s\S]*DATABASE_URL[\s\S]*LOG_LEVEL[\s\S]*TOOL_KEY_ROTATION_LEAD_SECONDS[\s\S]*LAUNCH_CREDENTIAL_TTL_SECONDS/,
      );
    }
  });

  it.each([
    ['an unclosed IPv6 host', 'postgres://lti:s3cret-pw@[::1/lti', /DATABASE_URL must be a connection URL the PostgreSQL client can read: Invalid URL/],
    ['a missing sslrootcert file', 'postgres://lti:s3cret-pw@db/lti?sslrootcert=/nonexistent/root.crt', /DATABASE_URL must be a connection URL the PostgreSQL client can read: .*ENOENT.*\/nonexistent\/root\.crt/],
    // The file's path holds the password, so pg's reason would quote it.
    ['a reason that would quote the password', 'postgres://lti:s3cret-pw@db/lti?sslrootcert=/nonexistent/s3cret-pw', /DATABASE_URL must be a connection URL the PostgreSQL client can read: the reason is withheld, as it quotes the URL or its password$/],
  ])('refuses a DATABASE_URL pg cannot read (%s), naming the setting and never the password', (_label, url, reason) => {
    try {
      loadConfig({ DATABASE_URL: url });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems;
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(reason);
      expect(problems[0]).not.toContain('s3cret-pw');
    }
  });

  it.each([
    'postgres://lti:s3cret@db.example.org:5432/lti?sslmode=verify-full',
    'postgresql://lti@/lti?host=/var/run/postgresql',
    'postgres://lti:p%40ss@[::1]:5432/lti',
  ])('accepts DATABASE_URL=%s', (url) => {
    expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
  });

  it.each(['ftp://x.example', 'not a url', 'https://x.example/?q=1', 'https://u:p@x.example'])(
    'refuses PUBLIC_URL=%s',
    (value) => {
      expect(() => loadConfig({ PUBLIC_URL: value })).toThrow(ConfigError);
    },
  );

  it('refuses OUTBOUND_ALLOWED_NETWORKS entries that are not exact CIDRs, naming each', () => {
    try {
      loadConfig({ OUTBOUND_ALLOWED_NETWORKS: '10.0.0.1/8,intranet.example.org,::1/129' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems;
      expect(problems).toHaveLength(3);
      expect(problems[0]).toContain('did you mean 10.0.0.0/8');
      expect(problems[1]).toContain('"intranet.example.org" is not an IPv4 or IPv6 address');
      expect(problems[2]).toContain('invalid prefix length');
    }
  });

  it('allows plain http PUBLIC_URL on loopback hosts only', () => {
    expect(loadConfig({ PUBLIC_URL: 'http://127.0.0.1:4000' }).publicUrl).toBe('http://127.0.0.1:4000');
    expect(loadConfig({ PUBLIC_URL: 'http://[::1]:4000' }).publicUrl).toBe('http://[::1]:4000');
    expect(() => loadConfig({ PUBLIC_URL: 'http://192.168.1.10' })).toThrow(/https/);
  });

  it('is documented in the README, variable by variable, with its default', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const v of CONFIG_VARIABLES) {
      const shown = v.default === undefined || v.default === '(unset)' ? '(unset)' : `\`${v.default}\``;
      expect(readme).toContain(`| \`${v.name}\` | ${shown} |`);
    }
  });
});
