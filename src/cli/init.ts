import { Argument, Command } from 'commander';
import * as path from 'path';
import { parseCluster, parseModel } from '../spec/load';
import { REPO_ROOT } from '../spec/schemas';
import { clusterTemplate, modelTemplate } from './init-templates';
import { runCommand } from './run-command';
import { oneOf } from './options';
import { writeSpecFile } from './write-spec';

/** `<kind>`: parsed by oneOf (the CLI's one wording for a bad choice), its choices listed for --help and checkers. */
function kindArgument(): Argument {
  const a = new Argument('<kind>', 'model | cluster').argParser(oneOf('<kind>', KINDS));
  a.argChoices = [...KINDS];
  return a;
}

type InitFlags = { output?: string; force?: boolean };
const KINDS = ['model', 'cluster'] as const;

export function initCommand(): Command {
  return new Command('init')
    .description('Write a template model or cluster spec that validates as it is, every required field present with a sensible value and explained in its description')
    .addArgument(kindArgument())
    .option('-o, --output <file>', 'write the template to this file instead of stdout')
    .option('-f, --force', 'overwrite the output file if it exists')
    .addHelpText('after', `
Examples:
  $ mosaic init model -o my-model.json && mosaic plan -m my-model.json -c h100-1x8 --method heuristic
  $ mosaic init cluster -o my-cluster.json

The model template is a vision encoder feeding an LLM (two modules); \`mosaic import hf config.json\`
writes modules from Hugging Face configs. "$schema" points at the schema from where the file is written,
so editors that read JSON Schema complete and check the fields.

Exit codes: 0 ok, 1 internal error, 2 usage (unknown kind, existing output without --force, unwritable path).`)
    .action(async (kind: (typeof KINDS)[number], flags: InitFlags) => {
      await runCommand(() => {
        const from = flags.output !== undefined ? path.dirname(path.resolve(flags.output)) : process.cwd();
        const schemaRef = path.relative(from, path.join(REPO_ROOT, 'schemas', `${kind}.schema.json`)).split(path.sep).join('/');
        const spec = kind === 'model' ? modelTemplate(schemaRef) : clusterTemplate(schemaRef);
        // The template is checked as a user's file would be: a template that does not validate is a bug.
        if (kind === 'model') parseModel(spec, 'mosaic init model');
        else parseCluster(spec, 'mosaic init cluster');
        const text = JSON.stringify(spec, null, 2) + '\n';
        if (flags.output === undefined) {
          process.stdout.write(text);
          return;
        }
        writeSpecFile(flags.output, text, flags.force === true);
        process.stdout.write(`wrote ${flags.output}: a ${kind} template; edit its values (each is explained in the descriptions)\n`);
      });
    });
}
