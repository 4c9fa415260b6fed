// Every module of the page loads: its syntax parses and every name it imports is exported by the
// module it names (main.js, which starts the page, is loaded by the browser tests instead).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';

const MODULES = new URL('../../crates/hongbao-http/assets/js/', import.meta.url);

test('every module links', async () => {
  const files = readdirSync(MODULES).filter(name => name.endsWith('.js') && name !== 'main.js');
  assert.ok(files.length > 20, `${files.length} modules`);
  for (const file of files) {
    await assert.doesNotReject(import(new URL(file, MODULES).href), file);
  }
});
