// The page: file intake, worker orchestration, results table, split-slider comparison with
// synchronized zoom, downloads, and visible errors (never a blank page).
import { exifOrientation, resetOrientation } from '../src/core/exif.js';
import { extractMetadata } from '../src/core/metadata.js';
import { rgbaToPicture, rgbToRgba } from '../src/core/pixels.js';
import type { ImageMetadata } from '../src/codec/codec.js';
import type { MetaSizes, Reply, Request, Shown } from './protocol.js';

type Rgb = { width: number; height: number; data: Uint8Array; channels?: 1 | 2 | 3 | 4 };
/** A panel may be a grid of tiles, each a scaled view of the image (feature and attention maps). */
type Panel = Rgb & { tile?: { w: number; h: number; cols: number } };
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const state: { source: Rgb | undefined; metadata: ImageMetadata; shown: Shown[]; hic: Uint8Array | undefined; panels: Record<string, Panel>; view: string } = {
  source: undefined, metadata: {}, shown: [], hic: undefined, panels: {}, view: 'bits_y',
};

function showError(msg: string): void {
  const el = $('error');
  el.textContent = msg;
  el.hidden = false;
  busy(false);
  el.scrollIntoView({ block: 'nearest' }); // never off screen above old results
}
const clearError = () => ($('error').hidden = true);
function notice(msg: string | undefined): void {
  $('notice').textContent = msg ?? '';
  $('notice').hidden = !msg;
}

/** The busy state: shown while the worker works, with its progress and a Cancel button. */
function busy(on: boolean, text = 'Working…'): void {
  $('busy').hidden = !on;
  $('busy-text').textContent = text;
  ($('busy-progress') as HTMLProgressElement).removeAttribute('value');
  ($('encode') as HTMLButtonElement).disabled = on || !state.source || !document.body.dataset['ready'];
  if (on) document.body.dataset['busy'] = '1';
  else delete document.body.dataset['busy'];
}

function metaText(m: MetaSizes, alphaBytes?: number): string {
  const parts = [['ICC profile', m.icc], ['Exif', m.exif], ['XMP', m.xmp]].filter(([, n]) => n).map(([k, n]) => `${k} (${(n as number).toLocaleString('en')} bytes)`);
  const alpha = alphaBytes ? ` · alpha: ${alphaBytes.toLocaleString('en')} bytes, lossless` : '';
  return `Metadata kept: ${parts.length ? parts.join(', ') : 'none'}${alpha}`;
}
window.addEventListener('error', (e) => showError(`Unexpected error: ${e.message}`));
window.addEventListener('unhandledrejection', (e) => showError(`Unexpected error: ${String((e as PromiseRejectionEvent).reason)}`));

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (m: Request, transfer: Transferable[] = []) => worker.postMessage(m, transfer);
worker.onerror = (e) => showError(`The codec worker failed: ${e.message}`);

if ('serviceWorker' in navigator && location.protocol !== 'file:') {
  navigator.serviceWorker.register(new URL('./sw.js', location.href)).catch(() => undefined); // offline after first load
}

const fmtMs = (v: number) => `${v.toFixed(0)} ms`;

function row(s: Shown): string {
  const ms = s.msssim === null ? '—' : s.msssim.toFixed(4);
  // a dropped .hic has no original to compare with: no PSNR, no encode time
  const psnr = Number.isFinite(s.psnr) ? `${s.psnr.toFixed(2)} dB` : '—';
  return `<tr data-codec="${s.codec}" data-bytes="${s.bytes}" data-decode-ms="${s.decodeMs.toFixed(1)}" data-psnr="${Number.isFinite(s.psnr) ? s.psnr.toFixed(4) : ''}"><td>${s.codec}</td><td>${s.quality}</td><td>${s.bytes.toLocaleString('en')}</td><td>${s.bpp.toFixed(3)}</td><td>${psnr}</td><td>${ms}</td><td>${s.encodeMs ? fmtMs(s.encodeMs) : '—'}</td><td>${fmtMs(s.decodeMs)}</td></tr>`;
}

function draw(canvas: HTMLCanvasElement, img: Rgb): void {
  canvas.width = img.width;
  canvas.height = img.height;
  canvas.getContext('2d')!.putImageData(new ImageData(rgbToRgba(img) as Uint8ClampedArray<ArrayBuffer>, img.width, img.height), 0, 0);
}

function layout(): void {
  const left = $('left') as HTMLCanvasElement;
  const z = ($('zoom') as HTMLSelectElement).value;
  // "fit": the whole image in the viewport's width (never enlarged)
  const zoom = z === 'fit' ? Math.min(1, ($('viewport').clientWidth || left.width) / Math.max(1, left.width)) : Number(z);
  const right = $('right') as HTMLCanvasElement;
  for (const c of [left, right]) {
    c.style.width = `${c.width * zoom}px`;
    c.style.height = `${c.height * zoom}px`;
  }
  const f = Number(($('split') as HTMLInputElement).value) / 1000;
  const x = left.width * zoom * f;
  right.style.clipPath = `inset(0 0 0 ${x}px)`;
  const line = $('split-line');
  line.style.left = `${x}px`;
  line.style.height = `${left.height * zoom}px`;
}

