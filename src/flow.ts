import { ValidationError } from './errors.js';
import { describe, integerIn, nonEmptyString } from './validate.js';

// Flow control (SPEC rules 16 and 17): concurrency groups and rate limits. Pure:
// the stores read the counts inside their claim transaction and ask `Admission`
// run by run; explain, doctor and telemetry ask `limitHolds` the same questions.

/** At most `max` runs start in any window of `per` ms. */
export interface RateLimit {
  max: number;
  per: number;
}

export interface GroupOptions {
  /** At most this many runs of the group's tasks run at once, across every process and node. */
  maxRunning?: number;
  rateLimit?: RateLimit;
}

/** A group as stored. */
export interface Group {
  name: string;
  maxRunning: number | null;
  rateLimit: RateLimit | null;
  createdAt: number;
  updatedAt: number;
}

/** A group with the runs of its tasks running now. */
export interface GroupInfo extends Group {
  running: number;
}

/** Why a ready run may not start yet, by its groups or rate limits. */
export type LimitHold =
  | { kind: 'group-full'; group: string; running: number; maxRunning: number }
  | { kind: 'group-undefined'; group: string }
  /** `group` null: the task's own limit. `until`: when the next start is allowed, if known. */
  | { kind: 'rate-limit'; group: string | null; max: number; per: number; until: number | null };

export const MAX_GROUP_NAME_LENGTH = 200;
export const MAX_GROUPS_PER_TASK = 16;
export const MAX_RATE = 1_000_000;
/** The longest rate window: a year. */
export const MAX_RATE_WINDOW_MS = 366 * 24 * 3_600_000;

export function groupName(value: unknown, field: string): string {
  return nonEmptyString(value, field, MAX_GROUP_NAME_LENGTH);
}

export function validateRateLimit(value: unknown, field: string): RateLimit | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(field, `must be an object { max, per }, got ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (key !== 'max' && key !== 'per') throw new ValidationError(`${field}.${key}`, 'is not a field (max, per)');
  }
  const { max, per } = value as Partial<RateLimit>;
  return {
    max: integerIn(max, `${field}.max`, 1, MAX_RATE),
    per: integerIn(per, `${field}.per`, 1, MAX_RATE_WINDOW_MS),
  };
}

export function validateGroupOptions(value: unknown): { maxRunning: number | null; rateLimit: RateLimit | null } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError('options', `must be an object { maxRunning?, rateLimit? }, got ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (key !== 'maxRunning' && key !== 'rateLimit') {
      throw new ValidationError(key, 'is not a field of a group (maxRunning, rateLimit)');
    }
  }
  const options = value as GroupOptions;
  const maxRunning = options.maxRunning === undefined ? null : integerIn(options.maxRunning, 'maxRunning', 1, MAX_RATE);
  const rateLimit = validateRateLimit(options.rateLimit, 'rateLimit');
  if (maxRunning === null && rateLimit === null) {
    throw new ValidationError('options', 'a group needs maxRunning, rateLimit or both');
  }
  return { maxRunning, rateLimit };
}

/** A task's groups, sorted, so that tasks in the same groups hold the same text; null: none. */
export function validateTaskGroups(value: unknown): string[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value))
    throw new ValidationError('groups', `must be an array of group names, got ${describe(value)}`);
  if (value.length > MAX_GROUPS_PER_TASK) {
    throw new ValidationError('groups', `must name at most ${MAX_GROUPS_PER_TASK} groups, got ${value.length}`);
  }
  const names = value.map((name, i) => groupName(name, `groups[${i}]`));
  names.forEach((name, i) => {
    if (names.indexOf(name) !== i) throw new ValidationError(`groups[${i}]`, `repeats "${name}"`);
  });
  return names.length === 0 ? null : names.sort();
}

/** A stored groups column read back. Text edited by hand into something else holds its runs under this name. */
export const UNREADABLE_GROUPS = '(unreadable groups)';

export function parseStoredGroups(text: string | null): string[] | null {
  if (text === null) return null;
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value) && value.length > 0 && value.every((name) => typeof name === 'string')) return value;
  } catch {
    // Falls through: held, with a name that says why.
  }
  return [UNREADABLE_GROUPS];
}

/** The name a rate limit's recorded starts go under (`rate_starts.limiter`). */
export const taskLimiter = (taskId: number): string => `task:${taskId}`;
export const groupLimiter = (name: string): string => `group:${name}`;

/** What limits a ready run: its task's groups (as stored, sorted) and its own rate limit. */
export interface LimitedRun {
  taskId: number;
  groups: readonly string[] | null;
  rateLimit: RateLimit | null;
}

/** Recorded starts of one limiter in the current window. */
export interface WindowStarts {
  count: number;
  /** The oldest of them; null when there are none. */
  oldest: number | null;
}

/** The state a claim decides from, read inside its transaction. */
export interface LimitsView {
  group(name: string): Pick<Group, 'maxRunning' | 'rateLimit'> | undefined;
  /** Runs of the group's tasks running now. */
  running(group: string): number;
  /** Starts recorded under `limiter` after `since`. */
  startsAfter(limiter: string, since: number): WindowStarts;
}

/** A run admitted: the starts to record with its claim, each under its limiter, and the limiter's window. */
export interface Admitted {
  kind: 'admitted';
  starts: { limiter: string; per: number }[];
}

