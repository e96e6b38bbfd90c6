// The page's WorkerQueue (worker-queue.js) and its reading of the protocol's
// headers (protocol.js), in node: the bound, the slots kept busy, retries with
// backoff, removal on pause; the handshake bitmap and RFC 9530 fields.
// Run: node Tests/browser/queue-protocol.test.mjs
import assert from 'node:assert/strict';
import { loadWeb } from './load-web.mjs';

const { WorkerQueue, QueueRemovedError } = await loadWeb('worker-queue.js');
// protocol.js reads the page's location only when creating an upload.
const { parseHandshake, hasChunk, sha256OfField, metadata, UploadProblem } = await loadWeb('protocol.js');

let failures = 0;
async function check(name, body) {
  try {
    await body();
    console.log(`ok   ${name}`);
  } catch (error) {
    failures++;
    console.log(`FAIL ${name}\n     ${String(error?.stack ?? error).split('\n').join('\n     ')}`);
  }
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A task that takes `ms` and records how many ran at once. */
function timed(ms, log, result) {
  return {
    async run() {
      log.now++;
      log.max = Math.max(log.max, log.now);
      log.starts.push(Date.now());
      await sleep(typeof ms === 'function' ? ms() : ms);
      log.now--;
      return result;
    },
    retryable: () => false,
  };
}

await check('never more than 3 at once, and 3 at once while work remains', async () => {
  const queue = new WorkerQueue({ concurrency: 3 });
  const log = { now: 0, max: 0, starts: [] };
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => queue.push(timed(() => 5 + (i % 4) * 3, log, i))));
  assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i));
  assert.equal(log.max, 3);
  assert.equal(queue.maxRunning, 3);
  assert.equal(queue.running, 0);
});

await check('a finished task frees its slot at once (the next starts without waiting for the others)', async () => {
  const queue = new WorkerQueue({ concurrency: 2 });
  const log = { now: 0, max: 0, starts: [] };
  const long = queue.push(timed(200, log));
  const shorts = Promise.all([1, 2, 3, 4].map(() => queue.push(timed(10, log))));
  const begun = Date.now();
  await shorts;
  assert.ok(Date.now() - begun < 150, 'four short tasks ran beside the long one');
  await long;
});

await check('concurrency 1 is one by one; setConcurrency widens at once', async () => {
  const queue = new WorkerQueue({ concurrency: 1 });
  const log = { now: 0, max: 0, starts: [] };
  const all = Array.from({ length: 6 }, () => queue.push(timed(10, log)));
  assert.equal(queue.running, 1);
  queue.setConcurrency(4);
  assert.equal(queue.running, 4);
  await Promise.all(all);
  assert.equal(log.max, 4);
});

await check('a retryable failure is retried with doubling backoff, then succeeds', async () => {
  const queue = new WorkerQueue({ concurrency: 3, retry: { attempts: 5, baseDelayMs: 20, maxDelayMs: 1000 } });
  const times = [];
  const delays = [];
  const value = await queue.push({
    async run(attempt) {
      times.push(Date.now());
      if (attempt < 4) throw new Error('busy');
      return 'ok';
    },
    retryable: () => true,
    onRetry: (_error, attempt, delay) => delays.push([attempt, delay]),
  });
  assert.equal(value, 'ok');
  assert.equal(times.length, 4);
  assert.deepEqual(delays.map(([attempt]) => attempt), [2, 3, 4]);
  // 20, 40, 80 ms give or take 10% jitter.
  delays.forEach(([, delay], i) => assert.ok(Math.abs(delay - 20 * 2 ** i) <= 2 * 2 ** i + 1, `delay ${delay}`));
  for (let i = 1; i < times.length; i++) assert.ok(times[i] - times[i - 1] >= delays[i - 1][1] - 2);
});

