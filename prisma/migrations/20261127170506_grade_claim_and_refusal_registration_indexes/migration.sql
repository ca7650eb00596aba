-- CreateIndex
CREATE INDEX "Grade_state_attempts_idx" ON "Grade"("state", "attempts");

-- CreateIndex
CREATE INDEX "LaunchRefusal_registrationId_idx" ON "LaunchRefusal"("registrationId");
