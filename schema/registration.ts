import { Prisma, type LtiRegistration } from '../server/generated/prisma/client.ts';
import { NotFoundError, ValidationError } from '../server/errors.ts';
import type { OutboundPolicy } from '../server/http/outbound-policy.ts';
import { InputChecker, LIMITS } from '../server/validation.ts';
import { builder } from './builder.ts';
import { decodeIdOf } from './errors.ts';

export const RegistrationNode = builder.prismaNode('LtiRegistration', {
  description:
    'One LTI 1.3 platform placement of an app: the values Open edX Studio shows for the component.',
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id, app: { ownerId: ctx.viewer.ownerId } }),
  fields: (t) => ({
    label: t.exposeString('label', { nullable: true, description: 'Your own note, e.g. the course.' }),
    issuer: t.exposeString('issuer', { description: 'Studio: "Issuer". Stored without a trailing slash.' }),
    clientId: t.exposeString('clientId', { description: 'Studio: "Client ID".' }),
    authLoginUrl: t.exposeString('authLoginUrl', { description: 'Studio: "Login URL".' }),
    authTokenUrl: t.exposeString('authTokenUrl', { description: 'Studio: "Access Token URL".' }),
    keysetUrl: t.exposeString('keysetUrl', { description: 'Studio: "Keyset URL".' }),
    deploymentIds: t.exposeStringList('deploymentIds', {
      description: 'Studio: "Deployment ID" (always "1" on Open edX). Launches from others are refused.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    app: t.relation('app'),
  }),
});

const platformFields = {
  issuer: 'Issuer',
  clientId: 'Client ID',
  authLoginUrl: 'Login URL',
  authTokenUrl: 'Access Token URL',
  keysetUrl: 'Keyset URL',
} as const;

const AddLtiRegistrationInput = builder.inputType('AddLtiRegistrationInput', {
  fields: (t) => ({
    appId: t.id({ required: true }),
    label: t.string(),
    issuer: t.string({ required: true, description: 'https URL (http only for localhost).' }),
    clientId: t.string({ required: true }),
    authLoginUrl: t.string({ required: true }),
    authTokenUrl: t.string({ required: true }),
    keysetUrl: t.string({ required: true }),
    deploymentIds: t.stringList({ required: true, description: 'At least one; Open edX uses "1".' }),
  }),
});

const UpdateLtiRegistrationInput = builder.inputType('UpdateLtiRegistrationInput', {
  description: 'Omitted or null fields keep their value; an empty label clears it.',
  fields: (t) => ({
    id: t.id({ required: true }),
    label: t.string(),
    issuer: t.string(),
    clientId: t.string(),
    authLoginUrl: t.string(),
    authTokenUrl: t.string(),
    keysetUrl: t.string(),
    deploymentIds: t.stringList(),
  }),
});

const RemoveLtiRegistrationInput = builder.inputType('RemoveLtiRegistrationInput', {
  fields: (t) => ({ id: t.id({ required: true }) }),
});

const RegistrationPayload = builder
  .objectRef<{ registration: LtiRegistration }>('LtiRegistrationPayload')
  .implement({
    fields: (t) => ({
      registration: t.field({ type: RegistrationNode, resolve: (p) => p.registration }),
    }),
  });

const RemoveLtiRegistrationPayload = builder
  .objectRef<{ id: string }>('RemoveLtiRegistrationPayload')
  .implement({
    fields: (t) => ({ removedRegistrationId: t.field({ type: 'ID', resolve: (p) => p.id }) }),
  });

type PlatformValues = Partial<Record<keyof typeof platformFields, string | null | undefined>> & {
  label?: string | null | undefined;
  deploymentIds?: readonly string[] | null | undefined;
};

