#!/usr/bin/env node
// Scaffolds an Nx project with the workspace conventions: project.json (tags, typecheck/lint/test targets),
// tsconfig.json, jest.config.js and an src/index.ts (libs) or src/main.ts (apps).
// Usage: node tools/generators/scaffold.mjs <lib|app> <dir under repo> <nx-name> <tag,tag,...>
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';

const [kind, dir, name, tagList] = process.argv.slice(2);
if (!kind || !dir || !name || !tagList || !['lib', 'app'].includes(kind)) {
  console.error('usage: scaffold.mjs <lib|app> <dir> <nx-name> <tags>');
  process.exit(2);
}
const root = join(process.cwd(), dir);
const up = relative(root, process.cwd()) || '.';
const write = (file, text) => {
  const p = join(root, file);
  if (existsSync(p)) return;
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
};
const targets = {
  typecheck: { executor: 'nx:run-commands', options: { command: `tsc -p ${dir}/tsconfig.json --noEmit` } },
  lint: { executor: 'nx:run-commands', options: { command: `eslint ${dir}` } },
  test: { executor: 'nx:run-commands', options: { command: `jest -c ${dir}/jest.config.js --passWithNoTests=false` } },
};
if (kind === 'app') {
  targets.build = {
    executor: 'nx:run-commands',
    options: { command: `node tools/scripts/build-app.mjs ${name}` },
  };
  targets.serve = { executor: 'nx:run-commands', options: { command: `bash tools/scripts/run-service.sh ${name}` } };
  targets.container = { executor: 'nx:run-commands', options: { command: `bash tools/docker/build-image.sh ${name}` } };
}
write(
  'project.json',
  JSON.stringify(
    {
      name,
      $schema: `${up}/node_modules/nx/schemas/project-schema.json`,
      sourceRoot: `${dir}/src`,
      projectType: kind === 'app' ? 'application' : 'library',
      tags: tagList.split(','),
      targets,
    },
    null,
    2,
  ) + '\n',
);
write(
  'tsconfig.json',
  JSON.stringify(
    {
      extends: `${up}/tsconfig.base.json`,
      compilerOptions: { types: ['node', 'jest'] },
      include: ['src/**/*.ts', 'test/**/*.ts'],
    },
    null,
    2,
  ) + '\n',
);
write(
  'jest.config.js',
  `module.exports = {\n  displayName: '${name}',\n  preset: '${up}/jest.preset.js',\n  rootDir: __dirname,\n};\n`,
);
if (kind === 'lib') write('src/index.ts', `export {};\n`);
// the service's own version: its image tag and label (README.md, "Deploying each service on its own")
if (kind === 'app') write('package.json', JSON.stringify({ name: `@ais/${name}`, version: '0.1.0', private: true }, null, 2) + '\n');
console.log(`scaffolded ${kind} ${name} at ${dir}`);
