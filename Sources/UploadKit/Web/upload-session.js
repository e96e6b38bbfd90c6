// One file's upload, with no DOM: creates it (or resumes the one remembered
// for this file), sends the chunks the server lacks through a WorkerQueue
// (at most its concurrency in flight, retried with backoff), hashes the whole
// file meanwhile, completes, and tells its listeners every step as a snapshot.
// What it talks to comes in: the HTTP client (protocol.js), the queue, the
// hasher (hashing.js), the storage a resume is remembered in. Memory stays
// flat: each chunk is hashed in a buffer from a pool (hashing.js) that
// the next chunk fills again, and sent as a slice of the file.
// docs/PROTOCOL.md is the contract; upload-view.js draws a snapshot; uploader.js
// wires both to the page.

import { UploadClient, UploadProblem, hasChunk, readFailure } from './protocol.js';
import { QueueRemovedError, WorkerQueue } from './worker-queue.js';
import { ResumeMemory } from './resume-memory.js';
import { BufferPool, chunkDigester, readInto, workerHasher } from './hashing.js';

/** @typedef {import('./types').Chunk} Chunk */
/** @typedef {import('./types').ChunkState} ChunkState */
/** @typedef {import('./types').UploadStatus} UploadStatus */
/** @typedef {import('./types').UploadPhase} UploadPhase */
/** @typedef {import('./types').UploadSnapshot} UploadSnapshot */
/** @typedef {import('./types').UploadSessionEvents} UploadSessionEvents */
/** @typedef {import('./types').UploadSessionOptions} UploadSessionOptions */
/** @typedef {import('./types').UploadSessionContract} UploadSessionContract */
/** @typedef {import('./types').UploadHttpClient} UploadHttpClient */
/** @typedef {import('./types').FileHasher} FileHasher */
/** @typedef {import('./types').FileDigest} FileDigest */
/** @typedef {import('./types').ResumeStorage} ResumeStorage */

/** Problems after which the remembered upload is of no use to this file. */
export const FORGET_AFTER = ['chunk-conflict', 'range-not-a-chunk', 'upload-not-found', 'sha256-mismatch', 'sha256-disagrees'];

/** Completions tried when the server reports chunks lost or damaged since they were sent. */
const COMPLETIONS = 3;

/** The rate looks back this far, in milliseconds. */
const RATE_WINDOW = 4000;

/**
 * Chunk buffers for every session of the page: as many as chunk requests
 * were ever in flight at once, whatever the number of files or chunks.
 */
const chunkBuffers = new BufferPool();

/** @returns {ResumeStorage | null} localStorage where there is one (reading it can throw in a sandbox) */
function defaultStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

/** @implements {UploadSessionContract} */
export class UploadSession {
  /**
   * @param {File} file
   * @param {UploadSessionOptions} [options]
   */
  constructor(file, options = {}) {
    this.file = file;
    /** @type {UploadHttpClient} */
    this.client = options.client ?? new UploadClient(() => '');
    /** @type {import('./types').WorkerQueue<unknown>} */
    this.queue = options.queue ?? new WorkerQueue();
    /** @type {FileHasher} */
    this.hasher = options.hasher ?? workerHasher();
    this.memory = new ResumeMemory(options.storage === undefined ? defaultStorage() : options.storage);
    this.requestedChunkSize = options.chunkSize;
    this.chunkDigest = options.chunkDigest ?? chunkDigester().digest;
    this.now = options.now ?? (() => performance.now());

    /** @type {UploadPhase} */
    this.phase = 'starting';
    this.path = '';
    this.chunkSize = 0;
    /** @type {Chunk[]} */
    this.chunks = [];
    /** @type {Set<Chunk>} chunks in the queue (waiting, backing off or running), so none is queued twice */
    this.queued = new Set();
    this.verifiedBytes = 0;
    this.verifiedChunks = 0;
    this.inFlight = 0;
    this.hashedBytes = 0;
    this.sentChunks = 0;
    this.sentBytes = 0;
    this.resumedWith = 0;
    this.completions = 0;
    this.note = '';
    /** @type {string | null} */
    this.sha256 = null;
    this.alreadyComplete = false;
    /** @type {string | null} */
    this.error = null;
    this.problem = '';
    /** Aborts the requests in flight and the hashing when the upload fails. */
    this.abort = new AbortController();
    this.startedAt = this.now();
    /** @type {number | null} */
    this.finishedAt = null;
    /** @type {{time: number, bytes: number}[]} verified bytes over time, for the rate */
    this.samples = [];
    /** @type {Map<keyof UploadSessionEvents, Set<(snapshot: UploadSnapshot, detail: unknown) => void>>} */
    this.listeners = new Map();
    /** @type {Promise<FileDigest> | null} */
    this.hash = null;
    /** @type {(snapshot: UploadSnapshot) => void} */
    this.settle = () => {};
    /** @type {Promise<UploadSnapshot>} */
    this.settled = new Promise((resolve) => (this.settle = resolve));
    this.started = false;
  }

