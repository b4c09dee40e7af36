/*
 * trackswitch management UI (app.js)
 *
 * Vanilla JS single-page client for the RabbitMQ-3.10.8-compatible management
 * HTTP API served by trackswitch under the relative path "api/". Every request
 * carries "Authorization: Basic ..." built from credentials kept in
 * sessionStorage; cookies are never used (credentials: 'omit').
 * All server-provided strings are inserted with textContent, never innerHTML.
 */
'use strict';

const AUTH_KEY = 'trackswitch.auth';
const USER_KEY = 'trackswitch.user';
const TABS = ['overview', 'connections', 'channels', 'exchanges', 'queues'];
const PROPERTY_KEYS = ['content_type', 'content_encoding', 'priority', 'correlation_id', 'reply_to',
  'expiration', 'message_id', 'timestamp', 'type', 'user_id', 'app_id', 'cluster_id', 'delivery_mode', 'headers'];
const NUMERIC_ARGS = ['x-message-ttl', 'x-expires', 'x-max-length', 'x-max-length-bytes', 'x-max-priority',
  'x-delivery-limit', 'x-max-in-memory-length', 'x-max-in-memory-bytes', 'x-quorum-initial-group-size',
  'x-stream-max-segment-size-bytes', 'priority', 'timestamp', 'delivery_mode'];
const BOOL_ARGS = ['x-single-active-consumer'];

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

/* ---------- small DOM helpers (text only, never HTML) ---------- */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
function get(obj, path, dflt) {
  let o = obj;
  for (const p of path.split('.')) { if (o === null || o === undefined) return dflt; o = o[p]; }
  return o === undefined || o === null ? dflt : o;
}
const fmtNum = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : (n === undefined || n === null ? '-' : String(n)));
const fmtRate = (r) => (Number(r) || 0).toFixed(1) + '/s';
const yesNo = (b) => el('span', { class: b ? 'yes' : 'no' }, b ? 'yes' : 'no');
const rate = (row, key) => fmtRate(get(row, 'message_stats.' + key + '_details.rate', 0));
const exchangePathName = (name) => (name === '' ? 'amq.default' : name);

/* ---------- messages ---------- */
let msgTimer = null;
function showMessage(text, kind) {
  const area = $('message-area');
  clear(area);
  clearTimeout(msgTimer);
  const box = el('div', { class: 'msg ' + (kind || 'info'), 'data-testid': 'message', 'data-kind': kind || 'info' },
    el('span', { 'data-testid': 'message-text', id: 'message-text' }, text),
    el('button', { type: 'button', class: 'msg-close', 'aria-label': 'Dismiss', onclick: () => clear(area) }, '\u00d7'));
  area.appendChild(box);
  if (kind !== 'error') msgTimer = setTimeout(() => clear(area), 8000);
}
const showError = (e) => showMessage(e && e.message ? e.message : String(e), 'error');

/* ---------- API ---------- */
class ApiError extends Error {
  constructor(message, status, body) { super(message); this.status = status; this.body = body; }
}
function b64utf8(s) {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  bytes.forEach((b) => { bin += String.fromCharCode(b); });
  return btoa(bin);
}
async function api(method, path, body, opts) {
  opts = opts || {};
  const headers = { Accept: 'application/json' };
  const auth = opts.auth || sessionStorage.getItem(AUTH_KEY);
  if (auth) headers.Authorization = 'Basic ' + auth;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  Object.assign(headers, opts.headers || {});
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit', cache: 'no-store' });
  } catch (e) {
    throw new ApiError('Cannot reach the server: ' + e.message, 0, null);
  }
  const text = await resp.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch (e) { data = text; } }
  if (resp.ok || (opts.allow || []).includes(resp.status)) return data;
  const reason = data && typeof data === 'object' ? (data.reason || data.error) : data;
  const err = new ApiError((reason || resp.statusText || 'Request failed') + ' (HTTP ' + resp.status + ')', resp.status, data);
  if (resp.status === 401 && !opts.auth) { logout('Your session is no longer authorised: ' + (reason || 'login failed')); }
  throw err;
}

