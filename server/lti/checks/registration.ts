import { LtiError } from '../errors.ts';
import type { LaunchRegistration } from '../launch-queries.ts';

/**
 * The registration the login was made for must still exist and belong to the app the launch
 * was posted to: an owner may remove a registration (or the LMS connection) while a learner
 * is between login and launch, and a token must then verify against nothing.
 */
export function checkLoginRegistration(
  registration: LaunchRegistration | null | undefined,
  login: { registrationId: string },
  appId: string,
): LaunchRegistration {
  if (!registration || registration.appId !== appId) {
    throw new LtiError('ERR_LTI_UNKNOWN_REGISTRATION', `registration ${login.registrationId} was removed during the login`);
  }
  return registration;
}

/** The owner may make the app private between login and launch: the launch is then refused too. */
export function checkAppStillPublic(registration: Pick<LaunchRegistration, 'appId' | 'isPublic'>): void {
  if (!registration.isPublic) throw new LtiError('ERR_LTI_APP_NOT_PUBLIC', `app ${registration.appId} is not public`);
}
