/**
 * A worker's side of the primary's IPC (cluster-primary.ts): the shutdown message, and
 * /metrics aggregated over every API process.
 */
import cluster from 'node:cluster';
import { METRICS_REPLY, METRICS_REQUEST, SHUTDOWN_MESSAGE, WORKER_SLOT_ENV } from './cluster-primary.js';

/** Whether this process is one of several API processes (a cluster worker). */
export function isApiWorker(): boolean {
  return cluster.isWorker;
}

/** Whether this process prints the start-up banners: the only API process, or the first of several. */
export function printsBanners(): boolean {
  return !cluster.isWorker || process.env[WORKER_SLOT_ENV] === '1';
}

// Listened for from the first import on: a stop asked while the app is still being built
// is kept, and honoured once the worker can close (onShutdownRequest).
let shutdownRequested = false;
let onShutdown: (() => void) | null = null;
if (cluster.isWorker) {
  process.on('message', (message: { type?: string }) => {
    if (message?.type !== SHUTDOWN_MESSAGE) return;
    shutdownRequested = true;
    onShutdown?.();
  });
}

/** Calls `close` when the primary asks this worker to shut down (at once if it already has). */
export function onShutdownRequest(close: () => void): void {
  if (!cluster.isWorker) return;
  onShutdown = close;
  if (shutdownRequested) close();
}

/** A scrape must not hang on a worker that died mid-gathering (prom-client's own limit is 5 s). */
const METRICS_TIMEOUT_MS = 6_000;
let nextId = 0;
const pending = new Map<number, { resolve(body: string): void; reject(err: Error): void }>();
let listening = false;

/** Every API process's metrics, aggregated by the primary (Prometheus text). */
export function clusterMetrics(): Promise<string> {
  if (!listening) {
    listening = true;
    process.on('message', (message: { type?: string; id?: number; body?: string; error?: string }) => {
      if (message?.type !== METRICS_REPLY || typeof message.id !== 'number') return;
      const waiter = pending.get(message.id);
      if (!waiter) return;
      pending.delete(message.id);
      if (typeof message.body === 'string') waiter.resolve(message.body);
      else waiter.reject(new Error(`aggregating the API processes' metrics: ${message.error ?? 'no answer'}`));
    });
  }
  const id = nextId++;
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`the API primary did not answer with the metrics within ${METRICS_TIMEOUT_MS / 1000} s`));
    }, METRICS_TIMEOUT_MS);
    pending.set(id, {
      resolve: (body) => (clearTimeout(timer), resolve(body)),
      reject: (err) => (clearTimeout(timer), reject(err)),
    });
    process.send!({ type: METRICS_REQUEST, id }, undefined, {}, (err) => {
      if (!err) return;
      pending.delete(id);
      clearTimeout(timer);
      reject(err);
    });
  });
}