function render(): void {
  const hic = state.shown.find((s) => s.codec === 'hicodec');
  if (!hic) return;
  $('results').hidden = false;
  ($('stats').querySelector('tbody') as HTMLElement).innerHTML = state.shown.map(row).join('');
  draw($('left') as HTMLCanvasElement, hic.image);
  const sel = $('compare-with') as HTMLSelectElement;
  const options = ['original', ...state.shown.filter((s) => s.codec !== 'hicodec').map((s) => s.codec)];
  const keep = sel.value;
  sel.innerHTML = options.map((o) => `<option>${o}</option>`).join('');
  if (options.includes(keep)) sel.value = keep;
  const other = sel.value === 'original' ? state.source : state.shown.find((s) => s.codec === sel.value)?.image;
  // a decoded .hic has nothing to compare with: no stale right half from the previous image
  ($('right') as HTMLCanvasElement).hidden = !other;
  $('split-line').hidden = !other;
  if (other) draw($('right') as HTMLCanvasElement, other);
  $('left-label').textContent = `hicodec (${hic.bytes.toLocaleString('en')} bytes)`;
  const o = state.shown.find((s) => s.codec === sel.value);
  $('right-label').textContent = o ? `${o.codec} (${o.bytes.toLocaleString('en')} bytes)` : other ? 'original' : '';
  layout();
}

function pngDownload(img: Rgb): void {
  const c = document.createElement('canvas');
  draw(c, img);
  c.toBlob((b) => {
    if (b) ($('download-png') as HTMLAnchorElement).href = URL.createObjectURL(b);
  }, 'image/png');
}

