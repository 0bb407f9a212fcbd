// The codec runs here, off the page's thread: model download (cached, sha256-checked by
// loadPackage), hicodec encode/decode on onnxruntime-web, Explain. The JPEG/WebP/AVIF comparison
// runs in its own worker (compare-worker.ts), which the page can stop at once.
import { checkScale, Classifier, Codec, CodecError, explainImage, inspectContainer, loadPackage, panels, psnr, rgbaToRgb, rgbToRgba, summaryText, webRuntime, type Explanation, type ImageMetadata, type Picture, type RgbImage, type Runtime, type WorkOptions } from '../src/web.js';
import { DownloadCache } from './download-cache.js';
import type { MetaSizes, Reply, Request, Scale, Shown } from './protocol.js';

let codec: Codec | undefined;
let classifier: Classifier | undefined;
let threads = 1;

const post = (m: Reply, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

/** The classifier for this model, when the site ships one (models/CLASSIFIER names its folder). */
async function loadClassifier(base: string, store: DownloadCache, runtime: Runtime): Promise<{ classifier: Classifier; dir: string } | undefined> {
  const dir = (await fetch(`${base}CLASSIFIER`).then((r) => (r.ok ? r.text() : ''), () => '')).trim();
  if (!dir || dir.includes('<')) return undefined;
  try {
    return { classifier: await Classifier.load((name) => store.bytes(`${base}${dir}/${name}`), runtime), dir };
  } catch {
    return undefined;
  }
}

async function init(base: string, ortBase: string, ortFiles: string[], wantThreads: number): Promise<void> {
  const t0 = performance.now();
  const store = await DownloadCache.open();
  const id = (await (await fetch(`${base}DEFAULT`)).text()).trim();
  const root = `${base}${id}/`;
  const manifestBytes = await store.bytes(`${root}manifest.json`);
  const manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as { files: Record<string, { bytes: number }> };
  const modelBytes = Object.entries(manifest.files).filter(([n]) => n.endsWith('.onnx') || n.endsWith('.tables') || n.endsWith('.f32')).reduce((s, [, f]) => s + f.bytes, 0);
  // the build of ONNX Runtime this browser needs: the JSEP one (twice the wasm) only with WebGPU
  threads = self.crossOriginIsolated ? wantThreads : 1;
  const runtime = await webRuntime({ threads, webgpu: true, wasmPaths: ortBase });
  // The whole first download is counted: that build's glue and wasm (fetched here first, so that
  // ORT's own requests are answered from the cache by the service worker) and the model.
  const ort = runtime.files.filter((f) => ortFiles.includes(f)).map((f) => `${ortBase}${f}`);
  let total = modelBytes;
  let loaded = 0;
  const counter = (what: string) => (n: number) => {
    loaded += n;
    post({ type: 'progress', job: 0, loaded, total, what });
  };
  for (const u of ort) {
    // cached: only its size counts (ORT reads it itself); not cached: download it with progress
    const n = await store.cachedSize(u);
    if (n === undefined) await store.bytes(u, counter('ONNX Runtime'), (size) => (total += size));
    else {
      total += n;
      counter('ONNX Runtime')(n);
    }
  }
  // ONNX Runtime starts (compiles its wasm, starts its threads) with the classifier's session
  // while the model is read and sha256-checked. Without a classifier it starts with the first job.
  const cls = loadClassifier(base, store, runtime);
  const model = await loadPackage((name) => (name === 'manifest.json' ? Promise.resolve(manifestBytes) : store.bytes(`${root}${name}`, counter(`model ${id}`))));
  const loadMs = performance.now() - t0;
  post({ type: 'starting', job: 0 });
  codec = await Codec.create({ model, runtime });
  const c = await cls;
  if (c && c.classifier.manifest.codec_model === codec.modelId) classifier = c.classifier;
  else await c?.classifier.dispose();
  // a new default model (models/DEFAULT changed) replaces the old one in the cache; ONNX Runtime's
  // files that this browser does not load go too (e.g. the JSEP build, cached before)
  await store.prune(base, [root, ...(classifier && c ? [`${base}${c.dir}/`] : [])]);
  // ortBase is …/ort/<version>/: files of other versions (an upgrade) go as well
  if (ort.length) await store.prune(/\/ort\/[^/]+\/$/.test(ortBase) ? ortBase.replace(/[^/]+\/$/, '') : ortBase, ort);
  post({ type: 'ready', job: 0, modelId: codec.modelId, backend: runtime.name, threads, isolated: self.crossOriginIsolated, ...(classifier ? { classifier: classifier.id } : {}), firstLoadBytes: store.downloaded, loadMs, startMs: performance.now() - t0 });
}

/** Quality against the source, on the colour (RGB) of both: alpha is lossless in hicodec and
 *  JPEG has none, so it is left out of the comparison. MS-SSIM comes later, from the comparison
 *  worker (on a big photo it takes seconds). */
function quality(a: Picture, b: Picture): { psnr: number; msssim: number | null } {
  return { psnr: psnr(rgbOf(a), rgbOf(b)), msssim: null };
}

const rgbOf = (p: Picture): RgbImage => ((p.channels ?? 3) === 3 ? p : rgbaToRgb(p.width, p.height, rgbToRgba(p))!);
const sizes = (m: ImageMetadata): MetaSizes => ({ icc: m.icc?.length ?? 0, exif: m.exif?.length ?? 0, xmp: m.xmp?.length ?? 0 });

// Jobs: the page numbers them. A newer job, or a cancel of this one, aborts the job in progress
// at its next tile (or Explain step); a queued job that is already stale is skipped.
let newest = 0;
let cancelled = 0;
let current: { job: number; ctl: AbortController } | undefined;
const stale = (job: number) => job !== 0 && (job < newest || job <= cancelled);

/** Pictures from this size on get a 1/8 preview before the full decode (a few % of its time). */
const PREVIEW_MIN_PIXELS = 512 * 512;

function work(job: number, ctl: AbortController, prefix: string): WorkOptions {
  return { signal: ctl.signal, onProgress: (p) => post({ type: 'work', job, stage: `${prefix}.${p.stage}`, done: p.done, total: p.total }) };
}

/** What the picture shows, from the stream's latent (no synthesis), when a classifier is loaded. */
async function classify(job: number, bytes: Uint8Array): Promise<void> {
  if (!classifier || !codec) return;
  const t0 = performance.now();
  const r = await classifier.classify(codec, bytes);
  post({ type: 'classified', job, label: r.label, probability: r.top.probability, top: r.classes.slice(0, 3), ms: performance.now() - t0 });
}

// Explain: the analysis, the stream, its symbols and the synthesis depend on the picture and the
// quality only; a new point re-uses them (explainImage asks the codec for them again: a proxy
// answers from this memo) and only the point's perturbation runs again.
let explainMemo: { source: number; quality: number; image: RgbImage; calls: Map<string, { arg: unknown; value: Promise<unknown> }> } | undefined;

const EXPLAIN_STEPS: Record<string, string> = { analyzeExplained: 'explain.analysis', encodeAnalyzed: 'explain.coding', decodeSymbols: 'explain.parsing', synthesizeExplained: 'explain.synthesis' };

function memoCodec(c: Codec, memo: NonNullable<typeof explainMemo>, job: number, signal: AbortSignal, reused: { hits: number }): Codec {
  return new Proxy(c, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      const fn = v as (...a: unknown[]) => unknown;
      if (typeof prop !== 'string' || !(prop in EXPLAIN_STEPS)) return fn.bind(target);
      return (...args: unknown[]) => {
        if (signal.aborted) throw new CodecError('E_ABORTED', 'the operation was aborted');
        // analyzeExplained of another picture is the receptive field's perturbation
        const perturbation = prop === 'analyzeExplained' && args[0] !== memo.image;
        const key = perturbation ? 'explain.receptive field' : EXPLAIN_STEPS[prop]!;
        const arg = prop === 'encodeAnalyzed' ? args[1] : args[0];
        const hit = memo.calls.get(prop);
        if (!perturbation && hit && hit.arg === arg) {
          reused.hits++;
          return hit.value;
        }
        post({ type: 'work', job, stage: key, done: 0, total: 1 });
        const value = Promise.resolve(fn.apply(target, args)).then((r) => {
          post({ type: 'work', job, stage: key, done: 1, total: 1 });
          return r;
        });
        if (!perturbation) {
          memo.calls.set(prop, { arg, value });
          value.catch(() => memo.calls.delete(prop));
        }
        return value;
      };
    },
  });
}

