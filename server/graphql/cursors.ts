import {
  getArgumentValues,
  getDirectiveValues,
  getNamedType,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  isInterfaceType,
  isObjectType,
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type FragmentSpreadNode,
  type GraphQLNamedType,
  type GraphQLSchema,
  type InlineFragmentNode,
  type SelectionSetNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { isWellFormedCursor } from '../../schema/ids.ts';

const CURSOR_ARGS = ['after', 'before'] as const;

/**
 * Connection cursors (`after`, `before`) are checked before a request runs, for every field
 * of the operation, and a request with one this API did not hand out is refused whole with
 * `extensions.code` BAD_CURSOR (HTTP 200, `data: null`, like a field error at the root). So
 * are page arguments the connections would refuse (a negative `first`, `after` with `last`…),
 * with BAD_CONNECTION_ARGUMENTS.
 *
 * Why before, not in each connection's resolver: the Prisma plugin builds a nested connection's
 * query (cursor included) while resolving the field *above* it, so a resolver-level check would
 * come too late; and a mutation must not run when its selection holds a bad cursor. Without
 * the check, a cursor such as base64("GPC:N:5") or one holding a NUL reaches Prisma and comes
 * back as "Unexpected error.".
 */
export function useCursorCheck(): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const error = findBadCursor(args.schema, args.document, args.operationName, args.variableValues);
      if (error) setResultAndStopExecution({ data: null, errors: [error] });
    },
  };
}

/**
 * The first cursor argument of the operation to run that is not well formed, as the error to
 * answer with; undefined when all are fine. Whatever makes the operation fail anyway (no such
 * operation, variables or arguments of the wrong type) is left to graphql's execution, which
 * reports it as usual.
 */
/**
 * What the connection resolvers would refuse about a page's arguments, found before anything
 * runs: raised by the resolver, it came after a mutation had been applied, as a request error
 * with `data: null` — the caller never saw the write (a created app's id) and would repeat it.
 */
function connectionArgumentsProblem({ first, last, after, before }: Record<string, unknown>): string | undefined {
  if (typeof first === 'number' && first < 0) return '`first` must not be negative.';
  if (typeof last === 'number' && last < 0) return '`last` must not be negative.';
  if (after != null && before != null) return '`after` and `before` cannot be used together.';
  if (before != null && first != null) return '`before` pages backwards: use it with `last`, not `first`.';
  if (after != null && last != null) return '`after` pages forwards: use it with `first`, not `last`.';
  return undefined;
}

export function findBadCursor(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  rawVariables: Readonly<Record<string, unknown>> | null | undefined,
): GraphQLError | undefined {
  const operation = getOperationAST(document, operationName ?? undefined);
  if (!operation) return undefined;
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables ?? {});
  if (coerced.errors) return undefined;
  const variables = coerced.coerced;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  // Each fragment is looked at once: its fields and arguments are the same wherever it is spread.
  const visited = new Set<string>();

  const included = (node: FieldNode | FragmentSpreadNode | InlineFragmentNode): boolean =>
    getDirectiveValues(GraphQLSkipDirective, node, variables)?.['if'] !== true &&
    getDirectiveValues(GraphQLIncludeDirective, node, variables)?.['if'] !== false;

  function walk(selectionSet: SelectionSetNode, parent: GraphQLNamedType | undefined | null): GraphQLError | undefined {
    for (const selection of selectionSet.selections) {
      // A skipped field does not run, so its cursor is never used.
      if (!included(selection)) continue;
      let found: GraphQLError | undefined;
      if (selection.kind === Kind.FIELD) {
        const field = parent && (isObjectType(parent) || isInterfaceType(parent)) ? parent.getFields()[selection.name.value] : undefined;
        if (!field) continue; // __typename, introspection: no cursors there
        if (field.args.some((a) => a.name === 'after' || a.name === 'before')) {
          let values: Record<string, unknown> | undefined;
          try {
            values = getArgumentValues(field, selection, variables);
          } catch {
            // Execution reports an invalid argument value for this field itself.
          }
          const problem = values && connectionArgumentsProblem(values);
          if (problem) {
            return new GraphQLError(`\`${selection.name.value}\`: ${problem} Nothing was run.`, {
              nodes: selection,
              extensions: { code: 'BAD_CONNECTION_ARGUMENTS' },
            });
          }
          for (const name of CURSOR_ARGS) {
            const value = values?.[name];
            if (typeof value === 'string' && !isWellFormedCursor(value)) {
              const node = selection.arguments?.find((a) => a.name.value === name) ?? selection;
              return new GraphQLError(
                `\`${name}\` of \`${selection.name.value}\` is not a cursor this API handed out: pass an edge's \`cursor\` ` +
                  'or `pageInfo.endCursor`/`startCursor` from the same list, unchanged. Nothing was run.',
                { nodes: node, extensions: { code: 'BAD_CURSOR' } },
              );
            }
          }
        }
        if (selection.selectionSet) found = walk(selection.selectionSet, getNamedType(field.type));
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        found = walk(selection.selectionSet, selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (!fragment || visited.has(fragment.name.value)) continue;
        visited.add(fragment.name.value);
        found = walk(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value));
      }
      if (found) return found;
    }
    return undefined;
  }

  return walk(operation.selectionSet, schema.getRootType(operation.operation));
}
