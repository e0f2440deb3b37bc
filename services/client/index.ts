/**
 * The typed ph5 client: openapi-fetch over the types generated from openapi/openapi.json
 * (api-types.ts), so every path, parameter, body and answer is checked by the compiler
 * against the published contract, not against the server's own code.
 *
 *   const ph5 = createPh5Client({ baseUrl: 'http://127.0.0.1:8080', token });
 *   const { data, error } = await ph5.GET('/v1/jobs/{id}', { params: { path: { id }, query: { wait: 30 } } });
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './api-types.js';

export type { components, paths } from './api-types.js';
export type Job = components['schemas']['Job'];
export type Problem = components['schemas']['Problem'];
export type Ph5Client = Client<paths>;

export interface ClientOptions {
  /** e.g. http://127.0.0.1:8080 (PH5_URL). */
  baseUrl: string;
  /** Bearer token (PH5_TOKEN); omit when the server runs with auth off. */
  token?: string | undefined;
  fetch?: typeof fetch;
}

export function createPh5Client(opts: ClientOptions): Ph5Client {
  const client = createClient<paths>({
    baseUrl: opts.baseUrl.replace(/\/+$/, ''),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
  if (opts.token) {
    const authorization = `Bearer ${opts.token}`;
    client.use({
      onRequest({ request }) {
        request.headers.set('authorization', authorization);
        return request;
      },
    });
  }
  return client;
}

const TERMINAL = new Set(['completed', 'failed']);

/** Long-polls a job until it is completed or failed (or `timeoutMs` passes), and returns it. */
export async function waitForJob(client: Ph5Client, id: string, timeoutMs = 120_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    const { data, error, response } = await client.GET('/v1/jobs/{id}', { params: { path: { id }, query: { wait: Math.min(left, 30) } } });
    if (!data) throw new Error(`GET /v1/jobs/${id}: ${response.status} ${JSON.stringify(error)}`);
    if (TERMINAL.has(data.state) || Date.now() >= deadline) return data;
  }
}

/**
 * Large writes as row-block parts over several connections (each part atomic, applied as
 * soon as it is accepted; the whole is not), and streamed uploads: see parts.ts.
 *
 *   const upload = await writeInParts({ baseUrl, token, file: 'big.h5', path: '/x', shape, itemsize: 8,
 *                                       source: { file: 'x.npy', offset: header.dataOffset }, dtype: '<f8',
 *                                       onProgress: (sent, total) => … });
 *   const result = await waitForParts(upload, (id) => waitForJob(client, id, 3_600_000));
 *   if (!result.completed) console.error(`rows not written: ${describeRows(result.notWritten)}`);
 */
export {
  PART_DEFAULTS,
  describeRows,
  parseSize,
  planParts,
  selectRows,
  sendStream,
  waitForParts,
  writeInParts,
  type PartOutcome,
  type PartPlan,
  type PartedUpload,
  type PartedWriteOptions,
  type PartsResult,
} from './parts.js';
