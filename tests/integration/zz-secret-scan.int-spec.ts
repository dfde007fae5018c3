/**
 * After the whole integration run (jest.integration.sequencer.js puts this suite last): no token, code, state, page
 * or bounce token, API key or client secret anywhere the services write. Scanned: every MongoDB database on the
 * stack (all collections, every document), every Kafka topic (all partitions from the beginning), every span Zipkin
 * holds for any service since the run began, and the stdout + stderr of every process the harness started (tee'd
 * under the stack dir). What to look for: every value in the secret ledgers on the stack dir (libs/testing
 * secret-ledger.ts; tests record what they learn) and the shapes of the simulator's tokens and of API keys
 * (libs/testing secret-scan.ts). A finding names the place and the kind, never the value.
 *
 * Each source must show it was read: in a full run (every *.int-spec.ts) MongoDB holds Vault ciphertexts, Kafka
 * messages, Zipkin spans and logs of all five services, and the ledger holds every kind the suites learn; after some
 * suites, a ledger and documents if services ran; alone, the suite only reports what it scanned.
 */
import {
  currentScanRun,
  documentText,
  Findings,
  kafkaMessageSecrets,
  logLineSecrets,
  readLedger,
  SecretIndex,
  secretKindsIn,
  spanSecrets,
  stackLedgerFiles,
  type LedgerEntry,
  type ScanRun,
  type ZipkinSpan,
} from '@ais/testing';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { statSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stackEnv, uniqueSuffix } from './stack-env';

jest.setTimeout(600_000);

const SERVICES = ['auth-gateway', 'token-vault', 'data-fetcher', 'enrichment', 'reconciliation'];
const SYSTEM_DBS = new Set(['admin', 'config', 'local']);
/** Bound on reading every Kafka partition to its end. */
const KAFKA_READ_MS = 180_000;