/** Checks whichever of the registration's fields are present; returns normalised values. */
function checkRegistration(input: PlatformValues, check: InputChecker, policy: OutboundPolicy) {
  const data: Partial<Omit<LtiRegistration, 'id' | 'appId' | 'createdAt' | 'updatedAt'>> = {};
  if (input.label !== undefined) data.label = check.optionalText('label', input.label, LIMITS.label);
  if (input.issuer != null) data.issuer = check.issuer('issuer', input.issuer);
  if (input.clientId != null) data.clientId = check.text('clientId', input.clientId, LIMITS.clientId);
  if (input.authLoginUrl != null) data.authLoginUrl = check.outboundUrl('authLoginUrl', input.authLoginUrl, policy);
  if (input.authTokenUrl != null) data.authTokenUrl = check.outboundUrl('authTokenUrl', input.authTokenUrl, policy);
  if (input.keysetUrl != null) data.keysetUrl = check.outboundUrl('keysetUrl', input.keysetUrl, policy);
  if (input.deploymentIds != null) data.deploymentIds = check.deploymentIds('deploymentIds', input.deploymentIds);
  return data;
}

/**
 * (issuer, clientId) is unique server-wide. The database enforces it; we translate the
 * violation into a field error (it says nothing about whose registration it is).
 */
async function withDuplicateCheck<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
      throw new ValidationError([
        {
          field: 'clientId',
          message:
            'This issuer and client ID are already registered on this server. Each Open edX component has its own client ID: copy it again from Studio.',
        },
      ]);
    }
    throw err;
  }
}

builder.mutationFields((t) => ({
  addLtiRegistration: t.field({
    type: RegistrationPayload,
    errors: {
      types: [ValidationError, NotFoundError],
      directResult: true,
      union: { name: 'AddLtiRegistrationResult' },
    },
    args: { input: t.arg({ type: AddLtiRegistrationInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const appId = decodeIdOf('App', String(input.appId));
      const check = new InputChecker();
      const data = checkRegistration(input, check, ctx.outboundPolicy);
      check.done();
      const app = await ctx.prisma.app.findFirst({
        where: { id: appId, ownerId: ctx.viewer.ownerId },
        select: { id: true },
      });
      if (!app) throw new NotFoundError('App', String(input.appId));
      const registration = await withDuplicateCheck(() =>
        ctx.prisma.ltiRegistration.create({
          data: {
            appId,
            label: data.label ?? null,
            issuer: data.issuer!,
            clientId: data.clientId!,
            authLoginUrl: data.authLoginUrl!,
            authTokenUrl: data.authTokenUrl!,
            keysetUrl: data.keysetUrl!,
            deploymentIds: data.deploymentIds!,
          },
        }),
      );
      return { registration };
    },
  }),
  updateLtiRegistration: t.field({
    type: RegistrationPayload,
    errors: {
      types: [ValidationError, NotFoundError],
      directResult: true,
      union: { name: 'UpdateLtiRegistrationResult' },
    },
    args: { input: t.arg({ type: UpdateLtiRegistrationInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const id = decodeIdOf('LtiRegistration', String(input.id));
      const check = new InputChecker();
      const data = checkRegistration(input, check, ctx.outboundPolicy);
      check.done();
      const { count } = await withDuplicateCheck(() =>
        ctx.prisma.ltiRegistration.updateMany({
          where: { id, app: { ownerId: ctx.viewer.ownerId } },
          data,
        }),
      );
      if (count === 0) throw new NotFoundError('LtiRegistration', String(input.id));
      return { registration: await ctx.prisma.ltiRegistration.findUniqueOrThrow({ where: { id } }) };
    },
  }),
  removeLtiRegistration: t.field({
    type: RemoveLtiRegistrationPayload,
    errors: {
      types: [NotFoundError],
      directResult: true,
      union: { name: 'RemoveLtiRegistrationResult' },
    },
    args: { input: t.arg({ type: RemoveLtiRegistrationInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const id = decodeIdOf('LtiRegistration', String(input.id));
      const { count } = await ctx.prisma.ltiRegistration.deleteMany({
        where: { id, app: { ownerId: ctx.viewer.ownerId } },
      });
      if (count === 0) throw new NotFoundError('LtiRegistration', String(input.id));
      return { id: String(input.id) };
    },
  }),
}));

