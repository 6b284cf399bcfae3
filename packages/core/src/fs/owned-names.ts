// Names of the temp files and folders peft.js writes beside a target. Each names its target, the kind
// of entry, the process that owns it and the host it runs on, so a later write can tell a leftover of a
// killed run (owner dead, same host) from a write in progress, and never mistakes a user's file for ours.
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * `tmp`: a file being written (`.<target>.peft-tmp-<pid>-<host>-<random>.tmp`);
 * `staging`: a folder being assembled (`.<target>.peft-staging-<pid>-<host>-<random>`);
 * `replaced`: the previous folder moved aside during a swap (`.<target>.peft-replaced-<pid>-<host>-<random>`).
 */
export type OwnedEntryKind = 'tmp' | 'staging' | 'replaced';

export interface OwnedEntry {
  readonly kind: OwnedEntryKind;
  /** The target's file name as recorded (cut to `MAX_TARGET_CHARS`). */
  readonly target: string;
  /** Whether `target` was cut, so it may not be the full name. */
  readonly targetCut: boolean;
  readonly pid: number;
  readonly host: string;
}

/** Target names longer than this are cut, so the whole entry name stays well under NAME_MAX (255). */
const MAX_TARGET_CHARS = 160;

const ENTRY = /^\.(.+)\.peft-(tmp|staging|replaced)-([1-9]\d{0,9})-([0-9a-f]{8})-[0-9a-f]{12}(\.tmp)?$/;

let hostTag: string | undefined;

/** 8 hex digits of the host name's hash: pids are only comparable on one host. */
export function currentHostTag(): string {
  hostTag ??= createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
  return hostTag;
}

/** A fresh name for an entry of `kind` beside the file or folder named `target`, owned by this process. */
export function ownedEntryName(target: string, kind: OwnedEntryKind): string {
  const recorded = [...target].slice(0, MAX_TARGET_CHARS).join('');
  const name = `.${recorded}.peft-${kind}-${process.pid}-${currentHostTag()}-${randomBytes(6).toString('hex')}`;
  return kind === 'tmp' ? `${name}.tmp` : name;
}

/** Parses a name made by `ownedEntryName`; anything else (a user's file) gives `undefined`. */
export function parseOwnedEntryName(name: string): OwnedEntry | undefined {
  const m = ENTRY.exec(name);
  if (!m) return undefined;
  const kind = m[2] as OwnedEntryKind;
  if ((kind === 'tmp') !== (m[5] === '.tmp')) return undefined;
  const target = m[1]!;
  return {
    kind,
    target,
    targetCut: [...target].length >= MAX_TARGET_CHARS,
    pid: Number(m[3]),
    host: m[4]!,
  };
}
