/**
 * The project's rules for a service Dockerfile, on top of dockerfile-utils' own validation: multi-stage, every
 * base image pinned to an exact version tag (or a digest), a non-root USER, a HEALTHCHECK and an exec-form CMD in
 * the final stage.
 */
import { validate } from 'dockerfile-utils';

export interface Finding {
  line: number;
  message: string;
}

/** Instructions with their 1-based line, continuation lines joined. */
export function instructions(text: string): Array<{ line: number; keyword: string; args: string }> {
  const out: Array<{ line: number; keyword: string; args: string }> = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let current = lines[i]!;
    while (current.endsWith('\\') && i + 1 < lines.length) current = current.slice(0, -1) + ' ' + lines[++i]!;
    const trimmed = current.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const m = /^(\S+)\s*(.*)$/.exec(trimmed)!;
    out.push({ line: start + 1, keyword: m[1]!.toUpperCase(), args: m[2]!.trim() });
  }
  return out;
}

/** `name:1.2.3[-variant]` or `name@sha256:...`: not `latest`, not a bare major like `node:20`. */
export function pinnedImage(image: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const tag = /:([^/:]+)$/.exec(image)?.[1];
  return tag !== undefined && /^v?\d+\.\d+\.\d+/.test(tag);
}

export function projectRules(text: string): Finding[] {
  const found: Finding[] = [];
  const all = instructions(text);
  const froms = all.filter((i) => i.keyword === 'FROM');
  if (froms.length < 2) found.push({ line: froms[0]?.line ?? 1, message: 'not a multi-stage build (one FROM)' });
  const stages = new Set<string>();
  for (const from of froms) {
    const words = from.args.split(/\s+/).filter((w) => !w.startsWith('--'));
    const image = words[0] ?? '';
    if (!stages.has(image.toLowerCase()) && !pinnedImage(image)) found.push({ line: from.line, message: `base image '${image}' is not pinned to an exact version` });
    if (words[1]?.toUpperCase() === 'AS' && words[2]) stages.add(words[2].toLowerCase());
  }
  const lastFrom = froms.at(-1)?.line ?? 0;
  const final = all.filter((i) => i.line >= lastFrom);
  const user = final.filter((i) => i.keyword === 'USER').at(-1);
  if (!user) found.push({ line: lastFrom, message: 'the final stage sets no USER (runs as root)' });
  else if (/^(root|0)(:|$)/.test(user.args)) found.push({ line: user.line, message: `the final stage runs as root (USER ${user.args})` });
  const health = final.find((i) => i.keyword === 'HEALTHCHECK');
  if (!health) found.push({ line: lastFrom, message: 'the final stage has no HEALTHCHECK' });
  else if (/\bNONE\s*$/i.test(health.args)) found.push({ line: health.line, message: 'HEALTHCHECK NONE' });
  const cmd = final.filter((i) => i.keyword === 'CMD').at(-1);
  if (!cmd || !cmd.args.startsWith('[')) found.push({ line: cmd?.line ?? lastFrom, message: 'the final stage has no exec-form CMD (signals would go to a shell)' });
  return found;
}

/** dockerfile-utils' diagnostics (errors and warnings) and the project rules, as `line: message` findings. */
export function lintDockerfile(text: string): Finding[] {
  const diagnostics = validate(text).map((d) => ({ line: d.range.start.line + 1, message: `dockerfile-utils: ${d.message}` }));
  return [...diagnostics, ...projectRules(text)].sort((a, b) => a.line - b.line);
}