/* ---------- key=value / JSON parsing for arguments and properties ---------- */
function typedValue(key, v) {
  if (NUMERIC_ARGS.includes(key) && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  if (BOOL_ARGS.includes(key) && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  return v;
}
function parseKV(text) {
  text = (text || '').trim();
  if (!text) return {};
  if (text.startsWith('{')) {
    let o;
    try { o = JSON.parse(text); } catch (e) { throw new Error('Invalid JSON: ' + e.message); }
    if (typeof o !== 'object' || Array.isArray(o) || o === null) throw new Error('Expected a JSON object');
    return o;
  }
  const out = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf('=');
    if (i <= 0) throw new Error('Expected key=value, got: ' + line);
    const k = line.slice(0, i).trim();
    out[k] = typedValue(k, line.slice(i + 1).trim());
  }
  return out;
}
function buildProperties(text, deliveryMode) {
  const parsed = parseKV(text);
  const props = { delivery_mode: Number(deliveryMode) };
  const headers = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (PROPERTY_KEYS.includes(k)) props[k] = v; else headers[k] = v;
  }
  if (Object.keys(headers).length) props.headers = Object.assign({}, props.headers || {}, headers);
  return props;
}

/* ---------- state ---------- */
const state = {
  tab: 'overview',
  vhost: '',
  vhosts: [],
  timer: null,
  loading: {},
  pending: {},
  queueDetail: null,     // {vhost, name}
  exchangeDetail: null,  // {vhost, name}
};

/* ---------- login / logout ---------- */
function showLoggedIn(user) {
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  $('top-controls').hidden = false;
  $('current-user').textContent = 'User: ' + user;
}
async function login(ev) {
  ev.preventDefault();
  const user = $('login-username').value;
  const pass = $('login-password').value;
  const auth = b64utf8(user + ':' + pass);
  const errBox = $('login-error');
  errBox.hidden = true;
  $('login-submit').disabled = true;
  try {
    const me = await api('GET', 'api/whoami', undefined, { auth });
    sessionStorage.setItem(AUTH_KEY, auth);
    sessionStorage.setItem(USER_KEY, me && me.name ? me.name : user);
    $('login-password').value = '';
    startApp();
  } catch (e) {
    errBox.textContent = e.status === 401 ? 'Login failed: wrong username or password.' : 'Login failed: ' + e.message;
    errBox.hidden = false;
  } finally {
    $('login-submit').disabled = false;
  }
}
function logout(reason) {
  sessionStorage.removeItem(AUTH_KEY);
  sessionStorage.removeItem(USER_KEY);
  clearInterval(state.timer);
  state.timer = null;
  $('app-view').hidden = true;
  $('top-controls').hidden = true;
  $('login-view').hidden = false;
  const errBox = $('login-error');
  if (reason) { errBox.textContent = reason; errBox.hidden = false; } else { errBox.hidden = true; }
}
function startApp() {
  showLoggedIn(sessionStorage.getItem(USER_KEY) || '');
  loadVhosts();
  const fromHash = location.hash.replace('#', '');
  switchTab(TABS.includes(fromHash) ? fromHash : state.tab);
  setRefresh();
}

/* ---------- vhosts ---------- */
async function loadVhosts() {
  try {
    const list = await api('GET', 'api/vhosts');
    const names = (list || []).map((v) => v.name).sort();
    if (names.join('\u0000') === state.vhosts.join('\u0000')) return;
    state.vhosts = names;
    const sel = $('vhost-select');
    clear(sel).appendChild(el('option', { value: '' }, 'All'));
    names.forEach((n) => sel.appendChild(el('option', { value: n }, n)));
    sel.value = names.includes(state.vhost) ? state.vhost : '';
    const qsel = $('add-queue-vhost');
    const prev = qsel.value;
    clear(qsel);
    names.forEach((n) => qsel.appendChild(el('option', { value: n }, n)));
    qsel.value = names.includes(prev) ? prev : (state.vhost || (names.includes('/') ? '/' : names[0] || ''));
  } catch (e) { /* shown by the tab loaders */ }
}

