// The codec runs here, off the page's thread: model download (cached, sha256-checked by
// loadPackage), hicodec encode/decode on onnxruntime-web, and the JPEG/WebP/AVIF comparison.
import encodeAvif from '@jsquash/avif/encode.js';
import encodeJpeg from '@jsquash/jpeg/encode.js';
import encodeWebp from '@jsquash/webp/encode.js';

import { Classifier, Codec, CodecError, explainImage, inspectContainer, loadPackage, msSsim, panels, psnr, rgbaToPicture, rgbaToRgb, rgbToRgba, summaryText, webRuntime, type ImageMetadata, type Picture, type RgbImage, type WorkOptions } from '../src/web.js';
import type { MetaSizes, Reply, Request, Shown } from './protocol.js';

const MODEL_CACHE = 'hicodec-models-v1';
let codec: Codec | undefined;
let classifier: Classifier | undefined;
let threads = 1;

const post = (m: Reply, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

async function fetchCached(url: string, onBytes: (n: number) => void): Promise<Uint8Array> {
  const cache = 'caches' in self ? await caches.open(MODEL_CACHE) : undefined;
  const hit = await cache?.match(url);
  if (hit) {
    const b = new Uint8Array(await hit.arrayBuffer());
    onBytes(b.length);
    return b;
  }
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new CodecError('E_IO', `cannot download ${url} (HTTP ${res.status})`);
  const parts: Uint8Array[] = [];
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    onBytes(value.length);
  }
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  await cache?.put(url, new Response(out.slice()));
  return out;
}

async function init(base: string, ortBase: string, wantThreads: number): Promise<void> {
  const id = (await (await fetch(`${base}DEFAULT`)).text()).trim();
  const root = `${base}${id}/`;
  const manifestBytes = await fetchCached(`${root}manifest.json`, () => undefined);
  const manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as { files: Record<string, { bytes: number }> };
  const total = Object.entries(manifest.files).filter(([n]) => n.endsWith('.onnx') || n.endsWith('.tables') || n.endsWith('.f32')).reduce((s, [, f]) => s + f.bytes, 0);
  let loaded = 0;
  const files = new Map<string, Uint8Array>([['manifest.json', manifestBytes]]);
  const model = await loadPackage(async (name) => {
    if (!files.has(name)) {
      files.set(name, await fetchCached(`${root}${name}`, (n) => {
        loaded += n;
        post({ type: 'progress', loaded, total });
      }));
    }
    return files.get(name)!;
  });
  threads = self.crossOriginIsolated ? wantThreads : 1;
  const runtime = await webRuntime({ threads, webgpu: true, wasmPaths: ortBase });
  codec = await Codec.create({ model, runtime });
  // the classifier for this model, when the site ships one (models/CLASSIFIER names it)
  const cls = await fetch(`${base}CLASSIFIER`).then((r) => (r.ok ? r.text() : ''), () => '');
  if (cls.trim() && !cls.includes('<')) {
    try {
      classifier = await Classifier.load((name) => fetchCached(`${base}${cls.trim()}/${name}`, () => undefined), runtime);
      if (classifier.manifest.codec_model !== codec.modelId) classifier = undefined;
    } catch {
      classifier = undefined;
    }
  }
  post({ type: 'ready', modelId: codec.modelId, backend: runtime.name, threads, isolated: self.crossOriginIsolated, ...(classifier ? { classifier: classifier.id } : {}) });
}

/** Quality against the source, on the colour (RGB) of both: alpha is lossless in hicodec and
 *  JPEG has none, so it is left out of the comparison. */
function quality(a: Picture, b: Picture): { psnr: number; msssim: number | null } {
  const ra = rgbOf(a);
  const rb = rgbOf(b);
  return { psnr: psnr(ra, rb), msssim: Math.min(a.width, a.height) > 160 ? msSsim(ra, rb) : null };
}

const rgbOf = (p: Picture): RgbImage => ((p.channels ?? 3) === 3 ? p : rgbaToRgb(p.width, p.height, rgbToRgba(p))!);
const toRgba = (img: Picture): ImageData => new ImageData(rgbToRgba(img) as Uint8ClampedArray<ArrayBuffer>, img.width, img.height);
const sizes = (m: ImageMetadata): MetaSizes => ({ icc: m.icc?.length ?? 0, exif: m.exif?.length ?? 0, xmp: m.xmp?.length ?? 0 });

async function decodeWithBrowser(bytes: ArrayBuffer, type: string): Promise<Picture> {
  const bmp = await createImageBitmap(new Blob([bytes], { type }));
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = c.getContext('2d')!;
  ctx.drawImage(bmp, 0, 0);
  return rgbaToPicture(bmp.width, bmp.height, ctx.getImageData(0, 0, bmp.width, bmp.height).data);
}

/** The request in progress can be cancelled (between tiles). */
let current: AbortController | undefined;
function work(): WorkOptions {
  current = new AbortController();
  return { signal: current.signal, onProgress: (p) => post({ type: 'work', stage: p.stage, done: p.done, total: p.total }) };
}

