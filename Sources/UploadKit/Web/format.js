// Sizes and durations for people, and `?chunkSize=` as the CLI reads sizes.
// Pure: the view and the page's wiring both use it, and node can test it.

/** @param {number} bytes */
export function formatBytes(bytes) {
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
export function formatDuration(seconds) {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/**
 * `?chunkSize=` as bytes: digits with an optional unit (KiB, MiB, …), as the CLI takes it.
 * @param {string | null} text
 * @returns {number | null}
 */
export function parseSize(text) {
  const match = /^(\d+)\s*(b|k|kib|m|mib|g|gib|kb|mb|gb)?$/i.exec(text?.trim() ?? '');
  if (!match) return null;
  /** @type {Record<string, number>} */
  const units = { b: 1, k: 1024, kib: 1024, m: 1 << 20, mib: 1 << 20, g: 1 << 30, gib: 1 << 30, kb: 1e3, mb: 1e6, gb: 1e9 };
  return Number(match[1]) * units[(match[2] ?? 'b').toLowerCase()];
}
