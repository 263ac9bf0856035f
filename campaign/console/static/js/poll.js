// Polling that costs nothing when nobody looks: one request at a time, none while the tab is
// hidden, an immediate refresh when it comes back, and a slower pace while the API fails. The
// pace also follows the answer time: a poll waits at least SHARE times as long as the last one
// took, so a big campaign's slow status never takes more than 1/SHARE of an API thread.
const SHARE = 20;
export class Poller {
  constructor(task, intervalMs, onError) {
    this.task = task;
    this.interval = intervalMs;
    this.onError = onError;
    this.timer = null;
    this.running = false;
    this.failures = 0;
    this.visible = () => { if (!document.hidden) this.now(); };
  }

  start() {
    this.running = true;
    document.addEventListener("visibilitychange", this.visible);
    this.now();
    return this;
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    document.removeEventListener("visibilitychange", this.visible);
  }

  async now() {
    clearTimeout(this.timer);
    if (!this.running || document.hidden) return;
    if (this.busy) { this.again = true; return; }
    this.busy = true;
    this.again = false;
    const started = performance.now();
    try {
      await this.task();
      this.failures = 0;
    } catch (error) {
      this.failures += 1;
      if (this.onError) this.onError(error);
    }
    this.busy = false;
    if (!this.running) return;
    if (this.again) { this.now(); return; }
    const took = performance.now() - started;
    const wait = Math.min(Math.max(this.interval * 2 ** Math.min(this.failures, 4), SHARE * took), 30_000);
    this.timer = setTimeout(() => this.now(), wait);
  }
}
