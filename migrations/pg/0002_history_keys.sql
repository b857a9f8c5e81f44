CREATE TABLE "background_tasks"."spent_keys" (
	"key" text PRIMARY KEY NOT NULL,
	"task_id" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "background_tasks"."executions" ADD COLUMN "task_key" text;--> statement-breakpoint
ALTER TABLE "background_tasks"."executions" ADD COLUMN "final" boolean DEFAULT false NOT NULL;--> statement-breakpoint
-- Attempts recorded before this column existed: one ended its run unless its run is
-- still pending (a retry or an interruption follows) or a later attempt of it exists.
UPDATE "background_tasks"."executions" e SET "final" = true
WHERE e."status" IN ('succeeded', 'failed', 'cancelled')
  AND NOT EXISTS (SELECT 1 FROM "background_tasks"."runs" r WHERE r."id" = e."run_id")
  AND NOT EXISTS (SELECT 1 FROM "background_tasks"."executions" later WHERE later."run_id" = e."run_id" AND later."id" > e."id");--> statement-breakpoint
-- A keyed task that goes, however it goes, leaves its key spent for addTaskOnce.
CREATE FUNCTION "background_tasks"."remember_spent_key"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "background_tasks"."spent_keys" ("key", "task_id") VALUES (OLD."key", OLD."id")
  ON CONFLICT ("key") DO UPDATE SET "task_id" = EXCLUDED."task_id";
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER "tasks_spent_key" AFTER DELETE ON "background_tasks"."tasks"
FOR EACH ROW WHEN (OLD."key" IS NOT NULL) EXECUTE FUNCTION "background_tasks"."remember_spent_key"();
