// The whole file's SHA-256, off the page's thread, while the chunks go out.
// The file is read in order into a streaming SHA-256 (WebCrypto only hashes
// a whole buffer at once) through one buffer of sliceSize bytes, reused for
// every read (hashing.js says why): memory is that one buffer, whatever
// the file's size.
// Started as a module worker: new Worker('/web/hash-worker.js', {type: 'module'}).

import { Sha256, toBase64, toHex } from './sha256.js';
import { readThrough } from './hashing.js';

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
  let offset = 0;
  let lastReport = 0;
  await readThrough(file, sliceSize, (bytes) => {
    hasher.update(bytes);
    offset += bytes.length;
    const now = Date.now();
    if (now - lastReport > 100 || offset === size) {
      post({ type: 'progress', hashedBytes: offset });
      lastReport = now;
    }
  });
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
