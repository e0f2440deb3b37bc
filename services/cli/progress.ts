/**
 * Progress on stderr: a redrawn bar on a terminal, a plain line every 10 % otherwise (logs
 * of batch jobs stay readable), nothing with --quiet or --json.
 */
const BAR = 28;

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export class Progress {
  readonly #label: string;
  readonly #total: number;
  readonly #tty: boolean;
  readonly #enabled: boolean;
  readonly #start = Date.now();
  #lastDecile = -1;
  #lastDraw = 0;

  /** `total` in the unit of `update` (bytes, or percent with `percent`). */
  constructor(label: string, total: number, opts: { enabled: boolean; percent?: boolean; stream?: NodeJS.WriteStream }) {
    this.#label = label;
    this.#total = Math.max(total, 1);
    this.#enabled = opts.enabled;
    this.#tty = Boolean((opts.stream ?? process.stderr).isTTY);
    this.#percent = opts.percent ?? false;
  }

  readonly #percent: boolean;

  update(done: number): void {
    if (!this.#enabled) return;
    const fraction = Math.min(1, done / this.#total);
    const pct = Math.floor(fraction * 100);
    const detail = this.#percent
      ? `${pct}%`
      : `${pct}% ${formatBytes(done)}/${formatBytes(this.#total)} ${formatBytes(done / Math.max(0.001, (Date.now() - this.#start) / 1000))}/s`;
    if (this.#tty) {
      if (Date.now() - this.#lastDraw < 80 && fraction < 1) return;
      this.#lastDraw = Date.now();
      const filled = Math.round(fraction * BAR);
      process.stderr.write(`\r${this.#label} [${'#'.repeat(filled)}${' '.repeat(BAR - filled)}] ${detail}\u001b[K`);
    } else {
      const decile = Math.floor(pct / 10);
      if (decile === this.#lastDecile) return;
      this.#lastDecile = decile;
      process.stderr.write(`${this.#label}: ${detail}\n`);
    }
  }

  /** Ends the bar (a newline on a terminal) with a last word. */
  done(word: string): void {
    if (!this.#enabled) return;
    if (this.#tty) process.stderr.write(`\r${this.#label}: ${word}\u001b[K\n`);
    else process.stderr.write(`${this.#label}: ${word}\n`);
  }
}
