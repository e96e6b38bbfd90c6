import SystemPackage

enum DataDirectory {
    /// Why `directory` cannot be used now, or nil when it opens as a
    /// directory. Opening asks the filesystem itself (a network one asks its
    /// server), where a `stat` might be answered from a cache.
    static func unreachable(_ directory: FilePath) -> String? {
        do {
            try OwnedDescriptor.open(directory, .readOnly, options: [.directory]).close()
            return nil
        } catch {
            return error.errno == .notDirectory
                ? "the data directory is not a directory" : "the data directory cannot be read: \(error.errno.description)"
        }
    }
}