  // ---- Listening ------------------------------------------------------------

  /**
   * @template {keyof UploadSessionEvents} K
   * @param {K} type
   * @param {import('./types').UploadSessionListener<K>} listener
   * @returns {() => void} removes the listener
   */
  on(type, listener) {
    /** @type {(snapshot: UploadSnapshot, detail: unknown) => void} */
    const untyped = /** @type {any} */ (listener);
    const set = this.listeners.get(type) ?? new Set();
    this.listeners.set(type, set);
    set.add(untyped);
    return () => {
      set.delete(untyped);
    };
  }

  /**
   * Tells the listeners of `type`, then those of 'change'. A listener that
   * throws does not stop the upload: its error is reported (reportError, as
   * an EventTarget would), or rethrown on its own where there is none.
   * @template {keyof UploadSessionEvents} K
   * @param {K} type
   * @param {UploadSessionEvents[K]} detail
   */
  emit(type, detail) {
    const typed = this.listeners.get(type);
    const change = type === 'change' ? undefined : this.listeners.get('change');
    if (!typed?.size && !change?.size) return;
    const snapshot = this.snapshot();
    /** @param {Set<(snapshot: UploadSnapshot, detail: unknown) => void> | undefined} set @param {unknown} value */
    const call = (set, value) => {
      for (const listener of set ?? []) {
        try {
          listener(snapshot, value);
        } catch (error) {
          if (typeof globalThis.reportError === 'function') globalThis.reportError(error);
          else {
            queueMicrotask(() => {
              throw error;
            });
          }
        }
      }
    };
    call(typed, detail);
    call(change, undefined);
  }

  /** @returns {UploadSnapshot} */
  snapshot() {
    const end = this.finishedAt ?? this.now();
    return {
      name: this.file.name,
      size: this.file.size,
      phase: this.phase,
      path: this.path,
      chunkSize: this.chunkSize,
      chunkCount: this.chunks.length,
      chunks: this.chunks,
      verifiedBytes: this.verifiedBytes,
      verifiedChunks: this.verifiedChunks,
      inFlight: this.inFlight,
      hashedBytes: this.hashedBytes,
      sentChunks: this.sentChunks,
      sentBytes: this.sentBytes,
      resumedWith: this.resumedWith,
      rate: this.phase === 'sending' || this.phase === 'pausing' ? this.rate() : 0,
      elapsedMs: end - this.startedAt,
      note: this.note,
      sha256: this.sha256,
      alreadyComplete: this.alreadyComplete,
      error: this.error,
      problem: this.problem,
    };
  }

  // ---- Create or resume ---------------------------------------------------------

  /** @returns {Promise<UploadSnapshot>} settles once done or failed */
  start() {
    if (!this.started) {
      this.started = true;
      this.startHash();
      this.open();
    }
    return this.settled;
  }

  /** The whole file's SHA-256, while the chunks go out; a failure to read the file ends the upload at once. */
  startHash() {
    /** @type {Promise<FileDigest>} */
    let hash;
    try {
      hash = Promise.resolve(this.hasher(this.file, {
        onProgress: (hashedBytes) => {
          this.hashedBytes = hashedBytes;
          this.emit('progress', undefined);
        },
        signal: this.abort.signal,
      }));
    } catch (error) {
      hash = Promise.reject(error); // a hasher that throws at once fails the upload as one that rejects
    }
    this.hash = hash.then((digest) => {
      this.hashedBytes = this.file.size;
      this.emit('progress', undefined);
      return digest;
    });
    this.hash.catch((error) => this.fail(error));
  }

  async open() {
    try {
      const remembered = this.memory.recall(this.file);
      const resumed = remembered ? await this.resumable(remembered.path) : null;
      if (remembered && resumed) {
        this.path = remembered.path;
      } else {
        const created = await this.client.create({
          size: this.file.size,
          name: this.file.name,
          type: this.file.type,
          chunkSize: this.requestedChunkSize || undefined,
        });
        this.path = created.path;
        this.memory.remember(this.file, created.path, created.chunkSize);
      }
      const status = resumed ?? (await this.client.handshake(this.path));
      if (this.phase === 'failed') return; // the hash failed meanwhile
      this.chunkSize = status.chunkSize;
      this.resumedWith = status.received;
      this.chunks = Array.from({ length: status.chunkCount }, (_, index) => {
        const start = index * status.chunkSize;
        /** @type {Chunk} */
        const chunk = { index, start, end: Math.min(start + status.chunkSize, this.file.size), state: 'missing', attempts: 0 };
        if (hasChunk(status.bitmap, index)) {
          chunk.state = 'verified';
          this.verifiedChunks++;
        }
        return chunk;
      });
      this.verifiedBytes = status.received;
      this.setPhase('sending');
      if (status.complete) {
        await this.finish(status.sha256);
        return;
      }
      this.sendMissing();
      this.maybeFinish();
    } catch (error) {
      this.fail(error);
    }
  }

