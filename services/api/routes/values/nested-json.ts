/**
 * The brackets and commas of a C-order selection's JSON nested arrays, for values that
 * arrive as ready-made texts, a piece at a time (variable-length strings, read per piece
 * with H5File.readStrings). The text is what JSON.stringify gives for the whole nested
 * array: `[["a","b"],["c","d"]]`.
 */
export class NestedJsonWriter {
  readonly #shape: readonly number[];
  readonly #total: number;
  /** Index of the next element along each dimension (an odometer over the shape). */
  readonly #at: number[];
  #done = 0;

  constructor(shape: readonly number[]) {
    this.#shape = [...shape];
    this.#total = shape.reduce((a, b) => a * b, 1);
    this.#at = shape.map(() => 0);
  }

  /** The text of the next `texts.length` elements, with the brackets and commas between and around them. */
  write(texts: readonly string[]): string {
    const rank = this.#shape.length;
    if (this.#done + texts.length > this.#total) throw new Error(`NestedJsonWriter: ${texts.length} elements do not continue a selection of ${this.#total} at ${this.#done}`);
    if (rank === 0) {
      this.#done += texts.length;
      return texts.join('');
    }
    const at = this.#at;
    const parts: string[] = [];
    for (const text of texts) {
      if (this.#done === 0) parts.push('['.repeat(rank));
      else if (at[rank - 1] === 0) {
        let closed = 1;
        for (let d = rank - 2; d >= 0 && at[d] === 0; d--) closed++;
        parts.push(']'.repeat(closed) + ',' + '['.repeat(closed));
      } else parts.push(',');
      parts.push(text);
      this.#done++;
      at[rank - 1]!++;
      for (let d = rank - 1; d > 0 && at[d] === this.#shape[d]; d--) {
        at[d] = 0;
        at[d - 1]!++;
      }
    }
    if (this.#done === this.#total) parts.push(']'.repeat(rank));
    return parts.join('');
  }

  /** All elements written. */
  get complete(): boolean {
    return this.#done === this.#total;
  }
}
