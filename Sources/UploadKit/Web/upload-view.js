// Draws one upload session's snapshot into a card cloned from the page's
// #upload-template: the progress bar, bytes and rate, the chunk bitmap, the
// state in words, and the Pause/Resume button. It holds no upload state of
// its own (only how its canvas is laid out) and never calls the network: the
// button calls what it was given. figures() and words() are pure, for node.

import { formatBytes, formatDuration } from './format.js';

/** @typedef {import('./types').Chunk} Chunk */
/** @typedef {import('./types').ChunkState} ChunkState */
/** @typedef {import('./types').UploadSnapshot} UploadSnapshot */

/** The bitmap's colours; style.css gives the legend the same. */
const CELL_COLORS = /** @type {Record<ChunkState, string>} */ ({
  missing: '#d9dde3',
  sending: '#f2b134',
  verified: '#2f9e62',
  failed: '#d64545',
});

/** Past this many chunks, a cell stands for a group of them. */
const MAX_CELLS = 2048;

export class UploadView {
  /**
   * @param {HTMLTemplateElement} template whose first element is the card (.name, .size, .bar, …)
   * @param {{pause: () => void, resume: () => void}} actions what the button does
   */
  constructor(template, actions) {
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
    /** @type {import('./types').UploadPhase} */
    this.phase = 'starting';
    this.button.addEventListener('click', () => (this.phase === 'sending' ? actions.pause() : actions.resume()));
    /** The chunk count the bitmap was laid out for; -1 before the first render. */
    this.laidOutFor = -1;
    this.perCell = 0;
    this.cellSize = 0;
    this.columns = 0;
    /** @type {CanvasRenderingContext2D | null} */
    this.context = null;
  }

  /** @param {UploadSnapshot} s */
  render(s) {
    if (this.laidOutFor !== s.chunkCount) this.layout(s);
    this.phase = s.phase;
    this.name.textContent = s.name;
    this.size.textContent = formatBytes(s.size);
    this.bar.max = Math.max(s.size, 1);
    this.bar.value = s.phase === 'done' ? Math.max(s.size, 1) : s.verifiedBytes;
    this.figures.textContent = figures(s);
    this.hashLine.textContent = s.hashedBytes >= s.size
      ? 'SHA-256 of the whole file: computed on this computer.'
      : `SHA-256 of the whole file: ${Math.floor((s.hashedBytes / Math.max(s.size, 1)) * 100)}% read on this computer.`;
    this.state.textContent = words(s);
    this.root.dataset.state = s.phase;
    this.root.dataset.path = s.path;
    this.root.dataset.verifiedChunks = String(s.verifiedChunks);
    this.root.dataset.chunkCount = String(s.chunkCount);
    this.root.dataset.sentChunks = String(s.sentChunks);
    if (s.sha256) this.root.dataset.sha256 = s.sha256;
    this.button.hidden = !['sending', 'pausing', 'paused'].includes(s.phase);
    this.button.disabled = s.phase === 'pausing';
    this.button.textContent = s.phase === 'sending' ? 'Pause' : s.phase === 'pausing' ? 'Pausing…' : 'Resume';
  }

  /**
   * Sizes the bitmap: one cell per chunk, or per group of chunks past 2048.
   * @param {UploadSnapshot} s
   */
  layout(s) {
    const count = s.chunkCount;
    this.laidOutFor = count;
    this.grid.hidden = this.legend.hidden = count === 0;
    this.perCell = Math.max(1, Math.ceil(count / MAX_CELLS));
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
    for (let cell = 0; cell < cells; cell++) this.drawCell(s, cell);
  }

  /**
   * Redraws the cell of one chunk that changed.
   * @param {UploadSnapshot} s
   * @param {number} index
   */
  drawChunk(s, index) {
    if (this.laidOutFor !== s.chunkCount) this.layout(s);
    else this.drawCell(s, Math.floor(index / this.perCell));
  }

  /** @param {UploadSnapshot} s @param {number} cell */
  drawCell(s, cell) {
    if (!this.context || !this.perCell || !this.cellSize || !this.columns) return;
    const group = s.chunks.slice(cell * this.perCell, (cell + 1) * this.perCell);
    /** @type {ChunkState} */
    const state = group.some((c) => c.state === 'failed') ? 'failed'
      : group.some((c) => c.state === 'sending') ? 'sending'
      : group.every((c) => c.state === 'verified') ? 'verified' : 'missing';
    const step = this.cellSize + 2;
    this.context.fillStyle = CELL_COLORS[state];
    this.context.fillRect((cell % this.columns) * step + 1, Math.floor(cell / this.columns) * step + 1, this.cellSize, this.cellSize);
  }
}

/**
 * The figures line: bytes on the server, rate and time left, chunks; at the end, what was sent and how fast.
 * @param {UploadSnapshot} s
 */
export function figures(s) {
  const size = s.size;
  const left = s.rate > 0 ? ` · about ${formatDuration((size - s.verifiedBytes) / s.rate)} left` : '';
  const took = s.elapsedMs / 1000;
  if (size === 0 && s.phase !== 'starting') return 'An empty file: no chunks to send, only its SHA-256 to confirm.';
  if (s.phase === 'done') {
    return `${formatBytes(size)} on the server · ${s.sentChunks} of ${s.chunkCount} chunks of ${formatBytes(s.chunkSize)} sent in ${formatDuration(took)}`
      + (took > 0 && s.sentChunks > 0 ? ` · ${formatBytes(s.sentBytes / took)}/s on average` : '');
  }
  return `${formatBytes(s.verifiedBytes)} of ${formatBytes(size)} on the server`
    + (s.rate > 0 ? ` · ${formatBytes(s.rate)}/s${left}` : '')
    + ` · ${s.verifiedChunks} of ${s.chunkCount} chunks` + (s.chunkSize ? ` of ${formatBytes(s.chunkSize)}` : '')
    + (s.inFlight ? ` · ${s.inFlight} in flight` : '');
}

/**
 * The state line: what is happening or how it ended, for a person.
 * @param {UploadSnapshot} s
 */
export function words(s) {
  const resumed = s.resumedWith
    ? ` Resumed: the server already had ${formatBytes(s.resumedWith)}, so only the rest ${s.phase === 'done' ? 'was' : 'is'} sent.` : '';
  switch (s.phase) {
    case 'starting': return 'Asking the server…';
    case 'sending': return s.note || `Sending the chunks the server does not have.${resumed}`;
    case 'pausing': return 'Pausing: letting the chunks already on their way arrive…';
    case 'paused': return 'Paused. The server keeps what it has; press Resume, or choose this file again later (even after a reload).';
    case 'hashing': return 'Every chunk is on the server; finishing the SHA-256 of the whole file…';
    case 'completing': return 'The server is re-reading the file from its disk to confirm its SHA-256…';
    case 'done': return `${s.alreadyComplete ? 'Already uploaded. ' : ''}Confirmed: the server's copy has SHA-256 ${s.sha256}, the same as this file.${s.alreadyComplete ? '' : resumed}`;
    case 'failed': return `Not uploaded. ${s.error}`;
  }
}
