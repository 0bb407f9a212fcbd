// Vite config of the web page: cross-origin isolation headers (wasm threads need
// SharedArrayBuffer), the shipped default model served/copied under /models/, onnxruntime-web
// left out of dependency pre-bundling (it locates its .wasm files relative to itself).
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { defineConfig, type Plugin } from 'vite';

import { ORT_BUILDS } from '../src/runtime/ort-builds.js';

const HERE = import.meta.dirname;
const MODELS = resolve(HERE, '../models');
const ORT_DIST = resolve(HERE, '../node_modules/onnxruntime-web/dist');
/** onnxruntime-web's wasm glue and binaries of both builds (WebGPU and plain wasm; the codec
 *  worker downloads the one it uses), served as files under /ort/ (not bundled: its worker threads
 *  must load the glue itself, not a bundle that also holds our worker). */
const ORT_FILES = [...ORT_BUILDS.webgpu, ...ORT_BUILDS.wasm];
/** ONNX Runtime's files are served under ort/<its version>/: the codec worker caches them by URL,
 *  and the glue and wasm of one version do not run with another's, so an upgrade is a new URL
 *  (the worker prunes the old version's files). */
const ORT_VERSION = (JSON.parse(readFileSync(resolve(HERE, '../node_modules/onnxruntime-web/package.json'), 'utf8')) as { version: string }).version;
export const ORT_DIR = `ort/${ORT_VERSION}/`;
/** The line of public/sw.js that the build replaces with its build id (the shell's hash). */
const SW_BUILD_LINE = "const BUILD = 'dev';";
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/** The installed classifier package that reads `codec`'s latent, if any. */
function classifierOf(codec: string): string | undefined {
  return readdirSync(MODELS).sort().find((d) => {
    try {
      const m = JSON.parse(readFileSync(join(MODELS, d, 'manifest.json'), 'utf8')) as { kind?: string; codec_model?: string };
      return m.kind === 'classifier' && m.codec_model === codec;
    } catch {
      return false;
    }
  });
}

/** Every file under `dir`, relative, with its size. */
function walk(dir: string, rel = ''): { path: string; bytes: number }[] {
  return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((d) => {
    const r = rel ? `${rel}/${d.name}` : d.name;
    return d.isDirectory() ? walk(dir, r) : [{ path: r, bytes: statSync(join(dir, r)).size }];
  });
}

