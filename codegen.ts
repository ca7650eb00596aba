import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed operations from the committed schema.graphql (printed from code by
 * `npm run schema:print`). The test suite uses these documents, so a schema change that
 * breaks a client shows up as a type error. Run `npm run codegen` after changing either.
 */
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['test/operations/**/*.graphql'],
  emitLegacyCommonJSImports: false,
  generates: {
    'test/generated/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        importExtension: '.ts',
        scalars: { DateTime: 'string' },
        avoidOptionals: { field: true },
      },
    },
  },
};

export default config;
