import { headersToRecord } from './consumer';
import { headersFor, newMeta } from './producer';

describe('kafka headers', () => {
  it('carries the envelope in headers and reads Buffer, string and array values back', () => {
    const meta = newMeta('svc', 'x.happened', 2, 'corr');
    const headers = headersFor(meta);
    expect(headers).toMatchObject({ 'ais-event-id': meta.eventId, 'ais-event-type': 'x.happened', 'ais-schema-version': '2', 'ais-producer': 'svc' });
    expect(headersToRecord({ a: Buffer.from('1'), b: '2', c: [Buffer.from('3'), Buffer.from('4')], d: undefined })).toEqual({ a: '1', b: '2', c: '3' });
  });
});
