import { fillPlaceholders, type TemplateVars } from './template.js';

/**
 * A request's URL: baseUrl, then the declared path with every placeholder percent-encoded as one path
 * segment (before the `?`) or one query value (after it). A value (an account's custom field, typed by the
 * customer) is data, never URL syntax: `ORG1/../../admin#` stays one segment, `ORG1?admin=1&x=` one value,
 * and `\\other-host` cannot name another host. A result that still leaves baseUrl's origin or path prefix
 * is refused, so the vendor's API key only ever goes where baseUrl says.
 */
export type RequestUrl =
  | { readonly ok: true; readonly url: URL }
  | { readonly ok: false; readonly reason: string };

/** encodeURIComponent, or undefined for text it cannot encode (a lone surrogate). */
function encodeComponent(text: string): string | undefined {
  try {
    return encodeURIComponent(text);
  } catch {
    return undefined;
  }
}

export function compileRequestUrl(baseUrl: string, pathTemplate: string): (vars: TemplateVars) => RequestUrl {
  const base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  const prefix = base.pathname.replace(/\/+$/, '');
  // A placeholder cannot hold a "?", so the first one in the template is where its query starts.
  const queryAt = pathTemplate.indexOf('?');

  return (vars) => {
    let refused: string | undefined;
    const filled = fillPlaceholders(pathTemplate, vars, (text, variable, offset) => {
      const inPath = queryAt === -1 || offset < queryAt;
      // encodeURIComponent leaves dots alone, and a URL parser treats "." and ".." (even "%2e") as steps.
      if (inPath && (text === '.' || text === '..')) {
        refused ??= `{{${variable}}} is a "." or ".." path segment, which would climb the path`;
        return '';
      }
      const encoded = encodeComponent(text);
      if (encoded === undefined) refused ??= `{{${variable}}} holds text that cannot be encoded in a URL`;
      return encoded ?? '';
    });
    if (refused !== undefined) return { ok: false, reason: refused };
    let url: URL;
    try {
      url = new URL(filled.replace(/^\/?/, ''), base);
    } catch {
      return { ok: false, reason: 'the path does not make a valid URL with baseUrl' };
    }
    const inside =
      url.origin === base.origin &&
      url.username === base.username &&
      url.password === base.password &&
      (url.pathname === prefix || url.pathname.startsWith(`${prefix}/`));
    if (!inside) return { ok: false, reason: `the URL would leave baseUrl (${base.origin}${prefix}/)` };
    return { ok: true, url };
  };
}

/** What an HTTP header value may hold: visible ASCII, spaces and tabs. No line breaks, no control bytes. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/** Why a rendered header value cannot be sent, or undefined when it can. */
export function headerValueProblem(value: string): string | undefined {
  if (HEADER_VALUE.test(value)) return undefined;
  return /[\r\n]/.test(value)
    ? 'holds a line break, which would end the header'
    : 'holds a character an HTTP header cannot carry (a control character or non-ASCII text)';
}

/** RFC 9110's token: what a header's name may be. */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
