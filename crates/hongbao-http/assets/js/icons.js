// Icons as inline SVG, drawn with strokes in the current text colour: they need no emoji font and no
// image request, and they scale with the text.

import { svgElement } from './dom.js';

/** Each icon: the SVG elements of a 24×24 drawing. */
const DRAWINGS = {
  chat: [['path', { d: 'M21 12a8 8 0 0 1-11.6 7.1L4 20l1.1-4.6A8 8 0 1 1 21 12z' }]],
  contacts: [['circle', { cx: 9, cy: 8, r: 3.5 }], ['path', { d: 'M2.5 20a6.5 6.5 0 0 1 13 0' }], ['path', { d: 'M16 4.5a3.5 3.5 0 0 1 0 7M18.5 14.5A6.5 6.5 0 0 1 21.5 20' }]],
  wallet: [['rect', { x: 3, y: 6, width: 18, height: 14, rx: 2.5 }], ['path', { d: 'M3 10h18M16.5 14.5h1.5' }], ['path', { d: 'M6 6l9-3 1.5 3' }]],
  me: [['circle', { cx: 12, cy: 8, r: 4 }], ['path', { d: 'M4 21a8 8 0 0 1 16 0' }]],
  bell: [['path', { d: 'M18 16v-5a6 6 0 0 0-12 0v5l-2 2h16z' }], ['path', { d: 'M10 21a2 2 0 0 0 4 0' }]],
  back: [['path', { d: 'M15 5l-7 7 7 7' }]],
  close: [['path', { d: 'M6 6l12 12M18 6L6 18' }]],
  plus: [['path', { d: 'M12 5v14M5 12h14' }]],
  packet: [['rect', { x: 5, y: 2.5, width: 14, height: 19, rx: 2 }], ['path', { d: 'M5 8c3 2.5 11 2.5 14 0' }], ['circle', { cx: 12, cy: 10.5, r: 2.2 }]],
  transfer: [['path', { d: 'M4 8h13l-3.5-3.5M20 16H7l3.5 3.5' }]],
  crown: [['path', { d: 'M3 8l4.5 4L12 5l4.5 7L21 8l-2 11H5z' }]],
  clock: [['circle', { cx: 12, cy: 12, r: 9 }], ['path', { d: 'M12 7v5l3 2' }]],
  snow: [['path', { d: 'M12 2v20M3.3 7l17.4 10M3.3 17L20.7 7M9 3.5l3 2.5 3-2.5M9 20.5l3-2.5 3 2.5' }]],
  shield: [['path', { d: 'M12 3l8 3v6c0 4.5-3.4 8-8 9-4.6-1-8-4.5-8-9V6z' }]],
  search: [['circle', { cx: 11, cy: 11, r: 6.5 }], ['path', { d: 'M16 16l5 5' }]],
  copy: [['rect', { x: 9, y: 9, width: 11, height: 11, rx: 2 }], ['path', { d: 'M5 15V5a2 2 0 0 1 2-2h8' }]],
  tag: [['path', { d: 'M3 12V4a1 1 0 0 1 1-1h8l9 9-9 9z' }], ['circle', { cx: 7.5, cy: 7.5, r: 1.5 }]],
  signOut: [['path', { d: 'M15 4h3a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-3M10 17l-5-5 5-5M5 12h11' }]],
  language: [['circle', { cx: 12, cy: 12, r: 9 }], ['path', { d: 'M3 12h18M12 3c2.5 2.5 3.5 5.5 3.5 9s-1 6.5-3.5 9c-2.5-2.5-3.5-5.5-3.5-9s1-6.5 3.5-9z' }]],
  check: [['path', { d: 'M4 12.5l5 5L20 6.5' }]],
  warning: [['path', { d: 'M12 3L2 20h20z' }], ['path', { d: 'M12 10v4.5M12 17.5v.5' }]],
  up: [['path', { d: 'M12 20V5M6 11l6-6 6 6' }]],
  down: [['path', { d: 'M12 4v15M6 13l6 6 6-6' }]],
  undo: [['path', { d: 'M9 14L4 9l5-5' }], ['path', { d: 'M4 9h10a6 6 0 0 1 0 12h-3' }]],
  file: [['path', { d: 'M6 2h8l5 5v15H6z' }], ['path', { d: 'M14 2v5h5' }]],
  attach: [['path', { d: 'M20 11.5l-8.2 8.2a5 5 0 0 1-7.1-7.1l8.5-8.5a3.5 3.5 0 0 1 5 5l-8.4 8.4a2 2 0 0 1-2.8-2.8l7.7-7.7' }]],
  users: [['circle', { cx: 9, cy: 8, r: 3.5 }], ['path', { d: 'M2.5 20a6.5 6.5 0 0 1 13 0' }], ['path', { d: 'M16 4.5a3.5 3.5 0 0 1 0 7M18.5 14.5A6.5 6.5 0 0 1 21.5 20' }]],
  cases: [['rect', { x: 3, y: 7, width: 18, height: 13, rx: 2 }], ['path', { d: 'M8 7V4h8v3M3 12h18' }]],
  scale: [['path', { d: 'M12 3v18M5 21h14M5 7h14M5 7l-3 7a3 3 0 0 0 6 0zM19 7l-3 7a3 3 0 0 0 6 0z' }]],
  idCard: [['rect', { x: 2.5, y: 5, width: 19, height: 14, rx: 2 }], ['circle', { cx: 8.5, cy: 11, r: 2.5 }], ['path', { d: 'M5 16.5a3.5 3.5 0 0 1 7 0M14.5 10h4M14.5 13.5h4' }]],
  policy: [['path', { d: 'M6 3h12v18H6z' }], ['path', { d: 'M9 8h6M9 12h6M9 16h3' }]],
  webhook: [['circle', { cx: 6, cy: 17, r: 2.5 }], ['circle', { cx: 18, cy: 17, r: 2.5 }], ['circle', { cx: 12, cy: 6, r: 2.5 }], ['path', { d: 'M8.5 17H15.5M10.8 8.2L7.3 14.8M13.2 8.2l3.5 6.6' }]],
  key: [['circle', { cx: 8, cy: 14, r: 4.5 }], ['path', { d: 'M11.5 11L20 2.5M17 5.5l2.5 2.5M15 7.5l2 2' }]],
  log: [['path', { d: 'M4 4h16v16H4z' }], ['path', { d: 'M8 9h8M8 13h8M8 17h5' }]],
  chevron: [['path', { d: 'M9 5l7 7-7 7' }]],
  money: [['circle', { cx: 12, cy: 12, r: 9 }], ['path', { d: 'M8.5 7.5L12 12l3.5-4.5M12 12v5.5M9 13h6M9 15.5h6' }]],
  refresh: [['path', { d: 'M20 12a8 8 0 1 1-2.3-5.7M20 4v4.5h-4.5' }]],
  edit: [['path', { d: 'M4 20h4L19 9l-4-4L4 16z' }], ['path', { d: 'M13.5 6.5l4 4' }]],
  device: [['rect', { x: 7, y: 2.5, width: 10, height: 19, rx: 2 }], ['path', { d: 'M11 18.5h2' }]],
  globe: [['circle', { cx: 12, cy: 12, r: 9 }], ['path', { d: 'M3 12h18M12 3c2.5 2.5 3.5 5.5 3.5 9s-1 6.5-3.5 9c-2.5-2.5-3.5-5.5-3.5-9s1-6.5 3.5-9z' }]],
  flash: [['path', { d: 'M13 2L4 14h7l-1 8 9-12h-7z' }]],
};

/**
 * An icon. `label` names it for screen readers when it stands alone (an icon-only button has its
 * own label instead and passes none): without one the icon is hidden from them.
 */
export function icon(name, { label, size = 20, className = '' } = {}) {
  const drawing = DRAWINGS[name] || DRAWINGS.warning;
  const attributes = {
    viewBox: '0 0 24 24', width: size, height: size, fill: 'none', stroke: 'currentColor', 'stroke-width': 1.8,
    'stroke-linecap': 'round', 'stroke-linejoin': 'round', class: `icon ${className}`.trim(), focusable: 'false',
  };
  if (label) Object.assign(attributes, { role: 'img', 'aria-label': label });
  else attributes['aria-hidden'] = 'true';
  const element = svgElement('svg', attributes, drawing.map(([tag, shape]) => svgElement(tag, shape)));
  if (label) element.prepend(svgElement('title', {}, document.createTextNode(label)));
  return element;
}

/** The names of the icons there are, for tests. */
export const ICON_NAMES = Object.keys(DRAWINGS);
