/**
 * Sends an answer body made of pieces produced one after the other (a streamed read's
 * selection, piece by piece), overlapping the production of piece k+1 with the sending of
 * piece k, and never holding more than two pieces: piece k+1 is produced into the slot of
 * piece k-1 only once the socket has taken piece k-1 (its write callback), so the caller
 * may reuse two buffers, one per slot, for the whole answer.
 *
 * The caller holds a resource for as long as this runs (the file's read lease), so it
 * must end, whatever the client does:
 * - the client goes away: ends at once ('aborted');
 * - the client stops reading: a piece the socket has not taken within `stallMs` ends it
 *   (the connection is destroyed: 'stalled');
 * - the whole answer takes longer than `maxMs`: likewise ('too-slow').
 * A piece that cannot be produced (an HDF5 failure) destroys the connection, so the
 * client sees a truncated body, never a complete-looking one ('failed', with the error).
 */
import type { ServerResponse } from 'node:http';

export interface PieceSource {
  /** Pieces in the answer (after any already-sent prefix). */
  count: number;
  /** The bytes of piece `k`, produced into slot `slot` (0 or 1) if the source reuses buffers. */
  produce(k: number, slot: 0 | 1): Promise<Buffer>;
}

export interface SendBounds {
  /** Longest a piece may wait for the socket to take it. */
  stallMs: number;
  /** Longest the whole body may take. */
  maxMs: number;
}

export type SendOutcome = { kind: 'complete' } | { kind: 'aborted' | 'stalled' | 'too-slow' } | { kind: 'failed'; error: unknown };

class Ended extends Error {
  constructor(readonly outcome: 'aborted' | 'stalled' | 'too-slow') {
    super(outcome);
  }
}

/**
 * Writes the pieces of `source` to `res` (headers already set, not yet sent), then ends
 * it. `first` may be piece 0, produced before the headers were committed (so that its
 * failure can still be answered as an error); `tail()` is written after the last piece.
 */
export async function sendPieces(
  res: ServerResponse,
  source: PieceSource,
  bounds: SendBounds,
  opts: { first?: Buffer; tail?: () => Buffer } = {},
): Promise<SendOutcome> {
  // Set from callbacks: the cast keeps TypeScript from narrowing it to null for good.
  let ended = null as Ended | null;
  let wake: (() => void) | null = null;
  const end = (why: Ended['outcome']) => {
    if (ended) return;
    ended = new Ended(why);
    wake?.();
    if (why !== 'aborted') res.destroy();
  };
  const onClose = () => {
    if (!res.writableFinished) end('aborted');
  };
  res.on('close', onClose);
  const overall = setTimeout(() => end('too-slow'), bounds.maxMs);
  // Waits for the socket to take `bytes`, or for the answer to end some other way.
  const write = (bytes: Buffer): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (ended) return reject(ended);
      const stall = setTimeout(() => end('stalled'), bounds.stallMs);
      const settle = (err?: Error) => {
        clearTimeout(stall);
        wake = null;
        if (ended) reject(ended);
        else if (err) reject(err);
        else resolve();
      };
      wake = () => settle();
      res.write(bytes, (err) => settle(err ?? undefined));
    });

  let pending: Promise<Buffer> | null = null;
  let writing: Promise<void> | null = null;
  try {
    if (source.count > 0) pending = opts.first ? Promise.resolve(opts.first) : source.produce(0, 0);
    for (let k = 0; k < source.count; k++) {
      const piece = await pending!;
      if (ended) throw ended;
      if (writing) await writing; // piece k-1 is in the socket: slot (k+1) % 2 is free
      writing = write(piece);
      writing.catch(() => {}); // awaited below; a failure meanwhile must not be unhandled
      if (k + 1 < source.count) {
        pending = source.produce(k + 1, ((k + 1) % 2) as 0 | 1);
        pending.catch(() => {});
      }
    }
    if (writing) await writing;
    if (opts.tail) await write(opts.tail());
    if (ended) throw ended;
    // 'close' too: a client gone at the very end must not leave this waiting for 'finish'.
    await new Promise<void>((resolve) => {
      res.once('close', resolve);
      res.end(() => resolve());
    });
    return { kind: 'complete' };
  } catch (err) {
    if (err instanceof Ended) return { kind: err.outcome };
    // Not a complete answer: the client must see the body cut short, not a clean end.
    res.destroy();
    // The read of the next piece may still be running (it uses a slot): wait for it, so the
    // caller's buffers and file stay valid until HDF5 is done with them.
    await pending?.catch(() => {});
    return { kind: 'failed', error: err };
  } finally {
    clearTimeout(overall);
    res.off('close', onClose);
    if (ended) await pending?.catch(() => {});
  }
}
