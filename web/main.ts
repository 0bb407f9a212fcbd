// The page: file intake, jobs on the codec worker and the comparison worker (numbered: a new file,
// a new setting or Cancel replaces the job in progress and its late replies are dropped), one
// progress bar per job, the results table and its summary, the split comparison (drag, pan, zoom,
// loupe), Explain, downloads, and visible errors (never a blank page).
import { exifOrientation, resetOrientation } from '../src/core/exif.js';
import { extractMetadata } from '../src/core/metadata.js';
import { rgbaToPicture, rgbToRgba } from '../src/core/pixels.js';
import type { ImageMetadata } from '../src/codec/codec.js';
import { type CompareAt, rightSide } from './compare-at.js';
import { JobProgress, PLANS } from './progress.js';
import type { CompareReply, CompareRequest, Compared, MetaSizes, Reply, Request, Scale, Shown } from './protocol.js';

type Rgb = { width: number; height: number; data: Uint8Array; channels?: 1 | 2 | 3 | 4 };
/** A panel may be a grid of tiles, each a scaled view of the image (feature and attention maps). */
type Panel = Rgb & { tile?: { w: number; h: number; cols: number } };
const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const data = document.body.dataset;

const state: {
  source: Rgb | undefined; sourceId: number; name: string; metadata: ImageMetadata;
  shown: (Shown | Compared)[]; hic: Uint8Array | undefined; encodedQuality: number | undefined;
  panels: Record<string, Panel>; scales: Record<string, Scale>; view: string;
  ready: boolean; split: number;
} = {
  source: undefined, sourceId: 0, name: 'image', metadata: {}, shown: [], hic: undefined, encodedQuality: undefined,
  panels: {}, scales: {}, view: 'bits_y', ready: false, split: 0.5,
};

// ---- messages ----------------------------------------------------------------------------
function showError(msg: string): void {
  const el = $('error');
  el.textContent = msg;
  el.hidden = false;
  busy(false);
  el.scrollIntoView({ block: 'nearest' }); // never off screen above old results
}
const clearError = () => {
  $('error').hidden = true;
  delete data['error'];
};
function notice(msg: string | undefined): void {
  $('notice').textContent = msg ?? '';
  $('notice').hidden = !msg;
}
/** A codec error in words a person can act on (the code stays, for a bug report). */
function explainError(code: string, message: string): string {
  if (code === 'E_OUT_OF_MEMORY') return `Out of memory: try a smaller image. (${message})`;
  if (code === 'E_UNSUPPORTED_IMAGE') return `This image cannot be read: ${message} (${code})`;
  if (code === 'E_LIMIT_EXCEEDED') return `This image is too large for the codec: ${message} (${code})`;
  if (['E_BAD_MAGIC', 'E_TRUNCATED', 'E_CORRUPT', 'E_CHECKSUM', 'E_UNSUPPORTED_VERSION'].includes(code)) return `This .hic file is damaged or not one this page can read: ${message} (${code})`;
  return `${code}: ${message}`;
}

// ---- jobs and progress -----------------------------------------------------------------
let job = 0;
let running: keyof typeof PLANS | undefined;
const progress = new JobProgress((p) => {
  ($('busy-progress') as HTMLProgressElement).value = p.fraction;
  $('busy-text').textContent = p.text;
  $('busy-eta').textContent = p.eta;
});

/** The busy state: shown while a job runs, with its progress and a Cancel button. */
function busy(on: boolean, text?: string): void {
  $('busy').hidden = !on;
  if (on) data['busy'] = '1';
  else {
    delete data['busy'];
    progress.stop();
    running = undefined;
  }
  if (text) $('busy-text').textContent = text;
  updateEncodeButton();
}

/** Starts a job of `kind`: whatever ran before is cancelled and its replies are dropped. */
function startJob(kind: keyof typeof PLANS): number {
  stopRunning();
  clearError();
  notice(undefined);
  job++;
  data['job'] = String(job);
  running = kind;
  busy(true);
  progress.start(kind);
  return job;
}

/** Cancels the running job, if any: the codec worker stops at its next tile or step, the
 *  comparison worker is stopped at once. */
function stopRunning(): boolean {
  if (!running) return false;
  send({ type: 'cancel', job });
  stopCompare();
  job++;
  data['job'] = String(job);
  busy(false);
  return true;
}

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (m: Request, transfer: Transferable[] = []) => worker.postMessage(m, transfer);
worker.onerror = (e) => showError(`The codec worker failed: ${e.message}`);

let compareWorker: Worker | undefined;
function compareWith(m: CompareRequest): void {
  compareWorker ??= new Worker(new URL('./compare-worker.ts', import.meta.url), { type: 'module' });
  compareWorker.onmessage = (ev: MessageEvent<CompareReply>) => onCompare(ev.data);
  compareWorker.onerror = (e) => showError(`The comparison failed: ${e.message}`);
  compareWorker.postMessage(m, [m.image.data.buffer, m.decoded.data.buffer]);
}
function stopCompare(): void {
  compareWorker?.terminate();
  compareWorker = undefined;
}

