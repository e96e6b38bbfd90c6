// The page's engine, UploadSession (upload-session.js), in node with fakes
// for what it talks to: an in-memory server behind the UploadHttpClient
// interface (its refusals made by protocol.js's own problemOf, so retryable
// or not is decided as on the page), a hasher that reads the file a slice at
// a time, and a Map for localStorage. One behaviour per test.
// Run: node --test Tests/browser/upload-session.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadWeb } from './load-web.mjs';

const { UploadSession, WorkerQueue, UploadProblem, ResumeMemory, problemOf, readFailure } = await loadWeb('uploadverify.js');
const { Sha256, toBase64, toHex, fromBase64 } = await loadWeb('sha256.js');

const CHUNK = 1024;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256Hex = (bytes) => toHex(new Sha256().update(bytes).digest());

// ---- Fakes ------------------------------------------------------------------

/** A refusal as the server sends it, read by the page's own problemOf. */
function refusal(status, slug, extra = {}) {
  const body = JSON.stringify({ type: `https://uploadverify.dev/problems/${slug}`, title: slug, status, detail: `fake ${slug}`, ...extra });
  return problemOf(new Response(body, { status, headers: { 'Content-Type': 'application/problem+json' } }), 'send a chunk');
}

/**
 * A PUT's body (the file's slice) as the browser sends it: a slice that can
 * no longer be read fails the request as fetch() does, as a network error.
 */
async function bodyOf(body) {
  try {
    return new Uint8Array(await body.arrayBuffer());
  } catch {
    throw new UploadProblem('Could not reach the server (the network is down, or the server stopped).', { retryable: true });
  }
}

/** The upload server's four requests, in memory, counting what a test asks about. */
class FakeServer {
  constructor({ latencyMs = 2 } = {}) {
    this.latencyMs = latencyMs;
    this.uploads = new Map();
    this.created = 0;
    /** Chunk indexes in the order their PUTs arrived (retries included). */
    this.puts = [];
    this.inFlight = 0;
    this.maxInFlight = 0;
    /** index -> {times, status, slug}: the next `times` PUTs of that chunk are refused. */
    this.faults = new Map();
    /** Called as each PUT arrives, before it is answered. */
    this.onPut = () => {};
    /** Called as each complete arrives, with the upload. */
    this.onComplete = () => {};
  }

  refuse(index, times, status, slug) {
    this.faults.set(index, { times, status, slug });
  }

  upload(path) {
    return this.uploads.get(path);
  }

  async create({ size, chunkSize }) {
    this.created++;
    const path = `/uploads/fake${this.created}`;
    const size_ = chunkSize ?? 8 << 20;
    this.uploads.set(path, { length: size, chunkSize: size_, chunks: new Map(), sha256: null });
    return { path, chunkSize: size_, chunkCount: Math.ceil(size / size_) };
  }

  async handshake(path) {
    const upload = this.uploads.get(path);
    if (!upload) throw await refusal(404, 'upload-not-found');
    const chunkCount = Math.ceil(upload.length / upload.chunkSize);
    const bitmap = new Uint8Array(Math.ceil(chunkCount / 8));
    let received = 0;
    for (const [index, bytes] of upload.chunks) {
      bitmap[index >> 3] |= 0x80 >> (index & 7);
      received += bytes.length;
    }
    return { length: upload.length, chunkSize: upload.chunkSize, chunkCount, offset: 0, received, bitmap, complete: upload.sha256 !== null, sha256: upload.sha256 };
  }

