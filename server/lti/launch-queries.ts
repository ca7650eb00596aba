import { timestampParam, type SqlRunner } from '../db/sql-runner.ts';
import type { PrismaClient } from '../generated/prisma/client.ts';
import type { LoginStateRow } from './checks/state.ts';

/**
 * The launch path's reads, each one SQL statement (the ORM would split each into one query
 * per relation; on the embedded database every statement costs real CPU). Column names
 * are the Prisma schema's.
 */

export interface LoginTarget {
  isPublic: boolean;
  /** Up to two matching registrations (two means client_id is needed to choose). */
  registrations: LaunchRegistration[];
  /** Whether the login state was stored (exactly one public registration matched). */
  stored: boolean;
}

/**
 * Finds the app and its registrations for (issuer[, clientId]) and, in the same statement,
 * stores the login state when the login is acceptable: the app is public, exactly one
 * registration matches, and the deployment (if the platform named one) is registered.
 * The caller diagnoses a refusal from the rows returned, so an accepted login costs one
 * statement and a refused one writes nothing. Undefined when there is no such app.
 */
export async function storeLoginIfAcceptable(
  sql: SqlRunner,
  login: {
    appId: string;
    issuer: string;
    clientId: string | undefined;
    deploymentId: string | undefined;
    state: string;
    nonce: string;
    createdAt: Date;
    expiresAt: Date;
  },
): Promise<LoginTarget | undefined> {
  const rows = await sql.rows<TargetRow & { stored: boolean }>({
    name: 'lti_store_login',
    text: `
    WITH target AS (
      SELECT a."isPublic", a."exerciseUrl", r."id", r."issuer", r."clientId", r."keysetUrl", r."authLoginUrl", r."deploymentIds"
      FROM "App" a
      LEFT JOIN "LtiRegistration" r
        ON r."appId" = a."id" AND r."issuer" = $2
        AND (CAST($3 AS text) IS NULL OR r."clientId" = CAST($3 AS text))
      WHERE a."id" = $1
      LIMIT 2
    ), stored AS (
      INSERT INTO "LoginState" ("state", "nonce", "appId", "registrationId", "createdAt", "expiresAt")
      SELECT $5, $6, $1, t."id", CAST($7 AS timestamp(3)), CAST($8 AS timestamp(3))
      FROM target t
      WHERE t."isPublic" AND t."id" IS NOT NULL
        AND (SELECT count(*) FROM target) = 1
        AND (CAST($4 AS text) IS NULL OR CAST($4 AS text) = ANY (t."deploymentIds"))
      RETURNING "state"
    )
    SELECT t.*, EXISTS (SELECT 1 FROM stored) AS "stored" FROM target t`,
    values: [
      login.appId,
      login.issuer,
      login.clientId ?? null,
      login.deploymentId ?? null,
      login.state,
      login.nonce,
      timestampParam(login.createdAt),
      timestampParam(login.expiresAt),
    ],
  });
  if (rows.length === 0) return undefined;
  return {
    isPublic: rows[0]!.isPublic,
    stored: rows[0]!.stored,
    registrations: rows
      .filter((r) => r.id !== null)
      .map((r) => ({
        id: r.id!,
        appId: login.appId,
        issuer: r.issuer!,
        clientId: r.clientId!,
        keysetUrl: r.keysetUrl!,
        authLoginUrl: r.authLoginUrl!,
        deploymentIds: r.deploymentIds ?? [],
        isPublic: r.isPublic,
        exerciseUrl: r.exerciseUrl,
      })),
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

/** The login a launch finishes, with its registration and app (null once they were removed). */
export async function findLoginForLaunch(
  prisma: PrismaClient,
  state: string,
): Promise<{ login: LoginStateRow; registration: LaunchRegistration | null } | null> {
  const rows = await prisma.$queryRaw<
    Array<LoginStateRow & { rId: string | null; rAppId: string | null; issuer: string | null; clientId: string | null; keysetUrl: string | null; authLoginUrl: string | null; deploymentIds: string[] | null; isPublic: boolean | null; exerciseUrl: string | null }>
  >`
    SELECT s."state", s."nonce", s."appId", s."registrationId", s."expiresAt", s."usedAt",
      r."id" AS "rId", r."appId" AS "rAppId", r."issuer", r."clientId", r."keysetUrl", r."authLoginUrl", r."deploymentIds",
      a."isPublic", a."exerciseUrl"
    FROM "LoginState" s
    LEFT JOIN "LtiRegistration" r ON r."id" = s."registrationId"
    LEFT JOIN "App" a ON a."id" = r."appId"
    WHERE s."state" = ${state}`;
  const row = rows[0];
  if (!row) return null;
  const login: LoginStateRow = {
    state: row.state,
    nonce: row.nonce,
    appId: row.appId,
    registrationId: row.registrationId,
    expiresAt: new Date(row.expiresAt),
    usedAt: row.usedAt === null ? null : new Date(row.usedAt),
  };
  const registration =
    row.rId === null
      ? null
      : {
          id: row.rId,
          appId: row.rAppId!,
          issuer: row.issuer!,
          clientId: row.clientId!,
          keysetUrl: row.keysetUrl!,
          authLoginUrl: row.authLoginUrl!,
          deploymentIds: row.deploymentIds ?? [],
          isPublic: row.isPublic!,
          exerciseUrl: row.exerciseUrl!,
        };
  return { login, registration };
}
