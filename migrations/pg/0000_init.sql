CREATE SCHEMA IF NOT EXISTS "background_tasks";
--> statement-breakpoint
CREATE TABLE "background_tasks"."executions" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "background_tasks"."executions_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"task_id" bigint NOT NULL,
	"task_name" text NOT NULL,
	"run_id" bigint NOT NULL,
	"attempt" integer NOT NULL,
	"status" text NOT NULL,
	"reason" text NOT NULL,
	"event_name" text,
	"event_payload" text,
	"scheduled_at" bigint NOT NULL,
	"started_at" bigint NOT NULL,
	"ended_at" bigint,
	"duration_ms" bigint,
	"error" text,
	"result" text,
	"cpu_user_us" bigint,
	"cpu_system_us" bigint,
	"rss_bytes" bigint,
	"owner" text
);
--> statement-breakpoint
CREATE TABLE "background_tasks"."runs" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "background_tasks"."runs_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"task_id" bigint NOT NULL,
	"trigger_id" bigint,
	"slot_at" bigint,
	"reason" text NOT NULL,
	"event_name" text,
	"event_payload" text,
	"state" text NOT NULL,
	"priority" integer NOT NULL,
	"due_at" bigint NOT NULL,
	"attempt" integer DEFAULT 1 NOT NULL,
	"interruptions" integer DEFAULT 0 NOT NULL,
	"execution_id" bigint,
	"owner" text,
	"owner_host" text,
	"owner_pid" integer,
	"lease_expires_at" bigint,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "background_tasks"."schedulers" (
	"id" text PRIMARY KEY NOT NULL,
	"host" text NOT NULL,
	"pid" integer NOT NULL,
	"handlers" text NOT NULL,
	"started_at" bigint NOT NULL,
	"last_seen_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "background_tasks"."tasks" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "background_tasks"."tasks_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"key" text,
	"name" text NOT NULL,
	"handler" text NOT NULL,
	"module" text,
	"memory_limit_mb" integer,
	"description" text,
	"args" text NOT NULL,
	"priority" integer DEFAULT 0 NOT NULL,
	"timeout_ms" bigint,
	"max_retries" integer,
	"retry_delay_ms" bigint,
	"retry_backoff" text,
	"retry_max_delay_ms" bigint,
	"paused" boolean DEFAULT false NOT NULL,
	"running_run_id" bigint,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "background_tasks"."triggers" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "background_tasks"."triggers_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"task_id" bigint NOT NULL,
	"kind" text NOT NULL,
	"interval_ms" bigint,
	"cron" text,
	"timezone" text,
	"jitter_ms" bigint DEFAULT 0 NOT NULL,
	"misfire" text,
	"max_catch_up" integer,
	"event_name" text,
	"delay_ms" bigint,
	"at" bigint,
	"anchor_at" bigint NOT NULL,
	"next_slot_at" bigint,
	"next_fire_at" bigint,
	"last_fired_at" bigint,
	"fire_count" integer DEFAULT 0 NOT NULL,
	"missed_count" integer DEFAULT 0 NOT NULL,
	"coalesced_count" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
ALTER TABLE "background_tasks"."runs" ADD CONSTRAINT "runs_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "background_tasks"."tasks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "background_tasks"."triggers" ADD CONSTRAINT "triggers_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "background_tasks"."tasks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "executions_task" ON "background_tasks"."executions" USING btree ("task_id","id");--> statement-breakpoint
CREATE INDEX "executions_trouble" ON "background_tasks"."executions" USING btree ("status","id") WHERE status IN ('failed', 'interrupted', 'cancelled');--> statement-breakpoint
CREATE INDEX "executions_started" ON "background_tasks"."executions" USING btree ("started_at");--> statement-breakpoint
CREATE INDEX "runs_waiting_due" ON "background_tasks"."runs" USING btree ("due_at") WHERE state = 'waiting';--> statement-breakpoint
CREATE INDEX "runs_claim_order" ON "background_tasks"."runs" USING btree ("priority" DESC,"due_at","task_id","id") WHERE state = 'waiting';--> statement-breakpoint
CREATE INDEX "runs_running" ON "background_tasks"."runs" USING btree ("owner") WHERE state = 'running';--> statement-breakpoint
CREATE INDEX "runs_task" ON "background_tasks"."runs" USING btree ("task_id");--> statement-breakpoint
CREATE UNIQUE INDEX "runs_trigger_slot" ON "background_tasks"."runs" USING btree ("trigger_id","slot_at");--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_key" ON "background_tasks"."tasks" USING btree ("key");--> statement-breakpoint
CREATE INDEX "triggers_task" ON "background_tasks"."triggers" USING btree ("task_id");--> statement-breakpoint
CREATE INDEX "triggers_next_fire" ON "background_tasks"."triggers" USING btree ("next_fire_at") WHERE next_fire_at IS NOT NULL;--> statement-breakpoint
CREATE INDEX "triggers_event" ON "background_tasks"."triggers" USING btree ("event_name") WHERE kind = 'event';