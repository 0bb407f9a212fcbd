#!/usr/bin/env node
// The `hic` command line: encode, decode, info. Errors print one line on stderr and exit with the
// status of their code (see EXIT_STATUS); results go to files or stdout, logs to stderr.
import { readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

import { benchCommand, type BenchCliOptions } from '../bench/cli.js';
import { batchCommand, queueCommand, workerCommand, type BatchCliOptions } from './batch.js';
import { classifyCommand, thresholdArg, type ClassifyCliOptions } from './classify.js';
import { defineCompare } from './compare.js';
import { explainCommand, type ExplainCliOptions } from '../explain/cli.js';
import { inspectContainer, type ContainerInfo } from '../bitstream/container.js';
import { peekContainer } from '../bitstream/peek.js';
import { DEFAULT_TILE_SIZE, type Codec, type Picture, type Progress } from '../codec/codec.js';
import { checkEffort, DEFAULT_EFFORT } from '../codec/effort.js';
import { helperPays } from '../codec/helper.js';
import { checkScale, meanOutputMacs, scaleCosts, scaledSize } from '../codec/scale.js';
import type { Manifest } from '../model/package.js';
import { CodecError, ERROR_CODES, EXIT_STATUS, isCodecError } from '../core/errors.js';
import { colorPsnr } from '../metrics/psnr.js';
import { checkOutputQuality, formatForPath, readImageFile, writeImageFile, type KeepMetadata } from '../node/image.js';
import { checkOutput, readInput, writeOutput } from '../node/files.js';
import { createCodec, resolveModelDir } from '../node/index.js';

/** The package's version (package.json two folders above dist/src/cli, also when installed). */
const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

function intArg(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || n < min || n > max) throw new InvalidArgumentError(`expected an integer in ${min}..${max}`);
    return n;
  };
}

/** An integer option checked with the library's message: "Expected … for --name but received …". */
function checkedInt(name: string, min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v.trim()) || Number(v) < min || Number(v) > max) {
      throw new CodecError('E_INVALID_OPTION', `Expected an integer between ${min} and ${max} for ${name} but received ${v}`);
    }
    return Number(v);
  };
}

/** --tile: a multiple of 128 (the codec's rule, said as such). */
function tileArg(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < 128 || n > 65408 || n % 128 !== 0) throw new InvalidArgumentError('expected a multiple of 128 in 128..65408');
  return n;
}

/** --effort: the library's check and message ("Expected an integer 0..9 for effort but received …"). */
const effortArg = (v: string): number => checkEffort(/^\s*\d+\s*$/.test(v) ? Number(v) : v);

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

/** Default output name: the input's base name with another extension, in the current folder
 *  (never next to the input, which may be a data folder); stdin → stdout. Said on stderr. */
function defaultOutput(input: string, ext: string): string {
  if (input === '-') return '-';
  const name = basename(input);
  const e = extname(name);
  return (e ? name.slice(0, -e.length) : name) + ext;
}

/** The output path, checked before any work: not a terminal, not the input, not an existing
 *  file without -f. */
async function prepareOutput(input: string, output: string | undefined, ext: string, force: boolean): Promise<string> {
  const out = output ?? defaultOutput(input, ext);
  if (out === '-' && process.stdout.isTTY) throw new CodecError('E_INVALID_OPTION', 'refusing to write binary data to a terminal (use -o FILE or a pipe)');
  if (out !== '-' && out === input) throw new CodecError('E_INVALID_OPTION', 'input and output are the same file');
  await checkOutput(out, force);
  return out;
}

const log = (msg: string) => process.stderr.write(`${msg}\n`);
/** JSON results go to stdout, or to stderr when stdout carries the image data. */
const printJson = (v: unknown, out: string) => (out === '-' ? process.stderr : process.stdout).write(JSON.stringify(v, null, 2) + '\n');
const ms = (t0: number) => Math.round(performance.now() - t0);
const fmt = (n: number, d: number) => n.toFixed(d);
/** A figure for JSON, which has no infinity (PSNR of identical pictures): null. */
const finiteOrNull = (n: number) => (Number.isFinite(n) ? n : null);

interface CommonOpts {
  model?: string;
  threads?: number;
  workers?: number;
  progress?: boolean;
}