// ---- formatting ----------------------------------------------------------------------------
const fmtMs = (v: number) => `${v.toFixed(0)} ms`;
const fmtBytes = (n: number) => n.toLocaleString('en');
const fmtMB = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const pct = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(0)}%`;

function metaText(m: MetaSizes, alphaBytes?: number): string {
  const parts = [['ICC profile', m.icc], ['Exif', m.exif], ['XMP', m.xmp]].filter(([, n]) => n).map(([k, n]) => `${k} (${fmtBytes(n as number)} bytes)`);
  const alpha = alphaBytes ? ` · alpha: ${fmtBytes(alphaBytes)} bytes, lossless` : '';
  return `Metadata kept: ${parts.length ? parts.join(', ') : 'none'}${alpha}`;
}

function row(s: Shown | Compared): string {
  const ms = s.msssim === null ? (running === 'encode' && Number.isFinite(s.psnr) ? '…' : '—') : s.msssim.toFixed(4);
  // a dropped .hic has no original to compare with: no PSNR, no encode time
  const psnr = Number.isFinite(s.psnr) ? `${s.psnr.toFixed(2)} dB` : '—';
  const c = 'psnrAtSize' in s ? s : undefined;
  const atSize = c?.psnrAtSize != null ? `${c.psnrAtSize.toFixed(2)} dB` : '—';
  const atPsnr = c?.bytesAtPsnr != null ? fmtBytes(c.bytesAtPsnr) : '—';
  return `<tr data-codec="${s.codec}" data-bytes="${s.bytes}" data-quality="${s.quality}" data-decode-ms="${s.decodeMs.toFixed(1)}" data-psnr="${Number.isFinite(s.psnr) ? s.psnr.toFixed(4) : ''}"><td>${s.codec}</td><td>${s.quality}</td><td>${fmtBytes(s.bytes)}</td><td>${s.bpp.toFixed(3)}</td><td>${psnr}</td><td>${ms}</td><td>${s.encodeMs ? fmtMs(s.encodeMs) : '—'}</td><td>${fmtMs(s.decodeMs)}</td><td>${c ? atSize : ''}</td><td>${c ? atPsnr : ''}</td></tr>`;
}

/** The one-line verdicts: dB at hicodec's size, bytes at hicodec's PSNR. */
function summaries(): { size: string; equal: string } {
  const hic = state.shown[0];
  const others = state.shown.slice(1) as Compared[];
  if (!hic || !others.length || !Number.isFinite(hic.psnr)) return { size: '', equal: '' };
  const size = others.map((o) => {
    const their = o.psnrAtSize ?? o.psnr;
    const d = hic.psnr - their;
    const note = o.psnrAtSize == null ? ` (its closest file: ${fmtBytes(o.bytes)} bytes)` : '';
    return `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(1)} dB ${d >= 0 ? 'over' : 'behind'} ${o.codec}${note}`;
  });
  const equal = others.map((o) => (o.bytesAtPsnr == null ? `${o.codec}: out of its range` : `${o.codec} needs ${fmtBytes(o.bytesAtPsnr)} bytes (${pct((100 * (o.bytesAtPsnr - hic.bytes)) / hic.bytes)})`));
  return {
    size: `At this size (${fmtBytes(hic.bytes)} bytes, ${hic.psnr.toFixed(1)} dB): ${size.join(', ')}.`,
    equal: `At the same quality (PSNR ${hic.psnr.toFixed(1)} dB, where hicodec takes ${fmtBytes(hic.bytes)} bytes): ${equal.join(', ')}.`,
  };
}

// ---- the comparison view ---------------------------------------------------------------------
/** A reduced picture brought back to full size by the browser's smooth scaling (alpha kept). */
function upscale(img: Rgb, w: number, h: number): Rgb {
  const small = document.createElement('canvas');
  draw(small, img);
  const big = document.createElement('canvas');
  big.width = w;
  big.height = h;
  const g = big.getContext('2d')!;
  g.imageSmoothingQuality = 'high';
  g.drawImage(small, 0, 0, w, h);
  const rgba = g.getImageData(0, 0, w, h).data;
  return { width: w, height: h, channels: 4, data: new Uint8Array(rgba.buffer, rgba.byteOffset, rgba.byteLength) };
}

function draw(canvas: HTMLCanvasElement, img: Rgb): void {
  canvas.width = img.width;
  canvas.height = img.height;
  canvas.getContext('2d')!.putImageData(new ImageData(rgbToRgba(img) as Uint8ClampedArray<ArrayBuffer>, img.width, img.height), 0, 0);
}

function zoomFactor(): number {
  const left = $('left') as HTMLCanvasElement;
  const z = ($('zoom') as HTMLSelectElement).value;
  // "fit": the whole image in the viewport's width (never enlarged)
  return z === 'fit' ? Math.min(1, ($('viewer').clientWidth || left.width) / Math.max(1, left.width)) : Number(z);
}

/** Sizes the canvases for the zoom and puts the split line at `state.split` of the visible width
 *  (so at any zoom and pan it is in view); the range input spans exactly the visible image. */
function layout(): void {
  const left = $('left') as HTMLCanvasElement;
  const right = $('right') as HTMLCanvasElement;
  const vp = $('viewport');
  const zoom = zoomFactor();
  const w = left.width * zoom;
  const h = left.height * zoom;
  for (const c of [left, right]) {
    c.style.width = `${w}px`;
    c.style.height = `${h}px`;
  }
  vp.style.width = `${Math.min(w, $('viewer').clientWidth)}px`;
  const visW = Math.min(vp.clientWidth || w, w);
  const x = vp.scrollLeft + state.split * visW;
  right.style.clipPath = `inset(0 0 0 ${x}px)`;
  const line = $('split-line');
  line.style.left = `${x}px`;
  line.style.height = `${h}px`;
  const visH = Math.min(vp.clientHeight || h, h);
  $('split-handle').style.top = `${vp.scrollTop + visH / 2}px`;
  const range = $('split') as HTMLInputElement;
  range.style.width = `${visW}px`;
  range.value = String(Math.round(state.split * 1000));
  // the side labels sit on the visible picture's top corners (the right one below the left one
  // when the picture is too narrow for both)
  const rl = $('right-label');
  const crowded = $('left-label').offsetWidth + rl.offsetWidth + 18 > visW;
  rl.style.left = `${Math.max(0, visW - rl.offsetWidth - 6)}px`;
  rl.style.top = crowded ? '32px' : '6px';
  data['split'] = state.split.toFixed(3);
}

/** Changes the zoom keeping the picture's point at the split line where it is on screen. */
function setZoom(): void {
  const vp = $('viewport');
  const left = $('left') as HTMLCanvasElement;
  const before = left.getBoundingClientRect().width / Math.max(1, left.width);
  const visW = vp.clientWidth;
  const visH = vp.clientHeight;
  const cx = (vp.scrollLeft + state.split * visW) / before;
  const cy = (vp.scrollTop + visH / 2) / before;
  layout();
  const after = zoomFactor();
  vp.scrollLeft = cx * after - state.split * vp.clientWidth;
  vp.scrollTop = cy * after - vp.clientHeight / 2;
  layout();
}

function render(): void {
  const hic = state.shown.find((s) => s.codec === 'hicodec');
  if (!hic) return;
  $('results').hidden = false;
  $('results').classList.remove('stale');
  ($('stats').querySelector('tbody') as HTMLElement).innerHTML = state.shown.map(row).join('');
  const s = summaries();
  $('summary').textContent = s.size;
  $('equal').textContent = s.equal;
  const sel = $('compare-with') as HTMLSelectElement;
  const options = [...(state.source ? ['original'] : []), ...state.shown.filter((x) => x.codec !== 'hicodec').map((x) => x.codec)];
  const keep = sel.value;
  sel.innerHTML = options.map((o) => `<option>${o}</option>`).join('');
  if (options.includes(keep)) sel.value = keep;
  sel.disabled = !options.length;
  showComparison();
  devCosts();
}

function showComparison(): void {
  const hic = state.shown.find((s) => s.codec === 'hicodec');
  if (!hic) return;
  const left = $('left') as HTMLCanvasElement;
  if (left.dataset['for'] !== String(job)) {
    draw(left, hic.image);
    left.dataset['for'] = String(job);
  }
  const sel = $('compare-with') as HTMLSelectElement;
  const at = ($('compare-at') as HTMLSelectElement).value as CompareAt;
  const o = state.shown.find((s) => s.codec === sel.value);
  const side = o ? (rightSide(o, at, hic.psnr) ?? rightSide(o, 'size', hic.psnr)) : undefined;
  const other = sel.value === 'original' ? state.source : side?.image;
  // a decoded .hic has nothing to compare with: no stale right half from the previous image
  const right = $('right') as HTMLCanvasElement;
  right.hidden = !other;
  $('split-line').hidden = !other;
  ($('split') as HTMLInputElement).hidden = !other;
  const key = `${job}:${sel.value}:${other === o?.image ? 'size' : at}`;
  if (other && right.dataset['for'] !== key) {
    draw(right, other);
    right.dataset['for'] = key;
  }
  $('left-label').textContent = `◀ hicodec (${fmtBytes(hic.bytes)} bytes${at === 'quality' && Number.isFinite(hic.psnr) ? ` · ${hic.psnr.toFixed(1)} dB` : ''})`;
  $('right-label').textContent = side ? side.label : other ? 'original ▶' : '';
  $('right-label').hidden = !other;
  layout();
}

// drag the line to move the split; drag elsewhere to pan (both images move together)
{
  const vp = $('viewport');
  let drag: { mode: 'split' | 'pan'; x: number; y: number; sl: number; st: number } | undefined;
  const splitAt = (clientX: number) => {
    const r = vp.getBoundingClientRect();
    const visW = Math.min(vp.clientWidth, ($('left') as HTMLCanvasElement).getBoundingClientRect().width);
    state.split = Math.min(1, Math.max(0, (clientX - r.left) / Math.max(1, visW)));
    layout();
  };
  vp.addEventListener('pointerdown', (e) => {
    if ($('right').hidden) return;
    const line = $('split-line').getBoundingClientRect();
    const canPan = vp.scrollWidth > vp.clientWidth + 1 || vp.scrollHeight > vp.clientHeight + 1;
    const near = Math.abs(e.clientX - (line.left + line.width / 2)) < 24;
    drag = { mode: near || !canPan ? 'split' : 'pan', x: e.clientX, y: e.clientY, sl: vp.scrollLeft, st: vp.scrollTop };
    vp.setPointerCapture(e.pointerId);
    if (drag.mode === 'split') splitAt(e.clientX);
    e.preventDefault();
  });
  vp.addEventListener('pointermove', (e) => {
    if (drag?.mode === 'split') splitAt(e.clientX);
    else if (drag) {
      vp.scrollLeft = drag.sl - (e.clientX - drag.x);
      vp.scrollTop = drag.st - (e.clientY - drag.y);
    }
    loupe(e);
  });
  const end = () => (drag = undefined);
  vp.addEventListener('pointerup', end);
  vp.addEventListener('pointercancel', end);
  vp.addEventListener('pointerleave', () => ($('loupe').hidden = true));
  vp.addEventListener('scroll', layout);
  vp.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    state.split = Math.min(1, Math.max(0, state.split + (e.key === 'ArrowLeft' ? -0.02 : 0.02)));
    layout();
    e.preventDefault();
  });
}

/** The loupe: 4× around the pointer, hicodec on the left half and the other on the right. */
function loupe(e: PointerEvent): void {
  const lo = $('loupe') as HTMLCanvasElement;
  if (!($('loupe-on') as HTMLInputElement).checked) {
    lo.hidden = true;
    return;
  }
  const left = $('left') as HTMLCanvasElement;
  const right = $('right') as HTMLCanvasElement;
  const r = left.getBoundingClientRect();
  const px = ((e.clientX - r.left) / r.width) * left.width;
  const py = ((e.clientY - r.top) / r.height) * left.height;
  const src = lo.width / 4; // image pixels shown across the loupe
  const ctx = lo.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, lo.width, lo.height);
  ctx.drawImage(left, px - src / 2, py - src / 2, src / 2, src, 0, 0, lo.width / 2, lo.height);
  ctx.drawImage(right.hidden ? left : right, px, py - src / 2, src / 2, src, lo.width / 2, 0, lo.width / 2, lo.height);
  ctx.fillStyle = '#fff';
  ctx.fillRect(lo.width / 2 - 1, 0, 2, lo.height);
  const vr = $('viewer').getBoundingClientRect();
  lo.style.left = `${Math.min(vr.width - lo.width, Math.max(0, e.clientX - vr.left + 16))}px`;
  lo.style.top = `${Math.max(0, e.clientY - vr.top + 16)}px`;
  lo.hidden = false;
}

// ---- downloads -------------------------------------------------------------------------------
let urls: string[] = [];
function setDownloads(hic: Uint8Array | undefined, img: Rgb, pngName: string): void {
  for (const u of urls) URL.revokeObjectURL(u);
  urls = [];
  const a = $('download-hic') as HTMLAnchorElement;
  a.hidden = !hic;
  if (hic) {
    a.href = URL.createObjectURL(new Blob([hic as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
    a.download = `${state.name}.hic`;
    urls.push(a.href);
  }
  const p = $('download-png') as HTMLAnchorElement;
  p.download = pngName;
  p.removeAttribute('href');
  const c = document.createElement('canvas');
  draw(c, img);
  const forJob = job;
  c.toBlob((b) => {
    if (b && forJob === job) {
      p.href = URL.createObjectURL(b);
      urls.push(p.href);
    }
  }, 'image/png');
}

// ---- replies -----------------------------------------------------------------------------------
const firstLoad = { shell: 0, worker: 0 };
worker.onmessage = (ev: MessageEvent<Reply>) => {
  const m = ev.data;
  if (m.job !== 0 && m.job !== job) return; // a replaced or cancelled job
  switch (m.type) {
    case 'progress':
      ($('model-progress') as HTMLProgressElement).value = m.total ? m.loaded / m.total : 0;
      $('model-status').textContent = `Loading ${m.what}… ${fmtMB(m.loaded)} of ${fmtMB(m.total)}`;
      data['loadTotal'] = String(m.total);
      break;
    case 'starting':
      ($('model-progress') as HTMLProgressElement).removeAttribute('value');
      $('model-status').textContent = 'Starting the codec (compiling its networks)…';
      break;
    case 'ready':
      $('model-progress').hidden = true;
      $('model-status').textContent = `Model ${m.modelId} ready (sha256 verified, ${(m.startMs / 1000).toFixed(1)} s).`;
      $('backend').textContent = `${m.backend}${m.isolated ? '' : ' — page not cross-origin isolated: 1 thread'}`;
      firstLoad.worker = m.firstLoadBytes;
      $('cost-start').textContent = `${(m.startMs / 1000).toFixed(1)} s: ${(m.loadMs / 1000).toFixed(1)} s to read and sha256-check the runtime and the model (download on a first visit), ${((m.startMs - m.loadMs) / 1000).toFixed(1)} s more until ONNX Runtime (started alongside) and the first sessions are ready`;
      data['startMs'] = m.startMs.toFixed(0);
      data['loadMs'] = m.loadMs.toFixed(0);
      if (m.firstLoadBytes + firstLoad.shell) $('cost-first').textContent = `${fmtMB(m.firstLoadBytes + firstLoad.shell)} this visit (then cached: the page works offline)`;
      else $('cost-first').textContent = 'nothing this visit (all cached)';
      state.ready = true;
      data['ready'] = '1';
      data['model'] = m.modelId;
      updateEncodeButton();
      if (pendingWork) {
        const f = pendingWork;
        pendingWork = undefined;
        delete data['waiting'];
        busy(false);
        f();
      }
      break;
    case 'classified':
      $('class').hidden = false;
      $('class').textContent = m.label === 'unknown'
        ? `Flower demo (5 classes) — unknown: not clearly one of its flowers (best guesses ${m.top.map((c) => `${c.label} ${(100 * c.probability).toFixed(0)}%`).join(', ')}); from the latent alone, no pixels decoded (${m.ms.toFixed(0)} ms)`
        : `Flower demo (5 classes) — looks like: ${m.label} (${(100 * m.probability).toFixed(1)}%) — ${m.top.map((c) => `${c.label} ${(100 * c.probability).toFixed(0)}%`).join(', ')}; from the latent alone, no pixels decoded (${m.ms.toFixed(0)} ms)`;
      data['classified'] = m.label;
      break;
    case 'work':
      progress.update(m.stage, m.done, m.total);
      break;
    case 'encoded': {
      state.hic = m.hic;
      state.shown = [m.shown];
      state.encodedQuality = m.shown.quality;
      (window as unknown as { __hicEncoded: Rgb }).__hicEncoded = m.shown.image;
      $('meta').textContent = metaText(m.metadata, m.alphaBytes);
      notice(m.targetMet ? undefined : `The target size cannot be met: even quality 0 takes ${fmtBytes(m.shown.bytes)} bytes. Showing quality 0.`);
      setDownloads(m.hic, m.shown.image, `${state.name}.hicodec-q${m.shown.quality}.png`);
      data['encoded'] = '1';
      data['quality'] = String(m.shown.quality);
      render();
      const src = state.source!;
      const d = m.shown.image;
      compareWith({ type: 'compare', job, image: { width: src.width, height: src.height, data: src.data.slice(), ...(src.channels ? { channels: src.channels } : {}) }, bytes: m.shown.bytes, psnr: m.shown.psnr, decoded: { width: d.width, height: d.height, data: d.data.slice(), ...(d.channels ? { channels: d.channels } : {}) } });
      break;
    }
    case 'preview': {
      // shrink-on-load: the 1/8 picture, drawn at full size until the full decode replaces it
      const big = upscale(m.image, m.width, m.height);
      state.shown = [{ codec: `hicodec preview (1/${m.scale} size)`, quality: m.quality, bytes: m.bytes, bpp: (8 * m.bytes) / (m.width * m.height), psnr: NaN, msssim: null, encodeMs: 0, decodeMs: m.ms, image: big }];
      notice(`Preview: decoded at 1/${m.scale} of the size in ${m.ms.toFixed(0)} ms; the full picture follows.`);
      render();
      data['preview'] = `${m.image.width}x${m.image.height}`;
      break;
    }
    case 'decoded': {
      notice(undefined);
      state.shown = [{ codec: 'hicodec', quality: m.info.quality, bytes: m.info.bytes, bpp: (8 * m.info.bytes) / (m.info.width * m.info.height), psnr: NaN, msssim: null, encodeMs: 0, decodeMs: m.decodeMs, image: m.image }];
      $('meta').textContent = `${m.info.width}×${m.info.height}, ${m.info.tiles} tile${m.info.tiles === 1 ? '' : 's'}, model ${m.info.modelId}. ${metaText(m.metadata)}`;
      setDownloads(undefined, m.image, `${state.name}.png`);
      busy(false);
      render();
      (window as unknown as { __hicDecoded: Rgb }).__hicDecoded = m.image;
      data['decoded'] = '1';
      break;
    }
    case 'explained':
      busy(false);
      state.panels = m.panels;
      state.scales = m.scales;
      $('explain-summary').textContent = m.summary;
      $('explain-details').textContent = m.details;
      $('explain-hint').textContent = `Click the picture to move the point (a new point re-uses the analysis). Explained in ${(m.ms / 1000).toFixed(1)} s${m.reused ? ', analysis re-used' : ''}.`;
      // Feature and attention views exist only for model packages exported with explain outputs.
      for (const b of viewButtons()) {
        const has = b.dataset['view']! in m.panels;
        b.disabled = !has;
        b.title = has ? '' : 'This model package has no such view';
      }
      $('explain-canvas').hidden = false;
      showPanel(state.view in m.panels ? state.view : 'receptive_field');
      data['explained'] = `${m.point.x},${m.point.y}`;
      data['explainMs'] = m.ms.toFixed(0);
      data['explainReused'] = m.reused ? '1' : '0';
      break;
    case 'error':
      if (m.code === 'E_ABORTED') {
        busy(false);
        notice('Cancelled.');
      } else {
        showError(explainError(m.code, m.message));
      }
      data['error'] = m.code;
      break;
  }
};

function onCompare(m: CompareReply): void {
  if (m.job !== job) return;
  if (m.type === 'work') progress.update(m.stage, m.done, m.total);
  else if (m.type === 'compared') {
    state.shown.push(m.shown);
    render();
  } else if (m.type === 'msssim') {
    for (const s of state.shown) s.msssim = m.values[s.codec] ?? null;
    render();
  } else if (m.type === 'done') {
    data['compared'] = '1';
    busy(false);
  } else {
    showError(`The comparison failed: ${m.message}`);
    data['error'] = m.code;
  }
}

// ---- input -----------------------------------------------------------------------------------
/** The file's pixels (EXIF orientation applied; RGBA when any pixel is transparent) and its
 *  metadata (orientation reset to 1, since the pixels are upright now). */
async function readImage(file: File): Promise<{ image: Rgb; metadata: ImageMetadata }> {
  let bmp: ImageBitmap;
  try {
    // no colour conversion: the pixels as they are, like the CLI (the ICC profile travels along)
    bmp = await createImageBitmap(file, { imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new Error(`${file.name}: not a PNG, JPEG, WebP or AVIF image this browser can read`);
  }
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = c.getContext('2d')!;
  ctx.drawImage(bmp, 0, 0);
  const image = rgbaToPicture(bmp.width, bmp.height, ctx.getImageData(0, 0, bmp.width, bmp.height).data);
  const m = await extractMetadata(new Uint8Array(await file.arrayBuffer()));
  const exif = m.exif && (exifOrientation(m.exif) ?? 1) !== 1 ? resetOrientation(m.exif) : m.exif;
  return { image, metadata: { ...(m.icc ? { icc: m.icc } : {}), ...(exif ? { exif } : {}), ...(m.xmp ? { xmp: m.xmp } : {}) } };
}

let picks = 0;
/** A new file: everything of the previous one goes (job, results, Explain, error, downloads). */
async function takeFile(file: File): Promise<void> {
  const pick = ++picks;
  stopRunning();
  clearError();
  notice(undefined);
  for (const k of ['encoded', 'compared', 'decoded', 'classified', 'explained', 'quality']) delete data[k];
  state.source = undefined;
  state.sourceId++;
  state.hic = undefined;
  state.shown = [];
  if (pendingWork) {
    pendingWork = undefined;
    delete data['waiting'];
    busy(false);
  }
  state.name = file.name.replace(/\.[^.]*$/, '') || 'image';
  $('results').hidden = true;
  $('class').hidden = true;
  $('meta').textContent = '';
  resetExplain();
  $('explain').hidden = true;
  updateEncodeButton();
  const head = new Uint8Array(await file.slice(0, 4).arrayBuffer());
  if (pick !== picks) return;
  if (head[0] === 0x89 && head[1] === 0x48 && head[2] === 0x49 && head[3] === 0x43) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (pick !== picks) return;
    if (!state.ready) return waitForModel(() => decodeHic(bytes));
    decodeHic(bytes);
    return;
  }
  let r: { image: Rgb; metadata: ImageMetadata };
  try {
    r = await readImage(file);
  } catch (e) {
    if (pick === picks) {
      showError((e as Error).message);
      data['error'] = 'E_UNSUPPORTED_IMAGE';
    }
    return;
  }
  if (pick !== picks) return;
  state.source = r.image;
  state.metadata = r.metadata;
  $('explain').hidden = false;
  encode();
}

/** What to do once the model is ready (a file picked while it loads). */
let pendingWork: (() => void) | undefined;
function waitForModel(then: () => void): void {
  pendingWork = then;
  busy(true, 'Waiting for the model to finish loading; your file is next.');
  notice('The model is still loading: your file will be processed as soon as it is ready.');
  data['waiting'] = '1';
}

function decodeHic(bytes: Uint8Array): void {
  const j = startJob('decode');
  send({ type: 'decode', job: j, bytes, preview: true }, [bytes.buffer]);
}

/** The target size in bytes, or why the field is not usable (empty, 0, negative). */
function target(): { bytes?: number; problem?: string } {
  const mode = (document.querySelector('input[name=mode]:checked') as HTMLInputElement).value;
  if (mode !== 'size') return {};
  const raw = ($('target-kb') as HTMLInputElement).value.trim();
  const kb = Number(raw);
  if (!raw || !Number.isFinite(kb)) return { problem: 'Enter a target size in KB, e.g. 20.' };
  if (kb <= 0) return { problem: `A target size must be more than 0 KB (got ${raw}).` };
  return { bytes: Math.max(1, Math.round(kb * 1000)) };
}

function updateEncodeButton(): void {
  const t = target();
  const msg = $('target-msg');
  msg.hidden = !t.problem;
  msg.textContent = t.problem ?? '';
  $('target-kb').setAttribute('aria-invalid', t.problem ? 'true' : 'false');
  ($('encode') as HTMLButtonElement).disabled = !state.source || !!t.problem;
}

function encode(): void {
  if (!state.source) return;
  const t = target();
  updateEncodeButton();
  if (t.problem) return;
  if (!state.ready) {
    waitForModel(() => encode());
    return;
  }
  for (const k of ['encoded', 'compared', 'quality']) delete data[k];
  const quality = Number(($('quality') as HTMLInputElement).value);
  const src = state.source;
  resetExplain();
  // the old results stay visible, dimmed, until the new ones come
  $('results').classList.add('stale');
  const j = startJob('encode');
  send({ type: 'encode', job: j, image: { width: src.width, height: src.height, data: src.data.slice(), ...(src.channels ? { channels: src.channels } : {}) }, metadata: state.metadata, quality, ...(t.bytes ? { targetBytes: t.bytes } : {}) });
}

// ---- Explain -----------------------------------------------------------------------------------
const viewButtons = () => document.querySelectorAll<HTMLButtonElement>('#explain-views button[data-view]');

function resetExplain(): void {
  state.panels = {};
  state.scales = {};
  delete data['explained'];
  for (const b of viewButtons()) {
    b.disabled = true;
    b.title = 'Press “Explain this photo” first';
    b.classList.remove('active');
  }
  $('explain-hint').textContent = 'Press “Explain this photo” to see where the bits go, the error, the receptive field and the attention. The views become available then.';
  $('explain-summary').textContent = '';
  $('explain-details').textContent = '';
  $('explain-canvas').hidden = true;
  $('explain-scale').hidden = true;
}

function showPanel(view: string): void {
  state.view = view;
  const img = state.panels[view];
  if (img) draw($('explain-canvas') as HTMLCanvasElement, img);
  for (const b of viewButtons()) b.classList.toggle('active', b.dataset['view'] === view);
  const s = state.scales[view];
  $('explain-scale').hidden = !s;
  if (s) {
    const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(v >= 10 ? 1 : 2));
    $('scale-min').textContent = fmt(s.min);
    $('scale-max').textContent = fmt(s.max);
    $('scale-unit').textContent = s.gamma === 1 ? s.unit : `${s.unit}; square-root scale (the middle is ${fmt(s.max * 0.5 ** (1 / s.gamma))})`;
  }
  data['view'] = view;
}

function explain(point?: { x: number; y: number }): void {
  if (!state.source || !state.ready) return;
  delete data['explained'];
  const src = state.source;
  const j = startJob('explain');
  // explain looks at the colour: an RGBA source goes without its alpha
  const rgb = (src.channels ?? 3) === 3 ? src.data.slice() : Uint8Array.from(rgbToRgba(src).filter((_, i) => i % 4 !== 3));
  send({ type: 'explain', job: j, source: state.sourceId, image: { width: src.width, height: src.height, data: rgb }, quality: Number(($('quality') as HTMLInputElement).value), ...(point ? { point } : {}) });
}

for (const b of viewButtons()) b.addEventListener('click', () => showPanel(b.dataset['view']!));
$('explain-run').addEventListener('click', () => explain());
$('explain-canvas').addEventListener('click', (ev) => {
  const c = ev.target as HTMLCanvasElement;
  const src = state.source;
  if (!src) return;
  const r = c.getBoundingClientRect();
  let x = ((ev.clientX - r.left) / r.width) * c.width;
  let y = ((ev.clientY - r.top) / r.height) * c.height;
  // In a tiled view a click in any tile picks the same image point; the view stays.
  const tile = state.panels[state.view]?.tile;
  if (tile) {
    x = ((x % tile.w) / tile.w) * src.width;
    y = ((y % tile.h) / tile.h) * src.height;
  } else {
    state.view = 'receptive_field';
  }
  explain({ x: Math.min(src.width - 1, Math.floor(x)), y: Math.min(src.height - 1, Math.floor(y)) });
});

// ---- web developers' costs -----------------------------------------------------------------------
function devCosts(): void {
  const mp = (s: Shown) => (s.image.width * s.image.height) / 1e6;
  const per = (s: Shown | undefined) => (s ? `${(s.decodeMs / mp(s)).toFixed(0)} ms/MP (${fmtMs(s.decodeMs)} for ${s.image.width}×${s.image.height})` : '—');
  const hic = state.shown.find((s) => s.codec === 'hicodec');
  if (hic) $('cost-hic').textContent = per(hic);
  const avif = state.shown.find((s) => s.codec === 'AVIF');
  const webp = state.shown.find((s) => s.codec === 'WebP');
  if (avif) $('cost-avif').textContent = per(avif);
  if (webp) $('cost-webp').textContent = per(webp);
}

$('embed-snippet').textContent = `<!-- the page's COOP/COEP headers give wasm its threads -->
<script type="module" src="${new URL('./embed.js', location.href).href}"></script>
<hic-picture src="photo.hic">
  <img src="photo.webp" alt="What the photo shows" width="800" height="600">
