// The securenode console: the REST API's own calls, authenticated by the
// session cookie (HttpOnly: this script never sees it), with the session's
// CSRF token on every change. Text only ever enters the page as text.
const $ = (id) => document.getElementById(id);
let csrf = '';

async function api(method, path, body, headers = {}) {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: { 'x-securenode-console': '1', ...(method === 'GET' ? {} : { 'x-csrf-token': csrf }), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

function show(view) {
  for (const id of ['login-view', 'users-view']) $(id).hidden = id !== view;
  $('nav').hidden = view === 'login-view';
}

function say(id, message) {
  $(id).textContent = message ?? '';
  $(id).hidden = !message;
}

async function loadUsers() {
  const answer = await api('GET', '/_security/user');
  const body = $('users').tBodies[0];
  body.replaceChildren();
  if (answer.status !== 200) return say('users-error', answer.body?.error ?? `the node answered ${answer.status}`);
  say('users-error');
  for (const [name, user] of Object.entries(answer.body).sort(([a], [b]) => a.localeCompare(b))) {
    const row = body.insertRow();
    for (const value of [name, user.roles.join(', '), user.enabled ? 'yes' : 'no']) row.insertCell().textContent = value;
  }
}

async function enter(session) {
  csrf = session.csrf_token;
  $('who').textContent = `${session.username} (${session.roles.join(', ') || 'no roles'})`;
  show('users-view');
  await loadUsers();
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const credentials = btoa(String.fromCharCode(...new TextEncoder().encode(`${$('username').value}:${$('password').value}`)));
  const answer = await api('POST', '/_security/session', undefined, { authorization: `Basic ${credentials}` });
  $('password').value = '';
  if (answer.status !== 200) return say('login-error', answer.status === 429 ? 'Too many failed logins; wait and try again.' : 'Wrong username or password.');
  say('login-error');
  await enter(answer.body);
});

$('create-user').addEventListener('submit', async (event) => {
  event.preventDefault();
  const roles = $('new-roles').value.split(',').map((role) => role.trim()).filter(Boolean);
  const answer = await api('PUT', `/_security/user/${encodeURIComponent($('new-username').value)}`, { password: $('new-password').value, roles });
  $('new-password').value = '';
  if (answer.status !== 200) return say('create-error', answer.body?.error ?? `the node answered ${answer.status}`);
  say('create-error');
  $('create-user').reset();
  await loadUsers();
});

$('logout').addEventListener('click', async () => {
  await api('DELETE', '/_security/session');
  csrf = '';
  show('login-view');
});

const session = await api('GET', '/_security/session');
if (session.status === 200) await enter(session.body);
else show('login-view');
