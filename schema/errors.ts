import { decodeGlobalID } from '@pothos/plugin-relay';
import { AppError, ForbiddenError, NotFoundError, ValidationError, type FieldProblem } from '../server/errors.ts';
import { builder } from './builder.ts';
import { isPlausibleId } from './ids.ts';

/** Expected failures of a mutation are members of its result union, never top-level errors. */
export const ErrorInterface = builder.interfaceRef<AppError>('Error').implement({
  description: 'An expected failure, returned as a member of a mutation result union.',
  fields: (t) => ({
    message: t.exposeString('message', { description: 'A sentence for a person.' }),
    code: t.exposeString('code', { description: 'Stable, machine-readable: ERR_VALIDATION, ERR_NOT_FOUND, ERR_FORBIDDEN.' }),
  }),
});

const FieldError = builder.objectRef<FieldProblem>('FieldError').implement({
  description: 'One invalid input field.',
  fields: (t) => ({
    field: t.exposeString('field', { description: 'The input field name, e.g. `exerciseUrl`.' }),
    message: t.exposeString('message', { description: 'What is wrong with the value and what is accepted, as a sentence for a person.' }),
  }),
});

builder.objectType(ValidationError, {
  name: 'ValidationError',
  description: 'The input was refused; nothing was changed. Every invalid field is listed.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ValidationError,
  fields: (t) => ({
    fields: t.field({
      type: [FieldError],
      description: 'Every invalid input field (at least one), each with what is wrong with it.',
      resolve: (err) => err.fields,
    }),
  }),
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  description: 'No such object, or it is not yours (the two are indistinguishable on purpose).',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof NotFoundError,
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The ID that was looked up.' }),
  }),
});

builder.objectType(ForbiddenError, {
  name: 'ForbiddenError',
  description: 'You may not do this; e.g. server-wide actions are reserved to administrators.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ForbiddenError,
  fields: () => ({}),
});

/**
 * Decodes a global ID of the expected type. A malformed ID or one of another type is
 * simply "not found": callers never learn more from a bad ID than from a missing one.
 */
export function decodeIdOf(typename: string, globalId: string): string {
  try {
    const decoded = decodeGlobalID(globalId);
    // An id that cannot exist (e.g. a NUL, which PostgreSQL text cannot hold) must not reach a query.
    if (decoded.typename === typename && isPlausibleId(decoded.id)) {
      return decoded.id;
    }
  } catch {
    // fall through
  }
  throw new NotFoundError(typename, globalId);
}

/** Like decodeIdOf, but returns undefined instead of throwing (queries answer null). */
export function tryDecodeIdOf(typename: string, globalId: string): string | undefined {
  try {
    return decodeIdOf(typename, globalId);
  } catch {
    return undefined;
  }
}
