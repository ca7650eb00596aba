import { timestampParam, type SqlRunner, type SqlValue } from '../db/sql-runner.ts';
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
 * `INSERT INTO "Launch" … FROM consumed RETURNING "id"`, its parameters numbered from `first`
 * (in the order of launchRowValues): both roads record a launch with this one text, so the
 * row they write cannot drift apart. One row comes back when the `consumed` CTE marked the
 * login used.
 */
function insertLaunchFromConsumed(first: number): string {
  const p = (i: number) => `$${first + i}`;
  return `
    INSERT INTO "Launch" (
      "id", "appId", "registrationId", "deploymentId", "subject", "name", "givenName", "familyName",
      "email", "roles", "contextId", "contextTitle", "contextLabel", "resourceLinkId", "resourceLinkTitle",
      "agsLineitem", "agsLineitems", "agsScopes", "credentialHash", "credentialExpiresAt", "createdAt"
    )
    SELECT ${p(0)}, ${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${p(7)}, ${p(8)}, CAST(${p(9)} AS text[]),
      ${p(10)}, ${p(11)}, ${p(12)}, ${p(13)}, ${p(14)}, ${p(15)}, ${p(16)}, CAST(${p(17)} AS text[]),
      ${p(18)}, CAST(${p(19)} AS timestamp(3)), CAST(${p(20)} AS timestamp(3))
    FROM consumed
    RETURNING "id"`;
}

/** The values for insertLaunchFromConsumed's parameters, in its column order. */
function launchRowValues(launch: LaunchData, now: Date): SqlValue[] {
  return [
    launch.id,
    launch.appId,
    launch.registrationId,
    launch.deploymentId,
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
    timestampParam(now),
  ];
}

const RECORD_LAUNCH_IF_LOGIN_AND_REGISTRATION_MATCH = `
    WITH consumed AS (
      UPDATE "LoginState" s SET "usedAt" = CAST($2 AS timestamp(3))
      WHERE s."state" = $1 AND s."usedAt" IS NULL AND s."expiresAt" > CAST($2 AS timestamp(3))
        AND s."nonce" = $3 AND s."appId" = $4 AND s."registrationId" = $5
        AND EXISTS (
          SELECT 1 FROM "LtiRegistration" r JOIN "App" a ON a."id" = r."appId"
          WHERE r."id" = $5 AND a."id" = $4 AND a."isPublic"
            AND r."issuer" = $6 AND r."clientId" = $7 AND r."keysetUrl" = $8 AND a."exerciseUrl" = $9
            AND CAST($10 AS text) = ANY (r."deploymentIds")
        )
      RETURNING s."state"
    )${insertLaunchFromConsumed(11)}`;

/**
 * The launch's single write, on both roads (see handleLaunch): it consumes the login state
 * and records the launch in ONE statement, so the insert happens only if this call is the
 * one that marked the state used — a replayed (or raced) launch can never create a second
 * record, on any number of processes. It also checks that the login is for this app and
 * registration, unexpired, and carries the token's nonce, and that the registration the
 * token was verified against is still exactly as the caller has it (issuer, client id,
 * keyset URL, exercise URL), still has the deployment, and that its app is still public:
 * the caller's copy may be a cached one, or one read before a keyset fetch that took
 * seconds. False when any of that does not hold; nothing is written then.
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
    text: RECORD_LAUNCH_IF_LOGIN_AND_REGISTRATION_MATCH,
    values: [
      state,
      timestampParam(now),
      nonce,
      launch.appId,
      registration.id,
      registration.issuer,
      registration.clientId,
      registration.keysetUrl,
      registration.exerciseUrl,
      launch.deploymentId,
      ...launchRowValues(launch, now),
    ],
  });
  return rows.length === 1;
}
