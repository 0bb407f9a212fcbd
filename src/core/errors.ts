// Typed errors with stable codes. Each code maps to one CLI exit status (see EXIT_STATUS).

export const ERROR_CODES = [
  'E_INVALID_OPTION',
  'E_BAD_MAGIC',
  'E_UNSUPPORTED_VERSION',
  'E_TRUNCATED',
  'E_CORRUPT',
  'E_CHECKSUM',
  'E_UNKNOWN_MODEL',
  'E_LIMIT_EXCEEDED',
  'E_MODEL_INTEGRITY',
  'E_IO',
  'E_UNSUPPORTED_IMAGE',
  'E_EXISTS',
  'E_ABORTED',
  'E_TARGET_UNREACHABLE',
  'E_BATCH_INCOMPLETE',
  'E_QUEUE_UNREACHABLE',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** CLI exit status per code (0 = success, 1 = unexpected internal error). */
export const EXIT_STATUS: Readonly<Record<ErrorCode, number>> = Object.freeze({
  E_INVALID_OPTION: 2,
  E_BAD_MAGIC: 3,
  E_UNSUPPORTED_VERSION: 4,
  E_TRUNCATED: 5,
  E_CORRUPT: 6,
  E_CHECKSUM: 7,
  E_UNKNOWN_MODEL: 8,
  E_LIMIT_EXCEEDED: 9,
  E_MODEL_INTEGRITY: 10,
  E_IO: 11,
  E_UNSUPPORTED_IMAGE: 12,
  E_EXISTS: 13,
  E_ABORTED: 14,
  E_TARGET_UNREACHABLE: 15,
  E_BATCH_INCOMPLETE: 16,
  E_QUEUE_UNREACHABLE: 17,
});

export class CodecError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CodecError';
    this.code = code;
  }
}

export function isCodecError(e: unknown): e is CodecError {
  return e instanceof CodecError;
}
