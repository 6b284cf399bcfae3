import { getGradient } from '@tensorflow/tfjs-core';

// TensorFlow.js registers its gradients from a side-effect module of tfjs-core that no prebuilt bundle includes.
// Bundlers (and vitest) load it as is. Plain Node cannot: its ESM files import each other without file extensions.
// In Node, a resolve hook scoped to files inside tfjs-core/dist adds the extension; nothing else is affected.
const EXTENSIONLESS_TFJS_CORE_HOOK = `
export async function resolve(specifier, context, next) {
  const parent = context.parentURL || '';
  if (parent.includes('/@tensorflow/tfjs-core/dist/') && specifier.startsWith('.') && !/\\.[cm]?js$/.test(specifier)) {
    try { return await next(specifier + '.js', context); } catch { return next(specifier + '/index.js', context); }
  }
  return next(specifier, context);
}`;

let hookInstalled = false;

function isNode(): boolean {
  const g = globalThis as { process?: { versions?: { node?: string } }; window?: unknown };
  return g.window === undefined && typeof g.process?.versions?.node === 'string';
}

type ResolveResult = { url: string };
type NextResolve = (specifier: string, context: { parentURL?: string }) => ResolveResult;

/** The same rule as EXTENSIONLESS_TFJS_CORE_HOOK, for `module.registerHooks` (synchronous, in this thread). */
function resolveExtensionless(
  specifier: string,
  context: { parentURL?: string },
  next: NextResolve,
): ResolveResult {
  const parent = context.parentURL ?? '';
  if (
    parent.includes('/@tensorflow/tfjs-core/dist/') &&
    specifier.startsWith('.') &&
    !/\.[cm]?js$/.test(specifier)
  ) {
    try {
      return next(`${specifier}.js`, context);
    } catch {
      return next(`${specifier}/index.js`, context);
    }
  }
  return next(specifier, context);
}

async function installNodeResolveHook(): Promise<void> {
  if (hookInstalled) return;
  // A computed specifier keeps bundlers from trying to bundle node:module into browser builds.
  const nodeModule = 'node:module';
  const { register, registerHooks } = (await import(/* @vite-ignore */ nodeModule)) as {
    register?: (specifier: string, parentURL?: string) => void;
    registerHooks?: (hooks: { resolve: typeof resolveExtensionless }) => unknown;
  };
  // Node 22.15+ and 23.5+ have in-thread hooks; Node 26 deprecates module.register() (DEP0205) in their favour.
  if (typeof registerHooks === 'function') {
    registerHooks({ resolve: resolveExtensionless });
    hookInstalled = true;
    return;
  }
  if (typeof register !== 'function') {
    throw new Error('registering TensorFlow.js gradients in Node needs Node >= 20.6 (module.register)');
  }
  register(`data:text/javascript,${encodeURIComponent(EXTENSIONLESS_TFJS_CORE_HOOK)}`);
  hookInstalled = true;
}

/** Registers every TensorFlow.js gradient (once; a no-op when something already did). */
export async function registerTfjsGradients(): Promise<void> {
  if (getGradient('Multiply') && getGradient('MatMul') && getGradient('Sum')) return;
  if (isNode()) await installNodeResolveHook();
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
}
