import { fileURLToPath } from 'node:url';
import { defineConfig } from 'prisma/config';

// Prisma's CLI wants a native schema engine (downloaded from a host this project
// cannot reach) before every command, even `generate`. Point it at a stub that
// explains where migrations live: we run them on Prisma's wasm engine
// (server/db/migrate.ts, `npm run db:migrate:*`).
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= fileURLToPath(
  new URL('./prisma/schema-engine-stub.sh', import.meta.url),
);

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
});
