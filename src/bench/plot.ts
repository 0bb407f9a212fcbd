// A small SVG line plot for benchmark results (time, memory, speed-ups against a size).
export interface PlotSeries {
  readonly label: string;
  readonly pts: readonly (readonly [number, number])[];
  readonly color?: string;
  readonly dashed?: boolean;
}

const PALETTE = ['#d62728', '#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function ticks(lo: number, hi: number): number[] {
  const span = hi - lo || 1;
  const step0 = 10 ** Math.floor(Math.log10(span / 5));
  const step = [1, 2, 5, 10].map((k) => k * step0).find((s) => span / s <= 8)!;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** One panel; several panels side by side with `panels`. */
export function linePlot(p: { title: string; xLabel: string; yLabel: string; series: readonly PlotSeries[]; yMin?: number }, ox = 0): { svg: string; width: number } {
  const W = 520;
  const H = 380;
  const m = { l: 64, r: 150, t: 30, b: 48 };
  const all = p.series.flatMap((s) => s.pts);
  const xMax = Math.max(...all.map((q) => q[0]), 1e-9);
  const yLo = p.yMin ?? Math.min(0, ...all.map((q) => q[1]));
  const yMax = Math.max(...all.map((q) => q[1]), yLo + 1e-9) * 1.05;
  const X = (v: number) => ox + m.l + (v / xMax) * (W - m.l - m.r);
  const Y = (v: number) => m.t + (1 - (v - yLo) / (yMax - yLo)) * (H - m.t - m.b);
  const out = [`<rect x="${X(0)}" y="${m.t}" width="${X(xMax) - X(0)}" height="${H - m.t - m.b}" fill="none" stroke="#333"/>`];
  for (const v of ticks(0, xMax)) out.push(`<line x1="${X(v)}" x2="${X(v)}" y1="${m.t}" y2="${H - m.b}" stroke="#ddd"/><text x="${X(v)}" y="${H - m.b + 16}" font-size="11" text-anchor="middle">${v}</text>`);
  for (const v of ticks(yLo, yMax)) out.push(`<line x1="${X(0)}" x2="${X(xMax)}" y1="${Y(v)}" y2="${Y(v)}" stroke="#ddd"/><text x="${X(0) - 6}" y="${Y(v) + 4}" font-size="11" text-anchor="end">${v}</text>`);
  out.push(`<text x="${(X(0) + X(xMax)) / 2}" y="${H - 12}" font-size="12" text-anchor="middle">${esc(p.xLabel)}</text>`);
  out.push(`<text x="${ox + 16}" y="${(m.t + H - m.b) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 ${ox + 16} ${(m.t + H - m.b) / 2})">${esc(p.yLabel)}</text>`);
  out.push(`<text x="${(X(0) + X(xMax)) / 2}" y="18" font-size="13" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`);
  p.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const d = s.pts.map((q, j) => `${j ? 'L' : 'M'}${X(q[0]).toFixed(1)},${Y(q[1]).toFixed(1)}`).join('');
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2" ${s.dashed ? 'stroke-dasharray="5,3"' : ''}/>`);
    for (const q of s.pts) out.push(`<circle cx="${X(q[0]).toFixed(1)}" cy="${Y(q[1]).toFixed(1)}" r="2.5" fill="${color}"/>`);
    const ly = m.t + 10 + i * 15;
    out.push(`<line x1="${X(xMax) + 8}" x2="${X(xMax) + 26}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2" ${s.dashed ? 'stroke-dasharray="5,3"' : ''}/><text x="${X(xMax) + 30}" y="${ly + 4}" font-size="10">${esc(s.label)}</text>`);
  });
  return { svg: out.join('\n'), width: W };
}

export function panels(list: Parameters<typeof linePlot>[0][]): string {
  let ox = 0;
  const parts: string[] = [];
  for (const p of list) {
    const { svg, width } = linePlot(p, ox);
    parts.push(svg);
    ox += width;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${ox}" height="380" viewBox="0 0 ${ox} 380" font-family="DejaVu Sans, Arial, sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}
