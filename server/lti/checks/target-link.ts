import { LtiError } from '../errors.ts';
import { describeClaim } from './claims.ts';

/** The target link must point at this tool: anything else is a launch meant for someone else. */
export function checkTargetLinkUri(targetLinkUri: unknown, publicUrl: string): void {
  let origin: string | undefined;
  try {
    origin = typeof targetLinkUri === 'string' ? new URL(targetLinkUri).origin : undefined;
  } catch {
    origin = undefined;
  }
  if (origin !== new URL(publicUrl).origin) {
    throw new LtiError('ERR_LTI_TARGET_LINK_URI', `target_link_uri ${describeClaim(targetLinkUri)} is not on ${new URL(publicUrl).origin}`);
  }
}
