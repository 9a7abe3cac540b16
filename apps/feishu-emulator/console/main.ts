// The emulator console: the staff chat as Feishu would show it, the Open Platform calls the gateway made,
// and buttons for the control API. Live through the emulator's server-sent events (/_emulator/events).
import './style.css';
import { type ButtonPress, cardLocales, type Locale, renderCard, textOf } from './card.js';
import { h } from './dom.js';

interface Message {
  messageId: string;
  chatId: string;
  msgType: string;
  content: string;
  history: Array<{ at: number; via: string }>;
  toasts: unknown[];
}
interface Call {
  seq: number;
  at: number;
  method: string;
  path: string;
  body: unknown;
  status: number;
  code: number | undefined;
  fault: string | undefined;
}
interface Settings {
  gatewayUrl: string | undefined;
  operators: string[];
}

const state = {
  messages: new Map<string, Message>(),
  calls: [] as Call[],
  locale: (localStorage.getItem('console.locale') as Locale | null) ?? 'zh_cn',
  /** The answer to the last click on each card, until the card changes. */
  answers: new Map<string, string>(),
  /** Calls whose body is shown: kept open when the list re-renders. */
  openCalls: new Set<number>(),
};

const time = (ms: number) => new Date(ms).toLocaleTimeString('en-GB', { hour12: false });
const pretty = (v: unknown) => JSON.stringify(v, null, 2);

// ---- layout ----------------------------------------------------------------------------------------------
// A gateway's base URL, or `long-connection`: then pushes and clicks go down the app's WebSocket.
const gatewayInput = h('input', {
  id: 'gateway-url',
  size: 28,
  placeholder: 'http://127.0.0.1:3000 or long-connection',
});
const operatorList = h('datalist', { id: 'operators' });
const operatorInput = h('input', {
  id: 'operator',
  list: 'operators',
  size: 24,
  value: 'ou_console_operator',
});
const liveBadge = h('span', { class: 'live', 'data-testid': 'live' }, 'connecting…');
const statusLine = h('div', { class: 'status', 'data-testid': 'status', role: 'status' });
const chat = h('div', { class: 'chat', 'data-testid': 'chat' });
const callsTable = h('div', { class: 'calls', 'data-testid': 'calls' });
const showTokens = h('input', { type: 'checkbox', id: 'show-tokens' });
const localeButtons = (['zh_cn', 'en_us'] as const).map((locale) =>
  h(
    'button',
    { type: 'button', class: 'locale', 'data-locale': locale, onclick: () => setLocale(locale) },
    locale === 'zh_cn' ? '中文' : 'English',
  ),
);

const field = (label: string, input: HTMLInputElement | HTMLSelectElement) =>
  h('label', { class: 'field' }, h('span', {}, label), input);
const input = (name: string, value = '', size = 20) => h('input', { name, value, size });

const exam = {
  id: input('exam_id', newExamId()),
  name: input('candidate_name', '王二'),
  paper: input('paper_id', 'paper001'),
  account: input('account_id', '7147998241542539527'),
};
const account = {
  id: input('bind_account_id', '7147998241542539527'),
  name: input('account_name', '北京星河科技有限公司'),
};
const faultKinds = ['http_500', 'http_503', 'rate_limit', 'token_expired', 'invalid_request', 'delay'];
const fault = {
  match: input('fault_match', 'login_info'),
  kind: h(
    'select',
    { name: 'fault_kind' },
    faultKinds.map((k) => h('option', { value: k }, k)),
  ),
  count: input('fault_count', '1', 3),
};
const outageKind = h(
  'select',
  { name: 'outage_kind' },
  ['http_503', 'http_500', 'rate_limit'].map((k) => h('option', { value: k }, k)),
);