</hic-picture>`;

// ---- controls ----------------------------------------------------------------------------------
($('file') as HTMLInputElement).addEventListener('change', (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) takeFile(f).catch((err: Error) => showError(err.message));
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = e.dataTransfer?.files[0];
  if (f) takeFile(f).catch((err: Error) => showError(err.message));
});
// A new setting encodes again by itself (when the slider is let go, or the size is entered).
let again: ReturnType<typeof setTimeout> | undefined;
const encodeSoon = () => {
  clearTimeout(again);
  updateEncodeButton();
  if (state.source && !target().problem) {
    // the results on screen are for the old setting from now on
    for (const k of ['encoded', 'compared', 'quality']) delete data[k];
    $('results').classList.add('stale');
    again = setTimeout(encode, 150);
  }
};
$('quality').addEventListener('input', () => {
  $('quality-out').textContent = ($('quality') as HTMLInputElement).value;
  (document.querySelector('input[name=mode][value=quality]') as HTMLInputElement).checked = true;
  updateEncodeButton();
});
$('quality').addEventListener('change', encodeSoon);
$('target-kb').addEventListener('input', () => {
  (document.querySelector('input[name=mode][value=size]') as HTMLInputElement).checked = true;
  updateEncodeButton();
});
$('target-kb').addEventListener('change', encodeSoon);
for (const r of document.querySelectorAll<HTMLInputElement>('input[name=mode]')) r.addEventListener('change', encodeSoon);
$('encode').addEventListener('click', encode);
$('compare-with').addEventListener('change', showComparison);
$('compare-at').addEventListener('change', showComparison);
$('zoom').addEventListener('change', setZoom);
$('loupe-on').addEventListener('change', () => ($('loupe').hidden = true));
window.addEventListener('resize', layout);
$('cancel').addEventListener('click', () => {
  pendingWork = undefined;
  delete data['waiting'];
  stopRunning();
  busy(false);
  notice('Cancelled.');
  data['error'] = 'E_ABORTED';
});
$('split').addEventListener('input', () => {
  state.split = Number(($('split') as HTMLInputElement).value) / 1000;
  layout();
});
window.addEventListener('error', (e) => showError(`Unexpected error: ${e.message}`));
window.addEventListener('unhandledrejection', (e) => showError(`Unexpected error: ${String((e as PromiseRejectionEvent).reason)}`));
resetExplain();

// ---- start ---------------------------------------------------------------------------------------
/** Offline from the first visit: the service worker precaches the app shell; the codec worker is
 *  started once the service worker controls the page, so that what it downloads (ONNX Runtime's
 *  wasm, the model) is answered from the caches when offline. */
async function start(): Promise<void> {
  let ortFiles: string[] = [];
  if (!import.meta.env.DEV && 'serviceWorker' in navigator && location.protocol !== 'file:') {
    try {
      const list = (await (await fetch('./precache.json')).json()) as { files: { path: string; bytes: number }[]; ort: string[] };
      ortFiles = list.ort;
      const first = !navigator.serviceWorker.controller;
      if (first) firstLoad.shell = list.files.reduce((s, f) => s + f.bytes, 0);
      await navigator.serviceWorker.register(new URL('./sw.js', location.href));
      if (first) {
        $('model-status').textContent = `Saving the page for offline use (${fmtMB(firstLoad.shell)})…`;
        await Promise.race([
          new Promise((r) => navigator.serviceWorker.addEventListener('controllerchange', r, { once: true })),
          new Promise((r) => setTimeout(r, 20_000)),
        ]);
      }
      data['offline'] = navigator.serviceWorker.controller ? '1' : '0';
    } catch {
      data['offline'] = '0';
    }
  }
  send({ type: 'init', job: 0, base: new URL('./models/', location.href).href, ortBase: new URL(`./${__ORT_DIR__}`, location.href).href, ortFiles, threads: Math.min(4, navigator.hardwareConcurrency || 1) });
}
void start();
