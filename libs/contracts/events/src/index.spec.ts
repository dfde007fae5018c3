import { eventsV1 } from '@ais/contracts-proto-ts';
import { EVENT_TYPES, TOPICS, topicName } from './index';

describe('event contracts', () => {
  it('keeps topic names unique, versioned and prefixable', () => {
    const names = Object.values(TOPICS);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^ais\.[a-z]+\.v\d+$/);
    expect(topicName(TOPICS.raw, 'staging')).toBe('staging.ais.raw.v1');
    expect(topicName(TOPICS.raw)).toBe('ais.raw.v1');
  });

  it('round-trips an event with its envelope through protobuf bytes', () => {
    const occurredAt = new Date('2026-01-02T03:04:05.678Z');
    const event: eventsV1.DiagnosticsEvent = {
      meta: {
        eventId: 'e-1',
        occurredAt,
        schemaVersion: 1,
        producer: 'token-vault',
        eventType: EVENT_TYPES.probeRequested,
        correlationId: 'c-1',
      },
      payload: { $case: 'probeRequested', probeRequested: { probeId: 'p-1', origin: 'test', requestedAt: occurredAt } },
    };
    const bytes = eventsV1.DiagnosticsEvent.encode(event).finish();
    expect(eventsV1.DiagnosticsEvent.decode(bytes)).toEqual(event);
  });
});
