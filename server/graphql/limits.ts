import {
  GraphQLError,
  getNamedType,
  isInterfaceType,
  isObjectType,
  Kind,
  Lexer,
  parse,
  Source,
  TokenKind,
  SchemaMetaFieldDef,
  TypeMetaFieldDef,
  TypeNameMetaFieldDef,
  type ASTVisitor,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { PAGE } from '../../schema/builder.ts';

/**
 * How big a GraphQL request may be. The dashboard's and the tests' own operations stay far
 * inside (a test checks every one of them, and the standard introspection query, against these).
 */
export interface QueryLimits {
  /** Characters of the document. */
  maxDocumentLength: number;
  /** Lexical tokens of the document: parsing stops there, so a huge document costs little. */
  maxTokens: number;
  /** Nested field levels, fragments expanded (`{ apps { edges { node { id } } } }` is 4). */
  maxDepth: number;
  /** Aliased fields in the document: aliases turn one field into many requests. */
  maxAliases: number;
  /**
   * Fields that may be resolved, fragments expanded: each field counts 1, times the page size
   * of every connection it sits in (`first`, else `last`, at most the largest page; the largest
   * page when it is a variable, the default page when missing). `apps(first: 100) { edges { node { launches(first: 100) { edges { node { id } } } } } }`
   * costs about 30,000 and is refused, however fast the database is today.
   */
  maxCost: number;
}

export const QUERY_LIMITS: QueryLimits = {
  maxDocumentLength: 20_000,
  maxTokens: 2_000,
  maxDepth: 20,
  maxAliases: 30,
  maxCost: 10_000,
};

/**
 * Refusals are HTTP 400 with a code. `spec: false` keeps the 400 also for clients that
 * accept only application/json, where yoga answers other validation errors with 200.
 */
const http400 = () => ({ status: 400, spec: false }); // a new object each time: yoga writes to it
function limitError(message: string, code: string) {
  return new GraphQLError(message, { extensions: { code, http: http400() } });
}

/** Size, depth, aliases and cost of every operation, as a validation rule. */
export function queryLimitsRule(limits: QueryLimits = QUERY_LIMITS): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const document = context.getDocument();
    const schema = context.getSchema();
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);

    let aliases = 0;
    const memo = new Map<string, Measure>();
    const inProgress = new Set<string>();

    /** Depth and cost per one instance of a selection set; fragments measured once (no fragment bombs). */
    function measure(selectionSet: SelectionSetNode, parent: GraphQLNamedType | undefined): Measure {
      let depth = 0;
      let cost = 0;
      for (const selection of selectionSet.selections) {
        let inner: Measure;
        if (selection.kind === Kind.FIELD) {
          const field = fieldDef(parent, selection.name.value);
          const child = selection.selectionSet ? measure(selection.selectionSet, field ? getNamedType(field.type) : undefined) : ZERO;
          const own = (parent && STATEMENT_FIELDS.has(`${parent.name}.${selection.name.value}`)) ? PAGE.defaultSize : 1;
          inner = { depth: 1 + child.depth, cost: own + pageSize(selection, field) * child.cost };
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent;
          inner = measure(selection.selectionSet, type ?? undefined);
        } else {
          const name = selection.name.value;
          const fragment = fragments.get(name);
          // Unknown or cyclic fragments are reported by graphql's own rules.
          if (!fragment || inProgress.has(name)) continue;
          let known = memo.get(name);
          if (!known) {
            inProgress.add(name);
            known = measure(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value) ?? undefined);
            inProgress.delete(name);
            memo.set(name, known);
          }
          inner = known;
        }
        depth = Math.max(depth, inner.depth);
        cost += inner.cost;
      }
      return { depth, cost };
    }

    function fieldDef(parent: GraphQLNamedType | undefined, name: string): GraphQLField<unknown, unknown> | undefined {
      if (name === '__typename') return TypeNameMetaFieldDef;
      if (parent === schema.getQueryType()) {
        if (name === '__schema') return SchemaMetaFieldDef;
        if (name === '__type') return TypeMetaFieldDef;
      }
      return parent && (isObjectType(parent) || isInterfaceType(parent)) ? parent.getFields()[name] : undefined;
    }

    return {
      Field(node) {
        if (node.alias) aliases++;
      },
      Document: {
        leave() {
          if (aliases > limits.maxAliases) {
            context.reportError(limitError(`The document has ${aliases} aliases; at most ${limits.maxAliases} are allowed.`, 'QUERY_TOO_MANY_ALIASES'));
          }
          for (const operation of document.definitions) {
            if (operation.kind !== Kind.OPERATION_DEFINITION) continue;
            const root = schema.getRootType(operation.operation) ?? undefined;
            const { depth, cost } = measure(operation.selectionSet, root);
            const name = operation.name ? ` ${operation.name.value}` : '';
            if (depth > limits.maxDepth) {
              context.reportError(limitError(`Operation${name} is ${depth} levels deep; at most ${limits.maxDepth} are allowed.`, 'QUERY_TOO_DEEP'));
            }
            if (cost > limits.maxCost) {
              context.reportError(
                limitError(
                  `Operation${name} may resolve ${cost} fields; at most ${limits.maxCost} are allowed. Ask for smaller pages (first or last) or fewer fields.`,
                  'QUERY_TOO_COSTLY',
                ),
              );
            }
          }
        },
      },
    };
  };
}

