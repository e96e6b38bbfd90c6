import NIOPosix
import SystemPackage

/// The downloaded file's SHA-256, carried on in chunk order while the
/// download goes on, so that when the last chunk is written there is
/// nothing left to read. Before, the whole file was read back after the
/// last chunk: a SHA-256 pass of about 2.5 s per 4 GiB on top of the
/// transfer, and a copy of every byte out of the page cache.
///
/// A fetched chunk is hashed from the buffer it was checked (against the
/// server's XXH3) and written from, so the SHA-256 covers exactly the bytes
/// written. Chunks arrive a little out of order: one that arrives ahead of
/// the next to hash is held, up to `limit` buffers; past that, one that
/// would wait behind a gap is given back and its bytes are read back from
/// the disk when their turn comes, while one that follows the held ones
/// without a gap waits for room (the hashing is ahead of it, so room comes:
/// this is what keeps a download from outrunning its hashing). Chunks kept
/// from an earlier run are read back from the disk, their XXH3 checked
/// again; one that no longer has it is a finding.
///
/// The hashing runs on a thread of its own: on NIO's shared pool (one
/// thread per core) it would take a thread the writes and syncs need.
final class DownloadDigest: Sendable {
    private enum Arrival {
        case inMemory(ChunkBuffer)
        case onDisk
    }

    private struct Waiter {
        let index: Int
        let buffer: ChunkBuffer
        let resume: CheckedContinuation<Void, Never>
    }

    private struct State {
        /// Every chunk before it is hashed.
        var next = 0
        var arrived: [Int: Arrival] = [:]
        /// Buffers in `arrived`.
        var held = 0
        var waiting: [Waiter] = []
        /// `finish` was called: no more chunks come.
        var ended = false
        /// The hashing stopped on an error: chunks are no longer held.
        var failed = false
    }

    private enum Step {
        case hash(Int, Arrival)
        case wait
        case end
    }

    private let file: OwnedDescriptor
    private let layout: ChunkLayout
    private let expected: [XXH3Digest]
    private let buffers: ChunkBuffers
    /// Buffers held ahead of the next chunk to hash.
    let limit: Int
    private let state = Locked(State())
    private let found = Locked<[IntegrityFinding]>([])
    private let sha256 = PartialSHA256()
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let lane = NIOThreadPool(numberOfThreads: 1)

    /// What held chunks may take together, whatever their size.
    static let heldBytes = 64 << 20