/** Progress on stderr for long work: on a terminal, or always with --progress. Counts are coding
 *  tiles in every stage (schedule.ts). One line per stage, rewritten in place on a terminal; its
 *  first and last count otherwise. */
function progressPrinter(o: CommonOpts): ((p: Progress) => void) | undefined {
  const tty = !!process.stderr.isTTY;
  if (!o.progress && !tty) return undefined;
  const t0 = performance.now();
  let lastStage = '';
  let lastPrint = 0;
  return (p) => {
    const now = performance.now();
    const done = p.done === p.total;
    if (!tty && p.stage === lastStage && !done) return;
    if (tty && !done && now - lastPrint < 100) return;
    lastPrint = now;
    lastStage = p.stage;
    const line = `hic: ${p.stage} ${p.done}/${p.total} tile${p.total === 1 ? '' : 's'} (${((now - t0) / 1000).toFixed(1)} s)`;
    process.stderr.write(tty ? `\r${line}\x1b[K${done ? '\n' : ''}` : `${line}\n`);
  };
}

async function withCodec<T>(opts: CommonOpts, model: string | undefined, helper: boolean, fn: (c: Codec) => Promise<T>): Promise<T> {
  const codec = await createCodec({
    ...(opts.model ?? model ? { model: (opts.model ?? model)! } : {}),
    ...(opts.threads ? { threads: opts.threads } : {}),
    ...(opts.workers ? { workers: opts.workers } : {}),
    reclaim: true, // a one-shot process: big pictures free each tile's leftovers (docs/MODEL.md)
    helper,
  });
  try {
    return await fn(codec);
  } finally {
    await codec.dispose();
  }
}

interface EncodeCliOpts extends CommonOpts {
  output?: string;
  quality?: number;
  tile?: number;
  targetBpp?: number;
  targetSize?: number;
  effort?: number;
  stats?: boolean;
  json?: boolean;
  force?: boolean;
  keep?: KeepMetadata;
  strip?: boolean;
}

