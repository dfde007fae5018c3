/** Resident memory of processes, sampled from /proc (bench/memory.bench.ts, bench/pipeline.bench.ts). */
import { readFileSync } from 'node:fs';

const MB = 1024;

/** VmRSS and VmHWM (peak RSS since start) of `pid` in MB, or undefined when it is gone. */
export function procMemory(pid: number): { rss_mb: number; hwm_mb: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+)/m.exec(status)?.[1];
    const hwm = /^VmHWM:\s+(\d+)/m.exec(status)?.[1];
    if (rss === undefined || hwm === undefined) return undefined;
    return { rss_mb: Number(rss) / MB, hwm_mb: Number(hwm) / MB };
  } catch {
    return undefined;
  }
}

export interface RssStats {
  samples: number;
  seconds: number;
  min_mb: number;
  p50_mb: number;
  p95_mb: number;
  /** The largest sample. */
  peak_mb: number;
  /** VmHWM at the end: the peak since the process started (catches a spike between samples, and start-up). */
  hwm_mb: number;
}

const r1 = (x: number) => Math.round(x * 10) / 10;

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Samples the RSS of named processes every `everyMs` until `stop()`, which returns each one's statistics. */
export class RssSampler {
  private readonly samples = new Map<string, number[]>();
  private readonly hwm = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private readonly t0 = Date.now();

  constructor(
    private readonly pids: Record<string, number>,
    everyMs = 200,
  ) {
    for (const name of Object.keys(pids)) this.samples.set(name, []);
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  private sample(): void {
    for (const [name, pid] of Object.entries(this.pids)) {
      const m = procMemory(pid);
      if (!m) continue;
      this.samples.get(name)!.push(m.rss_mb);
      this.hwm.set(name, m.hwm_mb);
    }
  }

  stop(): Record<string, RssStats> {
    clearInterval(this.timer);
    this.sample();
    const seconds = r1((Date.now() - this.t0) / 1000);
    const out: Record<string, RssStats> = {};
    for (const [name, xs] of this.samples) {
      if (xs.length === 0) continue;
      const sorted = [...xs].sort((a, b) => a - b);
      out[name] = {
        samples: xs.length,
        seconds,
        min_mb: r1(sorted[0]!),
        p50_mb: r1(percentile(sorted, 50)),
        p95_mb: r1(percentile(sorted, 95)),
        peak_mb: r1(sorted.at(-1)!),
        hwm_mb: r1(this.hwm.get(name) ?? Number.NaN),
      };
    }
    return out;
  }
}
