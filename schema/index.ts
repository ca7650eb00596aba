import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { builder } from './builder.ts';
import './errors.ts';
import './owner.ts';
import './app.ts';
import './registration.ts';
import './launch.ts';
import './tool-keys.ts';
import './grade.ts';

export type { GraphQLContext } from './context.ts';
export { failedGradeCounts } from './app.ts';

let schema: GraphQLSchema | undefined;

/** Built once per process: the schema holds no per-server state (deps come via context). */
export function getSchema(): GraphQLSchema {
  schema ??= builder.toSchema({ sortSchema: true });
  return schema;
}

export function printSchemaSDL(): string {
  return `${printSchema(lexicographicSortSchema(getSchema()))}\n`;
}
