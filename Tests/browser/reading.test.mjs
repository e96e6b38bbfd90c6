// How the page reads a file to hash it (hashing.js: readInto, readThrough,
// BufferPool), in node, whose Blob.stream() is a byte stream as Chromium's
// is: the bytes come out right, through buffers that go round instead of new
// ones per read (issue #16), and a file that cannot be read says so by name.
// Chromium's memory itself is measured in test_browser_uploader.py.
// Run: node --test Tests/browser/reading.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadWeb } from './load-web.mjs';

const { BufferPool, readInto, readThrough } = await loadWeb('hashing.js');

/** Reproducible bytes. */
function bytesOf(size, seed = 1) {
  const bytes = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

/** A Blob whose byte stream gives `good` bytes of `size`, then fails as Chromium's does for a changed file. */
function failingBlob(size, good) {
  return {
    size,
    stream: () => new ReadableStream({
      type: 'bytes',
      pull(controller) {
        const request = /** @type {ReadableStreamBYOBRequest} */ (controller.byobRequest);
        if (good > 0) {
          const view = /** @type {Uint8Array} */ (request.view);
          const n = Math.min(good, view.byteLength);
          good -= n;
          request.respond(n);
        } else {
          controller.error(new TypeError('network error'));
        }
      },
    }),
  };
}

/** A Blob whose stream ends after `given` of its `size` bytes. */
function shortBlob(size, given) {
  return {
    size,
    stream: () => new Blob([new Uint8Array(given)]).stream(),
  };
}

test('readInto reads a slice into the buffer given, which then holds it', async () => {
  const bytes = bytesOf(100_000);
  const file = new Blob([bytes]);
  const buffer = new ArrayBuffer(64 * 1024);
  const view = await readInto(file.slice(1000, 1000 + 40_000), buffer);
  assert.equal(view.byteLength, 40_000);
  assert.equal(view.byteOffset, 0);
  assert.deepEqual(view, bytes.subarray(1000, 41_000));
  assert.equal(view.buffer.byteLength, 64 * 1024, 'the same memory, not a buffer of the slice\'s size');
  assert.equal(buffer.byteLength, 0, 'the buffer given was moved (detached), not copied');
});

test('chunks read through a pool reuse its buffers: none is made per chunk', async () => {
  const chunk = 8192;
  const bytes = bytesOf(20 * chunk + 17);
  const file = new Blob([bytes]);
  const pool = new BufferPool();
  let made = 0;
  const take = pool.take.bind(pool);
  // take() made a new buffer when its free list did not shrink.
  pool.take = (size) => {
    const before = pool.free.length;
    const buffer = take(size);
    if (pool.free.length === before) made++;
    return buffer;
  };
  // Three at a time, as the queue sends them.
  for (let first = 0; first < 21; first += 3) {
    await Promise.all([first, first + 1, first + 2].filter((i) => i < 21).map(async (index) => {
      const start = index * chunk;
      const end = Math.min(start + chunk, bytes.length);
      let buffer = pool.take(end - start);
      try {
        const view = await readInto(file.slice(start, end), buffer);
        buffer = view.buffer;
        assert.deepEqual(view, bytes.subarray(start, end), `chunk ${index}`);
      } finally {
        pool.give(buffer);
      }
    }));
  }
  assert.equal(made, 3, 'one buffer per chunk in flight, for 21 chunks');
  assert.equal(pool.free.length, 3);
});

test('readInto without a byte stream (a stand-in for a File) copies into the buffer given', async () => {
  const bytes = bytesOf(5000);
  const standIn = { arrayBuffer: async () => bytes.slice().buffer };
  const buffer = new ArrayBuffer(8192);
  const view = await readInto(standIn, buffer);
  assert.equal(view.buffer, buffer);
  assert.deepEqual(view, bytes);
});

test('readThrough hands over the whole file in order, through one buffer', async () => {
  const bytes = bytesOf(300_001);
  const got = [];
  const sizes = new Set();
  await readThrough(new Blob([bytes]), 65_536, (view) => {
    got.push(view.slice());
    sizes.add(view.buffer.byteLength);
  });
  assert.deepEqual(Buffer.concat(got), Buffer.from(bytes));
  assert.deepEqual([...sizes], [65_536], 'every read lands in a buffer of the slice size');
});

test('readThrough without a byte stream reads slices, in order', async () => {
  const bytes = bytesOf(10_000);
  const real = new Blob([bytes]);
  const standIn = { size: real.size, slice: (start, end) => real.slice(start, end) };
  const got = [];
  await readThrough(standIn, 4096, (view) => got.push(view.slice()));
  assert.deepEqual(got.map((view) => view.length), [4096, 4096, 1808]);
  assert.deepEqual(Buffer.concat(got), Buffer.from(bytes));
});

test('a file that fails while read is NotReadableError, as arrayBuffer() says it', async () => {
  await assert.rejects(readInto(failingBlob(10_000, 3000), new ArrayBuffer(10_000)), { name: 'NotReadableError' });
  await assert.rejects(readThrough(failingBlob(10_000, 3000), 4096, () => {}), { name: 'NotReadableError' });
});

test('a file shorter than it said is NotReadableError', async () => {
  await assert.rejects(readInto(shortBlob(10_000, 6000), new ArrayBuffer(10_000)), { name: 'NotReadableError', message: /shorter/ });
  await assert.rejects(readThrough(shortBlob(10_000, 6000), 4096, () => {}), { name: 'NotReadableError', message: /shorter/ });
});

test('the pool gives the smallest buffer that fits, drops detached ones, and keeps at most its bound', () => {
  const pool = new BufferPool(2);
  const small = new ArrayBuffer(10);
  const large = new ArrayBuffer(100);
  pool.give(large);
  pool.give(small);
  assert.equal(pool.take(5), small);
  assert.equal(pool.take(50), large);
  assert.equal(pool.take(500).byteLength, 500, 'none fits: a new one');
  const detached = new ArrayBuffer(10);
  structuredClone(detached, { transfer: [detached] });
  pool.give(detached);
  assert.equal(pool.free.length, 0);
  pool.give(new ArrayBuffer(1));
  pool.give(new ArrayBuffer(3));
  pool.give(new ArrayBuffer(2));
  assert.deepEqual(pool.free.map((buffer) => buffer.byteLength).sort(), [2, 3], 'past the bound, the smallest goes');
});
