-- Room on each page for a row's next version: a claim's or a completion's update
-- of a task or an execution then stays on its page (a HOT update) and, where no
-- indexed column changes, writes no index entries.
ALTER TABLE "background_tasks"."tasks" SET (fillfactor = 70);--> statement-breakpoint
ALTER TABLE "background_tasks"."executions" SET (fillfactor = 70);--> statement-breakpoint
ALTER TABLE "background_tasks"."runs" SET (fillfactor = 70);
