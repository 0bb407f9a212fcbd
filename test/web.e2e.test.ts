// The built web page in Debian's Chromium (headless, playwright-core), served with the
// cross-origin isolation headers: encode a test image and compare the shown size and PSNR with
// the Node codec's; open a .hic made by the Node CLI and compare the pixels; show an error for a
// corrupt stream; save a screenshot (test-artifacts/web-e2e.png).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { after, before, test } from 'node:test';

import { chromium, type BrowserContext, type Page } from 'playwright-core';

import { psnr } from '../src/metrics/psnr.js';
import { decodeImageFile, encodeImageFile } from '../src/node/image.js';
import { disposeAll, hasKodak, KODIM23, maxAbsDiff, node, REPO, syntheticImage } from './helpers.js';

const SITE = join(REPO, 'dist-web');
const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';
const TYPES: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm',
  '.json': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml',
};

let server: Server;
let base = '';
let ctx: BrowserContext;
let page: Page;
let dir = '';

before(async () => {
  assert.ok(existsSync(join(SITE, 'index.html')), 'build the page first: npm run build:web');
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  server = createServer(async (req, res) => {
    const path = normalize(join(SITE, decodeURIComponent((req.url ?? '/').split('?')[0]!)));
    const file = path.endsWith('/') ? join(path, 'index.html') : path;
    if (!file.startsWith(SITE)) return void res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, {
        'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
        'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp',
      });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  dir = await mkdtemp(join(tmpdir(), 'hic-web-'));
  ctx = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = ctx.pages()[0] ?? (await ctx.newPage());
  page.on('pageerror', (e) => console.error('page error:', e.message));
});

after(async () => {
  await ctx?.close();
  server?.close();
  await disposeAll();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the page encodes, compares and decodes like the Node codec', { timeout: 300_000 }, async (t) => {
  await page.goto(base);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 180_000 });
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true);
  const backend = await page.textContent('#backend');
  t.diagnostic(`backend: ${backend}`);
  assert.match(backend ?? '', /wasm, 2 threads/);

  // 1. encode a test image at quality 75: size and PSNR as in Node
  const img = syntheticImage(256, 192, 77);
  await writeFile(join(dir, 'photo.png'), await encodeImageFile(img, 'png'));
  await page.setInputFiles('#file', join(dir, 'photo.png'));
  await page.waitForSelector('body[data-encoded="1"]', { timeout: 120_000 });
  const hicRow = page.locator('tr[data-codec="hicodec"]');
  const shownBytes = Number(await hicRow.getAttribute('data-bytes'));
  const shownPsnr = Number(await hicRow.getAttribute('data-psnr'));
  const codec = await node();
  const { bytes } = await codec.encode(img, { quality: 75 });
  const nodePsnr = psnr(img, await codec.decode(bytes));
  t.diagnostic(`browser ${shownBytes} bytes ${shownPsnr} dB; node ${bytes.length} bytes ${nodePsnr.toFixed(4)} dB`);
  assert.ok(Math.abs(shownBytes - bytes.length) <= 0.01 * bytes.length, `${shownBytes} vs ${bytes.length}`);
  assert.ok(Math.abs(shownPsnr - nodePsnr) <= 0.05, `${shownPsnr} vs ${nodePsnr}`);

  // 2. the comparison codecs at the closest size
  await page.waitForSelector('body[data-compared="1"]', { timeout: 120_000 });
  for (const c of ['JPEG', 'WebP', 'AVIF']) {
    const b = Number(await page.locator(`tr[data-codec="${c}"]`).getAttribute('data-bytes'));
    assert.ok(Math.abs(b - shownBytes) < 0.35 * shownBytes, `${c}: ${b} bytes vs hicodec ${shownBytes}`);
  }
  await page.selectOption('#compare-with', 'AVIF');
  await page.selectOption('#zoom', '4');
  await mkdir(join(REPO, 'test-artifacts'), { recursive: true });
  await page.screenshot({ path: join(REPO, 'test-artifacts', 'web-e2e.png'), fullPage: true });

  // 3. the Explain panel: summary, panels, and a click that moves the receptive-field point
  await page.click('#explain-run');
  await page.waitForSelector('body[data-explained]', { timeout: 60_000 });
  assert.match((await page.textContent('#explain-summary')) ?? '', /256×192 → 16×12 = 192 tokens of 192 values/);
  await page.click('#explain-canvas', { position: { x: 30, y: 20 } });
  await page.waitForFunction(() => document.body.dataset['explained'] && document.body.dataset['explained'] !== '128,96', undefined, { timeout: 60_000 });
  const canvasSize = await page.evaluate(() => [(document.getElementById('explain-canvas') as HTMLCanvasElement).width, (document.getElementById('explain-canvas') as HTMLCanvasElement).height]);
  assert.deepEqual(canvasSize, [256, 192]);
  await page.screenshot({ path: join(REPO, 'test-artifacts', 'web-explain.png'), fullPage: true });
  // encoder features (4 × 2 tiles of 96×72) and attention (6 heads × 2 blocks of half-size tiles)
  const size = () => page.evaluate(() => [(document.getElementById('explain-canvas') as HTMLCanvasElement).width, (document.getElementById('explain-canvas') as HTMLCanvasElement).height]);
  await page.click('button[data-view="features_2"]');
  assert.deepEqual(await size(), [384, 144]);
  await page.click('button[data-view="attention_16"]');
  assert.deepEqual(await size(), [768, 192]);
  assert.match((await page.textContent('#explain-summary')) ?? '', /attention \/16 block 1 \(shifted\): 6 heads look/);
  // a click in the second head's tile at tile pixel (32, 48) picks image point (64, 96); the view stays
  const box = (await page.locator('#explain-canvas').boundingBox())!;
  await page.click('#explain-canvas', { position: { x: ((128 + 32.5) * box.width) / 768, y: (48.5 * box.height) / 192 } });
  await page.waitForFunction(() => document.body.dataset['explained'] === '64,96', undefined, { timeout: 60_000 });
  assert.deepEqual(await size(), [768, 192]);
  assert.equal(await page.getAttribute('button[data-view="attention_16"]', 'class'), 'active');
  await page.screenshot({ path: join(REPO, 'test-artifacts', 'web-explain-attention.png'), fullPage: true });

  // 4. a .hic made by the Node CLI decodes to the Node pixels (±1)
  const src = syntheticImage(131, 67, 78);
  await writeFile(join(dir, 'cli.png'), await encodeImageFile(src, 'png'));
  const r = spawnSync(process.execPath, [join(REPO, 'dist/src/cli/hic.js'), 'encode', join(dir, 'cli.png'), '-o', join(dir, 'cli.hic'), '-q', '40']);
  assert.equal(r.status, 0, r.stderr.toString());
  const hic = new Uint8Array(await readFile(join(dir, 'cli.hic')));
  await page.setInputFiles('#file', join(dir, 'cli.hic'));
  await page.waitForSelector('body[data-decoded="1"]', { timeout: 60_000 });
  const got = await page.evaluate(() => {
    const d = (window as unknown as { __hicDecoded: { width: number; height: number; data: Uint8Array } }).__hicDecoded;
    return { width: d.width, height: d.height, data: Array.from(d.data) };
  });
  const want = await codec.decode(hic);
  assert.deepEqual([got.width, got.height], [131, 67]);
  assert.ok(maxAbsDiff(Uint8Array.from(got.data), want.data) <= 1);

  // 4b. decode time of a Kodak photo in this browser (2 wasm threads): reported, not asserted
  if (hasKodak) {
    const kodak = await codec.encode(await decodeImageFile(await readFile(KODIM23)), { quality: 50 });
    await writeFile(join(dir, 'kodim23.hic'), kodak.bytes);
    const times: number[] = [];
    for (let i = 0; i < 4; i++) {
      await page.evaluate(() => delete document.body.dataset['decoded']);
      // alternate files: choosing the file the input already holds fires no change event
      await page.setInputFiles('#file', join(dir, i % 2 ? 'cli.hic' : 'kodim23.hic'));
      await page.waitForSelector('body[data-decoded="1"]', { timeout: 60_000 });
      if (i % 2 === 0) times.push(Number(await page.locator('tr[data-codec="hicodec"]').getAttribute('data-decode-ms')));
    }
    const speed = { image: 'kodim23 q50', bytes: kodak.bytes.length, model: codec.modelId, decode_ms: times, backend, chromium: ctx.browser()?.version() ?? 'persistent context' };
    t.diagnostic(`Chromium decode of kodim23 (q50, ${kodak.bytes.length} bytes): ${times.map((v) => v.toFixed(0)).join(', ')} ms`);
    await writeFile(join(REPO, 'test-artifacts', 'web-speed.json'), JSON.stringify(speed, null, 1) + '\n');
  }

  // 5. a corrupt stream shows a clear message
  hic[hic.length - 2] = hic[hic.length - 2]! ^ 0x10;
  await writeFile(join(dir, 'bad.hic'), hic);
  await page.setInputFiles('#file', join(dir, 'bad.hic'));
  await page.waitForSelector('body[data-error="E_CHECKSUM"]', { timeout: 30_000 });
  assert.match((await page.textContent('#error')) ?? '', /E_CHECKSUM/);
  assert.equal(await page.isVisible('#error'), true);
});

