// The securenode console: the REST API's own calls, authenticated by the
// session cookie (HttpOnly: this script never sees it), with the session's
// CSRF token on every change. What the user's roles do not allow is not
// offered (the API refuses it anyway). Text only ever enters the page as text.
const $ = (id) => document.getElementById(id);
let session;

async function api(method, path, body, headers = {}) {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: { 'x-securenode-console': '1', ...(method === 'GET' ? {} : { 'x-csrf-token': session?.csrf_token ?? '' }), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status === 401 && session) return expired();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** The session ended elsewhere (a logout, a new password, its time): back to the login form. */
function expired() {
  session = undefined;
  show('login-view');
  say($('login-error'), 'Your session has ended; log in again.');
  return { status: 401, body: { error: 'session ended' } };
}

const allowed = (action) => session?.allowed?.[action] === true;
const errorOf = (view) => $(view).querySelector('.error');

function say(element, message) {
  element.textContent = message ?? '';
  element.hidden = !message;
}

function show(view) {
  for (const section of document.querySelectorAll('main > section')) section.hidden = section.id !== view;
  $('nav').hidden = view === 'login-view';
  for (const tab of document.querySelectorAll('.tab')) tab.setAttribute('aria-current', tab.dataset.view === view ? 'page' : 'false');
}

/** A cell with a button per action the user may take. */
function actions(row, buttons) {
  const cell = row.insertCell();
  for (const [label, action] of buttons) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'small';
    button.textContent = label;
    button.addEventListener('click', action);
    cell.append(button);
  }
}

/** Run a change; on success reload the page's table, else say why. */
async function change(view, method, path, body, reload) {
  const answer = await api(method, path, body);
  if (answer.status >= 300) return say(errorOf(view), answer.body?.error ?? `the node answered ${answer.status}`), false;
  say(errorOf(view));
  await reload();
  return true;
}

async function loadUsers() {
  const answer = await api('GET', '/_security/user');
  const body = $('users').tBodies[0];
  body.replaceChildren();
  if (answer.status !== 200) return say(errorOf('users-view'), answer.body?.error ?? `the node answered ${answer.status}`);
  for (const [name, user] of Object.entries(answer.body).sort(([a], [b]) => a.localeCompare(b))) {
    const row = body.insertRow();
    for (const value of [name, user.roles.join(', '), user.enabled ? 'yes' : 'no']) row.insertCell().textContent = value;
    const path = `/_security/user/${encodeURIComponent(name)}`;
    const mine = name === session.username;
    actions(row, [
      ...(allowed('users.write') && !mine ? [[user.enabled ? `Disable ${name}` : `Enable ${name}`, () => change('users-view', 'PUT', `${path}/${user.enabled ? '_disable' : '_enable'}`, undefined, loadUsers)]] : []),
      ...(allowed('users.delete') && !mine && name !== 'elastic' ? [[`Delete ${name}`, () => confirm(`Delete the user ${name}?`) && change('users-view', 'DELETE', path, undefined, loadUsers)]] : []),
    ]);
  }
}

async function loadRoles() {
  const answer = await api('GET', '/_security/role');
  const body = $('roles').tBodies[0];
  body.replaceChildren();
  if (answer.status !== 200) return say(errorOf('roles-view'), answer.body?.error ?? `the node answered ${answer.status}`);
  const rows = (list) => list.map((entry) => `${entry.negative ? 'deny' : 'allow'} ${entry.actions.join(',')} ${entry.endpoint ?? `${entry.entity_type}:${entry.entity_id}`}`).join('; ') || '-';
  for (const [name, role] of Object.entries(answer.body).sort(([a], [b]) => a.localeCompare(b))) {
    const builtIn = role.metadata?._reserved === true;
    const row = body.insertRow();
    for (const value of [builtIn ? `${name} (built in)` : name, rows(role.endpoints), rows(role.entities)]) row.insertCell().textContent = value;
    actions(row, builtIn || !allowed('roles.delete') ? [] : [[`Delete ${name}`, () => confirm(`Delete the role ${name}?`) && change('roles-view', 'DELETE', `/_security/role/${encodeURIComponent(name)}?force=true`, undefined, loadRoles)]]);
  }
}