async function encodeCmd(input: string, o: EncodeCliOpts): Promise<void> {
  const out = await prepareOutput(input, o.output, '.hic', !!o.force);
  if (o.strip && o.keep && o.keep !== 'none') throw new CodecError('E_INVALID_OPTION', `Expected either --strip or --keep but received --strip and --keep ${o.keep}`);
  const keep: KeepMetadata = o.strip ? 'none' : o.keep ?? 'all';
  const read = await readImageFile(await readInput(input), input === '-' ? 'stdin' : input, { keep });
  const { image, metadata } = read;
  await withCodec(o, undefined, helperPays(image.width, image.height, o.tile ?? DEFAULT_TILE_SIZE), async (codec) => {
    const t0 = performance.now();
    const onProgress = progressPrinter(o);
    const { bytes, stats } = await codec.encode(image, {
      ...(onProgress ? { onProgress } : {}),
      ...(o.targetBpp === undefined && o.targetSize === undefined ? { quality: o.quality ?? 75 } : {}),
      ...(o.targetBpp !== undefined ? { targetBpp: o.targetBpp } : {}),
      ...(o.targetSize !== undefined ? { targetBytes: o.targetSize } : {}),
      ...(o.tile !== undefined ? { tileSize: o.tile } : {}),
      ...(o.effort !== undefined ? { effort: o.effort } : {}),
      metadata,
    });
    const encodeMs = ms(t0);
    if (!stats.targetMet) {
      const want = o.targetSize ?? Math.floor(((o.targetBpp ?? 0) * image.width * image.height) / 8);
      throw new CodecError('E_TARGET_UNREACHABLE', `even quality 0 takes ${stats.bytes} bytes (${fmt(stats.bpp, 4)} bpp), more than the target of ${want} bytes; nothing written`);
    }
    let decoded: Picture | undefined;
    let decodeMs = 0;
    if (o.stats) {
      const t1 = performance.now();
      decoded = await codec.decode(bytes, onProgress ? { onProgress } : {});
      decodeMs = ms(t1);
    }
    await writeOutput(out, bytes, !!o.force);
    if (o.output === undefined && out !== '-') log(`hic: wrote ${out} (in the current folder; -o to choose)`);
    const px = image.width * image.height;
    const psnrRgb = decoded ? colorPsnr(image, decoded) : undefined; // colour only: alpha is lossless
    const report = {
      input, output: out, model: codec.modelId, backend: codec.backend, width: image.width, height: image.height,
      channels: image.channels, color: stats.color,
      quality: stats.quality, effort: o.effort ?? DEFAULT_EFFORT, bytes: stats.bytes, bpp: stats.bpp, bpp_z: (8 * stats.zBytes) / px, bpp_y: (8 * stats.yBytes) / px,
      alpha_bytes: stats.alphaBytes, metadata_bytes: stats.metadataBytes, tiles: stats.tiles, tile_size: stats.tileSize,
      metadata: { icc: metadata.icc?.length ?? 0, exif: metadata.exif?.length ?? 0, xmp: metadata.xmp?.length ?? 0 },
      source: read.source, converted: read.converted,
      ...(stats.searched.length ? { searched_qualities: stats.searched, target_met: stats.targetMet } : {}),
      encode_ms: encodeMs,
      // `psnr` is the same figure under its old name, for scripts that read it; JSON has no
      // infinity, so a decode identical to the input gives null there and `identical: true`
      ...(psnrRgb !== undefined ? { psnr_rgb: finiteOrNull(psnrRgb), psnr: finiteOrNull(psnrRgb), identical: psnrRgb === Infinity, decode_ms: decodeMs } : {}),
    };
    if (o.json) {
      printJson(report, out);
    } else if (o.stats) {
      log(`${input} → ${out}: ${image.width}×${image.height} ${['gray', 'gray+alpha', 'RGB', 'RGBA'][image.channels - 1]}, quality ${stats.quality}, ${stats.bytes} bytes, ` +
        `${fmt(stats.bpp, 4)} bpp (z ${fmt(report.bpp_z, 4)}, y ${fmt(report.bpp_y, 4)}${stats.alphaBytes ? `, alpha ${stats.alphaBytes} bytes` : ''}` +
        `${stats.metadataBytes ? `, metadata ${stats.metadataBytes} bytes` : ''}), ` +
        `${stats.color === 'gray' ? 'gray' : 'RGB'} PSNR ${psnrRgb === Infinity ? '∞ dB (identical to the input)' : `${fmt(psnrRgb ?? NaN, 2)} dB`}${stats.alphaBytes ? ' (alpha lossless, not counted)' : ''}, encode ${encodeMs} ms, decode ${decodeMs} ms (${codec.backend})`);
      for (const c of read.converted) log(`  converted: ${c}`);
    }
  });
}

interface DecodeCliOpts extends CommonOpts {
  output?: string;
  outQuality?: number;
  force?: boolean;
  json?: boolean;
  strip?: boolean;
  scale?: string;
}

async function decodeCmd(input: string, o: DecodeCliOpts): Promise<void> {
  const out = await prepareOutput(input, o.output, '.png', !!o.force);
  const format = formatForPath(out); // an unknown extension is refused before any work
  if (o.outQuality !== undefined) checkOutputQuality(format, o.outQuality, '--out-quality'); // and a quality for PNG or TIFF
  const scale = checkScale(o.scale);
  const bytes = await readInput(input);
  const header = inspectContainer(bytes);
  await withCodec(o, header.modelId, helperPays(header.width, header.height, header.tileSize), async (codec) => {
    const t0 = performance.now();
    const onProgress = progressPrinter(o);
    if (scale > 1 && !codec.hasPreview(scale)) log(`hic: note: model ${codec.modelId} has no preview head for 1/${scale}: decoding in full, then downscaling`);
    const image = await codec.decode(bytes, { scale, ...(onProgress ? { onProgress } : {}) });
    const decodeMs = ms(t0);
    const written = await writeImageFile(image, format, o.strip ? {} : image.metadata, o.outQuality !== undefined ? { quality: o.outQuality } : {});
    await writeOutput(out, written.bytes, !!o.force);
    if (o.output === undefined && out !== '-') log(`hic: wrote ${out} (in the current folder; -o to choose)`);
    for (const d of written.dropped) log(`hic: warning: ${format} output: dropped ${d}`);
    if (o.json) {
      printJson({
        input, output: out, format, model: codec.modelId, backend: codec.backend, width: image.width, height: image.height, channels: image.channels,
        metadata: { icc: image.metadata.icc?.length ?? 0, exif: image.metadata.exif?.length ?? 0, xmp: image.metadata.xmp?.length ?? 0 },
        dropped: written.dropped, decode_ms: decodeMs, scale: `1/${scale}`,
      }, out);
    }
  });
}

