// uploadverify's browser engine as one ES module, for this server's page and
// for an application's own: import { UploadSession } from '/web/uploadverify.js'.
// A session uploads one File (create or resume, chunks through a bounded
// queue with retries, the whole file's SHA-256, complete) and says every step
// through events; it draws nothing. The shapes are in types.d.ts
// (UploadSessionOptions, UploadSnapshot, UploadSessionEvents, …).

export { UploadSession, FORGET_AFTER } from './upload-session.js';
export { UploadClient, UploadProblem, hasChunk, parseHandshake, problemOf, readFailure, sha256OfField } from './protocol.js';
export { WorkerQueue, QueueRemovedError } from './worker-queue.js';
export { workerHasher, chunkDigester, HASH_SLICE } from './hashing.js';
export { ResumeMemory } from './resume-memory.js';
