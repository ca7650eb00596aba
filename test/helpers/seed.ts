import { randomUUID } from 'node:crypto';
import type { Database } from '../../server/db/client.ts';
import type { LtiRegistration } from '../../server/generated/prisma/client.ts';

/**
 * A registration of `appId` as an owner pastes it from Open edX Studio (its own client ID), as
 * rows only: for tests of what the API and the dashboard show, where no platform answers.
 */
export function seedRegistration(db: Database, appId: string, label: string | null = null): Promise<LtiRegistration> {
  const clientId = randomUUID();
  const lms = 'https://lms.example.org';
  return db.prisma.ltiRegistration.create({
    data: {
      appId,
      label,
      issuer: lms,
      clientId,
      authLoginUrl: `${lms}/api/lti_consumer/v1/launch/`,
      authTokenUrl: `${lms}/api/lti_consumer/v1/token/${clientId}`,
      keysetUrl: `${lms}/api/lti_consumer/v1/public_keysets/${clientId}`,
      deploymentIds: ['1'],
    },
  });
}
