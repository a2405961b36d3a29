/**
 * Progress for `mosaic batch`: a live bar (done/total, failures, ETA) redrawn in place on a TTY, and one
 * plain line per finished case otherwise (logs, CI, Slurm output files).
 */
export type ProgressEvent = { readonly ok: boolean; readonly label: string; readonly ms: number; readonly reason?: string };

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export class Progress {
  private done: number;
  private failed: number;
  private ranNow = 0;
  private readonly started = Date.now();
  private lastDraw = 0;
  private timer: NodeJS.Timeout | undefined;
  private note = '';

  constructor(
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number },
    readonly total: number,
    alreadyDone: number,
    alreadyFailed: number,
    private readonly tty = Boolean(stream.isTTY),
  ) {
    this.done = alreadyDone;
    this.failed = alreadyFailed;
    if (this.tty) {
      this.timer = setInterval(() => this.draw(true), 1000);
      this.timer.unref();
      this.draw(true);
    }
  }

  private eta(): number {
    const remaining = this.total - this.done;
    if (this.ranNow === 0) return Number.NaN;
    return (((Date.now() - this.started) / 1000) * remaining) / this.ranNow;
  }

  private line(): string {
    const eta = this.done >= this.total ? 'done' : `ETA ${formatDuration(this.eta())}`;
    return `${this.done}/${this.total} done, ${this.failed} failed, ${eta}${this.note ? `, ${this.note}` : ''}`;
  }

  private draw(force = false): void {
    if (!this.tty) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = 20;
    const filled = this.total === 0 ? width : Math.round((width * this.done) / this.total);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const text = `batch [${bar}] ${this.line()}`;
    const cols = this.stream.columns ?? 120;
    this.stream.write(`\r\x1b[2K${text.slice(0, cols - 1)}`);
  }

  caseDone(e: ProgressEvent): void {
    this.done++;
    this.ranNow++;
    if (!e.ok) this.failed++;
    if (this.tty) this.draw();
    else this.stream.write(`batch: [${this.done}/${this.total}] ${e.ok ? 'ok    ' : 'FAILED'} ${e.label} (${(e.ms / 1000).toFixed(1)} s)${e.reason ? `: ${e.reason}` : ''}; ${this.failed} failed, ETA ${formatDuration(this.eta())}\n`);
  }

  message(text: string): void {
    if (this.tty) {
      this.stream.write(`\r\x1b[2K${text}\n`);
      this.draw(true);
    } else this.stream.write(`batch: ${text}\n`);
  }

  setNote(note: string): void {
    this.note = note;
    this.draw(true);
  }

  finish(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.tty) {
      this.draw(true);
      this.stream.write('\n');
    }
  }
}