async function loadKeys() {
  const answer = await api('GET', '/_security/api_key');
  const body = $('keys').tBodies[0];
  body.replaceChildren();
  if (answer.status !== 200) return say(errorOf('keys-view'), answer.body?.error ?? `the node answered ${answer.status}`);
  for (const key of answer.body.api_keys.sort((a, b) => b.creation - a.creation)) {
    const row = body.insertRow();
    const state = key.invalidated ? 'invalidated' : key.expiration !== null && key.expiration <= Date.now() ? 'expired' : 'active';
    for (const value of [key.name, key.username, new Date(key.creation).toISOString().slice(0, 16).replace('T', ' '), state]) row.insertCell().textContent = value;
    actions(row, state === 'active' && allowed('api_keys.delete') ? [[`Invalidate ${key.name}`, () => change('keys-view', 'DELETE', '/_security/api_key', { ids: [key.id] }, loadKeys)]] : []);
  }
}

async function loadCluster() {
  const answer = await api('GET', '/_cluster/health');
  const body = $('nodes').tBodies[0];
  body.replaceChildren();
  if (answer.status !== 200) return say(errorOf('cluster-view'), answer.body?.error ?? `the node answered ${answer.status}`);
  $('cluster-status').textContent = `${answer.body.cluster_name ?? 'cluster'}: ${answer.body.status}, ${answer.body.number_of_nodes} node(s) connected`;
  for (const node of answer.body.nodes) {
    const row = body.insertRow();
    for (const value of [node.name, node.state]) row.insertCell().textContent = value;
  }
}

async function loadAudit() {
  const query = new URLSearchParams({ size: '100' });
  if ($('audit-user').value.trim()) query.set('user', $('audit-user').value.trim());
  if ($('audit-event').value.trim()) query.set('event', $('audit-event').value.trim());
  const answer = await api('GET', `/_security/audit?${query}`);
  const body = $('audit').tBodies[0];
  body.replaceChildren();
  if (answer.status !== 200) return say(errorOf('audit-view'), answer.body?.error ?? `the node answered ${answer.status}`);
  say(errorOf('audit-view'));
  for (const { time, event, user, source, request_id: _request, ...details } of answer.body.events) {
    const row = body.insertRow();
    for (const value of [String(time).replace('T', ' ').slice(0, 19), event, user ?? '-', source ?? '-', JSON.stringify(details)]) row.insertCell().textContent = value;
  }
}

const loaders = { 'users-view': loadUsers, 'roles-view': loadRoles, 'keys-view': loadKeys, 'enroll-view': async () => {}, 'cluster-view': loadCluster, 'audit-view': loadAudit };

async function open(view) {
  show(view);
  await loaders[view]();
}

async function enter(opened) {
  session = opened;
  $('who').textContent = `${session.username} (${session.roles.join(', ') || 'no roles'})`;
  // What the roles do not allow is not offered.
  for (const element of document.querySelectorAll('[data-needs]')) element.hidden = !allowed(element.dataset.needs);
  const first = [...document.querySelectorAll('.tab')].find((tab) => !tab.hidden);
  if (first) await open(first.dataset.view);
  else show('users-view'), say(errorOf('users-view'), 'Your roles allow nothing that this console shows.');
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const credentials = btoa(String.fromCharCode(...new TextEncoder().encode(`${$('username').value}:${$('password').value}`)));
  const answer = await api('POST', '/_security/session', undefined, { authorization: `Basic ${credentials}` });
  $('password').value = '';
  if (answer.status !== 200) return say($('login-error'), answer.status === 429 ? 'Too many failed logins; wait and try again.' : 'Wrong username or password.');
  say($('login-error'));
  await enter(answer.body);
});

for (const tab of document.querySelectorAll('.tab')) tab.addEventListener('click', () => open(tab.dataset.view));

$('audit-filter').addEventListener('submit', async (event) => {
  event.preventDefault();
  await loadAudit();
});

