import { expect } from 'chai';
import { MilpModel, ModelBuilder, ModelError, evaluateTerms } from '../solver/model';
import { lpName, toLpText } from '../solver/lp-format';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ModelError) return error.code;
    throw error;
  }
  return undefined;
}

function tinyModel(): MilpModel {
  const b = new ModelBuilder('tiny');
  b.addVariable('n[p17]', { upper: 4, integer: true });
  b.addVariable('use[vision]', { upper: 1, integer: true });
  b.addVariable('theta', { lower: -Infinity });
  b.addVariable('slack[llava-1.5]', { lower: -2, upper: 7.5 });
  b.addRow('cover[vision]', [{ variable: 'n[p17]', coefficient: 2 }, { variable: 'theta', coefficient: -1 }], { lower: 0 });
  b.addRow('gpus[node0]', [{ variable: 'n[p17]', coefficient: 1 }, { variable: 'use[vision]', coefficient: 1 }], { lower: 1, upper: 4 });
  b.addRow('e1', [{ variable: 'slack[llava-1.5]', coefficient: 1 }, { variable: 'use[vision]', coefficient: -0.25 }], { lower: 3, upper: 3 });
  b.setObjective('max', [{ variable: 'theta', coefficient: 1 }, { variable: 'slack[llava-1.5]', coefficient: -1e-3 }]);
  return b.build();
}

const TINY_LP = `\\ Problem: tiny
\\ Names escaped for LP format (LP name = model name):
\\   n(p17) = n[p17]
\\   use(vision) = use[vision]
\\   slack(llava~2d1.5) = slack[llava-1.5]
\\   cover(vision) = cover[vision]
\\   gpus(node0) = gpus[node0]
\\   ~651 = e1

Maximize
 obj: + theta - 0.001 slack(llava~2d1.5)

Subject To
 cover(vision): + 2 n(p17) - theta >= 0
 gpus(node0)~lo: + n(p17) + use(vision) >= 1
 gpus(node0)~hi: + n(p17) + use(vision) <= 4
 ~651: + slack(llava~2d1.5) - 0.25 use(vision) = 3

Bounds
 0 <= n(p17) <= 4
 theta free
 -2 <= slack(llava~2d1.5) <= 7.5

General
 n(p17)

Binary
 use(vision)

End
`;

describe('solver model', () => {
  it('rejects a repeated variable or row name with DUPLICATE_NAME', () => {
    const b = new ModelBuilder('m');
    b.addVariable('x[a]');
    expect(codeOf(() => b.addVariable('x[a]'))).to.equal('DUPLICATE_NAME');
    b.addRow('r', [{ variable: 'x[a]', coefficient: 1 }], { upper: 1 });
    expect(codeOf(() => b.addRow('r', [], { upper: 2 }))).to.equal('DUPLICATE_NAME');
  });

  it('rejects unknown variables, bad bounds and bad names with stable codes', () => {
    const b = new ModelBuilder('m');
    b.addVariable('x');
    expect(codeOf(() => b.addRow('r', [{ variable: 'y', coefficient: 1 }], { upper: 1 }))).to.equal('UNKNOWN_VARIABLE');
    expect(codeOf(() => b.setObjective('max', [{ variable: 'y', coefficient: 1 }]))).to.equal('UNKNOWN_VARIABLE');
    expect(codeOf(() => b.addVariable('a', { lower: NaN }))).to.equal('BAD_BOUND');
    expect(codeOf(() => b.addVariable('b', { lower: Infinity }))).to.equal('BAD_BOUND');
    expect(codeOf(() => b.addVariable('c', { upper: -Infinity }))).to.equal('BAD_BOUND');
    expect(codeOf(() => b.addVariable('d', { lower: 2, upper: 1 }))).to.equal('BAD_BOUND');
    expect(codeOf(() => b.addVariable('e', { lower: 0.2, upper: 0.8, integer: true }))).to.equal('BAD_BOUND');
    expect(codeOf(() => b.addRow('r2', [], { lower: Infinity }))).to.equal('BAD_BOUND');
    expect(codeOf(() => b.addRow('r3', [], { lower: NaN }))).to.equal('BAD_BOUND');
    expect(codeOf(() => b.addRow('r4', [{ variable: 'x', coefficient: NaN }], { upper: 1 }))).to.equal('BAD_COEFFICIENT');
    expect(codeOf(() => b.addVariable('has space'))).to.equal('BAD_NAME');
    expect(codeOf(() => b.addVariable('1x'))).to.equal('BAD_NAME');
    expect(codeOf(() => b.addVariable(''))).to.equal('BAD_NAME');
    expect(codeOf(() => b.addVariable('x[vision,g0,q3].a_b'))).to.equal(undefined);
  });

  it('sums repeated variables within a row and stores infinite row sides as absent', () => {
    const b = new ModelBuilder('m');
    b.addVariable('x');
    b.addRow('r', [{ variable: 'x', coefficient: 1 }, { variable: 'x', coefficient: 2 }], { lower: -Infinity, upper: 5 });
    const row = b.build().rows[0];
    expect(row?.terms).to.deep.equal([{ variable: 'x', coefficient: 3 }]);
    expect(row && 'lower' in row).to.equal(false);
    expect(evaluateTerms(row?.terms ?? [], new Map([['x', 2]]))).to.equal(6);
  });

  it('builds frozen plain data', () => {
    const m = tinyModel();
    expect(Object.isFrozen(m)).to.equal(true);
    expect(Object.isFrozen(m.rows)).to.equal(true);
    expect(JSON.parse(JSON.stringify(m.rows))).to.deep.equal(m.rows);
  });
});

describe('solver LP format', () => {
  it('dumps a tiny model to the golden CPLEX LP text', () => {
    expect(toLpText(tinyModel())).to.equal(TINY_LP);
  });

  it('is deterministic', () => {
    expect(toLpText(tinyModel())).to.equal(toLpText(tinyModel()));
  });

  it('escapes names injectively into the CPLEX LP character set', () => {
    const names = ['x[a]', 'x(a)', 'x~28a~29', 'e1', 'E2', 'ee', 'eat', 'inf', 'Free', 'a-b', 'a~2db', 'é[1]', 'x.y,z', '_1'];
    const escaped = names.map(lpName);
    expect(new Set(escaped).size).to.equal(names.length);
    for (const n of escaped) {
      expect(n).to.match(/^[A-Za-z0-9_.,!#$%&;?@{}()~]+$/);
      expect(n).to.not.match(/^[0-9.]/);
      expect(n).to.not.match(/^[eE]([0-9eE]|$)/);
    }
    expect(lpName('n[p17]')).to.equal('n(p17)');
    expect(lpName('eat')).to.equal('eat');
  });

  it('wraps long expressions below 255 characters a line', () => {
    const b = new ModelBuilder('wide');
    const terms = Array.from({ length: 120 }, (_, i) => ({ variable: b.addVariable(`x[module${i},gpu${i}]`), coefficient: i + 0.5 }));
    b.addRow('big', terms, { upper: 10 });
    b.setObjective('min', terms);
    const text = toLpText(b.build());
    for (const line of text.split('\n')) expect(line.length).to.be.below(256);
  });
});
