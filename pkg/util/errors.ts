/**
 * Typed errors. Callers branch on `code`, never on message text.
 */
export const ErrorCode = {
  Usage: 'usage',
  Config: 'config',
  NotFound: 'not-found',
  AlreadyExists: 'already-exists',
  ToolFailed: 'tool-failed',
  ToolMissing: 'tool-missing',
  Timeout: 'timeout',
  ParseError: 'parse-error',
  RestoreFailed: 'restore-failed',
  Unsupported: 'unsupported',
  ApiError: 'api-error',
  Gone: 'gone',
  Invalid: 'invalid',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class KubeRouterError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KubeRouterError';
    this.code = code;
    this.details = details;
  }
}

export function isKubeRouterError(e: unknown, code?: ErrorCode): e is KubeRouterError {
  return e instanceof KubeRouterError && (code === undefined || e.code === code);
}

/** Message of any thrown value, for log lines. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
