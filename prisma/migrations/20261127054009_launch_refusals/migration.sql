-- CreateEnum
CREATE TYPE "LtiRoute" AS ENUM ('LOGIN', 'LAUNCH');

-- CreateTable
CREATE TABLE "LaunchRefusal" (
    "id" TEXT NOT NULL,
    "appId" TEXT NOT NULL,
    "registrationId" TEXT,
    "route" "LtiRoute" NOT NULL,
    "code" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "LaunchRefusal_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "LaunchRefusal_appId_id_idx" ON "LaunchRefusal"("appId", "id");

-- CreateIndex
CREATE INDEX "LaunchRefusal_createdAt_idx" ON "LaunchRefusal"("createdAt");

-- AddForeignKey
ALTER TABLE "LaunchRefusal" ADD CONSTRAINT "LaunchRefusal_appId_fkey" FOREIGN KEY ("appId") REFERENCES "App"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "LaunchRefusal" ADD CONSTRAINT "LaunchRefusal_registrationId_fkey" FOREIGN KEY ("registrationId") REFERENCES "LtiRegistration"("id") ON DELETE SET NULL ON UPDATE CASCADE;