/* ---------- tabs and refresh ---------- */
function switchTab(tab) {
  state.tab = tab;
  if (location.hash !== '#' + tab) history.replaceState(null, '', '#' + tab);
  for (const t of TABS) {
    $('view-' + t).hidden = t !== tab;
    const b = $('tab-' + t);
    b.classList.toggle('active', t === tab);
    b.setAttribute('aria-selected', t === tab ? 'true' : 'false');
  }
  refresh();
}
function setRefresh() {
  clearInterval(state.timer);
  const ms = Number($('refresh-select').value);
  state.timer = ms > 0 ? setInterval(() => refresh(), ms) : null;
}
async function refresh() {
  const tab = state.tab;
  if (state.loading[tab]) { state.pending[tab] = true; return; }
  state.loading[tab] = true;
  state.pending[tab] = false;
  try {
    if (tab === 'overview') await loadOverview();
    else await loadTable(tab);
    if (tab === 'queues' && state.queueDetail) await loadQueueDetail();
    if (tab === 'exchanges' && state.exchangeDetail) await loadExchangeBindings();
    $('last-refresh').textContent = 'Updated ' + new Date().toLocaleTimeString();
  } catch (e) {
    if (e.status !== 401) showError(e);
  } finally {
    state.loading[tab] = false;
    if (state.pending[tab]) setTimeout(refresh, 0);
  }
}

/* ---------- overview ---------- */
function statCard(label, value, testid) {
  return el('div', { class: 'stat', 'data-testid': testid }, el('div', { class: 'stat-value' }, value), el('div', { class: 'stat-label' }, label));
}
async function loadOverview() {
  const [ov, alarms] = await Promise.all([
    api('GET', 'api/overview'),
    api('GET', 'api/health/checks/alarms', undefined, { allow: [503] }).catch((e) => ({ status: 'failed', reason: e.message })),
  ]);
  const ot = ov.object_totals || {};
  const qt = ov.queue_totals || {};
  const ms = ov.message_stats || {};
  const product = (ov.product_name || 'RabbitMQ') + ' ' + (ov.product_version || ov.rabbitmq_version || '');
  clear($('overview-product')).append(
    statCard('Server', product.trim(), 'overview-server'),
    statCard('Node', ov.node || '-', 'overview-node'),
    statCard('Cluster', ov.cluster_name || '-', 'overview-cluster'),
    statCard('Management API', ov.management_version || '-', 'overview-management-version'));
  clear($('overview-totals')).append(...['connections', 'channels', 'exchanges', 'queues', 'consumers'].map(
    (k) => statCard(k[0].toUpperCase() + k.slice(1), fmtNum(ot[k] || 0), 'total-' + k)));
  clear($('overview-queue-totals')).append(
    statCard('Total', fmtNum(qt.messages || 0), 'total-messages'),
    statCard('Ready', fmtNum(qt.messages_ready || 0), 'total-messages-ready'),
    statCard('Unacked', fmtNum(qt.messages_unacknowledged || 0), 'total-messages-unacknowledged'));
  clear($('overview-rates')).append(
    statCard('Publish', fmtRate(get(ms, 'publish_details.rate', 0)), 'rate-publish'),
    statCard('Deliver / get', fmtRate(get(ms, 'deliver_get_details.rate', 0)), 'rate-deliver-get'),
    statCard('Ack', fmtRate(get(ms, 'ack_details.rate', 0)), 'rate-ack'));
  const ok = alarms && alarms.status === 'ok';
  clear($('overview-alarms')).append(el('div', { class: 'alarm ' + (ok ? 'ok' : 'failed'), 'data-testid': 'alarm-status', 'data-status': ok ? 'ok' : 'failed' },
    ok ? 'No alarms in effect' : 'Alarm: ' + ((alarms && alarms.reason) || 'health check failed')));
}

