/**
 * The spec types are generated from the schemas (scripts/gen-spec-types.js): the committed file is
 * current, a keyword the generator does not know stops it, and `--check` sees a stale file. The
 * failure cases run on a copy of the script and schemas in a temporary folder, never on the real ones.
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..', '..');
const SCRIPT = path.join('scripts', 'gen-spec-types.js');
const GENERATED = path.join('src', 'spec', 'types.generated.ts');

const run = (root: string, ...args: string[]) => spawnSync(process.execPath, [path.join(root, SCRIPT), ...args], { encoding: 'utf8' });

describe('spec types generated from the schemas', () => {
  let copy: string;

  beforeEach(() => {
    copy = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-spec-types-'));
    for (const rel of [SCRIPT, GENERATED]) {
      fs.mkdirSync(path.dirname(path.join(copy, rel)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, rel), path.join(copy, rel));
    }
    fs.cpSync(path.join(ROOT, 'schemas'), path.join(copy, 'schemas'), { recursive: true });
  });

  afterEach(() => fs.rmSync(copy, { recursive: true, force: true }));

  const editSchema = (name: string, edit: (schema: Record<string, any>) => void) => {
    const file = path.join(copy, 'schemas', `${name}.schema.json`);
    const schema = JSON.parse(fs.readFileSync(file, 'utf8'));
    edit(schema);
    fs.writeFileSync(file, JSON.stringify(schema, null, 2));
  };

  it('the committed file matches the schemas (--check passes)', () => {
    const r = run(ROOT, '--check');
    expect(r.status, r.stderr).to.equal(0);
  });

  it('an unsupported keyword stops it with exit 2, naming the schema file and the JSON pointer', () => {
    editSchema('cluster', (s) => {
      s.properties.links.patternProperties = { '^x-': { type: 'string' } };
    });
    const r = run(copy);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.contain('schemas/cluster.schema.json: /properties/links/patternProperties: unsupported keyword "patternProperties"');
    expect(fs.readFileSync(path.join(copy, GENERATED), 'utf8')).to.equal(fs.readFileSync(path.join(ROOT, GENERATED), 'utf8'));
  });

  it('an object that does not say whether it is open (additionalProperties false or true) stops it', () => {
    editSchema('model', (s) => {
      delete s.properties.batch.additionalProperties;
    });
    const r = run(copy, '--check');
    expect(r.status).to.equal(2);
    expect(r.stderr).to.contain('schemas/model.schema.json: /properties/batch: an object type needs "additionalProperties": false');
  });

  it("an embedded document (x-document) is its schema's root type; one not generated before it stops the generator", () => {
    expect(fs.readFileSync(path.join(ROOT, GENERATED), 'utf8')).to.match(/readonly model: ModelSpec;\n[\s\S]*readonly cluster: ClusterSpec;/);
    editSchema('plan', (s) => {
      s.properties.model['x-document'] = 'launch';
    });
    const r = run(copy, '--check');
    expect(r.status).to.equal(2);
    expect(r.stderr).to.contain('schemas/plan.schema.json: /properties/model/x-document: "launch" is not a schema generated before this one');
  });

  it('purely validating keywords pass without changing the types', () => {
    editSchema('profile', (s) => {
      s.properties.samples.maxItems = 100000;
      s.properties.model.$comment = 'a name, not a path';
    });
    const r = run(copy, '--check');
    expect(r.status, r.stderr).to.equal(0);
  });

  it('--check exits 1 on a stale file and writes nothing; a plain run rewrites it', () => {
    editSchema('model', (s) => {
      s.properties.batch.properties.warmup = { type: 'integer', minimum: 0 };
    });
    const before = fs.readFileSync(path.join(copy, GENERATED), 'utf8');
    const check = run(copy, '--check');
    expect(check.status).to.equal(1);
    expect(check.stderr).to.contain('src/spec/types.generated.ts is stale');
    expect(fs.readFileSync(path.join(copy, GENERATED), 'utf8')).to.equal(before);
    const write = run(copy);
    expect(write.status, write.stderr).to.equal(0);
    expect(fs.readFileSync(path.join(copy, GENERATED), 'utf8')).to.contain('readonly warmup?: number;');
    expect(run(copy, '--check').status).to.equal(0);
  });
});
