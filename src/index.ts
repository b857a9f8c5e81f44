export { Scheduler, type SchedulerOptions, type StopOptions } from './scheduler.js';
export type { Task, TaskDefinition, TriggerInfo } from './task.js';
export type { Explanation } from './explain.js';
export type { RunInfo } from './store/store.js';
export type {
  Execution,
  ExecutionFilter,
  ExecutionStatus,
  FiredEvent,
  RunReason,
  WaitForRunOptions,
} from './execution.js';
export type { AttemptError, ExecutionEvent, SchedulerEventMap } from './events.js';
export type { Handler, TaskContext } from './runtime/executor.js';
export type { RetryPolicy } from './retry-policy.js';
export type { HistoryPolicy } from './maintenance/retention.js';
export type { JsonArgsCheck, JsonSafe, JsonValue } from './json.js';
export type {
  CliErrorJson,
  CliJson,
  DoctorJson,
  FailuresJson,
  FireJson,
  GroupsJson,
  MigrateJson,
  PruneJson,
  RetryJson,
  ShowJson,
  StatsRow,
  SteerJson,
  TaskRow,
} from './cli/json.js';
export { defineHandler, type DefinedHandler, type HandlerTaskDefinition } from './define-handler.js';
export type { Clock, TimerHandle } from './clock.js';
export type { Durability } from './values.js';
export { Trigger } from './triggers/trigger.js';
export { PeriodicTrigger, type PeriodicTriggerOptions } from './triggers/periodic.js';
export { EventTrigger, type EventTriggerOptions, type FireEventOptions } from './triggers/event.js';
export { OneTimeTrigger, type OneTimeTriggerOptions } from './triggers/one-time.js';
export type { Misfire, TriggerSpec } from './triggers/spec.js';
export { MISFIRE_GRACE_MS, DEFAULT_MAX_CATCH_UP } from './triggers/spec.js';
export { MAX_INTERRUPTIONS_IN_A_ROW } from './runtime/outcome.js';
export { MAX_JSON_BYTES } from './json.js';
export type { Conditions, DeviceReadings, DeviceState, UnmetCondition } from './conditions.js';
export type { DeviceSource } from './runtime/device.js';
export type { Group, GroupInfo, GroupOptions, LimitHold, RateLimit } from './flow.js';
export type { HeldByLimit } from './runtime/limit-state.js';
export type { FailureGroup } from './failures.js';
export {
  BackgroundTasksError,
  ConditionLostError,
  DatabaseError,
  ExecutionNotFoundError,
  PermanentError,
  RetryAfterError,
  SchedulerClosedError,
  SchedulerStoppingError,
  RunNotFoundError,
  TaskCancelledError,
  TaskNotFoundError,
  TaskTimeoutError,
  ValidationError,
  WaitTimeoutError,
  type DatabaseErrorCode,
} from './errors.js';
