/** Identifier helpers. Random values come from node:crypto; deterministic ones from hashing or the seeded PRNG. */
import { createHash, randomBytes, randomUUID } from 'node:crypto';

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Deterministic hex id of `length` characters derived from the parts. */
export function hashId(length: number, ...parts: Array<string | number>): string {
  let out = '';
  let counter = 0;
  while (out.length < length) {
    out += createHash('sha256').update(`${counter}|${parts.join('|')}`).digest('hex');
    counter += 1;
  }
  return out.slice(0, length);
}

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

export function randomUrlToken(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

export function uuid(): string {
  return randomUUID();
}

/** mulberry32: small, fast, deterministic PRNG. Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 32-bit seed from arbitrary strings. */
export function seedOf(...parts: Array<string | number>): number {
  return parseInt(sha256Hex(parts.join('|')).slice(0, 8), 16) >>> 0;
}

export interface Rng {
  next(): number;
  int(minInclusive: number, maxInclusive: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
  weighted<T extends { weight: number }>(items: readonly T[]): T;
}

export function createRng(seed: number): Rng {
  const next = mulberry32(seed);
  const rng: Rng = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick<T>(items: readonly T[]): T {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new Error('pick from empty list');
      return item;
    },
    chance: (p) => next() < p,
    weighted<T extends { weight: number }>(items: readonly T[]): T {
      const total = items.reduce((s, i) => s + i.weight, 0);
      let r = next() * total;
      for (const item of items) {
        r -= item.weight;
        if (r < 0) return item;
      }
      const last = items[items.length - 1];
      if (last === undefined) throw new Error('weighted pick from empty list');
      return last;
    },
  };
  return rng;
}
