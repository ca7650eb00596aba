-- CreateEnum
CREATE TYPE "GradeState" AS ENUM ('PENDING', 'DELIVERED', 'FAILED', 'NOT_GRADABLE');

-- AlterTable
ALTER TABLE "Launch" ADD COLUMN     "completedAt" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "Grade" (
    "id" TEXT NOT NULL,
    "launchId" TEXT NOT NULL,
    "appId" TEXT NOT NULL,
    "registrationId" TEXT NOT NULL,
    "scoreGiven" DOUBLE PRECISION NOT NULL,
    "scoreMaximum" DOUBLE PRECISION NOT NULL,
    "state" "GradeState" NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" TIMESTAMP(3),
    "leaseUntil" TIMESTAMP(3),
    "leaseOwner" TEXT,
    "lastError" TEXT,
    "lastStatus" INTEGER,
    "deliveredAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Grade_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Grade_launchId_key" ON "Grade"("launchId");

-- CreateIndex
CREATE INDEX "Grade_state_nextAttemptAt_idx" ON "Grade"("state", "nextAttemptAt");

-- CreateIndex
CREATE INDEX "Grade_appId_id_idx" ON "Grade"("appId", "id");

-- AddForeignKey
ALTER TABLE "Grade" ADD CONSTRAINT "Grade_launchId_fkey" FOREIGN KEY ("launchId") REFERENCES "Launch"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Grade" ADD CONSTRAINT "Grade_appId_fkey" FOREIGN KEY ("appId") REFERENCES "App"("id") ON DELETE CASCADE ON UPDATE CASCADE;
