import type { Task } from '../task.js';
import type { Store } from '../store/store.js';
import type { CliJson } from './json.js';

// What the CLI's commands share: its errors (each maps to an exit code) and the
// helpers main.ts gives every command.

export class UsageError extends Error {}
export class NoFileError extends Error {}
export class NoTaskError extends Error {}

export interface CliContext {
  /** Opens the database of --db (an existing one: inspecting must not create one by accident). */
  open: (create?: boolean) => Promise<Store>;
  /** Prints `json` under --json, else the text. */
  print: (json: CliJson, text: () => string) => void;
  resolveTask: (store: Store, ref: string) => Promise<Task>;
  /** Now, on the clock the database agrees on. */
  clockNow: () => number;
  positiveInt: (name: string) => (text: string) => number;
  /** `--since`: a duration back from `now` (24h, 7d) or a date, as epoch ms. */
  since: (text: string | undefined, now: number) => number | undefined;
}
