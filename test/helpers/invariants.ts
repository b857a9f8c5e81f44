import { expect } from 'vitest';

export interface AttemptRow {
  run_id: number;
  attempt: number;
  status: string;
}

/**
 * Every run's attempts start at 1, and each later one follows a failure (with the
 * next number) or an interruption (with the same number).
 */
export function expectAttemptChains(rows: AttemptRow[], maxAttempt = Number.POSITIVE_INFINITY): void {
  const byRun = new Map<number, AttemptRow[]>();
  for (const row of rows) byRun.set(row.run_id, [...(byRun.get(row.run_id) ?? []), row]);
  for (const attempts of byRun.values()) {
    expect(attempts[0]!.attempt).toBe(1);
    for (let i = 1; i < attempts.length; i++) {
      const [prev, cur] = [attempts[i - 1]!, attempts[i]!];
      const follows =
        (prev.status === 'failed' && cur.attempt === prev.attempt + 1) ||
        (prev.status === 'interrupted' && cur.attempt === prev.attempt);
      expect(follows, `run ${cur.run_id}: ${prev.status} #${prev.attempt} then #${cur.attempt}`).toBe(true);
    }
    expect(Math.max(...attempts.map((a) => a.attempt))).toBeLessThanOrEqual(maxAttempt);
  }
}
