// Chinese and English. The page's texts are written in English in the code, and `t()` looks each one
// up in the Chinese dictionary when the page speaks Chinese; `{name}` in a text is filled from the
// parameters. The language comes from the browser unless the user chose one with the switch.

import { CHINESE } from './messages-zh.js';

const STORAGE_KEY = 'hongbao.language';
export const LANGUAGES = ['zh', 'en'];

let current = 'en';
const listeners = new Set();

/** The language for a stored choice and the browser's preferred languages: Chinese for any zh-*. */
export function chooseLanguage(stored, browserLanguages) {
  if (LANGUAGES.includes(stored)) return stored;
  for (const language of browserLanguages || []) {
    const primary = String(language).toLowerCase().split('-')[0];
    if (LANGUAGES.includes(primary)) return primary;
  }
  return 'en';
}

/** `template` with each `{name}` replaced by `parameters[name]`. */
export function fill(template, parameters) {
  if (!parameters) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in parameters ? String(parameters[name]) : whole));
}

/** The text in `language`, from `dictionary` (English to Chinese) for Chinese. */
export function translate(language, dictionary, text, parameters) {
  const template = language === 'zh' ? (dictionary[text] ?? text) : text;
  return fill(template, parameters);
}

/** The text in the page's language. */
export function t(text, parameters) {
  return translate(current, CHINESE, text, parameters);
}

/**
 * A text about a number of things: English says `one` for exactly 1 and `many` otherwise; Chinese
 * has one form, the translation of `many`. `{count}` is the number.
 */
export function tn(count, one, many, parameters) {
  const text = current === 'en' && Number(count) === 1 ? one : many;
  return t(text, { count, ...parameters });
}

export function language() {
  return current;
}

/** Sets the language from the stored choice or the browser's, at start. */
export function initLanguage() {
  let stored = null;
  try {
    stored = localStorage.getItem(STORAGE_KEY);
  } catch {
    stored = null;
  }
  current = chooseLanguage(stored, navigator.languages || [navigator.language]);
  document.documentElement.lang = current === 'zh' ? 'zh-CN' : 'en';
  return current;
}

/** The user's choice with the switch: kept in this browser, and every listener re-renders. */
export function setLanguage(next) {
  if (!LANGUAGES.includes(next) || next === current) return;
  current = next;
  localStorage.setItem(STORAGE_KEY, next);
  document.documentElement.lang = next === 'zh' ? 'zh-CN' : 'en';
  for (const listener of listeners) listener(next);
}

/** Called with the new language after each switch; returns a function that stops it. */
export function onLanguageChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
