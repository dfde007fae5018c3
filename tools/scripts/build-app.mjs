#!/usr/bin/env node
// Production build of one service: esbuild bundles the app and the workspace libraries it imports into
// dist/apps/<name>/main.js, and the telemetry bootstrap into dist/apps/<name>/register.js. npm packages stay
// external (installed next to the bundle) so OpenTelemetry's instrumentations can patch them on require.
// Run it with: node --require ./dist/apps/<name>/register.js dist/apps/<name>/main.js
import { build } from 'esbuild';
import { copyFileSync, cpSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const name = process.argv[2];
if (!name) {
  console.error('usage: build-app.mjs <service>');
  process.exit(2);
}
const out = join(root, 'dist/apps', name);
mkdirSync(out, { recursive: true });
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  packages: 'external',
  tsconfig: join(root, 'tsconfig.base.json'),
  logLevel: 'warning',
};
await build({ ...common, entryPoints: [join(root, 'apps', name, 'src/main.ts')], outfile: join(out, 'main.js') });
await build({ ...common, entryPoints: [join(root, 'libs/platform/telemetry/src/register.ts')], outfile: join(out, 'register.js') });
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
writeFileSync(
  join(out, 'package.json'),
  JSON.stringify({ name: `@ais/${name}`, version: pkg.version, private: true, main: 'main.js', dependencies: pkg.dependencies }, null, 2) + '\n',
);
copyFileSync(join(root, 'package-lock.json'), join(out, 'package-lock.json'));
cpSync(join(root, 'proto'), join(out, 'proto'), { recursive: true });
// grpc.health.v1's descriptor, so reflection (grpcurl) can describe and call the health service
cpSync(join(root, 'node_modules/grpc-health-check/proto/health'), join(out, 'proto/grpc/health'), { recursive: true });
console.log(`built dist/apps/${name} (run: node --require ./register.js main.js)`);