function models(): Plugin {
  const defaultId = () => readFileSync(join(MODELS, 'DEFAULT'), 'utf8').trim();
  let outDir = '';
  let building = false;
  return {
    name: 'hicodec-models',
    configResolved(c) {
      outDir = resolve(c.root, c.build.outDir);
      building = c.command === 'build';
    },
    /** precache.json: the app shell the service worker caches at install (public/sw.js), the
     *  ONNX Runtime files that the codec worker downloads itself (counted in its progress), and the
     *  build id, a hash of the shell, also stamped into sw.js: a new deploy is a new service
     *  worker, which replaces the old shell. */
    closeBundle() {
      if (!building || !existsSync(join(outDir, 'index.html'))) return;
      const files = walk(outDir).filter((f) => f.path !== 'sw.js' && f.path !== 'precache.json' && !f.path.endsWith('.map')
        && (!f.path.startsWith('models/') || f.path === 'models/DEFAULT' || f.path === 'models/CLASSIFIER') && !f.path.startsWith('ort/'));
      const shell = [{ path: './', bytes: statSync(join(outDir, 'index.html')).size }, ...files];
      const hash = createHash('sha256');
      for (const f of shell) hash.update(`${f.path}\0`).update(readFileSync(join(outDir, f.path === './' ? 'index.html' : f.path)));
      const build = hash.digest('hex').slice(0, 16);
      writeFileSync(join(outDir, 'precache.json'), JSON.stringify({ build, files: shell, ort: ORT_FILES }, null, 1) + '\n');
      const sw = readFileSync(join(outDir, 'sw.js'), 'utf8');
      if (!sw.includes(SW_BUILD_LINE)) throw new Error(`public/sw.js has no line ${SW_BUILD_LINE}`);
      writeFileSync(join(outDir, 'sw.js'), sw.replace(SW_BUILD_LINE, `const BUILD = '${build}';`));
    },
    configureServer(server) {
      server.middlewares.use(`/${ORT_DIR}`, (req, res, next) => {
        const name = (req.url ?? '').split('?')[0]!.replace(/^\/+/, '');
        if (!ORT_FILES.includes(name)) return next();
        res.setHeader('Content-Type', name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript');
        res.setHeader('Content-Length', statSync(join(ORT_DIST, name)).size);
        for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v); // the ORT worker threads need them too
        createReadStream(join(ORT_DIST, name)).pipe(res);
      });
      server.middlewares.use('/models/', (req, res, next) => {
        const rel = decodeURIComponent((req.url ?? '').split('?')[0]!).replace(/^\/+/, '');
        if (rel === 'CLASSIFIER') {
          const cls = classifierOf(defaultId());
          if (!cls) return next();
          for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
          return void res.end(`${cls}\n`);
        }
        const path = resolve(MODELS, rel);
        if (!path.startsWith(MODELS + '/') || !existsSync(path) || !statSync(path).isFile()) return next();
        res.setHeader('Content-Length', statSync(path).size);
        for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
        createReadStream(path).pipe(res);
      });
    },
    writeBundle(opts) {
      mkdirSync(join(opts.dir!, ORT_DIR), { recursive: true });
      for (const f of ORT_FILES) copyFileSync(join(ORT_DIST, f), join(opts.dir!, ORT_DIR, f));
      // Only the default model: that is what the page loads.
      const id = defaultId();
      const out = join(opts.dir!, 'models', id);
      mkdirSync(out, { recursive: true });
      copyFileSync(join(MODELS, 'DEFAULT'), join(opts.dir!, 'models', 'DEFAULT'));
      const manifest = JSON.parse(readFileSync(join(MODELS, id, 'manifest.json'), 'utf8')) as { files: Record<string, unknown> };
      for (const f of ['manifest.json', ...Object.keys(manifest.files)]) copyFileSync(join(MODELS, id, f), join(out, f));
      // the classifier that reads the default model's latent, if one is installed
      const cls = classifierOf(id);
      if (cls) {
        mkdirSync(join(opts.dir!, 'models', cls), { recursive: true });
        for (const f of ['manifest.json', 'classifier.onnx']) copyFileSync(join(MODELS, cls, f), join(opts.dir!, 'models', cls, f));
        writeFileSync(join(opts.dir!, 'models', 'CLASSIFIER'), `${cls}\n`);
      }
    },
  };
}

export default defineConfig({
  root: HERE,
  base: './',
  plugins: [models()],
  define: { __ORT_DIR__: JSON.stringify(ORT_DIR) },
  // the builds of onnxruntime-web that import their wasm glue from env.wasm.wasmPaths (WebGPU and
  // wasm; src/runtime/web.ts imports one of them)
  resolve: {
    alias: [
      { find: /^onnxruntime-web$/, replacement: join(ORT_DIST, 'ort.min.mjs') },
      { find: /^onnxruntime-web\/wasm$/, replacement: join(ORT_DIST, 'ort.wasm.min.mjs') },
    ],
  },
  server: { headers: ISOLATION_HEADERS },
  preview: { headers: ISOLATION_HEADERS },
  optimizeDeps: { exclude: ['onnxruntime-web', '@jsquash/avif', '@jsquash/jpeg', '@jsquash/webp'] },
  worker: { format: 'es' },
  build: {
    outDir: resolve(HERE, '../dist-web'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 2000,
    rollupOptions: {
      // the page, and the embeddable decoder at a stable address: <site>/embed.js (embed.ts)
      input: { index: resolve(HERE, 'index.html'), embed: resolve(HERE, 'embed.ts') },
      output: { entryFileNames: (c) => (c.name === 'embed' ? 'embed.js' : 'assets/[name]-[hash].js') },
    },
  },
});
