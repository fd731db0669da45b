// Words, numbers, money and times as the person reading them expects: Chinese (zh-CN) by
// default, English on request (kept in local storage; it is not a secret). Money is in the
// shop's currency from integer minor units; times in the shop's zone.

const STORED = 'siyu.language';

export function language() {
  return localStorage.getItem(STORED) === 'en' ? 'en' : 'zh-CN';
}

export function setLanguage(value) {
  localStorage.setItem(STORED, value === 'en' ? 'en' : 'zh-CN');
}

/** The text for `key` in the current language, with `{name}` filled from `values`. */
export function t(key, values = {}) {
  const text = WORDS[language()][key] ?? WORDS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ''));
}

export function number(value) {
  return new Intl.NumberFormat(language()).format(value ?? 0);
}

export function percent(ratio) {
  return ratio === null || ratio === undefined || !Number.isFinite(ratio) ? '—'
    : new Intl.NumberFormat(language(), { style: 'percent', maximumFractionDigits: 1 }).format(ratio);
}

/** Digits after the decimal point of `currency` (ISO 4217), as Intl knows them. */
export function exponent(currency) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

export function money(minor, currency) {
  const digits = exponent(currency);
  try {
    return new Intl.NumberFormat(language(), { style: 'currency', currency }).format((minor ?? 0) / 10 ** digits);
  } catch {
    return `${((minor ?? 0) / 10 ** digits).toFixed(digits)} ${currency}`;
  }
}

/** A decimal amount typed by a person ("12.5") as integer minor units, or NaN. */
export function toMinor(text, currency) {
  const digits = exponent(currency);
  const match = /^\s*(\d+)(?:[.,](\d*))?\s*$/.exec(String(text));
  if (!match || (match[2] || '').length > digits) return NaN;
  return Number(match[1]) * 10 ** digits + Number((match[2] || '').padEnd(digits, '0') || 0);
}

export function toMajor(minor, currency) {
  const digits = exponent(currency);
  return (minor / 10 ** digits).toFixed(digits);
}

export function dateTime(instant, zone) {
  if (!instant) return '—';
  return new Intl.DateTimeFormat(language(), {
    timeZone: zone, dateStyle: 'medium', timeStyle: 'short',
  }).format(new Date(instant));
}

/** Today's date (YYYY-MM-DD) in `zone`, moved by `days`. */
export function today(zone, days = 0) {
  const instant = new Date(Date.now() + days * 86_400_000);
  return new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(instant);
}

/** A wall time in `zone` (`YYYY-MM-DDTHH:MM` from a datetime-local field) as a UTC instant. */
export function zonedToInstant(wall, zone) {
  if (!wall) return null;
  const [date, time] = wall.split('T');
  const [y, mo, d] = date.split('-').map(Number);
  const [hh, mm] = (time || '00:00').split(':').map(Number);
  const asUtc = Date.UTC(y, mo - 1, d, hh, mm);
  let guess = asUtc;
  // The zone's offset at the guess, twice: right across a daylight-saving change too.
  for (let i = 0; i < 2; i += 1) {
    const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric',
    }).formatToParts(new Date(guess)).map((p) => [p.type, p.value]));
    const shown = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute);
    guess -= shown - asUtc;
  }
  return new Date(guess).toISOString().replace('.000Z', 'Z');
}

