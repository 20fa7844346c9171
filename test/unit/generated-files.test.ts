/** The files generated from the configuration schema are never stale (`npm run generate` rewrites them). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generatedFiles } from '../../src/config/generated-files.js';

describe('files generated from src/config/schema.ts and items.ts', () => {
  it.each(Object.entries(generatedFiles(process.cwd())))('%s is up to date (run `npm run generate`)', (path, content) => {
    expect(readFileSync(path, 'utf8'), `${path} is stale: run npm run generate`).toBe(content);
  });
});
