import NIOPosix

/// Many files through one client: a few files worked on at once, started
/// in the order given, each carried to its end whatever happens to the
/// others. What is in flight on the wire is bounded by the client's
/// `RequestSlots`, not here: this only keeps enough files open that the
/// slots always have a request waiting (a small file is a create, one
/// chunk and a complete, each a round trip).
public enum FileBatch {
    /// Files open at once for a client of `concurrency` slots.
    public static func width(forConcurrency concurrency: Int) -> Int { min(64, max(4, concurrency * 3)) }

    public static func run<Outcome: Sendable>(
        count: Int, width: Int, _ work: @escaping @Sendable (Int) async throws -> Outcome,
        finished: @escaping @Sendable (Int, Result<Outcome, any Error>) -> Void
    ) async {
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for index in 0..<count {
                if running == width {
                    await group.next()
                    running -= 1
                }
                running += 1
                group.addTask {
                    do {
                        finished(index, .success(try await work(index)))
                    } catch {
                        finished(index, .failure(error))
                    }
                }
            }
        }
    }
}

extension Uploader {
    /// Uploads each of `paths` (new uploads on `server`, or resumed ones
    /// `state` remembers) and reports each as it ends. The files are read
    /// and hashed one at a time on a thread of their own, in order, while
    /// the chunks already hashed go out: one scan at a time is as fast as
    /// the disk, and never takes the threads that read the chunk bodies.
    public func uploadEach(
        _ paths: [String], server: String, client: UploadClient, state: ResumeState,
        progress: @escaping @Sendable (Int) -> any UploadProgress,
        finished: @escaping @Sendable (Int, Result<UploadOutcome, any Error>) -> Void
    ) async {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        var uploader = self
        uploader.scanPool = pool
        let configured = uploader
        await FileBatch.run(
            count: paths.count, width: FileBatch.width(forConcurrency: concurrency),
            { index in
                try await configured.upload(
                    path: paths[index], server: server, explicitURL: nil, client: client, state: state, progress: progress(index))
            }, finished: finished)
        state.flush()
        try? await pool.shutdownGracefully()
    }
}
