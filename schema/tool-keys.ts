import { ForbiddenError } from '../server/errors.ts';
import type { ToolKeyInfo } from '../server/lti/tool-keys.ts';
import { builder } from './builder.ts';

const ToolKeyRef = builder.objectRef<ToolKeyInfo & { now: Date }>('ToolKey').implement({
  description: "One of the tool's signing keys, as published in the keyset (the private half never leaves the server).",
  fields: (t) => ({
    kid: t.exposeString('kid', { description: 'Key ID: the `kid` of the JWK in the keyset and in the headers of what it signs.' }),
    alg: t.exposeString('alg', { description: 'The signing algorithm, e.g. RS256.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was made and published.' }),
    activatesAt: t.expose('activatesAt', { type: 'DateTime', description: 'Signs from this time on.' }),
    retiresAt: t.expose('retiresAt', { type: 'DateTime', nullable: true, description: 'Leaves the keyset at this time.' }),
    status: t.string({
      description: 'PENDING (published, not signing yet), ACTIVE, or RETIRING (published, replaced).',
      resolve: (k) => (k.activatesAt > k.now ? 'PENDING' : k.retiresAt ? 'RETIRING' : 'ACTIVE'),
    }),
  }),
});

builder.queryField('toolKeys', (t) =>
  t.field({
    type: [ToolKeyRef],
    description: 'The keys in our public keyset, oldest first.',
    resolve: async (_root, _args, ctx) => {
      const now = ctx.now();
      return (await ctx.toolKeys.list()).map((k) => ({ ...k, now }));
    },
  }),
);

const RotateToolKeyPayload = builder
  .objectRef<{ next: ToolKeyInfo; retiring: ToolKeyInfo[]; now: Date }>('RotateToolKeyPayload')
  .implement({
    description: 'The keys a rotation changed.',
    fields: (t) => ({
      next: t.field({
        type: ToolKeyRef,
        description: 'The new key: published now, signing from its activatesAt.',
        resolve: (p) => ({ ...p.next, now: p.now }),
      }),
      retiring: t.field({
        type: [ToolKeyRef],
        description: 'The keys it replaces: they sign until the new key activates and stay published until their retiresAt.',
        resolve: (p) => p.retiring.map((k) => ({ ...k, now: p.now })),
      }),
    }),
  });

builder.mutationField('rotateToolKey', (t) =>
  t.field({
    type: RotateToolKeyPayload,
    description:
      'Publishes a new signing key now; it signs after TOOL_KEY_ROTATION_LEAD_SECONDS, and the current key stays published for TOOL_KEY_RETIRE_GRACE_SECONDS after that. Administrators only.',
    errors: {
      types: [ForbiddenError],
      directResult: true,
      union: { name: 'RotateToolKeyResult', description: 'The rotated keys, or ForbiddenError when you are no administrator.' },
    },
    resolve: async (_root, _args, ctx) => {
      const owner = await ctx.prisma.owner.findUniqueOrThrow({
        where: { id: ctx.viewer.ownerId },
        select: { isAdmin: true },
      });
      if (!owner.isAdmin) throw new ForbiddenError('Only administrators can rotate the tool keys.');
      return { ...(await ctx.toolKeys.rotate()), now: ctx.now() };
    },
  }),
);
