import { Prisma, type LtiRegistration } from '../server/generated/prisma/client.ts';
import { NotFoundError, ValidationError } from '../server/errors.ts';
import type { OutboundPolicy } from '../server/http/outbound-policy.ts';
import { InputChecker, LIMITS } from '../server/validation.ts';
import { changedFields } from './changed-fields.ts';
import { builder } from './builder.ts';
import { decodeIdOf } from './errors.ts';

export const RegistrationNode = builder.prismaNode('LtiRegistration', {
  description:
    'One LTI 1.3 platform placement of an app: the values Open edX Studio shows for the component.',
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id, app: { ownerId: ctx.viewer.ownerId } }),
  fields: (t) => ({
    label: t.exposeString('label', { nullable: true, description: 'Your own note, e.g. the course; null when there is none.' }),
    issuer: t.exposeString('issuer', {
      description:
        'Studio: "Issuer". Stored without trailing slashes; logins and launches must send exactly this issuer (one ending in "/" is refused).',
    }),
    clientId: t.exposeString('clientId', { description: 'Studio: "Client ID".' }),
    authLoginUrl: t.exposeString('authLoginUrl', { description: 'Studio: "Login URL".' }),
    authTokenUrl: t.exposeString('authTokenUrl', { description: 'Studio: "Access Token URL".' }),
    keysetUrl: t.exposeString('keysetUrl', { description: 'Studio: "Keyset URL".' }),
    deploymentIds: t.exposeStringList('deploymentIds', {
      description: 'Studio: "Deployment ID" (always "1" on Open edX). Launches from others are refused.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was added.' }),
    updatedAt: t.expose('updatedAt', {
      type: 'DateTime',
      description: 'When one of its values last changed (an update that changes nothing leaves it).',
    }),
    app: t.relation('app', { description: 'The app LMSs launch through this registration.' }),
  }),
});

/** The rule for URLs this server fetches or sends browsers to (InputChecker.outboundUrl). */
const OUTBOUND_URL_RULE =
  `An absolute URL of at most ${LIMITS.url} characters that must not name a loopback, private, link-local or other ` +
  'special-use address (or localhost) outside the networks the server allows (OUTBOUND_ALLOWED_NETWORKS); https ' +
  'unless its host is an allowed loopback host.';

const platformFields = {
  issuer: 'Issuer',
  clientId: 'Client ID',
  authLoginUrl: 'Login URL',
  authTokenUrl: 'Access Token URL',
  keysetUrl: 'Keyset URL',
} as const;

const fieldDescriptions = {
  issuer:
    `Studio: "Issuer". An absolute https URL (http only for localhost) of at most ${LIMITS.url} characters, without ` +
    'query or fragment (not even an empty "?" or "#"); trailing slashes are dropped, and logins and launches must then send ' +
    'exactly the stored issuer. With the client ID, unique on the whole server.',
  clientId: `Studio: "Client ID", 1–${LIMITS.clientId} characters. With the issuer, unique on the whole server.`,
  authLoginUrl: `Studio: "Login URL". ${OUTBOUND_URL_RULE}`,
  authTokenUrl: `Studio: "Access Token URL". ${OUTBOUND_URL_RULE}`,
  keysetUrl: `Studio: "Keyset URL". ${OUTBOUND_URL_RULE}`,
  deploymentIds:
    `Studio: "Deployment ID" (Open edX uses "1"). 1–${LIMITS.deploymentIds} IDs of 1–${LIMITS.deploymentId} ` +
    'characters each, no control characters; duplicates are dropped.',
};

const AddLtiRegistrationInput = builder.inputType('AddLtiRegistrationInput', {
  description:
    "The values Open edX Studio shows on an LTI 1.3 component's settings, for one of your apps. Strings are trimmed " +
    'before they are checked and stored.',
  fields: (t) => ({
    appId: t.id({ required: true, description: "The app's global ID (`App.id`)." }),
    label: t.string({
      description: `Your own note, e.g. the course: at most ${LIMITS.label} characters. Omitted, null, empty or only spaces: none.`,
    }),
    issuer: t.string({ required: true, description: fieldDescriptions.issuer }),
    clientId: t.string({ required: true, description: fieldDescriptions.clientId }),
    authLoginUrl: t.string({ required: true, description: fieldDescriptions.authLoginUrl }),
    authTokenUrl: t.string({ required: true, description: fieldDescriptions.authTokenUrl }),
    keysetUrl: t.string({ required: true, description: fieldDescriptions.keysetUrl }),
    deploymentIds: t.stringList({ required: true, description: fieldDescriptions.deploymentIds }),
  }),
});

const UpdateLtiRegistrationInput = builder.inputType('UpdateLtiRegistrationInput', {
  description:
    'Omitted or null fields keep their value; the others are checked as in AddLtiRegistrationInput. ' +
    'To clear the label, pass an empty string.',
  fields: (t) => ({
    id: t.id({ required: true, description: "The registration's global ID (`LtiRegistration.id`)." }),
    label: t.string({
      description: `A new note, at most ${LIMITS.label} characters. An empty string (or only spaces) clears it; null keeps it.`,
    }),
    issuer: t.string({ description: fieldDescriptions.issuer }),
    clientId: t.string({ description: fieldDescriptions.clientId }),
    authLoginUrl: t.string({ description: fieldDescriptions.authLoginUrl }),
    authTokenUrl: t.string({ description: fieldDescriptions.authTokenUrl }),
    keysetUrl: t.string({ description: fieldDescriptions.keysetUrl }),
    deploymentIds: t.stringList({ description: `All deployment IDs (they replace the old ones). ${fieldDescriptions.deploymentIds}` }),
  }),
});

