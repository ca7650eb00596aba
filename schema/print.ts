/**
 * `npm run schema:print` writes schema.graphql; `npm run schema:check` (CI) fails when the
 * committed file differs from what the code builds.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { printSchemaSDL } from './index.ts';

const target = fileURLToPath(new URL('../schema.graphql', import.meta.url));
const printed = printSchemaSDL();

if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(target, 'utf8');
  } catch {
    // missing file counts as stale
  }
  if (committed !== printed) {
    console.error('schema.graphql is stale: run `npm run schema:print` and commit the result.');
    process.exit(1);
  }
  console.log('schema.graphql is up to date.');
} else {
  writeFileSync(target, printed);
  console.log(`wrote ${target}`);
}
