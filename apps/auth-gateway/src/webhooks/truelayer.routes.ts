/**
 * TrueLayer's Data API v1 webhook (public listener, no API key: TrueLayer calls it, and v1 webhooks are unsigned).
 * The body is only a signal: data-fetcher confirms that it names a task it has pending (CheckWebhook), then the
 * accepted webhook goes to ais.fetch.v1 (key = user id) and data-fetcher reads `results_uri` with its own token.
 * Logs carry the task id and the refusal reason only: never the body, never `results_uri` (its query may identify
 * the task's results).
 */
import { bindings, EVENT_TYPES } from '@ais/contracts-events';
import type { eventsV1 } from '@ais/contracts-proto-ts';
import { z } from '@ais/platform-config';
import { AppError, isAppError } from '@ais/platform-errors';
import { newMeta, type EventProducer } from '@ais/platform-kafka';
import type { Logger } from '@ais/platform-logger';
import { toDate, webhookBodySchema } from '@ais/truelayer-client';
import express, { Router } from 'express';
import type { Downstreams } from '../clients/grpc-clients';

export const WEBHOOK_PATH = '/v1/webhooks/truelayer';

/** Whether Express would route `path` to the webhook (case-insensitive, optional trailing slash). */
export const isWebhookPath = (path: string): boolean => /^\/v1\/webhooks\/truelayer\/?$/i.test(path);

/** The body as this route accepts it (TrueLayer's schema with the lengths the gateway allows); the OpenAPI document's schema too. */
export const webhookBody = webhookBodySchema.extend({
  // an opaque id as data-fetcher's CheckWebhook accepts it (requireIds): refused here, not one hop later
  task_id: z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/),
  results_uri: z.string().max(2000),
  credentials_id: z.string().max(200).optional(),
});

/** Where accepted webhooks are published (the process's one producer and the deployment's topic prefix). */
export interface EventSink {
  producer: Pick<EventProducer, 'publish'>;
  topicPrefix: string;
}

export interface WebhookDeps {
  fetcher: Downstreams['fetcher'];
  events: EventSink;
  logger: Logger;
  bodyLimit: string;
  now?: () => Date;
}

/** data-fetcher's refusal reasons and how TrueLayer is answered (a 4xx stops its retries; a 5xx asks for one). */
const REFUSED: Record<string, { kind: 'not_found' | 'conflict' | 'invalid_argument'; message: string }> = {
  unknown_task: { kind: 'not_found', message: 'no pending task has this task_id' },
  not_pending: { kind: 'conflict', message: 'this task is no longer pending (webhook already received)' },
  results_uri_mismatch: { kind: 'invalid_argument', message: 'results_uri does not match the pending task' },
  credentials_id_mismatch: { kind: 'invalid_argument', message: 'credentials_id does not match the pending task' },
};

/** A refusal reason as a stable code (data-fetcher may add reasons; anything odd collapses to `webhook_refused`). */
const reasonCode = (reason: string): string => (/^[a-z_]{1,64}$/.test(reason) ? reason : 'webhook_refused');

export function webhookRoutes(deps: WebhookDeps): Router {
  const router = Router({ caseSensitive: true });
  const now = deps.now ?? (() => new Date());
  const binding = bindings.fetch(deps.events.topicPrefix);

  router.post(WEBHOOK_PATH, express.json({ limit: deps.bodyLimit }), async (req, res) => {
    const parsed = webhookBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      deps.logger.warn({ reason: 'invalid_body' }, 'TrueLayer webhook refused');
      throw AppError.invalid(
        'invalid_webhook',
        'the webhook body is not a Data API v1 webhook',
        parsed.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', description: i.message })),
      );
    }
    const w = parsed.data;
    const receivedAt = now();

    let answer: { accepted: boolean; reason: string; connectionId: string; userId: string };
    try {
      answer = await deps.fetcher.checkWebhook({ taskId: w.task_id, resultsUri: w.results_uri, credentialsId: w.credentials_id ?? '', status: w.status });
    } catch (error) {
      deps.logger.warn({ taskId: w.task_id, errCode: isAppError(error) ? error.code : 'grpc_error' }, 'TrueLayer webhook not checked: data-fetcher did not answer');
      throw unavailableOr(error, 'fetcher_unavailable', 'data-fetcher could not check the webhook; retry later');
    }
    if (!answer.accepted) {
      const code = reasonCode(answer.reason);
      deps.logger.warn({ taskId: w.task_id, reason: code }, 'TrueLayer webhook refused');
      const refused = REFUSED[code] ?? { kind: 'invalid_argument' as const, message: 'the webhook does not match a pending task' };
      throw new AppError({ code, message: refused.message, kind: refused.kind });
    }
    if (!answer.userId) throw AppError.internal('data-fetcher accepted a webhook without naming its user');

    const event: eventsV1.FetchEvent = {
      meta: newMeta('auth-gateway', EVENT_TYPES.fetchTaskWebhook, 1, w.task_id),
      payload: {
        $case: 'taskWebhook',
        taskWebhook: {
          taskId: w.task_id,
          resultsUri: w.results_uri,
          credentialsId: w.credentials_id ?? '',
          status: w.status,
          error: w.error ?? '',
          errorDescription: w.error_description ?? '',
          requestTimestamp: toDate(w.request_timestamp),
          receivedAt,
          connectionId: answer.connectionId,
          userId: answer.userId,
        },
      },
    };
    try {
      await deps.events.producer.publish(binding, [event]);
    } catch (error) {
      deps.logger.warn({ taskId: w.task_id, errCode: isAppError(error) ? error.code : 'kafka_error' }, 'TrueLayer webhook not queued: publish failed');
      throw unavailableOr(error, 'event_bus_unavailable', 'the webhook could not be queued; retry later');
    }
    deps.logger.info({ taskId: w.task_id, connectionId: answer.connectionId, status: w.status }, 'TrueLayer webhook accepted');
    res.status(202).json({ accepted: true });
  });

  return router;
}

/**
 * A downstream that cannot answer now becomes 503 so TrueLayer retries; a definite downstream error (e.g.
 * invalid_argument from data-fetcher) is passed on as it is.
 */
function unavailableOr(error: unknown, code: string, message: string): AppError {
  if (isAppError(error) && error.kind !== 'unavailable' && error.kind !== 'deadline_exceeded' && error.kind !== 'internal') return error;
  return new AppError({ code, message, kind: 'unavailable', retryAfterMs: 30_000, cause: error });
}
