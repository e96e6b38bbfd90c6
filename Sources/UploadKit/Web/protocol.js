// The HTTP contract of docs/PROTOCOL.md, as the page speaks it:
// create, handshake, one chunk, complete. And every way they fail, turned into
// words a person understands, and sorted into "try again" or "stop".

import { fromBase64, toHex } from './sha256.js';

/** @typedef {import('./types').UploadStatus} UploadStatus */
/** @typedef {import('./types').CreatedUpload} CreatedUpload */
/** @typedef {import('./types').ProblemBody} ProblemBody */
/** @typedef {import('./types').ChunkReceipt} ChunkReceipt */
/** @typedef {import('./types').UploadHttpClient} UploadHttpClient */

/** A request that failed: what happened, in words, and whether to try again. */
export class UploadProblem extends Error {
  /**
   * @param {string} message words for the person at the page
   * @param {{status?: number, slug?: string, retryable?: boolean, body?: ProblemBody}} [details]
   */
  constructor(message, details = {}) {
    super(message);
    this.name = 'UploadProblem';
    this.status = details.status ?? 0;
    this.slug = details.slug ?? '';
    this.retryable = details.retryable ?? false;
    this.body = details.body ?? {};
  }
}

/**
 * Talks to one server (the page's own origin), with an optional bearer token.
 * @implements {UploadHttpClient}
 */
export class UploadClient {
  /** @param {() => string} token read at each request, so a token typed later is used */
  constructor(token) {
    this.token = token;
  }

  /**
   * @param {string} path
   * @param {RequestInit} init
   * @returns {Promise<Response>}
   */
  async request(path, init) {
    const headers = new Headers(init.headers);
    const token = this.token().trim();
    if (token) headers.set('Authorization', `Bearer ${token}`);
    try {
      // no-store: a handshake must never come from a cache.
      return await fetch(path, { ...init, headers, cache: 'no-store' });
    } catch (error) {
      if (error instanceof DOMException && error.name === 'AbortError') throw error;
      throw new UploadProblem('Could not reach the server (the network is down, or the server stopped).', { retryable: true });
    }
  }

  /**
   * POST /uploads
   * @param {{size: number, name: string, type?: string, chunkSize?: number}} file
   * @returns {Promise<CreatedUpload>}
   */
  async create(file) {
    const headers = new Headers({ 'Upload-Length': String(file.size) });
    if (file.chunkSize) headers.set('Upload-Chunk-Size', String(file.chunkSize));
    headers.set('Upload-Metadata', metadata({ filename: file.name, filetype: file.type || '' }));
    const response = await this.request('/uploads', { method: 'POST', headers });
    if (response.status !== 201) throw await problemOf(response, 'create the upload');
    const location = response.headers.get('Location');
    const status = await response.json();
    if (!location) throw new UploadProblem('The server created the upload but did not say where it is (no Location header).');
    // Relative to the request's URL (no window: this also runs in a worker).
    return { path: new URL(location, response.url || globalThis.location?.href).pathname, chunkSize: status.chunkSize, chunkCount: status.chunkCount };
  }

  /**
   * HEAD /uploads/{id}: what the server holds.
   * @param {string} path
   * @returns {Promise<UploadStatus>}
   */
  async handshake(path) {
    const response = await this.request(path, { method: 'HEAD' });
    if (response.status !== 200) throw await problemOf(response, 'ask the server what it has');
    return parseHandshake(response.headers);
  }

  /**
   * PUT one whole chunk with its SHA-256 in Content-Digest.
   * @param {string} path
   * @param {{start: number, end: number}} range
   * @param {number} total the file's size
   * @param {Blob} body the chunk's slice of the file: the browser streams it from there
   * @param {string} sha256Base64
   * @param {AbortSignal} signal
   * @returns {Promise<ChunkReceipt>}
   */
  async putChunk(path, range, total, body, sha256Base64, signal) {
    const response = await this.request(path, {
      method: 'PUT',
      headers: {
        'Content-Range': `bytes ${range.start}-${range.end - 1}/${total}`,
        'Content-Digest': `sha-256=:${sha256Base64}:`,
        'Content-Type': 'application/octet-stream',
      },
      body,
      signal,
    });
    if (response.status !== 200) throw await problemOf(response, 'send a chunk');
    return response.json();
  }

  /**
   * POST /uploads/{id}/complete with the file's SHA-256.
   * @param {string} path
   * @param {string} sha256Base64
   * @returns {Promise<string>} the SHA-256 the server confirmed, hex
   */
  async complete(path, sha256Base64) {
    const response = await this.request(`${path}/complete`, {
      method: 'POST',
      headers: { 'Repr-Digest': `sha-256=:${sha256Base64}:` },
    });
    if (response.status !== 200) throw await problemOf(response, 'confirm the file');
    const status = await response.json();
    const confirmed = sha256OfField(response.headers.get('Repr-Digest')) ?? status.sha256;
    if (typeof confirmed !== 'string') throw new UploadProblem('The server completed the upload but did not say which SHA-256 it computed.');
    return confirmed;
  }
}

/**
 * tus Upload-Metadata: `key base64(utf-8 value)`, comma separated.
 * @param {Record<string, string>} pairs
 */
export function metadata(pairs) {
  return Object.entries(pairs)
    .map(([key, value]) => {
      const utf8 = new TextEncoder().encode(value);
      let binary = '';
      for (const byte of utf8) binary += String.fromCharCode(byte);
      return value ? `${key} ${btoa(binary)}` : key;
    })
    .join(',');
}

/**
 * @param {Headers} headers
 * @returns {UploadStatus}
 */
