import { Prisma, type PrismaClient } from '../generated/prisma/client.ts';
import type { GradeState } from '../generated/prisma/enums.ts';
import { uuidv7 } from '../ids.ts';
import { hashCredential } from '../lti/launch.ts';
import { AGS_SCOPE_SCORE, FULL_MARKS, gradeDeliveryKey, lineitemUrlProblem } from './ags.ts';

const CREDENTIAL_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export class CompletionError extends Error {
  readonly code = 'ERR_INVALID_CREDENTIAL';
  override name = 'CompletionError';
}

export interface CompletionResult {
  launchId: string;
  completedAt: Date;
  gradeState: GradeState;
  /** False when this launch had already been completed (the call was a repeat). */
  firstTime: boolean;
}

/** Why a launch cannot be graded, or undefined when it can. */
export function notGradableReason(launch: { agsLineitem: string | null; agsScopes: string[] }): string | undefined {
  if (!launch.agsLineitem) {
    return 'The platform sent no line item (AGS endpoint claim): grading is off for this placement.';
  }
  const problem = lineitemUrlProblem(launch.agsLineitem);
  if (problem) return `The platform sent a line item that cannot take scores: ${problem}.`;
  if (!launch.agsScopes.includes(AGS_SCOPE_SCORE)) {
    return 'The platform did not grant the AGS score scope for this launch.';
  }
  return undefined;
}

/**
 * The exercise page says the learner finished. In one transaction: the launch is marked
 * completed, its grade created (full marks), and — when the launch can be graded — the
 * delivery queued (state PENDING, due now). Nothing is answered before that commit, so a
 * grade the learner was told about is never lost. Repeats return the first result (also
 * once the credential has expired).
 * The request has no say in the score.
 */
export async function recordCompletion(
  prisma: PrismaClient,
  credential: string | undefined,
  now: Date,
): Promise<CompletionResult> {
  if (!credential || !CREDENTIAL_PATTERN.test(credential)) throw new CompletionError('malformed credential');
  const launch = await prisma.launch.findUnique({
    where: { credentialHash: hashCredential(credential) },
    select: {
      id: true,
      appId: true,
      registrationId: true,
      agsLineitem: true,
      agsScopes: true,
      subject: true,
      credentialExpiresAt: true,
      completedAt: true,
      grade: { select: { state: true } },
    },
  });
  if (!launch) throw new CompletionError('unknown credential');
  // A repeat is answered with what is stored, even once the credential has expired: it writes
  // nothing and tells the credential's holder only what it told them while it was live. A
  // widget whose answer was lost, retrying (or a second Finish) after the expiry, so learns
  // that the completion is recorded instead of being sent to open the exercise again.
  if (launch.completedAt && launch.grade) {
    return { launchId: launch.id, completedAt: launch.completedAt, gradeState: launch.grade.state, firstTime: false };
  }
  // A new completion needs a live credential: its life is the only thing it proves.
  if (launch.credentialExpiresAt <= now) throw new CompletionError('expired credential');

  const reason = notGradableReason(launch);
  const state: GradeState = reason ? 'NOT_GRADABLE' : 'PENDING';
  try {
    await prisma.$transaction([
      prisma.launch.updateMany({ where: { id: launch.id, completedAt: null }, data: { completedAt: now } }),
      prisma.grade.create({
        data: {
          id: uuidv7(now.getTime()),
          launchId: launch.id,
          appId: launch.appId,
          registrationId: launch.registrationId,
          scoreGiven: FULL_MARKS,
          scoreMaximum: FULL_MARKS,
          state,
          lastError: reason ?? null,
          nextAttemptAt: reason ? null : now,
          // notGradableReason guarantees a line item when there is no reason.
          deliveryKey: reason ? null : gradeDeliveryKey(launch.agsLineitem!, launch.subject),
          createdAt: now,
        },
      }),
    ]);
  } catch (err) {
    // A concurrent completion of the same launch won the race: answer with its result.
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
      const done = await prisma.launch.findUniqueOrThrow({
        where: { id: launch.id },
        select: { completedAt: true, grade: { select: { state: true } } },
      });
      return { launchId: launch.id, completedAt: done.completedAt!, gradeState: done.grade!.state, firstTime: false };
    }
    throw err;
  }
  return { launchId: launch.id, completedAt: now, gradeState: state, firstTime: true };
}
