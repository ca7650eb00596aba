-- The login stores nothing (docs/lti.md, "Login state"): the state, nonce, app, registration and
-- expiry travel in the browser's state cookie, authenticated with the `login-state-mac` secret,
-- and the launch's insert is the replay guard (a unique nonce per launch).
-- Logins in flight during the upgrade are refused at launch (ERR_LTI_STATE_UNKNOWN: their cookie
-- holds only the state) and the learners open the exercise again; nothing is ever accepted.
-- The unique index is built while "Launch" takes no writes: on a table of millions of launches
-- that is seconds.

-- AlterTable
ALTER TABLE "Launch" ADD COLUMN     "nonce" TEXT;

-- DropTable
DROP TABLE "LoginState";

-- CreateTable
CREATE TABLE "ServerSecret" (
    "name" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ServerSecret_pkey" PRIMARY KEY ("name")
);

-- CreateIndex
CREATE UNIQUE INDEX "Launch_nonce_key" ON "Launch"("nonce");
