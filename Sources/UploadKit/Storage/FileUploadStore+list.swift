import SystemPackage

extension FileUploadStore {
    /// Reads the directory's names (ids only), then the maps one at a time,
    /// keeping only the page's summaries: a listing never holds more than
    /// one map and a page in memory. Takes no lock, as every reader (see
    /// docs/PROTOCOL.md, Coordination): each record reads whole.
    public func list(after cursor: UploadID?, limit: Int, state: ListedState?) async throws -> UploadPage {
        precondition(limit > 0, "a page holds at least one upload")
        return try await blocking { self.page(after: cursor, limit: limit, state: state) }
    }

    /// The page, read on the calling thread. One upload past the page is
    /// read too, so that the last page says it is the last (no `next`
    /// leading to an empty page).
    func page(after cursor: UploadID?, limit: Int, state wanted: ListedState?) -> UploadPage {
        let ids = listUploads()
            .filter { id in cursor.map { id.rawValue > $0.rawValue } ?? true }
            .sorted { $0.rawValue < $1.rawValue }
        var uploads = [UploadSummary]()
        for id in ids {
            guard let found = summary(of: id, ifIn: wanted) else { continue }
            if uploads.count == limit { return UploadPage(uploads: uploads, next: uploads.last?.id) }
            uploads.append(found)
        }
        return UploadPage(uploads: uploads, next: nil)
    }

    /// The upload's summary when it is in state `wanted` (any when nil);
    /// nil when it is not, or when it is gone since the directory was read
    /// (deleted or expired meanwhile).
    private func summary(of id: UploadID, ifIn wanted: ListedState?) -> UploadSummary? {
        if let wanted, wanted != .unreadable {
            // The status record alone first (one pread of 192 bytes), so that
            // a filter passes over the uploads of other states without
            // reading their entries. A map whose header does not read here
            // would not read below either: it is unreadable, not `wanted`.
            guard let peeked = ChunkMapFile.peekStatus(atPath: mapPath(id).string), ListedState(peeked.status.state) == wanted else {
                return nil
            }
        }
        guard let read = readSummary(id), wanted == nil || read.state == wanted else { return nil }
        return read
    }

    /// The whole map, read once and summarised; nil when the map no longer exists.
    private func readSummary(_ id: UploadID) -> UploadSummary? {
        let path = mapPath(id)
        let file: ChunkMapFile
        do throws(ChunkMapFileError) {
            file = try ChunkMapFile.open(path)
        } catch {
            switch error {
            case .io(let error) where error.errno == .noSuchFileOrDirectory:
                return nil
            case .io(let error):
                return .unreadable(id: id, reason: UploadError.storage(error).description)
            case .invalid(_, let error):
                // The path stays out of the reason: it reaches clients.
                return .unreadable(id: id, reason: UploadError.damagedMap(error).description)
            }
        }
        defer { try? file.close() }
        do throws(IOError) {
            let map = try file.readMap()
            let updatedAt = (try? path.modificationTime()) ?? map.status.updatedAt
            return .readable(ReadableUpload(id: id, map: map, updatedAt: updatedAt))
        } catch {
            return .unreadable(id: id, reason: UploadError.storage(error).description)
        }
    }
}
