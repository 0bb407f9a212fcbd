// hicodec's browser entry point: the codec with onnxruntime-web (wasm, WebGPU when present).
export { Codec, type RgbImage, type Picture, type DecodedPicture, type ImageMetadata, type EncodeOptions, type DecodeOptions, type EncodeStats, type Symbols, type CodecOptions, type WorkOptions, type Progress } from './codec/codec.js';
export { checkScale, scaledSize, scaleCosts, type Scale } from './codec/scale.js';
export { CodecError, isCodecError, ERROR_CODES, type ErrorCode } from './core/errors.js';
export { parseContainer, inspectContainer, type Container, type ContainerInfo, type ChunkInfo } from './bitstream/container.js';
export { loadPackage, gainForQuality, type ModelPackage, type Manifest, type FileSource } from './model/package.js';
export { webRuntime, type WebRuntime, type WebRuntimeOptions } from './runtime/web.js';
export type { Runtime, RuntimeOptions, InferenceSession, TensorData } from './runtime/types.js';
export { colorMse, colorPsnr, psnr, mse } from './metrics/psnr.js';
export { msSsim } from './metrics/msssim.js';
export { rgbToRgba, rgbaToRgb, rgbaToPicture } from './core/pixels.js';
export { extractMetadata } from './core/metadata.js';
export { resetOrientation, exifOrientation } from './core/exif.js';
export { explainImage, receptiveFields, summaryText, type Explanation } from './explain/explain.js';
export { panels, type Panels, type TiledPanel } from './explain/draw.js';
export { Classifier, decodedLatent, type Classification, type ClassifierManifest } from './classify/classifier.js';
