import type { App, PrismaClient } from '../server/generated/prisma/client.ts';
import { NotFoundError, ValidationError } from '../server/errors.ts';
import { ltiToolUrls } from '../server/lti/tool-urls.ts';
import { InputChecker, LIMITS } from '../server/validation.ts';
import { batchedLoad } from './batched-load.ts';
import { changedFields } from './changed-fields.ts';
import { childPageWhere } from './child-pages.ts';
import { builder, PAGE } from './builder.ts';
import { decodeIdOf, tryDecodeIdOf } from './errors.ts';

const LtiTool = builder
  .objectRef<{ launchUrl: string; loginUrl: string; keysetUrl: string }>('LtiTool')
  .implement({
    description:
      'The three values to paste into Open edX Studio (LTI Consumer: LTI 1.3, "Keyset URL" mode).',
    fields: (t) => ({
      launchUrl: t.exposeString('launchUrl', { description: 'Studio: "Tool Launch URL".' }),
      loginUrl: t.exposeString('loginUrl', { description: 'Studio: "Tool Initiate Login URL".' }),
      keysetUrl: t.exposeString('keysetUrl', { description: 'Studio: "Tool Keyset URL".' }),
    }),
  });

export const AppNode = builder.prismaNode('App', {
  description: 'An exercise ("micro-app") at some URL that LMSs can launch over LTI 1.3.',
  id: { field: 'id' },
  // Scoped to the viewer: another owner's app is indistinguishable from a missing one.
  findUnique: (id, ctx) => ({ id, ownerId: ctx.viewer.ownerId }),
  fields: (t) => ({
    name: t.exposeString('name', { description: `Your name for the app (1–${LIMITS.name} characters).` }),
    exerciseUrl: t.exposeString('exerciseUrl', {
      description: 'Where learners are sent after a successful launch.',
    }),
    isPublic: t.exposeBoolean('isPublic', { description: 'Only public apps can be launched over LTI.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the app was created.' }),
    updatedAt: t.expose('updatedAt', {
      type: 'DateTime',
      description: 'When its name, exercise URL or public flag last changed (an update that changes nothing leaves it).',
    }),
    ltiTool: t.field({
      type: LtiTool,
      description: "The URLs an LMS needs for this app (the dashboard's LTI tab).",
      select: { id: true },
      resolve: (app, _args, ctx) => ltiToolUrls(ctx.publicUrl, app.id),
    }),
    failedGradeCount: t.int({
      description:
        "How many of this app's grades are FAILED: exactly what `retryFailedGradeDeliveries` would queue again now.",
      select: { id: true },
      // One count for all the apps of a page (GraphQLContext.failedGradeCount), on the
      // (appId, state) index: it reads the FAILED grades of those apps only.
      resolve: (app, _args, ctx) => ctx.failedGradeCount(app.id),
    }),
    registrations: t.relatedConnection('registrations', {
      description: 'LTI platforms (e.g. Open edX courses) registered for this app, oldest first.',
      cursor: 'id',
      query: { orderBy: { id: 'asc' } },
      ...PAGE,
    }, {
      name: 'LtiRegistrationConnection',
      description: "A page of an app's LTI registrations, oldest first.",
    }, { name: 'LtiRegistrationEdge', description: 'One LTI registration in a page, with its cursor.' }),
  }),
});

builder.queryFields((t) => ({
  apps: t.prismaConnection({
    type: 'App',
    description: 'Your apps, oldest first.',
    cursor: 'id',
    ...PAGE,
    // Prisma finds a cursor's row without the owner condition, so another owner's app id as a
    // cursor would page (and skip one of yours) where a missing id gives nothing: an answer
    // that tells whether that app exists. A cursor that is not one of your apps is an empty
    // page, exactly like a missing one (child-pages.ts).
    resolve: async (query, _root, _args, ctx) =>
      ctx.prisma.app.findMany({
        ...query,
        where: await childPageWhere(query.cursor, (id) => ctx.prisma.app.count({ where: { id, ownerId: ctx.viewer.ownerId } }), { ownerId: ctx.viewer.ownerId }),
        orderBy: { id: 'asc' },
      }),
  }, { name: 'AppConnection', description: 'A page of your apps, oldest first.' }, {
    name: 'AppEdge',
    description: 'One app in a page, with its cursor.',
  }),
  app: t.prismaField({
    type: 'App',
    nullable: true,
    description:
      'One of your apps; null when it does not exist, is not yours, or the ID is malformed or of another type (a bad ID is never an error).',
    args: { id: t.arg.id({ required: true, description: "The app's global ID (`App.id`)." }) },
    resolve: (query, _root, args, ctx) => {
      const id = tryDecodeIdOf('App', String(args.id));
      // A malformed ID matches nothing (an empty IN list: Prisma sends no query for it).
      return ctx.prisma.app.findFirst({
        ...query,
        where: { id: { in: id ? [id] : [] }, ownerId: ctx.viewer.ownerId },
      });
    },
  }),
}));

// ---- mutations -------------------------------------------------------------------------

const CreateAppInput = builder.inputType('CreateAppInput', {
  description: 'A new app. Strings are trimmed before they are checked and stored.',
  fields: (t) => ({
    name: t.string({ required: true, description: `1–${LIMITS.name} characters, no control characters.` }),
    exerciseUrl: t.string({
      required: true,
      description: `Where learners are sent after a launch: an absolute https URL (http only for localhost), no user name or password, no spaces or control characters, at most ${LIMITS.url} characters.`,
    }),
    isPublic: t.boolean({ description: 'Whether LMSs may launch it. Defaults to false.' }),
  }),
});

