import type { App, Grade } from '../server/generated/prisma/client.ts';
import { NotFoundError, ValidationError } from '../server/errors.ts';
import { AppNode } from './app.ts';
import { builder, PAGE } from './builder.ts';
import { childPageWhere } from './child-pages.ts';
import { decodeIdOf } from './errors.ts';

const GradeStateEnum = builder.enumType('GradeState', {
  description: 'Where the delivery of a grade to the platform (LTI Assignment and Grade Services) stands.',
  values: {
    PENDING: { description: 'Queued for delivery, or being retried (see lastError and nextAttemptAt).' },
    DELIVERED: { description: 'The platform accepted the score.' },
    FAILED: { description: 'The platform refused it for good, or we gave up; lastError says why. Can be retried.' },
    NOT_GRADABLE: { description: 'The launch offered no way to send a score; lastError says why.' },
  } as const,
});

export const GradeNode = builder.prismaNode('Grade', {
  description: 'The grade a completed launch earned (full marks) and its delivery to the platform.',
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id, app: { ownerId: ctx.viewer.ownerId } }),
  fields: (t) => ({
    launch: t.relation('launch', { description: 'The launch in which the learner completed the exercise.' }),
    state: t.expose('state', { type: GradeStateEnum, description: 'Where its delivery stands.' }),
    scoreGiven: t.exposeFloat('scoreGiven', { description: 'The score sent: full marks (equal to scoreMaximum).' }),
    scoreMaximum: t.exposeFloat('scoreMaximum', { description: 'The largest possible score (100).' }),
    attempts: t.exposeInt('attempts', { description: 'Delivery attempts so far.' }),
    lastError: t.exposeString('lastError', {
      nullable: true,
      description: 'Why the last attempt did not deliver (status and an excerpt of the answer), or why it is not gradable.',
    }),
    lastStatus: t.exposeInt('lastStatus', { nullable: true, description: 'HTTP status of the last failed attempt.' }),
    nextAttemptAt: t.expose('nextAttemptAt', {
      type: 'DateTime',
      nullable: true,
      description: 'While PENDING: when the next delivery attempt is due. Null in every other state.',
    }),
    deliveredAt: t.expose('deliveredAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When the platform accepted the score; null unless DELIVERED.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the learner completed the exercise.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When it last changed (every delivery attempt changes it).' }),
  }),
});

builder.prismaObjectFields('Launch', (t) => ({
  completedAt: t.expose('completedAt', {
    type: 'DateTime',
    nullable: true,
    description: 'When the exercise page reported completion.',
  }),
  grade: t.relation('grade', { nullable: true, description: 'Null until the learner completes the exercise.' }),
}));

builder.prismaObjectField(AppNode, 'grades', (t) =>
  t.prismaConnection(
    {
      type: 'Grade',
      description: 'Grades earned in this app, newest first.',
      cursor: 'id',
      ...PAGE,
      resolve: async (query, app, _args, ctx) =>
        ctx.prisma.grade.findMany({
          ...query,
          where: await childPageWhere(query.cursor, (id) => ctx.prisma.grade.count({ where: { id, appId: app.id } }), { appId: app.id }),
          orderBy: { id: 'desc' },
        }),
    },
    { name: 'GradeConnection', description: "A page of an app's grades, newest first." },
    { name: 'GradeEdge', description: 'One grade in a page, with its cursor.' },
  ),
);

const GradePayload = builder.objectRef<{ grade: Grade }>('GradePayload').implement({
  description: 'The grade as it is now.',
  fields: (t) => ({
    grade: t.field({ type: GradeNode, description: 'The grade, PENDING again and due now.', resolve: (p) => p.grade }),
  }),
});

/** A FAILED grade queued for delivery again: due now, with a fresh budget of attempts. */
function requeued(now: Date) {
  return { state: 'PENDING', nextAttemptAt: now, attempts: 0, credentialRefusals: 0, leaseUntil: null, leaseOwner: null } as const;
}

