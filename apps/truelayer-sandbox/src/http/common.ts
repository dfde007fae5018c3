import type { NextFunction, Request, Response } from 'express';
import { ProblemError, TlError } from '../domain/errors';
import { uuid } from '../domain/ids';

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** Public base URL: the configured one, or derived from the request's Host header. */
export function publicBase(req: Request, configured: string | undefined): string {
  if (configured) return configured.replace(/\/+$/, '');
  return `${req.protocol}://${req.get('host') ?? '127.0.0.1'}`;
}

export function firstString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

export function bodyObject(req: Request): Record<string, unknown> {
  const b: unknown = req.body;
  return b !== null && typeof b === 'object' && !Array.isArray(b) ? (b as Record<string, unknown>) : {};
}

export function sendTlError(res: Response, err: TlError): void {
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  res.status(err.status).json(err.body);
}

export function sendProblem(req: Request, res: Response, err: ProblemError): void {
  const body: Record<string, unknown> = {
    type: 'https://docs.truelayer.com/#connection-api-errors',
    title: err.title,
    status: err.status,
    instance: '/connections/extend',
    trace_id: uuid(),
  };
  if (err.detail !== undefined) body['detail'] = err.detail;
  if (err.errors !== undefined) body['errors'] = err.errors;
  res.status(err.status).type('application/problem+json').send(JSON.stringify(body));
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Express error middleware shared by all surfaces. */
export function errorHandler(onUnexpected: (err: unknown) => void) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    if (res.headersSent) return;
    if (err instanceof TlError) return sendTlError(res, err);
    if (err instanceof ProblemError) return sendProblem(req, res, err);
    const parseFailed = typeof err === 'object' && err !== null && 'type' in err && (err as { type: unknown }).type === 'entity.parse.failed';
    if (parseFailed) {
      if (req.path.startsWith('/data/v1/connections/extend')) {
        return sendProblem(req, res, new ProblemError(400, 'One or more validation errors occurred.', 'The request body is not valid JSON.'));
      }
      if (req.path.startsWith('/data/')) {
        res.status(400).json({ error: 'validation_error', error_description: 'The supplied parameters are not valid.', error_details: {} });
        return;
      }
      res.status(400).json({ error: 'invalid_request', error_description: 'Invalid request', error_details: { reason: 'Malformed request body' } });
      return;
    }
    onUnexpected(err);
    if (req.path.startsWith('/data/')) {
      res.status(500).json({ error: 'internal_server_error', error_description: 'Internal server error.', error_details: {} });
      return;
    }
    res.status(500).json({
      error: 'internal_server_error',
      error_description: 'Sorry, we are experiencing technical difficulties. Please try again later.',
      error_details: {},
    });
  };
}
