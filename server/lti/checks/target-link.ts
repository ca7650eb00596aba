import { LtiError } from '../errors.ts';

/** The target link must point at this tool: anything else is a launch meant for someone else. */
export function checkTargetLinkUri(targetLinkUri: unknown, publicUrl: string): void {
  let origin: string | undefined;
  try {
    origin = typeof targetLinkUri === 'string' ? new URL(targetLinkUri).origin : undefined;
  } catch {
    origin = undefined;
  }
  if (origin !== new URL(publicUrl).origin) {
    throw new LtiError('ERR_LTI_TARGET_LINK_URI', `target_link_uri ${String(targetLinkUri).slice(0, 200)} is not on ${new URL(publicUrl).origin}`);
  }
}
