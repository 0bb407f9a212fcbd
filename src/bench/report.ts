// Summaries of a benchmark run: mean RD curves, Bjøntegaard deltas against the measured codecs
// and the published Kodak anchors, speed ratios to mozjpeg, a markdown table and an RD plot.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { bdQuality, bdRate, type RdCurve } from '../metrics/bd.js';
import { median, type BenchResult, type PointRow } from './run.js';

export interface CurvePoint {
  readonly quality: number;
  readonly bpp: number;
  readonly psnr: number;
  readonly ms_ssim: number | null;
}

export interface Anchor {
  readonly id: string;
  readonly label: string;
  readonly file: string;
  readonly bpp: number[];
  readonly psnr: number[];
  readonly ms_ssim?: number[];
}

/** Published Kodak curves in ../shared/anchors/kodak (file, label, how to read it). */
const ANCHOR_FILES: [string, string, string, string?][] = [
  ['vtm', 'VTM (VVC intra, published)', 'vtm.json'],
  ['bpg', 'BPG 4:4:4 x265 (published)', 'bpg_444_x265_ycbcr.json'],
  ['av1', 'AV1 libaom (published)', 'av1.json'],
  ['jpeg-pub', 'JPEG Pillow (published)', 'jpeg.json'],
  ['webp-pub', 'WebP Pillow (published)', 'webp.json'],
  ['mbt2018-mean', 'mbt2018-mean (paper)', 'paper-mbt2018-mean.json'],
  ['elic', 'ELIC (paper)', 'paper-elic2022_mse.json'],
  ['tcm', 'TCM large (paper)', 'other/jmliu206-LIC_TCM_RD_data_kodak.json', 'large'],
];

export function loadAnchors(dir: string): Anchor[] {
  const out: Anchor[] = [];
  for (const [id, label, file, sub] of ANCHOR_FILES) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    let r = JSON.parse(readFileSync(path, 'utf8')).results;
    if (sub) r = r[sub];
    const psnr = r['psnr-rgb'] ?? r.psnr;
    out.push({ id, label, file, bpp: r.bpp, psnr, ...(r['ms-ssim-rgb'] ? { ms_ssim: r['ms-ssim-rgb'] } : {}) });
  }
  return out;
}

