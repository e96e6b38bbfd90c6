// The two SHA-256s an upload needs, as the session's collaborators:
// workerHasher() for the whole file, in a Web Worker (hash-worker.js) a slice
// at a time while the chunks go out; chunkDigester() for each chunk's
// Content-Digest, with WebCrypto where it exists (a secure context: https,
// localhost) and the page's own SHA-256 elsewhere (plain http to another host).

import { Sha256, toBase64 } from './sha256.js';
import { UploadProblem, readFailure } from './protocol.js';

/** @typedef {import('./types').FileHasher} FileHasher */
/** @typedef {import('./types').FileDigest} FileDigest */
/** @typedef {import('./types').ChunkDigester} ChunkDigester */
/** @typedef {import('./types').HashWorkerMessage} HashWorkerMessage */

/** Bytes the hash worker reads at a time; memory stays two of these (one hashed, one read ahead). */
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
    digest: async (bytes) => toBase64(new Sha256().update(new Uint8Array(bytes)).digest()),
  };
}
