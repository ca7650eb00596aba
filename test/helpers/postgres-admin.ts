import pg from 'pg';

export const TEMPLATE_DATABASE = 'lti_test_template';

export function databaseUrlWithName(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Runs statements on the server's maintenance database (CREATE/DROP DATABASE can't run in a transaction). */
export async function adminQuery(url: string, ...statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrlWithName(url, 'postgres') });
  await client.connect();
  try {
    for (const sql of statements) await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function recreateDatabase(url: string, name: string, template?: string): Promise<void> {
  await adminQuery(
    url,
    `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`,
    `CREATE DATABASE "${name}"${template ? ` TEMPLATE "${template}"` : ''}`,
  );
}
