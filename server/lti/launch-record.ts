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
 * The launch's single write, on both roads (see handleLaunch): it records the launch with the
 * login's nonce, which is unique among launches, so a replayed (or raced) launch can never
 * create a second record, on any number of processes. In the same statement it checks that
 * the registration the token was verified against is still exactly as the caller has it
 * (issuer, client id, keyset URL, exercise URL), still has the deployment, and that its app is
 * still public: the caller's copy may be a cached one, or one read before a keyset fetch that
 * took seconds. Nothing is written, and null comes back, when any of that does not hold.
 */
const RECORD_LAUNCH_IF_REGISTRATION_MATCHES = `
    WITH fresh AS (
      SELECT 1 FROM "LtiRegistration" r JOIN "App" a ON a."id" = r."appId"
      WHERE r."id" = $3 AND a."id" = $2 AND a."isPublic"
        AND r."issuer" = $23 AND r."clientId" = $24 AND r."keysetUrl" = $25 AND a."exerciseUrl" = $26
        AND CAST($4 AS text) = ANY (r."deploymentIds")
    )
    INSERT INTO "Launch" (
      "id", "appId", "registrationId", "deploymentId", "subject", "name", "givenName", "familyName",
      "email", "roles", "contextId", "contextTitle", "contextLabel", "resourceLinkId", "resourceLinkTitle",
      "agsLineitem", "agsLineitems", "agsScopes", "credentialHash", "credentialExpiresAt", "createdAt", "nonce"
    )
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, CAST($10 AS text[]),
      $11, $12, $13, $14, $15, $16, $17, CAST($18 AS text[]),
      $19, CAST($20 AS timestamp(3)), CAST($21 AS timestamp(3)), $22
    FROM fresh
    ON CONFLICT ("nonce") DO NOTHING
    RETURNING "id"`;

/**
 * Records the launch (see RECORD_LAUNCH_IF_REGISTRATION_MATCHES). False when nothing was
 * written: the nonce was used, or the registration or its app changed; the full path's
 * read says which.
 */
export async function recordLaunchIfUnusedAndRegistrationMatches(
  sql: SqlRunner,
  { nonce, registration, launch, now }: {
    nonce: string;
    registration: LaunchRegistration;
    launch: LaunchData;
    now: Date;
  },
): Promise<boolean> {
  const rows = await sql.rows<{ id: string }>({
    name: 'lti_record_launch',
    text: RECORD_LAUNCH_IF_REGISTRATION_MATCHES,
    values: [
      launch.id,
      launch.appId,
      registration.id,
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
      nonce,
      registration.issuer,
      registration.clientId,
      registration.keysetUrl,
      registration.exerciseUrl,
    ],
  });
  return rows.length === 1;
}
