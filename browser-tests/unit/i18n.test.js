// Chinese and English: the language comes from the browser unless the user chose one, and every text
// the page's modules show has its Chinese translation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { CHINESE } from '../../crates/hongbao-http/assets/js/messages-zh.js';
import { chooseLanguage, fill, translate } from '../../crates/hongbao-http/assets/js/i18n.js';

const MODULES = new URL('../../crates/hongbao-http/assets/js/', import.meta.url);

test('the language follows the browser unless the user chose one', () => {
  assert.equal(chooseLanguage(null, ['zh-CN', 'en']), 'zh');
  assert.equal(chooseLanguage(null, ['zh-TW']), 'zh');
  assert.equal(chooseLanguage(null, ['fr-FR', 'en-GB']), 'en');
  assert.equal(chooseLanguage(null, ['fr-FR']), 'en');
  assert.equal(chooseLanguage('en', ['zh-CN']), 'en');
  assert.equal(chooseLanguage('xx', ['zh-CN']), 'zh');
});

test('texts are filled and translated', () => {
  assert.equal(fill('{name} sent you {amount}', { name: 'Alice', amount: '¥5.00' }), 'Alice sent you ¥5.00');
  assert.equal(fill('{missing} stays', {}), '{missing} stays');
  assert.equal(translate('zh', CHINESE, '{name} sent you {amount}', { name: '小明', amount: '¥5.00' }), '小明 向你转账 ¥5.00');
  assert.equal(translate('en', CHINESE, 'Accept'), 'Accept');
  assert.equal(translate('zh', CHINESE, 'A text nobody translated'), 'A text nobody translated');
});

/** Every text a module passes to t() and the plural form it passes to tn(). */
function textsInModules() {
  const texts = new Set();
  const quoted = String.raw`'((?:[^'\\]|\\.)*)'`;
  const single = new RegExp(String.raw`\bt\(\s*${quoted}`, 'g');
  const plural = new RegExp(String.raw`\btn\(\s*[^,]+,\s*${quoted}\s*,\s*${quoted}`, 'g');
  for (const file of readdirSync(MODULES).filter(name => name.endsWith('.js') && name !== 'messages-zh.js')) {
    const source = readFileSync(new URL(file, MODULES), 'utf8');
    for (const match of source.matchAll(single)) texts.add(match[1].replace(/\\'/g, "'"));
    for (const match of source.matchAll(plural)) texts.add(match[2].replace(/\\'/g, "'"));
  }
  return texts;
}

test('every text of the page has its Chinese translation, with the same parameters', () => {
  const texts = textsInModules();
  assert.ok(texts.size > 300, `found ${texts.size} texts`);
  const missing = [...texts].filter(text => !(text in CHINESE));
  assert.deepEqual(missing, []);
  for (const [english, chinese] of Object.entries(CHINESE)) {
    const parameters = text => [...text.matchAll(/\{(\w+)\}/g)].map(match => match[1]).sort();
    assert.deepEqual(parameters(chinese), parameters(english), `the parameters of "${english}"`);
  }
});
