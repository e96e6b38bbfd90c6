// The two SHA-256s an upload needs, as the session's collaborators:
// workerHasher() for the whole file, in a Web Worker (hash-worker.js) a slice
// at a time while the chunks go out; chunkDigester() for each chunk's
// Content-Digest, with WebCrypto where it exists (a secure context: https,
// localhost) and the page's own SHA-256 elsewhere (plain http to another host).
// And the reading both need, through buffers that are reused (readInto,
// readThrough, BufferPool), as the page's memory must not grow with the file.

import { Sha256, toBase64 } from './sha256.js';
import { UploadProblem, readFailure } from './protocol.js';

/** @typedef {import('./types').FileHasher} FileHasher */
/** @typedef {import('./types').FileDigest} FileDigest */
/** @typedef {import('./types').ChunkDigester} ChunkDigester */
/** @typedef {import('./types').HashWorkerMessage} HashWorkerMessage */

/** The hash worker's one buffer: each read fills at most this much of it. */
export const HASH_SLICE = 4 << 20;

/**
 * The whole file's SHA-256 in a module worker; one worker per file, ended
 * when the digest is in, when reading fails, or when `signal` aborts.
 * @param {{url?: string | URL, sliceSize?: number}} [options] url defaults to hash-worker.js beside this module
 * @returns {FileHasher}
 */
export function workerHasher(options = {}) {
  const url = options.url ?? new URL('./hash-worker.js', import.meta.url);
  const sliceSize = options.sliceSize ?? HASH_SLICE;
  return (file, { onProgress, signal } = {}) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new DOMException('the upload stopped', 'AbortError'));
        return;
      }
      /** @type {Worker} */
      let worker;
      try {
        worker = new Worker(url, { type: 'module' });
      } catch {
        reject(new UploadProblem('This browser could not start the hashing worker.'));
        return;
      }
      const onAbort = () => {
        worker.terminate();
        reject(new DOMException('the upload stopped', 'AbortError'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      /** @param {() => void} settle */
      const end = (settle) => {
        worker.terminate();
        signal?.removeEventListener('abort', onAbort);
        settle();
      };
      worker.onmessage = (/** @type {MessageEvent<HashWorkerMessage>} */ event) => {
        const message = event.data;
        if (message.type === 'progress') onProgress?.(message.hashedBytes);
        else if (message.type === 'done') end(() => resolve({ hex: message.hex, base64: message.base64 }));
        else end(() => reject(new UploadProblem(readFailure(message.name))));
      };
      worker.onerror = () => end(() => reject(new UploadProblem('This browser could not start the hashing worker.')));
      worker.postMessage({ file, sliceSize });
    });
}

/**
 * @param {SubtleCrypto | null} [subtle] WebCrypto; by default the global one in a secure context, else none
 * @returns {ChunkDigester}
 */
export function chunkDigester(subtle = globalThis.isSecureContext && globalThis.crypto?.subtle ? globalThis.crypto.subtle : null) {
  if (subtle) {
    return {
      engine: 'webcrypto',
      digest: async (bytes) => toBase64(new Uint8Array(await subtle.digest('SHA-256', bytes))),
    };
  }
  return {
    engine: 'builtin',
    digest: async (bytes) => toBase64(new Sha256().update(bytes).digest()),
  };
}

// ---- Reading a file to hash it ------------------------------------------------
// Without leaving its bytes to the garbage collector. Every Blob.arrayBuffer(),
// and every chunk a plain Blob.stream() reader hands out, is a new ArrayBuffer
// that only a garbage collection frees, and V8 runs one late when the
// JavaScript heap itself barely grows: reading a 2 GiB file 8 MiB at a time
// grew Chromium's renderer by some 400 MiB of dead buffers, the hash worker's
// slices by another 270 (issue #16). A BYOB ("bring your own buffer") reader
// fills a buffer the page already holds instead, so the same few buffers go
// round whatever the file's size. The hash worker reads with these too: no
// DOM here.

/**
 * The readers with a read under way. Chromium does not keep a Blob's stream
 * alive while a read of it is pending: once nothing but that read's own
 * promise refers to it, a garbage collection takes the stream, and the read
 * never settles (with a collection every few milliseconds, not one 8 MiB
 * chunk in 400 was read; unforced, a 5 GiB upload stalled at a chunk or in
 * the hash worker after a minute or so). Held here, they are always reachable.
 * @type {Set<ReadableStreamBYOBReader>}
 */
const reading = new Set();

/**
 * A byte-stream reader of `blob`, or null where Blob.stream() is not a byte
 * stream (an older browser, or a test's stand-in for a File).
 * Held in `reading` until done() is called.
 * @param {Blob} blob
 * @returns {{reader: ReadableStreamBYOBReader, done: () => void} | null}
 */
function byobReader(blob) {
  if (typeof blob.stream !== 'function' || typeof ReadableStreamBYOBReader !== 'function') return null;
  /** @type {ReadableStreamBYOBReader} */
  let reader;
  try {
    reader = new ReadableStreamBYOBReader(blob.stream());
  } catch {
    return null;
  }
  reading.add(reader);
  return {
    reader,
    done: () => {
      reading.delete(reader);
      reader.releaseLock();
    },
  };
}

