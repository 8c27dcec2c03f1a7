// Extracts the TypeScript code blocks of Markdown files for the docs test.
//
// A block is a fence opened by ```ts or ```typescript. The last non-blank line before the fence may
// be a marker comment, invisible when the Markdown is rendered:
//
//   <!-- docs-check: continue -->  the block continues the previous block of the same file (one
//                                  program: imports and names are shared)
//   <!-- docs-check: postgres -->  needs a PostgreSQL server: always type-checked, run only when
//                                  STABILIZE_TEST_PG_URL is set (the block reads DATABASE_URL)
//   <!-- docs-check: vitest -->    a test file: run with `vitest run` instead of `node`
//
// Flags combine (`continue postgres`). There is no way to skip a block altogether.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export type BlockFlag = 'continue' | 'postgres' | 'vitest';
const FLAGS: readonly BlockFlag[] = ['continue', 'postgres', 'vitest'];

export interface CodeBlock {
  /** Markdown file, relative to the repository root. */
  doc: string;
  /** 1-based line of the first code line in the Markdown file. */
  line: number;
  code: string;
  flags: Set<BlockFlag>;
}

/** One program: a block plus the blocks that continue it. */
export interface Program {
  doc: string;
  line: number;
  /** Stable file name (without extension) for the generated source. */
  name: string;
  code: string;
  /** Markdown line of each generated line (index 0 = generated line 1); 0 for lines we added. */
  docLines: number[];
  postgres: boolean;
  vitest: boolean;
}

const FENCE_OPEN = /^```(ts|typescript)\s*$/;
const FENCE_ANY = /^```/;
const MARKER = /^<!--\s*docs-check:\s*([^>]*?)\s*-->$/;

export function extractBlocks(root: string, doc: string): CodeBlock[] {
  const lines = readFileSync(join(root, doc), 'utf8').split('\n');
  const blocks: CodeBlock[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (!FENCE_ANY.test(line.trim())) {
      i++;
      continue;
    }
    const isTs = FENCE_OPEN.test(line.trim());
    const start = i + 1;
    let end = start;
    while (end < lines.length && !FENCE_ANY.test(lines[end]!.trim())) end++;
    if (isTs) {
      const flags = new Set<BlockFlag>();
      let previous = i - 1;
      while (previous >= 0 && lines[previous]!.trim() === '') previous--;
      const marker = previous >= 0 ? MARKER.exec(lines[previous]!.trim()) : null;
      if (marker) {
        for (const word of marker[1]!.split(/\s+/).filter(Boolean)) {
          if (!FLAGS.includes(word as BlockFlag)) throw new Error(`${doc}:${previous + 1}: unknown docs-check flag '${word}' (known: ${FLAGS.join(', ')})`);
          flags.add(word as BlockFlag);
        }
      }
      blocks.push({ doc, line: start + 1, code: lines.slice(start, end).join('\n'), flags });
    }
    i = end + 1;
  }
  return blocks;
}

/** Joins continued blocks into programs. */
export function toPrograms(blocks: readonly CodeBlock[]): Program[] {
  const programs: Program[] = [];
  for (const block of blocks) {
    const blockLines = block.code.split('\n');
    const docLines = blockLines.map((_, k) => block.line + k);
    const last = programs[programs.length - 1];
    if (block.flags.has('continue')) {
      if (!last || last.doc !== block.doc) throw new Error(`${block.doc}:${block.line}: 'continue' block has no previous block in the same file`);
      last.code += `\n${block.code}`;
      last.docLines.push(...docLines);
      last.postgres ||= block.flags.has('postgres');
      last.vitest ||= block.flags.has('vitest');
      continue;
    }
    const name = `${block.doc.replace(/\.md$/i, '').replace(/[^A-Za-z0-9]+/g, '_')}_L${block.line}`;
    programs.push({ doc: block.doc, line: block.line, name, code: block.code, docLines, postgres: block.flags.has('postgres'), vitest: block.flags.has('vitest') });
  }
  return programs;
}

/** README.md, docs/*.md and the READMEs of the workspace packages, relative to `root`. */
export function markdownSources(root: string): string[] {
  const files = ['README.md'];
  const inDir = (dir: string, filter: (name: string) => boolean) => {
    try {
      return readdirSync(join(root, dir)).filter(filter).sort().map((name) => join(dir, name));
    } catch {
      return [];
    }
  };
  files.push(...inDir('docs', (n) => n.endsWith('.md')));
  for (const group of ['packages', 'apps']) {
    for (const pkg of inDir(group, () => true)) files.push(...inDir(pkg, (n) => n === 'README.md'));
  }
  return files.map((f) => relative(root, join(root, f)));
}
