/// <reference lib="dom" />
import { h } from 'preact';
import { useState } from 'preact/hooks';
import { api, formErrors } from './api.js';

/** A field's problem in a sentence, under the field. */
export function fieldError(text: string | undefined) {
  return text ? h('span', { class: 'field-error', role: 'alert' }, text) : null;
}

/** Sign-in, or on a fresh local install, creating the first admin. */
export function LoginPage({ setup, onSignedIn }: { setup: boolean; onSignedIn: () => void }) {
  const [name, setName] = useState(setup ? 'admin' : '');
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [code, setCode] = useState('');
  const [error, setError] = useState('');
  const [fields, setFields] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    setFields({});
    if (setup && password !== again) return setFields({ again: 'The passwords differ.' });
    setBusy(true);
    try {
      await api(setup ? '/api/auth/setup' : '/api/auth/login', { method: 'POST', body: setup ? { name, password, code } : { name, password } });
      onSignedIn();
    } catch (err) {
      const { fields: f, message } = formErrors(err, ['name', 'password', 'code']);
      setFields(f);
      setError(message);
    } finally {
      setBusy(false);
    }
  };
  return h(
    'form',
    { class: 'login', onSubmit: submit },
    h('h1', null, 'Visor review'),
    setup
      ? h(
          'p',
          { class: 'hint' },
          'No user exists yet. Create the first admin for this device (offered only on this machine, while no user exists), with the setup code Visor printed on its console (stderr and the log) when it started.',
        )
      : null,
    setup
      ? h('label', null, 'Setup code', h('input', { name: 'code', autocomplete: 'one-time-code', required: true, value: code, onInput: (e: Event) => setCode((e.target as HTMLInputElement).value) }), fieldError(fields.code))
      : null,
    h('label', null, 'User name', h('input', { name: 'name', autocomplete: 'username', required: true, value: name, onInput: (e: Event) => setName((e.target as HTMLInputElement).value) }), fieldError(fields.name)),
    h(
      'label',
      null,
      'Password',
      h('input', {
        name: 'password',
        type: 'password',
        autocomplete: setup ? 'new-password' : 'current-password',
        required: true,
        minLength: setup ? 8 : 1,
        value: password,
        onInput: (e: Event) => setPassword((e.target as HTMLInputElement).value),
      }),
      fieldError(fields.password),
    ),
    setup
      ? h('label', null, 'Password again', h('input', { name: 'again', type: 'password', autocomplete: 'new-password', required: true, value: again, onInput: (e: Event) => setAgain((e.target as HTMLInputElement).value) }), fieldError(fields.again))
      : null,
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    h('button', { type: 'submit', disabled: busy }, setup ? 'Create admin and sign in' : 'Sign in'),
  );
}
