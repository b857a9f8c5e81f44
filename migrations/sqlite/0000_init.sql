CREATE TABLE `executions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`task_id` integer NOT NULL,
	`task_name` text NOT NULL,
	`run_id` integer NOT NULL,
	`attempt` integer NOT NULL,
	`status` text NOT NULL,
	`reason` text NOT NULL,
	`event_name` text,
	`event_payload` text,
	`scheduled_at` integer NOT NULL,
	`started_at` integer NOT NULL,
	`ended_at` integer,
	`duration_ms` integer,
	`error` text,
	`result` text,
	`cpu_user_us` integer,
	`cpu_system_us` integer,
	`rss_bytes` integer,
	`owner` text
);
--> statement-breakpoint
CREATE INDEX `executions_task` ON `executions` (`task_id`,`id`);--> statement-breakpoint
CREATE INDEX `executions_trouble` ON `executions` (`status`,`id`) WHERE status IN ('failed', 'interrupted', 'cancelled');--> statement-breakpoint
CREATE INDEX `executions_started` ON `executions` (`started_at`);--> statement-breakpoint
CREATE TABLE `runs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`task_id` integer NOT NULL,
	`trigger_id` integer,
	`reason` text NOT NULL,
	`event_name` text,
	`event_payload` text,
	`state` text NOT NULL,
	`priority` integer NOT NULL,
	`due_at` integer NOT NULL,
	`attempt` integer DEFAULT 1 NOT NULL,
	`interruptions` integer DEFAULT 0 NOT NULL,
	`execution_id` integer,
	`owner` text,
	`owner_host` text,
	`owner_pid` integer,
	`lease_expires_at` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`task_id`) REFERENCES `tasks`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `runs_waiting_due` ON `runs` (`due_at`) WHERE state = 'waiting';--> statement-breakpoint
CREATE INDEX `runs_claim_order` ON `runs` ("priority" DESC,`due_at`,`task_id`,`id`) WHERE state = 'waiting';--> statement-breakpoint
CREATE INDEX `runs_running` ON `runs` (`task_id`) WHERE state = 'running';--> statement-breakpoint
CREATE INDEX `runs_task` ON `runs` (`task_id`);--> statement-breakpoint
CREATE INDEX `runs_trigger` ON `runs` (`trigger_id`);--> statement-breakpoint
CREATE TABLE `schedulers` (
	`id` text PRIMARY KEY NOT NULL,
	`host` text NOT NULL,
	`pid` integer NOT NULL,
	`handlers` text NOT NULL,
	`started_at` integer NOT NULL,
	`last_seen_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `tasks` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`key` text,
	`name` text NOT NULL,
	`handler` text NOT NULL,
	`module` text,
	`memory_limit_mb` integer,
	`description` text,
	`args` text NOT NULL,
	`priority` integer DEFAULT 0 NOT NULL,
	`timeout_ms` integer,
	`max_retries` integer,
	`retry_delay_ms` integer,
	`retry_backoff` text,
	`retry_max_delay_ms` integer,
	`paused` integer DEFAULT false NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tasks_key` ON `tasks` (`key`);--> statement-breakpoint
CREATE TABLE `triggers` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`task_id` integer NOT NULL,
	`kind` text NOT NULL,
	`interval_ms` integer,
	`cron` text,
	`timezone` text,
	`jitter_ms` integer DEFAULT 0 NOT NULL,
	`misfire` text,
	`max_catch_up` integer,
	`event_name` text,
	`delay_ms` integer,
	`at` integer,
	`anchor_at` integer NOT NULL,
	`next_slot_at` integer,
	`next_fire_at` integer,
	`last_fired_at` integer,
	`fire_count` integer DEFAULT 0 NOT NULL,
	`missed_count` integer DEFAULT 0 NOT NULL,
	`coalesced_count` integer DEFAULT 0 NOT NULL,
	FOREIGN KEY (`task_id`) REFERENCES `tasks`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `triggers_task` ON `triggers` (`task_id`);--> statement-breakpoint
CREATE INDEX `triggers_next_fire` ON `triggers` (`next_fire_at`) WHERE next_fire_at IS NOT NULL;--> statement-breakpoint
CREATE INDEX `triggers_event` ON `triggers` (`event_name`) WHERE kind = 'event';