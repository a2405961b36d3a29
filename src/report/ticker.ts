/**
 * A one-line elapsed-time ticker on a terminal's stderr (`label… 3 s`), for waits that run off the
 * main thread (ILP solves run in a worker, so the event loop stays free to redraw). Does nothing when
 * stderr is not a terminal, so pipes and logs get no control characters.
 */
export function startTicker(label: string, stream: NodeJS.WriteStream = process.stderr): { stop(): void } {
  if (!stream.isTTY) return { stop() {} };
  const started = Date.now();
  const draw = () => stream.write(`\r${label}… ${((Date.now() - started) / 1000).toFixed(0)} s`);
  draw();
  const timer = setInterval(draw, 500);
  return {
    stop() {
      clearInterval(timer);
      stream.write('\r\x1b[K');
    },
  };
}
