// The uploader page's shapes, and the public API of its engine, the ES module
// /web/uploadverify.js (UploadSession, UploadClient, WorkerQueue, workerHasher).
// The page's JavaScript names them in JSDoc (`@type {import('./types').Chunk}`)
// and `tsc --noEmit --checkJs` checks it against them (Tests/browser/tsconfig*.json);
// browsers never load this file.

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

/** The HEAD handshake (docs/PROTOCOL.md), typed: what the server holds of an upload. */
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
  /** How failed tasks are retried: attempts in all, and the doubling backoff. */
  readonly retry: Readonly<RetryPolicy>;
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
  /** The size of the worker's one read buffer, reused for every read. */
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

/** Where the remembered uploads are kept: localStorage, or anything shaped like it. */
export interface ResumeStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** The whole file's SHA-256, as `complete` sends it and the server confirms it. */
export interface FileDigest {
  /** Lowercase hex, as sha256sum prints it. */
  readonly hex: string;
  /** Standard base64, for Repr-Digest. */
  readonly base64: string;
}

/**
 * Computes the whole file's SHA-256 a slice at a time (never the whole file in
 * memory), reporting the bytes read so far. Rejects with an UploadProblem in
 * words when the file cannot be read, and with an AbortError once `signal`
 * aborts (the hashing stops then). workerHasher() is the one the page uses.
 */
export type FileHasher = (
  file: Blob,
  options: { onProgress?(hashedBytes: number): void; signal?: AbortSignal },
) => Promise<FileDigest>;

/** The SHA-256 of one chunk, base64, for its Content-Digest. */
export interface ChunkDigester {
  /** 'webcrypto' in a secure context, 'builtin' (sha256.js) elsewhere. */
  readonly engine: 'webcrypto' | 'builtin';
  /** `bytes` is a view of a reused buffer: read it before the promise settles, keep no reference. */
  digest(bytes: Uint8Array): Promise<string>;
}

/** What a PUT of a chunk answers. */
export interface ChunkReceipt {
  readonly index: number;
  readonly receivedChunks: number;
  readonly chunkCount: number;
  readonly written: boolean;
}

/**
 * The four requests of docs/PROTOCOL.md an upload session makes; UploadClient
 * (protocol.js) is the real one. Each rejects with an UploadProblem (its
 * `retryable` says whether to try again, its `slug` which problem it was).
 */
export interface UploadHttpClient {
  create(file: { size: number; name: string; type?: string; chunkSize?: number }): Promise<CreatedUpload>;
  handshake(path: string): Promise<UploadStatus>;
  putChunk(
    path: string,
    range: { start: number; end: number },
    total: number,
    /** The chunk's slice of the file (File.prototype.slice), sent as it is. */
    body: Blob,
    sha256Base64: string,
    signal: AbortSignal,
  ): Promise<ChunkReceipt>;
  /** Resolves with the SHA-256 the server confirmed, hex. */
  complete(path: string, sha256Base64: string): Promise<string>;
}

/**
 * Where one file's upload is: starting (create or handshake), sending the
 * chunks the server lacks, pausing (the chunks on their way still arrive),
 * paused, hashing (every chunk is on the server; the SHA-256 is not finished
 * yet), completing (the server re-reads its copy), and how it ended.
 */
export type UploadPhase = 'starting' | 'sending' | 'pausing' | 'paused' | 'hashing' | 'completing' | 'done' | 'failed';

