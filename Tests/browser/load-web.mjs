// Imports the page's ES modules in node. They live in Sources/UploadKit/Web
// with no package.json saying they are modules (SwiftPM embeds the folder as
// it is), so they are copied beside one that does, in a temporary folder.
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const web = fileURLToPath(new URL('../../Sources/UploadKit/Web/', import.meta.url));
const folder = mkdtempSync(join(tmpdir(), 'uploadverify-web-'));
writeFileSync(join(folder, 'package.json'), '{"type": "module"}\n');
process.on('exit', () => rmSync(folder, { recursive: true, force: true }));
for (const name of readdirSync(web)) if (name.endsWith('.js')) copyFileSync(join(web, name), join(folder, name));

/** @param {string} name e.g. 'sha256.js' */
export function loadWeb(name) {
  return import(pathToFileURL(join(folder, name)).href);
}
