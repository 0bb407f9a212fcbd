// A worker thread of a batch (batch.ts): one codec per model, loaded once, then files one by one.
import { parentPort, workerData } from 'node:worker_threads';

import { inspectContainer } from '../bitstream/container.js';
import type { Codec } from '../codec/codec.js';
import { errorOf, processFile, type BatchItem, type BatchOptions } from './batch.js';
import { createCodec } from './index.js';
import { readFile } from 'node:fs/promises';

const { model, threads, opts } = workerData as { model?: string; threads: number; opts: BatchOptions };
const port = parentPort!;
const codecs = new Map<string, Promise<Codec>>();

function codecFor(id: string | undefined): Promise<Codec> {
  const key = id ?? '';
  if (!codecs.has(key)) codecs.set(key, createCodec({ threads, ...(id ? { model: id } : {}) }));
  return codecs.get(key)!;
}

port.on('message', async (item: BatchItem) => {
  try {
    // decoding: each stream names its model; encoding: the chosen (or default) model
    const id = opts.mode === 'decode' && !model ? inspectContainer(new Uint8Array(await readFile(item.input))).modelId : model;
    port.postMessage({ result: await processFile(await codecFor(id), item, opts) });
  } catch (e) {
    port.postMessage(errorOf(e));
  }
});
port.postMessage({ ready: true });
