// The codec worker's own cache (Cache API) of what it downloads itself: ONNX Runtime's glue and
// wasm, the model, the classifier. Downloads report each chunk (the loading bar) and are stored
// with their type and length; the service worker answers ONNX Runtime's own requests for its files
// from here, so they work offline. Without the Cache API everything is fetched.
import { CodecError } from '../src/web.js';

const CACHE = 'hicodec-models-v1';

export class DownloadCache {
  /** Bytes that came from the network, not from the cache, so far. */
  downloaded = 0;

  private constructor(private readonly cache: Cache | undefined) {}

  static async open(): Promise<DownloadCache> {
    return new DownloadCache('caches' in self ? await caches.open(CACHE) : undefined);
  }

  /** The size of `url` when it is cached (its stored length, read without reading the file), else
   *  undefined. */
  async cachedSize(url: string): Promise<number | undefined> {
    const hit = await this.cache?.match(url);
    if (!hit) return undefined;
    const n = Number(hit.headers.get('Content-Length') ?? NaN);
    return Number.isInteger(n) && n >= 0 ? n : (await hit.blob()).size; // stored before lengths were
  }

  /** `url`'s bytes from the cache, or downloaded (reporting each chunk to `onBytes`, the length
   *  first to `onSize`) and then cached. */
  async bytes(url: string, onBytes: (n: number) => void = () => undefined, onSize?: (n: number) => void): Promise<Uint8Array> {
    const hit = await this.cache?.match(url);
    if (hit) {
      const b = new Uint8Array(await hit.arrayBuffer());
      onSize?.(b.length);
      onBytes(b.length);
      return b;
    }
    const res = await fetch(url);
    if (!res.ok || !res.body) throw new CodecError('E_IO', `cannot download ${url} (HTTP ${res.status})`);
    onSize?.(Number(res.headers.get('Content-Length') ?? 0));
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
    this.downloaded += out.length;
    // the server's headers go with it: its type, and the isolation headers without which ONNX
    // Runtime's glue cannot start its threads (workers under Cross-Origin-Embedder-Policy)
    const headers = new Headers(res.headers);
    headers.delete('Content-Encoding');
    headers.set('Content-Length', String(out.length));
    await this.cache?.put(url, new Response(out.slice(), { headers }));
    return out;
  }

  /** Deletes the cached files under `prefix` that are under none of `keep` (a model, a build of
   *  ONNX Runtime no longer in use). */
  async prune(prefix: string, keep: readonly string[]): Promise<void> {
    for (const req of (await this.cache?.keys()) ?? []) {
      if (req.url.startsWith(prefix) && !keep.some((k) => req.url.startsWith(k))) await this.cache!.delete(req);
    }
  }
}
