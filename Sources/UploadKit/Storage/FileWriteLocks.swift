import NIOConcurrencyHelpers

/// Serialises the positioned writes into one data file. The kernel takes
/// the file's inode lock for every buffered write anyway, and a writer that
/// finds it held spins on it for as long as the holder copies (a megabyte
/// at a time here): three connections writing one upload burned a third of
/// a core spinning (`perf`: rwsem_spin_on_owner). A pthread mutex makes the
/// waiter sleep instead. Striped, so memory stays fixed however many
/// uploads there are; two uploads sharing a stripe only take turns.
final class FileWriteLocks: Sendable {
    private let stripes: [NIOLock]

    init(stripes: Int = 64) {
        self.stripes = (0..<stripes).map { _ in NIOLock() }
    }

    func withLock<T>(for upload: UploadID, _ body: () throws -> T) rethrows -> T {
        var hasher = Hasher()
        hasher.combine(upload)
        let lock = stripes[Int(UInt(bitPattern: hasher.finalize()) % UInt(stripes.count))]
        return try lock.withLock(body)
    }
}
