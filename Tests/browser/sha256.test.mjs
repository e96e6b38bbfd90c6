// The page's streaming SHA-256 (Sources/UploadKit/Web/sha256.js) against
// NIST's vectors and against node's OpenSSL, one-shot and fed in pieces split
// at every awkward boundary. Run: node Tests/browser/sha256.test.mjs
import { createHash, randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { loadWeb } from './load-web.mjs';

const { Sha256, sha256, toHex, toBase64, fromBase64 } = await loadWeb('sha256.js');

let failures = 0;
function check(name, body) {
  try {
    body();
    console.log(`ok   ${name}`);
  } catch (error) {
    failures++;
    console.log(`FAIL ${name}\n     ${error.message.split('\n').join('\n     ')}`);
  }
}

const ascii = (text) => new TextEncoder().encode(text);
const openssl = (bytes) => createHash('sha256').update(bytes).digest('hex');

// FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA2_Additional.pdf").
const vectors = [
  ['empty', ascii(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
  ['"abc"', ascii('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
  ['448-bit message', ascii('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'],
  ['896-bit message', ascii('abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu'),
    'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1'],
  ['one million "a"', new Uint8Array(1_000_000).fill(0x61),
    'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0'],
];

for (const [name, message, expected] of vectors) {
  check(`NIST ${name}, one shot`, () => assert.equal(toHex(sha256(message)), expected));
  check(`NIST ${name}, one byte at a time`, () => {
    const hasher = new Sha256();
    for (let i = 0; i < message.length; i++) hasher.update(message.subarray(i, i + 1));
    assert.equal(toHex(hasher.digest()), expected);
  });
}

check('one million "a" fed as 1000 x 1000 bytes', () => {
  const hasher = new Sha256();
  const thousand = new Uint8Array(1000).fill(0x61);
  for (let i = 0; i < 1000; i++) hasher.update(thousand);
  assert.equal(toHex(hasher.digest()), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
});

// Every length around the padding boundaries (55/56 bytes decide whether the
// length fits in the last block) and the block size.
check('lengths 0..300 equal OpenSSL', () => {
  const data = randomBytes(300);
  for (let n = 0; n <= 300; n++) {
    assert.equal(toHex(sha256(data.subarray(0, n))), openssl(data.subarray(0, n)), `length ${n}`);
  }
});

// Incremental equals one shot, whatever the split.
const piecesOf = [1, 2, 3, 55, 56, 57, 63, 64, 65, 127, 128, 129, 1000, 4096 + 7];
const data = new Uint8Array(randomBytes(200_003));
const expected = openssl(data);
for (const size of piecesOf) {
  check(`200003 random bytes in pieces of ${size} equal one shot`, () => {
    const hasher = new Sha256();
    for (let offset = 0; offset < data.length; offset += size) hasher.update(data.subarray(offset, offset + size));
    assert.equal(toHex(hasher.digest()), expected);
  });
}
check('200003 random bytes in pieces of varying odd sizes (1, 63, 64, 65, ...) equal one shot', () => {
  const sizes = [1, 63, 64, 65, 0, 7, 128, 191, 4093, 1];
  const hasher = new Sha256();
  let offset = 0;
  for (let i = 0; offset < data.length; i++) {
    const size = sizes[i % sizes.length];
    hasher.update(data.subarray(offset, offset + size));
    offset += size;
  }
  assert.equal(toHex(hasher.digest()), expected);
});

check('the caller may reuse its buffer after update', () => {
  const hasher = new Sha256();
  const buffer = new Uint8Array(100);
  buffer.set(data.subarray(0, 100));
  hasher.update(buffer);
  buffer.set(data.subarray(100, 200));
  hasher.update(buffer);
  assert.equal(toHex(hasher.digest()), openssl(data.subarray(0, 200)));
});

check('update or digest after digest throws', () => {
  const hasher = new Sha256();
  hasher.digest();
  assert.throws(() => hasher.update(new Uint8Array(1)));
  assert.throws(() => hasher.digest());
});

// Past 512 MiB the length in bits needs more than 32 bits: the high word of
// the length field must be right for the files this page is for (5 GiB).
check('600 MiB (bit length over 2^32) equals OpenSSL', () => {
  const block = new Uint8Array(4 << 20);
  for (let i = 0; i < block.length; i++) block[i] = (i * 31 + 7) & 0xff;
  const ours = new Sha256();
  const theirs = createHash('sha256');
  for (let i = 0; i < 150; i++) {
    ours.update(block);
    theirs.update(block);
  }
  ours.update(block.subarray(0, 3));
  theirs.update(block.subarray(0, 3));
  assert.equal(toHex(ours.digest()), theirs.digest('hex'));
});

check('base64 round trip and RFC 9530 form of the empty digest', () => {
  assert.equal(toBase64(sha256(new Uint8Array(0))), '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=');
  const bytes = new Uint8Array(randomBytes(257));
  assert.deepEqual(fromBase64(toBase64(bytes)), bytes);
  assert.equal(toBase64(bytes), Buffer.from(bytes).toString('base64'));
});

if (failures > 0) {
  console.log(`sha256.js: ${failures} failed`);
  process.exit(1);
}
console.log('sha256.js: all passed');
