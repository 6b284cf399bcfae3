import { ConfigError } from '@peft/core';

export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export interface LearningRateSchedule {
  kind: ScheduleKind;
  peak: number;
  warmupSteps: number;
  totalSteps: number;
}

/** Learning rate for a 0-based step: linear warm-up to `peak`, then constant, linear or cosine decay to 0. */
export function learningRateAt(schedule: LearningRateSchedule, step: number): number {
  const { kind, peak, warmupSteps, totalSteps } = schedule;
  if (!(peak > 0) || !Number.isFinite(peak))
    throw new ConfigError(`learning rate must be a positive number, got ${peak}`);
  if (warmupSteps > 0 && step < warmupSteps) return (peak * (step + 1)) / warmupSteps;
  if (kind === 'constant') return peak;
  const span = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, Math.max(0, (step - warmupSteps) / span));
  return kind === 'linear' ? peak * (1 - progress) : peak * 0.5 * (1 + Math.cos(Math.PI * progress));
}
