// The embeddable decoder (built as embed.js at the site's root): a <hic-picture src="x.hic">
// element whose child <img> is the fallback, as in <picture>. The .hic is decoded by the page's
// codec worker (worker.ts; the model and ONNX Runtime come from next to embed.js) and drawn in a
// canvas that takes the image's place, with its alt text; without wasm or workers, or when the
// download or the decode fails, the <img> stays. state: data-state="decoding|decoded|fallback".
import type { Picture } from '../src/web.js';
import { inspectContainer } from '../src/bitstream/container.js';
import { rgbToRgba } from '../src/core/pixels.js';
import type { Reply, Request } from './protocol.js';

let codec: { worker: Worker; ready: Promise<void>; waiting: Map<number, { ok: (p: Picture) => void; fail: (e: Error) => void }>; next: number; chain: Promise<unknown> } | undefined;

/** One codec worker for all the pictures of the page, started by the first. */
function decoder(): NonNullable<typeof codec> {
  if (codec) return codec;
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  const waiting = new Map<number, { ok: (p: Picture) => void; fail: (e: Error) => void }>();
  let readyOk: () => void = () => undefined;
  let readyFail: (e: Error) => void = () => undefined;
  const ready = new Promise<void>((ok, fail) => {
    readyOk = ok;
    readyFail = fail;
  });
  worker.onmessage = (ev: MessageEvent<Reply>) => {
    const m = ev.data;
    if (m.type === 'ready') readyOk();
    else if (m.type === 'decoded') {
      waiting.get(m.job)?.ok(m.image);
      waiting.delete(m.job);
    } else if (m.type === 'error') {
      const e = new Error(`${m.code}: ${m.message}`);
      if (m.job === 0) readyFail(e);
      waiting.get(m.job)?.fail(e);
      waiting.delete(m.job);
    }
  };
  worker.onerror = (e) => readyFail(new Error(e.message));
  const send = (m: Request, t: Transferable[] = []) => worker.postMessage(m, t);
  // not `new URL(…, import.meta.url)` written out: Vite rewrites that form at build time (a template
  // literal became a glob over web/, which shipped its sources as assets)
  const here = import.meta.url;
  send({ type: 'init', job: 0, base: new URL('./models/', here).href, ortBase: new URL(`./${__ORT_DIR__}`, here).href, ortFiles: [], threads: Math.min(4, navigator.hardwareConcurrency || 1) });
  codec = { worker, ready, waiting, next: 1, chain: ready };
  return codec;
}

/** Decodes one picture after the other: the worker treats a newer job as replacing an older
 *  one (the page's behaviour), so a picture is sent only when the one before it is done. */
function decode(bytes: Uint8Array, scale: number): Promise<Picture> {
  const c = decoder();
  const run = c.chain.then(() => new Promise<Picture>((ok, fail) => {
    const job = c.next++;
    c.waiting.set(job, { ok, fail });
    c.worker.postMessage({ type: 'decode', job, bytes, ...(scale > 1 ? { scale } : {}) } satisfies Request, [bytes.buffer]);
  }));
  c.chain = run.catch(() => undefined);
  return run;
}

/** Shrink-on-load: the smallest of 1/8, 1/4, 1/2 of the picture that still has a pixel for every
 *  device pixel it is shown on (the <img>'s width, else the element's), else the full size. */
export function scaleFor(pictureWidth: number, shownCssWidth: number, dpr: number): number {
  if (!(shownCssWidth > 0)) return 1;
  for (const s of [8, 4, 2]) if (Math.ceil(pictureWidth / s) >= shownCssWidth * dpr) return s;
  return 1;
}

class HicPicture extends HTMLElement {
  connectedCallback(): void {
    if (this.dataset['state']) return;
    void this.load();
  }

  private async load(): Promise<void> {
    const src = this.getAttribute('src');
    const img = this.querySelector('img');
    this.dataset['state'] = 'decoding';
    try {
      if (!src) throw new Error('no src');
      if (typeof WebAssembly !== 'object' || typeof Worker !== 'function') throw new Error('no WebAssembly or Worker');
      const res = await fetch(new URL(src, document.baseURI));
      if (!res.ok) throw new Error(`${src}: HTTP ${res.status}`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      const { width } = inspectContainer(bytes);
      const shown = img?.width || this.clientWidth;
      const scale = scaleFor(width, shown, window.devicePixelRatio || 1);
      const pic = await decode(bytes, scale);
      this.dataset['scale'] = `1/${scale}`;
      const canvas = document.createElement('canvas');
      canvas.width = pic.width;
      canvas.height = pic.height;
      canvas.getContext('2d')!.putImageData(new ImageData(rgbToRgba(pic) as Uint8ClampedArray<ArrayBuffer>, pic.width, pic.height), 0, 0);
      canvas.setAttribute('role', 'img');
      if (img?.alt) canvas.setAttribute('aria-label', img.alt);
      canvas.style.maxWidth = '100%';
      if (shown) canvas.style.width = `${shown}px`;
      canvas.style.height = 'auto';
      if (img) img.replaceWith(canvas);
      else this.append(canvas);
      this.dataset['state'] = 'decoded';
    } catch (e) {
      // the fallback <img> stays as it is
      this.dataset['state'] = 'fallback';
      this.dataset['error'] = e instanceof Error ? e.message : String(e);
    }
  }
}

if (!customElements.get('hic-picture')) customElements.define('hic-picture', HicPicture);
