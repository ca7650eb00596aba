import { sqlTimestamp } from '../db/sql.ts';
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
  registrations: Array<{ id: string; clientId: string; authLoginUrl: string; deploymentIds: string[] }>;
}

/** The app and its registrations for (issuer[, clientId]); undefined when there is no such app. */
export async function findLoginTarget(
  prisma: PrismaClient,
  appId: string,
  issuer: string,
  clientId: string | undefined,
): Promise<LoginTarget | undefined> {
  const rows = await prisma.$queryRaw<
    Array<{ isPublic: boolean; id: string | null; clientId: string | null; authLoginUrl: string | null; deploymentIds: string[] | null }>
  >`
    SELECT a."isPublic", r."id", r."clientId", r."authLoginUrl", r."deploymentIds"
    FROM "App" a
    LEFT JOIN "LtiRegistration" r
      ON r."appId" = a."id" AND r."issuer" = ${issuer}
      AND (CAST(${clientId ?? null} AS text) IS NULL OR r."clientId" = CAST(${clientId ?? null} AS text))
    WHERE a."id" = ${appId}
    LIMIT 2`;
  if (rows.length === 0) return undefined;
  return {
    isPublic: rows[0]!.isPublic,
    registrations: rows
      .filter((r) => r.id !== null)
      .map((r) => ({ id: r.id!, clientId: r.clientId!, authLoginUrl: r.authLoginUrl!, deploymentIds: r.deploymentIds ?? [] })),
  };
}

export async function insertLoginState(
  prisma: PrismaClient,
  row: { state: string; nonce: string; appId: string; registrationId: string; createdAt: Date; expiresAt: Date },
): Promise<void> {
  await prisma.$executeRaw`
    INSERT INTO "LoginState" ("state", "nonce", "appId", "registrationId", "createdAt", "expiresAt")
    VALUES (${row.state}, ${row.nonce}, ${row.appId}, ${row.registrationId},
      ${sqlTimestamp(row.createdAt)}, ${sqlTimestamp(row.expiresAt)})`;
}

export interface LaunchRegistration {
  id: string;
  appId: string;
  issuer: string;
  clientId: string;
  keysetUrl: string;
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
    Array<LoginStateRow & { rId: string | null; rAppId: string | null; issuer: string | null; clientId: string | null; keysetUrl: string | null; deploymentIds: string[] | null; isPublic: boolean | null; exerciseUrl: string | null }>
  >`
    SELECT s."state", s."nonce", s."appId", s."registrationId", s."expiresAt", s."usedAt",
      r."id" AS "rId", r."appId" AS "rAppId", r."issuer", r."clientId", r."keysetUrl", r."deploymentIds",
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
          deploymentIds: row.deploymentIds ?? [],
          isPublic: row.isPublic!,
          exerciseUrl: row.exerciseUrl!,
        };
  return { login, registration };
}
