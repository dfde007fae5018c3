/**
 * A burst of connections with a slow consumer, at CI's size (issue 13; what it does and checks: ./burst.ts; the
 * full run by hand, 1,000 users within a minute: `npm run burst`, results in docs/CHAOS.md): 40 users authorise
 * within 10 s while reconciliation is frozen two seconds of every three. Everything must arrive (every user's store
 * equal to a reference user's, every change feed complete), the budget must hold, no service may exit or pass
 * 200 MB resident with its image's heap limits, data-fetcher may run no more connections at once than its
 * scheduler's concurrency, and the slow consumer's lag must drain.
 *
 * First, that the in-flight count can fail: overlapping calls of five connections count five.
 */
import { burstMarkdown, mostInFlight, runBurst } from './burst';

jest.setTimeout(1_200_000);

describe('burst: many users authorising at once with a slow consumer', () => {
  it('counts the connections with calls in flight at once (the back-pressure check can fail)', () => {
    const at = (s: number): Date => new Date(1_700_000_000_000 + s * 1000);
    // five connections whose calls overlap at t = 2.5 s; a sixth only after they ended
    const rows = [0, 1, 2, 2.2, 2.4].map((s, i) => ({ connectionId: `c${i}`, at: at(s), durationMs: 3_000 }));
    expect(mostInFlight([...rows, { connectionId: 'c5', at: at(10), durationMs: 100 }])).toBe(5);
    // one connection's calls one after another count once
    expect(mostInFlight([0, 0.5, 1, 1.5].map((s) => ({ connectionId: 'c0', at: at(s), durationMs: 400 })))).toBe(1);
    // four workers, each taking connections one after another: never more than four
    const serial = Array.from({ length: 40 }, (_, i) => ({ connectionId: `k${i}`, at: at(Math.floor(i / 4) * 3), durationMs: 2_000 }));
    expect(mostInFlight(serial)).toBe(4);
  });

  it('40 users within 10 s, reconciliation frozen 2 s of every 3: everything arrives, within budget and memory', async () => {
    const lines: string[] = [];
    const report = await runBurst({
      connections: 40,
      windowMs: 10_000,
      inFlight: 16,
      log: (l) => {
        lines.push(l);
        process.stdout.write(`${l}\n`);
      },
    });
    process.stdout.write(`${burstMarkdown(report)}\n`);
    expect(report.violations).toEqual([]);
    expect(report.connects.completed).toBe(40);
    expect(report.usersEqualToReference).toBe(40);
    expect(report.reference.transactions).toBeGreaterThan(50);
    expect(report.feed.complete).toBe(40);
    expect(report.budget.refused).toBe(0);
    expect(report.backPressure.exited).toEqual([]);
    expect(report.backPressure.mostConnectionsInFlight).toBeLessThanOrEqual(report.backPressure.fetchConcurrency);
    // the slow consumer fell behind, and caught up
    expect(report.backPressure.slowFrozenMs).toBeGreaterThan(0);
    expect(report.backPressure.peakLag['reconciliation']).toBeGreaterThan(0);
    expect(report.backPressure.finalLag).toEqual({ enrichment: 0, reconciliation: 0 });
    for (const service of ['token-vault', 'data-fetcher', 'enrichment', 'reconciliation', 'auth-gateway']) {
      expect(report.backPressure.peakRssMb[service]).toBeLessThan(200);
    }
    expect(lines.some((l) => l.includes('OK:'))).toBe(true);
  });
});