await check('retries stop after the last attempt, with the last error', async () => {
  const queue = new WorkerQueue({ retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
  let runs = 0;
  await assert.rejects(queue.push({ run: async () => { runs++; throw new Error(`failure ${runs}`); }, retryable: () => true }), /failure 3/);
  assert.equal(runs, 3);
});

await check('a failure that is not retryable rejects at once', async () => {
  const queue = new WorkerQueue({ retry: { attempts: 5, baseDelayMs: 1, maxDelayMs: 2 } });
  let runs = 0;
  await assert.rejects(queue.push({ run: async () => { runs++; throw new Error('conflict'); }, retryable: () => false }), /conflict/);
  assert.equal(runs, 1);
});

await check('a task backing off leaves its slot to the others', async () => {
  const queue = new WorkerQueue({ concurrency: 1, retry: { attempts: 2, baseDelayMs: 100, maxDelayMs: 100 } });
  const order = [];
  let first = true;
  const failing = queue.push({
    async run() {
      order.push('flaky');
      if (first) { first = false; throw new Error('busy'); }
    },
    retryable: () => true,
  });
  const other = queue.push({ async run() { order.push('other'); }, retryable: () => false });
  await Promise.all([failing, other]);
  assert.deepEqual(order, ['flaky', 'other', 'flaky']);
});

await check('remove drops waiting tasks (pause) and running ones finish', async () => {
  const queue = new WorkerQueue({ concurrency: 2 });
  const log = { now: 0, max: 0, starts: [] };
  const mine = {};
  const tasks = Array.from({ length: 6 }, () => ({ ...timed(20, log, 'done'), owner: mine }));
  const settled = tasks.map((task) => queue.push(task).then((v) => v, (e) => e));
  assert.equal(queue.remove((task) => task.owner === mine), 4);
  const results = await Promise.all(settled);
  assert.deepEqual(results.slice(0, 2), ['done', 'done']);
  for (const result of results.slice(2)) assert.ok(result instanceof QueueRemovedError);
  assert.equal(queue.waiting, 0);
});

await check('remove also drops a task waiting out its backoff', async () => {
  const queue = new WorkerQueue({ retry: { attempts: 5, baseDelayMs: 10_000, maxDelayMs: 10_000 } });
  let runs = 0;
  const owner = {};
  const pending = queue.push({ owner, run: async () => { runs++; throw new Error('busy'); }, retryable: () => true });
  await sleep(10);
  assert.equal(queue.waiting, 1);
  assert.equal(queue.remove((task) => task.owner === owner), 1);
  await assert.rejects(pending, QueueRemovedError);
  assert.equal(runs, 1);
});

await check('the handshake bitmap: most significant bit of byte 0 is chunk 0', () => {
  // chunks 0, 1 and 9 of 11: 0b11000000 0b01000000
  const headers = new Headers({
    'Upload-Length': String(10 * 65536 + 5), 'Upload-Chunk-Size': '65536', 'Upload-Offset': '131072',
    'Upload-Received': '196608', 'Upload-Chunks': ':wEA=:', 'Upload-Complete': '?0',
  });
  const status = parseHandshake(headers);
  assert.equal(status.chunkCount, 11);
  assert.deepEqual([...Array(11).keys()].filter((i) => hasChunk(status.bitmap, i)), [0, 1, 9]);
  assert.equal(status.complete, false);
  assert.equal(status.sha256, null);
});

await check('a complete handshake and an empty upload', () => {
  const status = parseHandshake(new Headers({
    'Upload-Length': '0', 'Upload-Chunk-Size': '8388608', 'Upload-Offset': '0', 'Upload-Received': '0',
    'Upload-Chunks': '::', 'Upload-Complete': '?1', 'Repr-Digest': 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:',
  }));
  assert.equal(status.chunkCount, 0);
  assert.equal(status.complete, true);
  assert.equal(status.sha256, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

await check('a handshake without a bitmap is refused in words', () => {
  assert.throws(() => parseHandshake(new Headers({ 'Upload-Length': '1', 'Upload-Chunk-Size': '65536', 'Upload-Offset': '0', 'Upload-Received': '0' })),
    (error) => error instanceof UploadProblem && /bitmap/.test(error.message));
});

await check('sha-256 among other digest members', () => {
  assert.equal(sha256OfField('xxh3=:AAAAAAAAAAA=:, sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:'),
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(sha256OfField('xxh3=:AAAAAAAAAAA=:'), null);
  assert.equal(sha256OfField(null), null);
});

await check('Upload-Metadata: base64 of the UTF-8 name', () => {
  assert.equal(metadata({ filename: 'été.txt', filetype: '' }), `filename ${Buffer.from('été.txt').toString('base64')},filetype`);
});

if (failures > 0) {
  console.log(`worker-queue.js, protocol.js: ${failures} failed`);
  process.exit(1);
}
console.log('worker-queue.js, protocol.js: all passed');
