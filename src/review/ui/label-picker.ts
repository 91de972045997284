/// <reference lib="dom" />
// Relabelling: a pick-list of the model's labels (keys 1–9) plus free text, in a dialog on the page.
import { h, render } from 'preact';
import { useState } from 'preact/hooks';
import { api } from './api.js';

const LABEL = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;
let labels: Promise<string[]> | undefined;

/** The running model's labels (fetched once per page load). */
function modelLabels(): Promise<string[]> {
  labels ??= api<{ labels?: string[] }>('/api/filters').then(
    (r) => r.labels ?? [],
    () => [],
  );
  return labels;
}

/** Whether a dialog has the keyboard (the pages' verdict keys stay off meanwhile). */
export function dialogOpen(): boolean {
  return document.querySelector('.modal') !== null;
}

function Picker({ options, suggestion, done }: { options: string[]; suggestion: string; done: (label: string | undefined) => void }) {
  const [text, setText] = useState('');
  const valid = LABEL.test(text.trim());
  return h(
    'div',
    {
      class: 'modal',
      role: 'dialog',
      'aria-label': 'relabel',
      onKeyDown: (e: KeyboardEvent) => {
        // The pages' keys (verdicts, Esc to the queue) listen on the window: none of them while the dialog is open.
        e.stopPropagation();
        if (e.key === 'Escape') done(undefined);
        else if ((e.target as HTMLElement).tagName !== 'INPUT' && /^[1-9]$/.test(e.key) && options[Number(e.key) - 1]) done(options[Number(e.key) - 1]);
      },
    },
    h(
      'form',
      {
        class: 'picker',
        onSubmit: (e: Event) => {
          e.preventDefault();
          if (valid) done(text.trim());
        },
      },
      h('h3', null, 'Relabel as'),
      h(
        'div',
        { class: 'choices' },
        options.map((label, i) =>
          h('button', { type: 'button', key: label, class: `choice${label === suggestion ? ' suggested' : ''}`, 'data-label': label, onClick: () => done(label) }, i < 9 ? h('kbd', null, String(i + 1)) : null, ' ', label),
        ),
      ),
      h(
        'label',
        null,
        'or another label ',
        h('input', { name: 'label', value: text, maxLength: 64, placeholder: 'e.g. crack', onInput: (e: Event) => setText((e.target as HTMLInputElement).value) }),
      ),
      text && !valid ? h('span', { class: 'field-error' }, 'A label is up to 64 letters, digits, spaces, ".", "_" or "-", starting with a letter or digit.') : null,
      h('div', { class: 'actions' }, h('button', { type: 'submit', disabled: !valid }, 'Use this label'), h('button', { type: 'button', class: 'link', onClick: () => done(undefined) }, 'Cancel (Esc)')),
    ),
  );
}

/** Asks for a class label; undefined if the user cancelled. */
export async function pickLabel(suggestion: string | undefined): Promise<string | undefined> {
  const options = await modelLabels();
  const host = document.createElement('div');
  document.body.append(host);
  return new Promise((resolve) => {
    const done = (label: string | undefined) => {
      render(null, host);
      host.remove();
      resolve(label);
    };
    render(h(Picker, { options, suggestion: suggestion ?? '', done }), host);
    (host.querySelector<HTMLElement>('.choice.suggested') ?? host.querySelector<HTMLElement>('.choice') ?? host.querySelector<HTMLElement>('input'))?.focus();
  });
}