/* ---------- generic paginated tables ---------- */
const vhostCol = { key: 'vhost', label: 'Virtual host', sort: 'vhost', allOnly: true, render: (r) => r.vhost };
const TABLES = {
  connections: {
    path: (vh) => (vh ? 'api/vhosts/' + enc(vh) + '/connections' : 'api/connections'),
    cols: [
      vhostCol,
      { label: 'Name', sort: 'name', render: (r) => el('div', {}, r.name,
        r.user_provided_name ? el('div', { class: 'muted' }, r.user_provided_name) : null) },
      { label: 'User', sort: 'user', render: (r) => r.user },
      { label: 'Peer', sort: 'peer_host', render: (r) => (r.peer_host || '') + (r.peer_port ? ':' + r.peer_port : '') },
      { label: 'Protocol', sort: 'protocol', render: (r) => r.protocol || '' },
      { label: 'State', sort: 'state', render: (r) => el('span', { class: 'badge ' + (r.state || '') }, r.state || '-') },
      { label: 'Channels', sort: 'channels', num: true, render: (r) => fmtNum(r.channels || 0) },
      { label: '', render: (r) => el('button', { type: 'button', class: 'btn small danger', 'data-testid': 'close-connection',
        onclick: () => closeConnection(r.name) }, 'Close') },
    ],
  },
  channels: {
    path: (vh) => (vh ? 'api/vhosts/' + enc(vh) + '/channels' : 'api/channels'),
    cols: [
      vhostCol,
      { label: 'Channel', sort: 'name', render: (r) => r.name },
      { label: 'Connection', render: (r) => get(r, 'connection_details.name', '') },
      { label: 'User', sort: 'user', render: (r) => r.user },
      { label: 'State', sort: 'state', render: (r) => el('span', { class: 'badge ' + (r.state || '') }, r.state || '-') },
      { label: 'Prefetch', sort: 'prefetch_count', num: true, render: (r) => fmtNum(r.prefetch_count || 0) },
      { label: 'Unacked', sort: 'messages_unacknowledged', num: true, render: (r) => fmtNum(r.messages_unacknowledged || 0) },
      { label: 'Consumers', sort: 'consumer_count', num: true, render: (r) => fmtNum(r.consumer_count || 0) },
      { label: 'Confirm', sort: 'confirm', render: (r) => yesNo(r.confirm) },
    ],
  },
  exchanges: {
    path: (vh) => (vh ? 'api/exchanges/' + enc(vh) : 'api/exchanges'),
    cols: [
      vhostCol,
      { label: 'Name', sort: 'name', render: (r) => el('button', { type: 'button', class: 'link', 'data-testid': 'exchange-link',
        onclick: () => openExchange(r.vhost, r.name) }, r.name === '' ? '(AMQP default)' : r.name) },
      { label: 'Type', sort: 'type', render: (r) => r.type },
      { label: 'Durable', sort: 'durable', render: (r) => yesNo(r.durable) },
      { label: 'Auto delete', sort: 'auto_delete', render: (r) => yesNo(r.auto_delete) },
      { label: 'Internal', sort: 'internal', render: (r) => yesNo(r.internal) },
      { label: 'In', num: true, render: (r) => rate(r, 'publish_in') },
      { label: 'Out', num: true, render: (r) => rate(r, 'publish_out') },
    ],
  },
  queues: {
    path: (vh) => (vh ? 'api/queues/' + enc(vh) : 'api/queues'),
    cols: [
      vhostCol,
      { label: 'Name', sort: 'name', render: (r) => el('button', { type: 'button', class: 'link', 'data-testid': 'queue-link',
        onclick: () => openQueue(r.vhost, r.name) }, r.name) },
      { label: 'Type', sort: 'type', render: (r) => r.type || 'classic' },
      { label: 'Durable', sort: 'durable', render: (r) => yesNo(r.durable) },
      { label: 'State', sort: 'state', render: (r) => el('span', { class: 'badge ' + (r.state || '') }, r.state || '-') },
      { label: 'Ready', sort: 'messages_ready', num: true, cls: 'ready', render: (r) => fmtNum(r.messages_ready || 0) },
      { label: 'Unacked', sort: 'messages_unacknowledged', num: true, cls: 'unacked', render: (r) => fmtNum(r.messages_unacknowledged || 0) },
      { label: 'Total', sort: 'messages', num: true, cls: 'total', render: (r) => fmtNum(r.messages || 0) },
      { label: 'Consumers', sort: 'consumers', num: true, cls: 'consumers', render: (r) => fmtNum(r.consumers || 0) },
      { label: 'Incoming', num: true, render: (r) => rate(r, 'publish') },
      { label: 'Deliver / get', num: true, render: (r) => rate(r, 'deliver_get') },
      { label: 'Ack', num: true, render: (r) => rate(r, 'ack') },
    ],
  },
};
for (const [name, t] of Object.entries(TABLES)) {
  t.name = name;
  t.st = { page: 1, pageSize: 100, sort: 'name', reverse: false, filter: '', regex: false };
  t.last = null;
}

