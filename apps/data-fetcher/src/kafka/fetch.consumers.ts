/**
 * data-fetcher's Kafka intake besides diagnostics:
 * - ais.connection.v1: `authorized` records the connection and makes its post-consent fetch due now (a renewal
 *   inherits what was synced, so it fetches only what is new); `reauth_required`, `consent_expired` and `revoked`
 *   stop its scheduling.
 * - ais.fetch.v1 (key = user id): accepted TrueLayer webhooks (the gateway checked the task with us first) read
 *   the task's results; `fetch_requested` runs one unit of work (a replayed dead letter).
 */
import { bindings } from '@ais/contracts-events';
import { AppError } from '@ais/platform-errors';
import type { Logger } from '@ais/platform-logger';
import type { EventConsumer } from '@ais/platform-kafka';
import type { FetchStateStore } from '../data/fetch-state.store';
import type { Fetcher } from '../domain/fetcher';

export interface IntakeDeps {
  store: FetchStateStore;
  fetcher: Fetcher;
  clock: { now(): Date };
  logger: Logger;
  /** New due work: wake the scheduler. */
  kick: () => void;
}

export function subscribeConnections(consumer: EventConsumer, prefix: string, deps: IntakeDeps): void {
  consumer.on(bindings.connection(prefix), async ({ event, meta }) => {
    const p = event.payload;
    if (!p) throw AppError.invalid('unknown_payload', `connection event ${meta.eventType} has no known payload`);
    switch (p.$case) {
      case 'authorized': {
        const a = p.authorized;
        if (!a.connectionId || !a.userId) throw AppError.invalid('missing_ids', 'connection.authorized without connection_id or user_id');
        const previous = a.previousConnectionId ? await deps.store.get(a.previousConnectionId) : null;
        await deps.store.upsertAuthorized(
          {
            _id: a.connectionId,
            userId: a.userId,
            clientId: a.clientId,
            providerId: a.providerId,
            credentialsId: a.credentialsId,
            scopes: a.scopes,
            status: 'active',
            authorizedAt: a.authenticatedAt ?? meta.occurredAt ?? deps.clock.now(),
            ...(a.consentExpiresAt ? { consentExpiresAt: a.consentExpiresAt } : {}),
            ...(a.previousConnectionId ? { previousConnectionId: a.previousConnectionId } : {}),
            ...(a.psuIp ? { psuIp: a.psuIp } : {}),
            backfill: 'pending',
            nextDueAt: deps.clock.now(),
          },
          previous,
        );
        if (previous && previous._id !== a.connectionId) await deps.store.setStatus(previous._id, 'revoked', `renewed by ${a.connectionId}`);
        deps.logger.info({ connectionId: a.connectionId, renewal: Boolean(previous), providerId: a.providerId }, 'connection authorized: post-consent fetch due');
        deps.kick();
        return;
      }
      case 'reauthRequired':
        await deps.store.setStatus(p.reauthRequired.connectionId, 'reauth_required', p.reauthRequired.errorCode || 'reauth_required');
        return;
      case 'consentExpired':
        await deps.store.setStatus(p.consentExpired.connectionId, 'reauth_required', 'consent_expired');
        return;
      case 'revoked':
        await deps.store.setStatus(p.revoked.connectionId, 'revoked', p.revoked.reason || 'revoked');
        return;
      case 'tokenRefreshed':
      case 'consentExpiring':
        return;
    }
  });
}

export function subscribeFetchWork(consumer: EventConsumer, prefix: string, deps: IntakeDeps): void {
  consumer.on(bindings.fetch(prefix), async ({ event, meta }) => {
    const p = event.payload;
    if (!p) throw AppError.invalid('unknown_payload', `fetch event ${meta.eventType} has no known payload`);
    if (p.$case === 'taskWebhook') {
      const w = p.taskWebhook;
      if (!w.taskId) throw AppError.invalid('missing_task_id', 'task webhook without task_id');
      const result = await deps.fetcher.completeTask(w.taskId, 'webhook');
      deps.logger.debug({ taskId: w.taskId, result }, 'task webhook handled');
      return;
    }
    const work = p.fetchRequested;
    if (!work.connectionId) throw AppError.invalid('missing_ids', 'fetch_requested without connection_id');
    const out = await deps.fetcher.runRequested(work);
    deps.logger.info({ connectionId: work.connectionId, kind: work.kind, ok: out?.ok ?? false, reason: work.reason }, 'requested fetch ran');
  });
}
