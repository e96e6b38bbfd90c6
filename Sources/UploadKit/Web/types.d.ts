// The uploader page's shapes. The page's JavaScript names them in JSDoc
// (`@type {import('./types').Chunk}`) and `tsc --noEmit --checkJs` checks it
// against them (Tests/browser/tsconfig*.json); browsers never load this file.

/** Where a chunk is, as far as this page knows. */
export type ChunkState = 'missing' | 'sending' | 'verified' | 'failed';

/** Chunk i of a file: bytes [start, end), sliced with File.prototype.slice. */
export interface Chunk {
  readonly index: number;
  readonly start: number;
  /** Exclusive; only the last chunk may be shorter than the chunk size. */
  readonly end: number;
  state: ChunkState;
  /** Attempts made to send it (retries included). */
  attempts: number;
}

/** The HEAD handshake (PROTOCOL.md), typed: what the server holds of an upload. */
export interface UploadStatus {
  readonly length: number;
  readonly chunkSize: number;
  readonly chunkCount: number;
  /** Bytes of the verified prefix (Upload-Offset). */
  readonly offset: number;
  /** Verified bytes in all (Upload-Received). */
  readonly received: number;
  /** Upload-Chunks: bit i (most significant bit of byte 0 first) = chunk i verified. */
  readonly bitmap: Uint8Array;
  readonly complete: boolean;
  /** The confirmed SHA-256 as lowercase hex (Repr-Digest), once complete. */
  readonly sha256: string | null;
}

/** The created upload, as POST /uploads answers it. */
export interface CreatedUpload {
  /** Absolute path of the upload, e.g. /uploads/0123…; what PUT, HEAD and complete address. */
  readonly path: string;
  readonly chunkSize: number;
  readonly chunkCount: number;
}

/** One piece of work for a WorkerQueue: it runs, and if it throws, may be retried. */
export interface QueueTask<T> {
  /** Whose task it is (an upload), so that its waiting tasks can be removed together. */
  owner?: object;
  /** Runs once per attempt (1-based). */
  run(attempt: number): Promise<T>;
  /** Whether a failure is worth another attempt (network errors, 5xx, 408, chunk busy). */
  retryable(error: unknown): boolean;
  /** Called before each retry, for the page to show it. */
  onRetry?(error: unknown, attempt: number, delayMs: number): void;
}

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** The wait before the first retry; it doubles for each next one. */
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * Runs tasks with at most `concurrency` of them running at once, and starts
 * the next as soon as one finishes, so the slots stay busy while work remains.
 */
export interface WorkerQueue<T> {
  readonly concurrency: number;
  /** Tasks running now. */
  readonly running: number;
  /** Tasks waiting for a slot, or for their backoff to pass. */
  readonly waiting: number;
  /** The most that ever ran at once. */
  readonly maxRunning: number;
  /** Settles with the task's result, or its last error once retries are spent or it is removed. */
  push(task: QueueTask<T>): Promise<T>;
  /** Drops waiting tasks the predicate picks (their promises reject with a QueueRemovedError); running ones finish. */
  remove(predicate: (task: QueueTask<T>) => boolean): number;
  setConcurrency(concurrency: number): void;
}

/** What the hash worker posts back to the page. */
export type HashWorkerMessage =
  | { type: 'progress'; hashedBytes: number }
  | { type: 'done'; hex: string; base64: string }
  | { type: 'error'; name: string; message: string };

/** What the page posts to the hash worker. */
export interface HashWorkerRequest {
  file: Blob;
  /** Bytes read at a time; memory stays a couple of these. */
  sliceSize: number;
}

/** An RFC 9457 problem body as the server sends it. */
export interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  index?: number;
  missing?: number[];
  corrupt?: number[];
  expected?: string;
  actual?: string;
  smallestChunkSize?: number;
}

/** What localStorage remembers per file, to resume it after a reload. */
export interface RememberedUpload {
  path: string;
  size: number;
  chunkSize: number;
  savedAt: string;
}
