// Integration suites in jest's own order, except the secret scan (`*secret-scan.int-spec.ts`), which runs last: it
// reads what every other suite left in MongoDB, Kafka, Zipkin and the service logs. (Last in the order is last to
// run with --runInBand, as the integration scripts run; parallel workers would overlap it with other suites.)
// The scan learns what ran before it from two variables set here, before globalSetup and the test processes start:
// AIS_SECRET_SCAN_PEERS (how many other suites run) and AIS_SECRET_SCAN_FULL ('1' when they are every *.int-spec.ts).
const Sequencer = require('@jest/test-sequencer').default;

const SCAN = /secret-scan\.int-spec\.ts$/;

class IntegrationSequencer extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    const scans = sorted.filter((t) => SCAN.test(t.path));
    const others = sorted.filter((t) => !SCAN.test(t.path));
    if (scans.length > 0) {
      const all = new Set(
        tests[0].context.hasteFS.getAllFiles().filter((f) => /\.int-spec\.ts$/.test(f) && !SCAN.test(f) && !/[/\\](node_modules|dist)[/\\]/.test(f)),
      );
      const ran = new Set(others.map((t) => t.path));
      process.env.AIS_SECRET_SCAN_PEERS = String(others.length);
      process.env.AIS_SECRET_SCAN_FULL = all.size > 0 && [...all].every((f) => ran.has(f)) ? '1' : '0';
    }
    return [...others, ...scans];
  }
}

module.exports = IntegrationSequencer;
