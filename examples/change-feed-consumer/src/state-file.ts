/**
 * The replica and its feed position in one JSON file, replaced atomically (write a temporary file, then rename):
 * a crash leaves either the old state or the new one, never a cursor ahead of the data it stands for.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { emptyReplica, type Replica } from './replica';

/** The state file of a user in `dir` (the user id is encoded so that any id is a safe file name). */
export function stateFileOf(dir: string, userId: string): string {
  return join(dir, `${encodeURIComponent(userId)}.json`);
}

export function loadReplica(file: string, userId: string): Replica {
  if (!existsSync(file)) return emptyReplica(userId);
  const replica = JSON.parse(readFileSync(file, 'utf8')) as Replica;
  if (replica.userId !== userId) throw new Error(`${file} holds user ${replica.userId}, not ${userId}`);
  return replica;
}

export function saveReplica(file: string, replica: Replica): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(replica));
  renameSync(tmp, file);
}
