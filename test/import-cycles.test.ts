/** No import cycle among src/** and solver/** files or layers (scripts/check-cycles.js; also run by npm test). */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const SCRIPT = path.resolve(__dirname, '..', '..', 'scripts', 'check-cycles.js');

/** Runs the check on a throwaway tree of files (relative path → text). */
function checkTree(files: Record<string, string>): { status: number | null; stderr: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-cycles-'));
  try {
    for (const [rel, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.writeFileSync(path.join(root, rel), text);
    }
    const r = spawnSync(process.execPath, [SCRIPT], { encoding: 'utf8', env: { ...process.env, MOSAIC_CHECK_ROOT: root } });
    return { status: r.status, stderr: r.stderr };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

describe('import cycles', () => {
  it('none among the files and layers of src/ and solver/ (beyond the allow-list, which only shrinks)', () => {
    const r = spawnSync(process.execPath, [SCRIPT], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
  });

  it('fails when the MILP core (solver/) imports from the application, and passes the same tree without that import', () => {
    const tree = { 'src/plan/a.ts': "import { b } from '../../solver/b';\nexport const a = b;\n", 'solver/b.ts': 'export const b = 1;\n' };
    expect(checkTree(tree).status).to.equal(0);
    const bad = checkTree({ ...tree, 'solver/c.ts': "import { a } from '../src/plan/a';\nexport const c = a;\n" });
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.contain('solver/c.ts imports src/plan/a.ts');
  });
});
