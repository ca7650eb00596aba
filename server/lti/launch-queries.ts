import type { SqlRunner } from '../db/sql-runner.ts';

/**
 * The launch path's reads, each one SQL statement (the ORM would split each into one query
 * per relation; on the embedded database every statement costs real CPU). Column names
 * are the Prisma schema's.
 */

export interface LoginTarget {
  isPublic: boolean;
  /** Up to two matching registrations (two means client_id is needed to choose). */
  registrations: LaunchRegistration[];
}

/**
 * Finds the app and up to two of its registrations for (issuer[, clientId]), in one read:
 * the login diagnoses the rows (app missing, private, no or several registrations, unknown
 * deployment). Undefined when there is no such app.
 */
export async function findLoginTarget(
  sql: SqlRunner,
  login: { appId: string; issuer: string; clientId: string | undefined },
): Promise<LoginTarget | undefined> {
  const rows = await sql.rows<TargetRow>({
    name: 'lti_login_target',
    text: `
    SELECT a."isPublic", a."exerciseUrl", r."id", r."issuer", r."clientId", r."keysetUrl", r."authLoginUrl", r."deploymentIds"
    FROM "App" a
    LEFT JOIN "LtiRegistration" r
      ON r."appId" = a."id" AND r."issuer" = $2
      AND (CAST($3 AS text) IS NULL OR r."clientId" = CAST($3 AS text))
    WHERE a."id" = $1
    LIMIT 2`,
    values: [login.appId, login.issuer, login.clientId ?? null],
  });
  if (rows.length === 0) return undefined;
  return {
    isPublic: rows[0]!.isPublic,
    registrations: rows.filter((r) => r.id !== null).map((r) => registrationOf(r, login.appId)),
  };
}

interface TargetRow {
  isPublic: boolean;
  exerciseUrl: string;
  id: string | null;
  issuer: string | null;
  clientId: string | null;
  keysetUrl: string | null;
  authLoginUrl: string | null;
  deploymentIds: string[] | null;
}

export interface LaunchRegistration {
  id: string;
  appId: string;
  issuer: string;
  clientId: string;
  keysetUrl: string;
  authLoginUrl: string;
  deploymentIds: string[];
  isPublic: boolean;
  exerciseUrl: string;
}

/**
 * What the full launch path reads: the login's registration with its app (null once either
 * was removed), and whether a launch already used the login's nonce. One statement.
 */
export async function findRegistrationForLaunch(
  sql: SqlRunner,
  login: { registrationId: string; nonce: string },
): Promise<{ registration: LaunchRegistration | null; nonceUsed: boolean }> {
  const rows = await sql.rows<TargetRow & { appId: string | null; nonceUsed: boolean }>({
    name: 'lti_launch_registration',
    text: `
    SELECT r."id", r."appId", r."issuer", r."clientId", r."keysetUrl", r."authLoginUrl", r."deploymentIds",
      a."isPublic", a."exerciseUrl",
      EXISTS (SELECT 1 FROM "Launch" l WHERE l."nonce" = $2) AS "nonceUsed"
    FROM (SELECT 1) AS one
    LEFT JOIN "LtiRegistration" r ON r."id" = $1
    LEFT JOIN "App" a ON a."id" = r."appId"`,
    values: [login.registrationId, login.nonce],
  });
  const row = rows[0]!;
  return { registration: row.id === null ? null : registrationOf(row, row.appId!), nonceUsed: row.nonceUsed };
}

function registrationOf(row: TargetRow, appId: string): LaunchRegistration {
  return {
    id: row.id!,
    appId,
    issuer: row.issuer!,
    clientId: row.clientId!,
    keysetUrl: row.keysetUrl!,
    authLoginUrl: row.authLoginUrl!,
    deploymentIds: row.deploymentIds ?? [],
    isPublic: row.isPublic,
    exerciseUrl: row.exerciseUrl,
  };
}
