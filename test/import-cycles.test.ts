/** No import cycle among src/** and solver/** files or layers (scripts/check-cycles.js; also run by npm test). */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as path from 'path';

describe('import cycles', () => {
  it('none among the files and layers of src/ and solver/ (beyond the allow-list, which only shrinks)', () => {
    const r = spawnSync(process.execPath, [path.resolve(__dirname, '..', '..', 'scripts', 'check-cycles.js')], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
  });
});
