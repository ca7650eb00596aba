import { sqlTextArray as textArray, sqlTimestamp as ts } from '../db/sql.ts';
import type { PrismaClient } from '../generated/prisma/client.ts';

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
  return rows.length === 1;
}
