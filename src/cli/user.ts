// `visor user …`: users of the review UI, in the line's database (the config's store.dataDir).
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/index.js';
import { VisorError } from '../common/errors.js';
import { silentLogger } from '../common/log.js';
import { ROLES, type Role, type UserStore } from '../review/users.js';
import { UsageError } from './exit.js';

async function withUsers(configFile: string, fn: (users: UserStore) => Promise<void>): Promise<void> {
  const [{ createUserStore }, { openStore }] = await Promise.all([import('../review/users.js'), import('../store/index.js')]);
  const { config, baseDir } = loadConfig(configFile);
  const store = openStore({ config: config.store, dataDir: path.resolve(baseDir, config.store.dataDir), log: silentLogger() });
  try {
    await fn(createUserStore({ db: store.db }));
  } finally {
    await store.close();
  }
}

/** The whole of stdin (first line), for --password-stdin. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/** Asks on the terminal without echoing what is typed. */
async function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) throw new UsageError('no terminal to ask for the password: use --password-stdin');
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  let text = '';
  try {
    return await new Promise<string>((resolve, reject) => {
      const onData = (data: Buffer) => {
        for (const ch of data.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            return resolve(text);
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            return reject(new VisorError('CANCELLED', 'cancelled'));
          }
          if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
          else text += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

async function password(fromStdin: boolean | undefined): Promise<string> {
  if (fromStdin) return readStdin();
  const first = await promptHidden('Password: ');
  const again = await promptHidden('Password again: ');
  if (first !== again) throw new VisorError('PASSWORD_MISMATCH', 'the passwords differ');
  return first;
}

export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('Users of the review UI (stored in the line\'s database)');

  user
    .command('add')
    .description('Add a user; asks for the password (or reads it from stdin with --password-stdin)')
    .requiredOption('-c, --config <file>', 'config file of the line (its store.dataDir holds the users)')
    .requiredOption('-n, --name <name>', 'user name')
    .option('-r, --role <role>', `${ROLES.join(' | ')}`, 'operator')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .action(async (opts: { config: string; name: string; role: string; passwordStdin?: boolean }) => {
      if (!ROLES.includes(opts.role as Role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')} (got "${opts.role}")`);
      await withUsers(opts.config, async (users) => {
        const created = await users.add({ name: opts.name, role: opts.role as Role, password: await password(opts.passwordStdin) });
        users.audit({ user: 'cli', action: 'user.add', target: created.name, detail: { role: created.role } });
        process.stdout.write(`added ${created.role} ${created.name}\n`);
      });
    });

  user
    .command('password')
    .description('Set a user\'s password (ends their sessions)')
    .requiredOption('-c, --config <file>', 'config file of the line')
    .requiredOption('-n, --name <name>', 'user name')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .action(async (opts: { config: string; name: string; passwordStdin?: boolean }) => {
      await withUsers(opts.config, async (users) => {
        await users.update(opts.name, { password: await password(opts.passwordStdin) });
        users.audit({ user: 'cli', action: 'user.update', target: opts.name, detail: { passwordChanged: true } });
        process.stdout.write(`password of ${opts.name} changed\n`);
      });
    });

  user
    .command('list')
    .description('List users')
    .requiredOption('-c, --config <file>', 'config file of the line')
    .action(async (opts: { config: string }) => {
      await withUsers(opts.config, async (users) => {
        for (const u of users.list()) process.stdout.write(`${u.name}\t${u.role}${u.disabled ? '\tdisabled' : ''}\n`);
      });
    });

  user
    .command('token')
    .description('Create an API token for a user (for automation: "Authorization: Bearer <token>"); prints it once')
    .requiredOption('-c, --config <file>', 'config file of the line')
    .requiredOption('-n, --name <name>', 'user the token acts as')
    .requiredOption('-l, --label <label>', 'what the token is for, e.g. prometheus')
    .action(async (opts: { config: string; name: string; label: string }) => {
      await withUsers(opts.config, async (users) => {
        const { id, token } = users.createToken(opts.name, opts.label);
        users.audit({ user: 'cli', action: 'token.create', target: opts.name, detail: { id, label: opts.label } });
        process.stdout.write(`${token}\n`);
      });
    });
}
