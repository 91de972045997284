/// <reference lib="dom" />
// Users and API tokens (admins).
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, formErrors } from './api.js';
import { fieldError } from './login.js';
import { fmtTime } from './cards.js';
import type { Role, User } from './types.js';

interface Token {
  id: number;
  user: string;
  label: string;
  createdAt: number;
  lastUsedAt: number | null;
  revoked: boolean;
}
const ROLES: Role[] = ['operator', 'engineer', 'admin'];

export function UsersPage({ self }: { self: User }) {
  const [users, setUsers] = useState<User[]>([]);
  const [tokens, setTokens] = useState<Token[]>([]);
  const [form, setForm] = useState({ name: '', role: 'operator' as Role, password: '' });
  const [tokenForm, setTokenForm] = useState({ user: self.name, label: '' });
  const [newToken, setNewToken] = useState('');
  const [message, setMessage] = useState('');
  const [fields, setFields] = useState<Record<string, string>>({});
  const load = () => {
    void api<{ users: User[] }>('/api/users').then((r) => setUsers(r.users), (e: Error) => setMessage(e.message));
    void api<{ tokens: Token[] }>('/api/tokens').then((r) => setTokens(r.tokens), (e: Error) => setMessage(e.message));
  };
  useEffect(load, []);
  const act = (p: Promise<unknown>, done: string) =>
    p.then(
      () => {
        setMessage(done);
        load();
      },
      (e: Error) => setMessage(e.message),
    );
  const input = (name: 'name' | 'password', type = 'text') =>
    h(
      'span',
      { class: 'field' },
      h('input', { name, type, placeholder: name, value: form[name], 'aria-invalid': fields[name] ? 'true' : undefined, onInput: (e: Event) => setForm({ ...form, [name]: (e.target as HTMLInputElement).value }) }),
      fieldError(fields[name]),
    );
  return h(
    'section',
    { class: 'users' },
    message ? h('p', { class: 'status', role: 'status' }, message) : null,
    h('h2', null, 'Users'),
    h(
      'table',
      null,
      h('tbody', null,
        users.map((u) =>
          h('tr', { key: u.id },
            h('td', null, u.name),
            h('td', null, h('select', { value: u.role, onChange: (e: Event) => void act(api(`/api/users/${u.name}`, { method: 'PATCH', body: { role: (e.target as HTMLSelectElement).value } }), `${u.name}: role changed`) }, ROLES.map((r) => h('option', { value: r }, r)))),
            h('td', null, u.disabled ? 'disabled' : 'active'),
            h('td', null, h('button', { class: 'link', onClick: () => void act(api(`/api/users/${u.name}`, { method: 'PATCH', body: { disabled: !u.disabled } }), `${u.name}: ${u.disabled ? 'enabled' : 'disabled'}`) }, u.disabled ? 'enable' : 'disable')),
          ),
        ),
      ),
    ),
    h('form', {
      class: 'inline',
      onSubmit: (e: Event) => {
        e.preventDefault();
        setFields({});
        void api('/api/users', { method: 'POST', body: form }).then(
          () => {
            setMessage(`user ${form.name} added`);
            setForm({ name: '', role: 'operator', password: '' });
            load();
          },
          (err: unknown) => {
            const { fields: f, message: m } = formErrors(err, ['name', 'password', 'role']);
            setFields(f);
            setMessage(m);
          },
        );
      },
    },
      input('name'),
      h('select', { value: form.role, onChange: (e: Event) => setForm({ ...form, role: (e.target as HTMLSelectElement).value as Role }) }, ROLES.map((r) => h('option', { value: r }, r))),
      input('password', 'password'),
      h('button', { type: 'submit' }, 'Add user'),
    ),
    h('h2', null, 'API tokens'),
    h('p', { class: 'hint' }, 'For automation: send "Authorization: Bearer <token>". A token acts with its user\'s role. It is shown once.'),
    newToken ? h('p', { class: 'token' }, h('code', null, newToken)) : null,
    h('table', null,
      h('tbody', null,
        tokens.map((t) =>
          h('tr', { key: t.id },
            h('td', null, t.label), h('td', null, t.user), h('td', null, `created ${fmtTime(t.createdAt)}`), h('td', null, t.lastUsedAt ? `used ${fmtTime(t.lastUsedAt)}` : 'never used'),
            h('td', null, t.revoked ? 'revoked' : h('button', { class: 'link', onClick: () => void act(api(`/api/tokens/${t.id}`, { method: 'DELETE' }), 'token revoked') }, 'revoke')),
          ),
        ),
      ),
    ),
    h('form', {
      class: 'inline',
      onSubmit: (e: Event) => {
        e.preventDefault();
        void api<{ token: string }>('/api/tokens', { method: 'POST', body: tokenForm }).then(
          (r) => {
            setNewToken(r.token);
            load();
          },
          (err: Error) => setMessage(err.message),
        );
      },
    },
      h('select', { value: tokenForm.user, onChange: (e: Event) => setTokenForm({ ...tokenForm, user: (e.target as HTMLSelectElement).value }) }, users.map((u) => h('option', { value: u.name }, u.name))),
      h('input', { placeholder: 'label, e.g. prometheus', value: tokenForm.label, onInput: (e: Event) => setTokenForm({ ...tokenForm, label: (e.target as HTMLInputElement).value }) }),
      h('button', { type: 'submit' }, 'Create token'),
    ),
  );
}
