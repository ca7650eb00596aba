import { decodeGlobalID } from '@pothos/plugin-relay';
import { AppError, ForbiddenError, NotFoundError, ValidationError, type FieldProblem } from '../server/errors.ts';
import { builder } from './builder.ts';

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
    message: t.exposeString('message'),
  }),
});

builder.objectType(ValidationError, {
  name: 'ValidationError',
  description: 'The input was refused; nothing was changed. Every invalid field is listed.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ValidationError,
  fields: (t) => ({
    fields: t.field({ type: [FieldError], resolve: (err) => err.fields }),
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
    // A NUL can be in no id (PostgreSQL text cannot hold it), and must not reach a query.
    if (decoded.typename === typename && decoded.id.length > 0 && decoded.id.length <= 64 && !decoded.id.includes('\u0000')) {
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
