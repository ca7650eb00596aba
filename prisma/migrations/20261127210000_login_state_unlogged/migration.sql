-- Login states live a minute and are worthless after a crash: unlogged, a login's commit waits
-- for no WAL flush, and the rows cost no WAL at all (see docs/database.md, "Login states").
-- A crash or a failover empties the table: the launches of logins then in flight are refused
-- (ERR_LTI_STATE_UNKNOWN) and the learners open the exercise again; nothing is ever accepted.
ALTER TABLE "LoginState" SET UNLOGGED;
