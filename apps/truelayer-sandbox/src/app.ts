/** Sandbox factory: builds the Express app and all state. Used by main.ts and by tests; no globals. */
import { createLogger, type Logger } from '@ais/platform-logger';
import express from 'express';
import { type Clock, createClock } from './clock';
import { ResponseCache, UnattendedBudget } from './domain/budget';
import { DataService } from './domain/data-service';
import { DatasetCache } from './domain/dataset';
import { FaultRegistry, type FaultRule, parseFaultRule } from './domain/faults';
import { type Client, SandboxState } from './domain/state';
import { applySwitchPatch, type Switches } from './domain/switches';
import { TaskStore } from './domain/tasks';
import { adminRouter } from './http/admin';
import { authRouter } from './http/auth';
import { errorHandler } from './http/common';
import type { SandboxContext } from './http/context';
import { dataRouter } from './http/data-api';

export interface SandboxOptions {
  clients: Client[];
  /** Seed for all generated data (default `truelayer-sandbox`). */
  seed?: string;
  clock?: Clock;
  logger?: Logger;
  /** Public base URL of the auth host (default: derived from each request's Host header). */
  authBaseUrl?: string;
  /** Public base URL of the API host (default: derived from each request's Host header). */
  apiBaseUrl?: string;
  /** Mount `/__admin` (default true). */
  admin?: boolean;
  switches?: Partial<Switches>;
  /** PEM private key for RS256 access tokens; generated lazily when absent. */
  signingKeyPem?: string;
}

export interface SandboxAdmin {
  advanceClock(ms: number): void;
  setClock(at: Date | number): void;
  setSwitches(patch: Partial<Switches>): void;
  addFault(rule: Record<string, unknown>): FaultRule;
  clearFaults(): void;
}

export interface Sandbox {
  app: express.Express;
  state: SandboxState;
  clock: Clock;
  admin: SandboxAdmin;
  context: SandboxContext;
  /** Cancels pending async tasks and releases requests held open by timeout faults. */
  dispose(): void;
}

export function createSandbox(options: SandboxOptions): Sandbox {
  const clock = options.clock ?? createClock();
  const seed = options.seed ?? 'truelayer-sandbox';
  const logger = options.logger ?? createLogger({ service: 'truelayer-sandbox', level: 'silent' });
  const state = new SandboxState(clock, options.clients, options.signingKeyPem);
  if (options.switches) {
    const errors = applySwitchPatch(state.switches, options.switches as Record<string, unknown>);
    if (errors.length > 0) throw new Error(`invalid switches: ${errors.join('; ')}`);
  }
  const datasets = new DatasetCache(seed, clock.now());
  const context: SandboxContext = {
    state,
    clock,
    faults: new FaultRegistry(seed),
    budget: new UnattendedBudget(),
    cache: new ResponseCache(),
    datasets,
    data: new DataService(datasets, state.switches, () => clock.now()),
    tasks: new TaskStore(),
    webhooks: [],
    logger,
    authBaseUrl: options.authBaseUrl,
    apiBaseUrl: options.apiBaseUrl,
    hung: new Set(),
    timers: new Set(),
    callCounts: new Map(),
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] }));
  app.use(express.urlencoded({ extended: false, limit: '1mb' }));
  app.use((req, res, next) => {
    logger.debug({ method: req.method, path: req.path }, 'request');
    // Every response is dated by the simulated clock, like the data and Last-Modified (Node would use the wall clock).
    res.setHeader('Date', new Date(clock.now()).toUTCString());
    next();
  });
  app.use('/data/v1', dataRouter(context));
  if (options.admin ?? true) app.use('/__admin', adminRouter(context));
  app.use(authRouter(context));
  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found', error_description: 'Not found.', error_details: {} });
  });
  app.use(errorHandler((err) => logger.error({ err }, 'unhandled error')));

  const admin: SandboxAdmin = {
    advanceClock: (ms) => clock.advance(ms),
    setClock: (at) => clock.set(at),
    setSwitches(patch) {
      const errors = applySwitchPatch(state.switches, patch as Record<string, unknown>);
      if (errors.length > 0) throw new Error(errors.join('; '));
    },
    addFault(rule) {
      const parsed = parseFaultRule(rule);
      if (typeof parsed === 'string') throw new Error(parsed);
      return context.faults.add(parsed);
    },
    clearFaults: () => context.faults.clear(),
  };

  return {
    app,
    state,
    clock,
    admin,
    context,
    dispose() {
      for (const t of context.timers) clearTimeout(t);
      context.timers.clear();
      for (const res of context.hung) res.destroy();
      context.hung.clear();
    },
  };
}
