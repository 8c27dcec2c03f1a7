#!/usr/bin/env node
// Launcher of the `stabilize` binary.
// - In a development checkout (src/bin.ts present and tsx installed) it runs the TypeScript sources:
//   tsx compiles them on the fly and the `@stabilize/source` export condition makes every workspace
//   package resolve to its src/ too, so nothing needs building.
// - Otherwise (an installed package) it runs the build, dist/bin.js.
// STABILIZE_CLI_FROM=dist|source forces one of the two.
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const source = new URL('../src/bin.ts', import.meta.url);
const built = new URL('../dist/bin.js', import.meta.url);
const wanted = process.env.STABILIZE_CLI_FROM;

async function loadTsx() {
  try {
    return await import('tsx/esm/api');
  } catch {
    return null;
  }
}

const tsx = wanted === 'dist' || !existsSync(source) ? null : await loadTsx();
if (tsx) {
  tsx.register();
  // Registered last, so it runs first: adds the condition before tsx and Node resolve a specifier.
  register(
    `data:text/javascript,${encodeURIComponent(
      "export async function resolve(specifier, context, next) { return next(specifier, context.conditions.includes('@stabilize/source') ? context : { ...context, conditions: ['@stabilize/source', ...context.conditions] }); }",
    )}`,
  );
  await import(source.href);
} else {
  if (wanted === 'source') {
    process.stderr.write('stabilize: STABILIZE_CLI_FROM=source needs src/bin.ts and the tsx package\n');
    process.exit(1);
  }
  if (!existsSync(built)) {
    process.stderr.write('stabilize: dist/bin.js is missing; run `pnpm build` (or install tsx to run from source)\n');
    process.exit(1);
  }
  await import(built.href);
}