function buildToolbar(t) {
  const bar = document.querySelector('.toolbar[data-table="' + t.name + '"]');
  let debounce = null;
  const filter = el('input', { type: 'search', id: t.name + '-filter', 'data-testid': t.name + '-filter', placeholder: 'Filter by name',
    oninput: () => { clearTimeout(debounce); debounce = setTimeout(() => { t.st.filter = filter.value; t.st.page = 1; refresh(); }, 300); } });
  const regex = el('input', { type: 'checkbox', id: t.name + '-regex', 'data-testid': t.name + '-regex',
    onchange: () => { t.st.regex = regex.checked; t.st.page = 1; refresh(); } });
  const size = el('select', { id: t.name + '-page-size', 'data-testid': t.name + '-page-size',
    onchange: () => { t.st.pageSize = Number(size.value); t.st.page = 1; refresh(); } },
  ...[50, 100, 500].map((n) => el('option', { value: n, selected: n === 100 }, n + ' per page')));
  const go = (d) => { const pc = (t.last && t.last.page_count) || 1; const p = Math.min(Math.max(1, t.st.page + d), pc); if (p !== t.st.page) { t.st.page = p; refresh(); } };
  t.prev = el('button', { type: 'button', class: 'btn small', id: t.name + '-prev', 'data-testid': t.name + '-prev', onclick: () => go(-1) }, '\u2039 Prev');
  t.next = el('button', { type: 'button', class: 'btn small', id: t.name + '-next', 'data-testid': t.name + '-next', onclick: () => go(1) }, 'Next \u203a');
  t.info = el('span', { class: 'page-info', id: t.name + '-page-info', 'data-testid': t.name + '-page-info' });
  bar.append(filter, el('label', { class: 'check' }, regex, ' Regex'), size, el('span', { class: 'spacer' }), t.info, t.prev, t.next);
}

/* Emulates server-side paging for endpoints that answer with a plain array. */
function pageLocally(items, st) {
  let rx = null;
  if (st.filter) {
    try { rx = st.regex ? new RegExp(st.filter, 'i') : null; } catch (e) { throw new Error('Invalid regex: ' + e.message); }
  }
  const f = st.filter.toLowerCase();
  const filtered = !st.filter ? items.slice() : items.filter((i) => (rx ? rx.test(i.name || '') : String(i.name || '').toLowerCase().includes(f)));
  filtered.sort((a, b) => {
    const x = get(a, st.sort, ''); const y = get(b, st.sort, '');
    const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
    return st.reverse ? -c : c;
  });
  const pageCount = Math.max(1, Math.ceil(filtered.length / st.pageSize));
  const page = Math.min(st.page, pageCount);
  const pageItems = filtered.slice((page - 1) * st.pageSize, page * st.pageSize);
  return { items: pageItems, page, page_size: st.pageSize, page_count: pageCount, filtered_count: filtered.length,
    item_count: pageItems.length, total_count: items.length };
}

async function loadTable(name) {
  const t = TABLES[name];
  const st = t.st;
  const qs = '?page=' + st.page + '&page_size=' + st.pageSize + '&name=' + enc(st.filter) + '&use_regex=' + st.regex +
    '&sort=' + enc(st.sort) + '&sort_reverse=' + st.reverse + '&pagination=true';
  let data;
  try {
    data = await api('GET', t.path(state.vhost) + qs);
  } catch (e) {
    if (e.status === 400 && e.body && e.body.error === 'page_out_of_range' && st.page > 1) {
      st.page = 1;
      data = await api('GET', t.path(state.vhost) + qs.replace(/page=\d+/, 'page=1'));
    } else throw e;
  }
  if (Array.isArray(data)) data = pageLocally(data, st);
  t.last = data;
  st.page = data.page || 1;
  renderTable(t, data);
}