const sumOf = (a: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
};
const maxOf = (a: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, a[i]!);
  return m;
};

/** Explain in plain words: bits per pixel, where they go, what the point's neighbourhood is. */
function plainSummary(e: Explanation, w: number, h: number): string {
  const bpp = (8 * e.bytes) / (w * h);
  const total = e.totalBitsY + e.totalBitsZ;
  const pctY = total ? (100 * e.totalBitsY) / total : 0;
  // the share of the picture's 16×16 patches that carry half of the picture's bits
  const t = e.tokens;
  const cells: number[] = [];
  for (let y = 0; y < t.coverH; y++) for (let x = 0; x < t.coverW; x++) cells.push(e.bitsY[y * t.gridW + x]!);
  cells.sort((a, b) => b - a);
  const covered = sumOf(cells);
  let acc = 0;
  let n = 0;
  while (n < cells.length && acc < covered / 2) acc += cells[n++]!;
  const share = cells.length ? (100 * n) / cells.length : 0;
  const rf = e.receptiveField.effective;
  return [
    `At quality ${e.quality} this picture takes ${e.bytes.toLocaleString('en')} bytes: ${bpp.toFixed(2)} bits per pixel (a raw photo takes 24), ${Number.isFinite(e.psnr) ? `PSNR ${e.psnr.toFixed(1)} dB` : 'lossless'}.`,
    `${pctY.toFixed(0)}% of the bits describe the picture itself, one token per ${t.patch}×${t.patch}-pixel patch (${(t.coverW * t.coverH).toLocaleString('en')} tokens); the other ${(100 - pctY).toFixed(0)}% tell the decoder how to read them.`,
    `Half of the picture's bits go to ${share.toFixed(0)}% of its patches, the detailed ones (bright in "Bits"); flat areas cost little.`,
    `Around the point (${e.point.x}, ${e.point.y}) the encoder looks at about ${rf}×${rf} pixels ("Receptive field").`,
  ].join('\n');
}