const COMPARE: Record<string, { type: string; encode: (img: ImageData, q: number) => Promise<ArrayBuffer> }> = {
  JPEG: { type: 'image/jpeg', encode: (img, q) => encodeJpeg(img, { quality: q }) },
  WebP: { type: 'image/webp', encode: (img, q) => encodeWebp(img, { quality: q }) },
  AVIF: { type: 'image/avif', encode: (img, q) => encodeAvif(img, { quality: q, speed: 6 }) },
};

/** The quality of `name` whose file size is closest to `target` (binary search on quality). */
async function compareAt(name: string, img: Picture, target: number): Promise<Shown> {
  const c = COMPARE[name]!;
  const rgba = toRgba(img);
  let lo = 0;
  let hi = 100;
  let best: { q: number; bytes: ArrayBuffer; ms: number } | undefined;
  while (lo <= hi) {
    const q = (lo + hi) >> 1;
    const t0 = performance.now();
    const bytes = await c.encode(rgba, q);
    const ms = performance.now() - t0;
    if (!best || Math.abs(bytes.byteLength - target) < Math.abs(best.bytes.byteLength - target)) best = { q, bytes, ms };
    if (bytes.byteLength > target) hi = q - 1;
    else lo = q + 1;
  }
  const t1 = performance.now();
  const decoded = await decodeWithBrowser(best!.bytes, c.type);
  const decodeMs = performance.now() - t1;
  return { codec: name, quality: best!.q, bytes: best!.bytes.byteLength, bpp: (8 * best!.bytes.byteLength) / (img.width * img.height), ...quality(img, decoded), encodeMs: best!.ms, decodeMs, image: decoded };
}

/** What the picture shows, from the stream's latent (no synthesis), when a classifier is loaded. */
async function classify(bytes: Uint8Array): Promise<void> {
  if (!classifier || !codec) return;
  const t0 = performance.now();
  const r = await classifier.classify(codec, bytes);
  post({ type: 'classified', label: r.label, probability: r.top.probability, top: r.classes.slice(0, 3), ms: performance.now() - t0 });
}

async function handle(m: Request): Promise<void> {
  try {
    if (m.type === 'init') return await init(m.base, m.ortBase, m.threads);
    if (!codec) throw new CodecError('E_MODEL_INTEGRITY', 'the model is not loaded yet');
    if (m.type === 'encode') {
      const t0 = performance.now();
      const opts = work();
      const { bytes, stats } = await codec.encode(m.image, { ...opts, metadata: m.metadata, ...(m.targetBytes ? { targetBytes: m.targetBytes } : { quality: m.quality }) });
      const encodeMs = performance.now() - t0;
      const t1 = performance.now();
      const decoded = await codec.decode(bytes, opts);
      const decodeMs = performance.now() - t1;
      const shown: Shown = { codec: 'hicodec', quality: stats.quality, bytes: bytes.length, bpp: stats.bpp, ...quality(m.image, decoded), encodeMs, decodeMs, image: decoded };
      const size = bytes.length; // read before the buffer is transferred to the page
      await classify(bytes);
      post({ type: 'encoded', hic: bytes, shown, targetMet: stats.targetMet, metadata: sizes(decoded.metadata), alphaBytes: stats.alphaBytes }, [bytes.buffer as ArrayBuffer]);
      for (const name of Object.keys(COMPARE)) {
        if (current?.signal.aborted) throw new CodecError('E_ABORTED', 'cancelled');
        post({ type: 'compared', shown: await compareAt(name, m.image, size) });
      }
      post({ type: 'done' });
    } else if (m.type === 'explain') {
      const e = await explainImage(codec, m.image, { quality: m.quality, ...(m.point ? { point: m.point } : {}), ...(classifier ? { classifier } : {}) });
      const p = { ...panels(m.image, e) };
      // transfer the panels' pixels rather than copying them (decoded is e.decoded's own buffer)
      post({ type: 'explained', summary: summaryText(e, m.image.width, m.image.height), panels: p, point: e.point }, [...new Set(Object.values(p).map((x) => x.data.buffer as ArrayBuffer))]);
    } else if (m.type === 'decode') {
      const info = inspectContainer(m.bytes);
      const t1 = performance.now();
      const decoded = await codec.decode(m.bytes, work());
      const decodeMs = performance.now() - t1;
      await classify(m.bytes).catch(() => undefined); // another model's stream: no class, still decoded
      const tiles = info.chunks.filter((c) => c.type === 'TILE' || c.type === 'YHAT').length;
      post({ type: 'decoded', info: { width: info.width, height: info.height, quality: info.quality, bytes: info.totalBytes, modelId: info.modelId, tiles }, decodeMs, image: decoded, metadata: sizes(decoded.metadata) });
    }
  } catch (e) {
    const code = e instanceof CodecError ? e.code : e instanceof RangeError || String(e).includes('memory') ? 'E_OUT_OF_MEMORY' : 'E_INTERNAL';
    post({ type: 'error', code, message: e instanceof Error ? e.message : String(e) });
  }
}

// One request at a time: ONNX Runtime sessions must not run concurrently. A cancel skips the
// queue: it aborts the request in progress at its next tile.
let queue = Promise.resolve();
self.onmessage = (ev: MessageEvent<Request>) => {
  if (ev.data.type === 'cancel') {
    current?.abort();
    return;
  }
  queue = queue.then(() => handle(ev.data));
};
