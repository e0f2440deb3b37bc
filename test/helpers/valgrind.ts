/**
 * Reading valgrind's XML output (`--xml=yes --xml-file=...`) and deciding which
 * "definitely lost" records are ph5's. Used by test/native/leak.test.ts.
 *
 * A record is ph5's when one of its stack frames is in the addon (`ph5_native.node`): we
 * allocated it, or asked node (N-API), HDF5 or MPI to allocate it on our behalf and never
 * gave it back. Two kinds of such records are not per-call leaks, and are told apart by
 * where in the stack our code sits, not by what it allocated:
 * - `process`: allocated once per process while loading the addon
 *   (napi_register_module_v1) or inside MPI_Init_thread / MPI_Finalize (Open MPI's own
 *   start-up and shut-down allocations, of which valgrind reports dozens; they happen
 *   under our mpi.init()/mpi.finalize() frames but are Open MPI's). Bounded, reported.
 * - `call`: everything else: allocated during a call of the binding. Each one is a leak
 *   that grows with every call, and the test fails on it.
 */
import { readFileSync } from 'node:fs';

export interface Frame {
  obj: string;
  fn: string;
  file: string;
  line: string;
}

export interface LeakRecord {
  kind: string;
  bytes: number;
  blocks: number;
  text: string;
  frames: Frame[];
}

const ADDON = 'ph5_native.node';

function decode(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

function tag(xml: string, name: string): string {
  const m = xml.match(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`));
  return m ? decode((m[1] as string).trim()) : '';
}

/** Every <error> of one valgrind XML file (leaks and other memcheck errors). */
export function parseValgrindXml(xml: string): LeakRecord[] {
  const out: LeakRecord[] = [];
  for (const m of xml.matchAll(/<error>([\s\S]*?)<\/error>/g)) {
    const body = m[1] as string;
    // The first <stack> is the allocation (or access) stack; auxiliary stacks follow.
    const stack = body.match(/<stack>([\s\S]*?)<\/stack>/);
    const frames = [...(stack?.[1] ?? '').matchAll(/<frame>([\s\S]*?)<\/frame>/g)].map((f) => ({
      obj: tag(f[1] as string, 'obj'),
      fn: tag(f[1] as string, 'fn'),
      file: tag(f[1] as string, 'file'),
      line: tag(f[1] as string, 'line'),
    }));
    out.push({
      kind: tag(body, 'kind'),
      bytes: Number(tag(body, 'leakedbytes') || 0),
      blocks: Number(tag(body, 'leakedblocks') || 0),
      text: tag(body, 'text') || tag(body, 'what'),
      frames,
    });
  }
  return out;
}

export function readValgrindXml(file: string): { records: LeakRecord[]; finished: boolean } {
  const xml = readFileSync(file, 'utf8');
  return { records: parseValgrindXml(xml), finished: /<state>FINISHED<\/state>/.test(xml) };
}

const inAddon = (f: Frame): boolean => f.obj.endsWith(ADDON);

/** 'call' | 'process' for ph5's records, null for records with no frame of ours. */
export function attribute(r: LeakRecord): 'call' | 'process' | null {
  const firstOurs = r.frames.findIndex(inAddon);
  if (firstOurs < 0) return null;
  const below = r.frames.slice(0, firstOurs).map((f) => f.fn);
  const all = r.frames.map((f) => f.fn);
  if (all.includes('napi_register_module_v1')) return 'process';
  if (below.some((fn) => /^(PMPI_Init_thread|PMPI_Init|ompi_mpi_init|ompi_mpi_finalize|PMPI_Finalize)$/.test(fn))) return 'process';
  return 'call';
}

/** One line per record: size, then the stack down to (and a little past) our first frame. */
export function describe(r: LeakRecord): string {
  const firstOurs = r.frames.findIndex(inAddon);
  const shown = r.frames.slice(0, Math.max(firstOurs + 3, 6));
  return `${r.text}\n${shown.map((f) => `    ${f.fn || '???'} (${f.file ? `${f.file}:${f.line}` : f.obj.split('/').pop()})`).join('\n')}`;
}