  async putChunk(path, range, total, body, sha256Base64, signal) {
    const upload = this.uploads.get(path);
    const index = range.start / upload.chunkSize;
    this.puts.push(index);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      this.onPut(index);
      await sleep(this.latencyMs);
      if (signal.aborted) throw new DOMException('aborted', 'AbortError');
      const fault = this.faults.get(index);
      if (fault && fault.times > 0) {
        fault.times--;
        throw await refusal(fault.status, fault.slug, { index });
      }
      const received = await bodyOf(body);
      assert.equal(total, upload.length);
      assert.equal(received.length, range.end - range.start, 'a PUT carries exactly its chunk');
      assert.equal(toBase64(new Sha256().update(received).digest()), sha256Base64, 'Content-Digest is the chunk\'s SHA-256');
      const held = upload.chunks.get(index);
      if (held && toHex(held) !== toHex(received)) throw await refusal(409, 'chunk-conflict', { index });
      upload.chunks.set(index, received.slice());
      return { index, receivedChunks: upload.chunks.size, chunkCount: Math.ceil(upload.length / upload.chunkSize), written: !held };
    } finally {
      this.inFlight--;
    }
  }

  async complete(path, sha256Base64) {
    const upload = this.uploads.get(path);
    this.onComplete(upload);
    const chunkCount = Math.ceil(upload.length / upload.chunkSize);
    const missing = [...Array(chunkCount).keys()].filter((index) => !upload.chunks.has(index));
    if (missing.length > 0) throw await refusal(409, 'upload-incomplete', { missing, corrupt: [] });
    const whole = new Sha256();
    for (let index = 0; index < chunkCount; index++) whole.update(upload.chunks.get(index));
    const actual = toHex(whole.digest());
    if (actual !== toHex(fromBase64(sha256Base64))) throw await refusal(422, 'sha256-mismatch');
    upload.sha256 = actual;
    return actual;
  }
}

/**
 * The hash worker's part, in process: the whole file's SHA-256 a slice at a
 * time; a failed read rejects in words, as workerHasher() does.
 */
function sliceHasher(log = {}) {
  return async (file, { onProgress, signal }) => {
    log.signal = signal;
    const hasher = new Sha256();
    for (let offset = 0; offset < file.size; offset += 4 * CHUNK) {
      await sleep(0);
      if (signal?.aborted) throw new DOMException('the upload stopped', 'AbortError');
      let bytes;
      try {
        bytes = new Uint8Array(await file.slice(offset, Math.min(offset + 4 * CHUNK, file.size)).arrayBuffer());
      } catch (error) {
        throw new UploadProblem(readFailure(error.name));
      }
      hasher.update(bytes);
      onProgress?.(offset + bytes.length);
    }
    const digest = hasher.digest();
    return { hex: toHex(digest), base64: toBase64(digest) };
  };
}

/** localStorage's interface over a Map, shared by the sessions of one "browser". */
class MapStorage {
  constructor() {
    this.map = new Map();
  }
  getItem(key) {
    return this.map.has(key) ? this.map.get(key) : null;
  }
  setItem(key, value) {
    this.map.set(key, String(value));
  }
  removeItem(key) {
    this.map.delete(key);
  }
}

