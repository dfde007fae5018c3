import { bindings } from '@ais/contracts-events';
import { AppError } from '@ais/platform-errors';
import type { EventConsumer } from '@ais/platform-kafka';
import type { ProbeRepository } from '../data/probe.model';

export function subscribeDiagnostics(consumer: EventConsumer, probes: ProbeRepository, prefix: string): void {
  consumer.on(bindings.diagnostics(prefix), async ({ event, meta }) => {
    if (event.payload?.$case !== 'probeRequested') {
      throw AppError.invalid('unknown_payload', `diagnostics event ${meta.eventType} has no known payload`);
    }
    const p = event.payload.probeRequested;
    if (!p.probeId) throw AppError.invalid('missing_probe_id', 'probe event without probe_id');
    await probes.record({ probeId: p.probeId, origin: p.origin, eventId: meta.eventId, requestedAt: p.requestedAt ?? meta.occurredAt ?? new Date() });
  });
}
