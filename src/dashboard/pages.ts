import { html, raw } from 'hono/html';
import { describeTrigger, formatDuration, formatTime } from '../cli/format.js';
import type { Execution } from '../execution.js';
import type { Explanation } from '../explain.js';
import type { FailureGroup } from '../failures.js';
import type { ActivityBucket, SchedulerInfo, TaskCounts } from '../store/store.js';
import type { Task } from '../task.js';
import { EXECUTION_STATUSES } from '../values.js';

// The dashboard's pages, rendered on the server. Every value goes through hono's
// `html` tag, which escapes it: a task named `<img src=x onerror=alert(1)>` is text.
// Charts are data in a JSON script element that app.js hands to uPlot.

type Html = ReturnType<typeof html>;

/** What every page knows: where the dashboard is mounted, and whether actions are on. */
export interface PageContext {
  base: string;
  csrf: string | null;
}

export function layout(ctx: PageContext, title: string, body: Html): Html {
  const link = (path: string, label: string) => html`<a href="${ctx.base}${path}">${label}</a>`;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <link rel="icon" href="data:," />
        <title>${title} · background-tasks</title>
        <link rel="stylesheet" href="${ctx.base}/assets/uPlot.min.css" />
        <link rel="stylesheet" href="${ctx.base}/assets/app.css" />
        <script src="${ctx.base}/assets/uPlot.iife.min.js" defer></script>
        <script src="${ctx.base}/assets/app.js" defer></script>
      </head>
      <body>
        <header>
          <strong>background-tasks</strong>
          <nav>
            ${link('/', 'Overview')} ${link('/tasks', 'Tasks')} ${link('/executions', 'Executions')}
            ${link('/failures', 'Failures')}
          </nav>
          <span class="live" id="live">live</span>
        </header>
        <main id="main">${body}</main>
      </body>
    </html>`;
}

/** A chart for app.js: x values (epoch ms) and named series. */
export function chart(id: string, title: string, x: number[], series: { label: string; values: number[] }[]): Html {
  // `<` escaped so that no value can close the script element.
  const json = JSON.stringify({ title, x: x.map((t) => t / 1000), series }).replaceAll('<', '\\u003c');
  return html`<figure class="chart" data-chart="${id}"><figcaption>${title}</figcaption></figure>
    <script type="application/json" id="${id}">
      ${raw(json)}
    </script>`;
}

const time = (t: number | null) => formatTime(t) ?? '–';
const status = (s: string | null) => html`<span class="status ${s ?? 'none'}">${s ?? '–'}</span>`;

export interface OverviewData {
  now: number;
  perMinute: ActivityBucket[];
  failedToday: number;
  running: Execution[];
  backlog: number;
  schedulers: (SchedulerInfo & { alive: boolean })[];
  failures: FailureGroup[];
}

export function overviewPage(ctx: PageContext, d: OverviewData): Html {
  return layout(
    ctx,
    'Overview',
    html`<h1>Overview</h1>
      <section class="figures">
        <div><b>${d.running.length}</b> running now</div>
        <div><b>${d.backlog}</b> ready and waiting</div>
        <div><b>${d.schedulers.filter((s) => s.alive).length}</b> schedulers alive</div>
        <div><b>${d.failedToday}</b> failed attempts in 24 h</div>
      </section>
      ${chart(
        'per-minute',
        'Attempts per minute, last hour',
        d.perMinute.map((b) => b.at),
        [
          { label: 'started', values: d.perMinute.map((b) => b.started) },
          { label: 'failed', values: d.perMinute.map((b) => b.failed) },
        ],
      )}
      ${fireForm(ctx)}
      <h2>Running now</h2>
      ${executionTable(ctx, d.running)}
      <h2>Schedulers</h2>
      <table>
        <thead>
          <tr>
            <th>host</th>
            <th>pid</th>
            <th>handlers</th>
            <th>started</th>
            <th>last heartbeat</th>
            <th>alive</th>
          </tr>
        </thead>
        <tbody>
          ${d.schedulers.map(
            (s) =>
              html`<tr>
                <td>${s.host}</td>
                <td>${s.pid}</td>
                <td>${s.handlers.join(', ')}</td>
                <td>${time(s.startedAt)}</td>
                <td>${time(s.lastSeenAt)}</td>
                <td>${s.alive ? 'yes' : 'presumed dead'}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      <h2>Failing most, last 24 h</h2>
      ${failureTable(ctx, d.failures.slice(0, 5))}`,
  );
}

export interface TaskRowData {
  task: Task;
  counts: TaskCounts | undefined;
}

export function tasksPage(ctx: PageContext, rows: TaskRowData[], query: string, next: string | null): Html {
  return layout(
    ctx,
    'Tasks',
    html`<h1>Tasks</h1>
      <form method="get" action="${ctx.base}/tasks" class="filters">
        <input type="search" name="q" value="${query}" placeholder="name or key" /> <button>Search</button>
      </form>
      <table>
        <thead>
          <tr>
            <th>id</th>
            <th>key</th>
            <th>name</th>
            <th>triggers</th>
            <th>next fire</th>
            <th>last status</th>
            <th>runs</th>
            <th>paused</th>
          </tr>
        </thead>
        <tbody>
          ${rows.map(({ task, counts }) => {
            const next = task.triggers.map((t) => t.nextFireAt).filter((t): t is number => t !== null);
            return html`<tr>
              <td>${task.id}</td>
              <td>${task.key ?? ''}</td>
              <td><a href="${ctx.base}/tasks/${task.id}">${task.name}</a></td>
              <td>${task.triggers.map(describeTrigger).join('; ') || 'none'}</td>
              <td>${time(next.length === 0 ? null : Math.min(...next))}</td>
              <td>${status(counts?.lastStatus ?? null)}</td>
              <td>${counts?.total ?? 0}</td>
              <td>${task.paused ? 'paused' : ''}</td>
            </tr>`;
          })}
        </tbody>
      </table>
      ${rows.length === 0 ? html`<p>No task matches.</p>` : ''}
      ${next === null ? '' : html`<p><a class="next" href="${next}">more</a></p>`}`,
  );
}

export function taskPage(ctx: PageContext, task: Task, explanation: Explanation, history: Execution[]): Html {
  const ended = history.filter((e) => e.durationMs !== null).reverse();
  const actions =
    ctx.csrf === null
      ? ''
      : html`<section class="actions">
          ${(['run-now', 'pause', 'resume', 'remove'] as const).map(
            (action) =>
              html`<form method="post" action="${ctx.base}/actions/tasks/${task.id}/${action}">
                <input type="hidden" name="csrf" value="${ctx.csrf}" /><button name="action" value="${action}">
                  ${action}
                </button>
              </form>`,
          )}
        </section>`;
  return layout(
    ctx,
    task.name,
    html`<h1>${task.name} <small>task ${task.id}${task.key === null ? '' : html` · ${task.key}`}</small></h1>
      ${actions}
      <dl class="definition">
        <dt>state</dt>
        <dd>${status(explanation.state)}</dd>
        <dt>runs</dt>
        <dd>
          ${task.module === null ? html`handler ${task.handler}` : html`module ${task.module}`}, priority
          ${task.priority}${task.paused ? ', paused' : ''}
        </dd>
        <dt>args</dt>
        <dd><code>${JSON.stringify(task.args)}</code></dd>
        <dt>triggers</dt>
        <dd>${task.triggers.map(describeTrigger).join('; ') || 'none'}</dd>
        <dt>retries</dt>
        <dd>
          ${task.retryPolicy === null ? 'none' : `${task.retryPolicy.maxRetries} × ${formatDuration(task.retryPolicy.delay)} ${task.retryPolicy.backoff}`};
          timeout ${formatDuration(task.timeout) ?? 'none'}
        </dd>
        ${
          task.conditions === null
            ? ''
            : html`<dt>conditions</dt>
                <dd><code>${JSON.stringify(task.conditions)}</code> (when lost: ${task.conditionLost})</dd>`
        }
        ${
          task.groups.length === 0
            ? ''
            : html`<dt>groups</dt>
                <dd>${task.groups.join(', ')}</dd>`
        }
        ${
          task.rateLimit === null
            ? ''
            : html`<dt>rate limit</dt>
                <dd>${task.rateLimit.max} start(s) per ${formatDuration(task.rateLimit.per)}</dd>`
        }
        <dt>next fires</dt>
        <dd>${explanation.nextFireTimes.map(time).join(', ') || 'none'}</dd>
      </dl>
      <h2>Why it is or is not about to run</h2>
      <ul class="reasons">
        ${explanation.reasons.map((reason) => html`<li>${reason}</li>`)}
      </ul>
      ${chart(
        'durations',
        'Duration of recent attempts (ms)',
        ended.map((e) => e.startedAt),
        [{ label: 'duration', values: ended.map((e) => e.durationMs!) }],
      )}
      <h2>Recent executions</h2>
      ${executionTable(ctx, history)}`,
  );
}

export interface ExecutionsFilter {
  task: string;
  status: string;
  since: string;
}

export function executionsPage(
  ctx: PageContext,
  rows: Execution[],
  filter: ExecutionsFilter,
  next: string | null,
): Html {
  return layout(
    ctx,
    'Executions',
    html`<h1>Executions</h1>
      <form method="get" action="${ctx.base}/executions" class="filters">
        <input name="task" value="${filter.task}" placeholder="task id or key" />
        <select name="status">
          <option value="">any status</option>
          ${EXECUTION_STATUSES.map(
            (s) => html`<option value="${s}" ${s === filter.status ? raw(' selected') : ''}>${s}</option>`,
          )}
        </select>
        <input name="since" value="${filter.since}" placeholder="since: 24h, 7d" />
        <button>Filter</button>
      </form>
      ${executionTable(ctx, rows)} ${next === null ? '' : html`<p><a class="next" href="${next}">older</a></p>`}`,
  );
}

export function failuresPage(ctx: PageContext, groups: FailureGroup[], since: string): Html {
  return layout(
    ctx,
    'Failures',
    html`<h1>Failures since ${since}</h1>
      <form method="get" action="${ctx.base}/failures" class="filters">
        <input name="since" value="${since}" /> <button>Show</button>
      </form>
      ${failureTable(ctx, groups)}`,
  );
}

function failureTable(ctx: PageContext, groups: FailureGroup[]): Html {
  if (groups.length === 0) return html`<p>No failures.</p>`;
  return html`<table class="failures">
    <thead>
      <tr>
        <th>attempts</th>
        <th>final</th>
        <th>error</th>
        <th>tasks</th>
        <th>first</th>
        <th>last</th>
        <th>latest</th>
      </tr>
    </thead>
    <tbody>
      ${groups.map(
        (g) =>
          html`<tr>
            <td>${g.attempts}</td>
            <td>${g.final}</td>
            <td><code>${g.error}</code></td>
            <td>${g.tasks.map((t) => `${t.name} (${t.attempts})`).join(', ')}</td>
            <td>${time(g.firstAt)}</td>
            <td>${time(g.lastAt)}</td>
            <td>
              <a href="${ctx.base}/executions/${g.latest.executionId}">${g.latest.executionId}</a
              >${retryForm(ctx, g.latest.executionId)}
            </td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function fireForm(ctx: PageContext): Html | string {
  if (ctx.csrf === null) return '';
  return html`<form method="post" action="${ctx.base}/actions/events" class="filters fire">
    <input type="hidden" name="csrf" value="${ctx.csrf}" />
    <input name="event" placeholder="event name" required />
    <input name="payload" placeholder='payload (JSON), e.g. {"mount":"/var"}' />
    <input name="key" placeholder="key (optional)" />
    <button>Fire event</button>
  </form>`;
}

function retryForm(ctx: PageContext, executionId: number): Html | string {
  if (ctx.csrf === null) return '';
  return html`<form method="post" action="${ctx.base}/actions/executions/${executionId}/retry" class="inline">
    <input type="hidden" name="csrf" value="${ctx.csrf}" /><button>retry</button>
  </form>`;
}

function executionTable(ctx: PageContext, rows: Execution[]): Html {
  if (rows.length === 0) return html`<p>None.</p>`;
  return html`<table class="executions">
    <thead>
      <tr>
        <th>id</th>
        <th>task</th>
        <th>attempt</th>
        <th>status</th>
        <th>reason</th>
        <th>started</th>
        <th>duration</th>
        <th>cpu</th>
        <th>rss</th>
        <th>error / result</th>
      </tr>
    </thead>
    <tbody>
      ${rows.map(
        (e) =>
          html`<tr>
            <td><a href="${ctx.base}/executions/${e.id}">${e.id}</a></td>
            <td><a href="${ctx.base}/tasks/${e.taskId}">${e.taskName}</a></td>
            <td>${e.attempt}</td>
            <td>${status(e.status)}</td>
            <td>${e.reason}${e.event === null ? '' : html` ${e.event.name}`}</td>
            <td>${time(e.startedAt)}</td>
            <td>${e.durationMs === null ? '' : `${e.durationMs} ms`}</td>
            <td>${e.cpuUserUs === null ? '' : `${Math.round((e.cpuUserUs + (e.cpuSystemUs ?? 0)) / 1000)} ms`}</td>
            <td>${e.rssBytes === null ? '' : `${Math.round(e.rssBytes / 2 ** 20)} MB`}</td>
            <td>
              ${e.error === null ? (e.result === null ? '' : html`<code>${JSON.stringify(e.result).slice(0, 200)}</code>`) : html`<code>${e.error.slice(0, 300)}</code>`}
            </td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

export function executionPage(ctx: PageContext, e: Execution): Html {
  return layout(
    ctx,
    `Execution ${e.id}`,
    html`<h1>Execution ${e.id} <small>${status(e.status)}</small></h1>
      ${e.status === 'failed' ? retryForm(ctx, e.id) : ''}
      <dl class="definition">
        <dt>task</dt>
        <dd><a href="${ctx.base}/tasks/${e.taskId}">${e.taskName}</a></dd>
        <dt>run</dt>
        <dd>${e.runId}, attempt ${e.attempt}${e.final ? ' (final)' : ''}</dd>
        <dt>reason</dt>
        <dd>
          ${e.reason}${e.event === null ? '' : html` ${e.event.name} <code>${JSON.stringify(e.event.payload)}</code>`}
        </dd>
        <dt>scheduled</dt>
        <dd>${time(e.scheduledAt)}</dd>
        <dt>started</dt>
        <dd>${time(e.startedAt)}</dd>
        <dt>ended</dt>
        <dd>${time(e.endedAt)}${e.durationMs === null ? '' : ` (${e.durationMs} ms)`}</dd>
        <dt>error</dt>
        <dd><pre>${e.error ?? ''}</pre></dd>
        <dt>result</dt>
        <dd><pre>${e.result === null ? '' : JSON.stringify(e.result, null, 2)}</pre></dd>
      </dl>`,
  );
}

export function messagePage(ctx: PageContext, title: string, message: string): Html {
  return layout(
    ctx,
    title,
    html`<h1>${title}</h1>
      <p>${message}</p>`,
  );
}