/** Reproducible bytes, different in every chunk. */
function bytesOf(size, seed = 1) {
  const bytes = new Uint8Array(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

function fileOf(size, { seed = 1, name = 'file.bin' } = {}) {
  const bytes = bytesOf(size, seed);
  return { file: new File([bytes], name, { lastModified: 1_700_000_000_000 }), sha256: sha256Hex(bytes) };
}

/** A session on fakes; `options` overrides any of them. */
function sessionFor(file, server, options = {}) {
  return new UploadSession(file, {
    client: server,
    queue: new WorkerQueue({ concurrency: 3, retry: { attempts: 5, baseDelayMs: 1, maxDelayMs: 4 } }),
    hasher: sliceHasher(),
    storage: new MapStorage(),
    chunkSize: CHUNK,
    ...options,
  });
}

/** Resolves with the first snapshot (now or after a change) that satisfies `predicate`. */
function until(session, predicate) {
  return new Promise((resolve) => {
    const now = session.snapshot();
    if (predicate(now)) return resolve(now);
    const off = session.on('change', (snapshot) => {
      if (predicate(snapshot)) {
        off();
        resolve(snapshot);
      }
    });
  });
}

const count = (list, value) => list.filter((item) => item === value).length;

// ---- Tests --------------------------------------------------------------------

test('a new upload sends every chunk once and is confirmed with the file\'s SHA-256', { timeout: 5000 }, async () => {
  const server = new FakeServer();
  const { file, sha256 } = fileOf(10 * CHUNK + 100);
  const end = await sessionFor(file, server).start();
  assert.equal(end.phase, 'done', end.error);
  assert.equal(end.sha256, sha256);
  assert.equal(end.chunkCount, 11);
  assert.deepEqual([...server.puts].sort((a, b) => a - b), [...Array(11).keys()]);
  assert.equal(end.sentChunks, 11);
  assert.equal(end.verifiedBytes, file.size);
  assert.equal(server.upload(end.path).sha256, sha256);
});

test('at most 3 chunk requests are in flight by default, and 3 while work remains', { timeout: 5000 }, async () => {
  const server = new FakeServer({ latencyMs: 5 });
  const { file } = fileOf(20 * CHUNK);
  const session = new UploadSession(file, { client: server, hasher: sliceHasher(), storage: null, chunkSize: CHUNK });
  const end = await session.start();
  assert.equal(end.phase, 'done', end.error);
  assert.equal(server.maxInFlight, 3);
});

test('two sessions sharing a queue stay within its bound together', { timeout: 5000 }, async () => {
  const server = new FakeServer({ latencyMs: 5 });
  const queue = new WorkerQueue({ concurrency: 2 });
  const ends = await Promise.all([1, 2].map((seed) => sessionFor(fileOf(8 * CHUNK, { seed, name: `f${seed}` }).file, server, { queue }).start()));
  assert.deepEqual(ends.map((end) => end.phase), ['done', 'done']);
  assert.equal(server.maxInFlight, 2);
});

test('a chunk is read as one slice when its turn comes, never the whole file, and that slice is the body sent', { timeout: 5000 }, async () => {
  const server = new FakeServer({ latencyMs: 3 });
  const { file: real } = fileOf(12 * CHUNK + 7);
  const slices = new Set();
  let reading = 0;
  let maxReading = 0;
  const file = {
    name: real.name, size: real.size, type: '', lastModified: real.lastModified,
    arrayBuffer: () => assert.fail('the whole file was read into memory'),
    slice(start, end) {
      const slice = {
        size: end - start,
        async arrayBuffer() {
          maxReading = Math.max(maxReading, ++reading);
          try {
            return await real.slice(start, end).arrayBuffer();
          } finally {
            reading--;
          }
        },
      };
      slices.add(slice);
      return slice;
    },
  };
  const bodies = [];
  server.putChunk = ((put) => async (...args) => {
    bodies.push(args[3]);
    return put(...args);
  })(server.putChunk.bind(server));
  const end = await sessionFor(file, server, { hasher: async () => ({ hex: '', base64: '' }), client: { ...bindAll(server), complete: async () => '' } }).start();
  assert.equal(end.phase, 'done', end.error);
  assert.equal(slices.size, 13);
  assert.ok([...slices].every((slice) => slice.size <= CHUNK), 'no slice is larger than a chunk');
  assert.ok(bodies.length === 13 && bodies.every((body) => slices.has(body)), 'each PUT sends its slice of the file, not a copy of its bytes');
  assert.ok(maxReading <= 3, `at most one read per request in flight (${maxReading})`);
});

/** The server's methods as a plain object, to override one of them. */
function bindAll(server) {
  return { create: server.create.bind(server), handshake: server.handshake.bind(server), putChunk: (...args) => server.putChunk(...args), complete: server.complete.bind(server) };
}

test('pause lets the chunks on their way arrive, then sends nothing more', { timeout: 5000 }, async () => {
  const server = new FakeServer({ latencyMs: 10 });
  const { file } = fileOf(30 * CHUNK);
  const session = sessionFor(file, server);
  session.start();
  await until(session, (s) => s.verifiedChunks >= 2);
  session.pause();
  assert.equal(session.phase, 'pausing');
  const paused = await until(session, (s) => s.phase === 'paused');
  const putsAtPause = server.puts.length;
  assert.equal(paused.inFlight, 0);
  assert.equal(paused.verifiedChunks, putsAtPause, 'every chunk sent before the pause arrived');
  assert.ok(paused.verifiedChunks < 30, 'the pause came before the end');
  await sleep(60);
  assert.equal(server.puts.length, putsAtPause, 'nothing is sent while paused');
  assert.equal(session.phase, 'paused');
});

test('resume after a pause sends only the chunks still missing, each once', { timeout: 5000 }, async () => {
  const server = new FakeServer({ latencyMs: 10 });
  const { file, sha256 } = fileOf(30 * CHUNK);
  const session = sessionFor(file, server);
  const ended = session.start();
  await until(session, (s) => s.verifiedChunks >= 2);
  session.pause();
  await until(session, (s) => s.phase === 'paused');
  session.resume();
  assert.equal(session.phase, 'sending');
  const end = await ended;
  assert.equal(end.phase, 'done', end.error);
  assert.equal(end.sha256, sha256);
  assert.deepEqual([...server.puts].sort((a, b) => a - b), [...Array(30).keys()], 'every chunk sent exactly once');
});

test('a resume right after a pause, before the pause took effect, still sends every chunk once', { timeout: 5000 }, async () => {
  const server = new FakeServer({ latencyMs: 5 });
  const { file, sha256 } = fileOf(15 * CHUNK);
  const session = sessionFor(file, server);
  const ended = session.start();
  await until(session, (s) => s.verifiedChunks >= 1);
  session.pause();
  session.resume();
  const end = await ended;
  assert.equal(end.phase, 'done', end.error);
  assert.equal(end.sha256, sha256);
  assert.deepEqual([...server.puts].sort((a, b) => a - b), [...Array(15).keys()]);
});

test('a chunk refused with a retryable problem is retried, said in a note, and the upload completes', { timeout: 5000 }, async () => {
  const server = new FakeServer();
  server.refuse(2, 2, 503, 'storage-error');
  const { file, sha256 } = fileOf(5 * CHUNK);
  const session = sessionFor(file, server);
  const notes = [];
  session.on('note', (_snapshot, text) => notes.push(text));
  const end = await session.start();
  assert.equal(end.phase, 'done', end.error);
  assert.equal(end.sha256, sha256);
  assert.equal(count(server.puts, 2), 3, 'two refusals, then the chunk arrived');
  assert.equal(end.chunks[2].attempts, 3);
  assert.equal(notes.length, 2);
  assert.match(notes[0], /Trying chunk 3 again in \d\.\d s \(attempt 2 of 5\)/);
  assert.equal(end.note, '', 'the note is gone once the upload is done');
});

test('a chunk refused on every attempt fails the upload after five attempts, in words', { timeout: 5000 }, async () => {
  const server = new FakeServer();
  server.refuse(1, Infinity, 500, 'storage-error');
  const storage = new MapStorage();
  const { file } = fileOf(4 * CHUNK);
  const end = await sessionFor(file, server, { storage }).start();
  assert.equal(end.phase, 'failed');
  assert.equal(count(server.puts, 1), 5);
  assert.equal(end.chunks[1].state, 'failed');
  assert.match(end.error, /could not read or write its disk.*Gave up on chunk 2 after 5 attempts\./);
  assert.equal(end.problem, 'storage-error');
  assert.notEqual(new ResumeMemory(storage).recall(file), null, 'the upload is still remembered, to resume once the server recovers');
});

test('a 409 chunk-busy is retried until the server has finished the earlier attempt', { timeout: 5000 }, async () => {
  const server = new FakeServer();
  server.refuse(0, 1, 409, 'chunk-busy');
  const { file } = fileOf(3 * CHUNK);
  const end = await sessionFor(file, server).start();
  assert.equal(end.phase, 'done', end.error);
  assert.equal(count(server.puts, 0), 2);
});

test('a 409 chunk-conflict stops the upload at once and forgets it', { timeout: 5000 }, async () => {
  const server = new FakeServer({ latencyMs: 5 });
  server.refuse(0, 1, 409, 'chunk-conflict');
  const storage = new MapStorage();
  const log = {};
  const { file } = fileOf(20 * CHUNK);
  const end = await sessionFor(file, server, { storage, hasher: sliceHasher(log) }).start();
  assert.equal(end.phase, 'failed');
  assert.equal(end.problem, 'chunk-conflict');
  assert.match(end.error, /already holds different bytes for chunk 1/);
  assert.equal(count(server.puts, 0), 1, 'not retried');
  assert.equal(new ResumeMemory(storage).recall(file), null, 'forgotten: choosing the file again starts a new upload');
  assert.ok(log.signal.aborted, 'the hashing was stopped');
  await sleep(30);
  assert.ok(server.puts.length < 20, 'the chunks still waiting were not sent');
});

test('a file changed on disk during the upload (its slice cannot be read) fails in words and stops everything', { timeout: 5000 }, async () => {
  const server = new FakeServer({ latencyMs: 5 });
  const { file: real } = fileOf(20 * CHUNK);
  let reads = 0;
  const file = {
    name: real.name, size: real.size, type: '', lastModified: real.lastModified,
    slice(start, end) {
      return {
        async arrayBuffer() {
          if (++reads > 4) throw new DOMException('the file changed', 'NotReadableError');
          return real.slice(start, end).arrayBuffer();
        },
      };
    },
  };
  const log = {};
  const end = await sessionFor(file, server, { hasher: sliceHasher(log) }).start();
  assert.equal(end.phase, 'failed');
  assert.match(end.error, /could not be read any more: it was changed, moved or deleted after it was chosen\. Choose it again\./);
  assert.ok(log.signal.aborted, 'the hashing was stopped');
  await sleep(30);
  assert.ok(server.puts.length <= 4, 'no chunk sent after the failed read');
  assert.equal(server.upload(end.path).sha256, null, 'never completed');
});

test('a file whose bytes changed after they were hashed is refused at completion and forgotten', { timeout: 5000 }, async () => {
  const server = new FakeServer();
  const storage = new MapStorage();
  const { file } = fileOf(6 * CHUNK);
  const other = bytesOf(6 * CHUNK, 99);
  const stale = new Sha256().update(other).digest();
  const end = await sessionFor(file, server, { storage, hasher: async () => ({ hex: toHex(stale), base64: toBase64(stale) }) }).start();
  assert.equal(end.phase, 'failed');
  assert.equal(end.problem, 'sha256-mismatch');
  assert.match(end.error, /does not have the SHA-256 this page computed/);
  assert.equal(new ResumeMemory(storage).recall(file), null);
});

test('a resume after a reload reuses the stored upload and sends only the missing chunks', { timeout: 5000 }, async () => {
  const server = new FakeServer({ latencyMs: 10 });
  const storage = new MapStorage();
  const { file, sha256 } = fileOf(25 * CHUNK + 300);
  const first = sessionFor(file, server, { storage });
  first.start();
  await until(first, (s) => s.verifiedChunks >= 3);
  first.pause();
  const paused = await until(first, (s) => s.phase === 'paused');
  const had = [...server.upload(paused.path).chunks.keys()];

  // The reload: a new page, its own queue; only the storage (and the server) remain.
  const putsBefore = server.puts.length;
  const second = sessionFor(file, server, { storage });
  const end = await second.start();
  assert.equal(end.phase, 'done', end.error);
  assert.equal(end.path, paused.path, 'the same upload');
  assert.equal(server.created, 1, 'no new upload was created');
  const resent = server.puts.slice(putsBefore);
  assert.equal(resent.length, 26 - had.length);
  assert.ok(resent.every((index) => !had.includes(index)), 'no chunk the server had was sent again');
  assert.equal(end.sentChunks, 26 - had.length);
  assert.equal(end.resumedWith, had.length * CHUNK);
  assert.equal(end.sha256, sha256);
});

test('a stored upload the server no longer has is forgotten and a new one created', { timeout: 5000 }, async () => {
  const server = new FakeServer();
  const storage = new MapStorage();
  const { file, sha256 } = fileOf(3 * CHUNK);
  new ResumeMemory(storage).remember(file, '/uploads/expired', CHUNK);
  const end = await sessionFor(file, server, { storage }).start();
  assert.equal(end.phase, 'done', end.error);
  assert.notEqual(end.path, '/uploads/expired');
  assert.equal(server.created, 1);
  assert.equal(new ResumeMemory(storage).recall(file).path, end.path, 'the new upload is remembered');
  assert.equal(end.sha256, sha256);
});

test('an upload already complete on the server is confirmed without sending a chunk', { timeout: 5000 }, async () => {
  const server = new FakeServer();
  const storage = new MapStorage();
  const { file, sha256 } = fileOf(4 * CHUNK);
  await sessionFor(file, server, { storage }).start();
  const putsBefore = server.puts.length;
  const end = await sessionFor(file, server, { storage }).start();
  assert.equal(end.phase, 'done', end.error);
  assert.equal(end.alreadyComplete, true);
  assert.equal(end.sha256, sha256);
  assert.equal(server.puts.length, putsBefore);
});

test('another file completed under the same name, size and date is refused and forgotten', { timeout: 5000 }, async () => {
  const server = new FakeServer();
  const storage = new MapStorage();
  await sessionFor(fileOf(4 * CHUNK, { seed: 1 }).file, server, { storage }).start();
  const { file: lookalike } = fileOf(4 * CHUNK, { seed: 2 });
  const end = await sessionFor(lookalike, server, { storage }).start();
  assert.equal(end.phase, 'failed');
  assert.match(end.error, /holds a different file under this upload/);
  assert.equal(new ResumeMemory(storage).recall(lookalike), null);
});

test('chunks the server lost since they were sent are sent again when complete says so', { timeout: 5000 }, async () => {
  const server = new FakeServer();
  let completions = 0;
  server.onComplete = (upload) => {
    if (++completions === 1) upload.chunks.delete(2);
  };
  const { file, sha256 } = fileOf(5 * CHUNK);
  const end = await sessionFor(file, server).start();
  assert.equal(end.phase, 'done', end.error);
  assert.equal(completions, 2);
  assert.equal(count(server.puts, 2), 2);
  assert.equal(end.sha256, sha256);
});

test('an empty file is completed with no chunk sent', { timeout: 5000 }, async () => {
  const server = new FakeServer();
  const { file, sha256 } = fileOf(0);
  const end = await sessionFor(file, server).start();
  assert.equal(end.phase, 'done', end.error);
  assert.equal(end.chunkCount, 0);
  assert.equal(server.puts.length, 0);
  assert.equal(end.sha256, sha256);
});

test('the phases go starting, sending, hashing, completing, done, and progress only grows', { timeout: 5000 }, async () => {
  const server = new FakeServer();
  const { file } = fileOf(6 * CHUNK);
  const session = sessionFor(file, server);
  const phases = [];
  const verified = [];
  session.on('phase', (_snapshot, phase) => phases.push(phase));
  session.on('progress', (snapshot) => verified.push(snapshot.verifiedBytes));
  await session.start();
  assert.deepEqual(phases, ['sending', 'hashing', 'completing', 'done']);
  assert.ok(verified.every((bytes, i) => i === 0 || bytes >= verified[i - 1]));
  assert.equal(verified.at(-1), file.size);
});

test('a listener that throws does not stop the upload', { timeout: 5000 }, async () => {
  const server = new FakeServer();
  const { file } = fileOf(2 * CHUNK);
  const session = sessionFor(file, server);
  const thrown = [];
  globalThis.reportError = (error) => thrown.push(error); // as browsers have it
  try {
    session.on('change', () => {
      throw new Error('a broken view');
    });
    const end = await session.start();
    assert.equal(end.phase, 'done', end.error);
    assert.ok(thrown.length > 0 && thrown.every((error) => error.message === 'a broken view'));
  } finally {
    delete globalThis.reportError;
  }
});

test('start twice is one upload', { timeout: 5000 }, async () => {
  const server = new FakeServer();
  const session = sessionFor(fileOf(2 * CHUNK).file, server);
  const [a, b] = await Promise.all([session.start(), session.start()]);
  assert.equal(a, b);
  assert.equal(server.created, 1);
  assert.equal(server.puts.length, 2);
});

test('a refusal that is not worth retrying says what to do (no token)', { timeout: 5000 }, async () => {
  const server = new FakeServer();
  server.create = async () => { throw await refusal(401, 'unauthorized'); };
  const end = await sessionFor(fileOf(CHUNK).file, server).start();
  assert.equal(end.phase, 'failed');
  assert.ok(end.error.includes('access token'));
  assert.ok(new UploadProblem('x') instanceof Error);
});
