/** Reads traces back from Zipkin's HTTP API (v2). */

export interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name?: string;
  kind?: string;
  localEndpoint?: { serviceName?: string };
  tags?: Record<string, string>;
  timestamp?: number;
  duration?: number;
}

export async function getTrace(zipkinUrl: string, traceId: string): Promise<ZipkinSpan[]> {
  const res = await fetch(`${zipkinUrl}/api/v2/trace/${traceId}`);
  if (res.status === 404) return [];
  if (!res.ok) throw new Error(`zipkin answered ${res.status}`);
  return (await res.json()) as ZipkinSpan[];
}

/** Polls until `predicate` holds for the trace's spans (spans arrive in batches, per service). */
export async function waitForTrace(
  zipkinUrl: string,
  traceId: string,
  predicate: (spans: ZipkinSpan[]) => boolean,
  timeoutMs = 30_000,
): Promise<ZipkinSpan[]> {
  const until = Date.now() + timeoutMs;
  let spans: ZipkinSpan[] = [];
  while (Date.now() < until) {
    spans = await getTrace(zipkinUrl, traceId);
    if (predicate(spans)) return spans;
    await new Promise((r) => setTimeout(r, 250));
  }
  return spans;
}

export function servicesIn(spans: ZipkinSpan[]): Set<string> {
  return new Set(spans.map((s) => s.localEndpoint?.serviceName ?? '').filter(Boolean));
}
