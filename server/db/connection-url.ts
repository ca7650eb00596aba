import pg from 'pg';

/** Whether DATABASE_URL selects PostgreSQL (any other value is refused; unset means PGlite). */
export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url);
}

/**
 * The problem to report when pg cannot use this PostgreSQL connection URL (its own parser,
 * which accepts forms `new URL` does not), or undefined when it can. Checked before anything
 * opens the database: otherwise a URL such as `postgres://u:p@[::1/db` stops with a bare
 * "Invalid URL" that names no setting. pg's reason is withheld when it would quote the URL or
 * its password.
 */
export function unreadableDatabaseUrl(url: string): string | undefined {
  try {
    // The constructor parses the URL (and reads any sslcert/sslkey/sslrootcert file it names)
    // but opens no connection.
    new pg.Client({ connectionString: url });
    return undefined;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const password = /^[^:]+:\/\/[^:@/]*:([^@/]*)@/.exec(url)?.[1];
    const secrets = [url, ...(password ? [password, safeDecode(password)] : [])];
    const reason = secrets.some((secret) => message.includes(secret)) ? 'the reason is withheld, as it quotes the URL or its password' : message;
    return `DATABASE_URL must be a connection URL the PostgreSQL client can read: ${reason}`;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
