import Dispatch

/// A ring of equally sized buffers passed from one producer thread to one
/// SHA-256 thread. The semaphores order every hand-over, so a buffer is
/// touched by one side at a time; memory is `count x blockSize`, whatever
/// the file size.
final class BlockRing: @unchecked Sendable {
    private let buffers: [UnsafeMutableRawBufferPointer]
    /// Raw memory, not a Swift array: the producer writes one slot's length
    /// while the consumer reads another's, and an array's element write is
    /// an access to the whole array (ThreadSanitizer reported it as a race).
    private let lengths: UnsafeMutablePointer<Int>
    // Both start at 0: libdispatch traps when a semaphore is freed below its
    // initial value, so the free slots are signalled in rather than given.
    private let empty = DispatchSemaphore(value: 0)
    private let filled = DispatchSemaphore(value: 0)

    /// Whether the consumer hashes; without it the ring only bounds read-ahead.
    let hashing: Bool

    init(count: Int, blockSize: Int, hashing: Bool = true) {
        self.hashing = hashing
        buffers = (0..<count).map { _ in .allocate(byteCount: blockSize, alignment: 4096) }
        lengths = .allocate(capacity: count)
        lengths.initialize(repeating: 0, count: count)
        for _ in 0..<count { empty.signal() }
    }

    deinit {
        buffers.forEach { $0.deallocate() }
        lengths.deallocate()
    }

    /// Waits until `slot` is free to fill.
    func acquireEmpty(_ slot: Int) -> UnsafeMutableRawBufferPointer {
        empty.wait()
        return buffers[slot]
    }

    func publish(_ slot: Int, length: Int) {
        lengths[slot] = length
        filled.signal()
    }

    /// Gives back an acquired slot unpublished: its block was not for the consumer.
    func release(_ slot: Int) {
        empty.signal()
    }

    /// Tells the consumer there is nothing more, through slot `slot`.
    func finish(_ slot: Int) {
        empty.wait()
        publish(slot, length: -1)
    }

    /// Starts the thread that hashes each published block with SHA-256,
    /// carrying on `partial` when given.
    func startConsumer(continuing partial: PartialSHA256? = nil) -> SHA256Consumer { SHA256Consumer(ring: self, continuing: partial) }

    fileprivate func consume(into hasher: borrowing SHA256Hasher) {
        var slot = 0
        while true {
            filled.wait()
            let length = lengths[slot]
            if length < 0 { return }
            if hashing { hasher.update(UnsafeRawBufferPointer(rebasing: buffers[slot][0..<length])) }
            empty.signal()
            slot = (slot + 1) % buffers.count
        }
    }
}

/// The SHA-256 side of a `BlockRing`.
final class SHA256Consumer: @unchecked Sendable {
    private var thread: WorkerThread?
    private var result: SHA256Digest?

    init(ring: BlockRing, continuing partial: PartialSHA256?) {
        thread = WorkerThread { [unowned self] in
            let partial = partial ?? PartialSHA256()
            ring.consume(into: partial.hasher)
            self.result = partial.hasher.finalize()
        }
    }

    func join() -> SHA256Digest {
        thread?.join()
        thread = nil
        guard let result else { fatalError("the SHA-256 thread ended without a digest") }
        return result
    }
}
