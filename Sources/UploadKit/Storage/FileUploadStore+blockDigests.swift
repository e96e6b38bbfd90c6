import SystemPackage

extension FileUploadStore {
    /// Takes only chunk `index`'s lock, shared and tried once: every writer of
    /// the chunk (a `PUT`, an append filling it, a block write) holds it
    /// exclusively for as long as it writes, so while this holds it the
    /// chunk is never half written, and a writer at work makes this
    /// `.chunkBusy` at once. No upload lock: like every reader it does not
    /// wait for `complete` or an audit, which never write a chunk's bytes; and
    /// since it waits for nothing, it cannot take part in a wait cycle.
    public func blockDigests(_ id: UploadID, index: ChunkIndex, blockSize: Int64) async throws -> ChunkBlockDigests {
        let map = try await blocking { try self.openMap(id) }
        let locks = HeldLocks(map, options.locker)
        defer {
            locks.releaseAll()
            try? map.close()
        }
        let layout = map.layout
        guard layout.contains(index) else { throw UploadError.noSuchChunk(index, chunkCount: layout.chunkCount) }
        let blocks: ChunkBlocks
        do throws(BlockSizeError) {
            blocks = try ChunkBlocks(layout: layout, index: index, blockSize: blockSize)
        } catch {
            throw UploadError.invalidBlockSize(error)
        }
        guard try storage({ try locks.tryTake(.chunk(index), .shared) }) else { throw UploadError.chunkBusy(index) }
        let data = try await openDataForWriting(id, .readOnly)
        defer { try? data.close() }
        let uploadLength = layout.fileSize.bytes
        let digests: [XXH3Digest] = try await blocking {
            do throws(FileScanError) {
                return try BlockHashing.digests(of: data, blocks)
            } catch {
                throw self.dataReadFailure(error, of: data, uploadLength: uploadLength)
            }
        }
        return ChunkBlockDigests(blocks: blocks, digests: digests)
    }

    /// A read of the data file that failed, in the store's terms: a file that
    /// ends before the chunk does (shortened at rest) is `.dataSizeMismatch`,
    /// any other failure `.storage`.
    func dataReadFailure(_ error: FileScanError, of data: OwnedDescriptor, uploadLength: Int64) -> UploadError {
        switch error {
        case .io(let io):
            return .storage(io)
        case .endedEarly(_, _, let actual):
            return .dataSizeMismatch(expected: uploadLength, actual: (try? data.size()) ?? actual)
        }
    }
}
