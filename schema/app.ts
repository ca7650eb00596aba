import type { App } from '../server/generated/prisma/client.ts';
import { NotFoundError, ValidationError } from '../server/errors.ts';
import { ltiToolUrls } from '../server/lti/tool-urls.ts';
import { InputChecker, LIMITS } from '../server/validation.ts';
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
    name: t.exposeString('name'),
    exerciseUrl: t.exposeString('exerciseUrl', {
      description: 'Where learners are sent after a successful launch.',
    }),
    isPublic: t.exposeBoolean('isPublic', { description: 'Only public apps can be launched over LTI.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    ltiTool: t.field({
      type: LtiTool,
      description: "The URLs an LMS needs for this app (the dashboard's LTI tab).",
      select: { id: true },
      resolve: (app, _args, ctx) => ltiToolUrls(ctx.publicUrl, app.id),
    }),
    registrations: t.relatedConnection('registrations', {
      description: 'LTI platforms (e.g. Open edX courses) registered for this app, oldest first.',
      cursor: 'id',
      query: { orderBy: { id: 'asc' } },
      ...PAGE,
    }, { name: 'LtiRegistrationConnection' }, { name: 'LtiRegistrationEdge' }),
  }),
});

builder.queryFields((t) => ({
  apps: t.prismaConnection({
    type: 'App',
    description: 'Your apps, oldest first.',
    cursor: 'id',
    ...PAGE,
    resolve: (query, _root, _args, ctx) =>
      ctx.prisma.app.findMany({ ...query, where: { ownerId: ctx.viewer.ownerId }, orderBy: { id: 'asc' } }),
  }, { name: 'AppConnection' }, { name: 'AppEdge' }),
  app: t.prismaField({
    type: 'App',
    nullable: true,
    description: 'One of your apps; null when it does not exist or is not yours.',
    args: { id: t.arg.id({ required: true }) },
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
  fields: (t) => ({
    name: t.string({ required: true, description: `1–${LIMITS.name} characters.` }),
    exerciseUrl: t.string({ required: true, description: 'https URL (http only for localhost).' }),
    isPublic: t.boolean({ description: 'Defaults to false.' }),
  }),
});

const UpdateAppInput = builder.inputType('UpdateAppInput', {
  description: 'Omitted or null fields keep their value.',
  fields: (t) => ({
    id: t.id({ required: true }),
    name: t.string(),
    exerciseUrl: t.string(),
    isPublic: t.boolean(),
  }),
});

const DeleteAppInput = builder.inputType('DeleteAppInput', {
  fields: (t) => ({ id: t.id({ required: true }) }),
});

const AppPayload = builder.objectRef<{ app: App }>('AppPayload').implement({
  fields: (t) => ({ app: t.field({ type: AppNode, resolve: (payload) => payload.app }) }),
});

const DeleteAppPayload = builder.objectRef<{ id: string }>('DeleteAppPayload').implement({
  fields: (t) => ({
    deletedAppId: t.field({
      type: 'ID',
      description: 'Global ID of the deleted app (its registrations were removed with it).',
      resolve: (p) => p.id,
    }),
  }),
});

builder.mutationFields((t) => ({
  createApp: t.field({
    type: AppPayload,
    errors: { types: [ValidationError], directResult: true, union: { name: 'CreateAppResult' } },
    args: { input: t.arg({ type: CreateAppInput, required: true }) },
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
    errors: {
      types: [ValidationError, NotFoundError],
      directResult: true,
      union: { name: 'UpdateAppResult' },
    },
    args: { input: t.arg({ type: UpdateAppInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const id = decodeIdOf('App', String(input.id));
      const check = new InputChecker();
      const data: { name?: string; exerciseUrl?: string; isPublic?: boolean } = {};
      if (input.name != null) data.name = check.text('name', input.name, LIMITS.name);
      if (input.exerciseUrl != null) data.exerciseUrl = check.url('exerciseUrl', input.exerciseUrl);
      if (input.isPublic != null) data.isPublic = input.isPublic;
      check.done();
      const { count } = await ctx.prisma.app.updateMany({
        where: { id, ownerId: ctx.viewer.ownerId },
        data,
      });
      if (count === 0) throw new NotFoundError('App', String(input.id));
      return { app: await ctx.prisma.app.findUniqueOrThrow({ where: { id } }) };
    },
  }),
  deleteApp: t.field({
    type: DeleteAppPayload,
    errors: { types: [NotFoundError], directResult: true, union: { name: 'DeleteAppResult' } },
    args: { input: t.arg({ type: DeleteAppInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const id = decodeIdOf('App', String(input.id));
      const { count } = await ctx.prisma.app.deleteMany({ where: { id, ownerId: ctx.viewer.ownerId } });
      if (count === 0) throw new NotFoundError('App', String(input.id));
      return { id: String(input.id) };
    },
  }),
}));
