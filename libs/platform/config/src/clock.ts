/**
 * Shared clock specification. A test that runs days of simulated time in minutes gives every process (the TrueLayer
 * sandbox, data-fetcher, ...) the same spec string; each process derives the simulated time from its own wall clock,
 * so they agree on "now" without any clock sync protocol (as far as their wall clocks agree).
 *
 *   real                                      simulated now = Date.now()
 *   scaled:<realAnchorMs>:<simAnchorMs>:<rate> simulated now = simAnchorMs + (Date.now() - realAnchorMs) * rate
 *
 * Anchors are integer epoch milliseconds, rate a positive decimal number (1440 = one simulated day per real minute).
 */
import { z } from 'zod';

export interface Clock {
  /** Epoch milliseconds (an integer). */
  now(): number;
}

export type ClockSpec = { kind: 'real' } | { kind: 'scaled'; realAnchorMs: number; simAnchorMs: number; rate: number };

/** A clock built from a spec; `rate` is 1 for the real clock. */
export interface SpecClock extends Clock {
  readonly spec: ClockSpec;
  readonly rate: number;
}

export class ClockSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClockSpecError';
  }
}

const CLOCK_SPEC_FORMAT = "expected 'real' or 'scaled:<realAnchorMs>:<simAnchorMs>:<rate>'";
const INTEGER_MS = /^-?\d{1,16}$/;
const DECIMAL = /^\d+(\.\d+)?$/;

/** Parses a clock spec; returns a {@link ClockSpecError} (never throws) when the text is not a valid spec. */
export function parseClockSpec(spec: string): ClockSpec | ClockSpecError {
  const text = spec.trim();
  if (text === 'real') return { kind: 'real' };
  const parts = text.split(':');
  if (parts[0] !== 'scaled') return new ClockSpecError(CLOCK_SPEC_FORMAT);
  if (parts.length !== 4) return new ClockSpecError(`${CLOCK_SPEC_FORMAT}: a scaled spec has exactly three fields after 'scaled:'`);
  const [, realText = '', simText = '', rateText = ''] = parts;
  if (!INTEGER_MS.test(realText) || !Number.isSafeInteger(Number(realText))) {
    return new ClockSpecError(`${CLOCK_SPEC_FORMAT}: realAnchorMs must be an integer number of epoch milliseconds`);
  }
  if (!INTEGER_MS.test(simText) || !Number.isSafeInteger(Number(simText))) {
    return new ClockSpecError(`${CLOCK_SPEC_FORMAT}: simAnchorMs must be an integer number of epoch milliseconds`);
  }
  const rate = Number(rateText);
  if (!DECIMAL.test(rateText) || !Number.isFinite(rate) || rate <= 0) {
    return new ClockSpecError(`${CLOCK_SPEC_FORMAT}: rate must be a positive decimal number`);
  }
  return { kind: 'scaled', realAnchorMs: Number(realText), simAnchorMs: Number(simText), rate };
}

/** The canonical text of a spec (what {@link parseClockSpec} reads back). */
export function formatClockSpec(spec: ClockSpec): string {
  return spec.kind === 'real' ? 'real' : `scaled:${spec.realAnchorMs}:${spec.simAnchorMs}:${spec.rate}`;
}

/**
 * A scaled spec whose simulated time starts at `simStartMs` now (or at `realAnchorMs`). Tests build one and pass the
 * same text to every process they start.
 */
export function scaledClockSpec(simStartMs: number, rate: number, realAnchorMs: number = Date.now()): string {
  const spec: ClockSpec = { kind: 'scaled', realAnchorMs: Math.floor(realAnchorMs), simAnchorMs: Math.floor(simStartMs), rate };
  const text = formatClockSpec(spec);
  const checked = parseClockSpec(text);
  if (checked instanceof ClockSpecError) throw checked;
  return text;
}

/** Builds the clock a spec describes; throws the {@link ClockSpecError} of an invalid spec text. */
export function clockFromSpec(spec: string | ClockSpec, realNow: () => number = Date.now): SpecClock {
  const parsed = typeof spec === 'string' ? parseClockSpec(spec) : spec;
  if (parsed instanceof ClockSpecError) throw parsed;
  if (parsed.kind === 'real') return { spec: parsed, rate: 1, now: () => realNow() };
  const { realAnchorMs, simAnchorMs, rate } = parsed;
  return { spec: parsed, rate, now: () => simAnchorMs + Math.floor((realNow() - realAnchorMs) * rate) };
}

/** zod building block for a clock spec variable (default `real`); the parsed value is a {@link ClockSpec}. */
export const clockSpecSchema = z
  .string()
  .default('real')
  .transform((s, c): ClockSpec => {
    const parsed = parseClockSpec(s);
    if (parsed instanceof ClockSpecError) {
      c.addIssue({ code: 'custom', message: parsed.message });
      return z.NEVER;
    }
    return parsed;
  });