interface Measure {
  depth: number;
  cost: number;
}

/**
 * Fields whose resolver runs a statement of its own (once per parent, and once per alias):
 * each costs as much as a default page on top of what it returns. Without it, `apps(first:
 * 100)` with thirty aliases of `launches(first: 0)` passed the limits and ran 3,000
 * statements. The three pages are read per app (schema/child-pages.ts). `failedGradeCount`
 * is not one of them: a page of apps, aliases included, counts in one statement
 * (schema/batched-load.ts).
 */
const STATEMENT_FIELDS = new Set(['App.launches', 'App.grades', 'App.launchRefusals']);
const ZERO: Measure = { depth: 0, cost: 0 };

/**
 * The multiplier a field applies to its children: its page size if it is a connection, the
 * way the Prisma plugin fetches it (getConnectionPageSize: `first ?? last`, at most the
 * largest page). `first` decides when it is given, even with `last` (which then only turns
 * the page around): costing whichever of the two was written last let `first: 100, last: 1`
 * fetch 100 items at the price of one. A variable may hold anything up to the largest page,
 * so it counts as that; a left-out size is the default page, which is what is fetched.
 */
function pageSize(node: FieldNode, field: GraphQLField<unknown, unknown> | undefined): number {
  if (!field?.args.some((a) => a.name === 'first' || a.name === 'last')) return 1;
  const sizeOf = (name: 'first' | 'last'): number | undefined => {
    const value = node.arguments?.find((a) => a.name.value === name)?.value;
    // Absent or a literal null: this argument sets no size.
    if (!value || value.kind === Kind.NULL) return undefined;
    // A literal of another kind fails validation anyway; count it like a variable.
    return value.kind === Kind.INT ? Number(value.value) : PAGE.maxSize;
  };
  const size = sizeOf('first') ?? sizeOf('last') ?? PAGE.defaultSize;
  return Math.min(PAGE.maxSize, Math.max(1, size));
}

/**
 * Document length and token limits, checked before and while parsing, plus the validation
 * rule above.
 */
export function useQueryLimits(limits: QueryLimits = QUERY_LIMITS): Plugin {
  return {
    // Checked before parsing (yoga turns every parse error into a spec error, 200 for
    // application/json clients); the parser's own maxTokens is the backstop.
    onParams({ params }) {
      if (typeof params.query !== 'string') return;
      if (params.query.length > limits.maxDocumentLength) {
        throw createGraphQLError(`The document has ${params.query.length} characters; at most ${limits.maxDocumentLength} are allowed.`, {
          extensions: { code: 'QUERY_TOO_LONG', http: http400() },
        });
      }
      if (tooManyTokens(params.query, limits.maxTokens)) {
        throw createGraphQLError(`The document has more than ${limits.maxTokens} tokens.`, {
          extensions: { code: 'QUERY_TOO_MANY_TOKENS', http: http400() },
        });
      }
    },
    onParse({ setParseFn }) {
      setParseFn((source, options) => parse(source, { ...options, maxTokens: limits.maxTokens }));
    },
    onValidate({ addValidationRule }) {
      addValidationRule(queryLimitsRule(limits));
    },
  };
}

/** Counts lexical tokens up to the limit (comments are not tokens); lexing errors are left to the parser. */
function tooManyTokens(source: string, maxTokens: number): boolean {
  const lexer = new Lexer(new Source(source));
  try {
    for (let count = 0; count <= maxTokens; count++) {
      if (lexer.advance().kind === TokenKind.EOF) return false;
    }
    return true;
  } catch {
    return false;
  }
}