const UpdateAppInput = builder.inputType('UpdateAppInput', {
  description: 'Omitted or null fields keep their value; the others are checked as in CreateAppInput.',
  fields: (t) => ({
    id: t.id({ required: true, description: "The app's global ID (`App.id`)." }),
    name: t.string({ description: `A new name: 1–${LIMITS.name} characters, no control characters.` }),
    exerciseUrl: t.string({ description: 'A new exercise URL: an absolute https URL (http only for localhost).' }),
    isPublic: t.boolean({ description: 'Whether LMSs may launch it; once false, new logins and launches are refused.' }),
  }),
});

const DeleteAppInput = builder.inputType('DeleteAppInput', {
  description: 'Which app to delete.',
  fields: (t) => ({ id: t.id({ required: true, description: "The app's global ID (`App.id`)." }) }),
});

const AppPayload = builder.objectRef<{ app: App }>('AppPayload').implement({
  description: 'The app as it is now, after the change.',
  fields: (t) => ({
    app: t.field({ type: AppNode, description: 'The created or updated app.', resolve: (payload) => payload.app }),
  }),
});

const DeleteAppPayload = builder.objectRef<{ id: string }>('DeleteAppPayload').implement({
  description: 'The app is gone, with its registrations, launches, grades and refused-launch records.',
  fields: (t) => ({
    deletedAppId: t.field({
      type: 'ID',
      description: 'Global ID of the deleted app, as it was given.',
      resolve: (p) => p.id,
    }),
  }),
});

builder.mutationFields((t) => ({
  createApp: t.field({
    type: AppPayload,
    description:
      'Creates an app of yours (private unless `isPublic` is true). ValidationError lists every invalid field; then nothing was created.',
    errors: {
      types: [ValidationError],
      directResult: true,
      union: { name: 'CreateAppResult', description: 'The new app, or why it was refused.' },
    },
    args: { input: t.arg({ type: CreateAppInput, required: true, description: 'The new app.' }) },
    resolve: async (_root, { input }, ctx) => {
      const check = new InputChecker();
      const name = check.text('name', input.name, LIMITS.name);
      const exerciseUrl = check.url('exerciseUrl', input.exerciseUrl);
      check.done();
      const app = await ctx.prisma.app.create({
        data: { ownerId: ctx.viewer.ownerId, name, exerciseUrl, isPublic: input.isPublic ?? false },
      });
      return { app };
    },
  }),
  updateApp: t.field({
    type: AppPayload,
    description:
      'Changes the given fields of one of your apps; omitted or null fields keep their value, and with nothing to change ' +
      'the app is returned as it is. ValidationError lists every invalid field, NotFoundError means no such app of yours; ' +
      'either way nothing was changed.',
    errors: {
      types: [ValidationError, NotFoundError],
      directResult: true,
      union: { name: 'UpdateAppResult', description: 'The app as it is now, or why nothing was changed.' },
    },
    args: { input: t.arg({ type: UpdateAppInput, required: true, description: 'Which app, and what to change.' }) },
    resolve: async (_root, { input }, ctx) => {
      const id = decodeIdOf('App', String(input.id));
      const check = new InputChecker();
      const data: { name?: string; exerciseUrl?: string; isPublic?: boolean } = {};
      if (input.name != null) data.name = check.text('name', input.name, LIMITS.name);
      if (input.exerciseUrl != null) data.exerciseUrl = check.url('exerciseUrl', input.exerciseUrl);
      if (input.isPublic != null) data.isPublic = input.isPublic;
      check.done();
      const current = await ctx.prisma.app.findFirst({ where: { id, ownerId: ctx.viewer.ownerId } });
      if (!current) throw new NotFoundError('App', String(input.id));
      const changes = changedFields(current, data);
      // Nothing to write: the app as it is, updatedAt unmoved.
      if (Object.keys(changes).length === 0) return { app: current };
      const { count } = await ctx.prisma.app.updateMany({
        where: { id, ownerId: ctx.viewer.ownerId },
        data: changes,
      });
      // Deleted since it was read.
      if (count === 0) throw new NotFoundError('App', String(input.id));
      return { app: await ctx.prisma.app.findUniqueOrThrow({ where: { id } }) };
    },
  }),
  deleteApp: t.field({
    type: DeleteAppPayload,
    description:
      'Deletes one of your apps for good, with everything that belongs to it: its LTI registrations, all its launches and ' +
      'grades (grades not yet delivered included: they will never be sent) and its refused-launch records. Logins and ' +
      'launches of it are refused from then on. NotFoundError: no such app of yours; nothing was deleted.',
    errors: {
      types: [NotFoundError],
      directResult: true,
      union: { name: 'DeleteAppResult', description: 'The deleted app, or why nothing was deleted.' },
    },
    args: { input: t.arg({ type: DeleteAppInput, required: true, description: 'Which app to delete.' }) },
    resolve: async (_root, { input }, ctx) => {
      const id = decodeIdOf('App', String(input.id));
      const { count } = await ctx.prisma.app.deleteMany({ where: { id, ownerId: ctx.viewer.ownerId } });
      if (count === 0) throw new NotFoundError('App', String(input.id));
      return { id: String(input.id) };
    },
  }),
}));

/**
 * App.failedGradeCount for every app asked for in one turn: one grouped count on the
 * (appId, state) index instead of one count per app of a page. Made per request.
 */
export function failedGradeCounts(prisma: PrismaClient): (appId: string) => Promise<number> {
  return batchedLoad(async (appIds) => {
    const counts = await prisma.grade.groupBy({ by: ['appId'], where: { appId: { in: [...appIds] }, state: 'FAILED' }, _count: { _all: true } });
    return new Map(counts.map((row) => [row.appId, row._count._all]));
  }, 0);
}