/** Mean bpp, PSNR and MS-SSIM over the images at each quality setting (CompressAI convention). */
export function curves(rows: readonly PointRow[]): Record<string, CurvePoint[]> {
  const by = new Map<string, Map<number, PointRow[]>>();
  for (const r of rows) {
    const m = by.get(r.codec) ?? new Map<number, PointRow[]>();
    by.set(r.codec, m);
    m.set(r.quality, [...(m.get(r.quality) ?? []), r]);
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const out: Record<string, CurvePoint[]> = {};
  for (const [codec, m] of by) {
    out[codec] = [...m.entries()].sort((a, b) => a[0] - b[0]).map(([quality, rs]) => ({
      quality, bpp: mean(rs.map((r) => r.bpp)), psnr: mean(rs.map((r) => r.psnr)),
      ms_ssim: rs.every((r) => r.ms_ssim !== null) ? mean(rs.map((r) => r.ms_ssim!)) : null,
    }));
  }
  return out;
}

const msDb = (v: number) => -10 * Math.log10(Math.max(1e-12, 1 - v));
const psnrCurve = (c: readonly CurvePoint[]): RdCurve => ({ bpp: c.map((p) => p.bpp), quality: c.map((p) => p.psnr) });
const msCurve = (c: readonly CurvePoint[]): RdCurve | undefined => (c.every((p) => p.ms_ssim !== null) ? { bpp: c.map((p) => p.bpp), quality: c.map((p) => msDb(p.ms_ssim!)) } : undefined);

export interface Summary {
  readonly curves: Record<string, CurvePoint[]>;
  /** hicodec against each measured codec: BD-rate on PSNR and on MS-SSIM (dB), BD-PSNR. */
  readonly vs_measured: Record<string, { bd_rate_psnr: number | null; bd_rate_msssim: number | null; bd_psnr: number | null }>;
  readonly vs_anchors: Record<string, { label: string; bd_rate_psnr: number | null; bd_psnr: number | null; psnr_range: [number, number] }>;
  /** Median times; ratios to `speed_reference` (mozjpeg 4:2:0 when it ran). */
  readonly speed: Record<string, { encode_ms: number; decode_ms: number; encode_vs_ref: number; decode_vs_ref: number }>;
  readonly speed_reference: string;
  readonly note: string;
  /** hicodec against the hicodec curve of an earlier run on the same images (`hic bench --against`:
   *  a candidate model against the shipped one, both with real bytes). */
  readonly vs_run?: { from: string; model: string | null; bd_rate_psnr: number | null; bd_rate_msssim: number | null; bd_psnr: number | null };
}

/** An earlier run's hicodec curve, to compare this run's against (`hic bench --against`). */
export interface EarlierRun {
  readonly from: string;
  readonly model: string | null;
  readonly curve: readonly CurvePoint[];
}

/** BD figures of curve `test` against curve `anchor` (negative BD-rate: `test` needs fewer bits). */
function versus(anchor: readonly CurvePoint[], test: readonly CurvePoint[]) {
  const a = msCurve(anchor);
  const b = msCurve(test);
  return {
    bd_rate_psnr: orNull(bdRate(psnrCurve(anchor), psnrCurve(test))),
    bd_rate_msssim: a && b ? orNull(bdRate(a, b)) : null,
    bd_psnr: orNull(bdQuality(psnrCurve(anchor), psnrCurve(test))),
  };
}

const orNull = (v: number | undefined) => (v === undefined ? null : v);

export function summarize(res: BenchResult, anchors: readonly Anchor[], earlier?: EarlierRun): Summary {
  const cv = curves(res.rows);
  const hic = cv['hicodec'];
  const vsMeasured: Summary['vs_measured'] = {};
  const vsAnchors: Summary['vs_anchors'] = {};
  if (hic) {
    for (const [id, c] of Object.entries(cv)) {
      if (id !== 'hicodec') vsMeasured[id] = versus(c, hic);
    }
    for (const an of anchors) {
      const ac: RdCurve = { bpp: an.bpp, quality: an.psnr };
      vsAnchors[an.id] = {
        label: an.label, bd_rate_psnr: orNull(bdRate(ac, psnrCurve(hic))), bd_psnr: orNull(bdQuality(ac, psnrCurve(hic))),
        psnr_range: [Math.min(...an.psnr), Math.max(...an.psnr)],
      };
    }
  }
  const speed: Summary['speed'] = {};
  const perCodec = (id: string) => res.rows.filter((r) => r.codec === id);
  // speed ratios against mozjpeg 4:2:0 when it ran, else against the first other codec that ran
  // (a run without mozjpeg used to print NaN in every ratio column)
  const refId = perCodec('mozjpeg-420').length ? 'mozjpeg-420' : (res.codecs.find((c) => c.id !== 'hicodec' && perCodec(c.id).length)?.id ?? 'hicodec');
  const ref = perCodec(refId);
  const refEnc = median(ref.map((r) => r.encode_ms));
  const refDec = median(ref.map((r) => r.decode_ms));
  const put = (key: string, enc: number, dec: number) => {
    speed[key] = { encode_ms: enc, decode_ms: dec, encode_vs_ref: enc / refEnc, decode_vs_ref: dec / refDec };
  };
  for (const c of res.codecs) {
    const rs = perCodec(c.id);
    if (rs.length) put(c.id, median(rs.map((r) => r.encode_ms)), median(rs.map((r) => r.decode_ms)));
  }
  for (const t of [1, 2]) {
    const rs = res.hicodec_speed.filter((s) => s.threads === t);
    if (rs.length) put(`hicodec-${t}t-q75`, median(rs.map((r) => r.encode_ms)), median(rs.map((r) => r.decode_ms)));
  }
  return {
    curves: cv, vs_measured: vsMeasured, vs_anchors: vsAnchors, speed, speed_reference: refId,
    ...(earlier && hic ? { vs_run: { from: earlier.from, model: earlier.model, ...versus(earlier.curve, hic) } } : {}),
    note: `BD-rate: average bitrate difference of hicodec against the other curve at equal quality (negative = hicodec needs fewer bits), PCHIP on log-rate over the overlapping quality interval; null = the curves do not overlap. MS-SSIM BD-rates use MS-SSIM in dB. Speed: median over all points of the codec; ratios to ${refId} measured in the same run.`,
  };
}

const pct = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a (no overlap)' : `${v > 0 ? '+' : ''}${v.toFixed(1)}%`);
const db = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : `${v > 0 ? '+' : ''}${v.toFixed(2)} dB`);

