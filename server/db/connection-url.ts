import pg from 'pg';

/**
 * Why pg cannot use this PostgreSQL connection URL (its own parser, which accepts forms
 * `new URL` does not), or undefined when it can. Checked before anything opens the database:
 * otherwise a URL such as `postgres://u:p@[::1/db` stops with a bare "Invalid URL" that names
 * no setting. The reason is withheld when it would quote the URL or its password.
 */
export function connectionUrlProblem(url: string): string | undefined {
  try {
    // The constructor parses the URL (and reads any sslcert/sslkey/sslrootcert file it names)
    // but opens no connection.
    new pg.Client({ connectionString: url });
    return undefined;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const password = /^[^:]+:\/\/[^:@/]*:([^@/]*)@/.exec(url)?.[1];
    const secrets = [url, ...(password ? [password, safeDecode(password)] : [])];
    return secrets.some((secret) => message.includes(secret)) ? 'the reason is withheld, as it quotes the URL or its password' : message;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
