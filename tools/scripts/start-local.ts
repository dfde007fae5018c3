/* Starts the five services against the local stack (.infra/stack.env), probes the traced path, prints URLs. */
import { readStackEnv, startService, type ServiceProcess } from '@ais/testing';
import { join } from 'node:path';

const once = process.argv.includes('--once');
const root = join(__dirname, '../..');

async function main(): Promise<void> {
  const stack = readStackEnv(join(root, '.infra/stack.env'));
  const common: Record<string, string> = { ...stack, OTEL_TRACES_EXPORTER: 'zipkin', LOG_LEVEL: 'info' };
  const procs: ServiceProcess[] = [];
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop()));
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(0)));
  process.once('SIGTERM', () => void stop().then(() => process.exit(0)));
  try {
    const [tv, df, en, rc] = await Promise.all(['token-vault', 'data-fetcher', 'enrichment', 'reconciliation'].map((n) => startService(n, common)));
    procs.push(tv!, df!, en!, rc!);
    const gw = await startService('auth-gateway', {
      ...common,
      TOKEN_VAULT_ADDR: `127.0.0.1:${String(tv!.ready['grpcPort'])}`,
      DATA_FETCHER_ADDR: `127.0.0.1:${String(df!.ready['grpcPort'])}`,
    });
    procs.push(gw);
    for (const p of procs) console.log(`${p.name.padEnd(15)} pid ${p.pid}  ${JSON.stringify({ grpcPort: p.ready['grpcPort'], httpPort: p.ready['httpPort'], adminPort: p.ready['adminPort'] })}`);
    const admin = `http://127.0.0.1:${String(gw.ready['adminPort'])}`;
    const res = await fetch(`${admin}/diagnostics/probes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ origin: 'start-local' }) });
    const probe = (await res.json()) as { probe_id: string; trace_id: string };
    let recorded: unknown;
    for (let i = 0; i < 80 && !recorded; i += 1) {
      const r = await fetch(`${admin}/diagnostics/probes/${probe.probe_id}`);
      if (r.ok) recorded = await r.json();
      else await new Promise((r2) => setTimeout(r2, 250));
    }
    console.log(`probe ${probe.probe_id} recorded by data-fetcher: ${JSON.stringify(recorded)}`);
    console.log(`trace: ${stack.ZIPKIN_URL}/zipkin/traces/${probe.trace_id}`);
    console.log(`gateway: http://127.0.0.1:${String(gw.ready['httpPort'])}/readyz   admin: ${admin}/diagnostics/probes`);
    if (!recorded) throw new Error('the probe did not reach data-fetcher');
    if (once) {
      await stop();
      return;
    }
    console.log('running; Ctrl-C stops the services (the servers keep running: npm run stack:down stops them)');
    await new Promise(() => undefined);
  } catch (error) {
    console.error(error);
    await stop();
    process.exit(1);
  }
}

void main();
