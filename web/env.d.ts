// import.meta.env (DEV, PROD) as Vite defines it.
/// <reference types="vite/client" />

/** ONNX Runtime's files, relative to the page: ort/<onnxruntime-web version>/ (vite.config.ts). */
declare const __ORT_DIR__: string;
