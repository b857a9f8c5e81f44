CREATE TABLE "background_tasks"."event_keys" (
	"event_name" text NOT NULL,
	"key" text NOT NULL,
	"fired_at" bigint NOT NULL,
	CONSTRAINT "event_keys_event_name_key_pk" PRIMARY KEY("event_name","key")
);
--> statement-breakpoint
CREATE INDEX "event_keys_fired" ON "background_tasks"."event_keys" USING btree ("fired_at");