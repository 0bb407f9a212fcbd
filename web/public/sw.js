// Offline from the first visit. Install precaches the app shell that the build lists in
// precache.json (the page, its scripts and styles, the comparison encoders, ONNX Runtime's glue,
// models/DEFAULT); the page waits for this worker to control it before it starts the codec worker,
// so that the rest — ONNX Runtime's wasm and the model, which the codec worker downloads with
// progress into its own cache — is answered from the caches from then on.
// The page and models/DEFAULT and CLASSIFIER go to the network first (a new deploy, a new default
// model), falling back to the cache offline; everything else comes from the caches first.
const SHELL = 'hicodec-shell-v2';
const OLD = ['hicodec-app-v1'];
const scope = new URL(self.registration.scope);
const rel = (url) => url.pathname.slice(scope.pathname.length);

self.addEventListener('install', (e) => e.waitUntil((async () => {
  const res = await fetch(new URL('precache.json', scope), { cache: 'no-store' });
  if (res.ok) {
    const { files } = await res.json();
    const cache = await caches.open(SHELL);
    await cache.addAll(files.map((f) => new Request(new URL(f.path, scope), { cache: 'reload' })));
  }
  await self.skipWaiting();
})()));

self.addEventListener('activate', (e) => e.waitUntil((async () => {
  for (const k of OLD) await caches.delete(k);
  await self.clients.claim();
})()));

const networkFirst = (path) => path === '' || path === 'index.html' || path === 'models/DEFAULT' || path === 'models/CLASSIFIER';

self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== location.origin || !url.pathname.startsWith(scope.pathname)) return;
  const path = rel(url);
  e.respondWith((async () => {
    const cache = await caches.open(SHELL);
    if (e.request.mode === 'navigate' || networkFirst(path)) {
      try {
        const res = await fetch(e.request);
        if (res.ok) await cache.put(e.request.mode === 'navigate' ? new URL('./', scope).href : e.request, res.clone());
        return res;
      } catch (err) {
        const hit = await caches.match(e.request.mode === 'navigate' ? new URL('./', scope).href : e.request);
        if (hit) return hit;
        throw err;
      }
    }
    const hit = await caches.match(e.request);
    if (hit) return hit;
    const res = await fetch(e.request);
    // the model and ONNX Runtime's wasm are cached by the codec worker: not twice
    if (res.ok && res.type === 'basic' && !path.startsWith('models/') && !path.startsWith('ort/')) await cache.put(e.request, res.clone());
    return res;
  })());
});