export function parseHandshake(headers) {
  /** @param {string} name */
  const number = (name) => {
    const text = headers.get(name);
    if (text === null || !/^\d+$/.test(text)) throw new UploadProblem(`The server's handshake has no valid ${name} header.`);
    return Number(text);
  };
  const length = number('Upload-Length');
  const chunkSize = number('Upload-Chunk-Size');
  const field = headers.get('Upload-Chunks') ?? '';
  const match = /^:([A-Za-z0-9+/=]*):$/.exec(field.trim());
  if (!match) throw new UploadProblem("The server's handshake has no valid Upload-Chunks bitmap.");
  const chunkCount = chunkSize > 0 ? Math.ceil(length / chunkSize) : 0;
  const bitmap = fromBase64(match[1]);
  if (bitmap.length < Math.ceil(chunkCount / 8)) throw new UploadProblem("The server's chunk bitmap is shorter than the upload.");
  return {
    length,
    chunkSize,
    chunkCount,
    offset: number('Upload-Offset'),
    received: number('Upload-Received'),
    bitmap,
    complete: headers.get('Upload-Complete') === '?1',
    sha256: sha256OfField(headers.get('Repr-Digest')),
  };
}

/**
 * Bit i of the handshake bitmap: most significant bit of byte 0 is chunk 0.
 * @param {Uint8Array} bitmap
 * @param {number} index
 */
export function hasChunk(bitmap, index) {
  return ((bitmap[index >> 3] ?? 0) & (0x80 >> (index & 7))) !== 0;
}

/**
 * The sha-256 member of an RFC 9530 digest field, as hex; null when absent.
 * @param {string | null} field e.g. `sha-256=:47DEQ…=:, xxh3=:…:`
 */
export function sha256OfField(field) {
  if (!field) return null;
  const match = /(?:^|,)\s*sha-256=:([A-Za-z0-9+/=]+):/.exec(field);
  return match ? toHex(fromBase64(match[1])) : null;
}

/**
 * Words for a file that could not be read (a chunk's slice, or the hash
 * worker's): browsers fail the read once the file changed after it was chosen.
 * @param {string} name the DOMException name of the failed read
 */
export function readFailure(name) {
  if (name === 'NotReadableError' || name === 'NotFoundError') {
    return 'The file could not be read any more: it was changed, moved or deleted after it was chosen. Choose it again.';
  }
  return `The file could not be read (${name || 'unknown error'}). Choose it again.`;
}

/**
 * Reads a failed response's problem+json and says what it means.
 * @param {Response} response
 * @param {string} doing what the page was trying to do, for the words
 * @returns {Promise<UploadProblem>}
 */
export async function problemOf(response, doing) {
  /** @type {ProblemBody} */
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  const status = response.status;
  const slug = (body.type ?? '').split('/').pop() ?? '';
  const detail = body.detail ? ` (the server says: ${body.detail})` : '';
  const chunk = typeof body.index === 'number' ? `chunk ${body.index + 1}` : 'a chunk';
  /** @param {string} words @param {boolean} [retryable] */
  const problem = (words, retryable = false) => new UploadProblem(words, { status, slug, retryable, body });
  switch (slug) {
    case 'unauthorized':
      return problem('The server wants an access token: enter the right one in the Token field, then choose the file again.');
    case 'upload-not-found':
      return problem('The server no longer has this upload (it may have expired or been deleted). Choose the file again to start over.');
    case 'upload-too-large':
      return problem(`The file is larger than this server accepts${detail}.`);
    case 'insufficient-storage':
      return problem(`The server's disk is full. Nothing already received is lost: once space is freed, choose the file again to resume${detail}.`, true);
    case 'chunk-busy':
      return problem(`The server is still writing ${chunk} from an earlier attempt.`, true);
    case 'chunk-conflict':
      return problem(`The server already holds different bytes for ${chunk}: the file changed since this upload started, or this is another file with the same name, size and date. This page has forgotten that upload: choose the file again to start a new one.`);
    case 'upload-complete':
      return problem('This upload is already complete on the server.', false);
    case 'digest-mismatch':
      return problem(`${chunk[0].toUpperCase()}${chunk.slice(1)} arrived damaged (its SHA-256 did not match).`, true);
    case 'chunk-timeout':
      return problem(`${chunk[0].toUpperCase()}${chunk.slice(1)} arrived too slowly and the server gave up on it.`, true);
    case 'body-too-short':
    case 'body-too-long':
      return problem(`The server received the wrong number of bytes for ${chunk}.`, true);
    case 'upload-incomplete':
      return problem(`The server is still missing ${body.missing?.length ?? 'some'} chunk(s) and has ${body.corrupt?.length ?? 0} damaged; choose the file again to send them.`);
    case 'chunks-corrupt':
      return problem(`When re-reading the file from its disk, the server found ${body.corrupt?.length ?? 'some'} chunk(s) damaged. Choose the file again to send them once more.`);
    case 'sha256-mismatch':
    case 'sha256-disagrees':
      return problem(`The file on the server does not have the SHA-256 this page computed: it was not confirmed${detail}. If the file changed while it was being uploaded, upload it again.`);
    case 'range-not-a-chunk':
      return problem(`The server says the upload has another size or chunk size than this file${detail}. This page has forgotten that upload: choose the file again to start a new one.`);
    case 'storage-error':
      return problem(`The server could not read or write its disk${detail}.`, true);
  }
  if (status >= 500 || status === 408 || status === 429) {
    return problem(`The server had a problem (${status}) while this page tried to ${doing}${detail}.`, true);
  }
  return problem(`The server refused to ${doing} (${status} ${body.title ?? response.statusText})${detail}.`);
}
