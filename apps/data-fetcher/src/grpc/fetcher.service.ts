import type { fetcherV1 } from '@ais/contracts-proto-ts';
import { AppError, requireIds } from '@ais/platform-errors';
import type { ServiceHandlers } from '@ais/platform-grpc';
import type { Leases } from '@ais/platform-mongo';
import { isIP } from 'node:net';
import type { CallBudget } from '../domain/call-budget';
import type { CircuitBreakers } from '../domain/error-policy';
import type { Fetcher } from '../domain/fetcher';
import type { FetchStateStore, JournalDoc, RefreshedItemDoc } from '../data/fetch-state.store';
import type { ProbeRepository } from '../data/probe.model';

export interface FetcherServiceDeps {
  probes: ProbeRepository;
  store: FetchStateStore;
  fetcher: Fetcher;
  budget: CallBudget;
  breakers: CircuitBreakers;
  leases: Leases;
  instance: string;
  clock: { now(): Date };
  /** How long CheckWebhook waits for a task that is being started (real ms). */
  webhookGraceMs: number;
  /** Real-time lease of a user refresh (other instances wait for it and return its result). */
  userLeaseMs: number;
}

type RefreshResult = { fetchId: string; startedAt: Date; finishedAt: Date; items: RefreshedItemDoc[] };

const toItem = (i: RefreshedItemDoc): fetcherV1.RefreshedItem => ({
  kind: i.kind,
  accountId: i.accountId,
  isCard: i.isCard,
  outcome: i.outcome,
  items: i.items,
  errorCode: i.errorCode,
  correlationId: i.correlationId,
});

const toEntry = (j: JournalDoc): fetcherV1.JournalEntry => ({
  at: j.at,
  endpoint: j.endpoint,
  accountId: j.accountId,
  windowFrom: j.windowFrom,
  windowTo: j.windowTo,
  httpStatus: j.httpStatus,
  errorCode: j.errorCode,
  errorDescription: j.errorDescription,
  correlationId: j.correlationId,
  durationMs: j.durationMs,
  attended: j.attended,
  traceId: j.traceId,
  mode: j.mode,
  taskId: j.taskId,
  items: j.items,
  action: j.action,
  dueAt: j.dueAt,
});

