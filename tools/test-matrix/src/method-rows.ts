import { loraConfig } from '@peft/lora';
import { veraConfig } from '@peft/vera';
import type { MethodRow } from './rows.js';

export const veraRow: MethodRow = {
  name: 'vera',
  peftType: 'VERA',
  config: (targets) => veraConfig({ r: 4, target_modules: targets, init_weights: false }),
};

export const loraRow: MethodRow = {
  name: 'lora',
  peftType: 'LORA',
  config: (targets) => loraConfig({ r: 4, lora_alpha: 8, target_modules: targets, init_lora_weights: false }),
};

/** Every method this repository ships. */
export const methodRows: readonly MethodRow[] = [veraRow, loraRow];
