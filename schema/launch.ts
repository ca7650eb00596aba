import { childPageWhere } from './child-pages.ts';
import { builder, PAGE } from './builder.ts';
import { AppNode } from './app.ts';

builder.prismaNode('Launch', {
  description: 'A successful LTI launch of one of your apps: who, from which course, and where grades go.',
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id, app: { ownerId: ctx.viewer.ownerId } }),
  fields: (t) => ({
    app: t.relation('app', { description: 'The app that was launched.' }),
    registration: t.relation('registration', { description: 'The registration (platform placement) it came through.' }),
    deploymentId: t.exposeString('deploymentId', { description: "The platform's deployment ID, one of the registration's." }),
    subject: t.exposeString('subject', { description: "The platform's learner id (`sub`)." }),
    name: t.exposeString('name', { nullable: true, description: 'Often absent (Open edX sends none).' }),
    givenName: t.exposeString('givenName', { nullable: true, description: 'As sent by the platform; null when absent.' }),
    familyName: t.exposeString('familyName', { nullable: true, description: 'As sent by the platform; null when absent.' }),
    email: t.exposeString('email', { nullable: true, description: 'As sent by the platform; null when absent.' }),
    roles: t.exposeStringList('roles', { description: 'As sent, unknown roles included.' }),
    contextId: t.exposeString('contextId', { nullable: true, description: 'The course, e.g. course-v1:Org+Course+Run.' }),
    contextTitle: t.exposeString('contextTitle', { nullable: true, description: "The course's title; null when absent." }),
    contextLabel: t.exposeString('contextLabel', { nullable: true, description: "The course's short label; null when absent." }),
    resourceLinkId: t.exposeString('resourceLinkId', { description: 'The placement in the course (Open edX block usage key).' }),
    resourceLinkTitle: t.exposeString('resourceLinkTitle', { nullable: true, description: "The placement's title; null when absent." }),
    agsLineitem: t.exposeString('agsLineitem', { nullable: true, description: 'Where the score goes; null when the platform offered no grading.' }),
    agsLineitems: t.exposeString('agsLineitems', { nullable: true, description: "The course's line items URL (AGS); null when absent." }),
    agsScopes: t.exposeStringList('agsScopes', { description: 'The AGS scopes the platform granted; empty when none.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the launch succeeded.' }),
  }),
});

builder.prismaObjectField(AppNode, 'launches', (t) =>
  t.prismaConnection(
    {
      type: 'Launch',
      description: 'Launches of this app, newest first.',
      cursor: 'id',
      ...PAGE,
      resolve: async (query, app, _args, ctx) =>
        ctx.prisma.launch.findMany({
          ...query,
          where: await childPageWhere(query.cursor, (id) => ctx.prisma.launch.count({ where: { id, appId: app.id } }), { appId: app.id }),
          orderBy: { id: 'desc' },
        }),
    },
    { name: 'LaunchConnection', description: "A page of an app's launches, newest first." },
    { name: 'LaunchEdge', description: 'One launch in a page, with its cursor.' },
  ),
);

const LtiRouteEnum = builder.enumType('LtiRoute', {
  description: 'Which of the two LTI 1.3 requests a refusal happened at.',
  values: {
    LOGIN: { description: 'The OIDC login initiation (the first request from the course).' },
    LAUNCH: { description: 'The launch itself (the signed id_token posted back by the course).' },
  } as const,
});

builder.prismaNode('LaunchRefusal', {
  description:
    'A refused login or launch of one of your apps: which check refused it, and when. Kept for 30 days; ' +
    'a burst of the same refusal is stored only up to a limit per minute (docs/lti.md).',
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id, app: { ownerId: ctx.viewer.ownerId } }),
  fields: (t) => ({
    app: t.relation('app', { description: 'The app whose login or launch was refused.' }),
    registration: t.relation('registration', {
      nullable: true,
      description: 'The registration the request was tied to; null when it could not be (e.g. no valid login yet).',
    }),
    route: t.expose('route', { type: LtiRouteEnum, description: 'Whether the login or the launch was refused.' }),
    code: t.exposeString('code', { description: 'The ERR_LTI_* code, as on the learner\'s error page (docs/lti.md).' }),
    reason: t.exposeString('reason', { description: 'What the code means, in a sentence. The detailed reason is in the server log (refusalId).' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was refused.' }),
  }),
});

builder.prismaObjectField(AppNode, 'launchRefusals', (t) =>
  t.prismaConnection(
    {
      type: 'LaunchRefusal',
      description: 'Refused logins and launches of this app, newest first (the last 30 days).',
      cursor: 'id',
      ...PAGE,
      resolve: async (query, app, _args, ctx) =>
        ctx.prisma.launchRefusal.findMany({
          ...query,
          where: await childPageWhere(query.cursor, (id) => ctx.prisma.launchRefusal.count({ where: { id, appId: app.id } }), { appId: app.id }),
          orderBy: { id: 'desc' },
        }),
    },
    { name: 'LaunchRefusalConnection', description: "A page of an app's refused logins and launches, newest first." },
    { name: 'LaunchRefusalEdge', description: 'One refused login or launch in a page, with its cursor.' },
  ),
);
