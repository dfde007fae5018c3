import { AppError, dispositionOf, fromGrpcStatus, GrpcCode, toGrpcStatus, toProblem } from './index';

describe('AppError mapping', () => {
  it('maps an invalid-argument error to problem JSON with field violations', () => {
    const err = AppError.invalid('invalid_user_id', 'user_id must be 1..128 characters', [
      { field: 'user_id', description: 'too long' },
    ]);
    const problem = toProblem(err, { instance: '/v1/users/x', traceId: 'abc' });
    expect(problem).toMatchObject({
      status: 400,
      code: 'invalid_user_id',
      detail: 'user_id must be 1..128 characters',
      instance: '/v1/users/x',
      trace_id: 'abc',
      errors: [{ field: 'user_id', description: 'too long' }],
    });
  });

  it('has HTTP-only kinds for a body over the limit (413) and an unsupported media type (415)', () => {
    const big = new AppError({ code: 'body_too_large', message: 'request body too large', kind: 'payload_too_large' });
    const type = new AppError({ code: 'unsupported_media_type', message: 'the request body must be application/json', kind: 'unsupported_media_type' });
    expect([big.httpStatus, type.httpStatus]).toEqual([413, 415]);
    expect(toProblem(type)).toMatchObject({ status: 415, title: 'Unsupported media type', code: 'unsupported_media_type', detail: 'the request body must be application/json' });
    expect(toProblem(big)).toMatchObject({ status: 413, title: 'Payload too large' });
    expect([big.grpcCode, type.grpcCode]).toEqual([GrpcCode.INVALID_ARGUMENT, GrpcCode.INVALID_ARGUMENT]);
    expect(big.retriable).toBe(false);
  });

  it('never leaks the message of an unknown error', () => {
    const problem = toProblem(new Error('password=hunter2 at db'));
    expect(problem.status).toBe(500);
    expect(JSON.stringify(problem)).not.toContain('hunter2');
    expect(toGrpcStatus(new Error('password=hunter2')).details).toBe('internal error');
  });

  it('round-trips through gRPC status and metadata', () => {
    const err = new AppError({
      code: 'budget_exhausted',
      message: 'no unattended calls left',
      kind: 'rate_limited',
      details: { account: 'a1' },
    });
    const status = toGrpcStatus(err);
    expect(status.code).toBe(GrpcCode.RESOURCE_EXHAUSTED);
    const back = fromGrpcStatus(status.code, status.details, status.metadata);
    expect(back).toMatchObject({ code: 'budget_exhausted', kind: 'rate_limited', retriable: true, details: { account: 'a1' } });
  });

  it('retries retriable errors and dead-letters everything else', () => {
    expect(dispositionOf(AppError.unavailable('mongo_down', 'db down'))).toBe('retry');
    expect(dispositionOf(AppError.invalid('bad', 'bad payload'))).toBe('dead-letter');
    expect(dispositionOf(new TypeError('boom'))).toBe('dead-letter');
    expect(dispositionOf(new AppError({ code: 'x', message: 'x', kind: 'internal', retriable: true }))).toBe('retry');
  });
});
