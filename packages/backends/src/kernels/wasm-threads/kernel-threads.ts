import { type SimdBuild, simdModuleBytes } from '../wasm-module/module-bytes.js';
import { Arg, DONE, EXIT, FAILED, IDLE, POSTED, SLOT_INTS } from './job-slots.js';
import { SharedArena } from './shared-arena.js';
import { KERNEL_WORKER_SOURCE } from './worker-source.js';

// Worker threads for the 4-bit products (x·Wᵀ, dy·W) and large dense float32 products on the wasm backend. TensorFlow.js' wasm heap is not shared
// in Node (its multi-threaded build is browser-only), so workers cannot read the weights where tfjs keeps them:
// workers read the rows of W they claim from a copy in a shared arena (weight-mirror.ts) and write their results
// there; the calling thread computes its own rows from the tfjs heap meanwhile. Kernels are synchronous, so the calling
// thread blocks with Atomics.wait until the workers are done: allowed in Node and in web workers, not on a
// browser page's main thread, which is why the threads are Node-only for now.

/** The weight a job runs on: bindWeights' arguments, with pointers into the arena. */
export interface JobWeight {
  packed: number;
  absmax: number;
  nested: boolean;
  nestedAbsmax: number;
  nestedCode: number;
  nestedBlocksize: number;
  offset: number;
  code: number;
  blocksizeLog2: number;
  outFeatures: number;
  inFeatures: number;
  /** Rows chunkFirst.. of W are claimed in chunks of chunkRows through the counter (see job-slots.ts). */
  chunkFirst: number;
  chunkRows: number;
  chunkCount: number;
}

/** x·Wᵀ: the worker writes its rows' columns of y. */
export interface MatmulJob extends JobWeight {
  kind: 'matmul';
  x16: number;
  scales: number;
  rows: number;
  tables: number;
  y: number;
  work: number;
}

/**
 * dy·W: rows chunkFirst.. of W in segments of chunkRows (sum-segments.ts); the worker writes the permuted sum of
 * each segment c it claims, from zero, to its own slot at sums + c * rows * K * 4.
 */
export interface TransposedJob extends JobWeight {
  kind: 'transposed';
  dy: number;
  rows: number;
  tables: number;
  codeScale: number;
  sums: number;
  work: number;
}

/**
 * A dense float32 product (assembly/dense.ts) on arena copies: 'denseNT' y = x·Wᵀ over rows of W (W holds rows
 * chunkFirst.. only), 'denseNN' y (+)= x·W over rows of x and y (x's rows chunkFirst.., one slab of K). See threaded-dense.ts.
 */
export interface DenseJob {
  kind: 'denseNT' | 'denseNN';
  x: number;
  ldx: number;
  w: number;
  y: number;
  M: number;
  K: number;
  N: number;
  accumulate: boolean;
  chunkFirst: number;
  chunkRows: number;
  chunkCount: number;
}

export type KernelJob = MatmulJob | TransposedJob | DenseJob;

function isDenseJob(job: KernelJob): job is DenseJob {
  return job.kind === 'denseNT' || job.kind === 'denseNN';
}

export class KernelThreadError extends Error {
  override readonly name = 'KernelThreadError';
}

interface NodeWorker {
  once(event: 'message' | 'error' | 'exit', listener: (value: unknown) => void): void;
  unref(): void;
  terminate(): Promise<number>;
}

interface NodeWorkerThreads {
  Worker: new (
    source: string,
    options: { eval: true; workerData: unknown; transferList: unknown[] },
  ) => NodeWorker;
  MessageChannel: new () => { port1: ErrorPort; port2: unknown };
  receiveMessageOnPort(port: ErrorPort): { message: unknown } | undefined;
}

interface ErrorPort {
  unref(): void;
  close(): void;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/** Bytes of the control block: the workers' slots, then the chunk counter on a cache line of its own. */
function controlBytes(workers: number): number {
  return workers * SLOT_INTS * 4 + 64;
}

export class KernelThreads {
  private readonly i32: Int32Array;
  /** The same control block as float32, for the float arguments. */
  private readonly f32: Float32Array;
  private readonly counterIndex: number;
  /** Byte offset of the chunk counter in the arena. */
  private readonly counterOffset: number;

