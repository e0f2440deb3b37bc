/**
 * Which of a file's next jobs to bring to the head of the queue when the job the file's
 * order needs next is not in this pool: the sequence numbers from `next` on, up to `limit`
 * of them, skipping those the pool already holds (they need no move). Pure: the I/O is in
 * the inbox (pipeline/inbox.ts).
 */
export function promotionRun(next: number, held: ReadonlyMap<string, { seq: number | null }>, limit: number): number[] {
  const have = new Set<number>();
  for (const h of held.values()) if (h.seq !== null) have.add(h.seq);
  const run: number[] = [];
  // Look a little further than `limit` so that held jobs inside the window do not shrink it.
  for (let seq = next; run.length < limit && seq < next + 2 * limit; seq++) if (!have.has(seq)) run.push(seq);
  return run;
}
