/**
 * The API reference page: GET /docs renders the OpenAPI document (GET /v1/openapi.json) with Swagger UI
 * (swagger-ui-dist, served from this origin: nothing is loaded from anywhere else). The page has no inline script:
 * its start-up code is GET /docs/init.js.
 *
 * CSP: `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';
 * font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`: scripts, styles, fetches, images
 * and fonts come from this origin only, with no inline script or style element and no eval. Swagger UI needs
 * nothing more: its React components set styles through the DOM (allowed without 'unsafe-inline'), and
 * `validatorUrl: null` keeps it from loading its badge from the public validator. The browser test
 * (tests/integration/api-docs.int-spec.ts) fails on any CSP violation or request to another origin.
 */
import { AppError } from '@ais/platform-errors';
import { Router, type RequestHandler } from 'express';
import helmet from 'helmet';
import { dirname, join } from 'node:path';

/** The swagger-ui-dist files the page uses (nothing else of the package is served). */
const ASSETS = new Set(['swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-32x32.png', 'favicon-16x16.png']);

export const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>AIS platform API reference</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" sizes="32x32" href="/docs/assets/favicon-32x32.png">
<link rel="icon" type="image/png" sizes="16x16" href="/docs/assets/favicon-16x16.png">
</head>
<body>
<main id="swagger-ui" data-testid="api-docs"></main>
<noscript>This page needs JavaScript. The OpenAPI document itself is at <a href="/v1/openapi.json">/v1/openapi.json</a>.</noscript>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

/** Swagger UI's start-up (served as a file: the CSP allows no inline script). */
export const DOCS_INIT = `'use strict';
window.ui = window.SwaggerUIBundle({
  url: '/v1/openapi.json',
  dom_id: '#swagger-ui',
  presets: [window.SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
  deepLinking: true,
  validatorUrl: null,
  queryConfigEnabled: false,
  displayOperationId: true,
  displayRequestDuration: true,
  defaultModelsExpandDepth: 0,
});
`;

export const DOCS_CSP = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  fontSrc: ["'self'"],
  baseUri: ["'none'"],
  formAction: ["'none'"],
  frameAncestors: ["'none'"],
};

export function docsRoutes(): Router {
  const router = Router({ caseSensitive: true, strict: true });
  const dist = dirname(require.resolve('swagger-ui-dist/package.json'));
  const csp: RequestHandler = helmet.contentSecurityPolicy({ useDefaults: false, directives: DOCS_CSP });
  router.use(['/docs', '/docs/'], csp);
  router.get('/docs', (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.type('html').send(DOCS_PAGE);
  });
  router.get('/docs/init.js', (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.type('text/javascript').send(DOCS_INIT);
  });
  router.get('/docs/assets/:file', (req, res, next) => {
    const file = String(req.params['file']);
    // an error, not next(): the route's 405 handler follows
    if (!ASSETS.has(file)) return next(AppError.notFound('route_not_found', 'no such docs asset'));
    res.sendFile(join(dist, file), { maxAge: '1h', dotfiles: 'deny' }, (error) => (error ? next(error) : undefined));
  });
  return router;
}
