/**
 * Errors with stable codes. Callers switch on `code`, never on messages. Messages of
 * these classes are written for end users and API clients; anything else that escapes
 * is masked by the GraphQL layer or turned into a generic error page.
 */
export abstract class AppError extends Error {
  abstract readonly code: string;
  override name = this.constructor.name;
}

export interface FieldProblem {
  /** The input field's name as the API spells it, e.g. `exerciseUrl`. */
  field: string;
  message: string;
}

export class ValidationError extends AppError {
  readonly code = 'ERR_VALIDATION';
  constructor(readonly fields: FieldProblem[]) {
    super(
      fields.length === 1
        ? `${fields[0]!.field}: ${fields[0]!.message}`
        : `${fields.length} fields are invalid: ${fields.map((f) => f.field).join(', ')}`,
    );
  }
}

/** Deliberately identical for "does not exist" and "belongs to someone else". */
export class NotFoundError extends AppError {
  readonly code = 'ERR_NOT_FOUND';
  constructor(
    readonly typename: string,
    readonly id: string,
  ) {
    super(`No ${typename} with id "${id}"`);
  }
}

/** The viewer may not do this (e.g. server-wide actions reserved to administrators). */
export class ForbiddenError extends AppError {
  readonly code = 'ERR_FORBIDDEN';
}
