// The upload page: picks files, and for each one creates (or resumes) an
// upload, sends the chunks the server lacks through the page's one worker
// queue, hashes the whole file in a worker meanwhile, completes, and shows
// every step in words. PROTOCOL.md is the contract; protocol.js speaks it.

import { Sha256, toBase64 } from './sha256.js';
import { UploadClient, UploadProblem, hasChunk } from './protocol.js';
import { QueueRemovedError, WorkerQueue } from './worker-queue.js';

/** @typedef {import('./types').Chunk} Chunk */
/** @typedef {import('./types').ChunkState} ChunkState */
/** @typedef {import('./types').UploadStatus} UploadStatus */
/** @typedef {import('./types').HashWorkerMessage} HashWorkerMessage */
/** @typedef {import('./types').RememberedUpload} RememberedUpload */
/** @typedef {'starting' | 'sending' | 'pausing' | 'paused' | 'hashing' | 'completing' | 'done' | 'failed'} Phase */

const HASH_SLICE = 4 << 20;
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

const client = new UploadClient(() => tokenField.value);

// WebCrypto exists only in a secure context (https, or localhost); over plain
// http to another host the page hashes chunks with its own SHA-256.
const webCrypto = window.isSecureContext && globalThis.crypto?.subtle ? globalThis.crypto.subtle : null;
$('#digest-engine').textContent = webCrypto ? 'WebCrypto' : "the page's own SHA-256 (no WebCrypto over plain http)";
document.body.dataset.digestEngine = webCrypto ? 'webcrypto' : 'builtin';

/**
 * @param {ArrayBuffer} bytes
 * @returns {Promise<string>} base64 SHA-256, for Content-Digest
 */
async function chunkDigest(bytes) {
  if (webCrypto) return toBase64(new Uint8Array(await webCrypto.digest('SHA-256', bytes)));
  return toBase64(new Sha256().update(new Uint8Array(bytes)).digest());
}

// ---- One file's upload ------------------------------------------------------

/** What localStorage remembers, keyed by what identifies a file without reading it. */
class Memory {
  /** @param {File} file */
  static key(file) {
    return `uploadverify.upload:${file.name}:${file.size}:${file.lastModified}`;
  }
  /** @param {File} file @returns {RememberedUpload | null} */
  static recall(file) {
    try {
      const value = JSON.parse(localStorage.getItem(Memory.key(file)) ?? 'null');
      return value && typeof value.path === 'string' && value.size === file.size ? value : null;
    } catch {
      return null;
    }
  }
  /** @param {File} file @param {string} path @param {number} chunkSize */
  static remember(file, path, chunkSize) {
    /** @type {RememberedUpload} */
    const value = { path, size: file.size, chunkSize, savedAt: new Date().toISOString() };
    localStorage.setItem(Memory.key(file), JSON.stringify(value));
  }
  /** @param {File} file */
  static forget(file) {
    localStorage.removeItem(Memory.key(file));
  }
}

/** Problems after which the remembered upload is of no use to this file. */
const FORGET_AFTER = ['chunk-conflict', 'range-not-a-chunk', 'upload-not-found', 'sha256-mismatch', 'sha256-disagrees'];

class FileUpload {
  /** @param {File} file */
  constructor(file) {
    this.file = file;
    /** @type {Phase} */
    this.phase = 'starting';
    this.path = '';
    this.chunkSize = 0;
    /** @type {Chunk[]} */
    this.chunks = [];
    this.verifiedBytes = 0;
    this.hashedBytes = 0;
    /** Chunks this page sent and the server verified, in this session (a resume sends only the missing ones). */
    this.sentChunks = 0;
    this.completions = 0;
    this.abort = new AbortController();
    this.startedAt = performance.now();
    /** @type {number | undefined} */
    this.finishedAt = undefined;
    /** Bytes of the chunks this page sent and the server verified, in this session. */
    this.sentBytes = 0;
    /** @type {{time: number, bytes: number}[]} verified bytes over time, for the rate */
    this.samples = [];
    this.view = new UploadView(this);
    this.hash = this.startHash();
    this.hash.catch(() => {}); // observed in finish(); a failure before then is shown by fail()
  }

