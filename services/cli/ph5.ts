#!/usr/bin/env node
/**
 * `ph5`: the command line, built on the typed client (services/client) over the OpenAPI
 * contract. Server and token from --url/--token or PH5_URL/PH5_TOKEN.
 *
 *   ph5 up | worker                         the local stack (npm start) | a worker pool
 *   ph5 put FILE:/path SOURCE               SOURCE: x.npy, x.bin or - (stdin)
 *   ph5 get FILE:/path [-o out.npy|out.bin] JSON to stdout without -o
 *   ph5 ls [FILE[:/group]]                  files, or a file's tree like h5ls -r
 *   ph5 jobs | wait JOB | watch JOB
 *
 * Exit codes: 0 done; 1 the job failed (or wait gave up); 2 bad usage; 3 the API refused
 * the request (4xx: its problem is printed); 4 the server failed or could not be reached.
 */
import { parseArgs } from 'node:util';
import { clientSettings } from '../shared/config.js';
import { runCommand, UsageError, CliError, EXIT } from './commands.js';

const USAGE = `usage: ph5 <command> [options]

commands:
  up                          start Redis, the API and a worker pool here (like npm start)
  worker                      start a worker pool (PH5_LAUNCHER=mpirun|srun|jsrun, PH5_RANKS)
  put FILE:/path SOURCE       write SOURCE (a .npy file, raw bytes from a file, or - for stdin)
                              into the dataset; creates it from the .npy header (or --dtype and
                              --shape) when it does not exist; waits for the job
      --select SEL            HSDS selection, e.g. [0:100,:] (default: the whole dataset)
      --points JSON           a point selection instead, e.g. [[0,1],[5,2]] (the dataset must exist)
      --dtype DTYPE           dtype of raw bytes (e.g. <f8); with --shape, to create the dataset
      --shape N,M,...         shape of the dataset to create (raw bytes)
      --no-wait               print the job and return once the write is accepted
      a file larger than --parts-above holding the whole dataset goes in row-block parts over
      several connections, each part its own job applied as it arrives (each part is atomic,
      the whole is not; on failure the rows written and not written are printed):
      --parts-above SIZE      default 64M        --part-size SIZE   default 32M
      --connections N         default 3          --no-parts         always one request
  get FILE:/path              read values: JSON to stdout, or -o out.npy / -o out.bin
      --select SEL, --points JSON, -o FILE
  ls [FILE[:/group]]          your files; or the objects of a file, recursively (like h5ls -r)
  jobs                        your jobs, newest first  [--state S] [--file F] [--limit N]
  wait JOB                    wait until the job is completed (exit 0) or failed (exit 1)
  watch JOB                   follow the job's state and progress as it happens

options:
  --url URL                   server (PH5_URL, default http://127.0.0.1:8080)
  --token TOKEN               bearer token (PH5_TOKEN)
  --json                      machine-readable output on stdout, no progress
  --quiet                     no progress
  -h, --help
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      select: { type: 'string' },
      points: { type: 'string' },
      dtype: { type: 'string' },
      shape: { type: 'string' },
      output: { type: 'string', short: 'o' },
      state: { type: 'string' },
      file: { type: 'string' },
      limit: { type: 'string' },
      'no-wait': { type: 'boolean', default: false },
      'no-parts': { type: 'boolean', default: false },
      'part-size': { type: 'string' },
      'parts-above': { type: 'string' },
      connections: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...args] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? EXIT.ok : EXIT.usage;
  }
  const fromEnv = clientSettings();
  return runCommand(command, args, {
    url: values.url ?? fromEnv.url,
    token: values.token ?? fromEnv.token,
    json: values.json,
    progress: !values.json && !values.quiet,
    select: values.select,
    points: values.points,
    dtype: values.dtype,
    shape: values.shape,
    output: values.output,
    state: values.state,
    file: values.file,
    limit: values.limit,
    wait: !values['no-wait'],
    parts: !values['no-parts'],
    partSize: values['part-size'],
    partsAbove: values['parts-above'],
    connections: values.connections,
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`ph5: ${(err as Error).message}\n\n${USAGE}`);
      process.exitCode = EXIT.usage;
    } else if (err instanceof CliError) {
      process.stderr.write(`ph5: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`ph5: ${(err as Error).message}\n`);
      process.exitCode = EXIT.server;
    }
  },
);