/** An upload session as it is now: all a view needs to draw it. */
export interface UploadSnapshot {
  readonly name: string;
  readonly size: number;
  readonly phase: UploadPhase;
  /** The upload's path on the server once created or resumed (e.g. /uploads/0123…), '' before. */
  readonly path: string;
  /** The server's chunk size; 0 until the handshake. */
  readonly chunkSize: number;
  readonly chunkCount: number;
  /** The session's own chunk records, live and read-only: their states move as the upload runs. */
  readonly chunks: ReadonlyArray<Readonly<Chunk>>;
  /** Bytes the server holds, verified. */
  readonly verifiedBytes: number;
  readonly verifiedChunks: number;
  /** Chunks being read, hashed or sent now. */
  readonly inFlight: number;
  /** Bytes of the whole file's SHA-256 read so far. */
  readonly hashedBytes: number;
  /** Chunks (and their bytes) this session sent and the server verified; a resume sends only the missing ones. */
  readonly sentChunks: number;
  readonly sentBytes: number;
  /** Bytes the server already held when this session resumed the upload (0 for a new one). */
  readonly resumedWith: number;
  /** Verified bytes per second over the last few seconds, while sending; 0 otherwise. */
  readonly rate: number;
  /** Milliseconds since the session was made, until it ended. */
  readonly elapsedMs: number;
  /** A passing remark (a chunk being retried), '' when there is none. */
  readonly note: string;
  /** The SHA-256 the server confirmed (hex), once done. */
  readonly sha256: string | null;
  /** Done because the server already had the whole upload: nothing was sent. */
  readonly alreadyComplete: boolean;
  /** Why it failed, in words a person can act on; null unless failed. */
  readonly error: string | null;
  /** The server's problem type (e.g. 'chunk-conflict') when that was the failure, '' otherwise. */
  readonly problem: string;
}

/**
 * What an upload session tells its listeners: each kind of event, and what a
 * listener gets after the snapshot, `listener(snapshot, detail)`.
 */
export interface UploadSessionEvents {
  /** Anything changed (phase, a chunk, bytes, a note). */
  change: undefined;
  /** The phase changed; the detail is the new one (snapshot.phase too). */
  phase: UploadPhase;
  /** Verified or hashed bytes moved. */
  progress: undefined;
  /** One chunk changed state; the detail is that chunk. */
  chunk: Readonly<Chunk>;
  /** A passing remark, e.g. that a chunk is retried and when; the detail is its text. */
  note: string;
}

/** A listener for events of kind K. */
export type UploadSessionListener<K extends keyof UploadSessionEvents> = (snapshot: UploadSnapshot, detail: UploadSessionEvents[K]) => void;

/** What an upload session is made with; each collaborator has a browser default. */
export interface UploadSessionOptions {
  /** Default: new UploadClient(() => ''), the page's own origin without a token. */
  client?: UploadHttpClient;
  /** Default: a WorkerQueue of its own (3 in flight). Share one to bound several uploads together. */
  queue?: WorkerQueue<unknown>;
  /** Default: workerHasher(), hash-worker.js beside the module. */
  hasher?: FileHasher;
  /** Where the upload is remembered for a resume after a reload. Default: localStorage; null: nowhere. */
  storage?: ResumeStorage | null;
  /** The chunk size asked for when creating a new upload; the server's choice when absent. */
  chunkSize?: number;
  /** Default: chunkDigester().digest, WebCrypto in a secure context. */
  chunkDigest?: (bytes: Uint8Array) => Promise<string>;
  /** The clock for the rate, in milliseconds. Default: performance.now. */
  now?: () => number;
}

/**
 * One file's upload with no DOM (upload-session.js): creates it, or resumes
 * the one remembered for this file; sends the missing chunks through the
 * queue with retries; hashes the whole file meanwhile; completes, and says
 * every step through its events.
 */
export interface UploadSessionContract {
  readonly file: File;
  readonly phase: UploadPhase;
  /** Starts once (later calls only return the same promise); settles with the last snapshot when done or failed, never rejects. */
  start(): Promise<UploadSnapshot>;
  /** While sending: drops the chunks not yet on their way; those in flight arrive, then the phase is 'paused'. */
  pause(): void;
  /** After a pause: sends what is still missing. */
  resume(): void;
  snapshot(): UploadSnapshot;
  /** Returns a function that removes the listener. */
  on<K extends keyof UploadSessionEvents>(type: K, listener: UploadSessionListener<K>): () => void;
}