document.querySelector('#app')?.append(
  h(
    'header',
    {},
    h('h1', {}, 'Feishu emulator console'),
    liveBadge,
    h('div', { class: 'spacer' }),
    field('Gateway', gatewayInput),
    field('Operator', operatorInput),
    operatorList,
    h('div', { class: 'locales', role: 'group', 'aria-label': 'card language' }, localeButtons),
  ),
  statusLine,
  h(
    'main',
    {},
    h('section', { class: 'chat-pane' }, h('h2', {}, 'Staff chat'), chat),
    h(
      'section',
      { class: 'side-pane' },
      h(
        'div',
        { class: 'box' },
        h('h2', {}, 'Deliver an exam (hire.eco_exam.created_v1)'),
        field('Exam id', exam.id),
        field('Candidate', exam.name),
        field('Paper', exam.paper),
        field('Account', exam.account),
        h('button', { type: 'button', 'data-testid': 'deliver-exam', onclick: deliverExam }, 'Deliver exam'),
      ),
      h(
        'div',
        { class: 'box' },
        h('h2', {}, 'Bind an account (hire.eco_account.created_v1)'),
        field('Account id', account.id),
        field('Name', account.name),
        h('button', { type: 'button', 'data-testid': 'bind-account', onclick: bindAccount }, 'Bind account'),
      ),
      h(
        'div',
        { class: 'box' },
        h('h2', {}, 'Faults'),
        field('Path contains', fault.match),
        field('Kind', fault.kind),
        field('Count', fault.count),
        h('button', { type: 'button', 'data-testid': 'inject-fault', onclick: injectFault }, 'Inject'),
        h(
          'div',
          { class: 'row' },
          field('Outage', outageKind),
          h(
            'button',
            {
              type: 'button',
              onclick: () =>
                control('POST', '/_emulator/outage', { kind: outageKind.value }, 'outage started'),
            },
            'Start',
          ),
          h(
            'button',
            {
              type: 'button',
              onclick: () => control('DELETE', '/_emulator/outage', undefined, 'outage ended'),
            },
            'End',
          ),
          h(
            'button',
            {
              type: 'button',
              onclick: () => control('DELETE', '/_emulator/faults', undefined, 'faults cleared'),
            },
            'Clear all',
          ),
        ),
      ),
      h(
        'div',
        { class: 'box' },
        h('h2', {}, 'Open Platform calls'),
        h('label', { class: 'check' }, showTokens, ' show token calls'),
        callsTable,
      ),
    ),
  ),
);
showTokens.addEventListener('change', renderCalls);
setLocale(state.locale);

// ---- control API -----------------------------------------------------------------------------------------
function newExamId() {
  return `console-${Date.now().toString(36)}`;
}

function gatewayUrl(): string | undefined {
  const url = gatewayInput.value.trim();
  if (!url) say('Set the gateway URL first (e.g. http://127.0.0.1:3000)', 'error');
  return url || undefined;
}

function say(text: string, kind: 'ok' | 'error' = 'ok') {
  statusLine.textContent = text;
  statusLine.className = `status ${kind}`;
}

