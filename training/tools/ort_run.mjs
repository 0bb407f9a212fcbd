// Runs one ONNX model with onnxruntime-node for the Python side (export checks and tests):
// Debian ships no onnxruntime for Python, and this is the runtime the product uses anyway.
// usage: node ort_run.mjs JOB.json   where JOB = { model, threads?, inputs: [{name, dtype, shape, file}], outDir }
// Writes outDir/<output>.bin (raw little-endian) and outDir/outputs.json ({name: {dtype, shape}}).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';

const ARRAYS = {
  float32: Float32Array, int32: Int32Array, int64: BigInt64Array, uint8: Uint8Array, int8: Int8Array,
  float64: Float64Array, uint16: Uint16Array, int16: Int16Array,
};

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const session = await ort.InferenceSession.create(job.model, {
  intraOpNumThreads: job.threads ?? 1,
  graphOptimizationLevel: 'all',
});
const feeds = {};
for (const inp of job.inputs) {
  const buf = readFileSync(inp.file);
  const Ctor = ARRAYS[inp.dtype];
  const data = new Ctor(buf.buffer, buf.byteOffset, buf.byteLength / Ctor.BYTES_PER_ELEMENT);
  feeds[inp.name] = new ort.Tensor(inp.dtype, data, inp.shape);
}
const results = await session.run(feeds);
const meta = {};
for (const [name, t] of Object.entries(results)) {
  const d = t.data;
  writeFileSync(join(job.outDir, `${name}.bin`), Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  meta[name] = { dtype: t.type, shape: t.dims };
}
writeFileSync(join(job.outDir, 'outputs.json'), JSON.stringify(meta));
await session.release();