const WORDS = {
  'zh-CN': {
    'signin.title': '登录', 'signin.intro': '请输入店铺的 API 密钥。密钥只保存在本标签页中，关闭标签页或闲置 30 分钟后需重新输入。',
    'signin.key': 'API 密钥', 'signin.submit': '登录', 'signin.checking': '正在验证…',
    'signin.invalid': '密钥无效或已被撤销，请检查后重试。', 'signin.expired': '会话已过期，请重新登录。',
    'signin.revoked': '密钥已失效（可能已被轮换或撤销），请重新登录。', 'signin.signedOut': '已退出登录。',
    'signin.privacy': '控制台不会把密钥写入网址、Cookie 或日志。',
    'nav.label': '主菜单', 'nav.overview': '概览', 'nav.channels': '渠道码', 'nav.customers': '客户', 'nav.segments': '分群与规则',
    'nav.campaigns': '优惠券', 'nav.reminders': '复购提醒', 'nav.settings': '设置', 'nav.signout': '退出',
    'health.reminders_late': '复购提醒已延迟 {minutes} 分钟仍未发出：定时任务可能没有运行。请让运维确认每分钟调用一次 POST /api/jobs/run（见 README「定时任务」）。',
    'health.delivery_failing': '自 {since} 起，提醒的投递一直失败，消息在等待重试：请在「复购提醒」中检查投递网址和签名密钥，并确认你的短信/消息网关能正常应答。',
    'common.loading': '加载中…', 'common.save': '保存', 'common.saved': '已保存。', 'common.create': '创建', 'common.cancel': '取消',
    'common.delete': '删除', 'common.edit': '编辑', 'common.copy': '复制', 'common.copied': '已复制', 'common.none': '暂无',
    'common.yes': '是', 'common.no': '否', 'common.more': '加载更多', 'common.download': '下载', 'common.back': '返回',
    'common.name': '名称', 'common.active': '启用', 'common.inactive': '停用', 'common.created': '创建时间', 'common.open': '查看',
    'common.from': '开始日期', 'common.to': '结束日期', 'common.apply': '应用', 'common.total': '合计', 'common.status': '状态',
    'error.api': '操作未成功：{message}（{code}）', 'error.network': '无法连接服务器，请检查网络后重试。', 'error.unknown': '出现未知错误，请刷新页面重试。',
    'error.chart': '图表生成失败。', 'error.back': '返回概览',
    'funnel.scans': '扫码次数', 'funnel.unique': '扫码人数', 'funnel.leads': '留资', 'funnel.first': '首单', 'funnel.repeat': '复购',
    'funnel.revenue': '收入', 'funnel.leadRate': '留资率', 'funnel.repeatRate': '复购率', 'funnel.byDay': '每日转化漏斗', 'funnel.revenueByDay': '每日收入',
    'overview.title': '概览', 'overview.channels': '各渠道表现', 'overview.rfm': 'RFM 分组', 'overview.reminders': '复购提醒',
    'overview.coupons': '优惠券', 'overview.superUsers': '超级用户', 'overview.customers': '客户数', 'overview.group': '分组',
    'overview.sent': '已发送', 'overview.converted': '已转化', 'overview.issued': '已发放', 'overview.redeemed': '已核销',
    'overview.noChannels': '还没有渠道码。先去“渠道码”创建一个。',
    'channels.title': '渠道码', 'channels.new': '新建渠道码', 'channels.kind': '类型', 'channels.code': '码', 'channels.target': '跳转网址',
    'channels.targetHint': '扫码后跳转到的店铺页面（http 或 https）', 'channels.tags': '标签', 'channels.tagsHint': '多个标签用逗号分隔，留资客户会自动打上',
    'channels.campaign': '活动名', 'channels.staff': '负责员工', 'channels.welcome': '欢迎券活动', 'channels.noWelcome': '不发券',
    'channels.created': '渠道码已创建。', 'channels.retire': '停用此码', 'channels.reactivate': '重新启用', 'channels.retired': '已停用：扫码将显示“此码已停用”。',
    'channels.confirmDelete': '删除后此码不再显示在列表中，扫码将显示已停用。确定删除？', 'channels.deleted': '渠道码已删除。',
    'channels.qr': '二维码', 'channels.ec': '纠错等级', 'channels.module': '模块大小（像素）', 'channels.svg': '下载 SVG（印刷）', 'channels.png': '下载 PNG（屏幕）',
    'channels.scanUrl': '扫码网址', 'channels.formUrl': '留资表单网址', 'channels.print': '打印包裹卡 A4', 'channels.printTitle': '包裹卡二维码（A4）',
    'channels.printHint': '勾选要打印的渠道，然后点击“打印”。', 'channels.printNow': '打印', 'channels.stats': '近 30 天',
    'kind.package_card': '包裹卡', 'kind.poster': '海报', 'kind.sms': '短信', 'kind.store': '门店', 'kind.staff': '员工', 'kind.livestream': '直播', 'kind.other': '其他',
    'customers.title': '客户', 'customers.lookup': '查找客户', 'customers.by': '查找方式', 'customers.phone': '手机号', 'customers.email': '邮箱',
    'customers.wecom': '企业微信 external_userid', 'customers.value': '内容', 'customers.find': '查找', 'customers.notFound': '没有找到这位客户。',
    'customers.profile': '客户资料', 'customers.contacts': '联系方式', 'customers.consent': '营销授权', 'customers.granted': '已同意', 'customers.withdrawn': '已撤回', 'customers.unknown': '未知',
    'customers.orders': '订单', 'customers.orderCount': '订单数', 'customers.spend': '消费（扣除退款）', 'customers.firstOrder': '首单', 'customers.lastOrder': '最近下单',
    'customers.rfm': 'RFM', 'customers.tags': '标签', 'customers.reasons': '来源', 'customers.history': '标签记录', 'customers.products': '购买商品',
    'customers.plans': '复购提醒计划', 'customers.addTags': '添加标签', 'customers.removeTag': '移除', 'customers.tagsSaved': '标签已更新。',
    'customers.issue': '发放优惠券', 'customers.issued': '已发放优惠券：{code}', 'customers.erase': '删除个人信息', 'customers.eraseConfirm': '这会永久删除此客户的个人信息（联系方式、姓名、身份标识），统计数据将匿名保留。请输入“删除”确认：',
    'customers.eraseWord': '删除', 'customers.erased': '此客户的个人信息已删除。', 'customers.firstCapture': '首次来源渠道', 'customers.superUser': '超级用户',
    'customers.coupons': '优惠券', 'customers.validUntil': '有效期至',
    'coupon.issued': '未使用', 'coupon.redeemed': '已使用', 'coupon.available': '未发放', 'coupon.shared': '通用码',
    'history.added': '添加', 'history.removed': '移除', 'history.limit_reached': '已达标签上限',
    'source.rule': '规则', 'source.channel': '渠道', 'source.manual': '手动', 'source.platform': '平台',
    'segments.title': '分群与规则', 'segments.tags': '标签', 'segments.rfm': 'RFM 分组', 'segments.members': '成员', 'segments.customers': '人数',
    'segments.export': '导出 CSV', 'segments.full': '完整联系方式（需要有导出权限的密钥）', 'segments.consented': '只导出已同意营销的客户',
    'segments.exported': '已导出 {rows} 行。', 'segments.rules': '打标签规则', 'segments.newRule': '新建规则', 'segments.tag': '标签', 'segments.action': '动作',
    'segments.add': '打上', 'segments.remove': '移除', 'segments.condition': '条件', 'segments.match': '满足', 'segments.all': '全部条件', 'segments.any': '任一条件',
    'segments.addCondition': '添加条件', 'segments.json': '条件 JSON（高级）', 'segments.useJson': '直接编辑 JSON', 'segments.ruleSaved': '规则已保存。', 'segments.ruleDeleted': '规则已删除。',
    'cond.net_spend': '消费金额 ≥', 'cond.order_count': '订单数 ≥', 'cond.days_since_last_order': '距上次下单天数 ≥', 'cond.bought': '购买过商品（商品 ID 或 SKU）',
    'cond.channel': '来源渠道', 'cond.rfm_group': 'RFM 分组', 'cond.within': '最近天数（可选）',
    'rfm.champions': '重要价值', 'rfm.loyal': '忠诚', 'rfm.active': '活跃', 'rfm.new': '新客', 'rfm.promising': '潜力', 'rfm.needs_attention': '需关注',
    'rfm.almost_lost': '即将流失', 'rfm.at_risk': '流失风险', 'rfm.dormant': '沉睡', 'rfm.previously_loyal': '曾经忠诚', 'rfm.prospects': '未下单', 'rfm.super_users': '超级用户',
    'campaigns.title': '优惠券活动', 'campaigns.new': '新建活动', 'campaigns.discount': '优惠', 'campaigns.type': '优惠类型', 'campaigns.fixed': '立减金额',
    'campaigns.percent': '折扣（百分比）', 'campaigns.freeShipping': '包邮', 'campaigns.amount': '减免金额', 'campaigns.rate': '折扣比例（%，如 10 表示打九折）',
    'campaigns.cap': '最多减免（可选）', 'campaigns.minOrder': '满多少可用（满减门槛，可选）', 'campaigns.starts': '开始时间（可选）', 'campaigns.ends': '结束时间（可选）',
    'campaigns.validDays': '领取后有效天数（可选）', 'campaigns.quota': '发放总量（可选）', 'campaigns.limit': '每人限领', 'campaigns.codes': '券码方式',
    'campaigns.generated': '系统生成唯一码', 'campaigns.pool': '导入平台券码', 'campaigns.shared': '通用码', 'campaigns.prefix': '前缀', 'campaigns.length': '长度',
    'campaigns.sharedCode': '通用码', 'campaigns.eligibleTags': '限定标签（可选）', 'campaigns.eligibleRfm': '限定 RFM 分组（可选）', 'campaigns.onTag': '客户获得此标签时自动发放（可选）',
    'campaigns.rollbackCancel': '订单取消时退回', 'campaigns.rollbackRefund': '全额退款时退回', 'campaigns.created': '活动已创建。', 'campaigns.stats': '数据',
    'campaigns.issued': '已发放', 'campaigns.redeemed': '已核销', 'campaigns.rate2': '核销率', 'campaigns.orders': '订单数', 'campaigns.revenue': '带来收入',
    'campaigns.issueTo': '发给客户（客户 ID 或手机号）', 'campaigns.issue': '发放', 'campaigns.import': '导入券码（CSV，每行一个）', 'campaigns.imported': '导入 {imported} 个，重复 {duplicates} 个，券池共 {pool} 个。',
    'campaigns.batch': '印刷批次', 'campaigns.batchName': '批次名（字母、数字、-、_）', 'campaigns.batchCount': '数量', 'campaigns.batchDone': '已生成并下载 {rows} 个券码。',
    'campaigns.pause': '暂停', 'campaigns.resume': '恢复', 'campaigns.paused': '已暂停',
    'reminders.title': '复购提醒', 'reminders.settings': '提醒设置', 'reminders.default': '默认消耗周期', 'reminders.products': '按商品设置', 'reminders.product': '商品 ID',
    'reminders.sku': 'SKU', 'reminders.daysPerUnit': '每件可用天数', 'reminders.leadDays': '提前几天提醒', 'reminders.count': '提醒次数', 'reminders.gap': '两次提醒间隔（天）',
    'reminders.sendTime': '发送时间', 'reminders.followUp': '跟进券活动 ID（可选）', 'reminders.followUpDays': '跟进间隔（天，可选）', 'reminders.quietStart': '免打扰开始', 'reminders.quietEnd': '免打扰结束',
    'reminders.cap': '频率上限（小时内最多一条）', 'reminders.conversion': '转化归因天数', 'reminders.attempts': '最多重试次数', 'reminders.delivery': '投递网址（你的短信/消息网关）',
    'reminders.secret': '签名密钥', 'reminders.secretSet': '已设置', 'reminders.secretNotSet': '未设置', 'reminders.newSecret': '生成新签名密钥', 'reminders.secretShown': '新密钥（只显示这一次）：',
    'reminders.addProduct': '添加商品', 'reminders.stats': '提醒效果', 'reminders.scheduled': '已计划', 'reminders.sent': '已发送', 'reminders.suppressedReordered': '已复购免发',
    'reminders.suppressed': '其他原因未发', 'reminders.failed': '失败', 'reminders.converted': '已转化', 'reminders.revenue': '转化收入',
    'settings.title': '设置', 'settings.shop': '店铺', 'settings.zone': '时区（IANA）', 'settings.currency': '币种', 'settings.callingCode': '默认国际区号',
    'settings.credentials': '平台密钥（只写，不回显）', 'settings.set': '已设置', 'settings.notSet': '未设置', 'settings.shopify': 'Shopify webhook 密钥',
    'settings.woocommerce': 'WooCommerce webhook 密钥', 'settings.youzanId': '有赞 client_id', 'settings.youzanSecret': '有赞 client_secret', 'settings.generic': '通用 webhook 密钥（≥16 字符）',
    'settings.wecomCorp': '企业微信 corp_id', 'settings.wecomToken': '企业微信 Token', 'settings.wecomKey': '企业微信 EncodingAESKey', 'settings.webhooks': 'Webhook 地址',
    'settings.keys': 'API 密钥', 'settings.ownerOnly': '只有店主密钥可以管理 API 密钥。', 'settings.keyName': '密钥名称', 
    'settings.shopifyDomain': 'Shopify 店铺域名（*.myshopify.com）', 'settings.audit': '安全记录',
    'scope.export_contacts': '导出完整联系方式', 'scope.manage_delivery': '修改消息发送地址和签名密钥', 'scope.manage_credentials': '修改平台凭证',
    'audit.by': '操作者', 'audit.change': '变更', 'audit.delivery_url_changed': '发送地址：{from} → {to}', 'audit.delivery_secret_rotated': '更换了签名密钥', 'audit.limits_changed': '验证码每小时上限：{count}',
    'audit.credentials_changed': '平台凭证：{fields}', 'audit.owner_key_rotated': '更换店主密钥，撤销 {count} 个其他密钥', 'audit.key_created': '新建密钥 {key}', 'audit.key_revoked': '撤销密钥 {key}',
    'settings.newKey': '新建密钥', 'settings.keyShown': '新密钥（只显示这一次，请妥善保存）：', 'settings.revoke': '撤销', 'settings.revoked': '密钥已撤销。', 'settings.scopes': '权限',
    'settings.leaveEmpty': '留空则不修改',
    'settings.branding': '顾客看到的品牌', 'settings.displayName': '对外名称', 'settings.logo': 'Logo 图片网址', 'settings.accent': '主题色',
    'settings.privacy': '隐私政策网址', 'settings.retention': '信息保存期（最后互动后月数）',
    'page.title': '留资页面', 'page.headline': '标题（如“扫码领 10 元券”）', 'page.benefit': '权益说明', 'page.button': '按钮文字',
    'page.field.name': '称呼', 'page.field.phone': '手机号', 'page.field.email': '邮箱',
    'page.rule.off': '不收集', 'page.rule.optional': '选填', 'page.rule.required': '必填',
    'page.verifyPhone': '短信验证码验证手机号（通过提醒的投递网址发送）',
    'page.next.wecom_url': '企业微信“联系我”链接', 'page.next.wecom_qr_url': '企业微信二维码图片网址', 'page.next.shop_url': '店铺网址', 'page.next.mini_program_url': '小程序链接',
  },
  en: {
    'signin.title': 'Sign in', 'signin.intro': "Enter the shop's API key. It is kept in this tab only: closing the tab or 30 idle minutes asks for it again.",
    'signin.key': 'API key', 'signin.submit': 'Sign in', 'signin.checking': 'Checking…',
    'signin.invalid': 'This key is not valid or was revoked. Check it and try again.', 'signin.expired': 'Your session expired. Please sign in again.',
    'signin.revoked': 'The key stopped working (rotated or revoked). Please sign in again.', 'signin.signedOut': 'Signed out.',
    'signin.privacy': 'The console never puts the key in a URL, a cookie or a log.',
    'nav.label': 'Main menu', 'nav.overview': 'Overview', 'nav.channels': 'Channels', 'nav.customers': 'Customers', 'nav.segments': 'Segments & rules',
    'nav.campaigns': 'Coupons', 'nav.reminders': 'Reminders', 'nav.settings': 'Settings', 'nav.signout': 'Sign out',
    'health.reminders_late': 'Reminders are {minutes} minutes late: the scheduler may not be running. Ask your operator to check that POST /api/jobs/run is called every minute (README, "Scheduling").',
    'health.delivery_failing': 'Since {since}, every delivery of reminders has failed; they wait for retries. Check the delivery URL and signing secret under Reminders, and that your SMS or message gateway answers.',
    'common.loading': 'Loading…', 'common.save': 'Save', 'common.saved': 'Saved.', 'common.create': 'Create', 'common.cancel': 'Cancel',
    'common.delete': 'Delete', 'common.edit': 'Edit', 'common.copy': 'Copy', 'common.copied': 'Copied', 'common.none': 'None yet',
    'common.yes': 'Yes', 'common.no': 'No', 'common.more': 'Load more', 'common.download': 'Download', 'common.back': 'Back',
    'common.name': 'Name', 'common.active': 'Active', 'common.inactive': 'Inactive', 'common.created': 'Created', 'common.open': 'Open',
    'common.from': 'From', 'common.to': 'To', 'common.apply': 'Apply', 'common.total': 'Total', 'common.status': 'Status',
    'error.api': 'That did not work: {message} ({code})', 'error.network': 'Cannot reach the server. Check the connection and try again.', 'error.unknown': 'Something went wrong. Reload the page and try again.',
    'error.chart': 'The chart could not be drawn.', 'error.back': 'Back to the overview',
    'funnel.scans': 'Scans', 'funnel.unique': 'Unique scanners', 'funnel.leads': 'Leads', 'funnel.first': 'First orders', 'funnel.repeat': 'Repurchases',
    'funnel.revenue': 'Revenue', 'funnel.leadRate': 'Lead rate', 'funnel.repeatRate': 'Repurchase rate', 'funnel.byDay': 'Funnel by day', 'funnel.revenueByDay': 'Revenue by day',
    'overview.title': 'Overview', 'overview.channels': 'By channel', 'overview.rfm': 'RFM groups', 'overview.reminders': 'Repurchase reminders',
    'overview.coupons': 'Coupons', 'overview.superUsers': 'Super users', 'overview.customers': 'Customers', 'overview.group': 'Group',
    'overview.sent': 'Sent', 'overview.converted': 'Converted', 'overview.issued': 'Issued', 'overview.redeemed': 'Redeemed',
    'overview.noChannels': 'No channels yet. Create one under “Channels”.',
    'channels.title': 'Channels', 'channels.new': 'New channel', 'channels.kind': 'Kind', 'channels.code': 'Code', 'channels.target': 'Target URL',
    'channels.targetHint': 'The shop page a scan opens (http or https)', 'channels.tags': 'Tags', 'channels.tagsHint': 'Comma-separated; leads get them',
    'channels.campaign': 'Campaign', 'channels.staff': 'Staff', 'channels.welcome': 'Welcome coupon campaign', 'channels.noWelcome': 'No coupon',
    'channels.created': 'Channel created.', 'channels.retire': 'Retire this code', 'channels.reactivate': 'Reactivate', 'channels.retired': 'Retired: scans show “this code is no longer active”.',
    'channels.confirmDelete': 'Delete this channel? It leaves the list and its code answers as retired.', 'channels.deleted': 'Channel deleted.',
    'channels.qr': 'QR code', 'channels.ec': 'Error correction', 'channels.module': 'Module size (px)', 'channels.svg': 'Download SVG (print)', 'channels.png': 'Download PNG (screens)',
    'channels.scanUrl': 'Scan URL', 'channels.formUrl': 'Lead form URL', 'channels.print': 'Print package cards (A4)', 'channels.printTitle': 'Package-card QR codes (A4)',
    'channels.printHint': 'Tick the channels to print, then press “Print”.', 'channels.printNow': 'Print', 'channels.stats': 'Last 30 days',
    'kind.package_card': 'Package card', 'kind.poster': 'Poster', 'kind.sms': 'SMS', 'kind.store': 'Store', 'kind.staff': 'Staff', 'kind.livestream': 'Livestream', 'kind.other': 'Other',
    'customers.title': 'Customers', 'customers.lookup': 'Find a customer', 'customers.by': 'Find by', 'customers.phone': 'Phone', 'customers.email': 'Email',
    'customers.wecom': 'WeCom external_userid', 'customers.value': 'Value', 'customers.find': 'Find', 'customers.notFound': 'No such customer.',
    'customers.profile': 'Customer', 'customers.contacts': 'Contacts', 'customers.consent': 'Marketing consent', 'customers.granted': 'Granted', 'customers.withdrawn': 'Withdrawn', 'customers.unknown': 'Unknown',
    'customers.orders': 'Orders', 'customers.orderCount': 'Orders', 'customers.spend': 'Spend (net of refunds)', 'customers.firstOrder': 'First order', 'customers.lastOrder': 'Last order',
    'customers.rfm': 'RFM', 'customers.tags': 'Tags', 'customers.reasons': 'Reasons', 'customers.history': 'Tag history', 'customers.products': 'Products bought',
    'customers.plans': 'Reminder plans', 'customers.addTags': 'Add tags', 'customers.removeTag': 'Remove', 'customers.tagsSaved': 'Tags updated.',
    'customers.issue': 'Issue a coupon', 'customers.issued': 'Coupon issued: {code}', 'customers.erase': 'Erase personal data', 'customers.eraseConfirm': "This permanently erases the customer's personal data (contacts, name, identities); numbers stay, anonymous. Type ERASE to confirm:",
    'customers.eraseWord': 'ERASE', 'customers.erased': "This customer's personal data was erased.", 'customers.firstCapture': 'First captured by', 'customers.superUser': 'Super user',
    'customers.coupons': 'Coupons', 'customers.validUntil': 'Valid until',
    'coupon.issued': 'Not used', 'coupon.redeemed': 'Used', 'coupon.available': 'Not issued', 'coupon.shared': 'Shared code',
    'history.added': 'added', 'history.removed': 'removed', 'history.limit_reached': 'tag limit reached',
    'source.rule': 'Rule', 'source.channel': 'Channel', 'source.manual': 'Manual', 'source.platform': 'Platform',
    'segments.title': 'Segments & rules', 'segments.tags': 'Tags', 'segments.rfm': 'RFM groups', 'segments.members': 'Members', 'segments.customers': 'Customers',
    'segments.export': 'Export CSV', 'segments.full': 'Full contacts (needs a key allowed to export them)', 'segments.consented': 'Only customers who accepted marketing',
    'segments.exported': 'Exported {rows} rows.', 'segments.rules': 'Tagging rules', 'segments.newRule': 'New rule', 'segments.tag': 'Tag', 'segments.action': 'Action',
    'segments.add': 'Add', 'segments.remove': 'Remove', 'segments.condition': 'Condition', 'segments.match': 'Match', 'segments.all': 'all conditions', 'segments.any': 'any condition',
    'segments.addCondition': 'Add a condition', 'segments.json': 'Condition JSON (advanced)', 'segments.useJson': 'Edit the JSON directly', 'segments.ruleSaved': 'Rule saved.', 'segments.ruleDeleted': 'Rule deleted.',
    'cond.net_spend': 'Net spend ≥', 'cond.order_count': 'Orders ≥', 'cond.days_since_last_order': 'Days since last order ≥', 'cond.bought': 'Bought a product (product id or SKU)',
    'cond.channel': 'Came from channel', 'cond.rfm_group': 'RFM group', 'cond.within': 'Within days (optional)',
    'rfm.champions': 'Champions', 'rfm.loyal': 'Loyal', 'rfm.active': 'Active', 'rfm.new': 'New', 'rfm.promising': 'Promising', 'rfm.needs_attention': 'Needs attention',
    'rfm.almost_lost': 'Almost lost', 'rfm.at_risk': 'At risk', 'rfm.dormant': 'Dormant', 'rfm.previously_loyal': 'Previously loyal', 'rfm.prospects': 'Prospects', 'rfm.super_users': 'Super users',
    'campaigns.title': 'Coupon campaigns', 'campaigns.new': 'New campaign', 'campaigns.discount': 'Discount', 'campaigns.type': 'Discount type', 'campaigns.fixed': 'Amount off',
    'campaigns.percent': 'Percent off', 'campaigns.freeShipping': 'Free shipping', 'campaigns.amount': 'Amount off', 'campaigns.rate': 'Percent off (e.g. 10)',
    'campaigns.cap': 'At most (optional)', 'campaigns.minOrder': 'Minimum order (spend threshold, optional)', 'campaigns.starts': 'Starts (optional)', 'campaigns.ends': 'Ends (optional)',
    'campaigns.validDays': 'Valid days after issue (optional)', 'campaigns.quota': 'Quota (optional)', 'campaigns.limit': 'Per customer', 'campaigns.codes': 'Codes',
    'campaigns.generated': 'Unique generated codes', 'campaigns.pool': 'Imported platform codes', 'campaigns.shared': 'One shared code', 'campaigns.prefix': 'Prefix', 'campaigns.length': 'Length',
    'campaigns.sharedCode': 'Shared code', 'campaigns.eligibleTags': 'Only these tags (optional)', 'campaigns.eligibleRfm': 'Only these RFM groups (optional)', 'campaigns.onTag': 'Issue automatically when a customer gains tag (optional)',
    'campaigns.rollbackCancel': 'Give back when the order is cancelled', 'campaigns.rollbackRefund': 'Give back on a full refund', 'campaigns.created': 'Campaign created.', 'campaigns.stats': 'Numbers',
    'campaigns.issued': 'Issued', 'campaigns.redeemed': 'Redeemed', 'campaigns.rate2': 'Redemption rate', 'campaigns.orders': 'Orders', 'campaigns.revenue': 'Revenue',
    'campaigns.issueTo': 'Issue to a customer (customer id or phone)', 'campaigns.issue': 'Issue', 'campaigns.import': 'Import codes (CSV, one per line)', 'campaigns.imported': 'Imported {imported}, duplicates {duplicates}, pool now {pool}.',
    'campaigns.batch': 'Print batch', 'campaigns.batchName': 'Batch name (letters, digits, -, _)', 'campaigns.batchCount': 'Count', 'campaigns.batchDone': 'Made and downloaded {rows} codes.',
    'campaigns.pause': 'Pause', 'campaigns.resume': 'Resume', 'campaigns.paused': 'Paused',
    'reminders.title': 'Repurchase reminders', 'reminders.settings': 'Settings', 'reminders.default': 'Default consumption cycle', 'reminders.products': 'Per product', 'reminders.product': 'Product id',
    'reminders.sku': 'SKU', 'reminders.daysPerUnit': 'Days per unit', 'reminders.leadDays': 'Days ahead', 'reminders.count': 'Reminders', 'reminders.gap': 'Days between reminders',
    'reminders.sendTime': 'Send at', 'reminders.followUp': 'Follow-up campaign id (optional)', 'reminders.followUpDays': 'Follow-up after days (optional)', 'reminders.quietStart': 'Quiet from', 'reminders.quietEnd': 'Quiet until',
    'reminders.cap': 'Frequency cap (hours between messages)', 'reminders.conversion': 'Conversion window (days)', 'reminders.attempts': 'Max attempts', 'reminders.delivery': 'Delivery URL (your SMS or message gateway)',
    'reminders.secret': 'Signing secret', 'reminders.secretSet': 'Set', 'reminders.secretNotSet': 'Not set', 'reminders.newSecret': 'Make a new signing secret', 'reminders.secretShown': 'New secret (shown this once):',
    'reminders.addProduct': 'Add a product', 'reminders.stats': 'Results', 'reminders.scheduled': 'Scheduled', 'reminders.sent': 'Sent', 'reminders.suppressedReordered': 'Skipped: reordered',
    'reminders.suppressed': 'Skipped: other', 'reminders.failed': 'Failed', 'reminders.converted': 'Converted', 'reminders.revenue': 'Conversion revenue',
    'settings.title': 'Settings', 'settings.shop': 'Shop', 'settings.zone': 'Time zone (IANA)', 'settings.currency': 'Currency', 'settings.callingCode': 'Default calling code',
    'settings.credentials': 'Platform credentials (write-only)', 'settings.set': 'set', 'settings.notSet': 'not set', 'settings.shopify': 'Shopify webhook secret',
    'settings.woocommerce': 'WooCommerce webhook secret', 'settings.youzanId': 'Youzan client_id', 'settings.youzanSecret': 'Youzan client_secret', 'settings.generic': 'Generic webhook secret (≥ 16 characters)',
    'settings.wecomCorp': 'WeCom corp_id', 'settings.wecomToken': 'WeCom Token', 'settings.wecomKey': 'WeCom EncodingAESKey', 'settings.webhooks': 'Webhook URLs',
    'settings.keys': 'API keys', 'settings.ownerOnly': "Only the shop's owner key manages API keys.", 'settings.keyName': 'Key name', 
    'settings.shopifyDomain': 'Shopify shop domain (*.myshopify.com)', 'settings.audit': 'Security log',
    'scope.export_contacts': 'Export full contacts', 'scope.manage_delivery': 'Change where messages go and their signing secret', 'scope.manage_credentials': 'Change platform credentials',
    'audit.by': 'By', 'audit.change': 'Change', 'audit.delivery_url_changed': 'Delivery: {from} → {to}', 'audit.delivery_secret_rotated': 'Signing secret replaced', 'audit.limits_changed': 'Codes per hour ceiling: {count}',
    'audit.credentials_changed': 'Platform credentials: {fields}', 'audit.owner_key_rotated': 'Owner key replaced, {count} other keys revoked', 'audit.key_created': 'Key {key} made', 'audit.key_revoked': 'Key {key} revoked',
    'settings.newKey': 'New key', 'settings.keyShown': 'New key (shown this once; keep it safe):', 'settings.revoke': 'Revoke', 'settings.revoked': 'Key revoked.', 'settings.scopes': 'Scopes',
    'settings.leaveEmpty': 'Leave empty to keep',
    'settings.branding': 'Branding shoppers see', 'settings.displayName': 'Display name', 'settings.logo': 'Logo image URL', 'settings.accent': 'Accent colour',
    'settings.privacy': 'Privacy policy URL', 'settings.retention': 'Keep details for (months after last contact)',
    'page.title': 'Sign-up page', 'page.headline': 'Headline (e.g. “Scan for ¥10 off”)', 'page.benefit': 'The offer', 'page.button': 'Button words',
    'page.field.name': 'Name', 'page.field.phone': 'Phone', 'page.field.email': 'Email',
    'page.rule.off': 'Not asked', 'page.rule.optional': 'Optional', 'page.rule.required': 'Required',
    'page.verifyPhone': 'Verify phone numbers with a texted code (sent through the reminders’ delivery URL)',
    'page.next.wecom_url': 'WeCom “contact me” link', 'page.next.wecom_qr_url': 'WeCom QR image URL', 'page.next.shop_url': 'Shop URL', 'page.next.mini_program_url': 'Mini-program link',
  },
};