function renderTable(t, data) {
  const table = $(t.name + '-table');
  const cols = t.cols.filter((c) => !c.allOnly || state.vhost === '');
  const head = el('tr', {}, cols.map((c) => {
    const sorted = c.sort && t.st.sort === c.sort;
    return el('th', { class: [c.num ? 'num' : '', c.sort ? 'sortable' : '', sorted ? 'sorted' : ''].join(' ').trim(),
      'data-sort': c.sort, 'data-testid': c.sort ? t.name + '-sort-' + c.sort : null,
      onclick: c.sort ? () => { if (t.st.sort === c.sort) t.st.reverse = !t.st.reverse; else { t.st.sort = c.sort; t.st.reverse = false; } refresh(); } : null },
    c.label, sorted ? (t.st.reverse ? ' \u25be' : ' \u25b4') : '');
  }));
  clear(table.tHead).appendChild(head);
  const body = clear(table.tBodies[0]);
  const items = data.items || [];
  if (!items.length) {
    body.appendChild(el('tr', { class: 'empty' }, el('td', { colspan: cols.length }, data.total_count ? 'No items match the filter' : 'No ' + t.name)));
  }
  for (const r of items) {
    const open = (t.name === 'queues' && state.queueDetail && state.queueDetail.name === r.name && state.queueDetail.vhost === r.vhost) ||
      (t.name === 'exchanges' && state.exchangeDetail && state.exchangeDetail.name === r.name && state.exchangeDetail.vhost === r.vhost);
    body.appendChild(el('tr', { 'data-name': r.name, 'data-vhost': r.vhost, class: open ? 'selected' : null },
      cols.map((c) => el('td', { class: [c.num ? 'num' : '', c.cls || ''].join(' ').trim() || null, 'data-col': c.cls || null }, c.render(r)))));
  }
  const pc = data.page_count || 1;
  t.info.textContent = 'Page ' + (data.page || 1) + ' of ' + pc + ' \u00b7 ' + fmtNum(data.filtered_count || 0) + ' shown of ' +
    fmtNum(data.total_count || 0) + ' ' + t.name;
  t.prev.disabled = (data.page || 1) <= 1;
  t.next.disabled = (data.page || 1) >= pc;
}

/* ---------- connections ---------- */
async function closeConnection(name) {
  try {
    await api('DELETE', 'api/connections/' + enc(name), undefined, { headers: { 'X-Reason': 'Closed via management UI' } });
    showMessage('Connection ' + name + ' closed.', 'ok');
    refresh();
  } catch (e) { showError(e); }
}

/* ---------- simple bindings table ---------- */
function renderBindings(tableId, list, otherSide) {
  const table = $(tableId);
  clear(table.tHead).appendChild(el('tr', {}, el('th', {}, otherSide === 'source' ? 'From exchange' : 'To'),
    el('th', {}, 'Routing key'), el('th', {}, 'Arguments')));
  const body = clear(table.tBodies[0]);
  if (!list.length) body.appendChild(el('tr', { class: 'empty' }, el('td', { colspan: 3 }, 'No bindings')));
  for (const b of list) {
    const who = otherSide === 'source' ? (b.source === '' ? '(AMQP default)' : b.source) : b.destination + ' (' + b.destination_type + ')';
    body.appendChild(el('tr', { 'data-name': otherSide === 'source' ? b.source : b.destination },
      el('td', {}, who), el('td', {}, b.routing_key), el('td', { class: 'mono' }, JSON.stringify(b.arguments || {}))));
  }
}

/* ---------- exchanges ---------- */
function openExchange(vhost, name) {
  const same = state.exchangeDetail && state.exchangeDetail.vhost === vhost && state.exchangeDetail.name === name;
  state.exchangeDetail = { vhost, name };
  $('exchange-detail').hidden = false;
  $('exchange-detail').setAttribute('data-name', name);
  $('exchange-detail-name').textContent = name === '' ? '(AMQP default)' : name;
  $('exchange-detail-vhost').textContent = 'in virtual host ' + vhost;
  if (!same) $('exchange-publish-routing-key').value = '';
  loadExchangeBindings().catch(showError);
  document.querySelectorAll('#exchanges-table tbody tr').forEach((tr) => tr.classList.toggle('selected', tr.getAttribute('data-name') === name && tr.getAttribute('data-vhost') === vhost));
  $('exchange-detail').scrollIntoView({ block: 'nearest' });
}
async function loadExchangeBindings() {
  const d = state.exchangeDetail;
  if (!d) return;
  const list = d.name === '' ? [] : await api('GET', 'api/exchanges/' + enc(d.vhost) + '/' + enc(d.name) + '/bindings/source');
  if (state.exchangeDetail === d) renderBindings('exchange-bindings-table', list || [], 'destination');
}
async function publish(vhost, exchange, routingKey, payload, deliveryMode, propsText) {
  const body = { properties: buildProperties(propsText, deliveryMode), routing_key: routingKey, payload, payload_encoding: 'string' };
  const res = await api('POST', 'api/exchanges/' + enc(vhost) + '/' + enc(exchangePathName(exchange)) + '/publish', body);
  if (res && res.routed) showMessage('Message published and routed.', 'ok');
  else showMessage('Message published, but not routed.', 'warn');
  return res;
}

