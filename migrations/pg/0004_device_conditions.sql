ALTER TABLE "background_tasks"."schedulers" ADD COLUMN "device" text;--> statement-breakpoint
ALTER TABLE "background_tasks"."tasks" ADD COLUMN "conditions" text;--> statement-breakpoint
ALTER TABLE "background_tasks"."tasks" ADD COLUMN "condition_lost" text DEFAULT 'wait' NOT NULL;--> statement-breakpoint
CREATE INDEX "tasks_conditions" ON "background_tasks"."tasks" USING btree ("conditions") WHERE "background_tasks"."tasks"."conditions" IS NOT NULL;