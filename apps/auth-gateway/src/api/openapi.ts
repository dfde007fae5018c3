/**
 * OpenAPI 3.1 description of the public /v1 API, served at GET /v1/openapi.json. Paths, operations, descriptions and
 * examples are written here (read API: read.openapi.ts); every request body, path, query and header parameter
 * schema is generated from the zod schema its route validates with (openapi-zod.ts), so the document and the
 * server cannot disagree on a limit. Response schemas are written by hand: the routes build their JSON without a
 * zod schema (test/openapi.spec.ts checks them against the routes' answers).
 */
import { AppError, toProblem } from '@ais/platform-errors';
import { callbackParams } from '../connect/pages.routes';
import { OVERVIEW_LINK_TTL, overviewLinkBody } from '../overview/overview.routes';
import { webhookBody } from '../webhooks/truelayer.routes';
import { fromZod, headerParam, pathParam, queryParams } from './openapi-zod';
import { readApiPaths, readApiSchemas } from './read.openapi';
import { connectionIdParam, connectSessionBody, psuIp, reconsentBody, refreshBody, userIdParam } from './v1.routes';

const problem = { $ref: '#/components/responses/Problem' };
const userId = pathParam('userId', userIdParam);
const connectionId = pathParam('connectionId', connectionIdParam);
/** What every API-key route can answer besides its own statuses. */
const errors = { '400': problem, '401': problem, '403': problem, '404': problem, '429': problem, '503': problem, '504': problem };
const json = (ref: string, example?: unknown) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${ref}` }, ...(example === undefined ? {} : { example }) } });
const PAGE_EXAMPLE = '<!doctype html><html lang="en"><head><title>Connection cancelled</title></head><body data-outcome="cancelled">…</body></html>';
const html = (description: string) => ({ description, content: { 'text/html': { schema: { type: 'string' }, example: PAGE_EXAMPLE } } });
/** The callback's redirect to the bounce page. */
const toBounce = { description: 'To the bounce page', headers: { Location: { description: 'The bounce page of this auth.', schema: { type: 'string' }, example: '/bounce/b_Q2xpZW50LWV4YW1wbGU' } } };
const exampleConnection = {
  connection_id: 'conn_6c1f9a2e',
  user_id: 'user-8412',
  provider_id: 'ob-lloyds',
  status: 'active',
  scopes: ['info', 'accounts', 'balance', 'transactions', 'offline_access'],
  consent_created_at: '2026-02-01T10:00:00.000Z',
  consent_expires_at: '2026-05-02T10:00:00.000Z',
  days_left: 87,
  reconsent_due: false,
  previous_connection_id: null,
  created_at: '2026-02-01T10:00:00.000Z',
  updated_at: '2026-02-04T06:00:00.000Z',
};
const exampleSession = { session_id: 'cs_3f8e2b1a', url: 'https://gateway.example.com/connect/cs_3f8e2b1a', expires_at: '2026-02-04T10:15:00.000Z' };
/** A page, or problem JSON when the request could not be read (a bad form, Content-Encoding or path). */
const pageOrProblem = (description: string) => ({
  description,
  content: { 'text/html': { schema: { type: 'string' }, example: PAGE_EXAMPLE }, 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' }, example: PROBLEM_EXAMPLE } },
});
/** What the server answers for a bad body (built by the same function). */
const PROBLEM_EXAMPLE = toProblem(AppError.invalid('invalid_body', 'the request body is invalid', [{ field: 'dialog', description: 'Invalid option: expected one of "truelayer"|"hosted"' }]), {
  instance: '/v1/users/user-8412/connect-sessions',
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
});

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'AIS platform auth-gateway',
    version: '1.0.0',
    description:
      'The public edge of the account-information platform. Authenticate with `Authorization: Bearer <api key>`. A key only sees its own users. Errors are RFC 9457 problem JSON. Rate limits are per key per minute (429 with Retry-After).',
  },
  servers: [{ url: '/' }],
  security: [{ apiKey: [] }],
  paths: {
    '/v1/openapi.json': { get: { operationId: 'getOpenApi', security: [], summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1 document', content: { 'application/json': { schema: { type: 'object' }, example: { openapi: '3.1.0', info: { title: 'AIS platform auth-gateway', version: '1.0.0' }, paths: {} } } } } } } },
    '/v1/users/{userId}/connect-sessions': {
      post: {
        operationId: 'createConnectSession',
        summary: "Start connecting a user's bank",
        description:
          "`dialog: truelayer` returns TrueLayer's auth-dialog link (option 1). `dialog: hosted` returns our hosted bank picker and permission screen (option 2), which then sends the user to the chosen bank with `provider_id`. Send the user's browser to `url`; it ends on our bounce page, which returns to `return_url`.",
        parameters: [userId],
        requestBody: { required: true, content: json('ConnectSessionRequest', { dialog: 'hosted', return_url: 'https://app.budgetly.example/connected' }) },
        responses: { '201': { description: 'Session created', content: json('ConnectSession', exampleSession) }, ...errors },
      },
    },
    '/v1/users/{userId}/connections': {
      get: { operationId: 'listConnections', summary: "A user's connections", parameters: [userId], responses: { '200': { description: 'Connections', content: json('ConnectionList', { connections: [exampleConnection] }) }, ...errors } },
    },
    '/v1/users/{userId}/connections/{connectionId}': {
      get: { operationId: 'getConnection', parameters: [userId, connectionId], responses: { '200': { description: 'The connection', content: json('Connection', exampleConnection) }, ...errors } },
      delete: { operationId: 'revokeConnection', summary: 'Revoke: deletes the connection at TrueLayer and purges its tokens', parameters: [userId, connectionId], responses: { '200': { description: 'Revoked', content: json('Connection', { ...exampleConnection, status: 'revoked', days_left: 0 }) }, ...errors } },
    },
    '/v1/users/{userId}/connections/{connectionId}/reconsent': {
      post: {
        operationId: 'startReconsent',
        summary: 'Renew consent',
        description:
          'Extends in place when `user_reconfirmed` is true and the bank allows it (`outcome: extended`); otherwise returns a reauth link (`outcome: reauth`) or a new connect session whose state carries the old connection (`outcome: new_auth`). With `dialog: hosted` and no `user_reconfirmed`, returns our own re-consent page (`outcome: confirm`) where the user reconfirms.',
        parameters: [userId, connectionId],
        requestBody: { required: false, content: json('ReconsentRequest', { user_reconfirmed: true, user_ip: '203.0.113.9', return_url: 'https://app.budgetly.example/connected' }) },
        responses: {
          '200': { description: 'Extended', content: json('ReconsentExtended', { outcome: 'extended', connection: { ...exampleConnection, consent_expires_at: '2026-05-05T09:00:00.000Z', days_left: 90 } }) },
          '201': { description: 'User action needed', content: json('ReconsentLink', { outcome: 'reauth', ...exampleSession, url: 'https://auth.truelayer.com/?response_type=code&client_id=example' }) },
          ...errors,
        },
      },
    },
    '/v1/users/{userId}/connections/{connectionId}/refresh': {
      post: {
        operationId: 'refreshConnection',
        summary: 'Refresh now, for a present user (SYNC)',
        description:
          "Reads every data kind of the connection now, while your end user waits, outside TrueLayer's unattended limit (the bank is told the user is present). Call it only when the user is present in your product and asked for the refresh (opened the app, pulled to refresh). Pass **their** IP address: `X-PSU-IP` header or body `user_ip` (one of them; both must agree). Never send a server's IP and never make one up; without the user's IP the answer is 400 `psu_ip_required`. Background updates need no call: the platform refreshes connections on its own schedule. Concurrent refreshes of one connection are coalesced (`coalesced: true`). Each item carries TrueLayer's correlation id to quote to support.",
        parameters: [
          userId,
          connectionId,
          headerParam('X-PSU-IP', psuIp, "The present end user's IPv4 or IPv6 address (or body `user_ip`)."),
        ],
        requestBody: { required: false, content: json('RefreshRequest', { user_ip: '203.0.113.9' }) },
        responses: {
          '200': {
            description: 'What the refresh read',
            content: json('RefreshResult', {
              connection_id: 'conn_6c1f9a2e',
              fetch_id: 'f_7d2c',
              started_at: '2026-02-04T09:00:00.000Z',
              finished_at: '2026-02-04T09:00:02.400Z',
              coalesced: false,
              items: [
                { kind: 'accounts', account_id: null, is_card: false, outcome: 'ok', items: 2, error_code: null, correlation_id: 'b1946ac9-2a3e-4f3e-8c1d-7e9f0a1b2c3d' },
                { kind: 'transactions', account_id: 'acc_91b7', is_card: false, outcome: 'ok', items: 37, error_code: null, correlation_id: 'c2a57bd0-3b4f-4a4f-9d2e-8f0a1b2c3d4e' },
              ],
            }),
          },
          '409': problem,
          ...errors,
        },
      },
    },
    '/v1/users/{userId}/overview-links': {
      post: {
        operationId: 'createOverviewLink',
        summary: "A short-lived link to the user's connection overview page",
        description: `Returns a link to our hosted overview page for this user: accounts and cards with balances, a balance-history chart, spending by category for a chosen month, recurring payments with next expected dates, recent transactions with search, consent status with days left (a re-consent banner when it is near its end), and a "Disconnect" button per bank, which revokes the connection like \`DELETE /v1/users/{userId}/connections/{connectionId}\`. The link is sealed (the user id is not readable in it), names this user of your API client only, and works for \`ttl_seconds\` (default ${OVERVIEW_LINK_TTL.defaultSeconds}, at most ${OVERVIEW_LINK_TTL.maxSeconds}); after that the page answers 410, a tampered link 403. Ask for a new link each time the user opens the page, and do not log or share it: whoever holds it sees the user's data until it expires.`,
        parameters: [userId],
        requestBody: { required: false, content: { 'application/json': { schema: { $ref: '#/components/schemas/OverviewLinkRequest' }, example: { ttl_seconds: 600 } } } },
        responses: {
          '201': {
            description: 'The link',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/OverviewLink' }, example: { url: 'https://connect.example.com/overview/AcY2k0rT9mXq3vLwE8nB1sJ5uHf7GpDz4KcNa6WyQe2iOt', expires_at: '2026-11-25T12:15:00.000Z' } } },
          },
          ...errors,
        },
      },
    },
    '/v1/webhooks/truelayer': {
      post: {
        operationId: 'trueLayerWebhook',
        security: [],
        summary: "TrueLayer's Data API v1 webhook (TrueLayer only)",
        description:
          'Called by TrueLayer when an async data request finishes. No API key (Data API v1 webhooks are unsigned): the body is accepted only when data-fetcher has that task pending for that connection, and it is only a signal: the results are read with our own token. 404 `unknown_task`, 409 `not_pending` (replayed), 400 invalid or mismatching body, 503 when it cannot be checked now (TrueLayer retries).',
        requestBody: {
          required: true,
          content: json('TrueLayerWebhook', {
            request_timestamp: '2026-02-04T09:00:00Z',
            request_uri: 'https://api.truelayer.com/data/v1/accounts/acc-1/transactions',
            results_uri: 'https://api.truelayer.com/data/v1/results/task-1',
            credentials_id: 'cred-1',
            task_id: 'task-1',
            status: 'Succeeded',
          }),
        },
        responses: { '202': { description: 'Accepted', content: { 'application/json': { schema: { type: 'object', properties: { accepted: { const: true } } }, example: { accepted: true } } } }, '400': problem, '404': problem, '409': problem, '503': problem },
      },
    },
    '/v1/callback': {
      get: {
        operationId: 'authCallbackQuery',
        security: [],
        summary: "TrueLayer's redirect back (query). Browser only.",
        parameters: queryParams(callbackParams),
        responses: { '303': toBounce, '200': html('Outcome page (cancelled)'), '400': pageOrProblem('Rejected or missing state (page); an unreadable request (problem JSON)'), '410': html('Expired state'), '502': html('The bank, TrueLayer or the code exchange failed') },
      },
      post: {
        operationId: 'authCallbackFormPost',
        security: [],
        summary: "TrueLayer's redirect back (response_mode=form_post). Browser only.",
        requestBody: { required: true, content: { 'application/x-www-form-urlencoded': { schema: fromZod(callbackParams), example: { code: 'example-code', state: 'example-state' } } } },
        responses: { '303': toBounce, '200': html('Outcome page (cancelled)'), '400': pageOrProblem('Rejected or missing state (page); an unreadable form (problem JSON)'), '410': html('Expired state'), '502': html('The bank, TrueLayer or the code exchange failed') },
      },
    },
    ...readApiPaths,
  },
  components: {
    securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'API key `ais_<client>_<secret>` issued once by the operator.' } },
    responses: { Problem: { description: 'RFC 9457 problem', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' }, example: PROBLEM_EXAMPLE } } } },
    schemas: {
      Problem: {
        type: 'object',
        required: ['type', 'title', 'status', 'detail', 'code'],
        properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, code: { type: 'string' }, instance: { type: 'string' }, trace_id: { type: 'string' }, retry_after_ms: { type: 'integer' }, errors: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, description: { type: 'string' } } } } },
      },
      ConnectSessionRequest: fromZod(connectSessionBody),
      ConnectSession: { type: 'object', required: ['session_id', 'url', 'expires_at'], properties: { session_id: { type: 'string' }, url: { type: 'string', format: 'uri' }, expires_at: { type: 'string', format: 'date-time' } } },
      Connection: {
        type: 'object',
        properties: {
          connection_id: { type: 'string' },
          user_id: { type: 'string' },
          provider_id: { type: 'string' },
          status: { enum: ['active', 'reauth_required', 'expired', 'revoked', 'unknown'] },
          scopes: { type: 'array', items: { type: 'string' } },
          consent_created_at: { type: ['string', 'null'], format: 'date-time' },
          consent_expires_at: { type: ['string', 'null'], format: 'date-time' },
          days_left: { type: 'integer' },
          reconsent_due: { type: 'boolean' },
          previous_connection_id: { type: ['string', 'null'] },
          created_at: { type: ['string', 'null'], format: 'date-time' },
          updated_at: { type: ['string', 'null'], format: 'date-time' },
        },
      },
      ConnectionList: { type: 'object', properties: { connections: { type: 'array', items: { $ref: '#/components/schemas/Connection' } } } },
      ReconsentRequest: fromZod(reconsentBody),
      RefreshRequest: fromZod(refreshBody),
      RefreshResult: {
        type: 'object',
        required: ['connection_id', 'fetch_id', 'coalesced', 'items'],
        properties: {
          connection_id: { type: 'string' },
          fetch_id: { type: 'string', description: 'Shared by the data events this refresh produced.' },
          started_at: { type: ['string', 'null'], format: 'date-time' },
          finished_at: { type: ['string', 'null'], format: 'date-time' },
          coalesced: { type: 'boolean', description: 'True when this call joined a refresh that was already running.' },
          items: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                kind: { enum: ['identity', 'accounts', 'cards', 'transactions', 'pending_transactions', 'balance', 'standing_orders', 'direct_debits'] },
                account_id: { type: ['string', 'null'], description: 'Null for connection-level kinds.' },
                is_card: { type: 'boolean' },
                outcome: { enum: ['ok', 'not_supported', 'skipped', 'failed'] },
                items: { type: 'integer' },
                error_code: { type: ['string', 'null'], description: "TrueLayer's error code when it failed." },
                correlation_id: { type: ['string', 'null'], description: "TrueLayer's X-TL-Correlation-Id, to quote to support." },
              },
            },
          },
        },
      },
      TrueLayerWebhook: fromZod(webhookBody),
      OverviewLinkRequest: fromZod(overviewLinkBody),
      OverviewLink: {
        type: 'object',
        required: ['url', 'expires_at'],
        properties: { url: { type: 'string', format: 'uri', description: 'Open it in the user\'s browser or a web view. Secret until it expires.' }, expires_at: { type: 'string', format: 'date-time' } },
      },
      ReconsentExtended: { type: 'object', properties: { outcome: { const: 'extended' }, connection: { $ref: '#/components/schemas/Connection' } } },
      ReconsentLink: { type: 'object', description: '`confirm`: send the user to our hosted re-consent page (they reconfirm there, then extend / reauth / new auth happen). `reauth`: TrueLayer reauth link. `new_auth`: a fresh auth whose state carries the old connection.', properties: { outcome: { enum: ['confirm', 'reauth', 'new_auth'] }, session_id: { type: 'string' }, url: { type: 'string', format: 'uri' }, expires_at: { type: 'string', format: 'date-time' } } },
      ...readApiSchemas,
    },
  },
} as const;
