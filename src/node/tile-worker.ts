// A worker thread that runs tiles for a Codec in the main thread (see workers.ts).
import { parentPort, workerData } from 'node:worker_threads';

import { SessionEngine } from '../codec/engine.js';
import { serveEngine } from '../codec/remote.js';
import { nodeRuntime } from '../runtime/node.js';
import { loadPackageFromDir } from './package.js';

const { modelDir, threads } = workerData as { modelDir: string; threads: number };
const port = parentPort!;
const engine = loadPackageFromDir(modelDir).then((pkg) => SessionEngine.create(pkg, nodeRuntime({ threads })));
const serve = serveEngine(port, engine);
port.on('message', (msg) => void serve(msg));
