import { randomToken, RANDOM_TOKEN_PATTERN } from '../ids.ts';
import type { PrismaClient } from '../generated/prisma/client.ts';

/** The ServerSecret row whose value authenticates login state cookies (sealed-login.ts). */
export const LOGIN_STATE_SECRET_NAME = 'login-state-mac';

/**
 * The login state MAC key, shared by every process through the database: the first process
 * to start creates it (several starting at once agree on one through the primary key), the
 * others read it. Read once per process; a failed read is retried by the next caller.
 *
 * Stored as it is, not encrypted like the tool's private keys: whoever can read the database
 * could forge a state cookie, which gains nothing — a launch also needs an id_token the
 * platform signed with that cookie's nonce, and the cookie must be in the learner's browser.
 * Replacing the row (then restarting every process) refuses only the logins in flight.
 */
export class LoginStateKey {
  #key: Promise<Buffer> | undefined;

  constructor(private readonly prisma: PrismaClient) {}

  get(): Promise<Buffer> {
    if (!this.#key) {
      this.#key = readOrCreate(this.prisma);
      this.#key.catch(() => {
        this.#key = undefined;
      });
    }
    return this.#key;
  }
}

async function readOrCreate(prisma: PrismaClient): Promise<Buffer> {
  await prisma.$executeRaw`
    INSERT INTO "ServerSecret" ("name", "value") VALUES (${LOGIN_STATE_SECRET_NAME}, ${randomToken()})
    ON CONFLICT ("name") DO NOTHING`;
  // A second statement, so that it sees the row another process committed while ours waited.
  const rows = await prisma.$queryRaw<Array<{ value: string }>>`
    SELECT "value" FROM "ServerSecret" WHERE "name" = ${LOGIN_STATE_SECRET_NAME}`;
  const value = rows[0]?.value;
  if (value === undefined || !RANDOM_TOKEN_PATTERN.test(value)) {
    throw new Error(`ServerSecret ${LOGIN_STATE_SECRET_NAME} is missing or not 32 base64url bytes`);
  }
  return Buffer.from(value, 'base64url');
}
