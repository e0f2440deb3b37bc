/** Small fetch helpers for integration tests: JSON in, JSON out, jobs waited for. */
import assert from 'node:assert/strict';

export interface Reply {
  status: number;
  headers: Headers;
  json: any;
}

/** What callers outside the tests (the benchmarks) read of a finished job; tests use it as `any`. */
export interface FinishedJob {
  state: string;
  error?: unknown;
}

export function client(base: string) {
  async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const isBytes = body instanceof Uint8Array;
    const res = await fetch(`${base}${url}`, {
      method,
      ...(body === undefined
        ? {}
        : {
            body: isBytes ? body : JSON.stringify(body),
            headers: { 'content-type': isBytes ? 'application/octet-stream' : 'application/json', ...headers },
          }),
    });
    const text = await res.text();
    let json: unknown = text;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, headers: res.headers, json };
  }

  /** Long-polls a job until it is completed or failed. */
  async function waitJob(location: string, timeoutMs = 120_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { status, json } = await call('GET', `${location}?wait=20`);
      assert.equal(status, 200, JSON.stringify(json));
      if (json.state === 'completed' || json.state === 'failed') return json;
      assert.ok(Date.now() < deadline, `job ${location} still ${json.state}`);
    }
  }

  /** Sends a request that must be accepted (202) and returns the finished job (a FinishedJob). */
  async function accepted(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<any> {
    const r = await call(method, url, body, headers);
    assert.equal(r.status, 202, `${method} ${url}: ${JSON.stringify(r.json)}`);
    const location = r.headers.get('location');
    assert.ok(location, 'a 202 carries a Location');
    return waitJob(location);
  }

  return { call, waitJob, accepted };
}