  private constructor(
    readonly arena: SharedArena,
    /** The build of the kernels' module the workers run. */
    readonly build: SimdBuild,
    private readonly workers: NodeWorker[],
    slots: number,
    private readonly errorPorts: ErrorPort[],
    private readonly receive: NodeWorkerThreads['receiveMessageOnPort'],
  ) {
    this.i32 = new Int32Array(arena.memory.buffer, slots, controlBytes(workers.length) / 4);
    this.f32 = new Float32Array(arena.memory.buffer, slots, controlBytes(workers.length) / 4);
    this.counterIndex = workers.length * SLOT_INTS;
    this.counterOffset = slots + this.counterIndex * 4;
  }

  /** Jobs posted so far (each worker's job counts once): how tests see that the workers took part. */
  postedJobs = 0;

  /** Resets the chunk counter; call before posting a job. */
  resetChunks(): void {
    Atomics.store(this.i32, this.counterIndex, 0);
  }

  /** Claims the next chunk of the posted job (the calling thread takes part too); compare with chunkCount. */
  claimChunk(): number {
    return Atomics.add(this.i32, this.counterIndex, 1);
  }

  /**
   * Tests only: worker `w` sleeps `ms` milliseconds before each claim from now on (0 stops it), to check that
   * results do not depend on which thread computes what.
   */
  slowWorker(w: number, ms: number): void {
    if (w < 0 || w >= this.workers.length) throw new KernelThreadError(`no kernel worker ${w}`);
    Atomics.store(this.i32, w * SLOT_INTS + Arg.testDelayMs, ms | 0);
  }

  /** All threads that compute, the calling one included. */
  get count(): number {
    return this.workers.length + 1;
  }

  /**
   * Starts `threads - 1` workers (the calling thread is the other one). Null where workers cannot run the
   * kernels: not Node, or no shared WebAssembly memory (the reason is returned instead).
   */
  static async start(threads: number): Promise<KernelThreads | string> {
    if (!isNode()) return 'kernel threads run in Node only (a browser page cannot block on Atomics.wait)';
    if (typeof SharedArrayBuffer !== 'function') return 'SharedArrayBuffer is not available';
    // A computed specifier keeps bundlers from trying to bundle node:worker_threads into browser builds.
    const workerThreads = 'node:worker_threads';
    const threadsApi = (await import(/* @vite-ignore */ workerThreads)) as NodeWorkerThreads;
    let module: WebAssembly.Module;
    let arena: SharedArena;
    const { build, bytes } = simdModuleBytes(true);
    try {
      module = await WebAssembly.compile(bytes as BufferSource);
      arena = new SharedArena();
    } catch (err) {
      return `no shared-memory wasm SIMD here: ${err instanceof Error ? err.message : String(err)}`;
    }
    const workerCount = threads - 1;
    const slots = arena.alloc(controlBytes(workerCount));
    arena.bytes(slots, controlBytes(workerCount)).fill(0);
    const errorPorts: ErrorPort[] = [];
    const workers: NodeWorker[] = [];
    try {
      const ready: Promise<void>[] = [];
      for (let w = 0; w < workerCount; w++) {
        const channel = new threadsApi.MessageChannel();
        const worker = new threadsApi.Worker(KERNEL_WORKER_SOURCE, {
          eval: true,
          workerData: {
            module,
            memory: arena.memory,
            slot: slots + w * SLOT_INTS * 4,
            errors: channel.port2,
          },
          transferList: [channel.port2],
        });
        workers.push(worker);
        errorPorts.push(channel.port1);
        ready.push(
          new Promise<void>((resolve, reject) => {
            worker.once('message', () => resolve());
            worker.once('error', reject);
          }),
        );
      }
      // Workers start in parallel: on many cores, one after another would take a second or more.
      await Promise.all(ready);
      // Idle workers and their ports must not keep the process alive.
      for (const worker of workers) worker.unref();
      for (const port of errorPorts) port.unref();
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      return `a kernel worker failed to start: ${err instanceof Error ? err.message : String(err)}`;
    }
    return new KernelThreads(arena, build, workers, slots, errorPorts, threadsApi.receiveMessageOnPort);
  }

