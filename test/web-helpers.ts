// Fixtures of the web page's end-to-end test: a static server for dist-web/ with the isolation
// headers that can be slowed down (a model still loading) or taken down (offline), the shared
// data folder, and a recorder of the page's progress bar.
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Page } from 'playwright-core';

/** ../shared/data, or $HICODEC_DATA. */
export const DATA = process.env['HICODEC_DATA'] ?? fileURLToPath(new URL('../../../shared/data/', import.meta.url));

/** The 2048-px photo with the fewest pixels in DATA/large (the longest side is 2048), if any. */
export function largePhoto(): string | undefined {
  const dir = join(DATA, 'large');
  if (!existsSync(dir)) return undefined;
  const names = readdirSync(dir).filter((n) => n.endsWith('.png')).sort();
  // 2a76…: 2048×928 in the shared set; otherwise the first one
  return join(dir, names.find((n) => n.startsWith('2a760bf1')) ?? names[0] ?? '');
}

const TYPES: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm',
  '.json': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml',
};

export interface SiteServer {
  server: Server;
  base: string;
  /** Milliseconds to hold back each response whose path matches `slow.match`. */
  slow: { match: RegExp; ms: number } | undefined;
  /** The network is gone: every connection is dropped (a browser reports ERR_FAILED / offline). */
  down: boolean;
  /** Paths served, in order. */
  log: string[];
  /** Extra files served beside the site (path → bytes), e.g. a page that embeds the decoder. */
  extra: Record<string, Uint8Array | string>;
  close(): Promise<void>;
}

export async function serveSite(site: string): Promise<SiteServer> {
  const s: SiteServer = { server: undefined as unknown as Server, base: '', slow: undefined, down: false, log: [], extra: {}, close: async () => undefined };
  s.server = createServer(async (req, res) => {
    if (s.down) return void req.socket.destroy();
    const url = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    s.log.push(url);
    if (url in s.extra) {
      const body = Buffer.from(s.extra[url]!);
      res.writeHead(200, {
        'Content-Type': TYPES[extname(url)] ?? 'application/octet-stream', 'Content-Length': body.length,
        'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp',
      });
      return void res.end(body);
    }
    const path = normalize(join(site, url));
    const file = path.endsWith('/') ? join(path, 'index.html') : path;
    if (!file.startsWith(site)) return void res.writeHead(403).end();
    if (s.slow?.match.test(url)) await new Promise((r) => setTimeout(r, s.slow!.ms));
    try {
      const body = await readFile(file);
      res.writeHead(200, {
        'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': body.length,
        'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
  s.base = `http://127.0.0.1:${(s.server.address() as { port: number }).port}/`;
  s.close = () => new Promise((r) => {
    s.server.closeAllConnections();
    s.server.close(() => r());
  });
  return s;
}

export interface Sample {
  t: number;
  value: number;
  text: string;
  eta: string;
  busy: boolean;
}

/** Starts sampling the page's job progress bar every 200 ms (read back with `progressSamples`). */
export async function recordProgress(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __samples: unknown[]; __sampler?: ReturnType<typeof setInterval> };
    w.__samples = [];
    clearInterval(w.__sampler);
    const t0 = performance.now();
    w.__sampler = setInterval(() => {
      w.__samples.push({
        t: performance.now() - t0,
        value: (document.getElementById('busy-progress') as HTMLProgressElement).value,
        text: document.getElementById('busy-text')!.textContent,
        eta: document.getElementById('busy-eta')!.textContent,
        busy: !document.getElementById('busy')!.hidden,
      });
    }, 200);
  });
}

export async function progressSamples(page: Page): Promise<Sample[]> {
  return page.evaluate(() => {
    const w = window as unknown as { __samples: Sample[]; __sampler?: ReturnType<typeof setInterval> };
    clearInterval(w.__sampler);
    return w.__samples;
  });
}

/** The page is no wider than its viewport (nothing sticks out sideways). */
export async function pageWidth(page: Page): Promise<{ scroll: number; viewport: number }> {
  return page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, viewport: window.innerWidth }));
}
