/**
 * numpy on the other side of a test (Debian's /usr/bin/python3): the bytes numpy.save
 * writes for an expression, what numpy.load makes of bytes ph5 sent, and a file written
 * by h5py with its defaults. Independent of ph5's own codecs.
 */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The .npy bytes of a numpy expression (`np` imported). */
export async function npySave(expr: string): Promise<Buffer> {
  const { stdout } = await run(
    '/usr/bin/python3',
    ['-c', `import io, sys, numpy as np\nb = io.BytesIO()\nnp.save(b, ${expr})\nsys.stdout.buffer.write(b.getvalue())`],
    {
      encoding: 'buffer',
      maxBuffer: 1 << 26,
    },
  );
  return stdout;
}

/** The raw bytes (tobytes(), C order) of a numpy expression. */
export async function numpyBytes(expr: string): Promise<Buffer> {
  const { stdout } = await run('/usr/bin/python3', ['-c', `import sys, numpy as np\nsys.stdout.buffer.write(np.ascontiguousarray(${expr}).tobytes())`], {
    encoding: 'buffer',
    maxBuffer: 1 << 26,
  });
  return stdout;
}

/**
 * Runs `snippet` with `a` bound to numpy.load of `npy` (or to np.frombuffer(raw, dtype)
 * when `dtype` is given, a numpy dtype expression); the snippet sets `out` (JSON).
 */
export async function withNumpy<T = unknown>(bytes: Buffer, snippet: string, dtype?: string): Promise<T> {
  const load = dtype === undefined ? 'a = np.load(io.BytesIO(data))' : `a = np.frombuffer(data, dtype=${dtype})`;
  const program = ['import io, sys, json, numpy as np', 'data = sys.stdin.buffer.read()', load, 'out = None', snippet, 'print(json.dumps(out))'].join('\n');
  const stdout = await new Promise<string>((resolve, reject) => {
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an Error (@types/node's ExecFileException is built with Omit<>, which hides that)
    const child = execFile('/usr/bin/python3', ['-c', program], { maxBuffer: 1 << 26 }, (err, out) => (err ? reject(err) : resolve(out)));
    child.stdin!.end(bytes);
  });
  return JSON.parse(stdout) as T;
}

/** Makes a file with serial h5py, as a user would outside ph5: `f` is the open file. */
export async function makeWithH5py(file: string, snippet: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const program = ['import sys, h5py, numpy as np', "f = h5py.File(sys.argv[1], 'w')", snippet, 'f.close()'].join('\n');
  // A plain environment: Debian's h5py must load its serial build here.
  await run('/usr/bin/python3', ['-c', program, file], { env: { PATH: process.env.PATH } });
}

/** GET with an Accept header: status, headers and the body bytes. */
export async function getBytes(url: string, accept: string): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const res = await fetch(url, { headers: { accept } });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** PUT of raw bytes with a Content-Type; answers the status, the JSON and the Location. */
export async function putBytes(url: string, body: Buffer, contentType: string): Promise<{ status: number; json: any; location: string | null }> {
  const res = await fetch(url, { method: 'PUT', body, headers: { 'content-type': contentType } });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, location: res.headers.get('location') };
}