  /**
   * The handshake of a remembered upload, or null when it cannot be resumed
   * (gone, or of another size): then a new upload is created.
   * @param {string} path
   * @returns {Promise<UploadStatus | null>}
   */
  async resumable(path) {
    try {
      const status = await this.client.handshake(path);
      if (status.length === this.file.size) return status;
    } catch (error) {
      if (!(error instanceof UploadProblem) || error.slug !== 'upload-not-found') throw error;
    }
    this.memory.forget(this.file);
    return null;
  }

  // ---- Send, pause, resume ------------------------------------------------------

  sendMissing() {
    for (const chunk of this.chunks) {
      if ((chunk.state === 'missing' || chunk.state === 'failed') && !this.queued.has(chunk)) this.send(chunk);
    }
  }

  /**
   * Queues one chunk: read when its turn comes (never before), hashed, sent;
   * nothing of it is kept once the request ends.
   * @param {Chunk} chunk
   */
  send(chunk) {
    const session = this;
    this.queued.add(chunk);
    this.queue
      .push({
        owner: session,
        async run() {
          if (session.abort.signal.aborted) throw new QueueRemovedError();
          session.setChunk(chunk, 'sending');
          chunk.attempts++;
          try {
            return await session.putChunk(chunk);
          } catch (error) {
            // The upload was completed elsewhere (another tab): complete() will confirm it.
            if (error instanceof UploadProblem && error.slug === 'upload-complete') return null;
            throw error;
          }
        },
        retryable: (error) => error instanceof UploadProblem && error.retryable && !session.abort.signal.aborted,
        onRetry(error, attempt, delay) {
          session.setChunk(chunk, 'failed');
          session.setNote(`${error instanceof Error ? error.message : error} Trying chunk ${chunk.index + 1} again in ${(delay / 1000).toFixed(1)} s (attempt ${attempt} of ${session.queue.retry.attempts}).`);
        },
      })
      .finally(() => this.queued.delete(chunk))
      .then(
        () => {
          if (chunk.state !== 'verified') this.verifiedBytes += chunk.end - chunk.start;
          this.sentBytes += chunk.end - chunk.start;
          this.sentChunks++;
          this.samples.push({ time: this.now(), bytes: this.verifiedBytes });
          this.setChunk(chunk, 'verified');
          this.emit('progress', undefined);
          this.maybePaused();
          this.maybeFinish();
        },
        (error) => {
          if (error instanceof QueueRemovedError || this.abort.signal.aborted) {
            if (chunk.state !== 'verified') this.setChunk(chunk, 'missing');
            // Resumed before the removal of a pause came back: queue it again.
            if (this.phase === 'sending' && !this.abort.signal.aborted) this.send(chunk);
            this.maybePaused();
            return;
          }
          this.setChunk(chunk, 'failed');
          const retried = error instanceof UploadProblem && error.retryable ? ` Gave up on chunk ${chunk.index + 1} after ${chunk.attempts} attempts.` : '';
          this.fail(error, retried);
        },
      );
  }

  /**
   * One attempt at one chunk: its SHA-256, then a PUT of the file's slice.
   * The body is the slice itself, not the bytes just hashed: Chromium then
   * streams it from the file, where bytes handed to fetch() are copied, and
   * those copies too wait for a late garbage collection (sent from the pool's
   * buffers, 2 GiB grew the renderer by 1.6 GiB). Should the file change in
   * between, the browser refuses to read the slice, and the retry's read says
   * so in words.
   * @param {Chunk} chunk
   * @returns {Promise<import('./types').ChunkReceipt>}
   */
  async putChunk(chunk) {
    const slice = this.file.slice(chunk.start, chunk.end);
    const digest = await this.digestOf(slice, chunk.end - chunk.start);
    return this.client.putChunk(this.path, chunk, this.file.size, slice, digest, this.abort.signal);
  }

  /**
   * A chunk's SHA-256, read into a buffer of the page's pool and given back
   * at once: never left to the garbage collector.
   * @param {Blob} slice
   * @param {number} length its size
   */
  async digestOf(slice, length) {
    let buffer = chunkBuffers.take(length);
    try {
      let bytes;
      try {
        bytes = await readInto(slice, buffer);
      } catch (error) {
        throw new UploadProblem(readFailure(error instanceof Error ? error.name : ''));
      }
      buffer = /** @type {ArrayBuffer} */ (bytes.buffer);
      return await this.chunkDigest(bytes);
    } finally {
      // After a failed read it may be empty (detached): the pool drops it then.
      chunkBuffers.give(buffer);
    }
  }

