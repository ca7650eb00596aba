-- AlterTable
ALTER TABLE "Grade" ADD COLUMN     "credentialRefusals" INTEGER NOT NULL DEFAULT 0;

-- CreateIndex
CREATE INDEX "Grade_appId_state_idx" ON "Grade"("appId", "state");