  /** The whole file's SHA-256 from the worker; memory stays two slices. */
  startHash() {
    return new Promise((resolve, reject) => {
      const worker = new Worker('/web/hash-worker.js', { type: 'module' });
      this.worker = worker;
      worker.onmessage = (/** @type {MessageEvent<HashWorkerMessage>} */ event) => {
        const message = event.data;
        if (message.type === 'progress') {
          this.hashedBytes = message.hashedBytes;
          this.view.update();
        } else if (message.type === 'done') {
          this.hashedBytes = this.file.size;
          worker.terminate();
          resolve(message);
        } else {
          worker.terminate();
          const error = new UploadProblem(readFailure(message.name));
          reject(error);
          this.fail(error);
        }
      };
      worker.onerror = () => {
        const error = new UploadProblem('This browser could not start the hashing worker.');
        reject(error);
        this.fail(error);
      };
      worker.postMessage({ file: this.file, sliceSize: HASH_SLICE });
    });
  }

  async start() {
    try {
      const remembered = Memory.recall(this.file);
      /** @type {UploadStatus | null} */
      const resumed = remembered ? await this.resumable(remembered.path) : null;
      if (remembered && resumed) {
        this.path = remembered.path;
      } else {
        const chunkSize = Number(chunkSizeField.value) || undefined;
        const created = await client.create({ size: this.file.size, name: this.file.name, type: this.file.type, chunkSize });
        this.path = created.path;
        Memory.remember(this.file, created.path, created.chunkSize);
      }
      const status = resumed ?? (await client.handshake(this.path));
      this.chunkSize = status.chunkSize;
      this.resumedWith = status.received;
      this.chunks = Array.from({ length: status.chunkCount }, (_, index) => {
        const start = index * status.chunkSize;
        /** @type {Chunk} */
        const chunk = { index, start, end: Math.min(start + status.chunkSize, this.file.size), state: 'missing', attempts: 0 };
        if (hasChunk(status.bitmap, index)) chunk.state = 'verified';
        return chunk;
      });
      this.verifiedBytes = status.received;
      this.view.layout();
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
   */
  async resumable(path) {
    try {
      const status = await client.handshake(path);
      if (status.length === this.file.size) return status;
    } catch (error) {
      if (!(error instanceof UploadProblem) || error.slug !== 'upload-not-found') throw error;
    }
    Memory.forget(this.file);
    return null;
  }

  sendMissing() {
    for (const chunk of this.chunks) {
      if (chunk.state === 'missing' || chunk.state === 'failed') this.send(chunk);
    }
  }

  /** @param {Chunk} chunk */
  send(chunk) {
    const upload = this;
    queue
      .push({
        owner: upload,
        async run() {
          if (upload.abort.signal.aborted) throw new QueueRemovedError();
          upload.setChunk(chunk, 'sending');
          chunk.attempts++;
          let bytes;
          try {
            bytes = await upload.file.slice(chunk.start, chunk.end).arrayBuffer();
          } catch (error) {
            throw new UploadProblem(readFailure(error instanceof Error ? error.name : ''));
          }
          const digest = await chunkDigest(bytes);
          try {
            return await client.putChunk(upload.path, chunk, upload.file.size, bytes, digest, upload.abort.signal);
          } catch (error) {
            // The upload was completed elsewhere (another tab): complete() will confirm it.
            if (error instanceof UploadProblem && error.slug === 'upload-complete') return null;
            throw error;
          }
        },
        retryable: (error) => error instanceof UploadProblem && error.retryable && !upload.abort.signal.aborted,
        onRetry(error, attempt, delay) {
          upload.setChunk(chunk, 'failed');
          upload.view.note(`${error instanceof Error ? error.message : error} Trying chunk ${chunk.index + 1} again in ${(delay / 1000).toFixed(1)} s (attempt ${attempt} of ${queue.retry.attempts}).`);
        },
      })
      .then(
        () => {
          if (chunk.state !== 'verified') this.verifiedBytes += chunk.end - chunk.start;
          this.sentBytes += chunk.end - chunk.start;
          this.sentChunks++;
          this.setChunk(chunk, 'verified');
          this.samples.push({ time: performance.now(), bytes: this.verifiedBytes });
          this.maybePaused();
          this.maybeFinish();
        },
        (error) => {
          if (error instanceof QueueRemovedError || this.abort.signal.aborted) {
            if (chunk.state !== 'verified') this.setChunk(chunk, 'missing');
            this.maybePaused();
            return;
          }
          this.setChunk(chunk, 'failed');
          const retried = error instanceof UploadProblem && error.retryable ? ` Gave up on chunk ${chunk.index + 1} after ${chunk.attempts} attempts.` : '';
          this.fail(error, retried);
        },
      );
  }

  /** @param {Chunk} chunk @param {ChunkState} state */
  setChunk(chunk, state) {
    chunk.state = state;
    this.view.cell(chunk);
    this.view.update();
  }

  pause() {
    if (this.phase !== 'sending') return;
    this.setPhase('pausing');
    queue.remove((task) => task.owner === this);
    this.maybePaused();
  }

  resume() {
    if (this.phase !== 'paused' && this.phase !== 'pausing') return;
    this.setPhase('sending');
    this.sendMissing();
    this.maybeFinish();
  }

  maybePaused() {
    if (this.phase === 'pausing' && !this.chunks.some((chunk) => chunk.state === 'sending')) this.setPhase('paused');
  }

  maybeFinish() {
    if (this.phase !== 'sending' || !this.chunks.every((chunk) => chunk.state === 'verified')) return;
    this.finish(null).catch((error) => this.fail(error));
  }

  /**
   * Every chunk is on the server: wait for the SHA-256, then complete.
   * @param {string | null} alreadyConfirmed the server's SHA-256 of a complete upload
   */
  async finish(alreadyConfirmed) {
    this.setPhase('hashing');
    const local = await this.hash;
    if (alreadyConfirmed !== null && alreadyConfirmed !== local.hex) {
      // A complete upload of other bytes under this name, size and date: never confuse the two.
      Memory.forget(this.file);
      throw new UploadProblem(`The server holds a different file under this upload (its SHA-256 is ${alreadyConfirmed}). This page has forgotten that upload: choose the file again to upload it anew.`);
    }
    this.setPhase('completing');
    try {
      this.completions++;
      const confirmed = await client.complete(this.path, local.base64);
      if (confirmed !== local.hex) throw new UploadProblem(`The server computed SHA-256 ${confirmed}, but this file's is ${local.hex}.`);
      this.sha256 = confirmed;
      this.already = alreadyConfirmed !== null;
      this.setPhase('done');
    } catch (error) {
      // Chunks lost or damaged on the server since they were sent: send them again, a few times at most.
      if (error instanceof UploadProblem && (error.slug === 'upload-incomplete' || error.slug === 'chunks-corrupt') && this.completions < 3) {
        for (const index of [...(error.body.missing ?? []), ...(error.body.corrupt ?? [])]) {
          const chunk = this.chunks[index];
          if (chunk && chunk.state === 'verified') {
            this.verifiedBytes -= chunk.end - chunk.start;
            this.setChunk(chunk, 'missing');
          }
        }
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
    queue.remove((task) => task.owner === this);
    this.worker?.terminate();
    // An upload that can never be completed with this file is forgotten, so
    // that choosing the file again starts afresh instead of failing again.
    if (error instanceof UploadProblem && FORGET_AFTER.includes(error.slug)) Memory.forget(this.file);
    const words = error instanceof Error ? error.message : String(error);
    this.error = words + suffix;
    this.setPhase('failed');
  }

  /** @param {Phase} phase */
  setPhase(phase) {
    this.phase = phase;
    if (phase === 'done' || phase === 'failed') active.delete(this);
    this.view.update();
  }

  /** Bytes per second over the last few seconds. */
  rate() {
    const now = performance.now();
    while (this.samples.length > 2 && now - this.samples[0].time > 4000) this.samples.shift();
    if (this.samples.length < 2) return 0;
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    return last.time > first.time ? ((last.bytes - first.bytes) * 1000) / (now - first.time) : 0;
  }
}

/**
 * @param {string} name the DOMException name of a failed read
 */
function readFailure(name) {
  if (name === 'NotReadableError' || name === 'NotFoundError') {
    return 'The file could not be read any more: it was changed, moved or deleted after it was chosen. Choose it again.';
  }
  return `The file could not be read (${name || 'unknown error'}). Choose it again.`;
}

// ---- Drawing one upload -----------------------------------------------------

const CELL_COLORS = /** @type {Record<ChunkState, string>} */ ({
  missing: '#d9dde3',
  sending: '#f2b134',
  verified: '#2f9e62',
  failed: '#d64545',
});

class UploadView {
  /** @param {FileUpload} upload */
  constructor(upload) {
    this.upload = upload;
    const template = /** @type {HTMLTemplateElement} */ ($('#upload-template'));
    this.root = /** @type {HTMLElement} */ (/** @type {Element} */ (template.content.firstElementChild).cloneNode(true));
    /** @param {string} name */
    const part = (name) => /** @type {HTMLElement} */ (this.root.querySelector(`.${name}`));
    this.name = part('name');
    this.size = part('size');
    this.bar = /** @type {HTMLProgressElement} */ (part('bar'));
    this.figures = part('figures');
    this.hashLine = part('hash');
    this.canvas = /** @type {HTMLCanvasElement} */ (part('bitmap'));
    this.grid = part('grid');
    this.legend = part('legend');
    this.state = part('state');
    this.button = /** @type {HTMLButtonElement} */ (part('pause'));
    this.name.textContent = upload.file.name;
    this.size.textContent = formatBytes(upload.file.size);
    this.button.addEventListener('click', () => (upload.phase === 'sending' ? upload.pause() : upload.resume()));
    /** @type {string} */
    this.lastNote = '';
    $('#uploads').prepend(this.root);
    this.update();
  }

  /** Sizes the bitmap: one cell per chunk, or per group of chunks past 2048. */
  layout() {
    const count = this.upload.chunks.length;
    this.grid.hidden = this.legend.hidden = count === 0;
    this.perCell = Math.max(1, Math.ceil(count / 2048));
    const cells = Math.ceil(count / this.perCell);
    this.cellSize = cells <= 128 ? 14 : cells <= 512 ? 10 : 6;
    const width = this.canvas.parentElement?.clientWidth || 640;
    this.columns = Math.max(1, Math.floor(width / (this.cellSize + 2)));
    const rows = Math.ceil(cells / this.columns);
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(this.columns * (this.cellSize + 2) * ratio);
    this.canvas.height = Math.round(Math.max(rows, 0) * (this.cellSize + 2) * ratio);
    this.canvas.style.width = `${this.columns * (this.cellSize + 2)}px`;
    this.canvas.style.height = `${rows * (this.cellSize + 2)}px`;
    this.context = this.canvas.getContext('2d');
    this.context?.scale(ratio, ratio);
    for (let cell = 0; cell < cells; cell++) this.drawCell(cell);
  }

  /** @param {Chunk} chunk */
  cell(chunk) {
    if (this.perCell) this.drawCell(Math.floor(chunk.index / this.perCell));
  }

  /** @param {number} cell */
  drawCell(cell) {
    if (!this.context || !this.perCell || !this.cellSize || !this.columns) return;
    const group = this.upload.chunks.slice(cell * this.perCell, (cell + 1) * this.perCell);
    /** @type {ChunkState} */
    const state = group.some((c) => c.state === 'failed') ? 'failed'
      : group.some((c) => c.state === 'sending') ? 'sending'
      : group.every((c) => c.state === 'verified') ? 'verified' : 'missing';
    const step = this.cellSize + 2;
    this.context.fillStyle = CELL_COLORS[state];
    this.context.fillRect((cell % this.columns) * step + 1, Math.floor(cell / this.columns) * step + 1, this.cellSize, this.cellSize);
  }

  /** @param {string} text a passing remark (a retry), shown until the state changes */
  note(text) {
    this.lastNote = text;
    this.update();
  }

  update() {
    const u = this.upload;
    const size = u.file.size;
    const verifiedChunks = u.chunks.filter((c) => c.state === 'verified').length;
    const inFlight = u.chunks.filter((c) => c.state === 'sending').length;
    this.bar.max = Math.max(size, 1);
    this.bar.value = u.phase === 'done' ? Math.max(size, 1) : u.verifiedBytes;
    const rate = u.phase === 'sending' || u.phase === 'pausing' ? u.rate() : 0;
    const left = rate > 0 ? ` · about ${formatDuration((size - u.verifiedBytes) / rate)} left` : '';
    if (u.phase === 'done' && !u.finishedAt) u.finishedAt = performance.now();
    const took = u.finishedAt ? (u.finishedAt - u.startedAt) / 1000 : 0;
    this.figures.textContent = size === 0 && u.phase !== 'starting' ? 'An empty file: no chunks to send, only its SHA-256 to confirm.'
      : u.phase === 'done' ? `${formatBytes(size)} on the server · ${u.sentChunks} of ${u.chunks.length} chunks of ${formatBytes(u.chunkSize)} sent in ${formatDuration(took)}`
        + (took > 0 && u.sentChunks > 0 ? ` · ${formatBytes(u.sentBytes / took)}/s on average` : '')
      : `${formatBytes(u.verifiedBytes)} of ${formatBytes(size)} on the server`
      + (rate > 0 ? ` · ${formatBytes(rate)}/s${left}` : '')
      + ` · ${verifiedChunks} of ${u.chunks.length} chunks` + (u.chunkSize ? ` of ${formatBytes(u.chunkSize)}` : '')
      + (inFlight ? ` · ${inFlight} in flight` : '');
    this.hashLine.textContent = u.hashedBytes >= size
      ? 'SHA-256 of the whole file: computed on this computer.'
      : `SHA-256 of the whole file: ${Math.floor((u.hashedBytes / Math.max(size, 1)) * 100)}% read on this computer.`;
    this.state.textContent = this.words();
    this.root.dataset.state = u.phase;
    this.root.dataset.path = u.path;
    this.root.dataset.verifiedChunks = String(verifiedChunks);
    this.root.dataset.chunkCount = String(u.chunks.length);
    this.root.dataset.sentChunks = String(u.sentChunks);
    if (u.sha256) this.root.dataset.sha256 = u.sha256;
    this.button.hidden = !['sending', 'pausing', 'paused'].includes(u.phase);
    this.button.disabled = u.phase === 'pausing';
    this.button.textContent = u.phase === 'sending' ? 'Pause' : u.phase === 'pausing' ? 'Pausing…' : 'Resume';
    if (!['sending', 'pausing'].includes(u.phase)) this.lastNote = '';
  }

  /** The state line: what is happening or how it ended, for a person. */
  words() {
    const u = this.upload;
    const resumed = u.resumedWith
      ? ` Resumed: the server already had ${formatBytes(u.resumedWith)}, so only the rest ${u.phase === 'done' ? 'was' : 'is'} sent.` : '';
    switch (u.phase) {
      case 'starting': return 'Asking the server…';
      case 'sending': return (this.lastNote || `Sending the chunks the server does not have.${resumed}`);
      case 'pausing': return 'Pausing: letting the chunks already on their way arrive…';
      case 'paused': return 'Paused. The server keeps what it has; press Resume, or choose this file again later (even after a reload).';
      case 'hashing': return 'Every chunk is on the server; finishing the SHA-256 of the whole file…';
      case 'completing': return 'The server is re-reading the file from its disk to confirm its SHA-256…';
      case 'done': return `${u.already ? 'Already uploaded. ' : ''}Confirmed: the server's copy has SHA-256 ${u.sha256}, the same as this file.${u.already ? '' : resumed}`;
      case 'failed': return `Not uploaded. ${u.error}`;
    }
  }
}

// ---- Choosing files ---------------------------------------------------------

/** @type {Set<FileUpload>} uploads still under way */
const active = new Set();

/** @param {Iterable<File>} files */
function uploadAll(files) {
  for (const file of files) {
    const upload = new FileUpload(file);
    active.add(upload);
    upload.start();
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
  for (const upload of active) if (upload.phase === 'sending') upload.view.update();
}, 500);

// ---- Formatting ---------------------------------------------------------------

/** @param {number} bytes */
function formatBytes(bytes) {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} ${value === 1 ? 'byte' : 'bytes'}` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** @param {number} seconds */
function formatDuration(seconds) {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/**
 * `?chunkSize=` as bytes: digits with an optional unit (KiB, MiB, …), as the CLI takes it.
 * @param {string | null} text
 * @returns {number | null}
 */
function parseSize(text) {
  const match = /^(\d+)\s*(b|k|kib|m|mib|g|gib|kb|mb|gb)?$/i.exec(text?.trim() ?? '');
  if (!match) return null;
  /** @type {Record<string, number>} */
  const units = { b: 1, k: 1024, kib: 1024, m: 1 << 20, mib: 1 << 20, g: 1 << 30, gib: 1 << 30, kb: 1e3, mb: 1e6, gb: 1e9 };
  return Number(match[1]) * units[(match[2] ?? 'b').toLowerCase()];
}
