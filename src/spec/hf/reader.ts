import { inputError } from '../../errors';

/**
 * Typed reads from one object of a Hugging Face `config.json`, with every failure a one-line error that
 * names the file and the JSON pointer (`config.json: /vision_config/hidden_size: expected ...`).
 * A key that is absent takes the default of the transformers config class, when the caller gives one.
 */
export class HfReader {
  constructor(
    readonly file: string,
    readonly pointer: string,
    readonly data: Readonly<Record<string, unknown>>,
  ) {}

  static root(file: string, data: unknown): HfReader {
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw inputError(`${file}: expected a JSON object (a Hugging Face config.json)`);
    return new HfReader(file, '', data as Record<string, unknown>);
  }

  at(key: string): string {
    return `${this.pointer}/${key}`;
  }

  fail(key: string, message: string): never {
    throw inputError(`${this.file}: ${this.at(key)}: ${message}`);
  }

  has(key: string): boolean {
    return this.data[key] !== undefined && this.data[key] !== null;
  }

  /** A positive integer; `fallback` is the transformers default when the key is absent. */
  int(key: string, fallback?: number): number {
    const v = this.data[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      this.fail(key, 'required but missing');
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) this.fail(key, `expected a positive integer but found ${JSON.stringify(v)}`);
    return v;
  }

  /**
   * A reader of positive integers that falls back to the config class's defaults and remembers which
   * keys it took from them, so the converter can say so in one note.
   */
  withDefaults(): { int: (key: string, fallback: number) => number; note: (type: string, notes: string[]) => void } {
    const defaulted: string[] = [];
    return {
      int: (key, fallback) => {
        if (!this.has(key)) defaulted.push(`${key} ${fallback}`);
        return this.int(key, fallback);
      },
      note: (type, notes) => {
        if (defaulted.length > 0) notes.push(`${this.pointer || '/'}: took the ${type} config-class defaults for ${defaulted.join(', ')}`);
      },
    };
  }

  num(key: string, fallback: number): number {
    const v = this.data[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) this.fail(key, `expected a positive number but found ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.data[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.fail(key, `expected true or false but found ${JSON.stringify(v)}`);
    return v;
  }

  str(key: string, fallback?: string): string | undefined {
    const v = this.data[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string') this.fail(key, `expected a string but found ${JSON.stringify(v)}`);
    return v;
  }

  /** A nested object (`vision_config`, `text_config`), or undefined when absent. */
  child(key: string): HfReader | undefined {
    const v = this.data[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(key, `expected an object but found ${JSON.stringify(v)}`);
    return new HfReader(this.file, this.at(key), v as Record<string, unknown>);
  }

  /** `name_or_path` of the config, for the source line, if it records one. */
  origin(): string | undefined {
    return this.str('_name_or_path') || undefined;
  }
}

/** The sizes of a transformer stack, which every Hugging Face config names with the same four keys. */
export type StackSizes = { readonly hidden: number; readonly ffn: number; readonly layers: number; readonly heads: number };

/** The four stack sizes of a config, each its key's value or the config class's default (`int` of `withDefaults`, which notes the defaults taken). */
export function stackSizes(int: (key: string, fallback: number) => number, defaults: StackSizes): StackSizes {
  return { hidden: int('hidden_size', defaults.hidden), ffn: int('intermediate_size', defaults.ffn), layers: int('num_hidden_layers', defaults.layers), heads: int('num_attention_heads', defaults.heads) };
}
