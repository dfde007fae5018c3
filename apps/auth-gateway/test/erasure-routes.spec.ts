/**
 * The erasure routes: DELETE /v1/users/{id} deletes the gateway's sessions of the user, asks token-vault to erase
 * (the caller's client id, never another's), and answers 202 with the status resource; the status says in_progress
 * until reconciliation logged the erasure, completed with the steps after, and 404 for an id this client did not get
 * for this user. Every answer is no-store; bad ids are 400 problem JSON.
 */
import { erasureV1 } from '@ais/contracts-proto-ts';
import { AppError } from '@ais/platform-errors';
import request from 'supertest';
import { openApiDocument } from '../src/api/openapi';
import { harness, type Harness } from './harness';

const ERASURE_ID = '3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b';

describe('erasure routes', () => {
  let h: Harness;
  let auth: { authorization: string };
  let clientId = '';
  let logged: erasureV1.UserErasure | undefined;
  const eraseUser = jest.fn(async (r: { clientId: string; userId: string }) => ({ erasureId: ERASURE_ID, connectionsDeleted: r.userId === 'user-1' ? 2 : 0, deletedAtTruelayer: r.userId === 'user-1' ? 1 : 0, requestedAt: new Date('2026-11-25T12:00:00Z') }));
  const getErasure = jest.fn(async (r: { clientId: string; erasureId: string }) => {
    if (!logged || r.erasureId !== logged.erasureId || r.clientId !== logged.clientId) throw AppError.notFound('erasure_not_found', 'not yet');
    return { erasure: logged };
  });

  beforeEach(async () => {
    h = harness();
    (h.tv as unknown as { eraseUser: typeof eraseUser }).eraseUser = eraseUser;
    (h.deps.downstreams.tokenVault as unknown as { eraseUser: typeof eraseUser }).eraseUser = eraseUser;
    (h.deps.downstreams as { reconciliation?: unknown }).reconciliation = { getErasure };
    eraseUser.mockClear();
    logged = undefined;
    const c = await h.newClient();
    clientId = c.clientId;
    auth = { authorization: `Bearer ${c.key}` };
  });

  it('DELETE: sessions of the user go, token-vault erases for this client, 202 with the status location', async () => {
    const now = new Date(h.clock.now);
    const session = { _id: 'sid-1', clientId, userId: 'user-1', expiresAt: new Date(now.getTime() + 60_000) };
    await h.sessions.create({ ...session, consumedAt: null } as never);
    await h.sessions.create({ ...session, _id: 'sid-2', userId: 'user-2', consumedAt: null } as never);
    const res = await request(h.pub).delete('/v1/users/user-1').set(auth).expect(202);
    expect(eraseUser).toHaveBeenCalledWith({ clientId, userId: 'user-1' });
    expect(res.body).toEqual({ erasure_id: ERASURE_ID, status: 'in_progress', requested_at: '2026-11-25T12:00:00.000Z', connections_deleted: 2, deleted_at_truelayer: 1 });
    expect(res.headers['location']).toBe(`/v1/users/user-1/erasures/${ERASURE_ID}`);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(await h.sessions.peek('sid-1')).toBeNull();
    expect(await h.sessions.peek('sid-2')).not.toBeNull();
  });

  it('status: in_progress until reconciliation logged it, then completed with every step; 404 for other users and clients', async () => {
    await request(h.pub).delete('/v1/users/user-1').set(auth).expect(202);
    const pending = await request(h.pub).get(`/v1/users/user-1/erasures/${ERASURE_ID}`).set(auth).expect(200);
    expect(pending.body).toEqual({ erasure_id: ERASURE_ID, status: 'in_progress' });
    await request(h.pub).get(`/v1/users/user-2/erasures/${ERASURE_ID}`).set(auth).expect(404);
    const other = await h.newClient();
    await request(h.pub).get(`/v1/users/user-1/erasures/${ERASURE_ID}`).set({ authorization: `Bearer ${other.key}` }).expect(404);

    logged = {
      erasureId: ERASURE_ID,
      userId: 'user-1',
      clientId,
      reason: 'user_request',
      connectionIds: ['conn-1'],
      accountIds: ['acc-1'],
      requestedAt: new Date('2026-11-25T12:00:00Z'),
      steps: [
        { service: 'token-vault', documentsDeleted: '2', completedAt: new Date('2026-11-25T12:00:01Z'), detail: '' },
        { service: 'reconciliation', documentsDeleted: '1200', completedAt: new Date('2026-11-25T12:00:03Z'), detail: '1 accounts' },
      ],
    };
    const done = await request(h.pub).get(`/v1/users/user-1/erasures/${ERASURE_ID}`).set(auth).expect(200);
    expect(done.body).toMatchObject({ erasure_id: ERASURE_ID, status: 'completed', reason: 'user_request', connection_ids: ['conn-1'], account_ids: ['acc-1'] });
    expect(done.body.steps).toEqual([
      { service: 'token-vault', documents_deleted: 2, completed_at: '2026-11-25T12:00:01.000Z', detail: '' },
      { service: 'reconciliation', documents_deleted: 1200, completed_at: '2026-11-25T12:00:03.000Z', detail: '1 accounts' },
    ]);
    // the log names its user: another user's path does not reveal it
    await request(h.pub).get(`/v1/users/user-2/erasures/${ERASURE_ID}`).set(auth).expect(404);
  });

  it('bad input and missing keys: problem JSON, nothing erased', async () => {
    const bad = await request(h.pub).get('/v1/users/user-1/erasures/not-a-uuid').set(auth).expect(400);
    expect(bad.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(bad.body).toMatchObject({ code: 'invalid_erasure_id' });
    await request(h.pub).delete('/v1/users/user-1').expect(401);
    expect(eraseUser).not.toHaveBeenCalled();
  });

  it('both routes are in the OpenAPI document', () => {
    const paths = openApiDocument.paths as Record<string, Record<string, unknown>>;
    expect(paths['/v1/users/{userId}']?.['delete']).toMatchObject({ operationId: 'eraseUser' });
    expect(paths['/v1/users/{userId}/erasures/{erasureId}']?.['get']).toMatchObject({ operationId: 'getErasure' });
  });
});
