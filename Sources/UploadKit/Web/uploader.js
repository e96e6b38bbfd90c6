// The upload page's wiring: its settings (token, chunks in flight, chunk
// size), one WorkerQueue for the whole page, and for each file chosen or
// dropped an UploadSession (the engine, uploadverify.js: no DOM) drawn by an
// UploadView (upload-view.js: only DOM). Everything that decides lives there.

import { UploadClient, UploadSession, WorkerQueue, chunkDigester, workerHasher } from './uploadverify.js';
import { UploadView } from './upload-view.js';
import { formatBytes, parseSize } from './format.js';

const params = new URLSearchParams(window.location.search);

/** @template {HTMLElement} E @param {string} selector @returns {E} */
function $(selector) {
  const element = document.querySelector(selector);
  if (!element) throw new Error(`missing ${selector}`);
  return /** @type {E} */ (element);
}

// ---- Settings: token, concurrency, chunk size ------------------------------

const tokenField = /** @type {HTMLInputElement} */ ($('#token'));
const concurrencyField = /** @type {HTMLInputElement} */ ($('#concurrency'));
const chunkSizeField = /** @type {HTMLSelectElement} */ ($('#chunk-size'));

// The token stays for this tab's session only: it is a password.
tokenField.value = sessionStorage.getItem('uploadverify.token') ?? '';
tokenField.addEventListener('input', () => sessionStorage.setItem('uploadverify.token', tokenField.value));

/** @type {WorkerQueue<unknown>} one queue for the page: the bound holds across files */
const queue = new WorkerQueue({ concurrency: Number(params.get('concurrency') ?? localStorage.getItem('uploadverify.concurrency') ?? 3) });
concurrencyField.value = String(queue.concurrency);
concurrencyField.addEventListener('change', () => {
  queue.setConcurrency(Number(concurrencyField.value));
  concurrencyField.value = String(queue.concurrency);
  localStorage.setItem('uploadverify.concurrency', concurrencyField.value);
});

const chunkSizeParam = parseSize(params.get('chunkSize'));
if (chunkSizeParam !== null) {
  const option = document.createElement('option');
  option.value = String(chunkSizeParam);
  option.textContent = formatBytes(chunkSizeParam);
  chunkSizeField.append(option);
  chunkSizeField.value = option.value;
}

// The token is read at each request, so one typed after a failure is used.
const client = new UploadClient(() => tokenField.value);
const hasher = workerHasher();
// WebCrypto exists only in a secure context (https, or localhost); over plain
// http to another host the page hashes chunks with its own SHA-256.
const digester = chunkDigester();
$('#digest-engine').textContent = digester.engine === 'webcrypto' ? 'WebCrypto' : "the page's own SHA-256 (no WebCrypto over plain http)";
document.body.dataset.digestEngine = digester.engine;

// ---- Choosing files ---------------------------------------------------------

const template = /** @type {HTMLTemplateElement} */ ($('#upload-template'));
const uploads = $('#uploads');
/** @type {Map<UploadSession, UploadView>} uploads still under way */
const active = new Map();

/** @param {Iterable<File>} files */
function uploadAll(files) {
  for (const file of files) {
    const session = new UploadSession(file, {
      client,
      queue,
      hasher,
      storage: localStorage,
      chunkSize: Number(chunkSizeField.value) || undefined,
      chunkDigest: digester.digest,
    });
    const view = new UploadView(template, { pause: () => session.pause(), resume: () => session.resume() });
    session.on('change', (snapshot) => view.render(snapshot));
    session.on('chunk', (snapshot, chunk) => view.drawChunk(snapshot, chunk.index));
    view.render(session.snapshot());
    uploads.prepend(view.root);
    active.set(session, view);
    session.start().then(() => active.delete(session));
  }
}

const picker = /** @type {HTMLInputElement} */ ($('#file'));
picker.addEventListener('change', () => {
  if (picker.files) uploadAll(picker.files);
  picker.value = ''; // the same file may be chosen again
});

const dropZone = $('#drop-zone');
for (const type of ['dragenter', 'dragover']) {
  dropZone.addEventListener(type, (event) => {
    event.preventDefault();
    dropZone.classList.add('over');
  });
}
for (const type of ['dragleave', 'drop']) dropZone.addEventListener(type, () => dropZone.classList.remove('over'));
dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  const files = event.dataTransfer?.files;
  if (files) uploadAll(files);
});

// The queue's load, live: proves the bound to whoever watches.
const queueLine = $('#queue');
setInterval(() => {
  queueLine.textContent = `${queue.running} of at most ${queue.concurrency} chunk requests in flight (most at once so far: ${queue.maxRunning}).`;
  // The rate and time left move even when no chunk has just finished.
  for (const [session, view] of active) if (session.phase === 'sending') view.render(session.snapshot());
}, 500);
