DROP INDEX `runs_trigger`;--> statement-breakpoint
CREATE INDEX `runs_trigger` ON `runs` (`trigger_id`) WHERE reason <> 'once';--> statement-breakpoint
DROP INDEX `tasks_key`;--> statement-breakpoint
CREATE UNIQUE INDEX `tasks_key` ON `tasks` (`key`) WHERE key IS NOT NULL;