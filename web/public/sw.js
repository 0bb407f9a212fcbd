// Offline from the first visit. Install precaches the app shell that the build lists in
// precache.json (the page, its scripts and styles, the comparison encoders, models/DEFAULT); the
// page waits for this worker to control it before it starts the codec worker, so that the rest —
// ONNX Runtime's glue and wasm and the model, which the codec worker downloads with progress into
// its own cache — is answered from the caches from then on.
// The page, precache.json and models/DEFAULT and CLASSIFIER go to the network first (a new deploy,
// a new default model), falling back to the cache offline; everything else comes from the caches
// first.
// Each deploy is a new worker: the build stamps its id into the line below (web/vite.config.ts),
// so the browser installs this file again after a deploy. Install caches the new shell (hashed
// assets already cached are kept: their names change with their bytes) and stores its list;
// activate deletes every shell entry not in that list, e.g. the old deploy's assets.
const BUILD = 'dev';
const SHELL = 'hicodec-shell-v2';
const OLD = ['hicodec-app-v1'];
const LIST = 'precache.json';
const scope = new URL(self.registration.scope);
const rel = (url) => url.pathname.slice(scope.pathname.length);
const at = (path) => new URL(path, scope).href;

self.addEventListener('install', (e) => e.waitUntil((async () => {
  const res = await fetch(at(LIST), { cache: 'no-store' });
  if (res.ok) {
    const list = await res.clone().json();
    const cache = await caches.open(SHELL);
    const fresh = [];
    for (const f of list.files) if (!f.path.startsWith('assets/') || !(await cache.match(at(f.path)))) fresh.push(f.path);
    await cache.addAll(fresh.map((p) => new Request(at(p), { cache: 'reload' })));
    await cache.put(at(LIST), res);
  }
  await self.skipWaiting();
})()));

self.addEventListener('activate', (e) => e.waitUntil((async () => {
  for (const k of OLD) await caches.delete(k);
  const cache = await caches.open(SHELL);
  const stored = await cache.match(at(LIST));
  if (stored) {
    const keep = new Set([at(LIST), ...(await stored.json()).files.map((f) => at(f.path))]);
    for (const req of await cache.keys()) if (!keep.has(req.url)) await cache.delete(req);
  }
  await self.clients.claim();
})()));

const networkFirst = (path) => path === '' || path === 'index.html' || path === LIST || path === 'models/DEFAULT' || path === 'models/CLASSIFIER';

self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== location.origin || !url.pathname.startsWith(scope.pathname)) return;
  const path = rel(url);
  e.respondWith((async () => {
    const cache = await caches.open(SHELL);
    if (e.request.mode === 'navigate' || networkFirst(path)) {
      try {
        const res = await fetch(e.request);
        if (res.ok) await cache.put(e.request.mode === 'navigate' ? at('./') : e.request, res.clone());
        return res;
      } catch (err) {
        const hit = await caches.match(e.request.mode === 'navigate' ? at('./') : e.request);
        if (hit) return hit;
        throw err;
      }
    }
    const hit = await caches.match(e.request);
    if (hit) return hit;
    const res = await fetch(e.request);
    // the model and ONNX Runtime's files are cached by the codec worker: not twice
    if (res.ok && res.type === 'basic' && !path.startsWith('models/') && !path.startsWith('ort/')) await cache.put(e.request, res.clone());
    return res;
  })());
});
