-- AlterTable
ALTER TABLE "Owner" ADD COLUMN     "isAdmin" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "ToolKey" (
    "kid" TEXT NOT NULL,
    "alg" TEXT NOT NULL,
    "publicJwk" JSONB NOT NULL,
    "privateJwk" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "activatesAt" TIMESTAMP(3) NOT NULL,
    "retiresAt" TIMESTAMP(3),

    CONSTRAINT "ToolKey_pkey" PRIMARY KEY ("kid")
);

-- CreateTable
CREATE TABLE "LoginState" (
    "state" TEXT NOT NULL,
    "nonce" TEXT NOT NULL,
    "appId" TEXT NOT NULL,
    "registrationId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "usedAt" TIMESTAMP(3),

    CONSTRAINT "LoginState_pkey" PRIMARY KEY ("state")
);

-- CreateTable
CREATE TABLE "Launch" (
    "id" TEXT NOT NULL,
    "appId" TEXT NOT NULL,
    "registrationId" TEXT NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "name" TEXT,
    "givenName" TEXT,
    "familyName" TEXT,
    "email" TEXT,
    "roles" TEXT[],
    "contextId" TEXT,
    "contextTitle" TEXT,
    "contextLabel" TEXT,
    "resourceLinkId" TEXT NOT NULL,
    "resourceLinkTitle" TEXT,
    "agsLineitem" TEXT,
    "agsLineitems" TEXT,
    "agsScopes" TEXT[],
    "credentialHash" TEXT NOT NULL,
    "credentialExpiresAt" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Launch_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "ToolKey_activatesAt_idx" ON "ToolKey"("activatesAt");

-- CreateIndex
CREATE UNIQUE INDEX "LoginState_nonce_key" ON "LoginState"("nonce");

-- CreateIndex
CREATE INDEX "LoginState_expiresAt_idx" ON "LoginState"("expiresAt");

-- CreateIndex
CREATE UNIQUE INDEX "Launch_credentialHash_key" ON "Launch"("credentialHash");

-- CreateIndex
CREATE INDEX "Launch_appId_id_idx" ON "Launch"("appId", "id");

-- CreateIndex
CREATE INDEX "Launch_registrationId_idx" ON "Launch"("registrationId");

-- AddForeignKey
ALTER TABLE "Launch" ADD CONSTRAINT "Launch_appId_fkey" FOREIGN KEY ("appId") REFERENCES "App"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Launch" ADD CONSTRAINT "Launch_registrationId_fkey" FOREIGN KEY ("registrationId") REFERENCES "LtiRegistration"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Existing installations: the oldest owner becomes the administrator.
UPDATE "Owner" SET "isAdmin" = true
WHERE "id" = (SELECT "id" FROM "Owner" ORDER BY "createdAt", "id" LIMIT 1);
