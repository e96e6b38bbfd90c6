// The whole file's SHA-256, off the page's thread, while the chunks go out.
// The file is read in order, a slice at a time, into a streaming SHA-256
// (WebCrypto only hashes a whole buffer at once): memory is two slices, the
// one being hashed and the next being read, whatever the file's size.
// Started as a module worker: new Worker('/web/hash-worker.js', {type: 'module'}).

import { Sha256, toBase64, toHex } from './sha256.js';

/** @typedef {import('./types').HashWorkerRequest} HashWorkerRequest */
/** @typedef {import('./types').HashWorkerMessage} HashWorkerMessage */

/** @param {HashWorkerMessage} message */
function post(message) {
  self.postMessage(message);
}

/** @param {HashWorkerRequest} request */
async function hash({ file, sliceSize }) {
  const hasher = new Sha256();
  const size = file.size;
  /** @param {number} offset */
  const read = (offset) => file.slice(offset, Math.min(offset + sliceSize, size)).arrayBuffer();
  let next = size > 0 ? read(0) : null;
  let offset = 0;
  let lastReport = 0;
  while (next) {
    const bytes = new Uint8Array(await next);
    if (bytes.length === 0) throw new DOMException('the file became shorter while it was read', 'NotReadableError');
    offset += bytes.length;
    // Read ahead while this slice is hashed.
    next = offset < size ? read(offset) : null;
    hasher.update(bytes);
    const now = Date.now();
    if (now - lastReport > 100 || offset === size) {
      post({ type: 'progress', hashedBytes: offset });
      lastReport = now;
    }
  }
  const digest = hasher.digest();
  post({ type: 'done', hex: toHex(digest), base64: toBase64(digest) });
}

self.onmessage = (/** @type {MessageEvent<HashWorkerRequest>} */ event) => {
  hash(event.data).catch((/** @type {unknown} */ error) => {
    const name = error instanceof Error ? error.name : 'Error';
    const message = error instanceof Error ? error.message : String(error);
    post({ type: 'error', name, message });
  });
};
