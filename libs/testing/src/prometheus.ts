/**
 * The local stack's Prometheus (infra/stack.sh): file-based discovery of the services' metrics endpoints, and a small
 * reader of its HTTP API.
 *
 * A target file is `<PROMETHEUS_TARGETS_DIR>/<service>-<port>.json`, one target group whose `job` label is the
 * service name (the runbook's rules group by `job`). Prometheus watches the dir: a file written is scraped within a
 * scrape interval, a file removed stops the scrapes.
 */
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ScrapeTarget {
  /** The service name, the `job` label of its series. */
  service: string;
  /** Its metrics endpoint on 127.0.0.1. */
  port: number;
}

/** Lists `target` for the stack's Prometheus; the returned function takes it off again (idempotent). */
export function registerScrapeTarget(targetsDir: string, target: ScrapeTarget): () => void {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(target.service)) throw new Error(`not a service name: ${target.service}`);
  if (!Number.isInteger(target.port) || target.port <= 0 || target.port > 65535) throw new Error(`not a port: ${String(target.port)}`);
  const file = join(targetsDir, `${target.service}-${String(target.port)}.json`);
  const group = [{ targets: [`127.0.0.1:${String(target.port)}`], labels: { job: target.service } }];
  // written whole, then renamed: Prometheus never reads half a file
  writeFileSync(`${file}.tmp`, `${JSON.stringify(group)}\n`);
  renameSync(`${file}.tmp`, file);
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    try {
      unlinkSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  };
}

/** One series of an instant query: its labels and value. */
export interface PromSeries {
  labels: Record<string, string>;
  value: number;
}

async function api<T>(base: string, path: string): Promise<T> {
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as { status: string; data?: T; error?: string; errorType?: string };
  if (res.status !== 200 || body.status !== 'success' || body.data === undefined) {
    throw new Error(`Prometheus ${path}: HTTP ${String(res.status)} ${body.errorType ?? ''} ${body.error ?? ''}`.trim());
  }
  return body.data;
}

/** An instant PromQL query (a vector result), e.g. `sum by (stage) (ais_connect_funnel_total)`. */
export async function promQuery(base: string, query: string): Promise<PromSeries[]> {
  const data = await api<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }>(base, `/api/v1/query?query=${encodeURIComponent(query)}`);
  if (data.resultType !== 'vector') throw new Error(`Prometheus query ${query}: a ${data.resultType} result, not a vector`);
  return data.result.map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
}

/** The scrape targets Prometheus knows now: job, scrape URL, health (`up`, `down`, `unknown`) and the last error. */
export async function promTargets(base: string): Promise<{ job: string; scrapeUrl: string; health: string; lastError: string }[]> {
  const data = await api<{ activeTargets: { labels: Record<string, string>; scrapeUrl: string; health: string; lastError: string }[] }>(base, '/api/v1/targets?state=active');
  return data.activeTargets.map((t) => ({ job: t.labels['job'] ?? '', scrapeUrl: t.scrapeUrl, health: t.health, lastError: t.lastError }));
}

/** The alerting rules loaded, with their health after the last evaluation and their state. */
export async function promRules(base: string): Promise<{ group: string; name: string; health: string; state: string; lastError?: string; lastEvaluation: string }[]> {
  const data = await api<{ groups: { name: string; rules: { name: string; health: string; state: string; lastError?: string; lastEvaluation: string; type: string }[] }[] }>(base, '/api/v1/rules?type=alert');
  return data.groups.flatMap((g) => g.rules.map((r) => ({ group: g.name, name: r.name, health: r.health, state: r.state, lastError: r.lastError, lastEvaluation: r.lastEvaluation })));
}
