/// <reference lib="dom" />
// The review UI: sign-in, then Live / Queue / Detail / Stats / Settings / Users, routed by the URL hash.
import { h, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { api, closeServerEvents, setSession } from './api.js';
import { DetailPage } from './detail.js';
import { LivePage } from './live.js';
import { LoginPage } from './login.js';
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

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/queue');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/queue');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function Nav({ user, hash, onSignOut }: { user: User; hash: string; onSignOut: () => void }) {
  const link = (href: string, label: string, role: Role = 'operator') =>
    can(user, role) ? h('a', { href, class: hash.startsWith(href) ? 'active' : '' }, label) : null;
  return h(
    'header',
    { class: 'nav' },
    h('strong', { class: 'brand' }, 'Visor'),
    h('nav', null, link('#/live', 'Live'), link('#/queue', 'Queue'), link('#/stats', 'Stats'), link('#/settings', 'Settings', 'engineer'), link('#/users', 'Users', 'admin')),
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
  if (route === 'live') page = h(LivePage, null);
  else if (route === 'inspection' && arg) page = h(DetailPage, { id: arg, session, key: arg });
  else if (route === 'stats') page = h(StatsPage, null);
  else if (route === 'settings' && can(user, 'engineer')) page = h(SettingsPage, { user });
  else if (route === 'users' && can(user, 'admin')) page = h(UsersPage, { self: user });
  else page = h(QueuePage, { session });
  return h('div', { class: 'app' }, h(Nav, { user, hash, onSignOut: () => void signOut() }), h('main', null, page));
}

render(h(App, null), document.getElementById('app')!);
