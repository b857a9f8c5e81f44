CREATE TABLE `event_keys` (
	`event_name` text NOT NULL,
	`key` text NOT NULL,
	`fired_at` integer NOT NULL,
	PRIMARY KEY(`event_name`, `key`)
);
--> statement-breakpoint
CREATE INDEX `event_keys_fired` ON `event_keys` (`fired_at`);