  /** @param {Chunk} chunk @param {ChunkState} state */
  setChunk(chunk, state) {
    const before = chunk.state;
    if (before === 'verified') this.verifiedChunks--;
    if (before === 'sending') this.inFlight--;
    if (state === 'verified') this.verifiedChunks++;
    if (state === 'sending') this.inFlight++;
    chunk.state = state;
    this.emit('chunk', chunk);
  }

  pause() {
    if (this.phase !== 'sending') return;
    this.setPhase('pausing');
    this.queue.remove((task) => task.owner === this);
    this.maybePaused();
  }

  resume() {
    if (this.phase !== 'paused' && this.phase !== 'pausing') return;
    this.setPhase('sending');
    this.sendMissing();
    this.maybeFinish();
  }

  maybePaused() {
    if (this.phase === 'pausing' && this.inFlight === 0) this.setPhase('paused');
  }

  maybeFinish() {
    if (this.phase !== 'sending' || this.verifiedChunks < this.chunks.length) return;
    this.finish(null).catch((error) => this.fail(error));
  }

  // ---- Complete -------------------------------------------------------------------

  /**
   * Every chunk is on the server: wait for the SHA-256, then complete.
   * @param {string | null} alreadyConfirmed the server's SHA-256 of a complete upload
   */
  async finish(alreadyConfirmed) {
    this.setPhase('hashing');
    const local = await /** @type {Promise<FileDigest>} */ (this.hash);
    if (this.phase !== 'hashing') return; // failed meanwhile
    if (alreadyConfirmed !== null && alreadyConfirmed !== local.hex) {
      // A complete upload of other bytes under this name, size and date: never confuse the two.
      this.memory.forget(this.file);
      throw new UploadProblem(`The server holds a different file under this upload (its SHA-256 is ${alreadyConfirmed}). This page has forgotten that upload: choose the file again to upload it anew.`);
    }
    this.setPhase('completing');
    try {
      this.completions++;
      const confirmed = await this.client.complete(this.path, local.base64);
      if (confirmed !== local.hex) throw new UploadProblem(`The server computed SHA-256 ${confirmed}, but this file's is ${local.hex}.`);
      this.sha256 = confirmed;
      this.alreadyComplete = alreadyConfirmed !== null;
      this.setPhase('done');
    } catch (error) {
      // Chunks lost or damaged on the server since they were sent: send them again, a few times at most.
      if (error instanceof UploadProblem && (error.slug === 'upload-incomplete' || error.slug === 'chunks-corrupt') && this.completions < COMPLETIONS) {
        for (const index of [...(error.body.missing ?? []), ...(error.body.corrupt ?? [])]) {
          const chunk = this.chunks[index];
          if (chunk && chunk.state === 'verified') {
            this.verifiedBytes -= chunk.end - chunk.start;
            this.setChunk(chunk, 'missing');
          }
        }
        this.emit('progress', undefined);
        this.setPhase('sending');
        this.sendMissing();
        this.maybeFinish();
        return;
      }
      throw error;
    }
  }

  /**
   * Stops this upload for good, in words.
   * @param {unknown} error
   * @param {string} [suffix]
   */
  fail(error, suffix = '') {
    if (this.phase === 'failed' || this.phase === 'done') return;
    this.abort.abort();
    this.queue.remove((task) => task.owner === this);
    // An upload that can never be completed with this file is forgotten, so
    // that choosing the file again starts afresh instead of failing again.
    if (error instanceof UploadProblem && FORGET_AFTER.includes(error.slug)) this.memory.forget(this.file);
    this.problem = error instanceof UploadProblem ? error.slug : '';
    this.error = (error instanceof Error ? error.message : String(error)) + suffix;
    this.setPhase('failed');
  }

  // ---- State ------------------------------------------------------------------------

  /** @param {UploadPhase} phase */
  setPhase(phase) {
    this.phase = phase;
    // A retry's note lasts while sending; any other phase says what it is.
    if (phase !== 'sending' && phase !== 'pausing') this.note = '';
    if (phase === 'done' || phase === 'failed') this.finishedAt = this.now();
    this.emit('phase', phase);
    if (phase === 'done' || phase === 'failed') this.settle(this.snapshot());
  }

  /** @param {string} text */
  setNote(text) {
    this.note = text;
    this.emit('note', text);
  }

  /** Verified bytes per second over the last few seconds. */
  rate() {
    const now = this.now();
    while (this.samples.length > 2 && now - this.samples[0].time > RATE_WINDOW) this.samples.shift();
    if (this.samples.length < 2) return 0;
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    return last.time > first.time ? ((last.bytes - first.bytes) * 1000) / (now - first.time) : 0;
  }
}
