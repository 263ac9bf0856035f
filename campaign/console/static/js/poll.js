// Polling that costs nothing when nobody looks: one request at a time, none while the tab is
// hidden, an immediate refresh when it comes back, and a slower pace while the API fails.
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
    try {
      await this.task();
      this.failures = 0;
    } catch (error) {
      this.failures += 1;
      if (this.onError) this.onError(error);
    }
    if (!this.running) return;
    const wait = Math.min(this.interval * 2 ** Math.min(this.failures, 4), 30_000);
    this.timer = setTimeout(() => this.now(), wait);
  }
}
