// Limits checked from recorded attempts alone: their start and end times.

export interface Attempt {
  startedAt: number;
  endedAt: number | null;
}

/** The most attempts running at one moment, from their recorded [start, end); one without an end still runs. */
export function mostAtOnce(rows: Attempt[]): number {
  const edges = rows.flatMap((r) => [
    { at: r.startedAt, step: 1 },
    { at: r.endedAt ?? Infinity, step: -1 },
  ]);
  // An end and a start at the same millisecond do not overlap: ends first.
  edges.sort((a, b) => a.at - b.at || a.step - b.step);
  let running = 0;
  let most = 0;
  for (const { step } of edges) most = Math.max(most, (running += step));
  return most;
}

/** The most starts in any window of `per` ms. */
export function mostInWindow(rows: Attempt[], per: number): number {
  const starts = rows.map((r) => r.startedAt).sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < starts.length; i++) {
    while (starts[j]! <= starts[i]! - per) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}