/* ---------- queues ---------- */
function openQueue(vhost, name) {
  const same = state.queueDetail && state.queueDetail.vhost === vhost && state.queueDetail.name === name;
  state.queueDetail = { vhost, name };
  const panel = $('queue-detail');
  panel.hidden = false;
  panel.setAttribute('data-name', name);
  panel.setAttribute('data-vhost', vhost);
  $('queue-detail-name').textContent = name;
  $('queue-detail-vhost').textContent = 'in virtual host ' + vhost;
  if (!same) { clear($('queue-get-results')); clear($('queue-confirm')); clear($('queue-detail-stats')); }
  document.querySelectorAll('#queues-table tbody tr').forEach((tr) => tr.classList.toggle('selected', tr.getAttribute('data-name') === name && tr.getAttribute('data-vhost') === vhost));
  if (!same) panel.scrollIntoView({ block: 'nearest' });
  loadQueueDetail().catch(showError);
}
function closeQueueDetail() {
  state.queueDetail = null;
  $('queue-detail').hidden = true;
  document.querySelectorAll('#queues-table tbody tr.selected').forEach((tr) => tr.classList.remove('selected'));
}
async function loadQueueDetail() {
  const d = state.queueDetail;
  if (!d) return;
  const base = 'api/queues/' + enc(d.vhost) + '/' + enc(d.name);
  let q, bindings;
  try {
    [q, bindings] = await Promise.all([api('GET', base), api('GET', base + '/bindings')]);
  } catch (e) {
    if (e.status === 404 && state.queueDetail === d) { closeQueueDetail(); showMessage('Queue ' + d.name + ' no longer exists.', 'warn'); return; }
    throw e;
  }
  if (state.queueDetail !== d) return;
  clear($('queue-detail-stats')).append(
    statCard('Ready', fmtNum(q.messages_ready || 0), 'detail-ready'),
    statCard('Unacked', fmtNum(q.messages_unacknowledged || 0), 'detail-unacked'),
    statCard('Total', fmtNum(q.messages || 0), 'detail-total'),
    statCard('Consumers', fmtNum(q.consumers || 0), 'detail-consumers'),
    statCard('Type', q.type || 'classic', 'detail-type'),
    statCard('Features', [q.durable ? 'durable' : 'transient', q.auto_delete ? 'auto-delete' : null, q.exclusive ? 'exclusive' : null].filter(Boolean).join(', '), 'detail-features'),
    statCard('Arguments', Object.keys(q.arguments || {}).length ? JSON.stringify(q.arguments) : 'none', 'detail-arguments'));
  renderBindings('queue-bindings-table', bindings || [], 'source');
}
function confirmStep(text, yesLabel, onYes) {
  const box = clear($('queue-confirm'));
  box.appendChild(el('div', { class: 'confirm', 'data-testid': 'confirm-box' },
    el('span', {}, text),
    el('button', { type: 'button', class: 'btn danger small', id: 'confirm-yes', 'data-testid': 'confirm-yes',
      onclick: () => { clear(box); onYes(); } }, yesLabel),
    el('button', { type: 'button', class: 'btn small', id: 'confirm-no', 'data-testid': 'confirm-no', onclick: () => clear(box) }, 'Cancel')));
}
async function addQueue(ev) {
  ev.preventDefault();
  try {
    const vhost = $('add-queue-vhost').value;
    const name = $('add-queue-name').value.trim();
    if (!name) throw new Error('Queue name is required');
    const args = parseKV($('add-queue-arguments').value);
    const type = $('add-queue-type').value;
    if (type) args['x-queue-type'] = type;
    await api('PUT', 'api/queues/' + enc(vhost) + '/' + enc(name),
      { durable: $('add-queue-durable').checked, auto_delete: $('add-queue-auto-delete').checked, arguments: args });
    showMessage('Queue ' + name + ' declared in virtual host ' + vhost + '.', 'ok');
    $('add-queue-name').value = '';
    refresh();
  } catch (e) { showError(e); }
}