/** `hic info` on a stream inspectContainer() refuses: what could be read of it, then the error
 *  (exit status unchanged). Not a .hic file at all: the error alone. */
function infoPartial(file: string, bytes: Uint8Array, e: CodecError, json: boolean): void {
  const pk = peekContainer(bytes);
  if (pk.formatVersion === undefined) return;
  const chunks = (pk.chunks ?? []).map((c) => ({ type: c.type.trim(), offset: c.offset, bytes: c.length, present: c.present }));
  if (json) {
    process.stdout.write(JSON.stringify({
      file, complete: false, error: { code: e.code, message: e.message }, format_version: pk.formatVersion, model: pk.modelId ?? null,
      width: pk.width ?? null, height: pk.height ?? null, quality: pk.quality ?? null, color: pk.color ?? null, tile_size: pk.tileSize || null,
      chunk_count: pk.chunkCount ?? null, bytes: bytes.length, chunks,
    }, null, 2) + '\n');
    return;
  }
  const known = (v: number | string | undefined) => (v === undefined ? '?' : String(v));
  process.stdout.write([
    `${file}: hicodec format ${pk.formatVersion}, model ${known(pk.modelId)} — damaged, what could be read (${bytes.length} bytes):`,
    `  ${known(pk.width)}×${known(pk.height)} ${pk.color === 'gray' ? 'gray' : pk.color === 'rgb' ? 'RGB' : '?'}, quality ${known(pk.quality)}` +
      `${pk.tileSize ? `, tiles of ${pk.tileSize} px` : ''}, ${known(pk.chunkCount)} chunks announced`,
    ...chunks.map((c) => `  ${c.type.padEnd(4)}  ${String(c.bytes).padStart(9)} bytes  ${c.present === c.bytes ? 'present' : `${c.present} present (cut short)`}`),
  ].join('\n') + '\n');
}

/** What `decode --scale` costs for this file with its model as installed here (null: not installed). */
async function reducedSizes(info: ContainerInfo) {
  let manifest: Manifest;
  let meanOutput: number | undefined;
  try {
    const dir = await resolveModelDir(info.modelId);
    manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    meanOutput = meanOutputMacs(manifest, readFileSync(join(dir, manifest.networks.hyper_mean.file)));
  } catch {
    return null;
  }
  return scaleCosts(manifest, meanOutput).map((c) => ({ ...scaledSize(info.width, info.height, c.scale), ...c, scale: `1/${c.scale}` }));
}

async function infoCmd(file: string, o: { json?: boolean }): Promise<void> {
  const bytes = await readInput(file);
  let info: ContainerInfo;
  try {
    info = inspectContainer(bytes);
  } catch (e) {
    if (isCodecError(e)) infoPartial(file, bytes, e, !!o.json);
    throw e;
  }
  const px = info.width * info.height;
  const extra = (t: string) => info.chunks.find((c) => c.type === t)?.length ?? 0;
  const tiles = info.chunks.filter((c) => c.type === 'TILE' || c.type === 'YHAT').length;
  const report = {
    file, format_version: info.formatVersion, model: info.modelId, width: info.width, height: info.height, quality: info.quality,
    color: info.color, alpha: extra('ALPH') > 0, tile_size: info.tileSize || null, tiles,
    metadata: { icc: extra('ICCP'), exif: extra('EXIF'), xmp: extra('XMP ') },
    bytes: info.totalBytes, bpp: (8 * info.totalBytes) / px, header_bytes: info.headerBytes,
    chunks: info.chunks.map((c) => ({ type: c.type.trim(), offset: c.offset, bytes: c.length, bpp: (8 * c.length) / px, crc32: c.crc.toString(16).padStart(8, '0'), crc_ok: c.crcOk })),
    reduced_sizes: await reducedSizes(info),
  };
  if (o.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    const lines = [
      `${file}: hicodec format ${info.formatVersion}, model ${info.modelId}`,
      `  ${info.width}×${info.height} ${info.color === 'gray' ? 'gray' : 'RGB'}${report.alpha ? ' + alpha' : ''}, quality ${info.quality}, ${info.totalBytes} bytes, ${fmt(report.bpp, 4)} bpp (header ${info.headerBytes} bytes)`,
      `  ${tiles} tile${tiles === 1 ? '' : 's'}${info.tileSize ? ` of ${info.tileSize} px` : ''}; metadata: ${[['ICC profile', report.metadata.icc], ['Exif', report.metadata.exif], ['XMP', report.metadata.xmp]].filter(([, n]) => n).map(([k, n]) => `${k} ${n} bytes`).join(', ') || 'none'}`,
      ...report.chunks.map((c) => `  ${c.type}  ${String(c.bytes).padStart(9)} bytes  ${fmt(c.bpp, 4)} bpp  crc32 ${c.crc32} ${c.crc_ok ? 'ok' : 'MISMATCH'}`),
      ...(report.reduced_sizes ? ['  decode --scale:', ...report.reduced_sizes.map((r) => `    ${r.scale}: ${r.width}×${r.height}, ${r.note}`)] : [`  decode --scale: model ${info.modelId} is not installed here`]),
    ];
    process.stdout.write(lines.join('\n') + '\n');
  }
  const bad = info.chunks.find((c) => !c.crcOk);
  if (bad) throw new CodecError('E_CHECKSUM', `${bad.type} chunk checksum mismatch`);
}

