// A model folder's chat template: chat_template.jinja, else "chat_template" in tokenizer_config.json.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '@peft/core';
import { ChatTemplate } from '../chat-template.js';

export const CHAT_TEMPLATE_FILE = 'chat_template.jinja';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';

/**
 * The chat template of a model folder, or null when it has none. `chat_template.jinja` wins over
 * tokenizer_config.json's "chat_template", as transformers loads them; the special tokens come from
 * tokenizer_config.json and, when given, the parsed tokenizer.json (its special added tokens).
 */
export async function readChatTemplate(
  modelDir: string,
  tokenizerJson?: unknown,
): Promise<ChatTemplate | null> {
  const configPath = join(modelDir, TOKENIZER_CONFIG_FILE);
  const configText = await readOptional(configPath);
  let tokenizerConfig: unknown = {};
  if (configText !== null) {
    try {
      tokenizerConfig = JSON.parse(configText);
    } catch (cause) {
      throw new ConfigError(`${configPath} is not valid JSON: ${(cause as Error).message}`);
    }
  }
  const jinjaPath = join(modelDir, CHAT_TEMPLATE_FILE);
  const jinja = await readOptional(jinjaPath);
  return ChatTemplate.fromFiles({
    tokenizerConfig,
    tokenizerJson,
    jinja,
    where: jinja !== null ? jinjaPath : configPath,
  });
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ConfigError(`${path} cannot be read: ${(cause as Error).message}`);
  }
}
