// One progress bar for a whole job: its steps (the codec's stages, the measurements, each
// comparison codec) weighted by their usual share of the time, never going back, with the step's
// name and the time left (from the pace so far). Between two reports (a tile of a 2048-px photo
// takes many seconds on two cores) the bar creeps towards the next count, never reaching it, at the
// job's pace so far (ms per share of the plan): the counts in the text are the real ones. The
// shares are measured times (a 2048-px photo, 2 wasm threads, Chromium): where they are off, the
// creep stops short of a slow step or the bar jumps after a fast one.

/** Per job kind: [stage reported by a worker, what the page calls it, share of the time]. */
export const PLANS = {
  encode: [ // seconds of each step for a 2048×1365 photo (test/web.e2e.test.ts, 2 cores)
    ['encode.analysis', 'Analysing the photo', 7.4],
    ['encode.coding', 'Coding', 1.4],
    ['decode.parsing', 'Reading the file back', 2.6],
    ['decode.synthesis', 'Decoding', 1.4],
    ['measure', 'Measuring the quality', 2.8],
    ['compare.JPEG', 'JPEG at the same size and quality', 4.2],
    ['compare.WebP', 'WebP at the same size and quality', 9.6],
    ['compare.AVIF', 'AVIF at the same size and quality', 55],
    ['msssim', 'Measuring MS-SSIM', 8],
  ],
  decode: [
    ['preview.parsing', 'Reading a preview', 6],
    ['preview.synthesis', 'Showing the preview', 2],
    ['decode.parsing', 'Reading the file', 28],
    ['decode.synthesis', 'Decoding', 70],
  ],
  explain: [
    ['explain.analysis', 'Analysing', 22],
    ['explain.coding', 'Coding', 6],
    ['explain.parsing', 'Parsing', 6],
    ['explain.synthesis', 'Synthesis with attention maps', 30],
    ['explain.receptive field', 'Measuring the receptive field', 30],
    ['explain.drawing', 'Drawing the views', 6],
  ],
} as const satisfies Record<string, readonly (readonly [string, string, number])[]>;

export interface ProgressView {
  /** 0..1 for the whole job. */
  fraction: number;
  /** "Step 3 of 8 · Decoding: 2 / 4 tiles". */
  text: string;
  /** "12 s · about 20 s left". */
  eta: string;
}

const secs = (ms: number) => (ms < 60_000 ? `${Math.max(1, Math.round(ms / 1000))} s` : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`);

export class JobProgress {
  private plan: readonly (readonly [string, string, number])[] = [];
  /** The plan's shares added up. */
  private sum = 1;
  /** From the reports alone, and as shown (with the creep). */
  private real = 0;
  private fraction = 0;
  private text = '';
  private t0 = 0;
  /** The last report: when, how far the creep may go past it, and the share it expects next. */
  private last = { stage: '', t: 0, unit: 0, expect: 0 };
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly show: (p: ProgressView) => void) {}

  start(kind: keyof typeof PLANS): void {
    this.plan = PLANS[kind];
    this.fraction = this.real = 0;
    this.t0 = performance.now();
    this.sum = this.plan.reduce((s, p) => s + p[2], 0);
    const first = this.plan[0]![2] / this.sum;
    this.last = { stage: this.plan[0]![0], t: this.t0, unit: first, expect: first };
    this.text = `Step 1 of ${this.plan.length} · ${this.plan[0]![1]}…`;
    clearInterval(this.timer);
    this.timer = setInterval(() => this.emit(), 250);
    this.emit();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  update(stage: string, done: number, total: number): void {
    const i = this.plan.findIndex((p) => p[0] === stage);
    if (i < 0) return;
    const sum = this.sum;
    const before = this.plan.slice(0, i).reduce((s, p) => s + p[2], 0);
    const f = (before + (this.plan[i]![2] * done) / Math.max(1, total)) / sum;
    const now = performance.now();
    // what the creep may add before the next report: one more count of this step; at the end of a
    // step, no more than one count of this step or an eighth of the next (the next step's first
    // report must not land below the bar: a 2048-px photo's bar stood still for 50 s at the start
    // of AVIF when the creep had run through most of its share)
    const per = this.plan[i]![2] / Math.max(1, total);
    const next = i + 1 < this.plan.length ? this.plan[i + 1]![2] / 8 : 0;
    const unit = (done < total ? per : Math.min(per, next)) / sum;
    this.last = { stage, t: now, unit, expect: (done < total ? per : next) / sum };
    this.real = Math.min(1, Math.max(this.real, f));
    this.fraction = Math.max(this.fraction, this.real);
    const units = stage.startsWith('encode.') || stage.startsWith('decode.') ? ` tile${total === 1 ? '' : 's'}` : stage.startsWith('compare.') ? ' encodes' : '';
    const count = total > 1 ? `: ${done} / ${total}${units}` : '';
    this.text = `Step ${i + 1} of ${this.plan.length} · ${this.plan[i]![1]}${count}`;
    this.emit();
  }

  private emit(): void {
    const now = performance.now();
    const ms = now - this.t0;
    // the creep: up to 90% of the next count, on the time the next report is expected to take at
    // the job's pace so far (8 s before any pace)
    const tau = this.real > 0.005 && ms > 500 ? Math.max(250, (ms / this.real) * this.last.expect) : 8000;
    this.fraction = Math.min(1, Math.max(this.fraction, this.real + 0.9 * this.last.unit * (1 - Math.exp(-(now - this.last.t) / tau))));
    const left = this.fraction > 0.02 && ms > 1500 ? (ms * (1 - this.fraction)) / this.fraction : undefined;
    this.show({ fraction: this.fraction, text: this.text, eta: `${secs(ms)}${left === undefined ? '' : ` · about ${secs(left)} left`}` });
  }
}
