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
