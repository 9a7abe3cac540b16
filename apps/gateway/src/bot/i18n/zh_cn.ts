// 卡片与提示的中文文案。翻译只改这个文件和 en_us.ts；键与 en_us.ts 一一对应（类型保证）。
import type { Catalogue } from './en_us.js';

export const zh_cn: Catalogue = {
  subtitle: '飞书招聘 · 笔试安排',
  title: {
    pending: '笔试安排：是否批准？',
    problem: '笔试安排：目前无法安排',
    arranging: '已批准：正在安排笔试…',
    arranged: '笔试已安排',
    completed: '笔试已完成',
    rejected: '笔试安排已拒绝',
    failed: '笔试安排失败',
    stuck: '有笔试需要处理',
  },
  label: {
    candidate: '候选人',
    phone: '电话',
    email: '邮箱',
    customer: '客户',
    account: '账号',
    paper: '试卷',
    platform: '笔试平台',
    arrived: '收到时间',
    waited: '已等待',
    link: '笔试链接',
    result: '成绩',
    reason: '原因',
    problem: '问题',
    step: '步骤',
    error: '出错原因',
    ids: '编号（供技术支持）',
  },
  minutes: (n) => `${n} 分钟`,
  duration: (ms) => {
    const minutes = Math.floor(ms / 60_000);
    if (minutes < 1) return '不到 1 分钟';
    if (minutes < 60) return `${minutes} 分钟`;
    const hours = Math.floor(minutes / 60);
    return hours < 48 ? `${hours} 小时 ${minutes % 60} 分钟` : `${Math.floor(hours / 24)} 天`;
  },
  someone: '某人',
  reasonPlaceholder: '原因（拒绝时必填）',
  approve: '批准',
  reject: '拒绝',
  retry: '重试',
  problemAdvice: '批准会失败；请以此原因拒绝，或先修正笔试平台配置。',
  arrangingLine: (who, when) => `${who} 于 ${when} 批准，正在笔试平台上安排…`,
  approvedLine: (who, when) => `${who} 于 ${when} 批准，已告知飞书招聘。`,
  rejectedLine: (who, when) => `${who} 于 ${when} 拒绝，已告知飞书招聘。`,
  failedLine: (who, when) => `${who} 于 ${when} 批准，但笔试平台拒绝了安排，已告知飞书招聘。`,
  paused: (who, uninstalled) =>
    `**已暂停**：${who ?? '客户'}已${uninstalled ? '卸载' : '停用'}本应用。在其重新启用前，不会向其飞书招聘发送任何内容；笔试将等待。`,
  stuckStep: {
    post_card: '发送这张卡片',
    arrange: '在笔试平台上安排笔试',
    report_login_info: '把笔试链接告知飞书招聘',
    refresh_card: '更新卡片',
    notify_dead: '发送通知',
    sync_papers: '发布账号的试卷',
    report_result: '把成绩发送给飞书招聘',
    register_custom_fields: '注册账号字段',
    poll_result: '向笔试平台查询成绩',
  },
  stuckLine: (attempts) => `飞书或笔试平台已明确拒绝这一步（尝试 ${attempts} 次），不会自动重试。`,
  stuckAdvice: '请先排除原因（常见为配置错误或试卷已下线），再点击“重试”。',
  summary: {
    pending: '笔试安排待审批',
    done: '笔试安排已更新',
    stuck: '有笔试需要处理',
  },
  toast: {
    notOurs: '这张卡片不是本应用发出的，或已过期。',
    otherTenant: '只有供应商的员工可以审批笔试；此次点击来自其他组织。',
    notAllowed: '你没有审批笔试的权限，请联系管理员添加。',
    notRegistered: '卡片仍在登记中，请稍后再点一次。',
    reasonRequired: '拒绝前请填写原因。',
    unknownExam: '网关中没有这场笔试。',
    alreadyDecided: (approved, who, when) =>
      `已由 ${who} 于 ${when} ${approved ? '批准' : '拒绝'}，未做更改。`,
    approved: '已批准，正在安排笔试…',
    rejected: '已拒绝，将告知飞书招聘。',
    retried: '正在重试。',
    notDead: '这一步已不再卡住，无需重试。',
    unreadable: '网关无法读取此次点击，请查看 /admin/events。',
    stillWorking: '正在记录审批结果，卡片稍后更新。',
    notRecorded: '网关未能记录此次审批，请重试。',
  },
};
