import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { loadModel } from '../src/spec/load';
import { moduleParams, paramBreakdown } from '../src/spec/params';
import type { ModelSpec, ModuleArch, TransformerArch } from '../src/spec/types';

const MODELS_DIR = path.resolve(__dirname, '../../datasets/models');
const TOLERANCE = 0.02;

function loadModels(): { file: string; spec: ModelSpec }[] {
  return fs
    .readdirSync(MODELS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, spec: JSON.parse(fs.readFileSync(path.join(MODELS_DIR, file), 'utf8')) as ModelSpec }));
}

const llama7b: TransformerArch = {
  type: 'transformer',
  layers: 32,
  hidden: 4096,
  ffn: 11008,
  heads: 32,
  ffnGated: true,
  biases: [],
  norm: 'rmsnorm',
  tokensPerSample: 2048,
  causal: true,
  vocab: 32000,
  tiedEmbeddings: false,
  extraTensors: [{ name: 'final_norm', shape: [4096] }],
};

const clipText: TransformerArch = {
  type: 'transformer',
  layers: 12,
  hidden: 768,
  ffn: 3072,
  heads: 12,
  ffnGated: false,
  biases: ['q', 'k', 'v', 'o', 'ffn'],
  norm: 'layernorm',
  tokensPerSample: 77,
  causal: true,
  extraTensors: [
    { name: 'token_embedding', shape: [49408, 768] },
    { name: 'position_embedding', shape: [77, 768] },
    { name: 'final_layer_norm', shape: [2, 768] },
  ],
};

describe('params: formula', () => {
  it('counts LLaMA-7B exactly (6,738,415,616)', () => {
    expect(moduleParams(llama7b)).to.equal(6_738_415_616);
  });

  it('counts the CLIP ViT-L/14 text encoder exactly (123,060,480)', () => {
    expect(moduleParams(clipText)).to.equal(123_060_480);
  });

  it('ties the LM head when tiedEmbeddings is set', () => {
    const tied = moduleParams({ ...llama7b, tiedEmbeddings: true });
    expect(moduleParams(llama7b) - tied).to.equal(32000 * 4096);
  });

  it('sizes k and v by the KV heads for grouped-query attention', () => {
    const mha = moduleParams({ ...llama7b, layers: 1, vocab: undefined, extraTensors: [] });
    const gqa = moduleParams({ ...llama7b, layers: 1, vocab: undefined, extraTensors: [], kvHeads: 8 });
    // k and v shrink from h*h to h*(8*128) each.
    expect(mha - gqa).to.equal(2 * 4096 * (4096 - 1024));
  });

  it('adds bias vectors per site (gated ffn bias is 2*ffn + h)', () => {
    const base: TransformerArch = { ...llama7b, layers: 1, vocab: undefined, extraTensors: [], kvHeads: 8 };
    const withBias = moduleParams({ ...base, biases: ['q', 'k', 'v', 'o', 'ffn'] });
    expect(withBias - moduleParams(base)).to.equal(4096 + 1024 + 1024 + 4096 + (2 * 11008 + 4096));
  });

  it('counts an mlp with and without bias', () => {
    const arch: ModuleArch = { type: 'mlp', widths: [1024, 4096, 4096], bias: true, tokensPerSample: 576 };
    expect(moduleParams(arch)).to.equal(1024 * 4096 + 4096 + 4096 * 4096 + 4096);
    expect(moduleParams({ ...arch, bias: false, extraTensors: [{ name: 'ln', shape: [2, 1024] }] })).to.equal(
      1024 * 4096 + 4096 * 4096 + 2048,
    );
  });

  it('returns explicit params as given', () => {
    const arch: ModuleArch = {
      type: 'explicit',
      params: 859_520_964,
      forwardFlopsPerSample: 1,
      activationBytesPerSample: 1,
      gemmRowsPerSample: 1,
      gemmCols: 1,
    };
    expect(moduleParams(arch)).to.equal(859_520_964);
  });

  it('breakdown sums to the total and names every extra tensor', () => {
    const groups = paramBreakdown(clipText);
    expect(groups.reduce((s, g) => s + g.count, 0)).to.equal(moduleParams(clipText));
    for (const t of clipText.extraTensors ?? []) {
      expect(groups.map((g) => g.name)).to.include(t.name);
    }
  });
});

describe('params: datasets/models match published counts', () => {
  const models = loadModels();

  it('finds model files', () => {
    expect(models.length).to.be.greaterThan(0);
  });

  for (const { file, spec } of models) {
    describe(file, () => {
      for (const m of spec.modules) {
        if ((m.arch.type === 'transformer' || m.arch.type === 'mlp') && m.publishedParams) {
          const published = m.publishedParams.count;
          it(`${m.name}: computed within 2% of published ${published}`, () => {
            const ratio = moduleParams(m.arch) / published;
            expect(Math.abs(ratio - 1), `ratio ${ratio}`).to.be.at.most(TOLERANCE);
          });
        }
      }

      if (spec.publishedTotalParams) {
        const published = spec.publishedTotalParams.count;
        it(`total within 2% of published ${published}`, () => {
          const total = spec.modules.reduce((s, m) => s + moduleParams(m.arch), 0);
          const ratio = total / published;
          expect(Math.abs(ratio - 1), `ratio ${ratio}`).to.be.at.most(TOLERANCE);
        });
      }

      it('passes the schema and the semantic checks', () => {
        expect(() => loadModel(path.join(MODELS_DIR, file))).to.not.throw();
      });

      if (file !== 'builtin-mm.json') {
        it('cites a published count for every transformer module of 10M parameters or more', () => {
          for (const m of spec.modules) {
            if (m.arch.type === 'transformer' && moduleParams(m.arch) >= 10_000_000) {
              expect(m.publishedParams, `${m.name} has no publishedParams`).to.not.equal(undefined);
              expect(m.publishedParams!.source.length, `${m.name}: publishedParams.source`).to.be.greaterThan(10);
            }
          }
        });
      }

      it('module inputs name existing modules and form a DAG', () => {
        const names = new Set(spec.modules.map((m) => m.name));
        const state = new Map<string, 'visiting' | 'done'>();
        const byName = new Map(spec.modules.map((m) => [m.name, m] as const));
        const visit = (n: string): void => {
          if (state.get(n) === 'done') return;
          expect(state.get(n), `cycle through ${n}`).to.not.equal('visiting');
          state.set(n, 'visiting');
          for (const i of byName.get(n)!.inputs) {
            expect(names.has(i), `unknown input ${i} of ${n}`).to.equal(true);
            visit(i);
          }
          state.set(n, 'done');
        };
        for (const n of names) visit(n);
      });
    });
  }
});
