// The integration run's test sequencer (jest.integration.sequencer.js at the repo root, a plain JS module for jest).
import { join } from 'node:path';
import { REPO_ROOT } from './stack';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const IntegrationSequencer = require(join(REPO_ROOT, 'jest.integration.sequencer.js')) as new () => { sort(tests: FakeTest[]): Promise<FakeTest[]> };

interface FakeTest {
  path: string;
  context: { config: { cache: boolean; id: string }; hasteFS: { getSize(p: string): number; getAllFiles(): string[] } };
}

describe('integration test sequencer', () => {
  const saved = { peers: process.env['AIS_SECRET_SCAN_PEERS'], full: process.env['AIS_SECRET_SCAN_FULL'] };
  afterEach(() => {
    for (const [key, value] of [['AIS_SECRET_SCAN_PEERS', saved.peers], ['AIS_SECRET_SCAN_FULL', saved.full]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  // no timing cache: jest orders by file size, biggest first
  const sizes: Record<string, number> = {
    '/r/tests/integration/small.int-spec.ts': 10,
    '/r/tests/integration/zz-secret-scan.int-spec.ts': 20,
    '/r/apps/x/test/big.int-spec.ts': 30,
    '/r/libs/y/test/mid.int-spec.ts': 15,
  };
  const files = [...Object.keys(sizes), '/r/libs/y/src/unit.spec.ts', '/r/node_modules/z/a.int-spec.ts'];
  const context = { config: { cache: false, id: 'integration' }, hasteFS: { getSize: (p: string) => sizes[p] ?? 0, getAllFiles: () => files } };
  const tests = (paths: string[]): FakeTest[] => paths.map((path) => ({ path, context }));

  it("runs the secret scan last and the others in jest's order; tells the scan it follows the whole suite", async () => {
    const sorted = await new IntegrationSequencer().sort(tests(Object.keys(sizes)));
    expect(sorted.map((t) => t.path)).toEqual(['/r/apps/x/test/big.int-spec.ts', '/r/libs/y/test/mid.int-spec.ts', '/r/tests/integration/small.int-spec.ts', '/r/tests/integration/zz-secret-scan.int-spec.ts']);
    expect(process.env['AIS_SECRET_SCAN_PEERS']).toBe('3');
    expect(process.env['AIS_SECRET_SCAN_FULL']).toBe('1');
  });

  it('with some suites: not a full run', async () => {
    const sorted = await new IntegrationSequencer().sort(tests(['/r/tests/integration/zz-secret-scan.int-spec.ts', '/r/tests/integration/small.int-spec.ts']));
    expect(sorted.map((t) => t.path)).toEqual(['/r/tests/integration/small.int-spec.ts', '/r/tests/integration/zz-secret-scan.int-spec.ts']);
    expect(process.env['AIS_SECRET_SCAN_PEERS']).toBe('1');
    expect(process.env['AIS_SECRET_SCAN_FULL']).toBe('0');
  });

  it('the scan alone: no peers', async () => {
    await new IntegrationSequencer().sort(tests(['/r/tests/integration/zz-secret-scan.int-spec.ts']));
    expect(process.env['AIS_SECRET_SCAN_PEERS']).toBe('0');
    expect(process.env['AIS_SECRET_SCAN_FULL']).toBe('0');
  });
});
