// Bulwark's web page: login, then the system view (live actor tree and
// statecharts, for users with Sys.Audit on /system), the datastore admin
// view and the task list. Plain ES modules; the only library is elkjs,
// served by the server itself.

import { currentUser, hasPrivilege, login, logout, resume, wsProtocols } from './api.js';
import { DatastoresView } from './datastores.js';
import { $, $$ } from './dom.js';
import { Feed } from './feed.js';
import { SystemView } from './system.js';
import { TasksView } from './tasks.js';

const feed = new Feed();
let systemAllowed = false;
let currentTab = null;

const tasks = new TasksView();
const system = new SystemView(feed, { onOpenTaskLog: (upid) => openTaskLog(upid) });
const datastores = new DatastoresView({
  confirm,
  notify,
  onTaskStarted: (upid) => {
    // Watch the job's actor when the user may; otherwise follow its log.
    if (systemAllowed) {
      showTab('system');
      system.selectSystemId(`job:${upid}`);
    } else {
      void openTaskLog(upid);
    }
  },
});

function notify(text, kind = 'info') {
  const el = $('#notice');
  el.textContent = text;
  el.className = kind;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { el.textContent = ''; el.className = ''; }, 8000);
}

/** Resolves to true (or the prune options) when confirmed, false when cancelled. */
function confirm(text, { prune = false } = {}) {
  const dialog = $('#confirm');
  $('#confirm-text').textContent = text;
  $('#prune-options').hidden = !prune;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      if (dialog.returnValue !== 'ok') return resolve(false);
      if (!prune) return resolve(true);
      const keep = {};
      for (const k of ['last', 'daily', 'weekly', 'monthly', 'yearly']) {
        const v = $(`#keep-${k}`).value;
        if (v !== '') keep[`keep-${k}`] = v;
      }
      if ($('#prune-dry-run').checked) keep['dry-run'] = 1;
      resolve(keep);
    }, { once: true });
  });
}

function showTab(tab) {
  currentTab = tab;
  for (const b of $$('.tab')) b.classList.toggle('current', b.dataset.tab === tab);
  for (const v of $$('.view')) v.hidden = v.id !== tab;
  if (tab === 'datastores') void datastores.load();
  if (tab === 'tasks') void tasks.load();
  if (tab === 'system') system.render();
}

async function openTaskLog(upid) {
  showTab('tasks');
  await tasks.openLog(upid);
}

function setSystemAllowed(allowed) {
  systemAllowed = allowed;
  $('.tab[data-tab="system"]').hidden = !allowed;
  $('#system-denied').hidden = allowed;
  $('#system-body').hidden = !allowed;
  if (!allowed && currentTab === 'system') showTab('datastores');
}

feed.addEventListener('status', () => {
  $('#feed-status').textContent = feed.status === 'open' ? 'live' : feed.status === 'closed' ? 'reconnecting…' : '';
  // The server turns the feed down without Sys.Audit on /system (or when it has none to give).
  if (feed.status === 'refused') setSystemAllowed(false);
});

async function enter() {
  $('#login').hidden = true;
  $('#tabs').hidden = false;
  $('#session').hidden = false;
  $('#whoami').textContent = currentUser();
  const audit = await hasPrivilege('/system', 'Sys.Audit').catch(() => undefined);
  if (audit === false) {
    setSystemAllowed(false);
    showTab('datastores');
    return;
  }
  setSystemAllowed(true);
  feed.connect(wsProtocols());
  showTab('system');
}

function leave() {
  feed.close();
  logout();
  $('#tabs').hidden = true;
  $('#session').hidden = true;
  for (const v of $$('.view')) v.hidden = true;
  $('#login').hidden = false;
  $('#password').value = '';
}

function askTfa() {
  $('#tfa-row').hidden = false;
  $('#login-error').textContent = 'enter your second factor';
  $('#tfa-code').focus();
  $('#login-submit').disabled = false;
  return new Promise((resolve) => {
    $('#login').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const code = $('#tfa-code').value.trim();
      resolve(/^\d{6}$/.test(code) ? `totp:${code}` : `recovery:${code}`);
    }, { once: true, capture: true });
  });
}

$('#login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (!$('#tfa-row').hidden) return; // the second-factor step has its own handler
  $('#login-error').textContent = '';
  $('#login-submit').disabled = true;
  try {
    await login($('#username').value.trim(), $('#password').value, askTfa);
    $('#tfa-row').hidden = true;
    await enter();
  } catch (err) {
    $('#tfa-row').hidden = true;
    $('#login-error').textContent = `login failed: ${err.message}`;
  } finally {
    $('#login-submit').disabled = false;
  }
});

$('#logout').addEventListener('click', leave);
for (const b of $$('.tab')) b.addEventListener('click', () => showTab(b.dataset.tab));

if (await resume()) await enter();
else $('#login').hidden = false;
