// What is remembered of an upload so that choosing the same file again (after
// a reload, a crash, a pause) resumes it: its path on the server, keyed by
// what identifies a file without reading it (name, size, modification time).
// Kept in localStorage on the page; any ResumeStorage will do (a Map in tests).

/** @typedef {import('./types').RememberedUpload} RememberedUpload */
/** @typedef {import('./types').ResumeStorage} ResumeStorage */

export class ResumeMemory {
  /** @param {ResumeStorage | null} storage null: remember nothing (every upload is new) */
  constructor(storage) {
    this.storage = storage;
  }

  /** @param {{name: string, size: number, lastModified: number}} file */
  static key(file) {
    return `uploadverify.upload:${file.name}:${file.size}:${file.lastModified}`;
  }

  /**
   * @param {{name: string, size: number, lastModified: number}} file
   * @returns {RememberedUpload | null} null when nothing (or nothing usable) is remembered
   */
  recall(file) {
    try {
      const value = JSON.parse(this.storage?.getItem(ResumeMemory.key(file)) ?? 'null');
      return value && typeof value.path === 'string' && value.size === file.size ? value : null;
    } catch {
      return null;
    }
  }

  /**
   * @param {{name: string, size: number, lastModified: number}} file
   * @param {string} path
   * @param {number} chunkSize
   */
  remember(file, path, chunkSize) {
    /** @type {RememberedUpload} */
    const value = { path, size: file.size, chunkSize, savedAt: new Date().toISOString() };
    try {
      this.storage?.setItem(ResumeMemory.key(file), JSON.stringify(value));
    } catch {
      // A full or forbidden storage costs the resume after a reload, not the upload.
    }
  }

  /** @param {{name: string, size: number, lastModified: number}} file */
  forget(file) {
    try {
      this.storage?.removeItem(ResumeMemory.key(file));
    } catch {
      // As in remember(): nothing to undo.
    }
  }
}
