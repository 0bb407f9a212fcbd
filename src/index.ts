// hicodec's Node entry point. Browsers use hicodec/web (src/web.ts).
export { Codec, type RgbImage, type Picture, type DecodedPicture, type ImageMetadata, type EncodeOptions, type DecodeOptions, type EncodeStats, type Symbols, type CodecOptions, type WorkOptions, type Progress } from './codec/codec.js';
export { checkScale, scaledSize, scaleCosts, type Scale } from './codec/scale.js';
export { CodecError, isCodecError, ERROR_CODES, EXIT_STATUS, type ErrorCode } from './core/errors.js';
export { parseContainer, inspectContainer, type Container, type ContainerInfo, type ChunkInfo } from './bitstream/container.js';
export { loadPackage, gainForQuality, type ModelPackage, type Manifest } from './model/package.js';
export { nodeRuntime } from './runtime/node.js';
export type { Runtime, RuntimeOptions, InferenceSession, TensorData } from './runtime/types.js';
export { loadPackageFromDir } from './node/package.js';
export { createCodec, resolveModelDir, resolveClassifierDir, loadClassifier, MODELS_DIR, type NodeCodecOptions } from './node/index.js';
export { Classifier, decodedLatent, type Classification, type ClassifierManifest } from './classify/classifier.js';
export { decodeImageFile, encodeImageFile, readImageFile, writeImageFile, formatForPath, OUTPUT_EXTENSIONS, type ImageFormat, type KeepMetadata, type ReadImage } from './node/image.js';
export { colorMse, colorPsnr, psnr, mse } from './metrics/psnr.js';
export { msSsim } from './metrics/msssim.js';