    /// `expected`: the server's XXH3 of every chunk, in order. `buffers`:
    /// the pool the fetched chunks' buffers came from, given back to it here.
    init(file: OwnedDescriptor, layout: ChunkLayout, expected: [XXH3Digest], buffers: ChunkBuffers, concurrency: Int) {
        precondition(expected.count == layout.chunkCount, "one digest per chunk")
        self.file = file
        self.layout = layout
        self.expected = expected
        self.buffers = buffers
        limit = max(1, min(concurrency, Self.heldBytes / max(1, buffers.capacity)))
        (wakeups, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        lane.start()
    }

    /// Chunk `index` is on disk from an earlier run: it is read back when its turn comes.
    func kept(_ index: ChunkIndex) {
        state.withLock { $0.arrived[index.value] = .onDisk }
        wake.yield()
    }

    /// Chunk `index` was checked and written from `buffer`, which is given
    /// back to the pool once hashed. May wait for room (see the type's comment).
    func written(_ index: ChunkIndex, from buffer: ChunkBuffer) async {
        await withCheckedContinuation { (resume: CheckedContinuation<Void, Never>) in
            let held = state.withLock { state -> Bool? in
                if state.failed || state.ended {
                    state.arrived[index.value] = .onDisk
                    return false
                }
                if state.held < limit || index.value == state.next {
                    state.arrived[index.value] = .inMemory(buffer)
                    state.held += 1
                    return true
                }
                // Every chunk before it is there or waiting too: the hashing
                // will reach it, so waiting cannot wait for itself.
                let waitingIndices = Set(state.waiting.map(\.index))
                if (state.next..<index.value).allSatisfy({ state.arrived[$0] != nil || waitingIndices.contains($0) }) {
                    state.waiting.append(Waiter(index: index.value, buffer: buffer, resume: resume))
                    return nil
                }
                state.arrived[index.value] = .onDisk
                return false
            }
            guard let held else { return }
            if !held { buffers.give(buffer) }
            resume.resume()
            wake.yield()
        }
    }

    /// No more chunks come: `run` ends once it has hashed what arrived.
    func finish() {
        state.withLock { $0.ended = true }
        wake.finish()
    }

    /// Hashes chunks as they arrive, until `finish`; run it in a task of
    /// its own. Answers the file's SHA-256 and the kept chunks that no
    /// longer hash to their digest once every chunk is hashed; nil when the
    /// download ended with chunks not written.
    func run() async throws -> (sha256: SHA256Digest, findings: [IntegrityFinding])? {
        do {
            try await hashInOrder()
        } catch {
            fail()
            try? await lane.shutdownGracefully()
            throw error
        }
        try await lane.shutdownGracefully()
        guard state.withLock({ $0.next == layout.chunkCount }) else { return nil }
        return (sha256.hasher.finalize(), found.withLock { $0 })
    }

    private func hashInOrder() async throws {
        var wakeup = wakeups.makeAsyncIterator()
        while true {
            let step = state.withLock { state -> Step in
                // It stays in `arrived` until hashed: a chunk after it counts it as there.
                if let arrival = state.arrived[state.next] { return .hash(state.next, arrival) }
                return state.ended ? .end : .wait
            }
            switch step {
            case .end:
                return
            case .wait:
                // nil once `finish` ended the stream: the next step sees `ended`.
                _ = await wakeup.next()
            case .hash(_, .inMemory(let buffer)):
                let sha256 = self.sha256
                try await lane.runIfActive { sha256.update(buffer.bytes) }
                buffers.give(buffer)
                advance(releasingBuffer: true)
            case .hash(let index, .onDisk):
                try await readBack(ChunkIndex(index))
                advance(releasingBuffer: false)
            }
        }
    }

    /// One chunk read from the disk, its XXH3 checked and its bytes hashed.
    private func readBack(_ index: ChunkIndex) async throws {
        let (file, range, sha256, buffer) = (self.file, layout.range(of: index), self.sha256, buffers.take())
        defer { buffers.give(buffer) }
        let actual = try await lane.runIfActive { () throws -> XXH3Digest in
            let into = UnsafeMutableRawBufferPointer(rebasing: buffer.memory[0..<Int(range.length)])
            let read = try file.readAll(fromAbsoluteOffset: range.offset, into: into)
            guard read == into.count else {
                throw FileScanError.endedEarly(path: file.path.string, expectedBytes: range.end, actualBytes: range.offset + Int64(read))
            }
            sha256.update(UnsafeRawBufferPointer(into))
            return XXH3Hasher.hash(UnsafeRawBufferPointer(into))
        }
        if actual != expected[index.value] {
            found.withLock { $0.append(.corrupt(index, range, expected: self.expected[index.value], actual: actual)) }
        }
    }

    /// The next chunk is hashed: moves on, and lets in the waiters there is room for now.
    private func advance(releasingBuffer: Bool) {
        let admitted = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.arrived[state.next] = nil
            state.next += 1
            if releasingBuffer { state.held -= 1 }
            var admitted = [CheckedContinuation<Void, Never>]()
            var stillWaiting = [Waiter]()
            for waiter in state.waiting {
                if state.held < limit || waiter.index == state.next {
                    state.arrived[waiter.index] = .inMemory(waiter.buffer)
                    state.held += 1
                    admitted.append(waiter.resume)
                } else {
                    stillWaiting.append(waiter)
                }
            }
            state.waiting = stillWaiting
            return admitted
        }
        for resume in admitted { resume.resume() }
    }

    /// The hashing stopped: nothing is held any more, and no writer waits.
    private func fail() {
        let (waiters, held) = state.withLock { state -> ([Waiter], [ChunkBuffer]) in
            state.failed = true
            let waiters = state.waiting
            state.waiting = []
            var held = [ChunkBuffer]()
            for (index, arrival) in state.arrived {
                if case .inMemory(let buffer) = arrival {
                    held.append(buffer)
                    state.arrived[index] = .onDisk
                }
            }
            state.held = 0
            return (waiters, held)
        }
        for buffer in held + waiters.map(\.buffer) { buffers.give(buffer) }
        for waiter in waiters { waiter.resume.resume() }
    }
}