/** Each rate limit a run is under, with the limiter its starts are recorded under. */
function rateLimitsOf(
  run: LimitedRun,
  groupOf: (name: string) => Pick<Group, 'rateLimit'> | undefined,
): { limiter: string; group: string | null; limit: RateLimit }[] {
  const limits: { limiter: string; group: string | null; limit: RateLimit }[] =
    run.rateLimit === null ? [] : [{ limiter: taskLimiter(run.taskId), group: null, limit: run.rateLimit }];
  for (const name of run.groups ?? []) {
    const limit = groupOf(name)?.rateLimit;
    if (limit) limits.push({ limiter: groupLimiter(name), group: name, limit });
  }
  return limits;
}

/**
 * One claim's admissions. Walked in claim order, each run either is admitted,
 * taking a place in each of its groups and a start of each rate limit it is
 * under, or gets the first hold that keeps it back; a held run is passed over,
 * so the runs behind it are not held up (no head-of-line blocking).
 */
export class Admission {
  readonly #view: LimitsView;
  readonly #now: number;
  readonly #running = new Map<string, number>();
  readonly #started = new Map<string, WindowStarts>();
  /** The earliest time a start held back by a rate limit may be allowed (a lower bound): when to look again. */
  retryAt: number | null = null;

  constructor(view: LimitsView, now: number) {
    this.#view = view;
    this.#now = now;
  }

  /** Admitted, and counted; or why not (nothing counted). */
  admit(run: LimitedRun): Admitted | LimitHold {
    const view = this.#view;
    for (const name of run.groups ?? []) {
      const group = view.group(name);
      if (group === undefined) return { kind: 'group-undefined', group: name };
      if (group.maxRunning === null) continue;
      let running = this.#running.get(name);
      if (running === undefined) this.#running.set(name, (running = view.running(name)));
      if (running >= group.maxRunning)
        return { kind: 'group-full', group: name, running, maxRunning: group.maxRunning };
    }
    const limits = rateLimitsOf(run, (name) => view.group(name));
    for (const { limiter, group, limit } of limits) {
      let started = this.#started.get(limiter);
      if (started === undefined)
        this.#started.set(limiter, (started = view.startsAfter(limiter, this.#now - limit.per)));
      if (started.count < limit.max) continue;
      // Its oldest start leaving the window is the soonest one more can fit.
      const until = started.oldest === null ? null : started.oldest + limit.per;
      if (until !== null) this.retryAt = Math.min(this.retryAt ?? until, until);
      return { kind: 'rate-limit', group, max: limit.max, per: limit.per, until };
    }
    for (const name of run.groups ?? []) {
      const running = this.#running.get(name);
      if (running !== undefined) this.#running.set(name, running + 1);
    }
    for (const { limiter } of limits) {
      const started = this.#started.get(limiter)!;
      this.#started.set(limiter, { count: started.count + 1, oldest: started.oldest ?? this.#now });
    }
    return { kind: 'admitted', starts: limits.map(({ limiter, limit }) => ({ limiter, per: limit.per })) };
  }
}

/** A task's limits and the state around it, as explain and the operator reports read it. */
export interface LimitState {
  groups: ReadonlyMap<string, GroupInfo>;
  /** Recorded starts in the current window, ascending, by limiter. */
  starts: ReadonlyMap<string, readonly number[]>;
}

/** Everything that holds a ready run of this task at `now` (empty: nothing does). */
export function limitHolds(run: LimitedRun, state: LimitState, now: number): LimitHold[] {
  const holds: LimitHold[] = [];
  for (const name of run.groups ?? []) {
    const group = state.groups.get(name);
    if (group === undefined) holds.push({ kind: 'group-undefined', group: name });
    else if (group.maxRunning !== null && group.running >= group.maxRunning)
      holds.push({ kind: 'group-full', group: name, running: group.running, maxRunning: group.maxRunning });
  }
  for (const { limiter, group, limit } of rateLimitsOf(run, (name) => state.groups.get(name))) {
    const inWindow = (state.starts.get(limiter) ?? []).filter((at) => at > now - limit.per);
    if (inWindow.length < limit.max) continue;
    // The start that must leave the window before one more fits in it.
    const until = inWindow[inWindow.length - limit.max]! + limit.per;
    holds.push({ kind: 'rate-limit', group, max: limit.max, per: limit.per, until });
  }
  return holds;
}

/** The limiters whose recent starts `limitHolds` needs for this task, with their windows. */
export function limitersOf(
  run: LimitedRun,
  groups: ReadonlyMap<string, GroupInfo>,
): { limiter: string; per: number }[] {
  return rateLimitsOf(run, (name) => groups.get(name)).map(({ limiter, limit }) => ({ limiter, per: limit.per }));
}

export function describeHold(hold: LimitHold): string {
  switch (hold.kind) {
    case 'group-undefined':
      return `group "${hold.group}" is not defined (defineGroup): its runs wait`;
    case 'group-full':
      return `group "${hold.group}" is full: ${hold.running} of ${hold.maxRunning} running (a place frees when one ends)`;
    case 'rate-limit': {
      const whose = hold.group === null ? 'its rate limit' : `the rate limit of group "${hold.group}"`;
      const until = hold.until === null ? '' : `; the next start is allowed at ${new Date(hold.until).toISOString()}`;
      return `${whose}: ${hold.max} start(s) per ${hold.per} ms reached${until}`;
    }
  }
}
