// A token bucket: tokens accrue at `rate` per second up to `capacity`; a send of n units waits until n tokens
// are there. Used to pace a flood to a bit rate over all its connections.

export class TokenBucket {
  private tokens: number
  private last: number

  /**
   * @param rate tokens per second
   * @param capacity the most that can be saved up, i.e. the largest burst
   * @param now ms on any monotonic clock (performance.now())
   */
  constructor(readonly rate: number, readonly capacity: number, now: number, initial = 0) {
    if (!(rate > 0) || !(capacity > 0)) throw new RangeError('token bucket needs a positive rate and capacity')
    this.tokens = Math.min(capacity, initial)
    this.last = now
  }

  /** Takes n tokens if they are there and returns 0; otherwise takes nothing and returns the ms until they will be. */
  take(n: number, now: number): number {
    this.refill(now)
    // a request larger than the bucket could never be met; let it through once the bucket is full
    const needed = Math.min(n, this.capacity)
    if (this.tokens >= needed) {
      this.tokens -= n
      return 0
    }
    return (needed - this.tokens) / this.rate * 1000
  }

  available(now: number): number {
    this.refill(now)
    return this.tokens
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) / 1000 * this.rate)
      this.last = now
    }
  }
}