test('transparency, metadata, progress, cancel, and an unmet target size in the page', { timeout: 300_000 }, async () => {
  await page.goto(base);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 180_000 });
  // an RGBA cut-out: the alpha comes back exactly, the colour through the codec
  const w = 160;
  const h = 120;
  const img = syntheticImage(w, h, 5);
  const rgba = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    rgba.set(img.data.subarray(3 * i, 3 * i + 3), 4 * i);
    const x = i % w;
    rgba[4 * i + 3] = x < 60 ? 255 : x < 100 ? Math.round((255 * (100 - x)) / 40) : 0;
  }
  await writeFile(join(dir, 'cut.png'), await encodeImageFile({ width: w, height: h, channels: 4, data: rgba }, 'png'));
  await page.setInputFiles('#file', join(dir, 'cut.png'));
  await page.waitForSelector('body[data-busy="1"]', { timeout: 30_000 });
  await page.waitForSelector('body[data-encoded="1"]', { timeout: 120_000 });
  const shown = await page.evaluate(() => {
    const d = (window as unknown as { __hicEncoded: { channels?: number; data: Uint8Array } }).__hicEncoded;
    return { channels: d.channels, data: Array.from(d.data) };
  });
  assert.equal(shown.channels, 4);
  for (let i = 0; i < w * h; i++) assert.equal(shown.data[4 * i + 3], rgba[4 * i + 3], `alpha at ${i}`);
  assert.match((await page.textContent('#meta')) ?? '', /alpha: [\d,]+ bytes, lossless/);
  await page.waitForSelector('body[data-compared="1"]', { timeout: 120_000 });
  await page.waitForFunction(() => !document.body.dataset['busy']);

  // a target size below what quality 0 takes: said, not silently ignored
  await page.check('input[name=mode][value=size]');
  await page.fill('#target-kb', '0.1');
  await page.click('#encode');
  await page.waitForSelector('body[data-encoded="1"]', { timeout: 120_000 });
  assert.equal(await page.isVisible('#notice'), true);
  assert.match((await page.textContent('#notice')) ?? '', /cannot be met/);
  await page.waitForSelector('body[data-compared="1"]', { timeout: 120_000 });

  // a .hic in 128-pixel tiles: progress per tile, then Cancel stops it
  const big = syntheticImage(2048, 1536, 8);
  const codec = await node();
  const { bytes } = await codec.encode(big, { quality: 50, tileSize: 128 });
  await writeFile(join(dir, 'big.hic'), bytes);
  await page.setInputFiles('#file', join(dir, 'big.hic'));
  await page.waitForFunction(() => /^synthesis: \d+ \/ \d+ tiles$/.test(document.getElementById('busy-text')?.textContent ?? ''), undefined, { timeout: 60_000 });
  await page.click('#cancel');
  await page.waitForSelector('body[data-error="E_ABORTED"]', { timeout: 60_000 });
  assert.match((await page.textContent('#notice')) ?? '', /Cancelled/);
  assert.equal(await page.isVisible('#busy'), false);
  // a smaller tiled stream decodes; a dropped .hic has no PSNR to show (no "NaN")
  const small = await codec.encode(syntheticImage(640, 384, 9), { quality: 50, tileSize: 256 });
  await writeFile(join(dir, 'small.hic'), small.bytes);
  await page.setInputFiles('#file', join(dir, 'small.hic'));
  await page.waitForSelector('body[data-decoded="1"]', { timeout: 120_000 });
  const cells = await page.locator('tr[data-codec="hicodec"] td').allTextContents();
  assert.ok(!cells.some((c) => c.includes('NaN')), JSON.stringify(cells));
  assert.match((await page.textContent('#meta')) ?? '', /640×384, 6 tiles/);
  await page.selectOption('#zoom', 'fit');
  await page.screenshot({ path: join(REPO, 'test-artifacts', 'web-tiles-fit.png'), fullPage: true });
});
