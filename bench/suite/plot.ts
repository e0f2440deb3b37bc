/**
 * The report's figure, written by hand as SVG (no plotting dependency): on the left, one
 * horizontal bar per scenario of ph5's cost relative to its baseline (or to its target where
 * there is no baseline) on a log scale (bars
 * grow right of 1 when ph5 is slower, left when faster), with the target as a tick; on the
 * right, bulk-write time against ranks for ph5 and h5py-mpio.
 */

export interface RatioBar {
  label: string;
  /** ph5 cost ÷ baseline cost (lower is better). */
  ratio: number;
  /** The largest acceptable ratio, if the scenario has one. */
  target?: number;
  met: boolean | null;
}

export interface ScalingLine {
  label: string;
  color: string;
  points: { ranks: number; seconds: number }[];
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (v: number): string => (v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(2));

export function renderSvg(title: string, bars: RatioBar[], lines: ScalingLine[], subtitle: string): string {
  const W = 1000;
  const barsLeft = 250; // room for labels
  const barsWidth = 380;
  const rowH = 26;
  const top = 70;
  const plotH = Math.max(bars.length * rowH, 220);
  const H = top + plotH + 70;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="16" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="16" y="44" fill="#555">${esc(subtitle)}</text>`);

  // Left: ratio bars on a log scale.
  const finite = bars.map((b) => b.ratio).filter((r) => Number.isFinite(r) && r > 0);
  const targets = bars.map((b) => b.target ?? 1).filter((r) => r > 0);
  const lo = Math.floor(Math.log10(Math.min(0.5, ...finite, ...targets)));
  const hi = Math.ceil(Math.log10(Math.max(2, ...finite, ...targets)));
  const x = (r: number): number => barsLeft + ((Math.log10(r) - lo) / (hi - lo)) * barsWidth;
  out.push(`<text x="${barsLeft}" y="${top - 10}" font-weight="bold">ph5 ÷ baseline, or ÷ target (log scale; lower is better)</text>`);
  for (let d = lo; d <= hi; d++) {
    const v = 10 ** d;
    out.push(`<line x1="${x(v).toFixed(1)}" y1="${top}" x2="${x(v).toFixed(1)}" y2="${top + plotH}" stroke="${d === 0 ? '#333' : '#ddd'}"/>`);
    out.push(`<text x="${x(v).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle">${fmt(v)}×</text>`);
  }
  bars.forEach((b, i) => {
    const y = top + i * rowH + 4;
    out.push(`<text x="${barsLeft - 8}" y="${y + 13}" text-anchor="end">${esc(b.label)}</text>`);
    if (!(Number.isFinite(b.ratio) && b.ratio > 0)) {
      out.push(`<text x="${x(1) + 4}" y="${y + 13}" fill="#999">not measured</text>`);
      return;
    }
    const color = b.met === null ? '#8c8c8c' : b.met ? '#2e9d4f' : '#d2453a';
    const x0 = Math.min(x(1), x(b.ratio));
    const w = Math.max(1, Math.abs(x(b.ratio) - x(1)));
    out.push(`<rect x="${x0.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${rowH - 10}" fill="${color}"/>`);
    const right = b.ratio >= 1;
    out.push(`<text x="${(right ? x0 + w + 4 : x0 - 4).toFixed(1)}" y="${y + 13}" text-anchor="${right ? 'start' : 'end'}">${fmt(b.ratio)}×</text>`);
    if (b.target !== undefined) {
      const tx = x(b.target).toFixed(1);
      out.push(`<line x1="${tx}" y1="${y - 2}" x2="${tx}" y2="${y + rowH - 4}" stroke="black" stroke-width="2" stroke-dasharray="3,2"/>`);
    }
  });
  out.push(`<text x="${barsLeft}" y="${top + plotH + 36}" fill="#555">green: target met, red: not met, grey: no target; dashed tick: target</text>`);

  // Right: scaling, seconds against ranks (ranks on a log2 axis).
  const left = 720;
  const width = 250;
  const allPts = lines.flatMap((l) => l.points).filter((p) => Number.isFinite(p.seconds));
  out.push(`<text x="${left - 40}" y="${top - 10}" font-weight="bold">Bulk write time vs ranks</text>`);
  if (allPts.length) {
    const rmax = Math.max(...allPts.map((p) => p.ranks));
    const ymax = Math.max(...allPts.map((p) => p.seconds)) * 1.15;
    const px = (r: number): number => left + (rmax > 1 ? (Math.log2(r) / Math.log2(rmax)) * width : width / 2);
    const py = (s: number): number => top + plotH - (s / ymax) * plotH;
    out.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + width}" y2="${top + plotH}" stroke="#333"/>`);
    out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333"/>`);
    for (const r of [...new Set(allPts.map((p) => p.ranks))].sort((a, b) => a - b)) {
      out.push(`<text x="${px(r).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle">${r}</text>`);
    }
    out.push(`<text x="${left + width / 2}" y="${top + plotH + 36}" text-anchor="middle">ranks</text>`);
    for (let k = 0; k <= 4; k++) {
      const s = (ymax / 4) * k;
      out.push(`<line x1="${left - 4}" y1="${py(s).toFixed(1)}" x2="${left + width}" y2="${py(s).toFixed(1)}" stroke="#eee"/>`);
      out.push(`<text x="${left - 6}" y="${(py(s) + 4).toFixed(1)}" text-anchor="end">${fmt(s)} s</text>`);
    }
    lines.forEach((l, i) => {
      const pts = l.points.filter((p) => Number.isFinite(p.seconds)).sort((a, b) => a.ranks - b.ranks);
      if (!pts.length) return;
      out.push(
        `<polyline fill="none" stroke="${l.color}" stroke-width="2" points="${pts.map((p) => `${px(p.ranks).toFixed(1)},${py(p.seconds).toFixed(1)}`).join(' ')}"/>`,
      );
      for (const p of pts) out.push(`<circle cx="${px(p.ranks).toFixed(1)}" cy="${py(p.seconds).toFixed(1)}" r="3" fill="${l.color}"/>`);
      out.push(`<rect x="${left + 10}" y="${top + 6 + i * 16}" width="10" height="10" fill="${l.color}"/>`);
      out.push(`<text x="${left + 24}" y="${top + 15 + i * 16}">${esc(l.label)}</text>`);
    });
  } else {
    out.push(`<text x="${left}" y="${top + 20}" fill="#999">not measured</text>`);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
