import { eventsV1 } from './index';
import { encodeMessage } from './protobuf-writer';

describe('one protobuf writer (protobuf-writer.ts)', () => {
  it('encodes through the shared writer to the same bytes as a fresh one, each result its own, also after a failed encode', () => {
    const meta = (eventId: string): eventsV1.EventMeta => ({ eventId, occurredAt: new Date('2026-01-02T03:04:05Z'), schemaVersion: 1, producer: 'test', eventType: 'diagnostics.probe_requested', correlationId: '' });
    const probe = (id: string, origin: string): eventsV1.DiagnosticsEvent => ({ meta: meta(`e-${id}`), payload: { $case: 'probeRequested', probeRequested: { probeId: id, origin, requestedAt: new Date('2026-01-02T03:04:05Z') } } });
    // a large event first (grows the writer), then a small one: the small one's bytes must not carry the large one's tail
    const large = probe('p-1', 'x'.repeat(5_000));
    const small = probe('p-2', 'y');
    const a = encodeMessage(eventsV1.DiagnosticsEvent, large);
    const b = encodeMessage(eventsV1.DiagnosticsEvent, small);
    expect(Buffer.isBuffer(a)).toBe(true);
    expect(a.equals(Buffer.from(eventsV1.DiagnosticsEvent.encode(large).finish()))).toBe(true);
    expect(b.equals(Buffer.from(eventsV1.DiagnosticsEvent.encode(small).finish()))).toBe(true);
    // the first result was not overwritten by the second encode
    expect(eventsV1.DiagnosticsEvent.decode(a)).toEqual(large);
    expect(a.buffer).not.toBe(b.buffer);
    // an encode that throws part-way (an int32 field out of range) leaves the next one correct
    expect(() => encodeMessage(eventsV1.DiagnosticsEvent, { ...small, meta: { ...meta('e-bad'), schemaVersion: 2 ** 40 } })).toThrow(/int32/);
    expect(encodeMessage(eventsV1.DiagnosticsEvent, small).equals(b)).toBe(true);
  });
});