const RemoveLtiRegistrationInput = builder.inputType('RemoveLtiRegistrationInput', {
  description: 'Which registration to remove.',
  fields: (t) => ({
    id: t.id({ required: true, description: "The registration's global ID (`LtiRegistration.id`)." }),
  }),
});

const RegistrationPayload = builder
  .objectRef<{ registration: LtiRegistration }>('LtiRegistrationPayload')
  .implement({
    description: 'The registration as it is now, after the change.',
    fields: (t) => ({
      registration: t.field({
        type: RegistrationNode,
        description: 'The added or updated registration.',
        resolve: (p) => p.registration,
      }),
    }),
  });

const RemoveLtiRegistrationPayload = builder
  .objectRef<{ id: string }>('RemoveLtiRegistrationPayload')
  .implement({
    description: 'The registration is gone, with the launches made through it and their grades.',
    fields: (t) => ({
      removedRegistrationId: t.field({
        type: 'ID',
        description: 'Global ID of the removed registration, as it was given.',
        resolve: (p) => p.id,
      }),
    }),
  });

type PlatformValues = Partial<Record<keyof typeof platformFields, string | null | undefined>> & {
  label?: string | null | undefined;
  deploymentIds?: readonly string[] | null | undefined;
};

/** Checks whichever of the registration's fields are present; returns normalised values. */
function checkRegistration(input: PlatformValues, check: InputChecker, policy: OutboundPolicy) {
  const data: Partial<Omit<LtiRegistration, 'id' | 'appId' | 'createdAt' | 'updatedAt'>> = {};
  // null keeps the label like omitting it (as every other field); an empty string clears it.
  if (input.label != null) data.label = check.optionalText('label', input.label, LIMITS.label);
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
    description:
      'Registers an LTI 1.3 platform placement (e.g. one Open edX component) for one of your apps, with the values ' +
      'Studio shows. ValidationError lists every invalid field (an issuer and client ID already registered on this ' +
      'server is one); NotFoundError: no such app of yours. Either way nothing was stored.',
    errors: {
      types: [ValidationError, NotFoundError],
      directResult: true,
      union: { name: 'AddLtiRegistrationResult', description: 'The new registration, or why nothing was stored.' },
    },
    args: { input: t.arg({ type: AddLtiRegistrationInput, required: true, description: 'The app and the values from Studio.' }) },
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
    description:
      'Changes the given values of one of your registrations (e.g. after copying them again from Studio); its launches ' +
      'and grades stay. Omitted or null fields keep their value, an empty label clears the label, and with nothing to ' +
      'change the registration is returned as it is. ValidationError lists every invalid field, NotFoundError means no ' +
      'such registration of yours; either way nothing was changed.',
    errors: {
      types: [ValidationError, NotFoundError],
      directResult: true,
      union: { name: 'UpdateLtiRegistrationResult', description: 'The registration as it is now, or why nothing was changed.' },
    },
    args: { input: t.arg({ type: UpdateLtiRegistrationInput, required: true, description: 'Which registration, and what to change.' }) },
    resolve: async (_root, { input }, ctx) => {
      const id = decodeIdOf('LtiRegistration', String(input.id));
      const check = new InputChecker();
      const data = checkRegistration(input, check, ctx.outboundPolicy);
      check.done();
      const current = await ctx.prisma.ltiRegistration.findFirst({ where: { id, app: { ownerId: ctx.viewer.ownerId } } });
      if (!current) throw new NotFoundError('LtiRegistration', String(input.id));
      const changes = changedFields(current, data);
      // Nothing to write: the registration as it is, updatedAt unmoved.
      if (Object.keys(changes).length === 0) return { registration: current };
      const { count } = await withDuplicateCheck(() =>
        ctx.prisma.ltiRegistration.updateMany({
          where: { id, app: { ownerId: ctx.viewer.ownerId } },
          data: changes,
        }),
      );
      // Removed since it was read.
      if (count === 0) throw new NotFoundError('LtiRegistration', String(input.id));
      return { registration: await ctx.prisma.ltiRegistration.findUniqueOrThrow({ where: { id } }) };
    },
  }),
  removeLtiRegistration: t.field({
    type: RemoveLtiRegistrationPayload,
    description:
      'Removes one of your registrations for good, and with it every launch made through it and those launches\' ' +
      'grades, grades not yet delivered included: they will never be sent. Refused-launch records stay, without their ' +
      'registration. Logins and launches from that platform placement are refused afterwards. To correct its values, ' +
      'use updateLtiRegistration instead: that keeps launches and grades. NotFoundError: no such registration of yours; ' +
      'nothing was removed.',
    errors: {
      types: [NotFoundError],
      directResult: true,
      union: { name: 'RemoveLtiRegistrationResult', description: 'The removed registration, or why nothing was removed.' },
    },
    args: { input: t.arg({ type: RemoveLtiRegistrationInput, required: true, description: 'Which registration to remove.' }) },
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

