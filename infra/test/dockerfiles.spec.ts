import { readdirSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lintDockerfile, pinnedImage } from './dockerfile-rules';

const ROOT = join(__dirname, '../..');
const SERVICES = ['auth-gateway', 'token-vault', 'data-fetcher', 'enrichment', 'reconciliation'];
const dockerfiles = readdirSync(join(ROOT, 'apps')).filter((app) => existsSync(join(ROOT, 'apps', app, 'Dockerfile')));

it('every service has a Dockerfile', () => {
  expect(dockerfiles).toEqual(expect.arrayContaining(SERVICES));
});

describe.each(dockerfiles)('apps/%s/Dockerfile', (app) => {
  const text = readFileSync(join(ROOT, 'apps', app, 'Dockerfile'), 'utf8');

  it('passes dockerfile-utils and the project rules', () => {
    expect(lintDockerfile(text)).toEqual([]);
  });

  it('builds its own service from the esbuild bundle and runs it with the telemetry bootstrap', () => {
    expect(text).toContain(`RUN node tools/scripts/build-app.mjs ${app}\n`);
    expect(text).toContain(`COPY --from=build /repo/dist/apps/${app}/ ./`);
    expect(text).toContain('CMD ["node", "--enable-source-maps", "--require", "./register.js", "main.js"]');
  });
});

describe('the rules catch what they are for', () => {
  const good = [
    'FROM node:20.20.2-bookworm AS build',
    'RUN echo build',
    'FROM node:20.20.2-bookworm-slim',
    'COPY --from=build /x /x',
    'USER 1000:1000',
    'HEALTHCHECK CMD ["node", "probe.js"]',
    'CMD ["node", "main.js"]',
  ];
  const without = (re: RegExp) => good.filter((l) => !re.test(l)).join('\n');
  const messages = (text: string) => lintDockerfile(text).map((f) => f.message);

  it('accepts the good example', () => {
    expect(messages(good.join('\n'))).toEqual([]);
  });

  it.each([
    ['no USER', without(/^USER/), /sets no USER/],
    ['USER root', good.join('\n').replace('USER 1000:1000', 'USER root'), /runs as root/],
    ['no HEALTHCHECK', without(/^HEALTHCHECK/), /no HEALTHCHECK/],
    ['one stage', without(/AS build|^RUN|^COPY --from/), /not a multi-stage build/],
    ['a floating tag', good.join('\n').replace('node:20.20.2-bookworm-slim', 'node:20-slim'), /not pinned/],
    ['latest', good.join('\n').replace('node:20.20.2-bookworm AS', 'node:latest AS'), /not pinned/],
    ['a shell-form CMD', good.join('\n').replace('CMD ["node", "main.js"]', 'CMD node main.js'), /exec-form CMD/],
    ['a misspelt instruction (dockerfile-utils)', good.join('\n').replace('RUN echo', 'RUNN echo'), /dockerfile-utils/],
  ])('reports %s', (_name, text, expected) => {
    expect(messages(text)).toEqual(expect.arrayContaining([expect.stringMatching(expected)]));
  });

  it('knows a pinned image', () => {
    expect(pinnedImage('node:20.20.2-bookworm-slim')).toBe(true);
    expect(pinnedImage(`node@sha256:${'a'.repeat(64)}`)).toBe(true);
    expect(pinnedImage('node:20')).toBe(false);
    expect(pinnedImage('node')).toBe(false);
  });
});
