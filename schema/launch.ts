import { builder, PAGE } from './builder.ts';
import { AppNode } from './app.ts';

builder.prismaNode('Launch', {
  description: 'A successful LTI launch of one of your apps: who, from which course, and where grades go.',
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id, app: { ownerId: ctx.viewer.ownerId } }),
  fields: (t) => ({
    app: t.relation('app'),
    registration: t.relation('registration'),
    deploymentId: t.exposeString('deploymentId'),
    subject: t.exposeString('subject', { description: "The platform's learner id (`sub`)." }),
    name: t.exposeString('name', { nullable: true, description: 'Often absent (Open edX sends none).' }),
    givenName: t.exposeString('givenName', { nullable: true }),
    familyName: t.exposeString('familyName', { nullable: true }),
    email: t.exposeString('email', { nullable: true }),
    roles: t.exposeStringList('roles', { description: 'As sent, unknown roles included.' }),
    contextId: t.exposeString('contextId', { nullable: true, description: 'The course, e.g. course-v1:Org+Course+Run.' }),
    contextTitle: t.exposeString('contextTitle', { nullable: true }),
    contextLabel: t.exposeString('contextLabel', { nullable: true }),
    resourceLinkId: t.exposeString('resourceLinkId', { description: 'The placement in the course (Open edX block usage key).' }),
    resourceLinkTitle: t.exposeString('resourceLinkTitle', { nullable: true }),
    agsLineitem: t.exposeString('agsLineitem', { nullable: true, description: 'Where the score goes; null when the platform offered no grading.' }),
    agsLineitems: t.exposeString('agsLineitems', { nullable: true }),
    agsScopes: t.exposeStringList('agsScopes'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.prismaObjectField(AppNode, 'launches', (t) =>
  t.relatedConnection(
    'launches',
    {
      description: 'Launches of this app, newest first.',
      cursor: 'id',
      query: { orderBy: { id: 'desc' } },
      ...PAGE,
    },
    { name: 'LaunchConnection' },
    { name: 'LaunchEdge' },
  ),
);

const LtiRouteEnum = builder.enumType('LtiRoute', {
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
    app: t.relation('app'),
    registration: t.relation('registration', {
      nullable: true,
      description: 'The registration the request was tied to; null when it could not be (e.g. no valid login yet).',
    }),
    route: t.expose('route', { type: LtiRouteEnum }),
    code: t.exposeString('code', { description: 'The ERR_LTI_* code, as on the learner\'s error page (docs/lti.md).' }),
    reason: t.exposeString('reason', { description: 'What the code means, in a sentence. The detailed reason is in the server log (refusalId).' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.prismaObjectField(AppNode, 'launchRefusals', (t) =>
  t.relatedConnection(
    'refusals',
    {
      description: 'Refused logins and launches of this app, newest first (the last 30 days).',
      cursor: 'id',
      query: { orderBy: { id: 'desc' } },
      ...PAGE,
    },
    { name: 'LaunchRefusalConnection' },
    { name: 'LaunchRefusalEdge' },
  ),
);