$('create-user').addEventListener('submit', async (event) => {
  event.preventDefault();
  const roles = $('new-roles').value.split(',').map((role) => role.trim()).filter(Boolean);
  const body = { password: $('new-password').value, roles };
  $('new-password').value = '';
  if (await change('users-view', 'PUT', `/_security/user/${encodeURIComponent($('new-username').value)}`, body, loadUsers)) event.target.reset();
});

$('set-password').addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = { password: $('password-new').value };
  $('password-new').value = '';
  if (await change('users-view', 'POST', `/_security/user/${encodeURIComponent($('password-user').value)}/_password`, body, loadUsers)) event.target.reset();
});

/** Rows as typed, one a line: "[deny] read,update target"; the target is an endpoint, or type:id for entities. */
function rowsOf(text, entity) {
  return text.split('\n').map((line) => line.trim()).filter(Boolean).map((line) => {
    const words = line.split(/\s+/);
    const negative = words[0] === 'deny';
    const [actions, target] = negative ? words.slice(1) : words;
    const list = (actions ?? '').split(',').filter(Boolean);
    if (!entity) return { endpoint: target ?? '', actions: list, negative };
    const [type, ...id] = (target ?? '').split(':');
    return { entity_type: type, entity_id: id.join(':'), actions: list, negative };
  });
}

$('create-role').addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = { endpoints: rowsOf($('role-endpoints').value, false), entities: rowsOf($('role-entities').value, true) };
  if (await change('roles-view', 'PUT', `/_security/role/${encodeURIComponent($('role-name').value)}`, body, loadRoles)) event.target.reset();
});

$('set-roles').addEventListener('submit', async (event) => {
  event.preventDefault();
  const roles = $('roles-list').value.split(',').map((role) => role.trim()).filter(Boolean);
  if (await change('users-view', 'PUT', `/_security/user/${encodeURIComponent($('roles-user').value)}`, { roles }, loadUsers)) event.target.reset();
});

$('create-key').addEventListener('submit', async (event) => {
  event.preventDefault();
  const expiration = $('key-expiration').value.trim();
  const answer = await api('POST', '/_security/api_key', { name: $('key-name').value, ...(expiration ? { expiration } : {}) });
  if (answer.status !== 200) return say(errorOf('keys-view'), answer.body?.error ?? `the node answered ${answer.status}`);
  say(errorOf('keys-view'));
  event.target.reset();
  // Shown once: it is not kept anywhere but this page, until the next key or a reload.
  $('new-key-value').textContent = answer.body.encoded;
  $('new-key').hidden = false;
  await loadKeys();
});

$('create-token').addEventListener('submit', async (event) => {
  event.preventDefault();
  const scope = $('token-scope').value;
  const answer = await api('POST', '/_security/enrollment_token', { scope, ttl: $('token-ttl').value.trim() });
  if (answer.status !== 200) return say(errorOf('enroll-view'), answer.body?.error ?? `the node answered ${answer.status}`);
  say(errorOf('enroll-view'));
  $('new-token-use').textContent = `Shown only this once, valid until ${new Date(answer.body.expires).toLocaleString()}: ${scope === 'node' ? 'start the new node with securenode start --enrollment-token <token>' : 'a client enrolls with securenode enroll --enrollment-token <token> --out ./client'}.`;
  $('new-token-value').textContent = answer.body.token;
  $('new-token').hidden = false;
});

$('copy-token').addEventListener('click', async () => {
  await navigator.clipboard.writeText($('new-token-value').textContent);
  $('copy-token').textContent = 'Copied';
});

$('copy-key').addEventListener('click', async () => {
  await navigator.clipboard.writeText($('new-key-value').textContent);
  $('copy-key').textContent = 'Copied';
});

$('logout').addEventListener('click', async () => {
  await api('DELETE', '/_security/session');
  session = undefined;
  for (const id of ['new-key', 'new-token']) {
    $(`${id}-value`).textContent = '';
    $(id).hidden = true;
  }
  show('login-view');
});

const current = await api('GET', '/_security/session');
if (current.status === 200) await enter(current.body);
else show('login-view');
