/**
 * data-fetcher's Kafka intake besides diagnostics:
 * - ais.connection.v1: `authorized` records the connection and makes its post-consent fetch due now (a renewal
 *   inherits what was synced, so it fetches only what is new); `reauth_required`, `consent_expired` and `revoked`
 *   stop its scheduling.
 * - ais.fetch.v1 (key = user id): accepted TrueLayer webhooks (the gateway checked the task with us first) read
 *   the task's results; `fetch_requested` runs one unit of work (a replayed dead letter); `user_erasure` (from
 *   token-vault, which already deleted the tokens) deletes this service's state of the connections and passes the
 *   erasure on to ais.raw.v1 under the same key, behind every raw event already published for the user.
 */
import { bindings, EVENT_TYPES } from '@ais/contracts-events';
import { eventsV1, type erasureV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import type { Logger } from '@ais/platform-logger';
import { newMeta, type EventConsumer } from '@ais/platform-kafka';
import { activeTraceparent } from '@ais/platform-telemetry';
import type { FetchStateStore } from '../data/fetch-state.store';
import type { Fetcher } from '../domain/fetcher';
import { postConsentWindowMs } from '../domain/plan';

export interface IntakeDeps {
  store: FetchStateStore;
  fetcher: Fetcher;
  clock: { now(): Date };
  logger: Logger;
  /** New due work: wake the scheduler. */
  kick: () => void;
  /** The post-consent (SCA) window, before the per-provider exceptions of plan.ts (POST_CONSENT_WINDOW_MS). */
  postConsentWindowMs: number;
  /** Erasure: the unattended-call slots of connections, and where the erasure goes next (ais.raw.v1). */
  budget?: { deleteConnections(ids: readonly string[]): Promise<number> };
  raw?: { publish(events: eventsV1.RawDataEvent[]): Promise<void> };
}

/** Deletes data-fetcher's state of an erasure's connections (all of the user's for a user request) and forwards it. */
export async function handleErasure(deps: IntakeDeps, e: erasureV1.UserErasure): Promise<void> {
  if (!e.erasureId || !e.userId || !e.clientId) throw AppError.invalid('missing_ids', 'user_erasure without erasure_id, user_id or client_id');
  if (!deps.raw) throw new Error('data-fetcher intake has no raw sink for erasures');
  const out = await deps.store.erase(e.clientId, e.userId, e.connectionIds, e.reason === 'user_request');
  const slots = (await deps.budget?.deleteConnections(out.connectionIds)) ?? 0;
  const forwarded: erasureV1.UserErasure = {
    ...e,
    connectionIds: [...new Set([...e.connectionIds, ...out.connectionIds])],
    steps: [...e.steps, { service: 'data-fetcher', documentsDeleted: String(out.documents + slots), completedAt: deps.clock.now(), detail: `${out.connectionIds.length} connections' fetch state` }],
  };
  await deps.raw.publish([
    eventsV1.RawDataEvent.fromPartial({ meta: newMeta('data-fetcher', EVENT_TYPES.rawErasure, 1, e.erasureId), userId: e.userId, clientId: e.clientId, payload: { $case: 'erasure', erasure: forwarded } }),
  ]);
  deps.logger.info({ erasureId: e.erasureId, reason: e.reason, connections: out.connectionIds.length, documents: out.documents + slots }, 'erasure: fetch state deleted; passed on to ais.raw.v1');
}

export function subscribeConnections(consumer: EventConsumer, prefix: string, deps: IntakeDeps): void {
  consumer.on(bindings.connection(prefix), async ({ event, meta }) => {
    const p = event.payload;
    if (!p) throw AppError.invalid('unknown_payload', `connection event ${meta.eventType} has no known payload`);
    switch (p.$case) {
      case 'authorized': {
        const a = p.authorized;
        if (!a.connectionId || !a.userId) throw AppError.invalid('missing_ids', 'connection.authorized without connection_id or user_id');
        // an authorized event delivered after the connection's erasure (another partition) must not bring it back
        if (await deps.store.isErased(a.connectionId)) {
          deps.logger.info({ connectionId: a.connectionId }, 'connection.authorized for an erased connection; ignored');
          return;
        }
        const previous = a.previousConnectionId ? await deps.store.get(a.previousConnectionId) : null;
        const authorizedAt = a.authenticatedAt ?? meta.occurredAt ?? deps.clock.now();
        // this event's span: the post-consent fetch runs later, from a scheduler tick, and continues this trace
        const consentTrace = activeTraceparent();
        await deps.store.upsertAuthorized(
          {
            _id: a.connectionId,
            userId: a.userId,
            clientId: a.clientId,
            providerId: a.providerId,
            credentialsId: a.credentialsId,
            scopes: a.scopes,
            status: 'active',
            authorizedAt,
            scaDeadline: new Date(authorizedAt.getTime() + postConsentWindowMs(a.providerId, deps.postConsentWindowMs)),
            ...(a.consentExpiresAt ? { consentExpiresAt: a.consentExpiresAt } : {}),
            ...(a.previousConnectionId ? { previousConnectionId: a.previousConnectionId } : {}),
            ...(a.psuIp ? { psuIp: a.psuIp } : {}),
            ...(consentTrace ? { consentTrace } : {}),
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
    if (p.$case === 'userErasure') {
      await handleErasure(deps, p.userErasure);
      return;
    }
    const work = p.fetchRequested;
    if (!work.connectionId) throw AppError.invalid('missing_ids', 'fetch_requested without connection_id');
    const out = await deps.fetcher.runRequested(work);
    deps.logger.info({ connectionId: work.connectionId, kind: work.kind, ok: out?.ok ?? false, reason: work.reason }, 'requested fetch ran');
  });
}