const HELP_AFTER = `
Examples:
  hic encode photo.jpg -o photo.hic -q 80 --stats     quality 0..100 (default 75)
  hic encode photo.png -o photo.hic --target-size 50000
  hic encode photo.png -o photo.hic --effort 5        slower encode, better rate–distortion, same decoder
  hic decode photo.hic -o photo.png                   also .jpg .webp .avif .tif
  hic decode photo.hic -o photo.jpg --out-quality 85  JPEG/WebP default 95, AVIF 90
  hic decode photo.hic -o thumb.png --scale 1/8       a thumbnail for a fraction of a full decode
  hic info photo.hic
  hic classify photo.hic                              which of 5 flowers it shows (or unknown), without decoding it
  hic compare photo.png --size 20000                  against mozjpeg, WebP, AVIF, JPEG XL at that size
  cat photo.png | hic encode - -o - > photo.hic       stdin/stdout with "-"

Exit status: 0 ok, 1 internal error, then one per error code:
${ERROR_CODES.map((c) => `  ${String(EXIT_STATUS[c]).padStart(2)}  ${c}`).join('\n')}
Errors print "hic: error CODE: message" on stderr. Outputs are written atomically; an existing
file is never replaced without -f.`;

export function program(): Command {
  const p = new Command('hic')
    .description('hicodec: learned image codec (CNN encoder, Transformer decoder)')
    .version(VERSION)
    .configureOutput({ writeErr: () => undefined }) // errors are printed once, by main(), as "hic: error CODE: …"
    .exitOverride()
    .addHelpText('after', HELP_AFTER);
  const common = (c: Command) =>
    c
      .option('--model <id|dir>', 'model id under models/ or a package folder (default: models/DEFAULT; decode: the stream\'s model)')
      .option('--threads <n>', 'inference threads (per worker with --workers)', intArg(1, 256))
      .option('--workers <n>', 'worker threads that take the tiles, each with its own sessions (default 0: this thread)', intArg(0, 64))
      .option('--progress', 'print progress on stderr even when it is not a terminal');
  // rate and metadata choices, the same for `encode` and `batch`
  const encodeOptions = (c: Command) =>
    c
      .addOption(new Option('-q, --quality <q>', 'quality 0..100 (default 75)').argParser(intArg(0, 100)).conflicts(['targetBpp', 'targetSize']))
      .addOption(new Option('--target-bpp <bpp>', 'highest quality whose size is at most this many bits per pixel').argParser(positiveNumber).conflicts('targetSize'))
      .addOption(new Option('--target-size <bytes>', 'highest quality whose file is at most this many bytes').argParser(intArg(1, Number.MAX_SAFE_INTEGER)))
      .option('--tile <px>', 'tile size in pixels, a multiple of 128 (default 1024): the unit of memory and parallel work', tileArg)
      .option('--effort <0..9>', `encoder effort (default ${DEFAULT_EFFORT}; 0: plain rounding): higher is slower and finds a smaller file for the same quality; any decoder reads it`, effortArg)
      .addOption(new Option('--keep <what>', 'metadata to carry: none, icc (the colour profile) or all (ICC, Exif, XMP; default)').choices(['none', 'icc', 'all']))
      .option('--strip', 'carry no metadata (same as --keep none)');
  common(
    encodeOptions(p.command('encode')
      .description('encode an image (PNG, JPEG, WebP, TIFF, AVIF; "-" = stdin) to .hic')
      .argument('<input>')
      .option('-o, --output <file>', 'output file ("-" = stdout; default: input name with .hic)'))
      .option('--stats', 'decode again and print size, bpp, PSNR of the colour (RGB or gray; alpha is lossless) and times on stderr')
      .option('--json', 'print the statistics as JSON on stdout (stderr when the output is stdout)')
      .option('-f, --force', 'overwrite the output file'),
  ).action((input: string, o: EncodeCliOpts) => encodeCmd(input, o));
  common(
    p.command('decode')
      .description('decode a .hic file ("-" = stdin) to PNG, JPEG, WebP, AVIF or TIFF by the output extension')
      .argument('<input>')
      .option('-o, --output <file>', 'output file: .png .jpg .jpeg .webp .avif .tif .tiff ("-" = stdout as PNG; default: input name with .png)')
      .option('--out-quality <q>', 'quality 1..100 of a .jpg/.webp/.avif output (default: 95 for JPEG and WebP, 90 for AVIF; refused for PNG and TIFF, which are lossless)', checkedInt('--out-quality', 1, 100))
      .option('--strip', 'write no metadata (ICC, Exif, XMP) into the output')
      .option('--scale <s>', 'decode at 1/2, 1/4 or 1/8 of the size (sides rounded up): the model\'s preview heads read part of the stream and skip the synthesis transform; without them, full decode then downscale')
      .option('--json', 'print a JSON summary on stdout (stderr when the output is stdout)')
      .option('-f, --force', 'overwrite the output file'),
  ).action((input: string, o: DecodeCliOpts) => decodeCmd(input, o));
  p.command('info')
    .description('show a .hic file\'s header, chunks, bpp and checksum status')
    .argument('<file>')
    .option('--json', 'JSON output')
    .action((file: string, o: { json?: boolean }) => infoCmd(file, o));
  common(
    p.command('explain')
      .description('show how the codec sees an image: tokens, where the bits go, error, receptive fields (PNG panels + HTML report)')
      .argument('<image>')
      .option('-q, --quality <q>', 'quality 0..100', intArg(0, 100), 75)
      .option('-o, --output <dir>', 'output folder (default: <image name>.explain)')
      .option('--point <x,y>', 'point of interest in pixels (default: the centre)')
      .option('--json', 'print the summary numbers as JSON')
      .option('-f, --force', 'replace the output folder'),
  ).action((image: string, o: ExplainCliOptions) => explainCommand(image, o));
  common(
    encodeOptions(p.command('batch')
      .description('code every image of IN_DIR (recursively) into OUT_DIR, mirroring the tree; skips files whose output exists')
      .argument('<in_dir>')
      .argument('<out_dir>')
      .option('--decode', 'decode .hic files instead (to --format, default png)')
      .option('--format <ext>', 'output format when decoding: png, jpg, webp, avif, tif'))
      .option('--glob <pattern>', 'which files, relative to IN_DIR (default **/*.{png,jpg,jpeg,webp,tif,tiff,avif,gif}; --decode: **/*.hic)')
      .option('--jobs <n>', 'worker threads, one codec each (default: the number of CPUs)', intArg(1, 256))
      .option('--queue <url>', 'enqueue one job per file on a BullMQ queue in Redis (redis://host:port) instead of coding here')
      .option('--wait', 'with --queue: wait for the jobs and print the summary')
      .option('--json', 'print the summary as JSON on stdout')
      .option('-f, --force', 'replace outputs that exist'),
  ).action((inDir: string, outDir: string, o: BatchCliOptions) => batchCommand(inDir, outDir, o));
  p.command('worker')
    .description('run batch jobs from a BullMQ queue until stopped (any number of machines; outputs at the paths the jobs name)')
    .requiredOption('--queue <url>', 'redis://host:port')
    .option('--concurrency <n>', 'jobs at a time in this process (default 1)', intArg(1, 64))
    .option('--threads <n>', 'inference threads (default 2)', intArg(1, 256))
    .option('--lock-ms <ms>', 'how long a job\'s lock lasts without renewal: a dead worker\'s job runs again after it (default 30000)', intArg(1000, 3_600_000))
    .option('--json', 'one JSON line per job on stderr')
    .action((o: { queue: string; concurrency?: number; threads?: number; json?: boolean; lockMs?: number }) => workerCommand(o));
  p.command('queue')
    .description('state of a BullMQ queue: job counts and the dead-letter list (jobs that failed every attempt)')
    .requiredOption('--queue <url>', 'redis://host:port')
    .option('--json', 'JSON output')
    .action((o: { queue: string; json?: boolean }) => queueCommand(o));
  p.command('classify')
    .description('a 5-class flower demo (daisy, dandelion, roses, sunflowers, tulips; tf_flowers): which of them each .hic shows, ' +
      'or "unknown", from its latent tokens (entropy decoding and the hyper networks only; no pixels decoded)')
    .argument('<files...>')
    .option('--classifier <id|dir>', 'classifier package (default: the one installed for the stream\'s model)')
    .option('--threads <n>', 'inference threads', intArg(1, 256))
    .option('--threshold <p>', 'top-1 probability 0..1 under which the answer is "unknown" (default 0.6)', thresholdArg)
    .option('--top <n>', 'classes to list (default 3)', intArg(1, 100))
    .option('--json', 'JSON output')
    .action((files: string[], o: ClassifyCliOptions) => classifyCommand(files, o));
  common(defineCompare(p.command('compare')));
  p.command('bench')
    .description('rate–distortion and speed benchmark of hicodec against mozjpeg, WebP, AVIF and JPEG XL')
    .argument('[dir]', 'folder of PNG/JPEG images (default: ../shared/data/kodak or $HICODEC_KODAK)')
    .option('--quick', 'first 3 images only (smoke run)')
    .option('--name <name>', 'run name (default: <folder>-<date>)')
    .option('--out <dir>', 'results folder (default: bench/results)')
    .option('--codecs <list>', 'comma-separated subset: hicodec,mozjpeg-420,mozjpeg-444,webp,avif-e4,avif-e9,jxl-e7')
    .option('--model <id|dir>', 'hicodec model (default: models/DEFAULT)')
    .option('--anchors <dir>', 'published Kodak curves (default: ../shared/anchors/kodak)')
    .option('--write-benchmarks', 'also write BENCHMARKS.md at the repository root')
    .option('--reuse <result.json>', 'take the rows of codecs not listed in --codecs from this earlier run of the same images (library versions checked)')
    .option('--against <result.json>', 'BD-rates of this run\'s hicodec curve against that earlier run\'s on the same images (e.g. a new model against the shipped one)')
    .action(async (dir: string | undefined, o: BenchCliOptions) => {
      const { md } = await benchCommand(dir, o);
      process.stdout.write(md);
    });
  return p;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0) return 0;
      log(`hic: error E_INVALID_OPTION: ${e.message.replace(/^error: /, '')} (see hic --help)`);
      return EXIT_STATUS.E_INVALID_OPTION;
    }
    if (isCodecError(e)) {
      log(`hic: error ${e.code}: ${e.message}`);
      return EXIT_STATUS[e.code];
    }
    log(`hic: internal error: ${(e as Error)?.stack ?? String(e)}`);
    return 1;
  }
}

// A reader that stops early (`hic --help | head -3`, `hic decode x.hic -o - | head -c 100`) closes
// stdout: stop quietly with the status a Unix tool killed by SIGPIPE has (128 + 13), instead of an
// unhandled EPIPE error and its stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(141);
});
process.exitCode = await main(process.argv);
// Benchmarks (bench/tiles.ts, bench/reliability.ts) read the peak memory of a CLI run from here:
// VmHWM of this process where Linux has it, since getrusage's maxRSS survives exec and would report
// the parent's peak for a child spawned from a big process.
if (process.env['HIC_REPORT_RSS']) process.stderr.write(`hic-rss ${JSON.stringify({ maxrss_kb: peakRssKb() })}\n`);

function peakRssKb(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS;
}
