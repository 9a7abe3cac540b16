// The part of Feishu card markdown the gateway writes: **bold**, *italic*, ~~strike~~, `code`, [text](url),
// <at id=ou_…></at>, backslash escapes and line breaks. Built as DOM nodes, never as HTML.
import { h } from './dom.js';

const SAFE_URL = /^(https?:|mailto:)/i;

export function renderMarkdown(source: string): HTMLElement {
  const root = h('div', { class: 'md' });
  source.split('\n').forEach((line, i) => {
    if (i > 0) root.append(h('br'));
    root.append(...inline(line));
  });
  return root;
}

function inline(text: string): Node[] {
  const out: Node[] = [];
  let plain = '';
  const flush = () => {
    if (plain) out.push(document.createTextNode(plain));
    plain = '';
  };
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    const escaped = /^\\(.)/.exec(rest);
    if (escaped) {
      plain += escaped[1];
      i += 2;
      continue;
    }
    const mention = /^<at id=([^>\s]+)><\/at>/.exec(rest);
    if (mention) {
      flush();
      out.push(h('span', { class: 'mention' }, `@${mention[1]}`));
      i += mention[0].length;
      continue;
    }
    const code = /^`([^`]*)`/.exec(rest);
    if (code) {
      flush();
      out.push(h('code', {}, code[1] ?? ''));
      i += code[0].length;
      continue;
    }
    const link = /^\[((?:\\.|[^\]\\])*)\]\(((?:\\.|[^)\\])*)\)/.exec(rest);
    if (link) {
      flush();
      const url = (link[2] ?? '').replace(/\\(.)/g, '$1');
      const label = inline(link[1] ?? '');
      out.push(
        SAFE_URL.test(url)
          ? h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, ...label)
          : h('span', {}, ...label),
      );
      i += link[0].length;
      continue;
    }
    const styled = /^(\*\*|~~|\*)((?:\\.|(?!\1).)+?)\1/.exec(rest);
    if (styled) {
      flush();
      const tag = styled[1] === '**' ? 'strong' : styled[1] === '~~' ? 's' : 'em';
      out.push(h(tag, {}, ...inline(styled[2] ?? '')));
      i += styled[0].length;
      continue;
    }
    plain += text[i];
    i++;
  }
  flush();
  return out;
}
