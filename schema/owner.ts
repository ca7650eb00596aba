import type { ApiToken } from '../server/generated/prisma/client.ts';
import { issueApiToken } from '../server/auth/api-tokens.ts';
import { NotFoundError, ValidationError } from '../server/errors.ts';
import { InputChecker, LIMITS } from '../server/validation.ts';
import { builder, PAGE } from './builder.ts';
import { decodeIdOf } from './errors.ts';

const ApiTokenNode = builder.prismaNode('ApiToken', {
  description: 'An API token. The secret itself is shown only once, when it is created.',
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id, ownerId: ctx.viewer.ownerId }),
  fields: (t) => ({
    name: t.exposeString('name', { description: 'What it is for, as given when it was created.' }),
    prefix: t.exposeString('prefix', { description: 'The first characters, to recognise it.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    lastUsedAt: t.expose('lastUsedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'Updated at most once a minute.',
    }),
    revokedAt: t.expose('revokedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When it was revoked (it is refused since); null while it works.',
    }),
    isCurrent: t.boolean({
      description: 'True for the token this request was made with.',
      select: { id: true },
      resolve: (token, _args, ctx) => token.id === ctx.viewer.tokenId,
    }),
  }),
});

builder.prismaNode('Owner', {
  description: 'An owner account: the one whose API token made the request.',
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id, AND: [{ id: ctx.viewer.ownerId }] }),
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The account name.' }),
    isAdmin: t.exposeBoolean('isAdmin', {
      description: 'Administrators may rotate the tool signing keys (server-wide).',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the account was created.' }),
    apiTokens: t.relatedConnection('tokens', {
      description: 'Your API tokens, revoked ones included, oldest first.',
      cursor: 'id',
      query: { orderBy: { id: 'asc' } },
      ...PAGE,
    }, { name: 'ApiTokenConnection', description: 'A page of your API tokens, oldest first.' }, {
      name: 'ApiTokenEdge',
      description: 'One API token in a page, with its cursor.',
    }),
  }),
});

builder.queryField('viewer', (t) =>
  t.prismaField({
    type: 'Owner',
    description: 'The owner account the API token belongs to.',
    resolve: (query, _root, _args, ctx) =>
      ctx.prisma.owner.findUniqueOrThrow({ ...query, where: { id: ctx.viewer.ownerId } }),
  }),
);

const CreateApiTokenPayload = builder
  .objectRef<{ token: string; apiToken: ApiToken }>('CreateApiTokenPayload')
  .implement({
    description: 'A new API token and its secret.',
    fields: (t) => ({
      token: t.exposeString('token', {
        description: 'The secret, to send as `Authorization: Bearer <token>`. Shown only this once: only its hash is stored.',
      }),
      apiToken: t.field({ type: ApiTokenNode, description: 'The new token (without its secret).', resolve: (p) => p.apiToken }),
    }),
  });

const ApiTokenPayload = builder.objectRef<{ apiToken: ApiToken }>('ApiTokenPayload').implement({
  description: 'The API token as it is now.',
  fields: (t) => ({
    apiToken: t.field({ type: ApiTokenNode, description: 'The revoked token (see `revokedAt`).', resolve: (p) => p.apiToken }),
  }),
});

builder.mutationFields((t) => ({
  createApiToken: t.field({
    type: CreateApiTokenPayload,
    description:
      'Creates another API token for your account, e.g. one per client, so each can be revoked alone. Its secret is in ' +
      'the answer, only this once. ValidationError: an invalid name; nothing was created.',
    errors: {
      types: [ValidationError],
      directResult: true,
      union: { name: 'CreateApiTokenResult', description: 'The new token with its secret, or why none was created.' },
    },
    args: {
      input: t.arg({
        type: builder.inputType('CreateApiTokenInput', {
          description: 'A new API token.',
          fields: (f) => ({
            name: f.string({
              required: true,
              description: `What it is for: 1–${LIMITS.name} characters, no control characters (trimmed).`,
            }),
          }),
        }),
        required: true,
        description: 'The new token.',
      }),
    },
    resolve: async (_root, { input }, ctx) => {
      const check = new InputChecker();
      const name = check.text('name', input.name, LIMITS.name);
      check.done();
      const issued = await issueApiToken(ctx.prisma, ctx.viewer.ownerId, name);
      const apiToken = await ctx.prisma.apiToken.findUniqueOrThrow({ where: { id: issued.id } });
      return { token: issued.token, apiToken };
    },
  }),
  revokeApiToken: t.field({
    type: ApiTokenPayload,
    description:
      'Revokes one of your tokens at once. Revoking the token in use signs this client out. Revoking a revoked token ' +
      'changes nothing (it keeps its first revocation time). NotFoundError: no such token of yours.',
    errors: {
      types: [NotFoundError],
      directResult: true,
      union: { name: 'RevokeApiTokenResult', description: 'The revoked token, or why nothing was revoked.' },
    },
    args: {
      input: t.arg({
        type: builder.inputType('RevokeApiTokenInput', {
          description: 'Which token to revoke.',
          fields: (f) => ({ id: f.id({ required: true, description: "The token's global ID (`ApiToken.id`)." }) }),
        }),
        required: true,
        description: 'Which token to revoke.',
      }),
    },
    resolve: async (_root, { input }, ctx) => {
      const id = decodeIdOf('ApiToken', String(input.id));
      // Idempotent: revoking twice keeps the first revocation time.
      await ctx.prisma.apiToken.updateMany({
        where: { id, ownerId: ctx.viewer.ownerId, revokedAt: null },
        data: { revokedAt: ctx.now() },
      });
      const apiToken = await ctx.prisma.apiToken.findFirst({ where: { id, ownerId: ctx.viewer.ownerId } });
      if (!apiToken) throw new NotFoundError('ApiToken', String(input.id));
      return { apiToken };
    },
  }),
}));
