/**
 * V8 flags the API process runs with (given on its command line by whoever starts it:
 * services/cli/up.ts, test/helpers/stack.ts, the Docker image, bench/upload-rss.ts).
 *
 * The semi-spaces (the young generation) trade memory for CPU. A streamed upload makes many
 * short-lived 64 KiB chunks, and with V8's default (16 MiB) a 4 GiB upload peaks at
 * 158 MiB of RSS, over the 150 MiB target (bench/upload-rss.ts). Small writes want room:
 * thousands of requests a second each wait a few ms for their group, and with 4 MiB the API
 * scavenged twice as often (178 scavenges against 94 in a bench run) and spent 11–17 % more
 * CPU per write: three pairs of runs, 4 then 8 MiB, on the 2-core VM (bench/small-writes.ts,
 * 10,000 writes): 2.0/1.65, 2.69/2.38, 2.54/2.25 API CPU-s, and 6–14 % fewer writes/s. 16 MiB
 * was no better than 8. A 4 GiB upload peaks at 140–146 MiB with 8 MiB (135 with 4). They
 * cannot be set from inside the process: V8 sizes its heap at start-up.
 */
export const API_NODE_FLAGS = ['--max-semi-space-size=8'];
