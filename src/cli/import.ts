import { Command } from 'commander';
import { MosaicError } from '../errors';
import { importHfConfig, SUPPORTED_TYPES, type ImportResult } from '../spec/hf';
import { readJsonFile } from '../spec/json-file';
import { positiveInteger } from './options';
import { runCommand } from './run-command';
import { writeSpecFile } from './write-spec';

type ImportFlags = { moduleName?: string; tokens?: number; output?: string; force?: boolean; json?: boolean };

const fmtCount = (n: number): string => `${n.toLocaleString('en-US')} (${(n / 1e9 >= 1 ? `${(n / 1e9).toFixed(2)}B` : `${(n / 1e6).toFixed(1)}M`)})`;

function summary(file: string, r: ImportResult): string[] {
  const lines: string[] = [];
  if (r.kind === 'module') lines.push(`${file}: model_type ${r.modelType} -> module "${r.module.name}" (${r.module.kind}), ${fmtCount(r.params)} parameters`);
  else {
    lines.push(`${file}: model_type ${r.modelType} -> model "${r.model.name}" with ${r.model.modules.length} modules, ${fmtCount(r.params.reduce((s, p) => s + p.count, 0))} parameters`);
    for (const p of r.params) lines.push(`  ${p.module.padEnd(10)} ${fmtCount(p.count)}`);
  }
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return lines;
}

export function importCommand(): Command {
  const hf = new Command('hf')
    .description('Convert a Hugging Face config.json into a Mosaic module spec (LLMs, vision encoders, the Whisper encoder) or, for a composite vision-language config, a whole model (vision encoder, projector, LLM)')
    .argument('<config>', 'a Hugging Face config.json')
    .option('--module-name <name>', 'name of the imported module (default: llm, vision or audio)')
    .option('--tokens <n>', 'tokens per sample of the module, or of the LLM of a composite (default: the image grid for encoders, 2048 for LLMs)', positiveInteger('--tokens'))
    .option('-o, --output <file>', 'write the spec to this file instead of stdout')
    .option('-f, --force', 'overwrite the output file if it exists')
    .option('--json', 'print {spec, parameters, notes} as JSON')
    .addHelpText('after', `
Examples:
  $ mosaic import hf Qwen2-0.5B/config.json --tokens 4096 -o qwen2-0.5b.module.json
  $ mosaic import hf llava-1.5-7b-hf/config.json -o my-llava.json && mosaic plan -m my-llava.json -c h100-1x8

Reads model_type ${SUPPORTED_TYPES.join(', ')}.
A module spec goes into the "modules" array of a model (see \`mosaic init model\`); set its "inputs".
A composite config (llava, paligemma, internvl_chat) becomes a model whose training settings are defaults
to review. Parameters are counted as src/spec/params.ts counts them; add "publishedParams" with the model
card's number and its source so that the tests check the count (within 2%).

Exit codes: 0 ok, 1 internal error, 2 usage, invalid config (file and JSON path named) or an output that
cannot be written (a directory, a missing folder, an existing file without --force).`)
    .action(async (file: string, flags: ImportFlags) => {
      await runCommand(() => {
        const result = importHfConfig(readJsonFile(file), file, { ...(flags.moduleName !== undefined ? { moduleName: flags.moduleName } : {}), ...(flags.tokens !== undefined ? { tokens: flags.tokens } : {}) });
        if (flags.moduleName !== undefined && result.kind === 'model') throw new MosaicError('E_USAGE', `${file}: --module-name names a single imported module; a ${result.modelType} config becomes a model with modules vision, projector and llm`);
        const spec = result.kind === 'module' ? result.module : result.model;
        const text = JSON.stringify(spec, null, 2) + '\n';
        if (flags.output !== undefined) writeSpecFile(flags.output, text, flags.force === true);
        if (flags.json) {
          const params = result.kind === 'module' ? [{ module: result.module.name, count: result.params }] : result.params;
          process.stdout.write(JSON.stringify({ config: file, modelType: result.modelType, kind: result.kind, ...(flags.output ? { output: flags.output } : {}), parameters: params, notes: result.notes, spec }, null, 2) + '\n');
          return;
        }
        if (flags.output === undefined) {
          process.stdout.write(text);
          for (const line of summary(file, result)) process.stderr.write(`${line}\n`);
        } else {
          for (const line of summary(file, result)) process.stdout.write(`${line}\n`);
          process.stdout.write(`wrote ${flags.output}\n`);
        }
      }, flags.json);
    });
  return new Command('import').description('Import specs from other tools\' files (Hugging Face config.json)').addCommand(hf.exitOverride());
}
