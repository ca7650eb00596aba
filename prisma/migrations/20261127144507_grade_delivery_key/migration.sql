-- AlterTable
ALTER TABLE "Grade" ADD COLUMN     "deliveryKey" TEXT;

-- CreateIndex
CREATE INDEX "Grade_deliveryKey_state_idx" ON "Grade"("deliveryKey", "state");

-- Backfill: grades that can still be delivered get their key, computed as
-- server/grades/ags.ts gradeDeliveryKey() does (SHA-256 hex of "<lineitem>\n<sub>", UTF-8).
UPDATE "Grade" g
SET "deliveryKey" = encode(sha256(convert_to(l."agsLineitem" || E'\n' || l."subject", 'UTF8')), 'hex')
FROM "Launch" l
WHERE l."id" = g."launchId" AND l."agsLineitem" IS NOT NULL AND g."state" <> 'NOT_GRADABLE';
