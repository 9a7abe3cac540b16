// Renders a Feishu card (JSON 2.0, and the elements of 1.0) the way the Feishu client lays it out, closely
// enough for staff to read it and click it: header, markdown, text, form and input, columns, buttons,
// collapsible panels. Each text shows its i18n_content in the chosen language, else its content.
import { h } from './dom.js';
import { renderMarkdown } from './markdown.js';

export type Locale = 'zh_cn' | 'en_us';
type Json = Record<string, unknown>;

/** What a button sends: card.action.trigger's action.value, the button's name, and its form's values. */
export interface ButtonPress {
  readonly value: unknown;
  readonly name: string | undefined;
  readonly formValue: Record<string, string> | undefined;
}

export interface RenderOptions {
  readonly locale: Locale;
  readonly onPress: (press: ButtonPress) => void;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The languages a card carries: config.locales, or those its i18n_content texts name. */
export function cardLocales(card: unknown): string[] {
  if (isObject(card) && isObject(card.config) && Array.isArray(card.config.locales))
    return card.config.locales.map(String);
  const found = new Set<string>();
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (isObject(v))
      for (const [k, child] of Object.entries(v)) {
        if ((k === 'i18n_content' || k === 'i18n') && isObject(child))
          for (const l of Object.keys(child)) found.add(l);
        walk(child);
      }
  };
  walk(card);
  return [...found];
}

/** A text object ({tag, content, i18n_content}) or a markdown element's content, in the locale. */
export function textOf(value: unknown, locale: Locale): string {
  if (typeof value === 'string') return value;
  if (!isObject(value)) return '';
  const i18n = value.i18n_content ?? value.i18n;
  if (isObject(i18n) && typeof i18n[locale] === 'string') return i18n[locale] as string;
  return typeof value.content === 'string' ? value.content : '';
}

export function renderCard(card: Json, options: RenderOptions): HTMLElement {
  const header = isObject(card.header) ? card.header : undefined;
  const elements =
    isObject(card.body) && Array.isArray(card.body.elements) ? card.body.elements : card.elements;
  const template = header && typeof header.template === 'string' ? header.template : 'default';
  return h(
    'div',
    { class: 'card' },
    header &&
      h(
        'div',
        { class: `card-header tpl-${template}` },
        h('div', { class: 'card-title', 'data-testid': 'card-title' }, textOf(header.title, options.locale)),
        header.subtitle
          ? h('div', { class: 'card-subtitle' }, textOf(header.subtitle, options.locale))
          : null,
      ),
    h('div', { class: 'card-body' }, renderElements(elements, options, undefined)),
  );
}

function renderElements(
  elements: unknown,
  options: RenderOptions,
  form: HTMLFormElement | undefined,
): Node[] {
  return (Array.isArray(elements) ? elements : []).map((e) => renderElement(e, options, form));
}

function renderElement(e: unknown, options: RenderOptions, form: HTMLFormElement | undefined): Node {
  if (!isObject(e)) return h('div', { class: 'unknown' }, 'not an element');
  const { locale } = options;
  switch (e.tag) {
    case 'markdown':
    case 'lark_md':
      return renderMarkdown(textOf(e, locale));
    case 'plain_text':
      return h('div', { class: 'plain' }, textOf(e, locale));
    case 'div':
      return isObject(e.text) && e.text.tag === 'lark_md'
        ? renderMarkdown(textOf(e.text, locale))
        : h('div', { class: 'plain' }, textOf(e.text, locale));
    case 'hr':
      return h('hr');
    case 'column_set':
      return h(
        'div',
        { class: 'columns' },
        (Array.isArray(e.columns) ? e.columns : []).map((c) =>
          h('div', { class: 'column' }, renderElements(isObject(c) ? c.elements : [], options, form)),
        ),
      );
    case 'collapsible_panel': {
      const title = isObject(e.header) ? textOf(e.header.title, locale) : '';
      return h(
        'details',
        { class: 'panel', open: e.expanded === true },
        h('summary', {}, title),
        renderElements(e.elements, options, form),
      );
    }
    case 'form': {
      const element = h('form', { class: 'card-form', 'data-name': String(e.name ?? '') });
      element.addEventListener('submit', (event) => event.preventDefault());
      element.append(...renderElements(e.elements, options, element));
      return element;
    }
    case 'input':
      return h('input', {
        class: 'card-input',
        name: String(e.name ?? ''),
        placeholder: textOf(e.placeholder, locale),
        maxlength: typeof e.max_length === 'number' ? e.max_length : undefined,
        value: typeof e.default_value === 'string' ? e.default_value : undefined,
      });
    case 'button':
      return renderButton(e, options, form);
    default:
      return h('div', { class: 'unknown' }, `[${String(e.tag)}: not shown by the console]`);
  }
}

function renderButton(e: Json, options: RenderOptions, form: HTMLFormElement | undefined): Node {
  const behaviors = Array.isArray(e.behaviors) ? e.behaviors.filter(isObject) : [];
  const callback = behaviors.find((b) => b.type === 'callback');
  const openUrl = behaviors.find((b) => b.type === 'open_url');
  const label = textOf(e.text, options.locale);
  const type = typeof e.type === 'string' ? e.type : 'default';
  if (openUrl && !callback) {
    const url = String(openUrl.default_url ?? '');
    return h(
      'a',
      { class: `btn btn-${type}`, href: /^https?:/i.test(url) ? url : undefined, target: '_blank' },
      label,
    );
  }
  const submits = form !== undefined && e.form_action_type === 'submit';
  return h(
    'button',
    {
      type: 'button',
      class: `btn btn-${type}`,
      disabled: e.disabled === true,
      onclick: () => {
        const formValue = submits
          ? Object.fromEntries(
              [...form.querySelectorAll<HTMLInputElement>('input[name]')].map((i) => [i.name, i.value]),
            )
          : undefined;
        options.onPress({
          value: callback ? callback.value : e.value,
          name: typeof e.name === 'string' ? e.name : undefined,
          formValue,
        });
      },
    },
    label,
  );
}
