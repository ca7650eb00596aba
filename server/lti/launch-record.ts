import { sqlTextArray as textArray, sqlTimestamp as ts } from '../db/sql.ts';
import { Prisma, type PrismaClient } from '../generated/prisma/client.ts';
import type { LaunchRegistration } from './launch-queries.ts';

export interface LaunchData {
  id: string;
  appId: string;
  registrationId: string;
  deploymentId: string;
  subject: string;
  name: string | null;
  givenName: string | null;
  familyName: string | null;
  email: string | null;
  roles: string[];
  contextId: string | null;
  contextTitle: string | null;
  contextLabel: string | null;
  resourceLinkId: string;
  resourceLinkTitle: string | null;
  agsLineitem: string | null;
  agsLineitems: string | null;
  agsScopes: string[];
  /** Handed to the exercise page once; only its hash is stored. */
  credential: string;
  credentialHash: string;
  credentialExpiresAt: Date;
}


/**
 * Consumes the login state and records the launch in ONE statement: the insert happens
 * only if this call is the one that marked the state used, so a replayed (or raced)
 * launch can never create a second record, on any number of processes. Returns false
 * when the state was already used or expired in the meantime.
 */
export async function consumeStateAndRecordLaunch(
  prisma: PrismaClient,
  state: string,
  launch: LaunchData,
  now: Date,
): Promise<boolean> {
  const rows = await prisma.$queryRaw<{ id: string }[]>`
    WITH consumed AS (
      UPDATE "LoginState" SET "usedAt" = ${ts(now)}
      WHERE "state" = ${state} AND "usedAt" IS NULL AND "expiresAt" > ${ts(now)}
      RETURNING "state"
    )
    ${insertLaunchFrom(launch, now)}`;
  return rows.length === 1;
}

/**
 * The short road's single statement (see handleLaunch): like consumeStateAndRecordLaunch,
 * and it also checks what the caller did not read — that the login is for this app and
 * registration and carries the token's nonce — and that the registration the token was
 * verified against is still exactly as cached (issuer, client id, keyset URL, exercise
 * URL), still has the deployment, and that its app is still public. False when any of
 * that does not hold; nothing is written then.
 */
export async function recordLaunchIfLoginAndRegistrationMatch(
  prisma: PrismaClient,
  { state, nonce, registration, launch, now }: {
    state: string;
    nonce: string;
    registration: LaunchRegistration;
    launch: LaunchData;
    now: Date;
  },
): Promise<boolean> {
  const rows = await prisma.$queryRaw<{ id: string }[]>`
    WITH consumed AS (
      UPDATE "LoginState" s SET "usedAt" = ${ts(now)}
      WHERE s."state" = ${state} AND s."usedAt" IS NULL AND s."expiresAt" > ${ts(now)}
        AND s."nonce" = ${nonce} AND s."appId" = ${launch.appId} AND s."registrationId" = ${registration.id}
        AND EXISTS (
          SELECT 1 FROM "LtiRegistration" r JOIN "App" a ON a."id" = r."appId"
          WHERE r."id" = ${registration.id} AND a."id" = ${launch.appId} AND a."isPublic"
            AND r."issuer" = ${registration.issuer} AND r."clientId" = ${registration.clientId}
            AND r."keysetUrl" = ${registration.keysetUrl} AND a."exerciseUrl" = ${registration.exerciseUrl}
            AND CAST(${launch.deploymentId} AS text) = ANY (r."deploymentIds")
        )
      RETURNING s."state"
    )
    ${insertLaunchFrom(launch, now)}`;
  return rows.length === 1;
}

/** `INSERT INTO "Launch" … FROM consumed RETURNING "id"`: one row when the CTE consumed the login. */
function insertLaunchFrom(launch: LaunchData, now: Date): Prisma.Sql {
  return Prisma.sql`
    INSERT INTO "Launch" (
      "id", "appId", "registrationId", "deploymentId", "subject", "name", "givenName", "familyName",
      "email", "roles", "contextId", "contextTitle", "contextLabel", "resourceLinkId", "resourceLinkTitle",
      "agsLineitem", "agsLineitems", "agsScopes", "credentialHash", "credentialExpiresAt", "createdAt"
    )
    SELECT ${launch.id}, ${launch.appId}, ${launch.registrationId}, ${launch.deploymentId}, ${launch.subject},
      ${launch.name}, ${launch.givenName}, ${launch.familyName}, ${launch.email}, ${textArray(launch.roles)},
      ${launch.contextId}, ${launch.contextTitle}, ${launch.contextLabel}, ${launch.resourceLinkId},
      ${launch.resourceLinkTitle}, ${launch.agsLineitem}, ${launch.agsLineitems}, ${textArray(launch.agsScopes)},
      ${launch.credentialHash}, ${ts(launch.credentialExpiresAt)}, ${ts(now)}
    FROM consumed
    RETURNING "id"`;
}
