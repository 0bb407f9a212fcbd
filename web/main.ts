// The page: file intake, worker orchestration, results table, split-slider comparison with
// synchronized zoom, downloads, and visible errors (never a blank page).
import { rgbaToRgb, rgbToRgba } from '../src/core/pixels.js';
import type { Reply, Request, Shown } from './protocol.js';

type Rgb = { width: number; height: number; data: Uint8Array };
/** A panel may be a grid of tiles, each a scaled view of the image (feature and attention maps). */
type Panel = Rgb & { tile?: { w: number; h: number; cols: number } };
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const state: { source: Rgb | undefined; shown: Shown[]; hic: Uint8Array | undefined; panels: Record<string, Panel>; view: string } = {
  source: undefined, shown: [], hic: undefined, panels: {}, view: 'bits_y',
};

function showError(msg: string): void {
  const el = $('error');
  el.textContent = msg;
  el.hidden = false;
}
const clearError = () => ($('error').hidden = true);
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
  return `<tr data-codec="${s.codec}" data-bytes="${s.bytes}" data-psnr="${s.psnr.toFixed(4)}"><td>${s.codec}</td><td>${s.quality}</td><td>${s.bytes.toLocaleString('en')}</td><td>${s.bpp.toFixed(3)}</td><td>${s.psnr.toFixed(2)} dB</td><td>${ms}</td><td>${fmtMs(s.encodeMs)}</td><td>${fmtMs(s.decodeMs)}</td></tr>`;
}

function draw(canvas: HTMLCanvasElement, img: Rgb): void {
  canvas.width = img.width;
  canvas.height = img.height;
  canvas.getContext('2d')!.putImageData(new ImageData(rgbToRgba(img) as Uint8ClampedArray<ArrayBuffer>, img.width, img.height), 0, 0);
}

function layout(): void {
  const zoom = Number(($('zoom') as HTMLSelectElement).value);
  const left = $('left') as HTMLCanvasElement;
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
  if (other) draw($('right') as HTMLCanvasElement, other);
  $('left-label').textContent = `hicodec (${hic.bytes.toLocaleString('en')} bytes)`;
  const o = state.shown.find((s) => s.codec === sel.value);
  $('right-label').textContent = o ? `${o.codec} (${o.bytes.toLocaleString('en')} bytes)` : 'original';
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
    case 'encoded':
      state.hic = m.hic;
      state.shown = [m.shown];
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
      ($('encode') as HTMLButtonElement).disabled = false;
      break;
    case 'decoded': {
      state.shown = [{ codec: 'hicodec', quality: m.info.quality, bytes: m.info.bytes, bpp: (8 * m.info.bytes) / (m.info.width * m.info.height), psnr: NaN, msssim: null, encodeMs: 0, decodeMs: m.decodeMs, image: m.image }];
      state.source = undefined;
      pngDownload(m.image);
      render();
      (window as unknown as { __hicDecoded: Rgb }).__hicDecoded = m.image;
      document.body.dataset['decoded'] = '1';
      break;
    }
    case 'explained':
      state.panels = m.panels;
      $('explain-summary').textContent = m.summary;
      // Feature and attention views exist only for model packages exported with explain outputs.
      for (const b of document.querySelectorAll<HTMLButtonElement>('#explain-views button[data-view]')) b.hidden = !(b.dataset['view']! in m.panels);
      showPanel(state.view in m.panels ? state.view : 'receptive_field');
      document.body.dataset['explained'] = `${m.point.x},${m.point.y}`;
      break;
    case 'error':
      ($('encode') as HTMLButtonElement).disabled = !state.source;
      showError(m.code === 'E_OUT_OF_MEMORY' ? `Out of memory: try a smaller image. (${m.message})` : `${m.code}: ${m.message}`);
      document.body.dataset['error'] = m.code;
      break;
  }
};

async function readImage(file: File): Promise<Rgb> {
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    throw new Error(`${file.name}: not a PNG, JPEG or WebP image this browser can read`);
  }
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = c.getContext('2d')!;
  ctx.drawImage(bmp, 0, 0);
  const rgb = rgbaToRgb(bmp.width, bmp.height, ctx.getImageData(0, 0, bmp.width, bmp.height).data, true);
  if (!rgb) throw new Error(`${file.name}: has transparent pixels; hicodec codes RGB only`);
  return rgb;
}

async function takeFile(file: File): Promise<void> {
  clearError();
  for (const k of ['encoded', 'compared', 'decoded', 'error']) delete document.body.dataset[k];
  const head = new Uint8Array(await file.slice(0, 4).arrayBuffer());
  if (head[0] === 0x89 && head[1] === 0x48 && head[2] === 0x49 && head[3] === 0x43) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    $('explain').hidden = true;
    send({ type: 'decode', bytes }, [bytes.buffer]);
    return;
  }
  state.source = await readImage(file);
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
  send({ type: 'encode', image: { width: src.width, height: src.height, data: src.data.slice() }, quality, ...(targetBytes ? { targetBytes } : {}) });
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
  send({ type: 'explain', image: { width: src.width, height: src.height, data: src.data.slice() }, quality: Number(($('quality') as HTMLInputElement).value), ...(point ? { point } : {}) });
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
$('split').addEventListener('input', layout);

send({ type: 'init', base: new URL('./models/', location.href).href, ortBase: new URL('./ort/', location.href).href, threads: Math.min(4, navigator.hardwareConcurrency || 1) });
