import { sqlTextArray as textArray, sqlTimestamp as ts } from '../db/sql.ts';
import { Prisma, type PrismaClient } from '../generated/prisma/client.ts';
import { timestampParam, type SqlRunner } from '../db/sql-runner.ts';
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
  sql: SqlRunner,
  { state, nonce, registration, launch, now }: {
    state: string;
    nonce: string;
    registration: LaunchRegistration;
    launch: LaunchData;
    now: Date;
  },
): Promise<boolean> {
  const rows = await sql.rows<{ id: string }>({
    name: 'lti_record_launch',
    text: `
    WITH consumed AS (
      UPDATE "LoginState" s SET "usedAt" = CAST($4 AS timestamp(3))
      WHERE s."state" = $1 AND s."usedAt" IS NULL AND s."expiresAt" > CAST($4 AS timestamp(3))
        AND s."nonce" = $2 AND s."appId" = $3 AND s."registrationId" = $5
        AND EXISTS (
          SELECT 1 FROM "LtiRegistration" r JOIN "App" a ON a."id" = r."appId"
          WHERE r."id" = $5 AND a."id" = $3 AND a."isPublic"
            AND r."issuer" = $6 AND r."clientId" = $7 AND r."keysetUrl" = $8 AND a."exerciseUrl" = $9
            AND CAST($10 AS text) = ANY (r."deploymentIds")
        )
      RETURNING s."state"
    )
    INSERT INTO "Launch" (
      "id", "appId", "registrationId", "deploymentId", "subject", "name", "givenName", "familyName",
      "email", "roles", "contextId", "contextTitle", "contextLabel", "resourceLinkId", "resourceLinkTitle",
      "agsLineitem", "agsLineitems", "agsScopes", "credentialHash", "credentialExpiresAt", "createdAt"
    )
    SELECT $11, $3, $5, $10, $12, $13, $14, $15, $16, CAST($17 AS text[]), $18, $19, $20, $21, $22,
      $23, $24, CAST($25 AS text[]), $26, CAST($27 AS timestamp(3)), CAST($4 AS timestamp(3))
    FROM consumed
    RETURNING "id"`,
    values: [
      state,
      nonce,
      launch.appId,
      timestampParam(now),
      registration.id,
      registration.issuer,
      registration.clientId,
      registration.keysetUrl,
      registration.exerciseUrl,
      launch.deploymentId,
      launch.id,
      launch.subject,
      launch.name,
      launch.givenName,
      launch.familyName,
      launch.email,
      launch.roles,
      launch.contextId,
      launch.contextTitle,
      launch.contextLabel,
      launch.resourceLinkId,
      launch.resourceLinkTitle,
      launch.agsLineitem,
      launch.agsLineitems,
      launch.agsScopes,
      launch.credentialHash,
      timestampParam(launch.credentialExpiresAt),
    ],
  });
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