builder.mutationField('retryGradeDelivery', (t) =>
  t.field({
    type: GradePayload,
    description:
      'Queues a FAILED grade for delivery again, now, with its attempts counted from 0 (e.g. after fixing the LTI ' +
      'settings). ValidationError: the grade is not FAILED; NotFoundError: no such grade of yours. Either way nothing was changed.',
    errors: {
      types: [NotFoundError, ValidationError],
      directResult: true,
      union: { name: 'RetryGradeDeliveryResult', description: 'The queued grade, or why nothing was changed.' },
    },
    args: {
      input: t.arg({
        type: builder.inputType('RetryGradeDeliveryInput', {
          description: 'Which grade to deliver again.',
          fields: (f) => ({ id: f.id({ required: true, description: "The grade's global ID (`Grade.id`)." }) }),
        }),
        required: true,
        description: 'Which grade to deliver again.',
      }),
    },
    resolve: async (_root, { input }, ctx) => {
      const id = decodeIdOf('Grade', String(input.id));
      const where = { id, app: { ownerId: ctx.viewer.ownerId } };
      const { count } = await ctx.prisma.grade.updateMany({
        where: { ...where, state: 'FAILED' },
        data: requeued(ctx.now()),
      });
      const grade = await ctx.prisma.grade.findFirst({ where });
      if (!grade) throw new NotFoundError('Grade', String(input.id));
      if (count === 0) {
        throw new ValidationError([{ field: 'id', message: `Only failed deliveries can be retried; this one is ${grade.state}.` }]);
      }
      ctx.onGradeQueued();
      return { grade };
    },
  }),
);

const RetryFailedGradeDeliveriesPayload = builder
  .objectRef<{ app: App; queued: number }>('RetryFailedGradeDeliveriesPayload')
  .implement({
    description: "The app's FAILED grades, queued for delivery again.",
    fields: (t) => ({
      app: t.field({
        type: AppNode,
        description: 'The app; its failedGradeCount is now 0 unless a delivery failed again meanwhile.',
        resolve: (p) => p.app,
      }),
      queued: t.exposeInt('queued', {
        description: 'How many grades were FAILED and are now PENDING again, due now; 0 when none had failed (not an error).',
      }),
    }),
  });

builder.mutationField('retryFailedGradeDeliveries', (t) =>
  t.field({
    type: RetryFailedGradeDeliveriesPayload,
    description:
      'Queues every FAILED grade of one of your apps for delivery again, now, each with its attempts counted from 0 ' +
      '(e.g. after fixing the LTI settings), as retryGradeDelivery does for one; grades in other states are left as ' +
      'they are. NotFoundError: no such app of yours; nothing was changed.',
    errors: {
      types: [NotFoundError],
      directResult: true,
      union: { name: 'RetryFailedGradeDeliveriesResult', description: 'How many grades were queued, or why nothing was changed.' },
    },
    args: {
      input: t.arg({
        type: builder.inputType('RetryFailedGradeDeliveriesInput', {
          description: "Which app's failed grades to deliver again.",
          fields: (f) => ({ appId: f.id({ required: true, description: "The app's global ID (`App.id`)." }) }),
        }),
        required: true,
        description: "Which app's failed grades to deliver again.",
      }),
    },
    resolve: async (_root, { input }, ctx) => {
      const id = decodeIdOf('App', String(input.appId));
      const app = await ctx.prisma.app.findFirst({ where: { id, ownerId: ctx.viewer.ownerId } });
      if (!app) throw new NotFoundError('App', String(input.appId));
      // One statement: a grade that fails again while it runs is either queued or left for the next call.
      const { count } = await ctx.prisma.grade.updateMany({
        where: { appId: app.id, state: 'FAILED' },
        data: requeued(ctx.now()),
      });
      if (count > 0) ctx.onGradeQueued();
      return { app, queued: count };
    },
  }),
);
