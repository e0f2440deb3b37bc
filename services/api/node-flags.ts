/**
 * V8 flags the API process runs with (given on its command line by whoever starts it:
 * services/cli/up.ts, test/helpers/stack.ts, the Docker image, bench/upload-rss.ts).
 *
 * A streamed upload makes many short-lived 64 KiB chunks; with V8's default semi-spaces
 * (16 MiB) they pile up between scavenges and the API's RSS grows by tens of MiB for
 * nothing. 1 MiB semi-spaces keep the API near its resting size during uploads of any size
 * at no measurable cost in throughput (bench/upload-rss.ts). They cannot be set from inside
 * the process: V8 sizes its heap at start-up.
 */
export const API_NODE_FLAGS = ['--max-semi-space-size=1'];
