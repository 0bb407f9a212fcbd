// A worker thread that runs tiles for a Codec in the main thread, or the float half of its parsing
// (see workers.ts).
import { parentPort, workerData } from 'node:worker_threads';

import { SessionEngine } from '../codec/engine.js';
import { serveEngine } from '../codec/remote.js';
import type { ModelPackage } from '../model/package.js';
import { nodeRuntime } from '../runtime/node.js';
import { loadPackageFromDir } from './package.js';

const data = workerData as { modelDir?: string; pkg?: ModelPackage; threads: number };
const port = parentPort!;
const pkg = data.pkg ? Promise.resolve(data.pkg) : loadPackageFromDir(data.modelDir!);
const engine = pkg.then((p) => SessionEngine.create(p, nodeRuntime({ threads: data.threads })));
const serve = serveEngine(port, engine);
port.on('message', (msg) => void serve(msg));
