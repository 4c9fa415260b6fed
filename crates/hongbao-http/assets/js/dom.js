// Building the page's elements. Every text goes in through textContent, never parsed as HTML, so
// nothing a server or a user wrote can become markup; styles come from the style sheet (classes),
// handlers are attached with addEventListener: the Content-Security-Policy allows nothing inline.

/** The first element matching `selector` within `root`. */
export const $ = (selector, root = document) => root.querySelector(selector);

/** Properties set on the element itself rather than as attributes. */
const PROPERTIES = new Set(['value', 'checked', 'disabled', 'selected', 'hidden', 'multiple', 'required', 'readOnly', 'tabIndex', 'open']);

/**
 * An element: `h('button', { class: 'btn', text: 'Send', onclick: send }, ...children)`.
 * `text` sets the text, `on…` adds a listener, `dataset` sets data-attributes; null, undefined and
 * false leave a property out. Children may be nodes, strings, numbers or nested arrays of them.
 */
export function h(tag, properties, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(properties || {})) {
    if (value == null || value === false) continue;
    if (name === 'class') element.className = value;
    else if (name === 'text') element.textContent = String(value);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (PROPERTIES.has(name)) element[name] = value;
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  return add(element, children);
}

/** Appends children (nodes, strings, numbers, arrays of them; null and false are skipped). */
export function add(element, children) {
  for (const child of [children].flat(Infinity)) {
    if (child == null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** Replaces an element's children. */
export function replace(element, ...children) {
  element.replaceChildren();
  return add(element, children);
}

const SVG_NAMESPACE = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes (presentation attributes are attributes, not inline styles). */
export function svgElement(tag, attributes, ...children) {
  const element = document.createElementNS(SVG_NAMESPACE, tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value != null) element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) if (child) element.append(child);
  return element;
}
