/**
 * Small DOM helpers. Every string a user or a study can set (names, parameters, values, outputs, tracebacks)
 * reaches the page through textContent or attributes, never through innerHTML.
 */

export type Child = Node | string | null | undefined | false;

/** An element with a class, attributes and children (strings become text nodes). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { [key: string]: string | number | boolean | undefined } = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === false) {
      continue;
    }
    if (key === 'class') {
      el.className = String(value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    el.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return el;
}

/** Replace an element's children. */
export function replaceChildren(el: Element, ...children: Child[]): void {
  while (el.firstChild) {
    el.removeChild(el.firstChild);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    el.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** A number as people read it: 4 significant digits, or an em dash for none. */
export function fmtValue(x: unknown): string {
  if (x === null || x === undefined) {
    return '—';
  }
  if (typeof x === 'number') {
    if (!isFinite(x)) {
      return String(x);
    }
    if (Number.isInteger(x)) {
      return String(x);
    }
    const abs = Math.abs(x);
    return abs !== 0 && (abs < 1e-3 || abs >= 1e5) ? x.toExponential(3) : String(Number(x.toPrecision(4)));
  }
  if (typeof x === 'object') {
    const choice = x as { $repr?: string };
    if (choice.$repr !== undefined) {
      return String(choice.$repr);
    }
    return JSON.stringify(x);
  }
  return String(x);
}

/** "12 s ago", "3 min ago", or a date. */
export function fmtAgo(seconds: number, now: number = Date.now() / 1000): string {
  const d = Math.max(0, now - seconds);
  if (d < 60) {
    return `${Math.round(d)} s`;
  }
  if (d < 3600) {
    return `${Math.round(d / 60)} min`;
  }
  if (d < 86400) {
    return `${Math.round(d / 3600)} h`;
  }
  return new Date(seconds * 1000).toLocaleDateString();
}

/** A Python literal for a parameter value (for "Insert into notebook" as assignments). */
export function pyLiteral(x: unknown): string {
  if (x === null || x === undefined) {
    return 'None';
  }
  if (typeof x === 'boolean') {
    return x ? 'True' : 'False';
  }
  if (typeof x === 'number') {
    return isFinite(x) ? String(x) : `float("${x}")`;
  }
  if (typeof x === 'string') {
    return JSON.stringify(x);
  }
  if (Array.isArray(x)) {
    return `[${x.map(pyLiteral).join(', ')}]`;
  }
  const choice = x as { $repr?: string };
  if (choice.$repr !== undefined) {
    return String(choice.$repr);
  }
  return JSON.stringify(x);
}

/** The path of `target` as seen from the folder `fromDir` (both relative to the server's root, "/"-separated). */
export function relativePath(fromDir: string, target: string): string {
  const from = fromDir.split('/').filter(p => p && p !== '.');
  const to = target.split('/').filter(p => p && p !== '.');
  let common = 0;
  while (common < from.length && common < to.length - 1 && from[common] === to[common]) {
    common++;
  }
  return [...Array(from.length - common).fill('..'), ...to.slice(common)].join('/');
}
