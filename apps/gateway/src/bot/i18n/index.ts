// Two languages for every text staff see: Chinese first (the `content` a client without i18n shows), English
// beside it. Card JSON 2.0 has no global i18n: each text carries its own `i18n_content` (see
// shared/reference feishu-marketplace-cards-longconn.md §3.3), and the card lists its `config.locales`.
import { type Catalogue, en_us } from './en_us.js';
import { zh_cn } from './zh_cn.js';

export type { Catalogue };
export const LOCALES = ['zh_cn', 'en_us'] as const;
export type Locale = (typeof LOCALES)[number];
const catalogues: Record<Locale, Catalogue> = { zh_cn, en_us };

/** One text in both languages, as card JSON 2.0 takes it. */
export interface Bilingual {
  readonly content: string;
  readonly i18n_content: Record<Locale, string>;
}

export function bilingual(render: (c: Catalogue, locale: Locale) => string): Bilingual {
  const zh = render(catalogues.zh_cn, 'zh_cn');
  return { content: zh, i18n_content: { zh_cn: zh, en_us: render(catalogues.en_us, 'en_us') } };
}

export type ToastType = 'info' | 'success' | 'error' | 'warning';
/** A card-callback toast in both languages (`i18n`, as Feishu's callback answer takes it). */
export interface Toast {
  readonly type: ToastType;
  readonly content: string;
  readonly i18n: Record<Locale, string>;
}

export function toast(type: ToastType, render: (c: Catalogue) => string): Toast {
  const { content, i18n_content } = bilingual(render);
  return { type, content, i18n: i18n_content };
}
