/**
 * A request that cannot be served as asked. Shared code (dtype, selection, names) throws
 * this; the API's single error handler turns it into `application/problem+json` with the
 * `code`, and the worker turns it into a failed job with the same code.
 */
export class InputError extends Error {
  readonly code: string;
  readonly statusCode: number;

  constructor(code: string, message: string, statusCode = 400) {
    super(message);
    this.name = 'InputError';
    this.code = code;
    this.statusCode = statusCode;
  }
}