export function markdown(res: BenchResult, s: Summary, meta: { name: string; machine: Record<string, unknown>; command: string }): string {
  const label = (id: string) => res.codecs.find((c) => c.id === id)?.label ?? id;
  const range = (id: string) => {
    const c = s.curves[id] ?? [];
    return `${Math.min(...c.map((p) => p.bpp)).toFixed(3)}–${Math.max(...c.map((p) => p.bpp)).toFixed(3)} bpp, ${Math.min(...c.map((p) => p.psnr)).toFixed(2)}–${Math.max(...c.map((p) => p.psnr)).toFixed(2)} dB`;
  };
  const lines = [
    `Run \`${meta.name}\`: ${res.images.length} images, ${res.rows.length} points, ${(res.wall_s / 60).toFixed(1)} minutes.`,
    `Machine: ${meta.machine['cpu']} (${meta.machine['cores']} cores), ${meta.machine['memory_gib']} GiB, ${meta.machine['os']}, Node ${meta.machine['node']}.`,
    '',
    '### hicodec against the codecs measured in this run (real file bytes)',
    '',
    `| codec | range | BD-rate (PSNR) | BD-rate (MS-SSIM) | BD-PSNR | encode ms | decode ms | encode × ${label(s.speed_reference)} | decode × ${label(s.speed_reference)} |`,
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of res.codecs) {
    const sp = s.speed[c.id];
    const vs = s.vs_measured[c.id];
    lines.push(`| ${c.label} | ${range(c.id)} | ${c.id === 'hicodec' ? '—' : pct(vs?.bd_rate_psnr)} | ${c.id === 'hicodec' ? '—' : pct(vs?.bd_rate_msssim)} | ${c.id === 'hicodec' ? '—' : db(vs?.bd_psnr)} | ${sp?.encode_ms.toFixed(0)} | ${sp?.decode_ms.toFixed(0)} | ${sp?.encode_vs_ref.toFixed(1)} | ${sp?.decode_vs_ref.toFixed(1)} |`);
  }
  for (const t of [1, 2]) {
    const sp = s.speed[`hicodec-${t}t-q75`];
    if (sp) lines.push(`| hicodec, ${t} thread${t > 1 ? 's' : ''}, quality 75 (median of 3) | | | | | ${sp.encode_ms.toFixed(0)} | ${sp.decode_ms.toFixed(0)} | ${sp.encode_vs_ref.toFixed(1)} | ${sp.decode_vs_ref.toFixed(1)} |`);
  }
  if (s.vs_run) {
    const v = s.vs_run;
    lines.push('', `### hicodec against the earlier run \`${v.from}\`${v.model ? ` (model \`${v.model}\`)` : ''} on the same images (real file bytes)`, '',
      '| BD-rate (PSNR) | BD-rate (MS-SSIM) | BD-PSNR |', '|---:|---:|---:|', `| ${pct(v.bd_rate_psnr)} | ${pct(v.bd_rate_msssim)} | ${db(v.bd_psnr)} |`);
  }
  if (Object.keys(s.vs_anchors).length) {
    lines.push('', '### hicodec against published Kodak curves', '', '| anchor | its PSNR range | BD-rate (PSNR) | BD-PSNR |', '|---|---|---:|---:|');
    for (const a of Object.values(s.vs_anchors)) lines.push(`| ${a.label} | ${a.psnr_range[0].toFixed(2)}–${a.psnr_range[1].toFixed(2)} dB | ${pct(a.bd_rate_psnr)} | ${db(a.bd_psnr)} |`);
  }
  if (res.model) {
    const m = res.model.macs_per_pixel;
    lines.push('', `Model \`${res.model.id}\`: ${(res.model.package_bytes / 2 ** 20).toFixed(2)} MiB; MACs per pixel: g_a ${m['g_a']}, h_a ${m['h_a']}, h_s_scale ${m['h_s_scale']}, h_s_mean ${m['h_s_mean']}, g_s ${m['g_s']}.`);
  }
  lines.push('', 'Codec settings and versions:', '');
  for (const c of res.codecs) lines.push(`- ${c.label}: ${c.settings}; ${c.version}; qualities ${c.qualities.join(', ')}`);
  lines.push('', s.note, '', `Reproduce: \`${meta.command}\``);
  return lines.join('\n') + '\n';
}

