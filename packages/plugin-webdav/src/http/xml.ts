import { SaxesParser, type SaxesTagNS } from 'saxes';
import { HttpError } from './http-error.js';

/** The DAV: namespace. */
export const DAV = 'DAV:';
const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const MAX_DEPTH = 64;
const MAX_ELEMENTS = 20_000;

/** An element of a parsed request body, with resolved namespace URIs. */
export interface XmlElement {
  /** Namespace URI (`''` for none). */
  readonly ns: string;
  readonly local: string;
  readonly attributes: readonly XmlAttribute[];
  readonly children: readonly XmlNode[];
}

/** An attribute with its resolved namespace (`''` for none). */
interface XmlAttribute {
  readonly ns: string;
  readonly local: string;
  readonly value: string;
}

/** Element or text. */
type XmlNode = XmlElement | string;

interface Building {
  ns: string;
  local: string;
  attributes: XmlAttribute[];
  children: XmlNode[];
}

/**
 * Parses a request body (PROPFIND, PROPPATCH, LOCK) into elements with resolved namespaces. Strict XML
 * 1.0: malformed documents, a DOCTYPE (no entity tricks), over-deep or over-large documents are a 400.
 */
export function parseXml(body: Buffer): XmlElement {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new HttpError(400, 'request body is not valid UTF-8');
  }
  const parser = new SaxesParser({ xmlns: true, position: false });
  const stack: Building[] = [];
  let root: Building | undefined;
  let count = 0;
  let failure: string | undefined;
  parser.on('error', (error) => {
    failure ??= error.message;
  });
  parser.on('doctype', () => {
    failure ??= 'DOCTYPE is not allowed';
  });
  parser.on('opentag', (tag: SaxesTagNS) => {
    count += 1;
    if (stack.length >= MAX_DEPTH || count > MAX_ELEMENTS) {
      failure ??= 'document too deep or too large';
      return;
    }
    const attributes: XmlAttribute[] = [];
    for (const attribute of Object.values(tag.attributes)) {
      // Namespace declarations are syntax, not data: they are re-made when the element is written back.
      if (attribute.prefix === 'xmlns' || (attribute.prefix === '' && attribute.local === 'xmlns')) continue;
      attributes.push({ ns: attribute.uri, local: attribute.local, value: attribute.value });
    }
    const element: Building = { ns: tag.uri, local: tag.local, attributes, children: [] };
    const parent = stack.at(-1);
    if (parent) parent.children.push(element);
    else root = element;
    stack.push(element);
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  const onText = (value: string): void => {
    const parent = stack.at(-1);
    if (!parent) return;
    const last = parent.children.at(-1);
    if (typeof last === 'string') parent.children[parent.children.length - 1] = last + value;
    else parent.children.push(value);
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  try {
    parser.write(text).close();
  } catch (error) {
    failure ??= (error as Error).message;
  }
  if (failure !== undefined || !root)
    throw new HttpError(400, `malformed XML body: ${firstLine(failure ?? 'no root element')}`);
  return root;
}

function firstLine(text: string): string {
  return text.split('\n')[0]?.slice(0, 200) ?? '';
}

/** Child elements (text dropped). */
export function elements(element: XmlElement): XmlElement[] {
  return element.children.filter((child): child is XmlElement => typeof child !== 'string');
}

/** The first child element with this namespace and local name. */
export function child(element: XmlElement, ns: string, local: string): XmlElement | undefined {
  return elements(element).find((item) => item.ns === ns && item.local === local);
}

/** Escapes text for XML content and attribute values. */
export function escapeXml(text: string): string {
  return XML_SPECIAL.test(text) ? text.replace(/[&<>"\r]/g, (char) => XML_ESCAPES[char] ?? char) : text;
}
const XML_SPECIAL = /[&<>"\r]/;
const XML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  '\r': '&#13;',
};

/**
 * Writes an element back as a self-contained XML fragment: every namespace it and its descendants use
 * is declared on it (prefixes `a`, `b`, … except DAV:, which stays `D`), so the fragment can be stored
 * and later embedded anywhere (a dead property's value survives exactly, namespaces included).
 */
export function serializeElement(element: XmlElement): string {
  const prefixes = new Map<string, string>([[DAV, 'D']]);
  const declarations: string[] = [];
  const prefixFor = (ns: string): string => {
    if (ns === XML_NS) return 'xml';
    let prefix = prefixes.get(ns);
    if (prefix === undefined) {
      prefix = `ns${prefixes.size}`;
      prefixes.set(ns, prefix);
    }
    return prefix;
  };
  const used = new Set<string>();
  const write = (node: XmlElement): string => {
    let name = node.local;
    if (node.ns !== '') {
      name = `${prefixFor(node.ns)}:${node.local}`;
      used.add(node.ns);
    }
    let out = `<${name}`;
    for (const attribute of node.attributes) {
      let attributeName = attribute.local;
      if (attribute.ns !== '') {
        attributeName = `${prefixFor(attribute.ns)}:${attribute.local}`;
        if (attribute.ns !== XML_NS) used.add(attribute.ns);
      }
      out += ` ${attributeName}="${escapeXml(attribute.value)}"`;
    }
    if (node.children.length === 0) return `${out}/>`;
    out += '>';
    for (const item of node.children) out += typeof item === 'string' ? escapeXml(item) : write(item);
    return `${out}</${name}>`;
  };
  const body = write(element);
  for (const ns of used) declarations.push(` xmlns:${prefixFor(ns)}="${escapeXml(ns)}"`);
  // Insert the declarations into the root start tag (after its name).
  const nameEnd = body.search(/[\s/>]/);
  return `${body.slice(0, nameEnd)}${declarations.join('')}${body.slice(nameEnd)}`;
}

/** `{ns}local` key of a property name. */
export function propertyKey(ns: string, local: string): string {
  return `{${ns}}${local}`;
}
