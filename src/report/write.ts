import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Report } from './schema.js';
import { renderMarkdown } from './render-md.js';
import { renderHtml } from './render-html.js';

export async function writeReport(outDir: string, report: Report): Promise<{ dir: string; json: string; md: string; html: string }> {
  const dir = path.resolve(outDir, report.runId);
  await mkdir(dir, { recursive: true });
  const json = path.join(dir, 'report.json');
  const md = path.join(dir, 'report.md');
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(md, renderMarkdown(report));
  const html = path.join(dir, 'report.html');
  await writeFile(html, renderHtml(report));
  return { dir, json, md, html };
}
