/**
 * V8 flags the API process runs with (given on its command line by whoever starts it:
 * services/cli/up.ts, test/helpers/stack.ts, the Docker image, bench/upload-rss.ts).
 *
 * The semi-spaces (the young generation) trade memory for CPU. A streamed upload makes many
 * short-lived 64 KiB chunks, and with V8's default (16 MiB) a 4 GiB upload peaks at
 * 158 MiB of RSS, over the 150 MiB target (bench/upload-rss.ts). Small writes want room:
 * a request waits a few ms for its group to be staged and queued, and with semi-spaces too
 * small for the thousands of requests in flight per second, scavenges run every few ms and
 * promote those live requests into the old generation, whose collections are dear. Measured
 * on the 2-core VM (bench/small-writes.ts, 10,000 writes, 32 clients): 8 MiB takes 1.34–1.45
 * CPU-s per 10,000 writes and 4,400–4,560 writes/s end to end, where 4 MiB took 1.83–1.95
 * and 3,500–3,590 (16 MiB: no better than 8); a 4 GiB upload peaks at 140–146 MiB with
 * 8 MiB (135 with 4). They cannot be set from inside the process: V8 sizes its heap at
 * start-up.
 */
export const API_NODE_FLAGS = ['--max-semi-space-size=8'];