/**
 * One read into `view`. A file's byte stream fails with a bare TypeError
 * ("network error") where arrayBuffer() fails with NotReadableError, for the
 * same cause (the file changed, moved or went away since it was chosen): it
 * is given the name that says so.
 * @param {ReadableStreamBYOBReader} reader
 * @param {Uint8Array} view
 */
async function read(reader, view) {
  try {
    return await reader.read(view);
  } catch (error) {
    throw new DOMException(`the file could not be read (${error instanceof Error ? error.message : error})`, 'NotReadableError');
  }
}

/** @returns {DOMException} what a read that ran out before the blob's size throws */
function shorter() {
  return new DOMException('the file became shorter while it was read', 'NotReadableError');
}

/**
 * Reads all of `blob` into the start of `buffer`.
 * A read moves the buffer's memory to a new ArrayBuffer (the old one is left
 * empty, detached), so use the returned view's buffer from then on.
 * @param {Blob} blob at most buffer.byteLength bytes
 * @param {ArrayBuffer} buffer
 * @returns {Promise<Uint8Array>} blob.size bytes at the start of the buffer that now holds them
 */
export async function readInto(blob, buffer) {
  const byob = byobReader(blob);
  if (!byob) {
    // No byte stream: one ArrayBuffer per read after all, copied into the caller's.
    const bytes = new Uint8Array(await blob.arrayBuffer());
    const view = new Uint8Array(buffer, 0, bytes.length);
    view.set(bytes);
    return view;
  }
  const size = blob.size;
  let filled = 0;
  try {
    while (filled < size) {
      const { done, value } = await read(byob.reader, new Uint8Array(buffer, filled, size - filled));
      // At the end too the (empty) view is of the buffer that holds the bytes.
      if (value) buffer = /** @type {ArrayBuffer} */ (value.buffer);
      if (done || !value) break;
      filled += value.byteLength;
    }
  } finally {
    byob.done();
  }
  if (filled < size) throw shorter();
  return new Uint8Array(buffer, 0, size);
}

/**
 * Reads all of `blob` in order through one buffer of `sliceSize` bytes,
 * handing each read's bytes to `onBytes` before the buffer is reused: they
 * must be consumed (hashed) before it returns.
 * @param {Blob} blob
 * @param {number} sliceSize
 * @param {(bytes: Uint8Array) => void} onBytes
 */
export async function readThrough(blob, sliceSize, onBytes) {
  const byob = byobReader(blob);
  if (!byob) return readSlices(blob, sliceSize, onBytes);
  let buffer = new ArrayBuffer(sliceSize);
  let offset = 0;
  try {
    for (;;) {
      const { done, value } = await read(byob.reader, new Uint8Array(buffer));
      if (done || !value) break;
      buffer = /** @type {ArrayBuffer} */ (value.buffer);
      offset += value.byteLength;
      onBytes(new Uint8Array(buffer, 0, value.byteLength));
    }
  } finally {
    byob.done();
  }
  if (offset < blob.size) throw shorter();
}

/**
 * readThrough() without a byte stream: a slice at a time, the next one read
 * while this one is consumed.
 * @param {Blob} blob
 * @param {number} sliceSize
 * @param {(bytes: Uint8Array) => void} onBytes
 */
async function readSlices(blob, sliceSize, onBytes) {
  const size = blob.size;
  /** @param {number} offset */
  const sliceAt = (offset) => blob.slice(offset, Math.min(offset + sliceSize, size)).arrayBuffer();
  let next = size > 0 ? sliceAt(0) : null;
  let offset = 0;
  while (next) {
    const bytes = new Uint8Array(await next);
    if (bytes.length === 0) throw shorter();
    offset += bytes.length;
    next = offset < size ? sliceAt(offset) : null;
    onBytes(bytes);
  }
}

/**
 * The chunk buffers of a page, shared by its uploads as their queue is: a
 * request takes one when its turn comes and gives it back once its chunk is
 * hashed, so there are never more buffers than requests in flight at once
 * (the queue's bound), whatever the number of chunks. They are kept when the
 * uploads end, for the next file: dropped, they would only wait for the same
 * late collector.
 */
export class BufferPool {
  /** @param {number} [keep] most free buffers kept (the queue's largest bound) */
  constructor(keep = 16) {
    this.keep = keep;
    /** @type {ArrayBuffer[]} */
    this.free = [];
  }

  /**
   * The smallest free buffer of at least `size` bytes, or a new one.
   * @param {number} size
   * @returns {ArrayBuffer}
   */
  take(size) {
    let best = -1;
    this.free.forEach((buffer, index) => {
      if (buffer.byteLength >= size && (best < 0 || buffer.byteLength < this.free[best].byteLength)) best = index;
    });
    return best < 0 ? new ArrayBuffer(size) : this.free.splice(best, 1)[0];
  }

  /**
   * Gives a buffer back. One left detached by a failed read is empty and is
   * not kept; past `keep`, the smallest goes.
   * @param {ArrayBuffer} buffer
   */
  give(buffer) {
    if (buffer.byteLength === 0) return;
    this.free.push(buffer);
    if (this.free.length > this.keep) {
      this.free.sort((a, b) => b.byteLength - a.byteLength);
      this.free.length = this.keep;
    }
  }
}
