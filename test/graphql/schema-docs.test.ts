/**
 * The schema's descriptions are the API's documentation (README "GraphQL API"): every type,
 * field, argument, input field and enum value this server defines must have one, the
 * connection and edge boilerplate Pothos generates included. GraphQL's own introspection
 * types and built-in scalars are documented by the specification and are not ours.
 */
import { readFileSync } from 'node:fs';
import {
  buildSchema,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isIntrospectionType,
  isObjectType,
  isSpecifiedScalarType,
  type GraphQLSchema,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { getSchema } from '../../schema/index.ts';

/** Every schema element without a description, as `Type`, `Type.field`, `Type.field(arg)` or `Enum.VALUE`. */
function undocumented(schema: GraphQLSchema): string[] {
  const missing: string[] = [];
  const lacks = (description: string | null | undefined) => !description?.trim();
  for (const type of Object.values(schema.getTypeMap())) {
    if (isIntrospectionType(type) || isSpecifiedScalarType(type)) continue;
    if (lacks(type.description)) missing.push(type.name);
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields())) {
        if (lacks(field.description)) missing.push(`${type.name}.${field.name}`);
        for (const arg of field.args) if (lacks(arg.description)) missing.push(`${type.name}.${field.name}(${arg.name})`);
      }
    } else if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) if (lacks(field.description)) missing.push(`${type.name}.${field.name}`);
    } else if (isEnumType(type)) {
      for (const value of type.getValues()) if (lacks(value.description)) missing.push(`${type.name}.${value.name}`);
    }
  }
  return missing.sort();
}

describe('schema documentation', () => {
  it('every type, field, argument, input field and enum value has a description', () => {
    expect(undocumented(getSchema())).toEqual([]);
  });

  it('the committed schema.graphql carries them too (what clients and codegen read)', () => {
    const committed = buildSchema(readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8'));
    expect(undocumented(committed)).toEqual([]);
  });

  it('the check itself notices a missing description', () => {
    const schema = buildSchema(`
      """Documented."""
      type Query {
        """Documented."""
        a(x: Int): Int
        b: E
      }
      enum E { """Documented.""" ONE TWO }
      """Documented."""
      input I { y: Int }
    `);
    expect(undocumented(schema)).toEqual(['E', 'E.TWO', 'I.y', 'Query.a(x)', 'Query.b']);
  });
});
