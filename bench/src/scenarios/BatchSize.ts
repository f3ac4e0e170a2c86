/**
 * The workers' batch size: the end-to-end queued drain of `Drain.ts` run once per WORKER_BATCH_SIZE (entries a
 * worker reads and commits per transaction), same worker count and partition count each time, so the rows differ
 * in that setting only.
 *
 * @remarks A size that fails is recorded by `attempt` (the run's error list) and the next size still runs.
 */
import { type DrainOptions, type DrainResult, runQueuedDrain } from "./Drain.ts"

/** The sizes compared; the first is the workers' default, the one the others are divided by. */
export const WORKER_BATCH_SIZES = [500, 1000, 2000, 5000] as const

export interface BatchSizeResult {
  readonly workers: number
  readonly partitions: number
  /** Why this partition count: given by `--batch-partitions`, or picked from the scaling drains of the run. */
  readonly partitionsFrom: string
  /** One queued drain per size that completed, in size order. */
  readonly drains: ReadonlyArray<DrainResult>
}

export const runBatchSizes = async (
  options: DrainOptions & {
    readonly workers: number
    readonly partitions: number
    readonly partitionsFrom: string
    readonly sizes: ReadonlyArray<number>
  },
  attempt: <A>(label: string, f: () => Promise<A>) => Promise<A | undefined>,
  onDrain: (d: DrainResult) => void
): Promise<BatchSizeResult> => {
  const drains: Array<DrainResult> = []
  for (const size of options.sizes) {
    const d = await attempt(
      `batch size: WORKER_BATCH_SIZE=${size}, ${options.workers} workers, PARTITIONS=${options.partitions}`,
      () => runQueuedDrain({ ...options, workerBatchSize: size })
    )
    if (d) {
      onDrain(d)
      drains.push(d)
    }
  }
  return {
    workers: options.workers,
    partitions: options.partitions,
    partitionsFrom: options.partitionsFrom,
    drains
  }
}
