#!/usr/bin/env node
// Thin launcher: the CLI is compiled by `npm ci` (prepare → tsc) into dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const entry = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url));
if (!existsSync(entry)) {
  process.stderr.write('seatlab is not built yet: run `npm ci` (or `npm run build`) in the project folder first.\n');
  process.exit(1);
}
await import(pathToFileURL(entry).href);
