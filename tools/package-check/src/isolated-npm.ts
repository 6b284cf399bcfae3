import { mkdir, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/**
 * An environment for npm and npx that sees nothing of this machine's npm setup or of the workspace: a
 * fresh HOME and cache, a throw-away user config naming `registry` (with a token, since npm refuses to
 * publish without one), no npm_* variables inherited from the runner that started the tests, and no
 * node_modules/.bin folders on PATH (so `npx peft` can only find the installed command).
 */
export async function isolatedNpmEnv(dir: string, registry: string): Promise<NodeJS.ProcessEnv> {
  const home = join(dir, 'home');
  const cache = join(dir, 'cache');
  await mkdir(home, { recursive: true });
  await mkdir(cache, { recursive: true });
  const userconfig = join(dir, 'npmrc');
  const host = registry.replace(/^https?:/, '');
  await writeFile(
    userconfig,
    [
      `registry=${registry}`,
      `${host}:_authToken=package-check`,
      'update-notifier=false',
      'fund=false',
      'audit=false',
      'loglevel=error',
      '',
    ].join('\n'),
  );
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key)) env[key] = value;
  }
  env['PATH'] = (process.env['PATH'] ?? '')
    .split(delimiter)
    .filter((entry) => !entry.includes('node_modules'))
    .join(delimiter);
  env['HOME'] = home;
  env['npm_config_userconfig'] = userconfig;
  env['npm_config_cache'] = cache;
  return env;
}
