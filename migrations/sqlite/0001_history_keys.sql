CREATE TABLE `spent_keys` (
	`key` text PRIMARY KEY NOT NULL,
	`task_id` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `executions` ADD `task_key` text;--> statement-breakpoint
ALTER TABLE `executions` ADD `final` integer DEFAULT false NOT NULL;--> statement-breakpoint
-- Attempts recorded before this column existed: one ended its run unless its run is
-- still pending (a retry or an interruption follows) or a later attempt of it exists.
UPDATE `executions` SET `final` = 1
WHERE `status` IN ('succeeded', 'failed', 'cancelled')
  AND NOT EXISTS (SELECT 1 FROM `runs` r WHERE r.`id` = `executions`.`run_id`)
  AND NOT EXISTS (SELECT 1 FROM `executions` later WHERE later.`run_id` = `executions`.`run_id` AND later.`id` > `executions`.`id`);--> statement-breakpoint
-- A keyed task that goes, however it goes (it ran to its end, it was removed, an
-- operator deleted it), leaves its key spent for addTaskOnce.
CREATE TRIGGER `tasks_spent_key` AFTER DELETE ON `tasks` WHEN old.`key` IS NOT NULL
BEGIN
  INSERT OR REPLACE INTO `spent_keys` (`key`, `task_id`) VALUES (old.`key`, old.`id`);
END;
