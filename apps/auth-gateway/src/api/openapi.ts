/** OpenAPI 3.1 description of the public /v1 API, served at GET /v1/openapi.json. */
const problem = { $ref: '#/components/responses/Problem' };
const userId = { name: 'userId', in: 'path', required: true, description: "The product's own user id.", schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$' } };
const connectionId = { name: 'connectionId', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' } };
const errors = { '400': problem, '401': problem, '403': problem, '404': problem, '429': problem, '503': problem };
const json = (ref: string) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } });

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
    '/v1/openapi.json': { get: { operationId: 'getOpenApi', security: [], summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1 document', content: { 'application/json': { schema: { type: 'object' } } } } } } },
    '/v1/users/{userId}/connect-sessions': {
      post: {
        operationId: 'createConnectSession',
        summary: "Start connecting a user's bank",
        description:
          "`dialog: truelayer` returns TrueLayer's auth-dialog link (option 1). `dialog: hosted` returns our hosted bank picker and permission screen (option 2), which then sends the user to the chosen bank with `provider_id`. Send the user's browser to `url`; it ends on our bounce page, which returns to `return_url`.",
        parameters: [userId],
        requestBody: { required: true, content: json('ConnectSessionRequest') },
        responses: { '201': { description: 'Session created', content: json('ConnectSession') }, ...errors },
      },
    },
    '/v1/users/{userId}/connections': {
      get: { operationId: 'listConnections', summary: "A user's connections", parameters: [userId], responses: { '200': { description: 'Connections', content: json('ConnectionList') }, ...errors } },
    },
    '/v1/users/{userId}/connections/{connectionId}': {
      get: { operationId: 'getConnection', parameters: [userId, connectionId], responses: { '200': { description: 'The connection', content: json('Connection') }, ...errors } },
      delete: { operationId: 'revokeConnection', summary: 'Revoke: deletes the connection at TrueLayer and purges its tokens', parameters: [userId, connectionId], responses: { '200': { description: 'Revoked', content: json('Connection') }, ...errors } },
    },
    '/v1/users/{userId}/connections/{connectionId}/reconsent': {
      post: {
        operationId: 'startReconsent',
        summary: 'Renew consent',
        description:
          'Extends in place when `user_reconfirmed` is true and the bank allows it (`outcome: extended`); otherwise returns a reauth link (`outcome: reauth`) or a new connect session whose state carries the old connection (`outcome: new_auth`). With `dialog: hosted` and no `user_reconfirmed`, returns our own re-consent page (`outcome: confirm`) where the user reconfirms.',
        parameters: [userId, connectionId],
        requestBody: { required: false, content: json('ReconsentRequest') },
        responses: { '200': { description: 'Extended', content: json('ReconsentExtended') }, '201': { description: 'User action needed', content: json('ReconsentLink') }, ...errors },
      },
    },
    '/v1/callback': {
      get: { operationId: 'authCallbackQuery', security: [], summary: "TrueLayer's redirect back (query). Browser only.", parameters: ['code', 'state', 'error', 'scope'].map((n) => ({ name: n, in: 'query', required: false, schema: { type: 'string' } })), responses: { '303': { description: 'To the bounce page' }, '200': { description: 'Outcome page (cancelled)', content: { 'text/html': {} } }, '400': { description: 'Rejected state (HTML)', content: { 'text/html': {} } }, '410': { description: 'Expired state (HTML)', content: { 'text/html': {} } } } },
      post: { operationId: 'authCallbackFormPost', security: [], summary: "TrueLayer's redirect back (response_mode=form_post). Browser only.", requestBody: { content: { 'application/x-www-form-urlencoded': { schema: { type: 'object', properties: { code: { type: 'string' }, state: { type: 'string' }, error: { type: 'string' } } } } } }, responses: { '303': { description: 'To the bounce page' }, '200': { description: 'Outcome page', content: { 'text/html': {} } }, '400': { description: 'Rejected state (HTML)', content: { 'text/html': {} } } } },
    },
  },
  components: {
    securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'API key `ais_<client>_<secret>` issued once by the operator.' } },
    responses: { Problem: { description: 'RFC 9457 problem', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } } },
    schemas: {
      Problem: {
        type: 'object',
        required: ['type', 'title', 'status', 'detail', 'code'],
        properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, code: { type: 'string' }, instance: { type: 'string' }, trace_id: { type: 'string' }, retry_after_ms: { type: 'integer' }, errors: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, description: { type: 'string' } } } } },
      },
      ConnectSessionRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['dialog'],
        properties: {
          dialog: { enum: ['truelayer', 'hosted'] },
          providers: { type: 'array', items: { type: 'string' }, description: 'TrueLayer provider families or ids; default from configuration.' },
          scopes: { type: 'array', items: { type: 'string' }, description: 'TrueLayer scopes; default from configuration.' },
          return_url: { type: 'string', format: 'uri', description: "Universal link / app link / web URL of the product; must start with one of the client's allowed return URLs." },
          web_fallback_url: { type: 'string', format: 'uri', description: 'Web fallback shown on the bounce page (default: return_url).' },
          response_mode: { enum: ['query', 'form_post'] },
        },
      },
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
      ReconsentRequest: {
        type: 'object',
        additionalProperties: false,
        properties: {
          user_reconfirmed: { type: 'boolean', description: 'The user reconfirmed consent on your screen (required for extend).' },
          user_ip: { type: 'string', description: "The end user's IP when present." },
          return_url: { type: 'string', format: 'uri' },
          dialog: { enum: ['truelayer', 'hosted'], description: '`hosted` without `user_reconfirmed`: returns our re-consent page (outcome `confirm`). Otherwise the dialog used when a new auth is needed (default truelayer).' },
        },
      },
      ReconsentExtended: { type: 'object', properties: { outcome: { const: 'extended' }, connection: { $ref: '#/components/schemas/Connection' } } },
      ReconsentLink: { type: 'object', description: '`confirm`: send the user to our hosted re-consent page (they reconfirm there, then extend / reauth / new auth happen). `reauth`: TrueLayer reauth link. `new_auth`: a fresh auth whose state carries the old connection.', properties: { outcome: { enum: ['confirm', 'reauth', 'new_auth'] }, session_id: { type: 'string' }, url: { type: 'string', format: 'uri' }, expires_at: { type: 'string', format: 'date-time' } } },
    },
  },
} as const;