/* ---------- wiring ---------- */
document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', login);
  $('logout-button').addEventListener('click', () => logout());
  for (const t of TABS) $('tab-' + t).addEventListener('click', () => switchTab(t));
  $('vhost-select').addEventListener('change', (e) => {
    state.vhost = e.target.value;
    for (const t of Object.values(TABLES)) t.st.page = 1;
    if (state.vhost) $('add-queue-vhost').value = state.vhost;
    refresh();
  });
  $('refresh-select').addEventListener('change', setRefresh);
  Object.values(TABLES).forEach(buildToolbar);

  $('queue-detail-close').addEventListener('click', closeQueueDetail);
  $('exchange-detail-close').addEventListener('click', () => { state.exchangeDetail = null; $('exchange-detail').hidden = true; });
  $('add-queue-form').addEventListener('submit', addQueue);

  $('queue-publish-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const d = state.queueDetail;
    if (!d) return;
    try {
      await publish(d.vhost, '', d.name, $('queue-publish-payload').value, $('queue-publish-delivery-mode').value, $('queue-publish-properties').value);
      refresh();
    } catch (e) { showError(e); }
  });
  $('exchange-publish-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const d = state.exchangeDetail;
    if (!d) return;
    try {
      await publish(d.vhost, d.name, $('exchange-publish-routing-key').value, $('exchange-publish-payload').value,
        $('exchange-publish-delivery-mode').value, $('exchange-publish-properties').value);
    } catch (e) { showError(e); }
  });
  $('queue-get-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const d = state.queueDetail;
    if (!d) return;
    const out = clear($('queue-get-results'));
    try {
      const msgs = await api('POST', 'api/queues/' + enc(d.vhost) + '/' + enc(d.name) + '/get',
        { count: Math.max(1, Number($('queue-get-count').value) || 1), ackmode: $('queue-get-ackmode').value, encoding: 'auto', truncate: 50000 });
      if (!msgs || !msgs.length) { out.appendChild(el('p', { class: 'muted', 'data-testid': 'queue-empty' }, 'Queue is empty.')); return; }
      msgs.forEach((m, i) => out.appendChild(el('div', { class: 'message-card', 'data-testid': 'fetched-message' },
        el('div', { class: 'message-meta' },
          el('strong', {}, 'Message ' + (i + 1)),
          el('span', {}, 'Exchange: ' + (m.exchange === '' ? '(AMQP default)' : m.exchange)),
          el('span', { 'data-testid': 'message-routing-key' }, 'Routing key: ' + m.routing_key),
          el('span', { 'data-testid': 'message-redelivered' }, 'Redelivered: ' + (m.redelivered ? 'yes' : 'no')),
          el('span', {}, 'Remaining: ' + fmtNum(m.message_count)),
          el('span', {}, 'Size: ' + fmtNum(m.payload_bytes) + ' bytes' + (m.payload_encoding === 'base64' ? ' (base64)' : ''))),
        el('div', { class: 'mono muted', 'data-testid': 'message-properties' }, 'Properties: ' + JSON.stringify(m.properties || {})),
        el('pre', { 'data-testid': 'message-payload', class: 'payload' }, m.payload))));
      refresh();
    } catch (e) { showError(e); }
  });
  $('queue-purge').addEventListener('click', () => {
    const d = state.queueDetail;
    if (!d) return;
    confirmStep('Purge all messages from ' + d.name + '?', 'Yes, purge', async () => {
      try {
        await api('DELETE', 'api/queues/' + enc(d.vhost) + '/' + enc(d.name) + '/contents');
        showMessage('Queue ' + d.name + ' purged.', 'ok');
        refresh();
      } catch (e) { showError(e); }
    });
  });
  $('queue-delete').addEventListener('click', () => {
    const d = state.queueDetail;
    if (!d) return;
    confirmStep('Delete queue ' + d.name + '? This cannot be undone.', 'Yes, delete', async () => {
      try {
        await api('DELETE', 'api/queues/' + enc(d.vhost) + '/' + enc(d.name));
        showMessage('Queue ' + d.name + ' deleted.', 'ok');
        closeQueueDetail();
        refresh();
      } catch (e) { showError(e); }
    });
  });

  if (sessionStorage.getItem(AUTH_KEY)) startApp();
  else $('login-username').focus();
});
