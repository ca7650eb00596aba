import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed operations from the committed schema.graphql (printed from code by
 * `npm run schema:print`), for two clients: the test suite (test/operations) and the owner
 * dashboard (dashboard/src/operations). A schema change that breaks either shows up as a type
 * error. Run `npm run codegen` after changing the schema or an operation; CI checks that both
 * generated folders are up to date.
 */
const clientPreset = {
  preset: 'client',
  presetConfig: { fragmentMasking: false },
  config: {
    useTypeImports: true,
    enumsAsTypes: true,
    importExtension: '.ts',
    scalars: { DateTime: 'string' },
    avoidOptionals: { field: true },
  },
} satisfies CodegenConfig['generates'][string];

const config: CodegenConfig = {
  schema: 'schema.graphql',
  emitLegacyCommonJSImports: false,
  generates: {
    'test/generated/': { ...clientPreset, documents: ['test/operations/**/*.graphql'] },
    'dashboard/src/generated/': { ...clientPreset, documents: ['dashboard/src/operations/**/*.graphql'] },
  },
};

export default config;