async function control(method: string, path: string, body: unknown, done: string): Promise<unknown> {
  try {
    const response = await fetch(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await response.json().catch(() => undefined);
    say(
      response.ok ? done : `${method} ${path}: HTTP ${response.status} ${pretty(answer)}`,
      response.ok ? 'ok' : 'error',
    );
    return answer;
  } catch (err) {
    say(`${method} ${path}: ${String(err)}`, 'error');
    return undefined;
  }
}

async function deliverExam() {
  const gateway_url = gatewayUrl();
  if (!gateway_url) return;
  const examId = exam.id.value.trim();
  say(`delivering exam ${examId}…`);
  const answer = (await control(
    'POST',
    '/_emulator/push/exam',
    {
      gateway_url,
      exam_id: examId,
      account_id: exam.account.value.trim(),
      paper_id: exam.paper.value.trim(),
      candidate_info: {
        name: exam.name.value,
        mobile: { code: '86', number: '18900001111' },
        email: 'candidate@example.com',
      },
    },
    `exam ${examId} delivered`,
  )) as { attempts?: Array<{ status: number }> } | undefined;
  if (answer?.attempts)
    say(`exam ${examId}: gateway answered ${answer.attempts.map((a) => `HTTP ${a.status}`).join(', ')}`);
  exam.id.value = newExamId();
}

async function bindAccount() {
  const gateway_url = gatewayUrl();
  if (!gateway_url) return;
  await control(
    'POST',
    '/_emulator/push/account',
    { gateway_url, account_id: account.id.value.trim(), account_name: account.name.value },
    `account ${account.id.value} bound`,
  );
}

async function injectFault() {
  await control(
    'POST',
    '/_emulator/faults',
    { match: fault.match.value, kind: fault.kind.value, count: Number(fault.count.value) || 1 },
    `next ${fault.count.value} call(s) matching "${fault.match.value}" fail with ${fault.kind.value}`,
  );
}

async function press(message: Message, button: ButtonPress) {
  const gateway_url = gatewayUrl();
  if (!gateway_url) return;
  const answer = (await control(
    'POST',
    '/_emulator/click',
    {
      gateway_url,
      message_id: message.messageId,
      operator_open_id: operatorInput.value.trim(),
      value: button.value,
      name: button.name,
      ...(button.formValue ? { form_value: button.formValue } : {}),
    },
    `clicked ${button.name ?? 'a button'} as ${operatorInput.value}`,
  )) as { status?: number; body?: { toast?: unknown } } | undefined;
  const toast = answer?.body?.toast;
  state.answers.set(
    message.messageId,
    toast ? textOf(toast, state.locale) : `callback answered ${answer?.status ?? 'nothing'}`,
  );
  // The card as it is now: the live feed may have brought a newer one (even the final patch) while the click
  // was on its way; re-rendering the one clicked would put the old card back.
  renderMessage(state.messages.get(message.messageId) ?? message);
}

// ---- rendering -------------------------------------------------------------------------------------------
function setLocale(locale: Locale) {
  state.locale = locale;
  localStorage.setItem('console.locale', locale);
  document.documentElement.lang = locale === 'zh_cn' ? 'zh-CN' : 'en';
  for (const b of localeButtons) b.classList.toggle('active', b.dataset.locale === locale);
  for (const m of state.messages.values()) renderMessage(m);
}

function renderMessage(message: Message) {
  let card: Record<string, unknown> | undefined;
  try {
    card = JSON.parse(message.content);
  } catch {}
  const locales = message.msgType === 'interactive' ? cardLocales(card) : [];
  const lastToast =
    state.answers.get(message.messageId) ??
    (message.toasts.length ? textOf(message.toasts.at(-1), state.locale) : '');
  const body =
    message.msgType === 'interactive' && card
      ? renderCard(card, { locale: state.locale, onPress: (b) => void press(message, b) })
      : h('div', { class: 'bubble' }, typeof card?.text === 'string' ? card.text : message.content);
  const element = h(
    'article',
    { class: 'message', 'data-testid': 'message', 'data-message-id': message.messageId },
    h(
      'div',
      { class: 'meta' },
      `${message.chatId} · ${time(message.history[0]?.at ?? Date.now())} · ${message.history.map((x) => x.via).join(' → ')}`,
      locales.length > 1 ? h('span', { class: 'langs' }, ` · ${locales.join(' / ')}`) : null,
    ),
    body,
    lastToast ? h('div', { class: 'toast', 'data-testid': 'toast' }, lastToast) : null,
  );
  const existing = chat.querySelector(`[data-message-id="${CSS.escape(message.messageId)}"]`);
  if (existing) existing.replaceWith(element);
  else chat.prepend(element);
}

function renderCalls() {
  const rows = state.calls
    .filter((c) => showTokens.checked || !c.path.startsWith('/open-apis/auth/'))
    .slice(-300)
    .reverse()
    .map((c) => {
      const row = h(
        'details',
        {
          class: `call ${c.status >= 400 || (c.code ?? 0) !== 0 ? 'failed' : ''}`,
          'data-testid': 'call',
          'data-path': c.path,
          open: state.openCalls.has(c.seq),
        },
        h(
          'summary',
          {},
          h('span', { class: 'seq' }, `#${c.seq}`),
          ` ${time(c.at)} ${c.method} ${c.path} → ${c.status}${c.code !== undefined ? ` code ${c.code}` : ''}`,
          c.fault ? h('span', { class: 'fault' }, ` fault: ${c.fault}`) : null,
        ),
        h('pre', {}, pretty(c.body)),
      );
      row.addEventListener('toggle', () => {
        if (row.open) state.openCalls.add(c.seq);
        else state.openCalls.delete(c.seq);
      });
      return row;
    });
  callsTable.replaceChildren(...rows);
}

// ---- live feed -------------------------------------------------------------------------------------------
function applySettings(settings: Settings) {
  if (settings.gatewayUrl && !gatewayInput.value) gatewayInput.value = settings.gatewayUrl;
  operatorList.replaceChildren(...settings.operators.map((o) => h('option', { value: o })));
  if (settings.operators[0] && operatorInput.value === 'ou_console_operator')
    operatorInput.value = settings.operators[0];
}

const events = new EventSource('/_emulator/events');
events.addEventListener('error', () => {
  liveBadge.textContent = 'reconnecting…';
  liveBadge.classList.remove('on');
});
events.addEventListener('snapshot', (event) => {
  const snapshot = JSON.parse((event as MessageEvent<string>).data) as {
    settings: Settings;
    messages: Message[];
    calls: Call[];
  };
  applySettings(snapshot.settings);
  // Live once in step with the emulator (not merely connected): what the page shows is current from here.
  liveBadge.textContent = 'live';
  liveBadge.classList.add('on');
  state.messages.clear();
  chat.replaceChildren();
  for (const m of snapshot.messages) {
    state.messages.set(m.messageId, m);
    renderMessage(m);
  }
  state.calls = snapshot.calls;
  renderCalls();
});
events.addEventListener('message', (event) => {
  const m = JSON.parse((event as MessageEvent<string>).data) as Message;
  const before = state.messages.get(m.messageId);
  if (before && before.content !== m.content) state.answers.delete(m.messageId);
  state.messages.set(m.messageId, m);
  renderMessage(m);
});
events.addEventListener('call', (event) => {
  state.calls.push(JSON.parse((event as MessageEvent<string>).data) as Call);
  renderCalls();
});
