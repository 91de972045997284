/// <reference lib="dom" />
// The review UI: sign-in, then Board / Live / Queue / Detail / Stats / Learning / Settings / Users, routed by the URL hash.
import { h, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { api, closeServerEvents, setSession } from './api.js';
import { BoardPage } from './board.js';
import { DetailPage } from './detail.js';
import { LearningPage } from './learning.js';
import { LivePage } from './live.js';
import { LoginPage } from './login.js';
import { useHash } from './nav.js';
import { PartPage, PartsPage } from './parts.js';
import { QueuePage } from './queue.js';
import { createQueueSession } from './session.js';
import { SettingsPage } from './settings.js';
import { StatsPage } from './stats.js';
import type { Role, User } from './types.js';
import { UsersPage } from './users.js';

interface AuthState {
  user?: User;
  csrf?: string;
  setupAvailable: boolean;
}

const RANK: Record<Role, number> = { operator: 0, engineer: 1, admin: 2 };
export const can = (user: User, role: Role) => RANK[user.role] >= RANK[role];

function Nav({ user, hash, onSignOut }: { user: User; hash: string; onSignOut: () => void }) {
  const link = (href: string, label: string, role: Role = 'operator') =>
    can(user, role) ? h('a', { href, class: hash.startsWith(href) ? 'active' : '' }, label) : null;
  return h(
    'header',
    { class: 'nav' },
    h('strong', { class: 'brand' }, 'Visor'),
    h('nav', null, link('#/board', 'Board'), link('#/live', 'Live'), link('#/queue', 'Queue'), link('#/stats', 'Stats'), link('#/learning', 'Learning'), link('#/settings', 'Settings', 'engineer'), link('#/users', 'Users', 'admin')),
    h('span', { class: 'who' }, `${user.name} · ${user.role}`),
    h('button', { class: 'link', onClick: onSignOut }, 'Sign out'),
  );
}

function App() {
  const [auth, setAuth] = useState<AuthState | undefined>(undefined);
  // The queue as last seen, handed to the queue and detail pages (both outlive each other's visits).
  const [session] = useState(createQueueSession);
  const hash = useHash();
  const refresh = () =>
    api<AuthState>('/api/auth/state').then((s) => {
      setSession(s.csrf, () => setAuth({ setupAvailable: false }));
      setAuth(s);
    });
  useEffect(() => {
    void refresh();
  }, []);
  if (!auth) return h('p', { class: 'loading' }, 'Loading…');
  if (!auth.user) return h(LoginPage, { setup: auth.setupAvailable, onSignedIn: () => void refresh() });
  const user = auth.user;
  const signOut = async () => {
    await api('/api/auth/logout', { method: 'POST' }).catch(() => undefined);
    closeServerEvents();
    setAuth({ setupAvailable: false });
  };
  const [, route, arg] = /^#\/([a-z]+)\/?(.*)$/.exec(hash) ?? [];
  let page;
  // A page the user's role does not open says so, instead of quietly showing the queue.
  const needs = (role: Role, label: string) =>
    h('p', { class: 'error', role: 'alert', id: 'needs-role' }, `${label} needs the ${role} role; you are signed in as ${user.name} (${user.role}). `, h('a', { href: '#/queue' }, 'Go to the queue'));
  if (route === 'live') page = h(LivePage, null);
  else if (route === 'board') page = h(BoardPage, { user });
  else if (route === 'inspection' && arg) page = h(DetailPage, { id: arg, session, user, key: arg });
  else if (route === 'part' && arg) page = h(PartPage, { row: arg, key: arg });
  else if (route === 'parts') page = h(PartsPage, { arg: arg ?? '', key: arg });
  else if (route === 'stats') page = h(StatsPage, null);
  else if (route === 'learning') page = h(LearningPage, { user, session });
  else if (route === 'settings') page = can(user, 'engineer') ? h(SettingsPage, { user }) : needs('engineer', 'Settings');
  else if (route === 'users') page = can(user, 'admin') ? h(UsersPage, { self: user }) : needs('admin', 'Users');
  else page = h(QueuePage, { session });
  return h('div', { class: `app page-${route ?? 'queue'}` }, h(Nav, { user, hash, onSignOut: () => void signOut() }), h('main', null, page));
}

render(h(App, null), document.getElementById('app')!);
