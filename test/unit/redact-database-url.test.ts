import { describe, expect, it } from 'vitest';
import { redactDatabaseUrl } from '../../server/db/client.ts';

// The server logs the database it opened and `db:migrate:status` prints it: never a password.
describe('redactDatabaseUrl', () => {
  it.each([
    ['postgres://lti:s3cret@db.example:5432/lti', 'postgres://lti:***@db.example:5432/lti'],
    ['postgres://lti@db.example/lti?password=s3cret', 'postgres://lti@db.example/lti?password=***'],
    ['postgres://lti@db.example/lti?sslmode=verify-full&sslpassword=s3cret', 'postgres://lti@db.example/lti?sslmode=verify-full&sslpassword=***'],
    ['postgres://lti@db.example/lti?sslmode=require', 'postgres://lti@db.example/lti?sslmode=require'],
  ])('%s', (url, shown) => {
    expect(redactDatabaseUrl(url)).toBe(shown);
    expect(redactDatabaseUrl(url)).not.toContain('s3cret');
  });

  it('an unparseable URL is not echoed at all', () => {
    expect(redactDatabaseUrl('postgres://u:s3cret@[::1/db')).toBe('postgresql://(unparseable url)');
  });
});
