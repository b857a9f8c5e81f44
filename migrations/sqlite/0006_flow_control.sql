CREATE TABLE `rate_starts` (
	`limiter` text NOT NULL,
	`started_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `rate_starts_limiter` ON `rate_starts` (`limiter`,`started_at`);--> statement-breakpoint
CREATE TABLE `task_groups` (
	`name` text PRIMARY KEY NOT NULL,
	`max_running` integer,
	`rate_max` integer,
	`rate_per_ms` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `tasks` ADD `groups` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `rate_max` integer;--> statement-breakpoint
ALTER TABLE `tasks` ADD `rate_per_ms` integer;