worker.onmessage = (ev: MessageEvent<Reply>) => {
  const m = ev.data;
  switch (m.type) {
    case 'progress':
      ($('model-progress') as HTMLProgressElement).value = m.total ? m.loaded / m.total : 0;
      $('model-status').textContent = `Loading model… ${(m.loaded / 2 ** 20).toFixed(1)} / ${(m.total / 2 ** 20).toFixed(1)} MiB`;
      break;
    case 'ready':
      $('model-progress').hidden = true;
      $('model-status').textContent = `Model ${m.modelId} ready (sha256 verified).`;
      $('backend').textContent = `${m.backend}${m.isolated ? '' : ' — page not cross-origin isolated: 1 thread'}`;
      document.body.dataset['ready'] = '1';
      ($('encode') as HTMLButtonElement).disabled = !state.source;
      break;
    case 'classified':
      $('class').hidden = false;
      $('class').textContent = `Flower demo (5 classes) — looks like: ${m.label} (${(100 * m.probability).toFixed(1)}%) — ${m.top.map((c) => `${c.label} ${(100 * c.probability).toFixed(0)}%`).join(', ')}; from the latent alone, no pixels decoded (${m.ms.toFixed(0)} ms)`;
      document.body.dataset['classified'] = m.label;
      break;
    case 'work':
      $('busy-text').textContent = `${m.stage}: ${m.done} / ${m.total} tile${m.total === 1 ? '' : 's'}`;
      ($('busy-progress') as HTMLProgressElement).value = m.done / m.total;
      break;
    case 'encoded':
      state.hic = m.hic;
      state.shown = [m.shown];
      (window as unknown as { __hicEncoded: Rgb }).__hicEncoded = m.shown.image;
      $('meta').textContent = metaText(m.metadata, m.alphaBytes);
      busy(true, 'Comparing with JPEG, WebP and AVIF at the same size…');
      notice(m.targetMet ? undefined : `The target size cannot be met: even quality 0 takes ${m.shown.bytes.toLocaleString('en')} bytes. Showing quality 0.`);
      ($('download-hic') as HTMLAnchorElement).href = URL.createObjectURL(new Blob([m.hic as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
      pngDownload(m.shown.image);
      document.body.dataset['encoded'] = '1';
      render();
      break;
    case 'compared':
      state.shown.push(m.shown);
      render();
      break;
    case 'done':
      document.body.dataset['compared'] = '1';
      busy(false);
      break;
    case 'decoded': {
      busy(false);
      state.shown = [{ codec: 'hicodec', quality: m.info.quality, bytes: m.info.bytes, bpp: (8 * m.info.bytes) / (m.info.width * m.info.height), psnr: NaN, msssim: null, encodeMs: 0, decodeMs: m.decodeMs, image: m.image }];
      state.source = undefined;
      $('meta').textContent = `${m.info.width}×${m.info.height}, ${m.info.tiles} tile${m.info.tiles === 1 ? '' : 's'}, model ${m.info.modelId}. ${metaText(m.metadata)}`;
      pngDownload(m.image);
      render();
      (window as unknown as { __hicDecoded: Rgb }).__hicDecoded = m.image;
      document.body.dataset['decoded'] = '1';
      break;
    }
    case 'explained':
      busy(false);
      state.panels = m.panels;
      $('explain-summary').textContent = m.summary;
      // Feature and attention views exist only for model packages exported with explain outputs.
      for (const b of document.querySelectorAll<HTMLButtonElement>('#explain-views button[data-view]')) b.hidden = !(b.dataset['view']! in m.panels);
      showPanel(state.view in m.panels ? state.view : 'receptive_field');
      document.body.dataset['explained'] = `${m.point.x},${m.point.y}`;
      break;
    case 'error':
      if (m.code === 'E_ABORTED') {
        busy(false);
        notice('Cancelled.');
      } else {
        showError(m.code === 'E_OUT_OF_MEMORY' ? `Out of memory: try a smaller image. (${m.message})` : `${m.code}: ${m.message}`);
      }
      document.body.dataset['error'] = m.code;
      break;
  }
};

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

async function takeFile(file: File): Promise<void> {
  clearError();
  notice(undefined);
  for (const k of ['encoded', 'compared', 'decoded', 'error']) delete document.body.dataset[k];
  // the previous image's results go: an error or progress must not sit above stale results
  $('results').hidden = true;
  $('class').hidden = true;
  delete document.body.dataset['classified'];
  $('meta').textContent = '';
  const head = new Uint8Array(await file.slice(0, 4).arrayBuffer());
  if (head[0] === 0x89 && head[1] === 0x48 && head[2] === 0x49 && head[3] === 0x43) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    $('explain').hidden = true;
    busy(true, 'Decoding…');
    send({ type: 'decode', bytes }, [bytes.buffer]);
    return;
  }
  const r = await readImage(file);
  state.source = r.image;
  state.metadata = r.metadata;
  $('explain').hidden = false;
  ($('encode') as HTMLButtonElement).disabled = !document.body.dataset['ready'];
  encode();
}

function encode(): void {
  if (!state.source || !document.body.dataset['ready']) return;
  ($('encode') as HTMLButtonElement).disabled = true;
  for (const k of ['encoded', 'compared']) delete document.body.dataset[k];
  const mode = (document.querySelector('input[name=mode]:checked') as HTMLInputElement).value;
  const quality = Number(($('quality') as HTMLInputElement).value);
  const targetBytes = mode === 'size' ? Math.round(Number(($('target-kb') as HTMLInputElement).value) * 1000) : undefined;
  const src = state.source;
  notice(undefined);
  busy(true, 'Encoding…');
  send({ type: 'encode', image: { width: src.width, height: src.height, data: src.data.slice(), ...(src.channels ? { channels: src.channels } : {}) }, metadata: state.metadata, quality, ...(targetBytes ? { targetBytes } : {}) });
}

function showPanel(view: string): void {
  state.view = view;
  const img = state.panels[view];
  if (img) draw($('explain-canvas') as HTMLCanvasElement, img);
  for (const b of document.querySelectorAll<HTMLButtonElement>('#explain-views button[data-view]')) b.classList.toggle('active', b.dataset['view'] === view);
}

function explain(point?: { x: number; y: number }): void {
  if (!state.source || !document.body.dataset['ready']) return;
  delete document.body.dataset['explained'];
  const src = state.source;
  busy(true, 'Explaining…');
  // explain looks at the colour: an RGBA source goes without its alpha
  const rgb = (src.channels ?? 3) === 3 ? src.data.slice() : Uint8Array.from(rgbToRgba(src).filter((_, i) => i % 4 !== 3));
  send({ type: 'explain', image: { width: src.width, height: src.height, data: rgb }, quality: Number(($('quality') as HTMLInputElement).value), ...(point ? { point } : {}) });
}

for (const b of document.querySelectorAll<HTMLButtonElement>('#explain-views button[data-view]')) b.addEventListener('click', () => showPanel(b.dataset['view']!));
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
$('quality').addEventListener('input', () => ($('quality-out').textContent = ($('quality') as HTMLInputElement).value));
$('encode').addEventListener('click', encode);
$('compare-with').addEventListener('change', render);
$('zoom').addEventListener('change', layout);
window.addEventListener('resize', layout);
$('cancel').addEventListener('click', () => send({ type: 'cancel' }));
$('split').addEventListener('input', layout);

send({ type: 'init', base: new URL('./models/', location.href).href, ortBase: new URL('./ort/', location.href).href, threads: Math.min(4, navigator.hardwareConcurrency || 1) });