const PALETTE = ['#1f77b4', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#ff7f0e', '#aec7e8', '#98df8a', '#c5b0d5', '#c49c94', '#f7b6d2'];

/** Two RD panels (PSNR and MS-SSIM in dB against bpp) as one SVG. */
export function svgPlot(res: BenchResult, s: Summary, anchors: readonly Anchor[], title = 'Kodak'): string {
  const W = 620;
  const H = 460;
  const m = { l: 60, r: 170, t: 30, b: 50 };
  type Series = { label: string; pts: [number, number][]; color: string; dashed: boolean; width: number };
  const panel = (metric: 'psnr' | 'ms', ox: number): string => {
    const series: Series[] = [];
    let k = 0;
    for (const c of res.codecs) {
      const cv = s.curves[c.id] ?? [];
      const pts = cv.filter((p) => metric === 'psnr' || p.ms_ssim !== null).map((p) => [p.bpp, metric === 'psnr' ? p.psnr : msDb(p.ms_ssim!)] as [number, number]);
      if (pts.length) series.push({ label: c.label, pts, color: c.id === 'hicodec' ? '#d62728' : PALETTE[k++ % PALETTE.length]!, dashed: false, width: c.id === 'hicodec' ? 3 : 1.5 });
    }
    for (const a of anchors) {
      const ys = metric === 'psnr' ? a.psnr : a.ms_ssim?.map(msDb);
      if (ys) series.push({ label: a.label, pts: a.bpp.map((b, i) => [b, ys[i]!] as [number, number]), color: PALETTE[k++ % PALETTE.length]!, dashed: true, width: 1.2 });
    }
    const measured = series.filter((x) => !x.dashed).flatMap((x) => x.pts);
    const xMax = Math.min(2.5, Math.max(1, ...measured.map((p) => p[0])));
    const ys = measured.map((p) => p[1]);
    const yMin = Math.floor(Math.min(...ys));
    const yMax = Math.ceil(Math.max(...ys, ...series.filter((x) => x.dashed).flatMap((x) => x.pts.filter((p) => p[0] <= xMax).map((p) => p[1]))));
    const X = (v: number) => ox + m.l + (v / xMax) * (W - m.l - m.r);
    const Y = (v: number) => m.t + (1 - (v - yMin) / (yMax - yMin)) * (H - m.t - m.b);
    const id = `clip-${metric}`;
    const out = [`<clipPath id="${id}"><rect x="${X(0)}" y="${m.t}" width="${X(xMax) - X(0)}" height="${H - m.t - m.b}"/></clipPath>`];
    out.push(`<rect x="${X(0)}" y="${m.t}" width="${X(xMax) - X(0)}" height="${H - m.t - m.b}" fill="none" stroke="#333"/>`);
    const xStep = xMax > 1.5 ? 0.5 : 0.25;
    for (let v = 0; v <= xMax + 1e-9; v += xStep) out.push(`<line x1="${X(v)}" x2="${X(v)}" y1="${m.t}" y2="${H - m.b}" stroke="#ddd"/><text x="${X(v)}" y="${H - m.b + 16}" font-size="11" text-anchor="middle">${v.toFixed(2)}</text>`);
    const yStep = yMax - yMin > 12 ? 2 : 1;
    for (let v = yMin; v <= yMax; v += yStep) out.push(`<line x1="${X(0)}" x2="${X(xMax)}" y1="${Y(v)}" y2="${Y(v)}" stroke="#ddd"/><text x="${X(0) - 6}" y="${Y(v) + 4}" font-size="11" text-anchor="end">${v}</text>`);
    out.push(`<text x="${(X(0) + X(xMax)) / 2}" y="${H - 12}" font-size="12" text-anchor="middle">bits per pixel</text>`);
    out.push(`<text x="${ox + 16}" y="${(m.t + H - m.b) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 ${ox + 16} ${(m.t + H - m.b) / 2})">${metric === 'psnr' ? 'PSNR (dB, RGB)' : 'MS-SSIM (dB)'}</text>`);
    out.push(`<text x="${(X(0) + X(xMax)) / 2}" y="18" font-size="13" text-anchor="middle" font-weight="bold">${title}: ${metric === 'psnr' ? 'PSNR' : 'MS-SSIM'} vs rate</text>`);
    series.forEach((sr, i) => {
      const d = sr.pts.map((p, j) => `${j ? 'L' : 'M'}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join('');
      out.push(`<path d="${d}" fill="none" stroke="${sr.color}" stroke-width="${sr.width}" ${sr.dashed ? 'stroke-dasharray="5,3"' : ''} clip-path="url(#${id})"/>`);
      if (!sr.dashed) for (const p of sr.pts) if (p[0] <= xMax) out.push(`<circle cx="${X(p[0]).toFixed(1)}" cy="${Y(p[1]).toFixed(1)}" r="2.2" fill="${sr.color}"/>`);
      const ly = m.t + 10 + i * 15;
      out.push(`<line x1="${X(xMax) + 8}" x2="${X(xMax) + 26}" y1="${ly}" y2="${ly}" stroke="${sr.color}" stroke-width="${sr.width}" ${sr.dashed ? 'stroke-dasharray="5,3"' : ''}/><text x="${X(xMax) + 30}" y="${ly + 4}" font-size="10">${sr.label.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>`);
    });
    return out.join('\n');
  };
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H}" viewBox="0 0 ${2 * W} ${H}" font-family="DejaVu Sans, Arial, sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${panel('psnr', 0)}\n${panel('ms', W)}\n</svg>\n`;
}
