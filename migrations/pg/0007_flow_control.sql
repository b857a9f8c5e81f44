CREATE TABLE "background_tasks"."rate_starts" (
	"limiter" text NOT NULL,
	"started_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "background_tasks"."task_groups" (
	"name" text PRIMARY KEY NOT NULL,
	"max_running" integer,
	"rate_max" integer,
	"rate_per_ms" bigint,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "background_tasks"."tasks" ADD COLUMN "groups" text;--> statement-breakpoint
ALTER TABLE "background_tasks"."tasks" ADD COLUMN "rate_max" integer;--> statement-breakpoint
ALTER TABLE "background_tasks"."tasks" ADD COLUMN "rate_per_ms" bigint;--> statement-breakpoint
CREATE INDEX "rate_starts_limiter" ON "background_tasks"."rate_starts" USING btree ("limiter","started_at");--> statement-breakpoint
CREATE INDEX "tasks_limited" ON "background_tasks"."tasks" USING btree ("id") WHERE "background_tasks"."tasks"."groups" IS NOT NULL OR "background_tasks"."tasks"."rate_max" IS NOT NULL;