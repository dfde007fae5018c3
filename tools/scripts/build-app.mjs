#!/usr/bin/env node
// Production build of one service: esbuild bundles the app and the workspace libraries it imports into
// dist/apps/<name>/main.js, and the telemetry bootstrap into dist/apps/<name>/register.js. npm packages stay
// external (installed next to the bundle) so OpenTelemetry's instrumentations can patch them on require.
// Run it with: node --require ./dist/apps/<name>/register.js dist/apps/<name>/main.js
// Also bundled: health-probe.js (the image's gRPC health check, tools/docker/health-probe.ts). The bundle's
// package.json carries the service's own version (apps/<name>/package.json) and, as dependencies, only the npm
// packages the bundles import (the root package.json's pinned versions): what the image installs next to them.
import { build } from 'esbuild';
import { copyFileSync, cpSync, existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const name = process.argv[2];
if (!name) {
  console.error('usage: build-app.mjs <service>');
  process.exit(2);
}
const out = join(root, 'dist/apps', name);
/** `@scope/pkg/sub/path` -> `@scope/pkg`, `pkg/sub` -> `pkg`. */
const packageOf = (path) => path.split('/').slice(0, path.startsWith('@') ? 2 : 1).join('/');
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
const entries = [
  [join(root, 'apps', name, 'src/main.ts'), 'main.js'],
  [join(root, 'libs/platform/telemetry/src/register.ts'), 'register.js'],
  [join(root, 'tools/docker/health-probe.ts'), 'health-probe.js'],
];
const imported = new Set();
for (const [entry, file] of entries) {
  const { metafile } = await build({ ...common, metafile: true, entryPoints: [entry], outfile: join(out, file) });
  for (const output of Object.values(metafile.outputs)) {
    for (const i of output.imports) if (i.external && !i.path.startsWith('node:')) imported.add(packageOf(i.path));
  }
}
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const appPackage = join(root, 'apps', name, 'package.json');
if (!existsSync(appPackage)) throw new Error(`apps/${name}/package.json is missing: it carries the service's version`);
const app = JSON.parse(readFileSync(appPackage, 'utf8'));
const dependencies = {};
for (const dep of [...imported].sort()) {
  if (pkg.dependencies[dep]) dependencies[dep] = pkg.dependencies[dep];
  else if (!builtinModules.includes(dep)) throw new Error(`${name} imports ${dep}, which is not a dependency in package.json`);
}
writeFileSync(
  join(out, 'package.json'),
  JSON.stringify({ name: `@ais/${name}`, version: app.version, private: true, main: 'main.js', dependencies }, null, 2) + '\n',
);
copyFileSync(join(root, 'package-lock.json'), join(out, 'package-lock.json'));
cpSync(join(root, 'proto'), join(out, 'proto'), { recursive: true });
// grpc.health.v1's descriptor, so reflection (grpcurl) can describe and call the health service
cpSync(join(root, 'node_modules/grpc-health-check/proto/health'), join(out, 'proto/grpc/health'), { recursive: true });
console.log(`built dist/apps/${name} (run: node --require ./register.js main.js)`);
