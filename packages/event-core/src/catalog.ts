import { z } from 'zod';

/**
 * The events this project understands, as runtime schemas. Every TypeScript type of an event payload is
 * inferred from its schema here; the dispatcher's keys come from this one map.
 *
 * Field shapes follow the official SDK's types (`@larksuiteoapi/node-sdk` types/index.d.ts), where every
 * field is optional. Deliberately stricter: the one id a handler cannot work without (exam_id,
 * account_id, the card's action and operator, the ticket) is required, so a push without it is
 * `schema_invalid` at the door instead of a crash in a handler. Unknown extra fields are kept.
 */

/**
 * A Feishu id as Hire sends it: exam, account, talent and application ids are snowflakes (19 digits,
 * "7147998241542539527" in the event's documented example). Deliberately stricter than the SDK's plain
 * `string`: these ids end up in URL paths, database keys and log lines, so anything longer than 64 characters
 * or outside a safe set (no `/`, `?`, `#`, `.`, spaces, control characters) is `schema_invalid` at the door.
 * The message never quotes the value.
 */
export const FEISHU_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const feishuId = z
  .string()
  .regex(FEISHU_ID_PATTERN, 'must be 1 to 64 characters, each a letter, a digit, "_" or "-"');

/**
 * A paper id is not Feishu's: the exam platform chose it, and the vendor published it with "创建试卷列表"
 * (eco_exam_paper create: "试卷 ID。由调用方自定义", at most 255 characters, at least 1); the event carries it
 * back ("试卷 ID，通过创建试卷列表接口传入"). So it is held to what may be published, not to the Feishu id
 * pattern, which refused an exam for a paper named "aptitude.v2" (acknowledged, recorded as rejected, never
 * arranged). Any 1 to 255 characters but control characters, as exam-providers' paperSchema lets a platform
 * publish: nothing published is refused here. It is stored, escaped on cards and pages, and a provider that
 * puts it in a URL encodes it.
 */
export const PAPER_ID_PATTERN = /^\P{Cc}{1,255}$/u;
const paperId = z
  .string()
  .regex(PAPER_ID_PATTERN, 'must be 1 to 255 characters, none of them a control character');

/**
 * An id that may be missing. The SDK types every field as an optional string, and an empty one says "none"
 * (the exam of a customer who set no talent or application): it is read as absent, never refused.
 */
const optional = (id: z.ZodString) => z.union([id, z.literal('')]).optional();
const optionalFeishuId = optional(feishuId);

const ecoExamCreated = z.looseObject({
  exam_id: feishuId,
  account_id: optionalFeishuId,
  paper_id: optional(paperId),
  candidate_info: z
    .looseObject({
      name: z.string().optional(),
      mobile: z.looseObject({ code: z.string().optional(), number: z.string().optional() }).optional(),
      email: z.string().optional(),
    })
    .optional(),
  talent_id: optionalFeishuId,
  application_id: optionalFeishuId,
});

const ecoAccountCreated = z.looseObject({
  /** 1: background check, 2: exam. */
  scope: z.number().int().optional(),
  account_id: feishuId,
  account_name: z.string().optional(),
  /** 1: social hiring (社招), 2: campus hiring (校招). */
  usage_list: z.array(z.number().int()).optional(),
  custom_field_list: z
    .array(z.looseObject({ key: z.string().optional(), value: z.string().optional() }))
    .optional(),
});

const cardActionTrigger = z.looseObject({
  operator: z.looseObject({
    tenant_key: z.string().optional(),
    user_id: z.string().optional(),
    open_id: z.string().min(1),
    union_id: z.string().optional(),
  }),
  /** The card update token ("c-…"), valid 30 minutes. Not the verification token. */
  token: z.string().optional(),
  action: z.looseObject({
    value: z.unknown().optional(),
    tag: z.string().optional(),
    name: z.string().optional(),
    form_value: z.record(z.string(), z.unknown()).optional(),
    input_value: z.string().optional(),
    option: z.string().optional(),
    timezone: z.string().optional(),
  }),
  host: z.string().optional(),
  delivery_type: z.string().optional(),
  context: z
    .looseObject({
      url: z.string().optional(),
      preview_token: z.string().optional(),
      open_message_id: z.string().optional(),
      open_chat_id: z.string().optional(),
    })
    .optional(),
});

/** Schema 1.0 event, pushed about hourly to marketplace apps. */
const appTicket = z.looseObject({
  app_id: z.string().optional(),
  app_ticket: z.string().min(1),
  type: z.string().optional(),
});

/**
 * Marketplace lifecycle events (schema 1.0; store apps only): a tenant installed the app (`app_open`),
 * started or stopped it (`app_status_change`: start_by_tenant, stop_by_tenant, stop_by_platform), or
 * uninstalled it (`app_uninstalled`). The tenant is `event.tenant_key`, which is required here.
 */
const appOpen = z.looseObject({
  app_id: z.string().optional(),
  tenant_key: z.string().min(1),
  type: z.string().optional(),
});
const appStatusChange = z.looseObject({
  app_id: z.string().optional(),
  tenant_key: z.string().min(1),
  type: z.string().optional(),
  status: z.string().min(1),
});
const appUninstalled = z.looseObject({
  app_id: z.string().optional(),
  tenant_key: z.string().min(1),
  type: z.string().optional(),
});

/**
 * The bot's membership of a chat (schema 2.0; both app types; scope im:chat:readonly): added to a chat
 * (im.chat.member.bot.added_v1, 机器人进群), removed from one (im.chat.member.bot.deleted_v1, 机器人被移出群), or
 * the chat disbanded (im.chat.disbanded_v1, 群解散). The SDK's types (index.d.ts) give every field as optional;
 * the chat is what the gateway acts on, so it is required here.
 */
const operatorId = z
  .looseObject({
    union_id: z.string().optional(),
    user_id: z.string().optional(),
    open_id: z.string().optional(),
  })
  .optional();
const botChatMembership = z.looseObject({
  chat_id: z.string().min(1),
  operator_id: operatorId,
  external: z.boolean().optional(),
  operator_tenant_key: z.string().optional(),
  name: z.string().optional(),
});

export const eventCatalog = {
  'hire.eco_exam.created_v1': ecoExamCreated,
  'hire.eco_account.created_v1': ecoAccountCreated,
  'card.action.trigger': cardActionTrigger,
  app_ticket: appTicket,
  app_open: appOpen,
  app_status_change: appStatusChange,
  app_uninstalled: appUninstalled,
  'im.chat.member.bot.added_v1': botChatMembership,
  'im.chat.member.bot.deleted_v1': botChatMembership,
  'im.chat.disbanded_v1': botChatMembership,
} as const;

export type KnownEventType = keyof typeof eventCatalog;
export type EventPayloads = { [K in KnownEventType]: z.infer<(typeof eventCatalog)[K]> };

export type EcoExamCreatedPayload = EventPayloads['hire.eco_exam.created_v1'];
export type EcoAccountCreatedPayload = EventPayloads['hire.eco_account.created_v1'];
export type CardActionTriggerPayload = EventPayloads['card.action.trigger'];
export type AppTicketPayload = EventPayloads['app_ticket'];

export function isKnownEventType(type: string): type is KnownEventType {
  return Object.hasOwn(eventCatalog, type);
}
