/** The largest number of times in any half-open window [t, t + windowMs) that starts at one of the times. */
export function maxInAnyWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i += 1) {
    while (j < sorted.length && sorted[j]! < sorted[i]! + windowMs) j += 1;
    best = Math.max(best, j - i);
  }
  return best;
}