function scales(e: Explanation): Record<string, Scale> {
  const t = e.tokens;
  const out: Record<string, Scale> = {
    bits_y: { min: 0, max: maxOf(e.bitsY), unit: `bits per ${t.patch}×${t.patch} patch`, gamma: 1 },
    bits_z: { min: 0, max: maxOf(e.bitsZ), unit: `bits per ${e.zGrid.patch}×${e.zGrid.patch} patch (side information)`, gamma: 1 },
    error: { min: 0, max: maxOf(e.error), unit: 'mean absolute error per pixel (levels of 255)', gamma: 0.5 },
  };
  if (e.classAttention) out['class_attention'] = { min: 0, max: 100 * maxOf(e.classAttention.map), unit: '% of the class token\'s attention', gamma: 0.5 };
  if (e.attention?.length) for (const s of new Set(e.attention.map((a) => a.stride))) out[`attention_${s}`] = { min: 0, max: 1, unit: 'attention weight, relative to each head\'s highest', gamma: 1 };
  return out;
}

async function handle(m: Request): Promise<void> {
  const ctl = new AbortController();
  try {
    if (m.type === 'init') return await init(m.base, m.ortBase, m.ortFiles, m.threads);
    if (m.type === 'cancel') return;
    if (stale(m.job)) throw new CodecError('E_ABORTED', 'replaced by a newer job');
    current = { job: m.job, ctl };
    if (!codec) throw new CodecError('E_MODEL_INTEGRITY', 'the model is not loaded yet');
    if (m.type === 'encode') {
      const t0 = performance.now();
      const { bytes, stats } = await codec.encode(m.image, { ...work(m.job, ctl, 'encode'), metadata: m.metadata, ...(m.targetBytes ? { targetBytes: m.targetBytes } : { quality: m.quality }) });
      const encodeMs = performance.now() - t0;
      const t1 = performance.now();
      const decoded = await codec.decode(bytes, work(m.job, ctl, 'decode'));
      const decodeMs = performance.now() - t1;
      post({ type: 'work', job: m.job, stage: 'measure', done: 0, total: 1 });
      const shown: Shown = { codec: 'hicodec', quality: stats.quality, bytes: bytes.length, bpp: stats.bpp, ...quality(m.image, decoded), encodeMs, decodeMs, image: decoded };
      post({ type: 'work', job: m.job, stage: 'measure', done: 1, total: 1 });
      if (ctl.signal.aborted) throw new CodecError('E_ABORTED', 'the operation was aborted');
      await classify(m.job, bytes);
      post({ type: 'encoded', job: m.job, hic: bytes, shown, targetMet: stats.targetMet, metadata: sizes(decoded.metadata), alphaBytes: stats.alphaBytes }, [bytes.buffer as ArrayBuffer]);
    } else if (m.type === 'explain') {
      const t0 = performance.now();
      if (!explainMemo || explainMemo.source !== m.source || explainMemo.quality !== m.quality) {
        explainMemo = { source: m.source, quality: m.quality, image: m.image, calls: new Map() };
      }
      const reused = { hits: 0 };
      const c = memoCodec(codec, explainMemo, m.job, ctl.signal, reused);
      const image = explainMemo.image;
      const e = await explainImage(c, image, { quality: m.quality, ...(m.point ? { point: m.point } : {}), ...(classifier ? { classifier } : {}) });
      if (ctl.signal.aborted) throw new CodecError('E_ABORTED', 'the operation was aborted');
      post({ type: 'work', job: m.job, stage: 'explain.drawing', done: 0, total: 1 });
      const p = { ...panels(image, e) };
      // the decoded picture belongs to the memo: send a copy, transfer the rest
      p['decoded'] = { ...e.decoded, data: e.decoded.data.slice() };
      post({ type: 'explained', job: m.job, summary: plainSummary(e, image.width, image.height), details: summaryText(e, image.width, image.height), panels: p, scales: scales(e), point: e.point, ms: performance.now() - t0, reused: reused.hits > 0 }, [...new Set(Object.values(p).map((x) => x.data.buffer as ArrayBuffer))]);
    } else if (m.type === 'decode') {
      const info = inspectContainer(m.bytes);
      if (m.preview && !m.scale && codec.hasPreview(8) && info.width * info.height >= PREVIEW_MIN_PIXELS) {
        const t0 = performance.now();
        const image = await codec.decode(m.bytes, { ...work(m.job, ctl, 'preview'), scale: 8 });
        post({ type: 'preview', job: m.job, image, scale: 8, ms: performance.now() - t0, width: info.width, height: info.height, quality: info.quality, bytes: info.totalBytes });
      }
      const t1 = performance.now();
      const decoded = await codec.decode(m.bytes, { ...work(m.job, ctl, 'decode'), ...(m.scale ? { scale: checkScale(m.scale) } : {}) });
      const decodeMs = performance.now() - t1;
      await classify(m.job, m.bytes).catch(() => undefined); // another model's stream: no class, still decoded
      const tiles = info.chunks.filter((c) => c.type === 'TILE' || c.type === 'YHAT').length;
      post({ type: 'decoded', job: m.job, info: { width: info.width, height: info.height, quality: info.quality, bytes: info.totalBytes, modelId: info.modelId, tiles }, decodeMs, image: decoded, metadata: sizes(decoded.metadata) });
    }
  } catch (e) {
    const code = e instanceof CodecError ? e.code : e instanceof RangeError || String(e).includes('memory') ? 'E_OUT_OF_MEMORY' : 'E_INTERNAL';
    post({ type: 'error', job: m.job, code, message: e instanceof Error ? e.message : String(e) });
  } finally {
    if (current?.ctl === ctl) current = undefined;
  }
}

// One request at a time: ONNX Runtime sessions must not run concurrently. A cancel, or a newer
// job, skips the queue: it aborts the request in progress at its next tile.
let queue = Promise.resolve();
self.onmessage = (ev: MessageEvent<Request>) => {
  const m = ev.data;
  newest = Math.max(newest, m.job);
  if (m.type === 'cancel') cancelled = Math.max(cancelled, m.job);
  if (current && stale(current.job)) current.ctl.abort();
  if (m.type === 'cancel') return;
  queue = queue.then(() => handle(m));
};
