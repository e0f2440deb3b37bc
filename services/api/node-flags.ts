/**
 * V8 flags the API process runs with (given on its command line by whoever starts it:
 * services/cli/up.ts, test/helpers/stack.ts, the Docker image, bench/upload-rss.ts).
 *
 * A streamed upload makes many short-lived 64 KiB chunks; with V8's default semi-spaces
 * (16 MiB) they pile up between scavenges and the API's RSS grows by tens of MiB for
 * nothing. 4 MiB semi-spaces keep a 4 GiB upload's peak RSS at 138 MiB (1 MiB: 113 MiB;
 * the target is 150, bench/upload-rss.ts), and are large enough for thousands of small
 * writes a second: with 1 MiB, the API spent 15 % more CPU per small write, mostly in
 * scavenges (bench/small-writes.ts). They cannot be set from inside the process: V8 sizes
 * its heap at start-up.
 */
export const API_NODE_FLAGS = ['--max-semi-space-size=4'];
