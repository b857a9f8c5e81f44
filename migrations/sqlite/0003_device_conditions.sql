ALTER TABLE `schedulers` ADD `device` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `conditions` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `condition_lost` text DEFAULT 'wait' NOT NULL;