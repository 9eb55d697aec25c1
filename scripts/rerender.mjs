// Renders report.md and report.html again from a report.json (after a renderer changed): node scripts/rerender.mjs results/<run-id>/report.json
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderMarkdown } from '../dist/src/report/render-md.js';
import { renderHtml } from '../dist/src/report/render-html.js';

for (const file of process.argv.slice(2)) {
  const report = JSON.parse(await readFile(file, 'utf8'));
  const dir = path.dirname(file);
  await writeFile(path.join(dir, 'report.md'), renderMarkdown(report));
  await writeFile(path.join(dir, 'report.html'), renderHtml(report));
  process.stderr.write(`rendered ${dir}/report.md and report.html\n`);
}
