import type { Logger } from '@ais/platform-logger';
import type { Response } from 'express';
import type { Clock } from '../clock';
import type { ResponseCache, UnattendedBudget } from '../domain/budget';
import type { DataService } from '../domain/data-service';
import type { DatasetCache } from '../domain/dataset';
import type { FaultRegistry } from '../domain/faults';
import type { SandboxState } from '../domain/state';
import type { TaskStore, WebhookRecord } from '../domain/tasks';

export interface SandboxContext {
  state: SandboxState;
  clock: Clock;
  faults: FaultRegistry;
  budget: UnattendedBudget;
  cache: ResponseCache;
  datasets: DatasetCache;
  data: DataService;
  tasks: TaskStore;
  webhooks: WebhookRecord[];
  logger: Logger;
  authBaseUrl?: string;
  apiBaseUrl?: string;
  /** Requests held open by timeout faults; released on dispose. */
  hung: Set<Response>;
  timers: Set<NodeJS.Timeout>;
  /** Per-connection unattended/attended call counters (admin inspection). */
  callCounts: Map<string, { attended: number; unattended: number; rejected: number; cached: number }>;
}