describe('secret scan of the whole integration run', () => {
  const infra = stackEnv();
  const peers = Number(process.env['AIS_SECRET_SCAN_PEERS'] ?? '0');
  const full = process.env['AIS_SECRET_SCAN_FULL'] === '1';
  const startedMs = Date.now();
  let run: ScanRun;
  let thisRun: LedgerEntry[];
  let index: SecretIndex;
  /** Log files of this run, by the name of the process (`<name>-<pid>.log`). */
  let logNames: string[];
  const summary: string[] = [];

  beforeAll(() => {
    const current = currentScanRun();
    if (!current) throw new Error('no secret-scan run: the integration globalSetup did not open one (AIS_SECRET_SCAN_DIR)');
    run = current;
    thisRun = readLedger(run.ledger);
    const all = stackLedgerFiles(process.env['AIS_STACK_DIR']!).flatMap(readLedger);
    index = new SecretIndex(all);
    logNames = readdirSync(run.logs).filter((f) => f.endsWith('.log'));
    summary.push(`run ${run.dir}: ${peers} other suite(s) before this one${full ? ' (the whole integration suite)' : ''}`);
  });

  afterAll(() => {
    summary.push(`scan took ${((Date.now() - startedMs) / 1000).toFixed(1)} s`);
    console.log(`secret scan\n  ${summary.join('\n  ')}`);
  });

  it('the ledger is private to the stack dir and holds what the suites learnt', () => {
    expect((statSync(run.ledger).mode & 0o777).toString(8)).toBe('600');
    const kinds = [...new Set(thisRun.map((e) => e.kind))].sort();
    summary.push(`ledger: ${thisRun.length} value(s) of this run (${kinds.join(', ') || 'none'}), ${index.size} on the stack dir`);
    if (logNames.some((f) => SERVICES.includes(serviceOf(f))) || full) expect(thisRun.length).toBeGreaterThan(0);
    if (full) expect(kinds).toEqual(expect.arrayContaining(['access-token', 'api-key', 'bounce-token', 'client-secret', 'code', 'page-token', 'refresh-token', 'state']));
  });

  it('MongoDB: no secret in any document of any database', async () => {
    const client = new MongoClient(infra['MONGODB_URI']!);
    await client.connect();
    const findings = new Findings();
    let dbs = 0;
    let collections = 0;
    let docs = 0;
    let ciphertexts = 0;
    try {
      const { databases } = await client.db('admin').admin().listDatabases({ nameOnly: true });
      for (const { name } of databases) {
        if (SYSTEM_DBS.has(name)) continue;
        dbs += 1;
        const db = client.db(name);
        for (const c of await db.listCollections({}, { nameOnly: true }).toArray()) {
          collections += 1;
          for await (const doc of db.collection(c.name).find({})) {
            docs += 1;
            const text = documentText(doc);
            if (/vault:v\d+:/.test(text)) ciphertexts += 1;
            const kinds = secretKindsIn(text, index);
            if (kinds.length > 0) findings.add('mongo', `${name}.${c.name}`, kinds, `_id ${withheld(String(doc['_id']), index)}`);
          }
        }
      }
    } finally {
      await client.close();
    }
    summary.push(`mongo: ${dbs} database(s), ${collections} collection(s), ${docs} document(s), ${ciphertexts} with Vault ciphertexts (vault:v*)`);
    if (full) expect(ciphertexts).toBeGreaterThan(0);
    if (full || logNames.some((f) => SERVICES.includes(serviceOf(f)))) expect(docs).toBeGreaterThan(0);
    expect(findings.lines()).toEqual([]);
  });

  it('Kafka: no secret in any message of any topic (keys, values, headers)', async () => {
    const kafka = new Kafka({ clientId: 'secret-scan', brokers: infra['KAFKA_BROKERS']!.split(','), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const findings = new Findings();
    const groupId = `secret-scan-${uniqueSuffix()}`;
    let messages = 0;
    let bytes = 0;
    let topics: string[] = [];
    /** `topic/partition` → the offset the scan must reach (the high watermark when it started). */
    const pending = new Map<string, bigint>();
    try {
      topics = (await admin.listTopics()).filter((t) => !t.startsWith('__')).sort();
      for (const topic of topics) {
        for (const p of await admin.fetchTopicOffsets(topic)) {
          if (BigInt(p.high) > BigInt(p.low)) pending.set(`${topic}/${p.partition}`, BigInt(p.high));
        }
      }
      const partitions = pending.size;
      if (partitions > 0) {
        const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200, maxBytes: 50 * 1024 * 1024 });
        await consumer.connect();
        try {
          await consumer.subscribe({ topics: [...new Set([...pending.keys()].map((k) => k.slice(0, k.lastIndexOf('/'))))], fromBeginning: true });
          await consumer.run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              for (const m of batch.messages) {
                messages += 1;
                bytes += m.value?.length ?? 0;
                const kinds = kafkaMessageSecrets(m, index);
                if (kinds.length > 0) findings.add('kafka', batch.topic, kinds, `partition ${batch.partition} offset ${m.offset}`);
              }
              const key = `${batch.topic}/${batch.partition}`;
              const end = pending.get(key);
              if (end !== undefined && BigInt(batch.lastOffset()) + 1n >= end) pending.delete(key);
            },
          });
          const until = Date.now() + KAFKA_READ_MS;
          while (pending.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
        } finally {
          await consumer.disconnect();
        }
        await admin.deleteGroups([groupId]).catch(() => undefined);
      }
      summary.push(`kafka: ${topics.length} topic(s), ${partitions} non-empty partition(s), ${messages} message(s), ${(bytes / 1024).toFixed(0)} KiB of values`);
    } finally {
      await admin.disconnect();
    }
    expect({ unread: [...pending.keys()] }).toEqual({ unread: [] });
    if (full) expect(messages).toBeGreaterThan(0);
    expect(findings.lines()).toEqual([]);
  });

  it('Zipkin: no secret in any span of any service since the run began', async () => {
    const zipkin = infra['ZIPKIN_URL']!;
    const services = (await getJson<string[]>(`${zipkin}/api/v2/services`)).sort();
    const findings = new Findings();
    const seen = new Set<string>();
    const perService = new Map<string, number>();
    const endTs = Date.now();
    const lookback = endTs - run.startedAt + 60_000;
    for (const service of services) {
      const traces = await getJson<ZipkinSpan[][]>(`${zipkin}/api/v2/traces?serviceName=${encodeURIComponent(service)}&endTs=${endTs}&lookback=${lookback}&limit=1000000`);
      for (const span of traces.flat()) {
        const owner = span.localEndpoint?.serviceName ?? '(none)';
        const key = `${span.traceId}/${span.id}/${owner}/${span.kind ?? ''}`;
        if (seen.has(key)) continue;
        seen.add(key);
        perService.set(owner, (perService.get(owner) ?? 0) + 1);
        const kinds = spanSecrets(span, index);
        if (kinds.length > 0) findings.add('zipkin', owner, kinds, `span ${withheld(span.name ?? '', index)} trace ${span.traceId}`);
      }
    }
    summary.push(`zipkin: ${seen.size} span(s) since the run began; ${[...perService].map(([s, n]) => `${s} ${n}`).join(', ') || 'none'}`);
    if (full) expect(SERVICES.filter((s) => !perService.has(s))).toEqual([]);
    expect(findings.lines()).toEqual([]);
  });

  it('logs: no secret in the output of any process the harness started', () => {
    const findings = new Findings();
    const perName = new Map<string, number>();
    let lines = 0;
    let bytes = 0;
    for (const file of logNames) {
      const text = readFileSync(join(run.logs, file), 'latin1');
      bytes += text.length;
      perName.set(serviceOf(file), (perName.get(serviceOf(file)) ?? 0) + 1);
      for (const [i, line] of text.split('\n').entries()) {
        if (!line) continue;
        lines += 1;
        const kinds = logLineSecrets(line, index);
        if (kinds.length > 0) findings.add('log', file, kinds, `line ${i + 1}`);
      }
    }
    summary.push(`logs: ${logNames.length} file(s), ${lines} line(s), ${(bytes / 1024).toFixed(0)} KiB; ${[...perName].map(([s, n]) => `${s} ×${n}`).join(', ') || 'none'}`);
    if (full) expect(SERVICES.filter((s) => !perName.has(s))).toEqual([]);
    expect(findings.lines()).toEqual([]);
  });
});

/** `auth-gateway` of `auth-gateway-1234.log`. */
function serviceOf(file: string): string {
  return file.replace(/-\d+\.log$/, '');
}

/** `text` for a failure message, unless it holds a secret itself (a document id, a span name). */
function withheld(text: string, index: SecretIndex): string {
  return secretKindsIn(text, index).length === 0 ? text : '(withheld: holds a secret)';
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url.replace(/\?.*/, '')} answered ${res.status}`);
  return (await res.json()) as T;
}