export function fetcherHandlers(deps: FetcherServiceDeps): ServiceHandlers<typeof fetcherV1.FetcherServiceService> {
  /** Refreshes running in this process, by connection: a second caller joins the first. */
  const inFlight = new Map<string, Promise<RefreshResult>>();

  /**
   * Coalescing across instances: the refresh runs under the lease `user-refresh:<id>`; a caller that cannot take
   * it waits until it is released and returns the result the holder stored (`lastUserRefresh`).
   */
  const refreshOnce = async (connectionId: string, psuIp: string): Promise<{ result: RefreshResult; coalesced: boolean }> => {
    const key = `user-refresh:${connectionId}`;
    const askedAt = deps.clock.now().getTime();
    const deadline = Date.now() + deps.userLeaseMs;
    let waited = false;
    for (;;) {
      if (await deps.leases.acquire(key, deps.instance, deps.userLeaseMs)) {
        try {
          // We waited for another instance's refresh: if it finished after we asked, its result is ours.
          const last = waited ? (await deps.store.get(connectionId))?.lastUserRefresh : undefined;
          if (last && last.finishedAt.getTime() >= askedAt) return { result: last, coalesced: true };
          return { result: await deps.fetcher.runUser(connectionId, psuIp), coalesced: false };
        } finally {
          await deps.leases.release(key, deps.instance).catch(() => undefined);
        }
      }
      if (Date.now() > deadline) throw AppError.unavailable('refresh_in_progress', 'another refresh of this connection is still running');
      waited = true;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  return {
    async getProbe(req) {
      requireIds({ probe_id: req.probeId });
      const doc = await deps.probes.get(req.probeId);
      if (!doc) throw AppError.notFound('probe_not_found', `probe ${req.probeId} has not reached data-fetcher`);
      return { probeId: doc._id, origin: doc.origin, eventId: doc.eventId, requestedAt: doc.requestedAt, receivedAt: doc.receivedAt, deliveries: doc.deliveries };
    },

    async refreshConnection(req) {
      requireIds({ client_id: req.clientId, user_id: req.userId, connection_id: req.connectionId });
      if (!req.psuIp || isIP(req.psuIp) === 0) {
        throw AppError.invalid('psu_ip_required', 'a user refresh needs the present user\'s IP address (psu_ip)', [{ field: 'psu_ip', description: 'an IPv4 or IPv6 address' }]);
      }
      const conn = await deps.store.get(req.connectionId);
      if (!conn || conn.clientId !== req.clientId || conn.userId !== req.userId) throw AppError.notFound('connection_not_found', 'no such connection for this user');
      let joined = true;
      let running = inFlight.get(req.connectionId);
      if (!running) {
        joined = false;
        running = refreshOnce(req.connectionId, req.psuIp).then(({ result, coalesced }) => {
          joined = coalesced;
          return result;
        });
        inFlight.set(req.connectionId, running);
        void running.finally(() => inFlight.delete(req.connectionId)).catch(() => undefined);
      }
      const result = await running;
      return { connectionId: req.connectionId, fetchId: result.fetchId, startedAt: result.startedAt, finishedAt: result.finishedAt, coalesced: joined, items: result.items.map(toItem) };
    },

    async checkWebhook(req) {
      requireIds({ task_id: req.taskId });
      let task = await deps.store.getTask(req.taskId);
      // TrueLayer may call before data-fetcher has recorded the task it just started (the webhook can beat the
      // 202's journey back): wait a little, but only while that connection is starting tasks.
      if (!task && req.credentialsId && (await deps.store.startingTasks(req.credentialsId, deps.clock.now()))) {
        const until = Date.now() + deps.webhookGraceMs;
        while (!task && Date.now() < until) {
          await new Promise((r) => setTimeout(r, 100));
          task = await deps.store.getTask(req.taskId);
        }
      }
      const refuse = (reason: string): fetcherV1.CheckWebhookResponse => ({ accepted: false, reason, connectionId: '', userId: '' });
      if (!task) return refuse('unknown_task');
      if (task.status !== 'pending' && task.status !== 'claimed') return refuse('not_pending');
      if (normalise(req.resultsUri) !== normalise(task.resultsUri)) return refuse('results_uri_mismatch');
      if (req.credentialsId && task.credentialsId && req.credentialsId !== task.credentialsId) return refuse('credentials_id_mismatch');
      return { accepted: true, reason: '', connectionId: task.connectionId, userId: task.userId };
    },

    async getSupportReport(req) {
      requireIds({ connection_id: req.connectionId });
      const conn = await deps.store.get(req.connectionId);
      if (!conn) throw AppError.notFound('connection_not_found', `data-fetcher has no connection ${req.connectionId}`);
      const limit = Math.min(req.limit || 200, 1000);
      const now = deps.clock.now();
      const [timeline, errors, usage] = await Promise.all([deps.store.timeline(conn._id, limit), deps.store.errors(conn._id, limit), deps.budget.usage(conn._id, now)]);
      const lastSuccess: fetcherV1.LastSuccess[] = Object.entries(conn.lastSuccess ?? {}).map(([kind, at]) => ({ kind, accountId: '', at, syncedTo: undefined }));
      for (const res of Object.values(conn.resources ?? {})) {
        for (const [kind, at] of Object.entries(res.lastSuccess ?? {})) {
          lastSuccess.push({ kind, accountId: res.id, at, syncedTo: kind === 'transactions' && res.syncedTo ? new Date(`${res.syncedTo}T00:00:00Z`) : undefined });
        }
      }
      return {
        connectionId: conn._id,
        userId: conn.userId,
        clientId: conn.clientId,
        providerId: conn.providerId,
        credentialsId: conn.credentialsId,
        status: conn.status,
        backfill: conn.backfill,
        backfillNote: conn.backfillNote ?? '',
        nextRefreshAt: conn.status === 'active' ? conn.nextDueAt : undefined,
        circuit: deps.breakers.state(conn.providerId),
        unsupported: conn.unsupported ?? [],
        timeline: timeline.map(toEntry),
        errors: errors.map(toEntry),
        budget: usage.map((u) => ({ endpoint: u.endpoint, resourceId: u.resourceId, used: u.used, left: u.left, nextFreeAt: u.left > 0 ? undefined : u.nextFreeAt })),
        lastSuccess,
        generatedAt: now,
        authorizedAt: conn.authorizedAt,
      };
    },
  };
}

function normalise(uri: string): string {
  try {
    return new URL(uri).toString();
  } catch {
    return uri;
  }
}
