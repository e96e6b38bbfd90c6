// The view's words (upload-view.js), from snapshots, in node: the lines the
// Selenium tests and a person read. The drawing itself needs a DOM: Selenium.
// Run: node --test Tests/browser/upload-view.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadWeb } from './load-web.mjs';

const { words, figures } = await loadWeb('upload-view.js');

const MiB = 1 << 20;
/** A snapshot with plausible defaults; `fields` override them. */
function snapshot(fields = {}) {
  return {
    name: 'file.bin', size: 10 * MiB, phase: 'sending', path: '/uploads/x', chunkSize: MiB, chunkCount: 10, chunks: [],
    verifiedBytes: 0, verifiedChunks: 0, inFlight: 0, hashedBytes: 0, sentChunks: 0, sentBytes: 0, resumedWith: 0,
    rate: 0, elapsedMs: 0, note: '', sha256: null, alreadyComplete: false, error: null, problem: '', ...fields,
  };
}

test('a resumed upload that is done names the SHA-256 and says it was resumed', () => {
  const line = words(snapshot({ phase: 'done', sha256: 'ab12', resumedWith: 4 * MiB }));
  assert.equal(line, "Confirmed: the server's copy has SHA-256 ab12, the same as this file. Resumed: the server already had 4.0 MiB, so only the rest was sent.");
});

test('an upload already complete says so and not that it was resumed', () => {
  assert.match(words(snapshot({ phase: 'done', sha256: 'ab12', alreadyComplete: true, resumedWith: 10 * MiB })), /^Already uploaded\. Confirmed: .*ab12, the same as this file\.$/);
});

test('a retry note replaces the sending line; a failure is the error in words', () => {
  assert.equal(words(snapshot({ note: 'Trying chunk 3 again in 0.5 s (attempt 2 of 5).' })), 'Trying chunk 3 again in 0.5 s (attempt 2 of 5).');
  assert.equal(words(snapshot({ phase: 'failed', error: 'The server wants an access token.' })), 'Not uploaded. The server wants an access token.');
});

test('the figures while sending: bytes, rate and time left, chunks, in flight', () => {
  const line = figures(snapshot({ verifiedBytes: 4 * MiB, verifiedChunks: 4, inFlight: 3, rate: 2 * MiB }));
  assert.equal(line, '4.0 MiB of 10 MiB on the server · 2.0 MiB/s · about 3 s left · 4 of 10 chunks of 1.0 MiB · 3 in flight');
});

test('the figures at the end: what this page sent, in how long, how fast', () => {
  const line = figures(snapshot({ phase: 'done', sentChunks: 6, sentBytes: 6 * MiB, elapsedMs: 3000 }));
  assert.equal(line, '10 MiB on the server · 6 of 10 chunks of 1.0 MiB sent in 3 s · 2.0 MiB/s on average');
});

test('an empty file says there is nothing to send', () => {
  assert.equal(figures(snapshot({ size: 0, chunkCount: 0, phase: 'hashing' })), 'An empty file: no chunks to send, only its SHA-256 to confirm.');
});