  /** Posts one job per worker (jobs[w] to worker w); returns at once. */
  post(jobs: readonly KernelJob[]): void {
    if (jobs.length > this.workers.length)
      throw new KernelThreadError(`${jobs.length} jobs for ${this.workers.length} kernel workers`);
    this.postedJobs += jobs.length;
    jobs.forEach((job, w) => {
      const base = w * SLOT_INTS;
      const set = (index: number, value: number): void => {
        this.i32[base + index] = value | 0;
      };
      if (isDenseJob(job)) {
        set(Arg.kind, job.kind === 'denseNT' ? 2 : 3);
        set(Arg.denseX, job.x);
        set(Arg.denseLdx, job.ldx);
        set(Arg.denseW, job.w);
        set(Arg.y, job.y);
        set(Arg.rows, job.M);
        set(Arg.inFeatures, job.K);
        set(Arg.outFeatures, job.N);
        set(Arg.denseAccumulate, job.accumulate ? 1 : 0);
      } else {
        set(Arg.packed, job.packed);
        set(Arg.absmax, job.absmax);
        set(Arg.nested, job.nested ? 1 : 0);
        set(Arg.nestedAbsmax, job.nestedAbsmax);
        set(Arg.nestedCode, job.nestedCode);
        set(Arg.nestedBlocksize, job.nestedBlocksize);
        this.f32[base + Arg.offset] = job.offset;
        set(Arg.code, job.code);
        set(Arg.blocksizeLog2, job.blocksizeLog2);
        set(Arg.outFeatures, job.outFeatures);
        set(Arg.inFeatures, job.inFeatures);
        set(Arg.rows, job.rows);
        set(Arg.tables, job.tables);
        set(Arg.work, job.work);
        if (job.kind === 'matmul') {
          set(Arg.kind, 0);
          set(Arg.x16, job.x16);
          set(Arg.scales, job.scales);
          set(Arg.y, job.y);
        } else {
          set(Arg.kind, 1);
          set(Arg.x16, job.dy);
          set(Arg.y, job.sums);
          this.f32[base + Arg.codeScale] = job.codeScale;
        }
      }
      set(Arg.result, 0);
      set(Arg.chunkFirst, job.chunkFirst);
      set(Arg.chunkRows, job.chunkRows);
      set(Arg.chunkCount, job.chunkCount);
      set(Arg.counter, this.counterOffset);
      Atomics.store(this.i32, base + Arg.state, POSTED);
      Atomics.notify(this.i32, base + Arg.state);
    });
  }

  /**
   * Blocks until the first `count` workers finished the jobs posted to them; returns each job's result (dy·W: 1
   * when some dy * A was NaN or infinite, else 0).
   */
  wait(count: number): number[] {
    const failed: string[] = [];
    const results: number[] = [];
    for (let w = 0; w < count; w++) {
      const index = w * SLOT_INTS + Arg.state;
      let state = Atomics.load(this.i32, index);
      while (state === POSTED) {
        Atomics.wait(this.i32, index, POSTED);
        state = Atomics.load(this.i32, index);
      }
      if (state === FAILED) failed.push(`worker ${w}: ${String(this.receive(this.errorPorts[w]!)?.message)}`);
      else if (state !== DONE) throw new KernelThreadError(`kernel worker ${w} is in state ${state}`);
      results.push(this.i32[w * SLOT_INTS + Arg.result]!);
      Atomics.store(this.i32, index, IDLE);
    }
    if (failed.length > 0)
      throw new KernelThreadError(`a product failed on kernel thread(s): ${failed.join('; ')}`);
    return results;
  }

  /** Stops the workers. */
  async stop(): Promise<void> {
    for (let w = 0; w < this.workers.length; w++) {
      Atomics.store(this.i32, w * SLOT_INTS + Arg.state, EXIT);
      Atomics.notify(this.i32, w * SLOT_INTS + Arg.state);
    }
    await Promise.all(this.workers.map((w) => w.terminate()));
    for (const port of this.errorPorts) port.close();
  }
}
